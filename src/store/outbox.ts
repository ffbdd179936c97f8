import { performance } from "node:perf_hooks";
import { type ThreadShare, threadShare } from "../util/thread-share.js";

/** How long one turn of the event loop may spend handing out a big write's events. */
export const OUTBOX_SLICE_MS = 8;

interface Entry<E> {
  readonly event?: E;
  /** A place held for a write still on its way to disk: nothing behind it goes out first. */
  held?: boolean;
  readonly done?: () => void;
}

/** Past this many events waiting to go out, a write that asks for room waits for its own. */
export const MAX_BACKLOG = 10_000;

/**
 * What a filled place waits for: its events to have gone out, or only room in the outbox. A
 * tenant's write answered once durable need not wait for other tenants' big writes queued
 * ahead (their events went out over a second and more, issue 13); the bound keeps a flood of
 * writes from growing the queue without end. The events go out in order either way.
 */
export type ReleaseWait = "delivery" | "room";

/** A place in the outbox, taken when a change is made and filled once it is on disk. */
export interface OutboxPlace<E> {
  /** Fills the place with the change's events; resolves once the last of them has gone out (or, for "room", once the backlog is within its bound). */
  release(events: readonly E[], wait?: ReleaseWait): Promise<void>;
}

/**
 * Hands the store's change events to listeners (controllers, the watch hub) in commit order. A
 * write of thousands of objects would hand out thousands of events in one stretch of the only
 * thread (issue 13); past a slice of time the rest wait for the next turn of the event loop, so
 * that other requests are served between. A write that awaits the disk holds its place, and any
 * event sent meanwhile queues behind it and behind everything queued: listeners never see a
 * newer change before an older one. With nothing queued an event goes out at once.
 */
export class Outbox<E> {
  private queue: Array<Entry<E>> = [];
  private head = 0;
  private draining = false;
  /** Events handed out so far. */
  delivered = 0;

  constructor(
    private readonly deliver: (event: E) => void,
    private readonly sliceMs = OUTBOX_SLICE_MS,
    /** A listener that throws must not stop the events behind it. */
    private readonly onError: (error: unknown) => void = (error) => console.error("a store listener failed:", error),
    private readonly maxBacklog = MAX_BACKLOG,
    /** The thread's time for sliced work: each slice of deliveries is charged to it, and the next waits for it. */
    private readonly share: Pick<ThreadShare, "slice" | "next"> = threadShare,
  ) {}

  /** Events (and held places) waiting for a turn. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Sends one event: now, or behind those still queued. */
  send(event: E): void {
    if (this.pending > 0) {
      this.queue.push({ event });
      return;
    }
    this.handOut(event);
  }

  /** Sends events in order, in slices; resolves once the last of them has gone out. */
  sendAll(events: readonly E[]): Promise<void> {
    return this.hold().release(events);
  }

  /** Takes the next place in line for events to come (a write on its way to disk). */
  hold(): OutboxPlace<E> {
    const place: Entry<E> = { held: true };
    this.queue.push(place);
    return {
      release: (events, wait = "delivery") => {
        const delivered = this.fill(place, events);
        return wait === "room" && this.pending <= this.maxBacklog ? Promise.resolve() : delivered;
      },
    };
  }

  /** Puts the events in the place's stead; resolves once the last of them has gone out. */
  private fill(place: Entry<E>, events: readonly E[]): Promise<void> {
    return new Promise<void>((resolve) => {
      const at = this.queue.indexOf(place, this.head);
      const entries: Array<Entry<E>> = events.map((event, i) =>
        i === events.length - 1 ? { event, done: resolve } : { event },
      );
      if (entries.length === 0) entries.push({ done: resolve });
      // Not splice(at, 1, ...entries): a cascade's 20,000 events would be as many arguments.
      this.queue = [...this.queue.slice(0, at), ...entries, ...this.queue.slice(at + 1)];
      if (at === this.head) this.drain();
    });
  }

  /** Delivers queued events until the slice is spent or a held place is reached, then yields the thread. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.share.slice(() => {
      const deadline = performance.now() + this.sliceMs;
      while (this.head < this.queue.length) {
        const entry = this.queue[this.head];
        if (!entry || entry.held) break;
        this.head++;
        if (entry.event !== undefined) this.handOut(entry.event);
        entry.done?.();
        if (performance.now() >= deadline) break;
      }
    });
    this.draining = false;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (!this.queue[this.head]?.held) {
      void this.share.next().then(() => this.drain());
    }
  }

  private handOut(event: E): void {
    this.delivered++;
    try {
      this.deliver(event);
    } catch (error) {
      this.onError(error);
    }
  }
}
