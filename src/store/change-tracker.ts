/**
 * What changed in the state since the last record: the journal's unit. The maps named in
 * `tracked` (objects, events, secrets) are compared entry by entry, by identity and version, as
 * the serializer does: the store replaces an entry or bumps its version on every change. Every
 * other top-level key is compared by its JSON text, since modules may change their section in
 * place.
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

  constructor(
    private readonly tracked: Readonly<Record<string, VersionOf>>,
    /** Top-level keys that are not state (the journal's own bookkeeping). */
    private readonly ignored: ReadonlySet<string> = new Set(),
  ) {}

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
    for (const key of new Set([...Object.keys(state), ...this.texts.keys()])) {
      if (this.ignored.has(key)) continue;
      const value = state[key];
      const versionOf = this.tracked[key];
      if (versionOf && value !== null && typeof value === "object") {
        const map = value as Record<string, unknown>;
        const keys = touched?.get(key);
        if (!touched) this.diffMap(key, map, versionOf, record);
        else if (keys) for (const entry of keys) this.diffEntry(key, map, entry, versionOf, record);
        continue;
      }
      const text = value === undefined ? "" : JSON.stringify(value);
      if (this.texts.get(key) === text) continue;
      if (text === "") this.texts.delete(key);
      else this.texts.set(key, text);
      record.top ??= {};
      record.top[key] = value ?? null;
    }
    return record.set || record.del || record.top ? record : undefined;
  }

  /** Forgets what a record held, after its write failed: the next diff finds it again. */
  unsee(record: ChangeRecord, touched: Map<string, Set<string>>): void {
    for (const [name, entries] of Object.entries(record.set ?? {}))
      for (const key of Object.keys(entries)) this.forgetEntry(name, key, touched);
    for (const [name, keys] of Object.entries(record.del ?? {}))
      for (const key of keys) this.forgetEntry(name, key, touched);
    for (const key of Object.keys(record.top ?? {})) this.texts.set(key, "\0unwritten");
  }

  private forgetEntry(name: string, key: string, touched: Map<string, Set<string>>): void {
    // Seen as a value nothing equals, so that a removal is found again too.
    this.maps.get(name)?.set(key, { value: Symbol("unwritten"), version: "" });
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

/** Applies a record to `data` (idempotent: replaying a record twice gives the same state). */
export function applyChange(data: Record<string, unknown>, record: ChangeRecord): void {
  for (const [name, entries] of Object.entries(record.set ?? {})) {
    const map = (data[name] ??= {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(entries)) if (key !== "__proto__") map[key] = value;
  }
  for (const [name, keys] of Object.entries(record.del ?? {})) {
    const map = data[name] as Record<string, unknown> | undefined;
    for (const key of keys) if (map) delete map[key];
  }
  for (const [key, value] of Object.entries(record.top ?? {})) {
    if (value === null) delete data[key];
    else data[key] = value;
  }
}
