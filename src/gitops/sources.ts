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

/** The sources by name, kept in the state file's `sources` section. */
type SourceMap = Record<string, SourceRecord>;

const section = (store: Store) => store.section<SourceMap>("sources");

export function getSource(store: Store, name: string): SourceRecord | undefined {
  const sources = section(store).read();
  // Own properties only: a source named "constructor" is a name, not Object's constructor.
  const source = sources && Object.hasOwn(sources, name) ? sources[name] : undefined;
  return source ? structuredClone(source) : undefined;
}

export function listSources(store: Store): SourceRecord[] {
  return Object.values(section(store).read() ?? {}).map((s) => structuredClone(s));
}

/** Stores a source durably. */
export async function saveSource(store: Store, source: SourceRecord): Promise<void> {
  const sources = section(store);
  await sources.write({ ...sources.read(), [source.name]: structuredClone(source) });
}

/** The source whose inventory holds this object, if any. */
export function sourceOf(store: Store, key: string): string | undefined {
  return Object.values(section(store).read() ?? {}).find((s) => s.inventory.includes(key))?.name;
}
