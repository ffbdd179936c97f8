import { userInfo } from "node:os";
import { keyOf } from "../resources/kinds.js";
import type { App, AppSpec, Resource } from "../resources/types.js";
import type { Change, Store } from "../store/store.js";
import { stableHash } from "../util/stable-hash.js";
import { turnTaker } from "../util/turns.js";
import { changedInputs, type RevisionInputs } from "./inputs.js";

export const DEFAULT_REVISION_HISTORY_LIMIT = 10;
/**
 * The bytes of spec (as JSON) an app's older revisions may keep, beside its current one. Each
 * revision holds its whole spec and each change rewrites the app's whole history: at the 256 KiB
 * an object may have, 10 revisions were 2.5 MB of memory per app and of journal per update (a
 * hostile tenant's large apps made revisions the largest part of what the server wrote).
 */
export const REVISION_HISTORY_BYTES = 512 * 1024;

export type RevisionOutcome = "Progressing" | "Complete" | "Failed" | "RolledBack" | "ReleaseFailed" | "Superseded";

/** One running configuration of an app, as `rollout history` shows it and `rollout undo` restores it. */
export interface Revision {
  readonly revision: number;
  /** A hash of the spec fields that make new replicas (not replicas, strategy or history limit). */
  readonly configHash: string;
  readonly image: string;
  imageId?: string;
  readonly spec: AppSpec;
  readonly createdAt: string;
  /** "user alice", "account acme", "source site@1a2b3c", "rollback (...)". */
  by: string;
  outcome: RevisionOutcome;
  /** Why it failed or was rolled back, in words. */
  reason?: string;
  /** The spec's size as JSON, for the history's byte budget (measured when missing). */
  specBytes?: number;
  /** Each used Secret's and bound Service's hash (never a value), once a reconcile saw them. */
  inputs?: RevisionInputs;
  /** The release command's last lines and exit code (Docker). */
  release?: { exitCode: number; output: string[] };
}

/** An app's revisions, oldest first, and how far its current rollout got. */
export interface AppRevisions {
  /** The app's key: entries whose app is gone (or made again, another uid) are dropped. */
  readonly key: string;
  items: Revision[];
  /** The last change of the rollout's counts and when (ms since the epoch): the deadline counts from it. */
  progress?: { revision: number; mark: string; at: number };
}

/** By app uid: an app deleted and made again under its name starts a history of its own. */
const book = (store: Store) => store.stateMap<AppRevisions>("revisions");

/** Fields that never make new replicas: a change of them alone is no new revision. */
const NOT_REVISIONED = new Set(["replicas", "strategy", "revisionHistoryLimit", "autoscale"]);

/** The hash that decides whether a spec is a new revision; provider independent, so AWS apps have history too. */
export function revisionHash(spec: AppSpec): string {
  return stableHash(Object.fromEntries(Object.entries(spec).filter(([k]) => !NOT_REVISIONED.has(k))));
}

export function revisionsOf(store: Store, app: Pick<App, "metadata">): AppRevisions | undefined {
  const entry = book(store).get(app.metadata.uid ?? "");
  return entry ? structuredClone(entry) : undefined;
}

/** The revisions of an app, oldest first (empty before its first reconcile or apply). */
export function historyOf(store: Store, app: Pick<App, "metadata">): Revision[] {
  return revisionsOf(store, app)?.items ?? [];
}

/**
 * Replaces an app's entry (one entry written, however many apps). Durably for an apply or undo;
 * a controller's progress marks go to disk with the next write, as status does.
 */
export async function saveRevisions(store: Store, app: App, entry: AppRevisions, durable = true): Promise<void> {
  // A copy: callers change their entry in place and save it again, and the stored value must not change unseen.
  await putRevisions(store, app, structuredClone(entry), durable);
}

/** Drops a deleted app's revisions; written with the next write, as status is (a kill leaves them, harmless under a uid never reused). */
export function forgetRevisions(store: Store, app: App): void {
  const uid = app.metadata.uid ?? "";
  if (book(store).get(uid))
    book(store)
      .delete(uid)
      .catch((err: unknown) => console.error("revisions not written:", err));
}

/**
 * The oldest revisions past the limit go, and those past REVISION_HISTORY_BYTES of spec counted
 * from the newest; the current (last) one and the last Complete one always stay.
 */
export function pruneRevisions(items: readonly Revision[], limit: number): Revision[] {
  const kept = items.slice(-Math.max(1, limit));
  let bytes = 0;
  let from = kept.length - 1;
  for (let i = kept.length - 2; i >= 0; i--) {
    bytes += specBytesOf(kept[i] as Revision);
    if (bytes > REVISION_HISTORY_BYTES) break;
    from = i;
  }
  // The revision a failed rollout goes back to stays whatever its size.
  const complete = kept.findLastIndex((r) => r.outcome === "Complete");
  return complete >= 0 && complete < from ? [kept[complete] as Revision, ...kept.slice(from)] : kept.slice(from);
}

function specBytesOf(revision: Revision): number {
  return revision.specBytes ?? Buffer.byteLength(JSON.stringify(revision.spec));
}

export interface EnsureOptions {
  /** Waits for the write (an apply, an undo); a controller's goes with the next write. */
  readonly durable?: boolean;
  /** The app's inputs now (a reconcile knows them; an apply does not). */
  readonly inputs?: RevisionInputs;
  /** Records a new revision even when nothing changed (an undo says what it did). */
  readonly always?: boolean;
}

/**
 * Records a revision when the app's spec is not its latest revision's, or a Secret it reads or a
 * Service it binds changed since (made "by" that change); fills in who made it when the
 * controller recorded it first (by "unknown"). Returns the app's latest revision, as stored: not
 * to be changed (revisionsOf gives a copy to change).
 *
 * Copy on write: the stored entry is read without a copy and a new one is made of its unchanged
 * revisions and the new or changed one. A 3,000-app apply records 3,000 revisions; copying each
 * app's whole history in and out took most of its 2.8 s of the thread in the abuse benchmark.
 */
export async function ensureRevision(
  store: Store,
  app: App,
  by: string,
  options: EnsureOptions = {},
): Promise<Readonly<Revision>> {
  const { durable = true, inputs } = options;
  const stored = book(store).get(app.metadata.uid ?? "");
  const items = stored?.items ?? [];
  const hash = revisionHash(app.spec);
  const latest = items.at(-1);
  // A revision recorded by an apply learns its inputs at the first reconcile: that is no change.
  const changed = latest?.inputs && inputs ? changedInputs(latest.inputs, inputs) : [];
  if (latest && latest.configHash === hash && changed.length === 0 && !options.always) {
    const author = latest.by === UNKNOWN_AUTHOR && by !== UNKNOWN_AUTHOR;
    const learnt = inputs !== undefined && latest.inputs === undefined;
    if (!author && !learnt) return latest;
    const updated: Revision = {
      ...latest,
      ...(author ? { by } : {}),
      ...(learnt ? { inputs: { ...inputs } } : {}),
    };
    await putRevisions(store, app, withItems(stored, app, [...items.slice(0, -1), updated]), durable);
    return updated;
  }
  const sameSpec = latest?.configHash === hash;
  // An undo to the same spec runs with the inputs as they are now.
  const carried = inputs ?? (sameSpec ? latest?.inputs : undefined);
  const next: Revision = {
    revision: (latest?.revision ?? 0) + 1,
    configHash: hash,
    image: app.spec.image ?? app.spec.build?.context ?? app.spec.source?.url ?? "",
    // The stored app's own spec, shared: an apply replaces a stored spec, nothing changes one in
    // place. 3,000-app applies made a copy each, 60,000 in a 40 s abuse run (issue 13).
    spec: store.peek(keyOf(app)) === app ? app.spec : structuredClone(app.spec),
    specBytes: Buffer.byteLength(JSON.stringify(app.spec)),
    createdAt: new Date().toISOString(),
    by: sameSpec && changed.length > 0 && by === UNKNOWN_AUTHOR ? `${changed.join(", ")} changed` : by,
    outcome: "Progressing",
    ...(carried ? { inputs: { ...carried } } : {}),
  };
  const earlier =
    latest?.outcome === "Progressing" ? [...items.slice(0, -1), { ...latest, outcome: "Superseded" as const }] : items;
  const limit = app.spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
  await putRevisions(store, app, withItems(stored, app, pruneRevisions([...earlier, next], limit)), durable);
  return next;
}

/** A new entry for the app with these revisions, keeping the stored one's rollout progress. */
function withItems(stored: AppRevisions | undefined, app: App, items: Revision[]): AppRevisions {
  return { ...stored, key: keyOf(app), items };
}

/**
 * Stores an entry made of new objects and stored ones, none changed in place: no copy needed.
 * Not durable: with the next write (an apply's own) or soon after, as status is. A durable write
 * each was a hundred journal writes a second after a tenant's 3,000-app apply, as its first
 * reconciles learnt their inputs, and every other tenant's write queued behind them.
 */
async function putRevisions(store: Store, app: App, entry: AppRevisions, durable: boolean): Promise<void> {
  const uid = app.metadata.uid ?? "";
  if (durable) await book(store).set(uid, entry);
  else book(store).setSoon(uid, entry);
}

export const UNKNOWN_AUTHOR = "unknown";

/** After an apply: a revision for each app it created or changed, made by `by`, on disk when it resolves. */
export async function recordApplied(store: Store, changes: readonly Change[], by: string): Promise<void> {
  if (await recordRevisions(store, changes, by)) await store.persist();
}

/**
 * The same revisions in memory only, for store.apply to write in the apply's own write: a request
 * then waits for one write, not two (beside a tenant applying thousands of objects each write
 * may wait its turn). True when one was recorded.
 */
export async function recordRevisions(store: Store, changes: readonly Change[], by: string): Promise<boolean> {
  let recorded = false;
  // A 3,000-app apply records 3,000 revisions: other requests are served between slices.
  const pause = turnTaker();
  for (const change of changes) {
    if (change.action !== "created" && change.action !== "configured") continue;
    // Between revisions, not after the last: a one-app PUT waited out the thread's share (up to
    // 50 ms) for the time other work took between its awaits.
    if (recorded) await pause();
    const app = store.peek(change.key);
    // Changed again during a pause by a later apply, which records its own revision.
    if (isApp(app) && app.metadata.generation === change.object.metadata.generation) {
      await ensureRevision(store, app, by, { durable: false });
      recorded = true;
    }
  }
  return recorded;
}

/** Who runs this CLI: "user alice". */
export function cliUser(): string {
  try {
    return `user ${userInfo().username}`;
  } catch {
    return `user ${process.getuid?.() ?? "unknown"}`;
  }
}

/** An API caller: "group acme" or "admin root". */
export function actorOf(principal: { readonly kind: string; readonly name: string }): string {
  return `${principal.kind} ${principal.name}`;
}

function isApp(obj: Resource | undefined): obj is App {
  return obj?.kind === "App" && !obj.metadata.deletionTimestamp;
}
