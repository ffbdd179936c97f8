import type { Store } from "../store/store.js";

/** A git-ops source or an `apply --prune` set, with the inventory of what it applied. */
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
  /** Changes made outside git to what it applied (`rollout undo`), until its next sync applies. */
  outsideGit?: string[];
}

/** The sources by name, kept in the state file's `sources` map. */
const sources = (store: Store) => store.stateMap<SourceRecord>("sources");

export function getSource(store: Store, name: string): SourceRecord | undefined {
  const source = sources(store).get(name);
  return source ? structuredClone(source) : undefined;
}

export function listSources(store: Store): SourceRecord[] {
  return sources(store)
    .entries()
    .map(([, s]) => structuredClone(s));
}

/** Stores a source durably. */
export async function saveSource(store: Store, source: SourceRecord): Promise<void> {
  await sources(store).set(source.name, structuredClone(source));
}

/** The source whose inventory holds this object, if any. */
export function sourceOf(store: Store, key: string): string | undefined {
  return sources(store)
    .entries()
    .find(([, s]) => s.inventory.includes(key))?.[1].name;
}
