import { performance } from "node:perf_hooks";

/** How long one turn of the event loop may spend handing out a big write's events. */
export const OUTBOX_SLICE_MS = 8;

/**
 * Hands the store's change events to listeners (controllers, the watch hub) in commit order. A
 * write of thousands of objects would hand out thousands of events in one stretch of the only
 * thread (issue 13); past a slice of time the rest wait for the next turn of the event loop, so
 * that other requests are served between. Any event sent meanwhile queues behind them: listeners
 * never see a newer change before an older one. With nothing queued an event goes out at once.
 */
export class Outbox<E> {
  private readonly queue: Array<{ readonly event: E; readonly done?: () => void }> = [];
  private head = 0;
  private scheduled = false;
  /** Events handed out so far. */
  delivered = 0;

  constructor(
    private readonly deliver: (event: E) => void,
    private readonly sliceMs = OUTBOX_SLICE_MS,
    /** A listener that throws must not stop the events behind it. */
    private readonly onError: (error: unknown) => void = (error) => console.error("a store listener failed:", error),
  ) {}

  /** Events waiting for a turn. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Sends one event: now, or behind those still queued. */
  send(event: E): void {
    if (this.pending > 0) {
      this.queue.push({ event });
      return;
    }
    this.delivered++;
    this.deliver(event);
  }

  /** Sends events in order, in slices; resolves once the last of them has gone out. */
  sendAll(events: readonly E[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      events.forEach((event, i) => this.queue.push(i === events.length - 1 ? { event, done: resolve } : { event }));
      if (this.pending === events.length) this.drain();
    });
  }

  /** Delivers queued events until the slice is spent, then yields the thread until the next turn. */
  private drain(): void {
    this.scheduled = false;
    const deadline = performance.now() + this.sliceMs;
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head++];
      this.delivered++;
      try {
        if (entry) this.deliver(entry.event);
      } catch (error) {
        this.onError(error);
      }
      entry?.done?.();
      if (performance.now() >= deadline) break;
    }
    if (this.head < this.queue.length) {
      this.scheduled = true;
      setImmediate(() => this.drain());
      return;
    }
    this.queue.length = 0;
    this.head = 0;
  }
}
