import { performance } from "node:perf_hooks";
import type { Steps } from "../util/steps.js";
import { TurnLoop } from "../util/turns.js";

/** How long one account's work may hold the thread before the next account's turn. */
export const DEFAULT_SLICE_MS = 8;

interface Job {
  readonly steps: Steps<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export interface GateTicket {
  /** Queues the job in the place the ticket holds; it runs in slices, in the account's turns. */
  run<T>(steps: Steps<T>): Promise<T>;
  /** Gives the place back (the body could not be read). */
  cancel(): void;
}

/**
 * Parsing and checking manifests takes the server's one thread: a tenant sending big applies
 * back to back would take every turn and queue everyone behind it (issue 13). Such work is
 * written as steps (src/util/steps.ts) and runs here in slices of a few milliseconds, taken
 * round-robin across accounts, with the event loop turning between slices: a one-object apply
 * waits for at most one slice of each other account, however big their applies. An account's
 * own jobs run one after another, and it may have only a few waiting: the next is refused at
 * once, before it costs anything.
 */
export class FairGate {
  /** Jobs per account, the first one in progress; the map's order is the round-robin order. */
  private readonly queues = new Map<string, Job[]>();
  /** Jobs admitted but not yet queued (their bodies are still being read), per account. */
  private readonly admitted = new Map<string, number>();
  private readonly turns = new TurnLoop(
    () => this.slice(),
    () => this.queues.size > 0,
  );

  constructor(
    private readonly maxWaitingPerAccount: number,
    private readonly sliceMs = DEFAULT_SLICE_MS,
  ) {}

  /**
   * Takes one of the account's places before its body is read, so that parallel requests cannot
   * all pass the check while they read; undefined when the account has no place left.
   */
  admit(account: string): GateTicket | undefined {
    const queued = this.queues.get(account)?.length ?? 0;
    const waiting = Math.max(0, queued - 1) + (this.admitted.get(account) ?? 0);
    if (waiting >= this.maxWaitingPerAccount) return undefined;
    this.admitted.set(account, (this.admitted.get(account) ?? 0) + 1);
    let open = true;
    const leave = (): void => {
      if (!open) return;
      open = false;
      const left = (this.admitted.get(account) ?? 1) - 1;
      if (left > 0) this.admitted.set(account, left);
      else this.admitted.delete(account);
    };
    return {
      run: <T>(steps: Steps<T>): Promise<T> => {
        leave();
        return new Promise<T>((resolve, reject) => {
          const job: Job = { steps, resolve: resolve as (value: unknown) => void, reject };
          const queue = this.queues.get(account);
          if (queue) queue.push(job);
          else this.queues.set(account, [job]);
          this.turns.wake();
        });
      },
      cancel: leave,
    };
  }

  /** Runs the first account's job for one slice (one step at least), then sends the account to the back. */
  private slice(): void {
    const entry = this.queues.entries().next();
    if (entry.done) return;
    const [account, queue] = entry.value;
    const job = queue[0];
    this.queues.delete(account);
    if (!job) return;
    if (!advance(job, performance.now() + this.sliceMs)) {
      this.queues.set(account, queue);
      return;
    }
    queue.shift();
    if (queue.length > 0) this.queues.set(account, queue);
  }
}

/** Runs a job's steps until the deadline; true when it has finished (and settled). */
function advance(job: Job, deadline: number): boolean {
  try {
    do {
      const next = job.steps.next();
      if (next.done) {
        job.resolve(next.value);
        return true;
      }
    } while (performance.now() < deadline);
    return false;
  } catch (err) {
    job.reject(err);
    return true;
  }
}
