/**
 * What changed in the state since the last record: the journal's unit. The maps named in
 * `tracked` (objects, events, secrets, and maps other modules keep) are compared entry by entry,
 * by identity and version, as the serializer does: the store replaces an entry or bumps its
 * version on every change. A tracked name is a top-level key, or a key inside one
 * ("accounts.group"): the file keeps its shape. Every other top-level key is compared by its JSON
 * text.
 */
export type VersionOf = (value: object) => string;

export interface ChangeRecord {
  /** Entries of tracked maps set to a value. */
  set?: Record<string, Record<string, unknown>>;
  /** Entries of tracked maps removed. */
  del?: Record<string, string[]>;
  /** Other top-level keys, whole (null when removed). */
  top?: Record<string, unknown>;
}

interface Seen {
  readonly value: unknown;
  readonly version: string;
}

export class ChangeTracker {
  private readonly maps = new Map<string, Map<string, Seen>>();
  private readonly texts = new Map<string, string>();
  /** Top-level keys that hold tracked maps: never compared as text. */
  private readonly holders: ReadonlySet<string>;

  constructor(
    private readonly tracked: Readonly<Record<string, VersionOf>>,
    /** Top-level keys that are not state (the journal's own bookkeeping). */
    private readonly ignored: ReadonlySet<string> = new Set(),
  ) {
    this.holders = new Set(Object.keys(tracked).map((name) => name.split(".")[0] ?? name));
  }

  /** Takes `data` as the state already recorded: the next diff is relative to it. */
  reset(data: object): void {
    this.maps.clear();
    this.texts.clear();
    this.diff(data);
  }

  /**
   * What changed since the last call (or reset), or undefined if nothing did; remembers `data`.
   * With `touched`, only those entries of the tracked maps are compared (a write's cost is then
   * its change, not the state's size); without, every entry is.
   */
  diff(data: object, touched?: ReadonlyMap<string, ReadonlySet<string>>): ChangeRecord | undefined {
    const record: ChangeRecord = {};
    const state = data as Record<string, unknown>;
    for (const [name, versionOf] of Object.entries(this.tracked)) {
      const map = mapAt(state, name) ?? {};
      const keys = touched?.get(name);
      if (!touched) this.diffMap(name, map, versionOf, record);
      else if (keys) for (const entry of keys) this.diffEntry(name, map, entry, versionOf, record);
    }
    for (const [key, text] of this.changedTop(state)) {
      if (text === "") this.texts.delete(key);
      else this.texts.set(key, text);
      record.top ??= {};
      record.top[key] = state[key] ?? null;
    }
    return record.set || record.del || record.top ? record : undefined;
  }

  /**
   * Whether a top-level key other than the tracked maps changed since the last diff, without
   * remembering it: a few small values (the tracked maps' entries are known by what was touched).
   */
  topChanged(data: object): boolean {
    return this.changedTop(data as Record<string, unknown>).length > 0;
  }

  /** The top-level keys whose text differs from the last diff's, each with its text now ("" when removed). */
  private changedTop(state: Record<string, unknown>): Array<[string, string]> {
    const changed: Array<[string, string]> = [];
    for (const key of new Set([...Object.keys(state), ...this.texts.keys()])) {
      if (this.ignored.has(key) || this.holders.has(key)) continue;
      const value = state[key];
      const text = value === undefined ? "" : JSON.stringify(value);
      if (this.texts.get(key) !== text) changed.push([key, text]);
    }
    return changed;
  }

  /** Forgets what a record held, after its write failed: the next diff finds it again. */
  unsee(record: ChangeRecord, touched: Map<string, Set<string>>): void {
    for (const [name, entries] of Object.entries(record.set ?? {}))
      for (const key of Object.keys(entries)) this.forgetEntry(name, key, touched);
    for (const [name, keys] of Object.entries(record.del ?? {}))
      for (const key of keys) this.forgetEntry(name, key, touched);
    for (const key of Object.keys(record.top ?? {})) this.texts.set(key, "\0unwritten");
  }

  /** An entry set again (perhaps the value it had, changed in place): the next diff writes it, whatever it saw. */
  forget(name: string, key: string): void {
    // Seen as a value nothing equals, so that a removal is found again too.
    this.maps.get(name)?.set(key, { value: Symbol("unwritten"), version: "" });
  }

  private forgetEntry(name: string, key: string, touched: Map<string, Set<string>>): void {
    this.forget(name, key);
    let keys = touched.get(name);
    if (!keys) touched.set(name, (keys = new Set()));
    keys.add(key);
  }

  private diffEntry(
    name: string,
    map: Record<string, unknown>,
    key: string,
    versionOf: VersionOf,
    record: ChangeRecord,
  ): void {
    const seen = this.seenOf(name);
    const value = Object.hasOwn(map, key) ? map[key] : undefined;
    if (value === undefined) {
      if (!seen.delete(key)) return;
      record.del ??= {};
      record.del[name] ??= [];
      record.del[name].push(key);
      return;
    }
    const version = value !== null && typeof value === "object" ? versionOf(value) : JSON.stringify(value);
    const before = seen.get(key);
    if (before?.value === value && before.version === version) return;
    seen.set(key, { value, version });
    record.set ??= {};
    record.set[name] ??= {};
    record.set[name][key] = value;
  }

  private seenOf(name: string): Map<string, Seen> {
    let seen = this.maps.get(name);
    if (!seen) {
      seen = new Map();
      this.maps.set(name, seen);
    }
    return seen;
  }

  private diffMap(name: string, map: Record<string, unknown>, versionOf: VersionOf, record: ChangeRecord): void {
    const seen = this.seenOf(name);
    let present = 0;
    // for...in: no array of pairs per write at 20,000 objects.
    for (const key in map) {
      const value = map[key];
      if (value === undefined) continue;
      present++;
      const version = value !== null && typeof value === "object" ? versionOf(value) : JSON.stringify(value);
      const before = seen.get(key);
      if (before?.value === value && before.version === version) continue;
      seen.set(key, { value, version });
      record.set ??= {};
      record.set[name] ??= {};
      record.set[name][key] = value;
    }
    if (present === seen.size) return;
    for (const key of seen.keys()) {
      if (map[key] !== undefined) continue;
      seen.delete(key);
      record.del ??= {};
      record.del[name] ??= [];
      record.del[name].push(key);
    }
  }
}

/** The map under a tracked name ("revisions", "accounts.group"), made with `create` if missing. */
export function mapAt(
  data: Record<string, unknown>,
  name: string,
  create = false,
): Record<string, unknown> | undefined {
  return mapAtPath(data, name.split("."), create);
}

/** mapAt with the name split already: a StateMap's every read goes through it (a watch's per event). */
export function mapAtPath(
  data: Record<string, unknown>,
  path: readonly string[],
  create = false,
): Record<string, unknown> | undefined {
  let map = data;
  for (const part of path) {
    const next = Object.hasOwn(map, part) ? map[part] : undefined;
    if (next !== null && typeof next === "object") map = next as Record<string, unknown>;
    else if (create && part !== "__proto__") map = map[part] = {};
    else return undefined;
  }
  return map;
}

/** Sets an entry as an own property: a key such as "__proto__" is an entry like any other, never the prototype. */
export function setEntry(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Applies a record to `data` (idempotent: replaying a record twice gives the same state). */
export function applyChange(data: Record<string, unknown>, record: ChangeRecord): void {
  for (const [name, entries] of Object.entries(record.set ?? {})) {
    const map = mapAt(data, name, true);
    for (const [key, value] of Object.entries(entries)) if (map) setEntry(map, key, value);
  }
  for (const [name, keys] of Object.entries(record.del ?? {})) {
    const map = mapAt(data, name);
    for (const key of keys) if (map) delete map[key];
  }
  for (const [key, value] of Object.entries(record.top ?? {})) {
    if (value === null) delete data[key];
    else data[key] = value;
  }
}
