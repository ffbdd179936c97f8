import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { MAX_DEFER_MS, RETRY_MS, type ThreadLoad } from "./thread-load.js";
import { threadShare } from "./thread-share.js";

/** How long a loop may hold the thread before it lets the event loop turn. */
export const TURN_SLICE_MS = 8;

/**
 * A pause for long loops: it lets the event loop turn (requests read, timers run) once `sliceMs`
 * of the thread has been spent since the last turn, and costs nothing otherwise. A loop of
 * awaits that resolve at once never lets I/O in by itself: they are microtasks. The time since
 * the last turn is charged to the thread share as the loop's: its callers await nothing else.
 */
export function turnTaker(sliceMs = TURN_SLICE_MS, load?: ThreadLoad, share = threadShare): () => Promise<void> {
  let started = performance.now();
  let deadline = started + sliceMs;
  return async () => {
    const now = performance.now();
    if (now < deadline) return;
    share.charge(now - started);
    await share.next();
    // Background work (a compaction) also waits while the thread is busy, for a bounded time.
    const until = performance.now() + MAX_DEFER_MS;
    while (load?.busy() && performance.now() < until) await sleep(RETRY_MS);
    started = performance.now();
    deadline = started + sliceMs;
  };
}

/**
 * Work done a slice per turn of the event loop, after the requests already read: `turn` runs
 * once per turn while `pending` says there is more; a turn that returns a number of
 * milliseconds is the last for that long (its work waits for the thread's load to fall).
 * wake() after adding work.
 */
export class TurnLoop {
  private scheduled = false;

  constructor(
    private readonly turn: () => number | undefined,
    private readonly pending: () => boolean,
    private readonly share = threadShare,
  ) {}

  wake(): void {
    if (this.scheduled || !this.pending()) return;
    this.scheduled = true;
    this.schedule(0);
  }

  private run(): void {
    this.scheduled = false;
    // Another waiter may have spent the share since this turn was scheduled.
    if (this.share.waitMs() > 0) {
      this.scheduled = true;
      this.schedule(0);
      return;
    }
    const waitMs = this.share.slice(this.turn);
    if (!waitMs || !this.pending()) {
      this.wake();
      return;
    }
    this.scheduled = true;
    this.schedule(waitMs);
  }

  /** The next turn, once `minMs` have passed and the thread's share for sliced work allows. */
  private schedule(minMs: number): void {
    const waitMs = Math.max(minMs, this.share.waitMs());
    if (waitMs > 0) setTimeout(() => this.run(), waitMs);
    else setImmediate(() => this.run());
  }
}
