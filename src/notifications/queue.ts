/**
 * Deliveries waiting to be sent, now or after a backoff: at most `capacity` in all and `perKey`
 * of one key (a group). Past either, the oldest waiting one (of that key first) is dropped and
 * counted, so that a receiver that is down, a burst of events or one tenant's hundred Alerts
 * cannot grow memory without bound or push out other tenants' deliveries. Nothing here waits.
 */
export class DeliveryQueue<T> {
  private items: Array<{ readonly item: T; readonly dueAt: number; readonly key: string }> = [];
  private readonly perKeyCount = new Map<string, number>();
  dropped = 0;

  constructor(
    readonly capacity: number,
    private readonly onDrop: (item: T) => void = () => undefined,
    readonly perKey: number = capacity,
  ) {}

  get length(): number {
    return this.items.length;
  }

  add(item: T, dueAt: number, key = ""): void {
    this.items.push({ item, dueAt, key });
    this.count(key, 1);
    if ((this.perKeyCount.get(key) ?? 0) > this.perKey) this.drop(this.items.findIndex((e) => e.key === key));
    while (this.items.length > this.capacity) this.drop(0);
  }

  /** The first item due at `now` that `eligible` accepts, in the order added; undefined when none is. */
  take(now: number, eligible: (item: T) => boolean = () => true): T | undefined {
    const index = this.items.findIndex((e) => e.dueAt <= now && eligible(e.item));
    return index < 0 ? undefined : this.remove(index)?.item;
  }

  /** When the next item due after `after` is, if any waits. */
  nextDue(after = Number.NEGATIVE_INFINITY): number | undefined {
    let next: number | undefined;
    for (const e of this.items) if (e.dueAt > after && (next === undefined || e.dueAt < next)) next = e.dueAt;
    return next;
  }

  private drop(index: number): void {
    const entry = this.remove(index);
    if (!entry) return;
    this.dropped += 1;
    this.onDrop(entry.item);
  }

  private remove(index: number): { item: T; key: string } | undefined {
    const [entry] = this.items.splice(index, 1);
    if (entry) this.count(entry.key, -1);
    return entry;
  }

  private count(key: string, delta: number): void {
    const n = (this.perKeyCount.get(key) ?? 0) + delta;
    if (n > 0) this.perKeyCount.set(key, n);
    else this.perKeyCount.delete(key);
  }
}
