import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { Low } from "lowdb";
import type { Resource, StoredEvent } from "../resources/types.js";
import { type Clock, systemClock } from "../util/clock.js";
import { runToEnd } from "../util/steps.js";
import type { ThreadLoad } from "../util/thread-load.js";
import { applyChange, ChangeTracker, mapAtPath, setEntry } from "./change-tracker.js";
import { Compactions } from "./compactions.js";
import { DurableJSONFile } from "./durable-file.js";
import { Journal } from "./journal.js";
import { WriterLock } from "./lock.js";
import { CachedJsonSerializer, type EntryText } from "./serialize.js";
import { WriteScheduler } from "./write-scheduler.js";

/**
 * How long a write waits for more mutations to share it: none. The mutations of one turn of the
 * event loop share its write, and those made while a write runs share the next (one runs at a
 * time); a wait on top only made every durable write later.
 */
const GROUP_COMMIT_MS = 0;
/**
 * The state file is rewritten once the journal outgrows it (or this, for small files): what is
 * written in all stays proportional to what changed.
 */
const MIN_COMPACTION_BYTES = 4 * 2 ** 20;
/** Times a reader reads again when a writer's compaction ran between its two reads. */
const READ_ATTEMPTS = 5;
/** Maps whose entries are lists of items never changed in place: an object's events (store.ts pushEvent). */
const LIST_MAPS: ReadonlySet<string> = new Set(["events"]);

/** How entries of the maps kept entry by entry change: see CachedJsonSerializer and ChangeTracker. */
const ENTRY_VERSIONS = {
  objects: (obj: object) => (obj as Resource).metadata.resourceVersion ?? "",
  events: (list: object) => String((list as StoredEvent[]).length),
  secrets: () => "",
  // Maps other modules keep (StateMap): each entry is replaced, never changed in place.
  revisions: () => "",
  sources: () => "",
  suspended: () => "",
  "accounts.admin": () => "",
  "accounts.group": () => "",
  notifications: () => "",
  autoscale: () => "",
};

/**
 * The state file's format. Its top-level keys are read by every version of AirLoft: a key is
 * added, never renamed or reshaped, so that old and new code read each other's files.
 */
export interface StateFile {
  version: 1;
  /** Marks what this state file's controllers created, so two installations never prune each other. */
  instanceId: string;
  lastResourceVersion: number;
  /** The last journal entry this file holds (src/store/journal.ts): later ones are replayed on it. */
  journalSeq?: number;
  objects: Record<string, Resource>;
  events: Record<string, StoredEvent[]>;
  /**
   * Secret values and generated credentials by object uid, each sealed (src/secrets/cipher.ts):
   * kept with the object, never in its status or output.
   */
  secrets?: Record<string, Record<string, string>>;
  /** The key of the hashes shown for secret values, sealed like them. */
  secretHashKey?: string;
  /** Object keys whose reconciliation is suspended (key -> true): kept by src/controllers/suspension.ts. */
  suspended?: Record<string, unknown>;
  /** Git-ops sources and `apply --prune` sets by name: kept by src/gitops/sources.ts. */
  sources?: Record<string, unknown>;
  /** API server accounts (`airloft serve`), `admin` and `group`, each by name: kept by src/server/accounts.ts. */
  accounts?: Record<string, Record<string, unknown>>;
  /** Each app's revisions (history, undo, rollout progress) by app uid: kept by src/releases/revisions.ts. */
  revisions?: Record<string, unknown>;
  /** Notifications not yet delivered, by delivery id: kept by src/notifications/pending.ts. */
  notifications?: Record<string, unknown>;
  /** Each autoscaled app's recent recommendations by app uid, for its windows: kept by src/autoscale/autoscaler.ts. */
  autoscale?: Record<string, unknown>;
}

/** The parts of the state file that other modules keep entry by entry. */
export type MapName =
  | "revisions"
  | "sources"
  | "suspended"
  | "accounts.admin"
  | "accounts.group"
  | "notifications"
  | "autoscale";

/** A map in the state file kept by another module, entry by entry. */
export interface StateMap<V> {
  get(key: string): V | undefined;
  /** Every entry, as stored: change one only through set(). */
  entries(): Array<[string, V]>;
  /** Every entry's value, in the order first set. */
  values(): V[];
  /** Replaces an entry with a new value (never one changed in place); resolves once it is on disk. */
  set(key: string, value: V): Promise<void>;
  /** The same, written with the next write or soon after, as status is: for what a controller observed. */
  setSoon(key: string, value: V): void;
  delete(key: string): Promise<void>;
  keys(): string[];
}

export interface StateFileOptions {
  /** Take the writer lock; read-only users (get, describe) do not. */
  readonly write: boolean;
  readonly command?: string;
  /** How long a write waits for more mutations to share it (GROUP_COMMIT_MS unless given). */
  readonly groupCommitMs?: number;
  /** Where $AIRLOFT_SECRETS_KEY is read (the key of the values sealed in the file); the process's unless given. */
  readonly env?: NodeJS.ProcessEnv;
  /** A long-running process's thread: a compaction's encoding waits while it is busy (see turnTaker). */
  readonly background?: ThreadLoad;
}

/**
 * The state in memory, in one lowdb JSON file and its journal. One process writes at a time
 * (WriterLock). Writes are coalesced (WriteScheduler); each durable one appends what changed to
 * the journal and resolves once that is on disk. Once the journal outgrows the file, the whole
 * state is written to the file in the background (re-encoding only what changed,
 * CachedJsonSerializer) and the journal's entries before it are dropped.
 */
export class PersistedState {
  private readonly db: Low<StateFile>;
  private readonly writes: WriteScheduler;
  private readonly journal: Journal;
  private readonly stateMaps = new Map<MapName, StateMap<unknown>>();
  private readonly changes = new ChangeTracker(ENTRY_VERSIONS, new Set(["journalSeq"]));
  private seq = 0;
  /** Entries of the tracked maps changed since the last write, by map. */
  private touched = new Map<string, Set<string>>();
  private readonly compactions = new Compactions(
    (position) => this.compact(position),
    () => (this.journalOutgrown() ? this.recorded : undefined),
  );
  /** The journal's position after the last line numbered (this.seq): what a compaction may drop up to. */
  private recorded = 0;
  private eraseRequested = false;
  private fileBytes = 0;
  private appends = 0;

  private constructor(
    readonly path: string,
    private readonly adapter: DurableJSONFile<StateFile>,
    private readonly lock: WriterLock | undefined,
    private readonly serializer: CachedJsonSerializer,
    options: StateFileOptions,
    clock: Clock,
  ) {
    this.db = new Low(adapter, {
      version: 1,
      instanceId: randomUUID(),
      lastResourceVersion: 0,
      objects: {},
      events: {},
    });
    this.journal = Journal.of(path);
    this.writes = new WriteScheduler(() => this.record(), clock, options.groupCommitMs ?? GROUP_COMMIT_MS);
    // A change made in place while a compaction encoded (a cascade's marks) may be half in its
    // file: the file replaces the old one only once the journal holds that change whole.
    adapter.beforeReplace = () => this.persist();
  }

  /** Reads the file and its journal (taking the writer lock first for a writer); `clock` times the writes. */
  static async open(path: string, options: StateFileOptions, clock: Clock): Promise<PersistedState> {
    const lock = options.write ? new WriterLock(path) : undefined;
    lock?.acquire(options.command ?? "airloft");
    const serializer = new CachedJsonSerializer(ENTRY_VERSIONS, LIST_MAPS);
    const state = new PersistedState(
      path,
      new DurableJSONFile<StateFile>(path, (data) => serializer.serializeSteps(data), options.background),
      lock,
      serializer,
      options,
      clock,
    );
    try {
      await state.read();
      if (options.write) {
        state.adapter.removeLeftovers();
        // A writer starts from one whole file and an empty journal.
        await state.compact(state.journal.position);
      }
    } catch (err) {
      lock?.release();
      throw err;
    }
    return state;
  }

  /** The state as last read, with every change made since: changed in place, then persisted. */
  get data(): StateFile {
    return this.db.data;
  }

  get stats(): { writes: number; bytesWritten: number } {
    return {
      writes: this.adapter.writes + this.appends,
      bytesWritten: this.adapter.bytesWritten + this.journal.bytesWritten,
    };
  }

  /** `listener` hears each completed write with its duration in milliseconds. */
  observeWrites(listener: ((ms: number) => void) | undefined): void {
    this.writes.onWritten = listener;
  }

  /**
   * Re-reads the file and replays the journal's later entries on it (for readers following a
   * writer in another process too). A writer's compaction between the two reads leaves a gap in
   * the entries: then both are read again.
   */
  async read(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.db.read();
      const fromSeq = this.db.data.journalSeq ?? 0;
      // No file: a journal left beside a removed state file is not replayed on an empty state.
      const entries = existsSync(this.path) ? this.journal.read().filter((e) => e.seq > fromSeq) : [];
      if (entries.every((e, i) => e.seq === fromSeq + i + 1)) {
        for (const entry of entries) applyChange(this.db.data as unknown as Record<string, unknown>, entry);
        this.seq = entries.at(-1)?.seq ?? fromSeq;
        this.changes.reset(this.db.data);
        return;
      }
      if (attempt === READ_ATTEMPTS)
        throw new Error(`${this.journal.path} does not follow ${this.path} (journal entries are missing)`);
    }
  }

  /**
   * Resolves once every change so far is durably on disk: at once when none is waiting, so that a
   * writer's open (whose compaction asks for this before it replaces the file) waits for no write.
   */
  persist(): Promise<void> {
    if (!this.pending()) return Promise.resolve();
    return this.writes.persist();
  }

  /** Whether a change may not be on disk yet: an entry touched, a write on its way, or a top-level value changed. */
  private pending(): boolean {
    return this.touched.size > 0 || this.writes.busy || this.changes.topChanged(this.db.data);
  }

  /** Writes soon, for observed state that need not be waited for (see WriteScheduler). */
  persistSoon(): void {
    this.writes.persistSoon();
  }

  /** Waits until every change so far is on disk; throws a failed background write. */
  async flush(): Promise<void> {
    await this.writes.flush();
    await this.compactions.settle();
  }

  /**
   * Writes the whole state to the file now and empties the journal: nothing removed from the
   * state (a value in clear, one sealed under a retired key) stays on disk.
   */
  async rewrite(): Promise<void> {
    await this.flush();
    // Behind any compaction running: two writes of the file at once would share its temp file.
    this.compactions.request(this.journal.position);
    await this.compactions.settle();
  }

  /** The next write rewrites the file too: for values that must leave the disk soon, not at the next compaction. */
  eraseSoon(): void {
    this.eraseRequested = true;
  }

  /** Writes the whole state to the file and empties the journal, so that the file alone is complete. */
  async close(): Promise<void> {
    try {
      if (this.lock) await this.rewrite();
      else await this.flush();
      await this.journal.close();
    } finally {
      this.lock?.release();
    }
  }

  /** A part of the state kept entry by entry, so that a write journals the entries it changed. */
  stateMap<V>(name: MapName): StateMap<V> {
    // One per name: a watch checks its account on every event, and a new set of closures each time cost a third of the server's time under load.
    const made = this.stateMaps.get(name) ?? this.makeStateMap(name);
    this.stateMaps.set(name, made);
    return made as StateMap<V>;
  }

  private makeStateMap<V>(name: MapName): StateMap<V> {
    const path = name.split(".");
    const entries = () =>
      mapAtPath(this.db.data as unknown as Record<string, unknown>, path, true) as Record<string, V>;
    entries(); // made now: an empty map is kept as one, not left out
    const put = (key: string, value: V): void => {
      setEntry(entries(), key, value);
      this.touch(name, key);
      this.changes.forget(name, key);
      if (value !== null && typeof value === "object") this.serializer.remember(name, key, value);
    };
    return {
      get: (key) => {
        const map = entries();
        return Object.hasOwn(map, key) ? map[key] : undefined;
      },
      entries: () => Object.entries(entries()),
      values: () => Object.values(entries()),
      set: (key, value) => {
        put(key, value);
        return this.persist();
      },
      setSoon: (key, value) => {
        put(key, value);
        this.persistSoon();
      },
      delete: (key) => {
        delete entries()[key];
        this.touch(name, key);
        return this.persist();
      },
      keys: () => Object.keys(entries()),
    };
  }

  /** The next resourceVersion, for the object under `key`: every change of an object takes one, and is journaled by it. */
  nextResourceVersion(key: string): string {
    this.touch("objects", key);
    this.db.data.lastResourceVersion += 1;
    return String(this.db.data.lastResourceVersion);
  }

  /** Encodes a changed entry now, on its writer's turn (see CachedJsonSerializer.remember). */
  remember(map: keyof typeof ENTRY_VERSIONS, key: string, value: object, text?: EntryText): void {
    this.serializer.remember(map, key, value, text);
  }

  /** A changed entry's text, made now and kept nowhere: remember it with the value once stored. */
  encoded(map: keyof typeof ENTRY_VERSIONS, key: string, value: object): EntryText {
    return this.serializer.encoded(map, key, value);
  }

  /** Marks an entry of objects, events or secrets as changed: the next write compares only those. */
  touch(map: keyof typeof ENTRY_VERSIONS, key: string): void {
    let keys = this.touched.get(map);
    if (!keys) this.touched.set(map, (keys = new Set()));
    keys.add(key);
  }

  /** One durable write: what changed since the last one, appended to the journal. */
  private async record(): Promise<void> {
    const touched = this.touched;
    this.touched = new Map();
    const change = this.changes.diff(this.db.data, touched);
    if (!change) return;
    let position: number;
    try {
      // Numbered once written: a failed append leaves no gap in the journal's numbers.
      // At once, with the diff: objects changed in place between turns (a status, a cascade's
      // marks) would put half a batch, or a version past the line's own lastResourceVersion, in
      // it. What costs is encoded already, on its writer's turn (serializer.remember).
      const line = runToEnd(this.serializer.lineSteps({ ...change, seq: this.seq + 1 }));
      position = await this.journal.append(line);
    } catch (err) {
      this.changes.unsee(change, this.touched); // written by the next write instead
      throw err;
    }
    this.seq++;
    this.appends++;
    this.recorded = position;
    if (this.eraseRequested) {
      // Even while one runs: it may have encoded the value to erase already.
      this.eraseRequested = false;
      this.compactions.request(position);
    } else if (this.journalOutgrown()) this.compactions.requestIfIdle(position);
  }

  /** Whether the journal has grown past the file (and a floor): replaying it would cost more than a rewrite. */
  private journalOutgrown(): boolean {
    return this.journal.size > Math.max(MIN_COMPACTION_BYTES, this.fileBytes);
  }

  /**
   * Writes the state as it is now, which holds every journal entry so far (and perhaps changes
   * not in one yet: replaying those again gives the same state), then drops the journal's
   * entries before `position`, those up to this.seq.
   */
  private async compact(position: number): Promise<void> {
    this.db.data.journalSeq = this.seq;
    const before = this.adapter.bytesWritten;
    await this.db.write();
    this.fileBytes = this.adapter.bytesWritten - before;
    await this.journal.dropBefore(position);
  }
}

/** The state as a reader sees it: the file, with the journal's later entries replayed on it. */
export async function readStateFile(path: string): Promise<StateFile> {
  const state = await PersistedState.open(path, { write: false }, systemClock);
  return state.data;
}

/** The files a change to the state lands in: the state file and its journal. */
export function stateFiles(path: string): readonly string[] {
  return [path, Journal.of(path).path];
}
