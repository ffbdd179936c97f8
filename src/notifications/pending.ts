import type { Store } from "../store/store.js";

/** A delivery not yet ended, and when it is due (ms since the epoch). */
export interface PendingEntry<T> {
  readonly delivery: T;
  readonly dueAt: number;
}

/**
 * The deliveries not yet ended (waiting, backing off or in flight) in the state file, entry by
 * entry, so that a restart sends what was waiting instead of losing it. Never awaited: a
 * notification must not hold a reconcile. Bounded by the delivery queue: what it drops ends here
 * too. A delivery sent just before a kill may be sent again; one ended before a stop is not.
 */
export class PendingDeliveries<T extends { readonly id: string }> {
  private readonly map;

  constructor(
    store: Store,
    private readonly onError: (err: unknown) => void,
  ) {
    this.map = store.stateMap<PendingEntry<T>>("notifications");
  }

  keep(delivery: T, dueAt: number): void {
    this.map.set(delivery.id, { delivery, dueAt }).catch(this.onError);
  }

  end(delivery: T): void {
    if (this.map.get(delivery.id)) this.map.delete(delivery.id).catch(this.onError);
  }

  /** What a stopped or killed notifier left, soonest due first. */
  all(): PendingEntry<T>[] {
    return this.map.values().sort((a, b) => a.dueAt - b.dueAt);
  }
}
