import { randomUUID } from "node:crypto";
import { Low } from "lowdb";
import type { Resource, StoredEvent } from "../resources/types.js";
import type { Clock } from "../util/clock.js";
import { DurableJSONFile } from "./durable-file.js";
import { WriterLock } from "./lock.js";
import { CachedJsonSerializer } from "./serialize.js";
import { WriteScheduler } from "./write-scheduler.js";

/** How long a write waits for more mutations to share it. */
const GROUP_COMMIT_MS = 5;

/**
 * The state file's format. Its top-level keys are read by every version of AirLoft: a key is
 * added, never renamed or reshaped, so that old and new code read each other's files.
 */
export interface StateFile {
  version: 1;
  /** Marks what this state file's controllers created, so two installations never prune each other. */
  instanceId: string;
  lastResourceVersion: number;
  objects: Record<string, Resource>;
  events: Record<string, StoredEvent[]>;
  /**
   * Secret values and generated credentials by object uid, each sealed (src/secrets/cipher.ts):
   * kept with the object, never in its status or output.
   */
  secrets?: Record<string, Record<string, string>>;
  /** The key of the hashes shown for secret values, sealed like them. */
  secretHashKey?: string;
  /** Object keys whose reconciliation is suspended: kept by src/controllers/suspension.ts. */
  suspended?: unknown;
  /** Git-ops sources and `apply --prune` sets: kept by src/gitops/sources.ts. */
  sources?: unknown;
  /** API server accounts (`airloft serve`): kept by src/server/accounts.ts. */
  accounts?: unknown;
  /** Each app's revisions (history, undo, rollout progress): kept by src/releases/revisions.ts. */
  revisions?: unknown;
}

/** The parts of the state file that modules outside the store keep, each its own way. */
export type SectionName = "sources" | "suspended" | "accounts" | "revisions";

/** A part of the state file kept by another module: the store writes it and knows nothing of what it holds. */
export interface StateSection<T> {
  /** The section as stored (undefined until first written): change it only through write(). */
  read(): T | undefined;
  /** Replaces the section; resolves once that is durably on disk. */
  write(value: T): Promise<void>;
}

export interface StateFileOptions {
  /** Take the writer lock; read-only users (get, describe) do not. */
  readonly write: boolean;
  readonly command?: string;
  /** How long a write waits for more mutations to share it; 0 waits one event-loop turn (tests). */
  readonly groupCommitMs?: number;
  /** Where $AIRLOFT_SECRETS_KEY is read (the key of the values sealed in the file); the process's unless given. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The state in memory and in one lowdb JSON file. One process writes at a time (WriterLock);
 * writes are coalesced (WriteScheduler), each durable one resolving once it is on disk. The
 * objects and their events are re-encoded only when they change (CachedJsonSerializer).
 */
export class PersistedState {
  private readonly db: Low<StateFile>;
  private readonly writes: WriteScheduler;

  private constructor(
    readonly path: string,
    private readonly adapter: DurableJSONFile<StateFile>,
    private readonly lock: WriterLock | undefined,
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
    this.writes = new WriteScheduler(() => this.db.write(), clock, options.groupCommitMs ?? GROUP_COMMIT_MS);
  }

  /** Reads the file (taking the writer lock first for a writer); `clock` times the writes. */
  static async open(path: string, options: StateFileOptions, clock: Clock): Promise<PersistedState> {
    const lock = options.write ? new WriterLock(path) : undefined;
    lock?.acquire(options.command ?? "airloft");
    const serializer = new CachedJsonSerializer({
      objects: (obj) => (obj as Resource).metadata.resourceVersion ?? "",
      events: (list) => String((list as StoredEvent[]).length),
    });
    const state = new PersistedState(
      path,
      new DurableJSONFile<StateFile>(path, (data) => serializer.serialize(data)),
      lock,
      options,
      clock,
    );
    try {
      await state.read();
      if (options.write) {
        state.adapter.removeLeftovers();
        await state.persist();
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
    return { writes: this.adapter.writes, bytesWritten: this.adapter.bytesWritten };
  }

  /** `listener` hears each completed write with its duration in milliseconds. */
  observeWrites(listener: ((ms: number) => void) | undefined): void {
    this.writes.onWritten = listener;
  }

  /** Re-reads the file (for readers following a writer in another process). */
  read(): Promise<void> {
    return this.db.read();
  }

  /** Resolves once every change so far is durably on disk. */
  persist(): Promise<void> {
    return this.writes.persist();
  }

  /** Writes soon, for observed state that need not be waited for (see WriteScheduler). */
  persistSoon(): void {
    this.writes.persistSoon();
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    this.lock?.release();
  }

  section<T>(name: SectionName): StateSection<T> {
    return {
      read: () => this.db.data[name] as T | undefined,
      write: (value) => {
        this.db.data[name] = value;
        return this.persist();
      },
    };
  }
}
