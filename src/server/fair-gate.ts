import { performance } from "node:perf_hooks";
import type { Steps } from "../util/steps.js";
import { MAX_DEFER_MS, RETRY_MS, type ThreadLoad } from "../util/thread-load.js";
import { type ThreadShare, threadShare } from "../util/thread-share.js";
import { TurnLoop } from "../util/turns.js";
import { ApiError } from "./http.js";

/** How long one account's work may hold the thread before the next account's turn. */
export const DEFAULT_SLICE_MS = 8;
/** An account's recent parsing time decays by half each this many milliseconds. */
const USAGE_HALF_LIFE_MS = 1000;
/** An account whose recent parsing time is below this is light: its work never waits for the load. */
const LIGHT_USAGE_MS = 20;
/** Another account that sent a request within this long is being served, and kept from waiting. */
const ACTIVE_MS = 1000;
/** Past this many accounts with a recent parsing time, those whose time has decayed are dropped. */
const MAX_TRACKED_ACCOUNTS = 1000;
/**
 * A light account's job with a body up to this size (a one-object PUT) takes its first slice in
 * its request's own turn, of this long after its first step: a first step parses a JSON body
 * whole, 50 ms for 850 KB, so a big body waits for a turn like any other.
 */
const AT_ONCE_BYTES = 16 * 1024;
const AT_ONCE_MS = 2;
/**
 * A heavy account's small job for the worker waits at most this long for it to be free (the
 * worker runs at the lowest priority, and may be slow on a busy machine); then it runs here in
 * slices.
 */
const MAX_WORKER_WAIT_MS = 1000;
/**
 * A body this big goes to the worker from any account, and waits for it: parsing it here would
 * take the thread for a second or more in slices (3,000 objects, 1 MiB), and a slice parses a
 * document whole: one of 450 KB held the thread for 100 ms, while new connections waited to be
 * accepted, one per turn of the loop (issue 13). A light account's smaller body is parsed here.
 */
const OFFLOAD_BYTES = 64 * 1024;
/**
 * How long a big body waits for a busy worker before it is refused (503, try again): parsed here
 * instead, a tenant keeping the worker busy would have its bodies hold everyone's thread again.
 */
const MAX_BIG_WORKER_WAIT_MS = 10_000;
/**
 * What a body parsed on the worker costs its account: an estimate from its size (a 1 MiB body of
 * 3,000 objects took about 500 ms here), not the worker's wall time, which at the lowest
 * priority measures how busy the machine is, and once made a light tenant heavy for seconds.
 */
const WORKER_MS_PER_KIB = 0.5;
/** While every queued job waits for the worker, the gate looks again this often (a free worker wakes it too late otherwise). */
const BLOCKED_POLL_MS = 20;

/** The gate's view of the thread and its clock; tests give their own. */
export interface GateThread {
  readonly load?: Pick<ThreadLoad, "busy">;
  readonly now?: () => number;
  /** The share of the thread sliced work may take (the process's unless given). */
  readonly share?: Pick<ThreadShare, "charge">;
  /** How many jobs may run off the thread at once (a worker thread's), 1 unless given. */
  readonly workers?: number;
  /** Whether jobs can run off the thread now (the worker could be started); always unless given. */
  readonly offloadReady?: () => boolean;
}

interface Job {
  readonly steps: Steps<unknown>;
  /** Runs the whole job off the thread instead; dropped once one of its steps has run here. */
  offload: (() => Promise<unknown>) | undefined;
  /** When it was queued (the gate's clock). */
  readonly queuedAt: number;
  /** Its body's size. */
  readonly bytes: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export interface GateTicket {
  /**
   * Queues the job in the place the ticket holds; it runs in the account's turns, in slices here
   * or, given `offload`, whole off the thread (see FairGate). `bytes`: its body's size.
   */
  run<T>(steps: Steps<T>, bytes: number, offload?: () => Promise<T>): Promise<T>;
  /** Gives the place back (the body could not be read). */
  cancel(): void;
}

/**
 * Parsing and checking manifests takes the server's one thread: a tenant sending big applies
 * back to back would take every turn and queue everyone behind it (issue 13). Such work is
 * written as steps (src/util/steps.ts) and runs here in slices of a few milliseconds, with the
 * event loop turning between slices. The next slice goes to the account that used the least
 * parsing time lately (round-robin among equals), so a one-object apply goes ahead of big ones.
 * A heavy account's job that can run off the thread (on a worker thread) runs there whole instead,
 * when a worker is free (still in the accounts' order; a small one runs here after MAX_WORKER_WAIT_MS),
 * and counts as the account's by its size; a light account's job goes there only when its body
 * is big (OFFLOAD_BYTES), and then waits for it like any.
 * And while the thread is busy and other accounts are being served, a heavy account's next
 * slice waits (at most MAX_DEFER_MS): the writes it would let through cost more than their
 * parsing (storing, the journal, compactions, garbage collection), and a thread kept busy by
 * them makes every other request queue. An account's own jobs run one after another, and it
 * may have only a few waiting: the next is refused at once, before it costs anything.
 */
export class FairGate {
  /** Jobs per account, the first one in progress; the map's order is the round-robin order. */
  private readonly queues = new Map<string, Job[]>();
  /** Jobs of the accounts whose first job runs off the thread now. */
  private readonly away = new Map<string, Job[]>();
  /** Jobs admitted but not yet queued (their bodies are still being read), per account. */
  private readonly admitted = new Map<string, number>();
  /** Each account's recent parsing time (ms, decaying) and when it was last updated. */
  private readonly usage = new Map<string, { ms: number; at: number }>();
  /** When each account last sent a request (noted by the server). */
  private readonly lastSeen = new Map<string, number>();
  /** Since when each account's next slice has been waiting for the load to fall (its own clock: others' slices do not reset it). */
  private readonly deferredSince = new Map<string, number>();
  private readonly turns = new TurnLoop(
    () => this.slice(),
    () => this.queues.size > 0,
  );
  private readonly now: () => number;
  private readonly share: Pick<ThreadShare, "charge">;
  private readonly workers: number;

  constructor(
    private readonly maxWaitingPerAccount: number,
    private readonly sliceMs = DEFAULT_SLICE_MS,
    private readonly thread: GateThread = {},
  ) {
    this.now = thread.now ?? (() => performance.now());
    this.share = thread.share ?? threadShare;
    this.workers = thread.workers ?? 1;
  }

  /** An account sent a request: while it is being served, heavy accounts give way when the thread is busy. */
  seen(account: string): void {
    const at = this.now();
    this.lastSeen.delete(account); // kept in order of last sight, so that old entries are dropped first
    this.lastSeen.set(account, at);
    for (const [name, when] of this.lastSeen) {
      if (when >= at - ACTIVE_MS) break;
      this.lastSeen.delete(name);
    }
  }

  /**
   * Takes one of the account's places before its body is read, so that parallel requests cannot
   * all pass the check while they read; undefined when the account has no place left.
   */
  admit(account: string): GateTicket | undefined {
    this.seen(account);
    const queued = this.jobsOf(account)?.length ?? 0;
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
      run: <T>(steps: Steps<T>, bytes: number, offload?: () => Promise<T>): Promise<T> => {
        leave();
        return new Promise<T>((resolve, reject) => {
          const job: Job = {
            steps,
            offload,
            queuedAt: this.now(),
            bytes,
            resolve: resolve as (value: unknown) => void,
            reject,
          };
          const queue = this.jobsOf(account);
          if (queue) queue.push(job);
          else if (bytes > AT_ONCE_BYTES || !this.runAtOnce(account, job)) this.queues.set(account, [job]);
          this.turns.wake();
        });
      },
      cancel: leave,
    };
  }

  /**
   * Runs the lightest account's job for one slice (one step at least), then sends the account to
   * the back; or, if that account is heavy and should give way, or every job waits for the
   * worker, says how soon to look again.
   */
  private slice(): number | undefined {
    const account = this.lightest();
    if (account === undefined) return this.queues.size > 0 ? BLOCKED_POLL_MS : undefined;
    const queue = this.queues.get(account);
    const job = queue?.[0];
    if (!queue || !job) return undefined;
    const started = this.now();
    if (this.shouldWait(account, started)) return RETRY_MS;
    this.deferredSince.delete(account);
    this.queues.delete(account);
    const heavy = this.recentUsage(account, started) >= LIGHT_USAGE_MS;
    if (!this.canOffload()) job.offload = undefined; // parsed here, as with no worker at all
    if ((heavy || job.bytes >= OFFLOAD_BYTES) && this.sendAway(account, queue, job)) return undefined;
    if (job.offload && job.bytes >= OFFLOAD_BYTES) {
      // Never parsed here: it waits on for the busy worker, and is refused once it has waited its longest.
      if (!outwaited(job, started)) {
        this.queues.set(account, queue);
        return BLOCKED_POLL_MS;
      }
      queue.shift();
      job.reject(
        new ApiError(503, "Unavailable", "the manifest parser is busy with other bodies; try again shortly", {
          "retry-after": "5",
        }),
      );
      if (queue.length > 0) this.queues.set(account, queue);
      return undefined;
    }
    job.offload = undefined;
    const finished = advance(job, performance.now() + this.sliceMs);
    this.charge(account, started);
    if (finished) queue.shift();
    if (queue.length > 0) this.queues.set(account, queue);
    return undefined;
  }

  /**
   * A light account's job (a one-object PUT) takes its first slice now rather than a turn of the
   * loop, which the heavy accounts' slices, the watch writes and the deliveries may all make
   * long; true when that finished it.
   */
  private runAtOnce(account: string, job: Job): boolean {
    const started = this.now();
    // Not held back by the thread share either: its few milliseconds are what the share keeps room for.
    if (this.recentUsage(account, started) >= LIGHT_USAGE_MS) return false;
    const wall = performance.now();
    job.offload = undefined;
    const finished = advance(job, wall + Math.min(this.sliceMs, AT_ONCE_MS));
    this.share.charge(performance.now() - wall);
    this.charge(account, started);
    return finished;
  }

  /**
   * Runs the account's first job off the thread, if it can go there and a worker is free (false
   * otherwise); the account's next job waits until that one is done.
   */
  private sendAway(account: string, queue: Job[], job: Job): boolean {
    const offload = job.offload;
    if (!offload || this.away.size >= this.workers) return false;
    this.away.set(account, queue);
    Promise.resolve()
      .then(offload)
      .then(job.resolve, job.reject)
      .finally(() => {
        this.away.delete(account);
        this.chargeMs(account, (job.bytes / 1024) * WORKER_MS_PER_KIB);
        queue.shift();
        if (queue.length > 0) this.queues.set(account, queue);
        this.turns.wake();
      });
    return true;
  }

  private canOffload(): boolean {
    return this.workers > 0 && (this.thread.offloadReady?.() ?? true);
  }

  private jobsOf(account: string): Job[] | undefined {
    return this.queues.get(account) ?? this.away.get(account);
  }

  private shouldWait(account: string, at: number): boolean {
    if (!this.thread.load || this.recentUsage(account, at) < LIGHT_USAGE_MS) return false;
    const othersActive = [...this.lastSeen].some(([name, when]) => name !== account && when >= at - ACTIVE_MS);
    if (!othersActive || !this.thread.load.busy()) return false;
    const since = this.deferredSince.get(account) ?? at;
    this.deferredSince.set(account, since);
    return at - since < MAX_DEFER_MS;
  }

  /**
   * The queued account with the least recent parsing time whose job can go now (a heavy account's
   * job for a worker waits for a free one); the first in round-robin order among equals.
   */
  private lightest(): string | undefined {
    const at = this.now();
    const offloading = this.canOffload();
    const workerFree = offloading && this.away.size < this.workers;
    let best: string | undefined;
    let bestMs = Number.POSITIVE_INFINITY;
    for (const [account, queue] of this.queues) {
      const ms = this.recentUsage(account, at);
      const head = queue[0];
      if (head?.offload && offloading && !workerFree && waitsForWorker(head, ms, at)) continue;
      if (ms < bestMs) {
        best = account;
        bestMs = ms;
      }
    }
    return best;
  }

  private recentUsage(account: string, at: number): number {
    const used = this.usage.get(account);
    return used ? used.ms * 2 ** (-(at - used.at) / USAGE_HALF_LIFE_MS) : 0;
  }

  private charge(account: string, started: number): void {
    this.chargeMs(account, this.now() - started);
  }

  private chargeMs(account: string, spent: number): void {
    const at = this.now();
    const ms = this.recentUsage(account, at) + spent;
    this.usage.set(account, { ms, at });
    // Accounts whose time has decayed to nothing are forgotten: the map holds only recent ones.
    if (this.usage.size > MAX_TRACKED_ACCOUNTS)
      for (const name of [...this.usage.keys()]) if (this.recentUsage(name, at) < 0.01) this.usage.delete(name);
  }
}

/**
 * Whether a job that can go to the worker waits while it is busy: a big body up to its bound
 * (then it is refused); a heavy account's small one until it has waited too long (then it runs
 * here); a light account's small one never.
 */
function waitsForWorker(job: Job, accountMs: number, at: number): boolean {
  if (job.bytes >= OFFLOAD_BYTES) return !outwaited(job, at);
  return accountMs >= LIGHT_USAGE_MS && at - job.queuedAt < MAX_WORKER_WAIT_MS;
}

/** Whether a big body has waited its longest for the busy worker: it is refused then (503), never parsed here. */
function outwaited(job: Job, at: number): boolean {
  return job.bytes >= OFFLOAD_BYTES && at - job.queuedAt >= MAX_BIG_WORKER_WAIT_MS;
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
