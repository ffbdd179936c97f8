/**
 * Deliveries waiting to be sent, now or after a backoff, at most `capacity` of them: when full,
 * the oldest waiting one is dropped (and counted), so that a receiver that is down and a burst of
 * events cannot grow memory without bound. Taking and adding never wait.
 */
export class DeliveryQueue<T> {
  private items: Array<{ readonly item: T; readonly dueAt: number }> = [];
  dropped = 0;

  constructor(
    readonly capacity: number,
    private readonly onDrop: (item: T) => void = () => undefined,
  ) {}

  get length(): number {
    return this.items.length;
  }

  add(item: T, dueAt: number): void {
    this.items.push({ item, dueAt });
    while (this.items.length > this.capacity) {
      const oldest = this.items.shift();
      this.dropped += 1;
      if (oldest) this.onDrop(oldest.item);
    }
  }

  /** The first item due at `now` that `eligible` accepts, in the order added; undefined when none is. */
  take(now: number, eligible: (item: T) => boolean = () => true): T | undefined {
    const index = this.items.findIndex((e) => e.dueAt <= now && eligible(e.item));
    if (index < 0) return undefined;
    const [entry] = this.items.splice(index, 1);
    return entry?.item;
  }

  /** When the next item due after `after` is, if any waits. */
  nextDue(after = Number.NEGATIVE_INFINITY): number | undefined {
    let next: number | undefined;
    for (const e of this.items) if (e.dueAt > after && (next === undefined || e.dueAt < next)) next = e.dueAt;
    return next;
  }
}
