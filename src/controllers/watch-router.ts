import { keyOf } from "../resources/kinds.js";
import type { Kind, Resource } from "../resources/types.js";
import type { Store, StoreEvent } from "../store/store.js";
import { OWN_EVENTS, type Requeue, type Watch, type WatchDeclaration } from "./watches.js";

/** Events gathered requeues wait for at most (a cascade of a 20,000-object group is 2 waits). */
const MAX_EVENTS_BEFORE_FLUSH = 10_000;
/** A watch's `seen`: what the requeued objects see of a watched object. */
type Seen = (obj: Resource) => string;
/** Per `seen`, whether this event changed it. */
type Verdicts = Map<Seen, boolean>;

/** A group's requeues of one kind gathered this turn: all its objects, or those referring to these keys. */
interface Gathered {
  all: boolean;
  readonly referring: Set<string>;
}

/**
 * Applies the controllers' watch declarations to the store's events: each event becomes the
 * keys to requeue. A group's requeues are gathered until the end of the event-loop turn and
 * listed once per group, through the store's index by kind when they ask for one kind.
 */
export class WatchRouter {
  private readonly declarations = new Map<Kind, WatchDeclaration>();
  /** The watches of each watched kind. */
  private readonly byKind = new Map<Kind, Watch[]>();
  /** Per `seen` function, what the manager last saw of each watched object. */
  private readonly lastSeen = new Map<Seen, Map<string, string>>();
  private readonly pending = new Map<string, Map<Kind, Gathered>>();
  private flushTimer: NodeJS.Immediate | undefined;
  /** The store's delivered-events count when the gathered requeues started waiting. */
  private flushWaitFrom: number | undefined;

  constructor(
    declarations: readonly WatchDeclaration[],
    private readonly store: Pick<Store, "view" | "eventsInFlight" | "peek">,
    private readonly enqueue: (key: string) => void,
  ) {
    for (const declaration of declarations) {
      this.declarations.set(declaration.kind, declaration);
      for (const watch of declaration.watches) {
        for (const kind of watch.kinds) this.byKind.set(kind, [...(this.byKind.get(kind) ?? []), watch]);
        if (watch.seen && !this.lastSeen.has(watch.seen)) this.lastSeen.set(watch.seen, new Map());
      }
    }
  }

  handle({ type, key, object }: StoreEvent): void {
    if (OWN_EVENTS.includes(type) && this.declarations.has(object.kind)) this.enqueue(key);
    const verdicts: Verdicts = new Map();
    for (const watch of this.byKind.get(object.kind) ?? []) {
      if (!watch.on.includes(type)) continue;
      if (watch.seen && !this.sawChange(watch.seen, key, object, verdicts)) continue;
      for (const requeue of watch.map(object)) this.requeue(requeue);
    }
    if (type === "removed") for (const seen of this.lastSeen.values()) seen.delete(key);
  }

  /** Drops what is gathered, unlisted (the manager stops). */
  stop(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    this.pending.clear();
  }

  /** Whether `seen` of the object changed since last seen; decided once per event, as watches may share `seen`. */
  private sawChange(seen: Seen, key: string, object: Resource, verdicts: Verdicts): boolean {
    const decided = verdicts.get(seen);
    if (decided !== undefined) return decided;
    const memory = this.lastSeen.get(seen) as Map<string, string>;
    const now = seen(object);
    const changed = memory.get(key) !== now;
    memory.set(key, now);
    verdicts.set(seen, changed);
    return changed;
  }

  private requeue(requeue: Requeue): void {
    if ("key" in requeue) {
      this.enqueue(requeue.key);
      return;
    }
    let kinds = this.pending.get(requeue.group);
    if (!kinds) this.pending.set(requeue.group, (kinds = new Map()));
    let gathered = kinds.get(requeue.kind);
    if (!gathered) kinds.set(requeue.kind, (gathered = { all: false, referring: new Set() }));
    if (requeue.referring === undefined) gathered.all = true;
    else gathered.referring.add(requeue.referring);
    this.flushTimer ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushTimer = undefined;
    // A big write's events come over several turns (src/store/outbox.ts): wait for the rest, so
    // that its group is listed once, not once per turn; but not past a bound of events, so that
    // a stream of writes cannot hold the requeues back for ever.
    const { pending, delivered } = this.store.eventsInFlight;
    this.flushWaitFrom ??= delivered;
    if (pending > 0 && delivered - this.flushWaitFrom < MAX_EVENTS_BEFORE_FLUSH) {
      this.flushTimer = setImmediate(() => this.flush());
      return;
    }
    this.flushWaitFrom = undefined;
    // Read, not copied; one kind through the store's index: the quotas of a group cost its quotas.
    for (const [group, kinds] of this.pending) {
      const [only] = kinds.size === 1 ? kinds.keys() : [];
      for (const obj of this.store.view(only ? { group, kind: only } : { group })) {
        const gathered = kinds.get(obj.kind);
        if (gathered && (gathered.all || this.refersTo(obj, gathered.referring))) this.enqueue(keyOf(obj));
      }
    }
    this.pending.clear();
  }

  private refersTo(obj: Resource, keys: ReadonlySet<string>): boolean {
    if (keys.size === 0) return false;
    const references = this.declarations.get(obj.kind)?.references?.(obj, (key) => this.store.peek(key)) ?? [];
    return references.some((k) => keys.has(k));
  }
}
