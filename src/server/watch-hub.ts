import type { Resource } from "../resources/types.js";
import type { Store, StoreEvent } from "../store/store.js";

export type WatchType = "ADDED" | "MODIFIED" | "DELETED";

export interface WatchEvent {
  readonly type: WatchType;
  readonly object: Resource;
  /** The stream position: resume after it with `?watch=true&resourceVersion=...`. */
  readonly resourceVersion: string;
}

const TYPE_OF: Record<StoreEvent["type"], WatchType> = { added: "ADDED", spec: "MODIFIED", metadata: "MODIFIED", status: "MODIFIED", deleting: "MODIFIED", removed: "DELETED" };

/**
 * Numbers the store's changes in the order they were announced and keeps the last `capacity`,
 * so a watcher that lost its connection resumes where it was. Positions start at the store's
 * last resourceVersion, so a position from before a restart is never mistaken for a newer one.
 */
export class WatchHub {
  private readonly recent: WatchEvent[] = [];
  private readonly listeners = new Set<(event: WatchEvent) => void>();
  private readonly start: number;
  private position: number;
  private readonly onChange = (change: StoreEvent): void => this.publish(change);

  constructor(
    private readonly store: Store,
    private readonly capacity = 2000,
  ) {
    this.start = store.lastResourceVersion;
    this.position = this.start;
    store.events.on("change", this.onChange);
  }

  get current(): string {
    return String(this.position);
  }

  /** The events after position `after`, or undefined when they are no longer all kept. */
  since(after: number): WatchEvent[] | undefined {
    const oldest = Number(this.recent[0]?.resourceVersion ?? this.position + 1);
    if (!Number.isInteger(after) || after > this.position || after < this.start || after < oldest - 1) return undefined;
    return this.recent.filter((e) => Number(e.resourceVersion) > after);
  }

  subscribe(listener: (event: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.store.events.off("change", this.onChange);
    this.listeners.clear();
  }

  private publish(change: StoreEvent): void {
    this.position += 1;
    const event: WatchEvent = { type: TYPE_OF[change.type], object: change.object, resourceVersion: String(this.position) };
    this.recent.push(event);
    if (this.recent.length > this.capacity) this.recent.splice(0, this.recent.length - this.capacity);
    for (const listener of this.listeners) listener(event);
  }
}
