/**
 * The state file as JSON, re-encoding only what changed since the last write. At 20,000 objects
 * a JSON.stringify of the whole state took 100 to 200 ms of the event loop per write, and so did
 * assembling one 13 MB string from cached parts: every write stalled every tenant's request.
 *
 * Each entry of a cached map is kept as its UTF-8 bytes (`"key":{...}`), and runs of entries as
 * blocks of those bytes: a write checks each entry against its block and hands the bytes to the
 * file system as they are (a gathered write), re-encoding only the blocks that hold a change.
 *
 * An entry is unchanged while it is the same value (identity) under the same key at the same
 * version: the store replaces an object on a spec change and bumps its resourceVersion on every
 * change in place, and replaces an object's event list on every event.
 */
import { randomBytes } from "node:crypto";
import { runToEnd, type Steps } from "../util/steps.js";
import { encodeListEntry } from "./list-entry.js";

export type VersionOf = (value: object) => string;

const OPEN = Buffer.from("{");
const CLOSE = Buffer.from("}");
const COMMA = Buffer.from(",");
/**
 * An object's entry text made before its resourceVersion is known (apply-plan.ts): the text
 * around a placeholder no tenant can guess, which the version replaces at commit.
 */
export class VersionHole {
  private readonly token = `\u0001${randomBytes(12).toString("hex")}`;

  /** The placeholder to store as the version while the text is made. */
  get placeholder(): string {
    return this.token;
  }

  /** `"key":JSON` of `value`, whose version field holds the placeholder, as the text before and after it. */
  split(key: string, value: object): { readonly before: string; readonly after: string } | undefined {
    const text = `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    const hole = JSON.stringify(this.token);
    const at = text.indexOf(hole);
    if (at < 0 || text.indexOf(hole, at + 1) >= 0) return undefined;
    return { before: text.slice(0, at + 1), after: text.slice(at + hole.length - 1) };
  }
}

/** Entries per block: small enough that a change re-encodes little, large enough that a write hands over few pieces. */
const BLOCK_SIZE = 256;
const PRUNE_STEP = 4096;

interface Entry {
  readonly key: string;
  readonly value: unknown;
  readonly version: string;
}

interface Block {
  readonly entries: readonly Entry[];
  /** The entries' own bytes (those the entry cache holds) and commas, not a copy: a copy of every block was a second copy of the whole state in memory. */
  readonly bytes: readonly Buffer[];
}

/** An entry's text: `"key":JSON`. */
export interface EntryText {
  readonly bytes: Buffer;
  /** Where each item ends in `bytes`, for a list map's entry (list-entry.ts). */
  readonly itemEnds?: readonly number[];
}

interface CachedEntry extends EntryText {
  readonly value: object;
  readonly version: string;
}

export class CachedJsonSerializer {
  /**
   * Each cached top-level map's entries as last encoded, by key: one per key, replaced when its
   * value or version changes. A WeakMap keyed by value held every dead version until a full
   * collection and its set took up to 216 ms of one bulk apply under the abuse benchmark; keys
   * removed from a map are dropped when the map is next serialized (a compaction).
   */
  private readonly entryBytes = new Map<string, Map<string, CachedEntry>>();
  private readonly blocks = new Map<string, Block[]>();
  /** Keys remembered since each map was last serialized: their blocks are made again (a value set again after a change in place is the same value at the same version). */
  private readonly remembered = new Map<string, Set<string>>();

  /**
   * `cached` names the top-level maps whose entries are cached, with how to read an entry's
   * version; `lists` those of them whose entries are lists of items never changed in place.
   */
  constructor(
    private readonly cached: Readonly<Record<string, VersionOf>>,
    private readonly lists: ReadonlySet<string> = new Set(),
  ) {}

  /** The JSON text of `data`, in pieces to be written one after another. */
  serialize(data: object): Buffer[] {
    return runToEnd(this.serializeSteps(data));
  }

  /**
   * The same, as steps: a pause after each block, so that a compaction of a 20,000-object state
   * after a bulk apply (a second of encoding) does not hold the only thread. Only the maps' keys
   * are taken at once; each block reads its entries' values when it comes. Reading every value and
   * version up front took 50 to 140 ms of the thread at 20,000 objects under the abuse benchmark.
   * So a change made during the pauses (an apply's batch, a status, a cascade's marks) may be
   * partly in the text: the file's writer keeps the old file until the journal holds every change
   * made meanwhile, and the journal's entries after the file's journalSeq, replayed on it, make
   * them whole (an entry added meanwhile is in them too; one removed is left out here).
   */
  *serializeSteps(data: object): Steps<Buffer[]> {
    const parts: Array<Buffer | { name: string; map: Record<string, unknown>; keys: string[]; versionOf: VersionOf }> =
      [OPEN];
    let first = true;
    for (const [key, value] of Object.entries(data)) {
      if (value === undefined) continue;
      if (!first) parts.push(COMMA);
      first = false;
      const versionOf = this.cached[key];
      parts.push(Buffer.from(`${JSON.stringify(key)}:`));
      if (versionOf && value !== null && typeof value === "object")
        parts.push({ name: key, map: value as Record<string, unknown>, keys: Object.keys(value), versionOf });
      else parts.push(Buffer.from(JSON.stringify(value)));
    }
    parts.push(CLOSE);
    const chunks: Buffer[] = [];
    for (const part of parts) {
      if (Buffer.isBuffer(part)) chunks.push(part);
      else yield* this.map(part.name, part.map, part.keys, part.versionOf, chunks);
    }
    return chunks;
  }

  /**
   * A journal line (journal.ts): `record` as JSON and a newline, as steps (a step per entry it
   * sets). Each entry is encoded as in the state file and kept for it: entries remembered by
   * their writers are not encoded again, here or at the next compaction.
   */
  *lineSteps(
    record: Readonly<Record<string, unknown>> & {
      readonly set?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
    },
  ): Steps<Buffer[]> {
    const { set, ...rest } = record;
    const tail = Buffer.from(`${JSON.stringify(rest)}\n`);
    if (!set) return [tail];
    const chunks: Buffer[] = [Buffer.from('{"set":{')];
    let firstMap = true;
    for (const [name, map] of Object.entries(set)) {
      chunks.push(Buffer.from(`${firstMap ? "" : ","}${JSON.stringify(name)}:{`));
      firstMap = false;
      const versionOf = this.cached[name];
      let first = true;
      for (const [key, value] of Object.entries(map)) {
        if (!first) chunks.push(COMMA);
        first = false;
        const version = versionOf && value !== null && typeof value === "object" ? versionOf(value) : "";
        chunks.push(this.entry(name, { key, value, version }));
        yield;
      }
      chunks.push(CLOSE);
    }
    // The rest of the record (its number, removals, top-level values) after the maps.
    chunks.push(Buffer.from(tail.length > 3 ? "}," : "}"), tail.subarray(1));
    return chunks;
  }

  /**
   * Encodes an entry now, on its writer's turn, so that the write that takes it (a journal line
   * every tenant's durable write may wait for, a compaction) finds it done: the cost of a big
   * apply falls on that apply. `text` is the entry's text when the caller has it already.
   */
  remember(map: string, key: string, value: object, text?: EntryText): void {
    const cache = this.cacheOf(map);
    if (!cache) return;
    const version = (this.cached[map] as VersionOf)(value);
    // Made anew even for a value it has: one set again after a change in place is current now.
    cache.set(key, text ? { value, version, ...text } : this.encodeFresh(map, key, value, version, cache.get(key)));
    let keys = this.remembered.get(map);
    if (!keys) this.remembered.set(map, (keys = new Set()));
    keys.add(key);
  }

  /**
   * An entry's text as `remember` would make it, made now and kept nowhere: for a value not stored
   * yet (an apply's plan), which a refused apply must not leave in the cache.
   */
  encoded(map: string, key: string, value: object): EntryText {
    const versionOf = this.cached[map];
    if (!versionOf) return { bytes: encodeEntry(key, value) };
    const { bytes, itemEnds } = this.encodeFresh(map, key, value, versionOf(value), this.entryBytes.get(map)?.get(key));
    return itemEnds ? { bytes, itemEnds } : { bytes };
  }

  private *map(
    name: string,
    map: Record<string, unknown>,
    keys: readonly string[],
    versionOf: VersionOf,
    chunks: Buffer[],
  ): Steps<void> {
    const previous = this.blocks.get(name) ?? [];
    const remembered = this.remembered.get(name);
    this.remembered.delete(name);
    const blocks: Block[] = [];
    for (let from = 0; from < keys.length; from += BLOCK_SIZE) {
      const run = entriesOf(map, keys, from, versionOf);
      if (run.length === 0) continue;
      const old = previous[blocks.length];
      if (old && sameEntries(old.entries, run) && !run.some((e) => remembered?.has(e.key))) blocks.push(old);
      else blocks.push({ entries: run, bytes: this.encode(name, run) });
      yield;
    }
    this.blocks.set(name, blocks);
    yield* this.forgetRemoved(name, map);
    chunks.push(OPEN);
    blocks.forEach((block, i) => {
      if (i > 0) chunks.push(COMMA);
      for (const part of block.bytes) chunks.push(part);
    });
    chunks.push(CLOSE);
  }

  private encode(name: string, entries: readonly Entry[]): Buffer[] {
    const parts: Buffer[] = [];
    for (const entry of entries) {
      if (parts.length > 0) parts.push(COMMA);
      parts.push(this.entry(name, entry));
    }
    return parts;
  }

  private entry(name: string, { key, value, version }: Entry): Buffer {
    const cache = this.cacheOf(name);
    if (!cache || value === null || typeof value !== "object") return encodeEntry(key, value);
    const hit = cache.get(key);
    if (hit?.value === value && hit.version === version) return hit.bytes;
    const fresh = this.encodeFresh(name, key, value, version, hit);
    cache.set(key, fresh);
    return fresh.bytes;
  }

  private encodeFresh(name: string, key: string, value: object, version: string, hit?: CachedEntry): CachedEntry {
    if (!this.lists.has(name) || !Array.isArray(value)) return { value, version, bytes: encodeEntry(key, value) };
    const previous =
      // The same list again may have changed in place: its old ends describe another list.
      hit?.itemEnds && Array.isArray(hit.value) && hit.value !== value
        ? { list: hit.value, entry: { bytes: hit.bytes, itemEnds: hit.itemEnds } }
        : undefined;
    return { value, version, ...encodeListEntry(key, value, previous) };
  }

  /**
   * The entry cache of a top-level map whose entries are cached, made when first needed. A nested
   * map (`accounts.admin`) is written whole with its parent: its entries would never be read
   * from here again, nor pruned.
   */
  private cacheOf(name: string): Map<string, CachedEntry> | undefined {
    if (!this.cached[name] || name.includes(".")) return undefined;
    let cache = this.entryBytes.get(name);
    if (!cache) this.entryBytes.set(name, (cache = new Map()));
    return cache;
  }

  /** Drops cached entries whose keys `map` no longer has: a pause every PRUNE_STEP keys (a look-up each, far cheaper than encoding). */
  private *forgetRemoved(name: string, map: Record<string, unknown>): Steps<void> {
    const cache = this.entryBytes.get(name);
    if (!cache) return;
    let seen = 0;
    for (const key of cache.keys()) {
      if (!Object.hasOwn(map, key)) cache.delete(key);
      if (++seen % PRUNE_STEP === 0) yield;
    }
  }
}

function encodeEntry(key: string, value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
}

/** The entries of `map` under keys[from] to keys[from + BLOCK_SIZE - 1] as they are now: values (by reference) and versions. */
function entriesOf(map: Record<string, unknown>, keys: readonly string[], from: number, versionOf: VersionOf): Entry[] {
  const entries: Entry[] = [];
  for (let i = from; i < Math.min(keys.length, from + BLOCK_SIZE); i++) {
    const key = keys[i] as string;
    // Own entries only: a removed "constructor" would read Object.prototype's.
    const value = Object.hasOwn(map, key) ? map[key] : undefined;
    if (value === undefined) continue; // removed since the keys were taken
    entries.push({ key, value, version: value !== null && typeof value === "object" ? versionOf(value) : "" });
  }
  return entries;
}

function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y || x.key !== y.key || x.value !== y.value || x.version !== y.version) return false;
  }
  return true;
}
