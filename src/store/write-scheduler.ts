import { performance } from "node:perf_hooks";
import type { Clock, Timer } from "../util/clock.js";

/** Observed-state writes wait this many times the last write's duration, at most LAZY_WRITE_MAX_MS. */
const LAZY_WRITE_FACTOR = 4;
const LAZY_WRITE_MAX_MS = 1000;
/**
 * A write's encoding runs on the only thread (the I/O does not): no write starts within this many
 * times the last encoding's duration of the last start, so that writing takes at most a fifth of
 * the thread however often mutations come (a tenant's stream of applies cannot make the server
 * spend its time re-encoding a 20,000-object file).
 */
const ENCODE_SHARE_FACTOR = 5;
/**
 * The spacing's bound: after one tenant's 3,000-object apply (its journal entry took 100 ms or
 * more to encode) every other request's write would wait half a second or more. Such an apply's
 * parsing, which the server shares out fairly, already costs more than its encoding. At 100 ms
 * the write after each bulk apply was among the well-behaved tenant's slowest PUTs (issue 13).
 */
const MAX_SPACING_MS = 25;

/** The next write, and the callers waiting for it. */
interface Batch {
  at: number;
  timer: Timer;
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * When the state file is written. Group commit: a mutation schedules a durable write (at the
 * event loop's next check phase by default, or `groupCommitMs` out), and every mutation until it
 * starts shares it; mutations during a write share the next one. One write runs at a time, and
 * each takes the state as it is when it starts.
 */
export class WriteScheduler {
  private writing: Promise<void> | undefined;
  private scheduled: Batch | undefined;
  private lastWriteMs = 0;
  /** When the last write started, and how long its synchronous part (the encoding) took. */
  private lastStart = Number.NEGATIVE_INFINITY;
  private lastEncodeMs = 0;
  /** A failed background write, surfaced by the next flush(). */
  private lastWriteError: unknown;
  /** Told of each completed write and how long it took, encoding and I/O (for metrics). */
  onWritten: ((ms: number) => void) | undefined;

  /** `write` writes the whole state durably; `groupCommitMs` is how long a write waits for more mutations. */
  constructor(
    private readonly write: () => Promise<void>,
    private readonly clock: Clock,
    private readonly groupCommitMs: number,
    /** The thread's time, to measure what encoding takes (injected by tests). */
    private readonly threadTime: () => number = () => performance.now(),
  ) {}

  /**
   * Resolves once a write that includes every change made so far is on disk. Specs, deletions
   * and finalizers are awaited this way.
   */
  persist(): Promise<void> {
    return this.schedule(this.groupCommitMs);
  }

  /**
   * Status, events and a controller's revisions are observed state: a lost one is observed again
   * by the next reconcile, so controllers do not wait for the disk. Their write waits a multiple
   * of what the last write took, so that rewriting the file takes a bounded share of the time
   * however large it grows (at 5,000 objects a write-after-5-ms policy spent the whole pass
   * rewriting 6 MB). A durable write that comes meanwhile brings the write forward. flush()
   * waits for it.
   */
  persistSoon(): void {
    const delay = Math.max(this.groupCommitMs, Math.min(LAZY_WRITE_MAX_MS, this.lastWriteMs * LAZY_WRITE_FACTOR));
    this.schedule(delay).catch((err: unknown) => {
      this.lastWriteError = err;
    });
  }

  /** Whether a write is scheduled or running: a change may be on its way to disk. */
  get busy(): boolean {
    return this.scheduled !== undefined || this.writing !== undefined;
  }

  /** Waits until every change so far is on disk; throws a background write's failure. */
  async flush(): Promise<void> {
    while (this.writing || this.scheduled)
      await (this.scheduled ? this.schedule(0) : this.writing)?.catch(() => undefined);
    const failed = this.lastWriteError;
    this.lastWriteError = undefined;
    if (failed) throw failed;
  }

  private schedule(requestedMs: number): Promise<void> {
    const now = this.clock.now();
    // Capped: a wall clock stepped back must not hold a write for the size of the step.
    const spacing = Math.min(MAX_SPACING_MS, ENCODE_SHARE_FACTOR * this.lastEncodeMs);
    const delayMs = Math.max(requestedMs, Math.min(spacing, this.lastStart + spacing - now));
    const at = now + delayMs;
    const next = this.scheduled;
    if (next) {
      if (at < next.at) {
        next.timer.cancel();
        next.at = at;
        next.timer = this.startTimer(delayMs);
      }
      return next.done;
    }
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.scheduled = { at, timer: this.startTimer(delayMs), done, resolve, reject };
    return done;
  }

  /**
   * A pending write keeps the process alive: a command that exits must not lose it. One due now
   * starts at the event loop's next check phase (setImmediate): for a request, right after the
   * I/O callbacks of the turn that read it. A timer fired only in the next turn, after all of
   * that turn's I/O, and under load a turn took tens of milliseconds that every durable write
   * (every tenant's PUT) waited for.
   */
  private startTimer(delayMs: number): Timer {
    if (delayMs <= 0) {
      const immediate = setImmediate(() => void this.run());
      return { cancel: () => clearImmediate(immediate) };
    }
    return this.clock.schedule(delayMs, () => void this.run(), { keepAlive: true });
  }

  private async run(): Promise<void> {
    const batch = this.scheduled;
    if (!batch) return;
    this.scheduled = undefined;
    this.lastStart = this.clock.now();
    // The file's I/O is asynchronous, and the next write's text is taken only once the previous
    // one is on disk, so it holds every change made meanwhile.
    const previous = this.writing;
    const write = (async () => {
      await previous?.catch(() => undefined);
      const started = this.threadTime();
      try {
        const writing = this.write();
        this.lastEncodeMs = this.threadTime() - started;
        await writing;
      } finally {
        this.lastWriteMs = this.threadTime() - started;
      }
    })();
    this.writing = write;
    try {
      await write;
      this.onWritten?.(this.lastWriteMs);
      batch.resolve();
    } catch (err) {
      batch.reject(err);
    } finally {
      if (this.writing === write) this.writing = undefined;
    }
  }
}
