import { EventEmitter } from "node:events";
import { isDeepStrictEqual } from "node:util";
import { type AdmissionReader, admit } from "../resources/admission.js";
import { displayName, KIND_ORDER, keyOf, type ObjectRef, objectKey, parseKey } from "../resources/kinds.js";
import type { LoadedManifest } from "../resources/loader.js";
import type { BaseStatus, Kind, Resource, StoredEvent } from "../resources/types.js";
import { keyringLoader } from "../secrets/keyring.js";
import { storedSecret } from "../secrets/stored-form.js";
import { generatedPassword, Vault } from "../secrets/vault.js";
import { type Clock, systemClock } from "../util/clock.js";
import { runInTurns, runToEnd, type Steps } from "../util/steps.js";
import { type PlanContext, type PlannedEvents, planWrite, planWrites, stillHolds } from "./apply-plan.js";
import type { Alongside } from "./changes.js";
import { type Change, type ChangeAction, differs, notFound, type StoreEvent, withEvent } from "./changes.js";
import { Indexes } from "./indexes.js";
import { Outbox } from "./outbox.js";
import { type EntryText, VersionHole } from "./serialize.js";
import type * as State from "./state-file.js";
import { PersistedState } from "./state-file.js";

export type { Change, ChangeAction, StoreEvent, StoreEventType } from "./changes.js";

export { FINALIZER } from "./changes.js";

const PREVIEW_STEP = 100;

export interface OpenOptions extends State.StateFileOptions {
  /** Time for timestamps and write timers; the system's unless given. */
  readonly clock?: Clock;
}

export interface ListFilter {
  readonly kind?: Kind;
  readonly group?: string;
}

/**
 * The desired and observed state of every object: its versions, events and generated secrets,
 * the group index, and a "change" event per change. Kept in the state file (PersistedState): a
 * spec, deletion or finalizer change resolves once it is durably on disk; status and events are
 * written soon after. Other modules keep their own sections of the same file (section()).
 */
export class Store implements AdmissionReader {
  readonly path: string;
  /** "change" after every change to an object, with a copy of it; "recorded" after each event recorded on one. */
  readonly events = new EventEmitter<{ change: [StoreEvent]; recorded: [string, StoredEvent] }>();
  /** Change events in commit order; a big apply's are handed out over several turns. */
  private readonly outbox = new Outbox<StoreEvent>((event) => {
    // Each listener on its own: one that throws must not keep the event from the others.
    for (const listener of this.events.listeners("change")) {
      try {
        listener(event);
      } catch (error) {
        console.error("a store listener failed:", error);
      }
    }
  });
  private readonly index = new Indexes();
  /** Secret values and generated credentials, sealed in the state file: for controllers and `--show-secrets`. */
  readonly secrets: Vault;
  private readonly planContext: PlanContext;

  private constructor(
    private readonly state: PersistedState,
    private readonly clock: Clock,
    options: OpenOptions,
  ) {
    this.path = state.path;
    this.events.setMaxListeners(100);
    this.index.reset(state.data.objects);
    this.secrets = new Vault(state, keyringLoader(this.path, options));
    this.planContext = {
      peek: (key) => this.peek(key),
      stored: (manifest) => storedSecret(manifest, this.secrets),
      hole: new VersionHole(),
      now: () => this.timestamp(),
      eventsOf: (uid) => this.state.data.events[uid],
      encodeEvents: (uid, list) => this.state.encoded("events", uid, list),
    };
  }

  static async open(path: string, options: OpenOptions): Promise<Store> {
    const clock = options.clock ?? systemClock;
    const store = new Store(await PersistedState.open(path, options, clock), clock, options);
    if (options.write) await store.secrets.sealOnFirstOpen();
    return store;
  }

  get instanceId(): string {
    return this.state.data.instanceId;
  }

  get stats(): { writes: number; bytesWritten: number } {
    return this.state.stats;
  }

  /** `listener` hears each completed write of the state file with its duration in milliseconds. */
  observeWrites(listener: ((ms: number) => void) | undefined): void {
    this.state.observeWrites(listener);
  }

  /** The highest resourceVersion handed out so far. */
  get lastResourceVersion(): number {
    return this.state.data.lastResourceVersion;
  }

  /** Change events committed but not yet handed to listeners, and those handed out so far. */
  get eventsInFlight(): { pending: number; delivered: number } {
    return { pending: this.outbox.pending, delivered: this.outbox.delivered };
  }

  get(ref: ObjectRef | string): Resource | undefined {
    const obj = this.peek(typeof ref === "string" ? ref : objectKey(ref.kind, ref.group, ref.name));
    return obj ? structuredClone(obj) : undefined;
  }

  /** Like get(), without the copy: the object is the store's own and must not be changed. */
  peek(key: string): Readonly<Resource> | undefined {
    return this.state.data.objects[key];
  }

  list(filter: ListFilter = {}): Resource[] {
    return this.view(filter).map((o) => structuredClone(o));
  }

  /** Like list() without the copies (nine tenths of a list's cost), for answers serialized at once: never change them. */
  view(filter: ListFilter = {}): readonly Resource[] {
    return this.sortedKeys(filter).flatMap((k) => this.state.data.objects[k] ?? []);
  }

  /** The keys view() lists, in its order: the indexes' array, sorted once per change (a hundred lists, one sort), never changed. */
  sortedKeys({ group, kind }: ListFilter = {}): readonly string[] {
    return group !== undefined ? this.index.groups.sortedKeysOf(group, kind) : this.index.kinds.sortedKeysOf(kind);
  }

  /** The keys of one kind, in no particular order: the index's own set, without a copy or a sort. */
  keysOfKind(kind: Kind): ReadonlySet<string> {
    return this.index.kinds.keysOf(kind);
  }

  /** The keys of a kind whose objects pass `test`, kept as they change: see KindIndex.select. */
  selection(name: string, kind: Kind, test: (obj: Readonly<Resource>) => boolean): ReadonlySet<string> {
    return this.index.kinds.select(name, kind, test, this.state.data.objects);
  }

  /** The keys of a group's objects, of one kind or all: what the index holds, without a copy. */
  keysOf(group: string, kind?: Kind): ReadonlySet<string> {
    return this.index.groups.keysOf(group, kind);
  }

  /** Changes when what a group's objects ask for changes (a creation, a spec, a deletion). */
  changeSerialOf(group: string): number {
    return this.index.groups.changeSerialOf(group);
  }

  /** An object's secret values (a Secret's, a service's password) as text: see `secrets`. */
  secretsOf(obj: Resource): Record<string, string> {
    return this.secrets.text(obj);
  }

  eventsOf(obj: Resource): StoredEvent[] {
    // Copies: a stored event is never changed in place (its encoding is reused, serialize.ts).
    return (this.state.data.events[obj.metadata.uid ?? ""] ?? []).map((event) => ({ ...event }));
  }

  /** A map of the state file that another module keeps entry by entry (revisions, sources, suspensions, accounts). */
  stateMap<V>(name: State.MapName): State.StateMap<V> {
    return this.state.stateMap<V>(name);
  }

  /** What an apply would change, without writing anything. */
  preview(manifests: readonly LoadedManifest[]): Change[] {
    return runToEnd(this.previewSteps(manifests));
  }

  /**
   * The same, as steps (a pause every PREVIEW_STEP manifests): a server previews a 3,000-object
   * apply between other requests, so changes from different steps may show different moments.
   */
  *previewSteps(manifests: readonly LoadedManifest[]): Steps<Change[]> {
    const changes: Change[] = [];
    for (const m of manifests) {
      const object = storedSecret(m, this.secrets);
      const existing = this.state.data.objects[keyOf(object)];
      const action: ChangeAction = !existing ? "created" : differs(existing, object) ? "configured" : "unchanged";
      changes.push({
        key: keyOf(object),
        display: displayName(object),
        action,
        // Its own metadata: a status or deletion changes the stored one in place before a later step's answer is encoded.
        object: existing
          ? ({ ...existing, metadata: structuredClone(existing.metadata), spec: object.spec } as Resource)
          : object,
      });
      if (changes.length % PREVIEW_STEP === 0) yield;
    }
    return changes;
  }

  /**
   * Works out every manifest's write in steps (apply-plan.ts), then admits (resources/admission.ts)
   * and commits them at once with what `alongside` adds (revisions), in one durable write: all or none.
   */
  async apply(manifests: readonly LoadedManifest[], alongside?: Alongside): Promise<Change[]> {
    const ordered = [...manifests].sort((a, b) => KIND_ORDER[a.object.kind] - KIND_ORDER[b.object.kind]);
    const context = this.planContext;
    admit(this, manifests); // refused before any work; again at commit, as the store is then
    const planned = await runInTurns(planWrites(ordered, context));
    admit(this, manifests);
    const time = this.timestamp();
    const changes: Change[] = [];
    const emitted: StoreEvent[] = [];
    for (const write of planned) {
      const current = this.peek(write.key);
      // Another write to the object landed while this one was worked out.
      const { key, manifest, action, next, snapshot, text, specChanged, events } = stillHolds(write, current)
        ? write
        : planWrite(write.manifest, context);
      const existing = this.state.data.objects[key];
      if (manifest.values) this.secrets.put(next ?? (existing as Resource), manifest.values);
      if (!next || !snapshot) {
        changes.push({
          key,
          display: displayName(existing as Resource),
          action,
          object: structuredClone(existing as Resource),
        });
        continue;
      }
      const version = this.state.nextResourceVersion(key);
      next.metadata.resourceVersion = snapshot.metadata.resourceVersion = version;
      this.state.data.objects[key] = next;
      if (text) this.state.remember("objects", key, next, { bytes: Buffer.from(text.before + version + text.after) });
      if (action === "created") {
        this.index.add(key, next);
        if (next.kind === "Service") this.secrets.put(next, { password: generatedPassword() });
      } else this.index.touch(key, next);
      if (events) this.placeEvents(next, events, time);
      changes.push({ key, display: displayName(next), action, object: snapshot });
      emitted.push({ type: action === "created" ? "added" : specChanged ? "spec" : "metadata", key, object: snapshot });
    }
    // The events keep their place in line while the write is on its way to disk.
    const place = this.outbox.hold();
    try {
      await alongside?.(changes);
      if (emitted.length > 0) await this.state.persist();
    } catch (err) {
      await place.release([]);
      throw err;
    }
    await place.release(emitted, "room"); // answered once durable: see ReleaseWait
    return changes;
  }

  /** Writes status as a controller saw it; nothing (no resourceVersion bump) when nothing changed. */
  async updateStatus<S extends BaseStatus>(key: string, update: (status: S) => S): Promise<Resource | undefined> {
    const obj = this.state.data.objects[key];
    if (!obj) return undefined;
    const before = (obj.status ?? {}) as S;
    const after = update(structuredClone(before));
    if (isDeepStrictEqual(before, after)) return structuredClone(obj);
    (obj as { status?: BaseStatus }).status = after;
    obj.metadata.resourceVersion = this.state.nextResourceVersion(key);
    // Encoded now, in this controller's task: left to the next write, a bulk apply's 3,000
    // reconciles made one journal line that held the thread for 300 ms while every tenant's
    // durable write waited for it (issue 13).
    this.state.remember("objects", key, obj);
    this.state.persistSoon();
    this.emit({ type: "status", key, object: obj });
    return structuredClone(obj);
  }

  async recordEvent(key: string, event: Omit<StoredEvent, "time">): Promise<void> {
    const obj = this.state.data.objects[key];
    if (!obj) return;
    const list = this.state.data.events[obj.metadata.uid ?? ""] ?? [];
    const last = list[list.length - 1];
    // A repeating failure is one event, not a flood.
    if (last && last.reason === event.reason && last.message === event.message) return;
    this.state.persistSoon();
    const recorded = this.pushEvent(obj, event, { encode: true });
    this.events.emit("recorded", key, recorded);
  }

  /** Marks an object for deletion; the finalizer holds it until its infrastructure is gone. */
  async markDeleted(key: string): Promise<Change> {
    const { change, event } = this.markInMemory(key);
    // Announced even when the write fails: the change is made in memory (and goes to disk with
    // the next write), so the controllers must act on it.
    const place = this.outbox.hold();
    try {
      await this.state.persist();
    } finally {
      await place.release([event]);
    }
    return change;
  }

  /**
   * Marks objects for deletion, a group's objects before the group so that its deletion is not
   * held by what the same call deletes; with cascade, everything in a deleted group too.
   */
  async markDeletedAll(keys: readonly string[], options: { cascade?: boolean } = {}): Promise<Change[]> {
    const groups = keys
      .map(parseKey)
      .filter((ref) => ref.kind === "Group")
      .map((ref) => ref.name);
    const owned = options.cascade ? groups.flatMap((g) => [...this.keysOf(g)]) : [];
    const isGroup = (key: string): number => (parseKey(key).kind === "Group" ? 1 : 0);
    const ordered = [...new Set([...owned, ...keys])].sort((a, b) => isGroup(a) - isGroup(b));
    // All or nothing, in one durable write: a cascade of 20,000 objects is one rewrite of the
    // file, not one each; the events follow the write, as markDeleted's do.
    const missing = ordered.find((key) => !this.state.data.objects[key]);
    if (missing !== undefined) throw notFound(missing);
    const marked = ordered.map((key) => this.markInMemory(key));
    const place = this.outbox.hold();
    try {
      if (marked.length > 0) await this.state.persist();
    } finally {
      await place.release(marked.map(({ event }) => event));
    }
    return marked.map(({ change }) => change);
  }

  /** Marks one object for deletion in memory (removed at once if nothing holds it); the caller persists, then emits. */
  private markInMemory(key: string): { change: Change; event: StoreEvent } {
    const obj = this.state.data.objects[key];
    if (!obj) throw notFound(key);
    if (!obj.metadata.deletionTimestamp) {
      obj.metadata.deletionTimestamp = this.timestamp();
      obj.metadata.resourceVersion = this.state.nextResourceVersion(key);
      this.index.touch(key, obj);
      this.pushEvent(obj, { type: "Normal", reason: "Deleting", message: "deletion requested" });
    }
    const removed = (obj.metadata.finalizers ?? []).length === 0;
    if (removed) this.drop(key, obj);
    // One copy, as committed, for the caller and the listeners.
    const snapshot = structuredClone(obj);
    const change: Change = { key, display: displayName(obj), action: "deleted", object: snapshot };
    return { change, event: { type: removed ? "removed" : "deleting", key, object: snapshot } };
  }

  /**
   * Drops a finalizer; an object marked for deletion with none left is removed. Written lazily,
   * like status: after a kill the object's controller finds nothing left and drops it again.
   */
  async removeFinalizer(key: string, finalizer: string): Promise<void> {
    const obj = this.state.data.objects[key];
    if (!obj) return;
    const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    obj.metadata.finalizers = finalizers;
    obj.metadata.resourceVersion = this.state.nextResourceVersion(key);
    if (finalizers.length === 0 && obj.metadata.deletionTimestamp) {
      this.drop(key, obj);
      this.state.persistSoon();
      this.emit({ type: "removed", key, object: obj });
      return;
    }
    this.state.persistSoon();
    this.emit({ type: "metadata", key, object: obj });
  }

  /** Re-reads the file (for readers following a writer in another process). */
  async reload(): Promise<void> {
    await this.state.read();
    this.index.reset(this.state.data.objects);
  }

  async close(): Promise<void> {
    await this.state.close();
  }

  /** Resolves once every mutation so far is on disk (not waiting, as flush() does, for later writes and compactions). */
  persist(): Promise<void> {
    return this.state.persist();
  }

  /** Waits until every mutation so far is on disk, and no write or compaction is left running. */
  flush(): Promise<void> {
    return this.state.flush();
  }

  private timestamp(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /** Removes an object with its events and secret values. */
  private drop(key: string, obj: Resource): void {
    const uid = obj.metadata.uid ?? "";
    this.index.remove(key, obj);
    delete this.state.data.objects[key];
    delete this.state.data.events[uid];
    this.state.touch("events", uid);
    this.secrets.remove(uid);
  }

  /**
   * An apply's event, as planned while the object's list is still the one it was made from;
   * otherwise (an event landed during the plan) added now, after it.
   */
  private placeEvents(obj: Resource, planned: PlannedEvents, time: string): void {
    const uid = obj.metadata.uid ?? "";
    if (this.state.data.events[uid] !== planned.against) this.pushEvent(obj, planned.event, { time, encode: true });
    else this.putEvents(uid, planned.list, planned.text);
  }

  /**
   * Appends an event to the object's list. `encode`: the list is encoded now, on its writer's
   * turn, as a status is; a cascade's deletion marks are left to its one line.
   */
  private pushEvent(
    obj: Resource,
    event: Omit<StoredEvent, "time">,
    { time = this.timestamp(), encode = false }: { time?: string; encode?: boolean } = {},
  ): StoredEvent {
    const uid = obj.metadata.uid ?? "";
    const stored = { time, ...event };
    const list = withEvent(this.state.data.events[uid], stored);
    this.putEvents(uid, list, encode ? this.state.encoded("events", uid, list) : undefined);
    return { ...stored };
  }

  /** Stores an object's new event list, with its entry's text when that is made already. */
  private putEvents(uid: string, list: StoredEvent[], text: EntryText | undefined): void {
    this.state.touch("events", uid);
    this.state.data.events[uid] = list;
    if (text) this.state.remember("events", uid, list, text);
  }

  /** Sends a change with the object as it is now: a later change in place must not show in it. */
  private emit(event: StoreEvent): void {
    this.outbox.send({ ...event, object: structuredClone(event.object) });
  }
}
