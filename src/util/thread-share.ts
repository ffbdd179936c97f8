import { performance } from "node:perf_hooks";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";

/** The share of the thread that work done in slices may take, on average, in a long-running process. */
export const SLICED_SHARE = 0.4;
/** How much of it may be taken at once, about: a slice that starts within it may run past it. */
export const SLICED_BURST_MS = 6;
/**
 * The longest a slice waits for the share. Work that may not wait (a light account's parse, the
 * first of a write's deliveries) charges it too: unbounded, its debt made every waiting kind of
 * work (reconciles, watch writes, compactions) wait seconds.
 */
export const MAX_SHARE_WAIT_MS = 50;

/**
 * Work done in slices (a big apply's parsing and planning, a compaction's encoding, watch
 * writes, event delivery) shares the one thread with what cannot be sliced: accepting
 * connections and reading requests. libuv accepts one connection per turn of the event loop
 * (since 1.45), and each kind of sliced work takes its slice in the same turn, one after
 * another: under a tenant's bulk applies a turn took 20 to 45 ms, so accepts fell to 30 a
 * second, and a burst of 60 logins from another tenant kept a well-behaved client's new
 * connection waiting in the kernel's queue for over a second (issue 13).
 *
 * A bucket of thread time, shared by every kind of sliced work: it refills at `share` of the
 * clock, up to `burstMs`. Slices charge what they took; while it is empty the next slice waits on
 * a timer (at most MAX_SHARE_WAIT_MS), and meanwhile the loop turns fast, accepting and reading.
 * Off (no limit) until enabled: a command run once has nothing else to serve.
 */
export class ThreadShare {
  private enabled = false;
  private tokens: number;
  private at: number;

  constructor(
    private readonly share = SLICED_SHARE,
    private readonly burstMs = SLICED_BURST_MS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burstMs;
    this.at = now();
  }

  /** Limits sliced work from now on (a server, a controller). */
  enable(): void {
    this.enabled = true;
    this.tokens = this.burstMs;
    this.at = this.now();
  }

  /** A slice took `ms` of the thread. */
  charge(ms: number): void {
    if (!this.enabled) return;
    this.refill();
    this.tokens = Math.max(this.tokens - ms, -MAX_SHARE_WAIT_MS * this.share);
  }

  /** Runs one slice of work now and charges the time it took. */
  slice<T>(work: () => T): T {
    const started = this.now();
    try {
      return work();
    } finally {
      this.charge(this.now() - started);
    }
  }

  /** How long the next slice must wait for the bucket to refill (0: it may run now). */
  waitMs(): number {
    if (!this.enabled) return 0;
    this.refill();
    return this.tokens > 0 ? 0 : Math.max(1, Math.ceil(-this.tokens / this.share));
  }

  /**
   * Resolves when the next slice may run: the next turn of the event loop at the earliest, and
   * once the share has refilled (looked at again after each wait: waiters whose timers end in
   * one turn must not all run their slices in it).
   */
  async next(): Promise<void> {
    await nextTurn();
    for (let wait = this.waitMs(); wait > 0; wait = this.waitMs()) await sleep(wait);
  }

  private refill(): void {
    const at = this.now();
    this.tokens = Math.min(this.burstMs, this.tokens + (at - this.at) * this.share);
    this.at = at;
  }
}

/** The process's one thread, shared by all its sliced work. */
export const threadShare = new ThreadShare();
