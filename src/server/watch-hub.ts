import type { Resource } from "../resources/types.js";
import type { Store, StoreEvent } from "../store/store.js";
import { objectJson } from "./object-json.js";

export type WatchType = "ADDED" | "MODIFIED" | "DELETED";

/** What a watcher matches an event on: the object's kind, name and group, not the object. */
export type WatchRef = Pick<Resource, "kind"> & {
  readonly metadata: { readonly name: string; readonly group?: string };
};

export interface WatchEvent {
  readonly type: WatchType;
  readonly object: WatchRef;
  /** The stream position: resume after it with `?watch=true&resourceVersion=...`. */
  readonly resourceVersion: string;
  /**
   * The event as the stream sends it, serialized and encoded once and shared by every stream and
   * the history: a string written to a hundred connections was encoded a hundred times, and a
   * stalled one held its own copy of each line it could not send.
   */
  readonly line: Buffer;
  /** The line's size in bytes, as the history and the streams count it. */
  readonly bytes: number;
}

const TYPE_OF: Record<StoreEvent["type"], WatchType> = {
  added: "ADDED",
  spec: "MODIFIED",
  metadata: "MODIFIED",
  status: "MODIFIED",
  deleting: "MODIFIED",
  removed: "DELETED",
};

/** The JSON line of one watch event. */
export function watchLine(type: WatchType | "BOOKMARK", object: Resource | undefined, resourceVersion: string): string {
  const version = JSON.stringify(resourceVersion);
  return object
    ? `{"type":"${type}","object":${objectJson(object)},"resourceVersion":${version}}\n`
    : `{"type":"${type}","resourceVersion":${version}}\n`;
}

/**
 * Numbers the store's changes in the order they were announced and keeps the last ones, at most
 * `maxEvents` of them and `maxBytes` of their lines, so a watcher that lost its connection
 * resumes where it was. Each change is serialized once, here; the object itself is not kept.
 * Positions start at the store's last resourceVersion, so a position from before a restart is
 * never mistaken for a newer one.
 */
export class WatchHub {
  private readonly recent: WatchEvent[] = [];
  private bytes = 0;
  private readonly listeners = new Set<(event: WatchEvent) => void>();
  private readonly start: number;
  private position: number;
  private readonly onChange = (change: StoreEvent): void => this.publish(change);

  constructor(
    private readonly store: Store,
    private readonly maxEvents = 2000,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {
    this.start = store.lastResourceVersion;
    this.position = this.start;
    store.events.on("change", this.onChange);
  }

  get current(): string {
    return String(this.position);
  }

  /** What the history holds now. */
  get retained(): { events: number; bytes: number } {
    return { events: this.recent.length, bytes: this.bytes };
  }

  /** The events after position `after`, or undefined when they are no longer all kept. */
  since(after: number): WatchEvent[] | undefined {
    const oldest = Number(this.recent[0]?.resourceVersion ?? this.position + 1);
    if (!Number.isInteger(after) || after > this.position || after < this.start || after < oldest - 1) return undefined;
    // Positions are consecutive: the first event after `after` is at a known offset.
    return this.recent.slice(after - oldest + 1);
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
    const resourceVersion = String(this.position);
    const type = TYPE_OF[change.type];
    const line = Buffer.from(watchLine(type, change.object, resourceVersion));
    const { kind, metadata } = change.object;
    const object: WatchRef = {
      kind,
      metadata: metadata.group === undefined ? { name: metadata.name } : { name: metadata.name, group: metadata.group },
    };
    const event: WatchEvent = { type, object, resourceVersion, line, bytes: line.length };
    this.keep(event);
    for (const listener of this.listeners) listener(event);
  }

  /** Adds to the history and drops its oldest events past either bound (an event larger than the byte bound is not kept). */
  private keep(event: WatchEvent): void {
    this.recent.push(event);
    this.bytes += event.bytes;
    while (this.recent.length > this.maxEvents || this.bytes > this.maxBytes) {
      const dropped = this.recent.shift();
      if (!dropped) break;
      this.bytes -= dropped.bytes;
    }
  }
}
