import { readFileSync, statSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { errorMessage, ValidationErrors } from "../errors.js";
import { displayName, keyOf } from "../resources/kinds.js";
import { collectFiles, type LoadedManifest, loadFile } from "../resources/loader.js";
import type { Resource } from "../resources/types.js";
import type { Change, Store } from "../store/store.js";
import { gitRevision } from "./git.js";
import { getSource, type SourceRecord, saveSource } from "./sources.js";

/** On an object, opts it out of prune: it stays when its manifest goes. */
export const PRUNE_ANNOTATION = "airloft.dev/prune";

/**
 * What a set's new apply leaves out of its earlier inventory and may be pruned: never what opted
 * out (`airloft.dev/prune: disabled`), never what is already going, never what `mayChange` refuses.
 */
export function prunable(
  store: Store,
  inventory: readonly string[],
  wanted: ReadonlySet<string>,
  mayChange: (obj: Resource) => boolean = () => true,
): string[] {
  return inventory.filter((key) => {
    const obj = wanted.has(key) ? undefined : store.get(key);
    return (
      obj !== undefined &&
      !obj.metadata.deletionTimestamp &&
      obj.metadata.annotations?.[PRUNE_ANNOTATION] !== "disabled" &&
      mayChange(obj)
    );
  });
}

export interface SyncResult {
  readonly changes: readonly Change[];
  readonly pruned: readonly Change[];
  readonly errors: readonly string[];
  readonly source: SourceRecord;
}

interface CachedFile {
  readonly mtimeMs: number;
  readonly size: number;
  readonly manifests: readonly LoadedManifest[];
  readonly errors: readonly string[];
}

/**
 * Applies a source (a folder, or the paths of `apply --prune`) to the store, file by file:
 * a file that does not validate keeps its objects at their last good version and reports its
 * errors, every other file applies. Objects of the source's inventory that no file defines any
 * more are deleted (pruned), unless annotated `airloft.dev/prune: disabled`; an object the source
 * never applied is never pruned. Parsed files are cached by mtime and size, so a save re-reads
 * one file, not the folder.
 */
export class SourceSync {
  private readonly cache = new Map<string, CachedFile>();

  constructor(
    private readonly store: Store,
    readonly name: string,
    private readonly paths: readonly string[],
    private readonly kind: SourceRecord["kind"],
    private readonly options: {
      recursive: boolean;
      cwd?: string;
      isIgnored?: (path: string) => boolean;
      /** Told of each apply's changes and who made them ("source NAME@commit"): app revisions are recorded so. */
      onApplied?: (changes: readonly Change[], by: string) => Promise<void>;
    } = {
      recursive: true,
    },
  ) {}

  async sync(): Promise<SyncResult> {
    const previous = getSource(this.store, this.name) ?? {
      name: this.name,
      paths: this.paths.map((p) => resolve(p)),
      kind: this.kind,
      lastErrors: [],
      inventory: [],
      files: {},
    };
    const base = this.options.cwd ?? (this.kind === "watch" ? resolve(this.paths[0] ?? ".") : process.cwd());
    const errors: string[] = [];
    let files: string[] = [];
    try {
      files = collectFiles(this.paths, { recursive: this.options.recursive }).filter(
        (f) => !this.options.isIgnored?.(resolve(f)),
      );
    } catch (err) {
      errors.push(err instanceof ValidationErrors ? err.errors.map((e) => e.message).join("\n") : errorMessage(err));
    }
    const manifests: LoadedManifest[] = [];
    const fileKeys: Record<string, string[]> = {};
    const seen = new Map<string, string>();
    for (const file of files) {
      const shown = relative(base, resolve(file)) || file;
      const loaded = this.load(file, shown);
      const duplicate = loaded.manifests.find((m) => seen.has(keyOf(m.object)));
      const fileErrors = duplicate
        ? [
            `${shown}: ${displayName(duplicate.object)} is also defined in ${seen.get(keyOf(duplicate.object))}`,
            ...loaded.errors,
          ]
        : loaded.errors;
      if (fileErrors.length > 0) {
        errors.push(...fileErrors);
        // The last good version of this file stays: its objects are neither changed nor pruned.
        fileKeys[shown] = previous.files[shown] ?? [];
        continue;
      }
      for (const m of loaded.manifests) seen.set(keyOf(m.object), shown);
      manifests.push(...loaded.manifests);
      fileKeys[shown] = loaded.manifests.map((m) => keyOf(m.object));
    }

    let changes: Change[] = [];
    let applied = true;
    const revision = this.paths[0] ? gitRevision(resolve(this.paths[0])) : undefined;
    try {
      changes = await this.store.apply(manifests);
      await this.options.onApplied?.(changes, `source ${this.name}${revision ? `@${revision.slice(0, 12)}` : ""}`);
    } catch (err) {
      applied = false;
      errors.push(...(err instanceof ValidationErrors ? err.errors.map((e) => e.message) : [errorMessage(err)]));
    }
    const wanted = new Set(Object.values(fileKeys).flat());
    const pruned: Change[] = [];
    let inventory = previous.inventory;
    if (applied) {
      for (const key of prunable(this.store, previous.inventory, wanted))
        pruned.push(await this.store.markDeleted(key));
      inventory = [...wanted].filter((k) => this.store.get(k));
    }
    const source: SourceRecord = {
      ...previous,
      paths: this.paths.map((p) => resolve(p)),
      kind: this.kind,
      lastSyncTime: new Date().toISOString(),
      lastResult: !applied ? "Failed" : errors.length > 0 ? "Partial" : "Succeeded",
      lastErrors: errors.slice(0, 50),
      inventory,
      files: applied ? fileKeys : previous.files,
    };
    // What was changed outside git is git's again once a sync applied.
    if (applied) delete source.outsideGit;
    if (revision) source.revision = revision;
    else delete source.revision;
    await saveSource(this.store, source);
    return { changes, pruned, errors, source };
  }

  private load(file: string, shown: string): CachedFile {
    const stat = statSync(file);
    const cached = this.cache.get(file);
    if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached;
    const result = loadFile(readFileSync(file), shown, dirname(resolve(file)));
    const fresh = {
      mtimeMs: stat.mtimeMs,
      size: stat.size,
      manifests: result.manifests,
      errors: result.errors.map((e) => e.message),
    };
    this.cache.set(file, fresh);
    return fresh;
  }
}
