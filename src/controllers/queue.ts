import { type Clock, systemClock, type Timer } from "../util/clock.js";

export interface QueueOptions {
  readonly clock?: Clock;
  /** First retry delay after an error; doubles per failure up to maxDelayMs. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Global rate limit: tokens per second and bucket size, shared by all keys. */
  readonly qps?: number;
  readonly burst?: number;
}

/** Told when a worker takes a key, with how long it waited in line (for metrics). */
export type DequeueObserver = (key: string, waitedMs: number) => void;

/**
 * A de-duplicating work queue in the manner of client-go's: a key is queued at most once, is
 * handed to one worker at a time, and a key added while being processed is queued again when
 * that worker calls done(). Failures back off per key; a token bucket limits the global rate.
 */
export class WorkQueue {
  private readonly clock: Clock;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: Timer }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private tokens: number;
  private lastRefill: number;
  private refillTimer: Timer | undefined;
  private shuttingDown = false;
  /** When each queued key joined the line. */
  private readonly queuedAt = new Map<string, number>();
  onDequeue: DequeueObserver | undefined;

  constructor(options: QueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 5 * 60_000;
    this.qps = options.qps ?? 50;
    this.burst = options.burst ?? 100;
    this.tokens = this.burst;
    this.lastRefill = this.clock.now();
  }

  get length(): number {
    return this.queue.length;
  }

  /** Keys queued, delayed or being processed: zero means the loop is idle. */
  get busy(): number {
    return this.queue.length + this.processing.size;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    this.cancelDelayed(key);
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queuedAt.set(key, this.clock.now());
    this.queue.push(key);
    this.dispatch();
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.clock.schedule(delayMs, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { at, timer });
  }

  /** Requeues after a failure with exponential backoff; returns the delay chosen. */
  addRateLimited(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** failures);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure count, after a success or a terminal error. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Waits for the next key; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.dispatch();
    });
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirtyWhileProcessing.delete(key)) this.add(key);
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) timer.cancel();
    this.delayed.clear();
    this.refillTimer?.cancel();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private cancelDelayed(key: string): void {
    const existing = this.delayed.get(key);
    if (!existing) return;
    existing.timer.cancel();
    this.delayed.delete(key);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.qps);
    this.lastRefill = now;
  }

  private dispatch(): void {
    while (this.waiters.length > 0 && this.queue.length > 0) {
      this.refill();
      if (this.tokens < 1) {
        if (!this.refillTimer) {
          const wait = Math.ceil(((1 - this.tokens) / this.qps) * 1000);
          this.refillTimer = this.clock.schedule(wait, () => {
            this.refillTimer = undefined;
            this.dispatch();
          });
        }
        return;
      }
      this.tokens -= 1;
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.onDequeue?.(key, this.clock.now() - (this.queuedAt.get(key) ?? this.clock.now()));
      this.queuedAt.delete(key);
      this.processing.add(key);
      const waiter = this.waiters.shift();
      waiter?.(key);
    }
  }
}
