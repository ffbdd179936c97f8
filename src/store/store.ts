import { performance } from "node:perf_hooks";
import { randomBytes, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { Outbox } from "./outbox.js";
import { isDeepStrictEqual } from "node:util";
import { Low } from "lowdb";
import { ConflictError, NotFoundError, ValidationError, ValidationErrors } from "../errors.js";
import type { LoadedManifest } from "../resources/loader.js";
import { admissionErrors } from "../resources/quota.js";
import { displayName, KIND_ORDER, keyOf, objectKey, parseKey, type ObjectRef } from "../resources/kinds.js";
import type { BaseStatus, Kind, Resource, StoredEvent } from "../resources/types.js";
import { DurableJSONFile } from "./durable-file.js";
import { CachedJsonSerializer } from "./serialize.js";
import { WriterLock } from "./lock.js";

export const FINALIZER = "airloft.dev/infrastructure";
const MAX_EVENTS_PER_OBJECT = 20;
/** How long a write waits for more mutations to share it. */
const GROUP_COMMIT_MS = 5;
/** Observed-state writes wait this many times the last write's duration, at most LAZY_WRITE_MAX_MS. */
const LAZY_WRITE_FACTOR = 4;
const LAZY_WRITE_MAX_MS = 1000;

interface StateFile {
  version: 1;
  /** Marks what this state file's controllers created, so two installations never prune each other. */
  instanceId: string;
  lastResourceVersion: number;
  objects: Record<string, Resource>;
  events: Record<string, StoredEvent[]>;
  /** Generated credentials by object uid: kept with the object, never in its status or output. */
  secrets?: Record<string, Record<string, string>>;
  /** Git-ops sources and `apply --prune` sets, by name, with the inventory of what each applied. */
  sources?: Record<string, SourceRecord>;
  /** Object keys whose reconciliation is suspended. */
  suspended?: Record<string, true>;
  /** API server accounts (`airloft serve`): admins, and one per group (tenant). */
  accounts?: Record<AccountKind, Record<string, AccountRecord>>;
}

export type AccountKind = "admin" | "group";

export interface AccountRecord {
  /** The account's identity: made with it, never reused by another account of the same name. */
  uid?: string;
  /** A slow salted hash (see src/server/passwords.ts); never the password. */
  passwordHash?: string;
  locked?: boolean;
  /** Bumped when the password changes: tokens issued before are refused. */
  tokenVersion: number;
  updated: string;
}

export interface SourceRecord {
  name: string;
  /** What it reads: a watched folder, or the paths of an `apply --prune`. */
  paths: string[];
  kind: "watch" | "apply";
  revision?: string;
  lastSyncTime?: string;
  lastResult?: "Succeeded" | "Partial" | "Failed";
  lastErrors: string[];
  /** Keys of every object this source applied and still owns. */
  inventory: string[];
  /** The keys each file held at its last good version (an invalid file keeps them). */
  files: Record<string, string[]>;
  suspended?: boolean;
}

export type ChangeAction = "created" | "configured" | "unchanged" | "deleted";

export interface Change {
  readonly key: string;
  readonly display: string;
  readonly action: ChangeAction;
  readonly object: Resource;
}

export type StoreEventType = "added" | "spec" | "metadata" | "status" | "deleting" | "removed";

export interface StoreEvent {
  readonly type: StoreEventType;
  readonly key: string;
  readonly object: Resource;
}

export interface OpenOptions {
  /** Take the writer lock; read-only users (get, describe) do not. */
  readonly write: boolean;
  readonly command?: string;
  /** How long a write waits for more mutations to share it; 0 waits one event-loop turn (tests). */
  readonly groupCommitMs?: number;
}

export interface ListFilter {
  readonly kind?: Kind;
  readonly group?: string;
}

/**
 * The desired and observed state of every object, in one lowdb JSON file. One process writes at
 * a time (WriterLock); writes are coalesced but each mutation's promise resolves only once it is
 * durably on disk.
 */
export class Store {
  readonly path: string;
  readonly events = new EventEmitter();
  /** Change events in commit order; a big apply's are handed out over several turns. */
  private readonly outbox = new Outbox<StoreEvent>((event) => this.events.emit("change", { ...event, object: structuredClone(event.object) }));
  private readonly db: Low<StateFile>;
  private readonly adapter: DurableJSONFile<StateFile>;
  /** Keys of the objects of each group (Apps, Services, Quotas), kept with the objects. */
  private readonly byGroup = new Map<string, Set<string>>();
  /**
   * The same keys by kind, so that "the quotas of group G" costs its quotas, not the group. Keyed
   * by the group's key set: reload() renews those sets, and with them these.
   */
  private readonly byKind = new WeakMap<Set<string>, Map<Kind, Set<string>>>();
  /**
   * Per group, the serial of the last change to what its objects ask for (a creation, a spec, a
   * deletion): figures derived from a group, such as its quota usage, hold while it does.
   */
  private readonly groupSerials = new Map<string, number>();
  private serial = 0;
  /** The serial of groups unchanged since the file was last read. */
  private loadSerial = 0;
  private readonly lock: WriterLock | undefined;
  private writing: Promise<void> | undefined;
  /** The next write, and the callers waiting for it. */
  private scheduled: { at: number; timer: NodeJS.Timeout; done: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined;
  private lastWriteMs = 0;

  private readonly groupCommitMs: number;
  /** A failed background write, surfaced by the next flush(). */
  private lastWriteError: unknown;

  private constructor(path: string, adapter: DurableJSONFile<StateFile>, lock: WriterLock | undefined, groupCommitMs: number) {
    this.path = path;
    this.groupCommitMs = groupCommitMs;
    this.adapter = adapter;
    this.lock = lock;
    this.db = new Low(adapter, { version: 1, instanceId: randomUUID(), lastResourceVersion: 0, objects: {}, events: {} });
    this.events.setMaxListeners(100);
  }

  static async open(path: string, options: OpenOptions): Promise<Store> {
    const lock = options.write ? new WriterLock(path) : undefined;
    lock?.acquire(options.command ?? "airloft");
    const serializer = new CachedJsonSerializer({
      objects: (obj) => (obj as Resource).metadata.resourceVersion ?? "",
      events: (list) => String((list as StoredEvent[]).length),
    });
    const store = new Store(path, new DurableJSONFile<StateFile>(path, (data) => serializer.serialize(data)), lock, options.groupCommitMs ?? GROUP_COMMIT_MS);
    try {
      await store.reload();
      if (options.write) {
        store.adapter.removeLeftovers();
        await store.persist();
      }
    } catch (err) {
      lock?.release();
      throw err;
    }
    return store;
  }

  get instanceId(): string {
    return this.db.data.instanceId;
  }

  get stats(): { writes: number; bytesWritten: number } {
    return { writes: this.adapter.writes, bytesWritten: this.adapter.bytesWritten };
  }

  get(ref: ObjectRef | string): Resource | undefined {
    const key = typeof ref === "string" ? ref : objectKey(ref.kind, ref.group, ref.name);
    const obj = this.db.data.objects[key];
    return obj ? structuredClone(obj) : undefined;
  }

  list(filter: ListFilter = {}): Resource[] {
    return this.view(filter).map((o) => structuredClone(o));
  }

  /**
   * Like list(), without the copies, for answers serialized at once (the API): copying cost
   * nine tenths of a list. The objects are the store's own and must not be changed.
   */
  view(filter: ListFilter = {}): readonly Resource[] {
    // By group through the index: a reconcile that lists its group costs its group, not the store.
    const candidates = filter.group === undefined
      ? Object.values(this.db.data.objects)
      : [...this.keysOf(filter.group, filter.kind)].flatMap((k) => this.db.data.objects[k] ?? []);
    // Keys computed once and compared by code unit: a locale-aware sort cost most of a list of 1,000.
    return candidates
      .filter((o) => (!filter.kind || o.kind === filter.kind) && (filter.group === undefined || o.metadata.group === filter.group))
      .map((o) => ({ o, order: KIND_ORDER[o.kind], key: keyOf(o) }))
      .sort((a, b) => a.order - b.order || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map(({ o }) => o);
  }

  private index(key: string, obj: Resource): void {
    const group = obj.metadata.group;
    if (group === undefined) return;
    let keys = this.byGroup.get(group);
    if (!keys) this.byGroup.set(group, (keys = new Set()));
    keys.add(key);
    let kinds = this.byKind.get(keys);
    if (!kinds) this.byKind.set(keys, (kinds = new Map()));
    let ofKind = kinds.get(obj.kind);
    if (!ofKind) kinds.set(obj.kind, (ofKind = new Set()));
    ofKind.add(key);
  }

  private unindex(key: string, obj: Resource): void {
    const keys = this.byGroup.get(obj.metadata.group ?? "");
    if (!keys) return;
    keys.delete(key);
    this.byKind.get(keys)?.get(obj.kind)?.delete(key);
  }

  /** The keys of a group's objects, of one kind or all: what the index holds, without a copy. */
  keysOf(group: string, kind?: Kind): ReadonlySet<string> {
    const keys = this.byGroup.get(group);
    if (!keys) return new Set();
    return kind ? (this.byKind.get(keys)?.get(kind) ?? new Set()) : keys;
  }

  /** Changes when what a group's objects ask for changes (see groupSerials). */
  changeSerialOf(group: string): number {
    return this.groupSerials.get(group) ?? this.loadSerial;
  }

  private touchGroup(obj: Resource): void {
    if (obj.metadata.group !== undefined) this.groupSerials.set(obj.metadata.group, ++this.serial);
  }

  /** An object's generated credentials; only for controllers and `--show-secrets`. */
  secretsOf(obj: Resource): Record<string, string> {
    return { ...(this.db.data.secrets?.[obj.metadata.uid ?? ""] ?? {}) };
  }

  private setSecrets(obj: Resource, secrets: Record<string, string>): void {
    this.db.data.secrets ??= {};
    this.db.data.secrets[obj.metadata.uid ?? ""] = secrets;
  }

  getSource(name: string): SourceRecord | undefined {
    const source = this.db.data.sources?.[name];
    return source ? structuredClone(source) : undefined;
  }

  listSources(): SourceRecord[] {
    return Object.values(this.db.data.sources ?? {}).map((s) => structuredClone(s));
  }

  async saveSource(source: SourceRecord): Promise<void> {
    this.db.data.sources ??= {};
    this.db.data.sources[source.name] = structuredClone(source);
    await this.persist();
  }

  /** The source whose inventory holds this object, if any. */
  sourceOf(key: string): string | undefined {
    return Object.values(this.db.data.sources ?? {}).find((s) => s.inventory.includes(key))?.name;
  }

  isSuspended(key: string): boolean {
    return this.db.data.suspended?.[key] === true;
  }

  async setSuspended(key: string, suspended: boolean): Promise<void> {
    this.db.data.suspended ??= {};
    if (suspended) this.db.data.suspended[key] = true;
    else delete this.db.data.suspended[key];
    await this.persist();
  }

  /** The highest resourceVersion handed out so far. */
  /** Change events committed but not yet handed to listeners, and those handed out so far. */
  get eventsInFlight(): { pending: number; delivered: number } {
    return { pending: this.outbox.pending, delivered: this.outbox.delivered };
  }

  get lastResourceVersion(): number {
    return this.db.data.lastResourceVersion;
  }

  account(kind: AccountKind, name: string): AccountRecord | undefined {
    const accounts = this.db.data.accounts?.[kind];
    // Own properties only: a group named "constructor" is a name, not Object's constructor.
    const record = accounts && Object.hasOwn(accounts, name) ? accounts[name] : undefined;
    return record ? { ...record } : undefined;
  }

  listAccounts(kind: AccountKind): Array<AccountRecord & { name: string }> {
    return Object.entries(this.db.data.accounts?.[kind] ?? {}).map(([name, r]) => ({ name, ...r }));
  }

  /** Stores an account durably: a password change must survive a crash. */
  async saveAccount(kind: AccountKind, name: string, record: AccountRecord): Promise<void> {
    this.db.data.accounts ??= { admin: {}, group: {} };
    this.db.data.accounts[kind][name] = { ...record };
    // Told at once, not after the write: open watch streams re-check their account before the next event.
    this.events.emit("account", { kind, name });
    await this.persist();
  }

  async deleteAccount(kind: AccountKind, name: string): Promise<void> {
    const accounts = this.db.data.accounts;
    if (!accounts || !this.account(kind, name)) return;
    delete accounts[kind][name];
    this.events.emit("account", { kind, name });
    await this.persist();
  }

  eventsOf(obj: Resource): StoredEvent[] {
    return [...(this.db.data.events[obj.metadata.uid ?? ""] ?? [])];
  }

  /**
   * Checks an apply against the store without writing: every object's group must exist (in the
   * store or in the same apply) and must not be deleting; a stale resourceVersion is a conflict.
   */
  admit(manifests: readonly LoadedManifest[]): void {
    const errors: ValidationError[] = [];
    const appliedGroups = new Set(manifests.filter((m) => m.object.kind === "Group").map((m) => m.object.metadata.name));
    for (const { object, source } of manifests) {
      const group = object.metadata.group;
      if (object.kind !== "Group" && group !== undefined && !appliedGroups.has(group)) {
        const stored = this.db.data.objects[objectKey("Group", "", group)];
        if (!stored) errors.push(new ValidationError(source, "metadata.group", `group "${group}" does not exist; apply a Group named "${group}" first or in the same apply`));
        else if (stored.metadata.deletionTimestamp) errors.push(new ValidationError(source, "metadata.group", `group "${group}" is being deleted`));
      }
      const existing = this.db.data.objects[keyOf(object)];
      if (existing?.metadata.deletionTimestamp) {
        errors.push(new ConflictError(source, "metadata.name", `${displayName(object)} is being deleted; wait until it is gone before applying it again`));
      }
      const rv = object.metadata.resourceVersion;
      if (rv !== undefined && existing && existing.metadata.resourceVersion !== rv) {
        errors.push(new ConflictError(source, "metadata.resourceVersion", `stale: the stored object is at ${existing.metadata.resourceVersion}, the manifest at ${rv}`));
      }
    }
    errors.push(...this.admitGroups(manifests));
    if (errors.length > 0) throw new ValidationErrors(errors);
  }

  /**
   * Group-wide checks on the group as it would be after the apply: quotas, and one name per
   * group for apps and services (both are reached by that name on the group's network).
   */
  private admitGroups(manifests: readonly LoadedManifest[]): ValidationError[] {
    const errors: ValidationError[] = [];
    const groups = new Set(manifests.map((m) => m.object.metadata.group ?? (m.object.kind === "Group" ? m.object.metadata.name : "")));
    for (const group of groups) {
      const mine = manifests.filter((m) => m.object.metadata.group === group);
      if (mine.length === 0) continue;
      // Through the index, and only as far as needed: an apply costs its group, not the store.
      const stored = this.byGroup.get(group) ?? new Set<string>();
      const applied = new Map(mine.map((m) => [keyOf(m.object), m]));
      if ([...applied.keys(), ...stored].some((k) => k.startsWith("Quota/"))) {
        const before = [...stored].flatMap((k) => this.db.data.objects[k] ?? []);
        const after = [...before.filter((o) => !applied.has(keyOf(o))), ...mine.map((m) => m.object)];
        for (const { object, message } of admissionErrors(before, after)) {
          errors.push(new ValidationError((object && applied.get(keyOf(object))?.source) ?? (mine[0] as LoadedManifest).source, "", message));
        }
      }
      for (const { object, source } of mine) {
        if (object.kind !== "App" && object.kind !== "Service") continue;
        const otherKind = object.kind === "App" ? "Service" : "App";
        const otherKey = objectKey(otherKind, group, object.metadata.name);
        // Both in this apply: said once, at the app.
        if (stored.has(otherKey) || (applied.has(otherKey) && object.kind === "App")) {
          errors.push(new ValidationError(source, "metadata.name", `an ${otherKind.toLowerCase()} and a ${object.kind.toLowerCase()} of group ${group} are both named "${object.metadata.name}"; they share one network name`));
        }
      }
    }
    return errors;
  }

  /** What an apply would change, without writing anything. */
  preview(manifests: readonly LoadedManifest[]): Change[] {
    return manifests.map(({ object }) => {
      const existing = this.db.data.objects[keyOf(object)];
      const action: ChangeAction = !existing ? "created" : this.differs(existing, object) ? "configured" : "unchanged";
      return { key: keyOf(object), display: displayName(object), action, object: existing ? { ...existing, spec: object.spec } as Resource : object };
    });
  }

  /** Admits then writes every manifest in one durable write: all of them or none. */
  async apply(manifests: readonly LoadedManifest[]): Promise<Change[]> {
    this.admit(manifests);
    const ordered = [...manifests].sort((a, b) => KIND_ORDER[a.object.kind] - KIND_ORDER[b.object.kind]);
    const changes: Change[] = [];
    const emitted: StoreEvent[] = [];
    for (const { object } of ordered) {
      const key = keyOf(object);
      const existing = this.db.data.objects[key];
      const now = new Date().toISOString();
      if (!existing) {
        const created = {
          ...object,
          metadata: {
            ...object.metadata,
            uid: randomUUID(),
            generation: 1,
            resourceVersion: this.nextResourceVersion(),
            creationTimestamp: now,
            finalizers: [FINALIZER],
          },
          status: {},
        } as Resource;
        this.db.data.objects[key] = created;
        this.index(key, created);
        this.touchGroup(created);
        if (created.kind === "Service") this.setSecrets(created, { password: randomBytes(24).toString("base64url") });
        this.pushEvent(created, { type: "Normal", reason: "Created", message: "created by apply" });
        changes.push({ key, display: displayName(created), action: "created", object: structuredClone(created) });
        emitted.push({ type: "added", key, object: created });
        continue;
      }
      if (!this.differs(existing, object)) {
        changes.push({ key, display: displayName(existing), action: "unchanged", object: structuredClone(existing) });
        continue;
      }
      const specChanged = !isDeepStrictEqual(existing.spec, object.spec);
      const updated = {
        ...existing,
        spec: object.spec,
        metadata: {
          ...existing.metadata,
          labels: object.metadata.labels,
          annotations: object.metadata.annotations,
          generation: (existing.metadata.generation ?? 0) + (specChanged ? 1 : 0),
          resourceVersion: this.nextResourceVersion(),
        },
      } as Resource;
      dropUndefined(updated.metadata);
      this.db.data.objects[key] = updated;
      this.touchGroup(updated);
      if (specChanged) this.pushEvent(updated, { type: "Normal", reason: "Configured", message: `spec changed (generation ${updated.metadata.generation})` });
      changes.push({ key, display: displayName(updated), action: "configured", object: structuredClone(updated) });
      emitted.push({ type: specChanged ? "spec" : "metadata", key, object: updated });
    }
    if (emitted.length > 0) await this.persist();
    await this.outbox.sendAll(emitted);
    return changes;
  }

  /**
   * Writes status as a controller saw it at `generation`. No write (and no resourceVersion bump)
   * when nothing changed, so an idle loop does not rewrite the file.
   */
  async updateStatus<S extends BaseStatus>(key: string, update: (status: S) => S): Promise<Resource | undefined> {
    const obj = this.db.data.objects[key];
    if (!obj) return undefined;
    const before = (obj.status ?? {}) as S;
    const after = update(structuredClone(before));
    if (isDeepStrictEqual(before, after)) return structuredClone(obj);
    (obj as { status?: BaseStatus }).status = after;
    obj.metadata.resourceVersion = this.nextResourceVersion();
    this.persistSoon();
    this.emit({ type: "status", key, object: obj });
    return structuredClone(obj);
  }

  async recordEvent(key: string, event: Omit<StoredEvent, "time">): Promise<void> {
    const obj = this.db.data.objects[key];
    if (!obj) return;
    const list = this.db.data.events[obj.metadata.uid ?? ""] ?? [];
    const last = list[list.length - 1];
    // A repeating failure is one event, not a flood.
    if (last && last.reason === event.reason && last.message === event.message) return;
    this.pushEvent(obj, event);
    this.persistSoon();
  }

  /** Marks an object for deletion; the finalizer holds it until its infrastructure is gone. */
  async markDeleted(key: string): Promise<Change> {
    const { change, event } = this.markInMemory(key);
    // Announced even when the write fails: the change is made in memory (and goes to disk with
    // the next write), so the controllers must act on it.
    try {
      await this.persist();
    } finally {
      this.emit(event);
    }
    return change;
  }

  /**
   * Marks objects for deletion, a group's objects before the group so that its deletion is not
   * held by what the same call deletes; with cascade, everything in a deleted group too.
   */
  async markDeletedAll(keys: readonly string[], options: { cascade?: boolean } = {}): Promise<Change[]> {
    const groups = keys.map(parseKey).filter((ref) => ref.kind === "Group").map((ref) => ref.name);
    const owned = options.cascade ? groups.flatMap((g) => [...(this.byGroup.get(g) ?? [])]) : [];
    const isGroup = (key: string): number => (parseKey(key).kind === "Group" ? 1 : 0);
    const ordered = [...new Set([...owned, ...keys])].sort((a, b) => isGroup(a) - isGroup(b));
    // All or nothing, in one durable write: a cascade of 20,000 objects is one rewrite of the
    // file, not one each; the events follow the write, as markDeleted's do.
    this.assertExists(ordered);
    const marked = ordered.map((key) => this.markInMemory(key));
    try {
      if (marked.length > 0) await this.persist();
    } finally {
      await this.outbox.sendAll(marked.map(({ event }) => event));
    }
    return marked.map(({ change }) => change);
  }

  private assertExists(keys: readonly string[]): void {
    const missing = keys.find((key) => !this.db.data.objects[key]);
    if (missing !== undefined) throw notFound(missing);
  }

  /** Marks one object for deletion in memory (removed at once if nothing holds it); the caller persists, then emits. */
  private markInMemory(key: string): { change: Change; event: StoreEvent } {
    const obj = this.db.data.objects[key];
    if (!obj) throw notFound(key);
    if (!obj.metadata.deletionTimestamp) {
      obj.metadata.deletionTimestamp = new Date().toISOString();
      obj.metadata.resourceVersion = this.nextResourceVersion();
      this.touchGroup(obj);
      this.pushEvent(obj, { type: "Normal", reason: "Deleting", message: "deletion requested" });
    }
    const removed = (obj.metadata.finalizers ?? []).length === 0;
    if (removed) {
      this.unindex(key, obj);
      delete this.db.data.objects[key];
    }
    const change: Change = { key, display: displayName(obj), action: "deleted", object: structuredClone(obj) };
    return { change, event: { type: removed ? "removed" : "deleting", key, object: obj } };
  }

  /**
   * Drops a finalizer; an object marked for deletion with none left is removed. Written lazily,
   * like status: if the process dies first, the object comes back still marked for deletion and
   * its controller, finding nothing left to remove, drops the finalizer again. Waiting for a
   * durable write per object made the teardown of a large group take one file rewrite each.
   */
  async removeFinalizer(key: string, finalizer: string): Promise<void> {
    const obj = this.db.data.objects[key];
    if (!obj) return;
    const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    obj.metadata.finalizers = finalizers;
    obj.metadata.resourceVersion = this.nextResourceVersion();
    if (finalizers.length === 0 && obj.metadata.deletionTimestamp) {
      this.unindex(key, obj);
      delete this.db.data.objects[key];
      delete this.db.data.events[obj.metadata.uid ?? ""];
      delete this.db.data.secrets?.[obj.metadata.uid ?? ""];
      this.persistSoon();
      this.emit({ type: "removed", key, object: obj });
      return;
    }
    this.persistSoon();
    this.emit({ type: "metadata", key, object: obj });
  }

  /** Re-reads the file (for readers following a writer in another process). */
  async reload(): Promise<void> {
    await this.db.read();
    this.groupSerials.clear();
    this.loadSerial = ++this.serial;
    this.byGroup.clear();
    for (const [key, obj] of Object.entries(this.db.data.objects)) this.index(key, obj);
  }

  async close(): Promise<void> {
    await this.flush();
    this.lock?.release();
  }

  /** Waits until every mutation so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing || this.scheduled) await (this.scheduled ? this.scheduleWrite(0) : this.writing)?.catch(() => undefined);
    const failed = this.lastWriteError;
    this.lastWriteError = undefined;
    if (failed) throw failed;
  }

  private differs(existing: Resource, incoming: Resource): boolean {
    return (
      !isDeepStrictEqual(existing.spec, incoming.spec) ||
      !isDeepStrictEqual(existing.metadata.labels, incoming.metadata.labels) ||
      !isDeepStrictEqual(existing.metadata.annotations, incoming.metadata.annotations)
    );
  }

  private nextResourceVersion(): string {
    this.db.data.lastResourceVersion += 1;
    return String(this.db.data.lastResourceVersion);
  }

  private pushEvent(obj: Resource, event: Omit<StoredEvent, "time">): void {
    const uid = obj.metadata.uid ?? "";
    const list = this.db.data.events[uid] ?? [];
    list.push({ time: new Date().toISOString(), ...event });
    this.db.data.events[uid] = list.slice(-MAX_EVENTS_PER_OBJECT);
  }

  private emit(event: StoreEvent): void {
    this.outbox.send(event);
  }

  /**
   * Status and events are observed state: a lost one is observed again by the next reconcile,
   * so controllers do not wait for the disk. Their write waits a multiple of what the last write
   * took, so that rewriting the file takes a bounded share of the time however large it grows
   * (at 5,000 objects a write-after-5-ms policy spent the whole pass rewriting 6 MB). A spec
   * write that comes meanwhile brings the write forward. close() and flush() wait for it.
   */
  private persistSoon(): void {
    const delay = Math.max(this.groupCommitMs, Math.min(LAZY_WRITE_MAX_MS, this.lastWriteMs * LAZY_WRITE_FACTOR));
    this.scheduleWrite(delay).catch((err: unknown) => {
      this.lastWriteError = err;
    });
  }

  /**
   * Group commit: a mutation schedules a durable write a few milliseconds out, and every mutation
   * until it starts shares it; mutations during a write share the next one. Each caller's promise
   * resolves once a write that includes its change is on disk. Specs, deletions and finalizers
   * are awaited this way.
   */
  private persist(): Promise<void> {
    return this.scheduleWrite(this.groupCommitMs);
  }

  private scheduleWrite(delayMs: number): Promise<void> {
    const at = Date.now() + delayMs;
    const next = this.scheduled;
    if (next) {
      if (at < next.at) {
        clearTimeout(next.timer);
        next.at = at;
        next.timer = setTimeout(() => void this.runWrite(), delayMs);
      }
      return next.done;
    }
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.scheduled = { at, timer: setTimeout(() => void this.runWrite(), delayMs), done, resolve, reject };
    return done;
  }

  private async runWrite(): Promise<void> {
    const batch = this.scheduled;
    if (!batch) return;
    this.scheduled = undefined;
    // One write at a time: the file's I/O is asynchronous, and the next write's text is taken
    // only once the previous one is on disk, so it holds every change made meanwhile.
    const previous = this.writing;
    const write = (async () => {
      await previous?.catch(() => undefined);
      const started = performance.now();
      try {
        await this.db.write();
      } finally {
        this.lastWriteMs = performance.now() - started;
      }
    })();
    this.writing = write;
    try {
      await write;
      batch.resolve();
    } catch (err) {
      batch.reject(err);
    } finally {
      if (this.writing === write) this.writing = undefined;
    }
  }
}

function notFound(key: string): NotFoundError {
  return new NotFoundError(`${key.replace(/\/\//, "/")} not found`);
}

function dropUndefined(record: object): void {
  for (const [k, v] of Object.entries(record)) if (v === undefined) delete (record as Record<string, unknown>)[k];
}


