import { type EventLoopUtilization, performance } from "node:perf_hooks";

/** Past this share of the thread, work that can wait (a heavy account's parsing, a compaction) waits. */
export const BUSY_SHARE = 0.6;
/** How long such work waits for the load to fall before it takes a slice anyway: it always progresses. */
export const MAX_DEFER_MS = 50;
/** How soon waiting work looks at the load again. */
export const RETRY_MS = 5;

type Sample = Pick<EventLoopUtilization, "idle" | "active">;

/**
 * The thread's recent load: the share of the last quarter to half second that the event loop
 * spent running callbacks (garbage collection included) rather than waiting for I/O. Work that
 * can wait consults it, so that a tenant's stream of big writes, and the compactions and
 * collections they cause, cannot keep the thread busy enough that every other request queues.
 */
export class ThreadLoad {
  private older: Sample;
  private newer: Sample;
  private newerAt: number;

  constructor(
    private readonly windowMs = 250,
    private readonly now: () => number = () => performance.now(),
    private readonly sample: () => Sample = () => performance.eventLoopUtilization(),
  ) {
    this.older = this.sample();
    this.newer = this.older;
    this.newerAt = this.now();
  }

  /** The busy share since the older mark, between one and two windows ago (0 to 1). */
  utilization(): number {
    const at = this.now();
    if (at - this.newerAt >= this.windowMs) {
      this.older = this.newer;
      this.newer = this.sample();
      this.newerAt = at;
    }
    const current = this.sample();
    const active = current.active - this.older.active;
    const total = active + current.idle - this.older.idle;
    return total > 0 ? active / total : 0;
  }

  /** Whether work that can wait should. */
  busy(): boolean {
    return this.utilization() > BUSY_SHARE;
  }
}

/** The process's one thread, measured once for everything that consults it. */
export const threadLoad = new ThreadLoad();
