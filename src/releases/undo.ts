import { AirloftError, NotFoundError } from "../errors.js";
import { getSource, type SourceRecord, saveSource, sourceOf } from "../gitops/sources.js";
import { displayName, keyOf } from "../resources/kinds.js";
import type { LoadedManifest } from "../resources/manifest-object.js";
import type { App, AppSpec } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { changedInputs } from "./inputs.js";
import { ensureRevision, historyOf, type Revision } from "./revisions.js";

export interface UndoRequest {
  /** The revision to restore; the one before the latest when absent. */
  readonly toRevision?: number;
  /** Restore although a git-ops source will put the app back on its next sync. */
  readonly force?: boolean;
  /** Suspend the app's git-ops source first, so its next sync does not put the app back. */
  readonly suspendSource?: boolean;
  /** Who asks: "user alice", "account acme". */
  readonly by: string;
}

export interface UndoResult {
  /** The new revision that restores `restored`. */
  readonly revision: number;
  readonly restored: number;
  readonly message: string;
}

/**
 * `rollout undo`: the chosen revision's spec becomes the app's spec again, as a new revision
 * (its count and strategy stay: those are no part of a revision). An app applied by a watched
 * git folder is refused unless forced or its source is suspended, so nobody is surprised when
 * the folder puts it back; the source's record says what was done outside git.
 */
export async function undoRollout(store: Store, app: App, request: UndoRequest): Promise<UndoResult> {
  const history = historyOf(store, app);
  const latest = history.at(-1);
  const target =
    request.toRevision !== undefined
      ? history.find((r) => r.revision === request.toRevision)
      : [...history].reverse().find((r) => r.configHash !== latest?.configHash);
  if (!target)
    throw new NotFoundError(
      request.toRevision !== undefined
        ? `${displayName(app)} has no revision ${request.toRevision} (kept: ${history.map((r) => r.revision).join(", ") || "none"})`
        : `${displayName(app)} has no earlier revision to go back to`,
    );
  const source = watchingSource(store, app);
  if (source && !request.force && !request.suspendSource)
    throw new AirloftError(
      "Conflict",
      `${displayName(app)} is applied by the git-ops source ${source.name}, whose next sync puts it back: ` +
        "pass --suspend-source to suspend the source first, or --force to undo anyway",
    );
  // Secret values and service credentials are not kept per revision: the current ones are used.
  const current = target.inputs && latest?.inputs ? changedInputs(target.inputs, latest.inputs) : [];
  const note = current.length > 0 ? `; ${current.join(", ")}: current value used (old values are not kept)` : "";
  const by = `${request.by} (undo to revision ${target.revision})${note}`;
  const revision = await restoreRevision(store, app, target, by, { always: current.length > 0 });
  if (source) await noteOutsideGit(store, source, request.suspendSource === true, `${displayName(app)} ${by}`);
  const suspended = source && request.suspendSource ? `; source ${source.name} suspended` : "";
  const warning = source && !request.suspendSource ? `; source ${source.name} puts it back on its next sync` : "";
  return {
    revision: revision.revision,
    restored: target.revision,
    message: `${displayName(app)} rolled back to revision ${target.revision} as revision ${revision.revision}${suspended}${warning}`,
  };
}

/**
 * Writes a revision's spec as the app's spec (through admission, like any apply) and records it;
 * `always`: as a new revision even when the spec is the current one (only its inputs differed).
 */
export async function restoreRevision(
  store: Store,
  app: App,
  target: Revision,
  by: string,
  options: { readonly always?: boolean } = {},
): Promise<Readonly<Revision>> {
  const spec: AppSpec = { ...structuredClone(target.spec) };
  // What a revision leaves out stays as the app has it now.
  for (const field of ["replicas", "strategy", "revisionHistoryLimit", "autoscale"] as const) {
    const now = (app.spec as Record<string, unknown>)[field];
    if (now === undefined) delete (spec as Record<string, unknown>)[field];
    else (spec as Record<string, unknown>)[field] = structuredClone(now);
  }
  const manifest: LoadedManifest = {
    object: { ...app, spec, status: {} } as App,
    source: { file: "rollout undo", line: 1, column: 1 },
  };
  await store.apply([manifest]);
  const stored = store.get(keyOf(app));
  if (stored?.kind !== "App") throw new NotFoundError(`${displayName(app)} is gone`);
  return ensureRevision(store, stored, by, { always: options.always === true });
}

/** The watched folder (not an `apply --prune` set) that applied the app, if any. */
function watchingSource(store: Store, app: App): SourceRecord | undefined {
  const name = sourceOf(store, keyOf(app));
  const source = name === undefined ? undefined : getSource(store, name);
  return source?.kind === "watch" ? source : undefined;
}

/** The source's status tells of the change made outside git (bounded: the last few). */
async function noteOutsideGit(store: Store, source: SourceRecord, suspend: boolean, note: string): Promise<void> {
  const outsideGit = [...(source.outsideGit ?? []), `${new Date().toISOString()} ${note}`].slice(-10);
  await saveSource(store, { ...source, outsideGit, ...(suspend ? { suspended: true } : {}) });
}
