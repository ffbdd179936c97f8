import type { ReleaseState } from "../providers/docker/release.js";
import { keyOf } from "../resources/kinds.js";
import type { App } from "../resources/types.js";
import type { Store } from "../store/store.js";
import type { RevisionInputs } from "./inputs.js";
import {
  ensureRevision,
  type Revision,
  revisionHash,
  revisionsOf,
  saveRevisions,
  UNKNOWN_AUTHOR,
} from "./revisions.js";
import { restoreRevision } from "./undo.js";

export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

/** What a reconcile's provider pass says about the rollout (a part of AppOutcome). */
export interface RolloutFacts {
  readonly converged: boolean;
  readonly readyReplicas: number;
  readonly updatedReplicas: number;
  readonly imageId?: string;
  readonly problems?: ReadonlyArray<{ readonly replica: string; readonly reason: string; readonly message: string }>;
  readonly release?: ReleaseState;
  /** The app's Secrets' and Services' hashes: a change of one is a revision of its own. */
  readonly inputs?: RevisionInputs;
}

/** A failed rollout's Ready condition, or when to look again before the deadline passes. */
export interface RolloutVerdict {
  readonly failed?: { readonly reason: string; readonly message: string };
  readonly requeueAfterMs?: number;
}

const FAILED = new Set<Revision["outcome"]>(["Failed", "RolledBack", "ReleaseFailed"]);

/**
 * Follows the app's current revision after each provider pass: Complete once converged;
 * Failed when its counts have not moved for progressDeadlineSeconds or its new replicas
 * crash-loop. A failed rollout keeps the old replicas (the planner only removes an old one once
 * its successor is ready); with autoRollback the last Complete revision is restored.
 */
export async function trackRollout(
  store: Store,
  app: App,
  facts: RolloutFacts,
  now: number = Date.now(),
): Promise<RolloutVerdict> {
  // Applied again during the provider pass: these facts are the older spec's (recording them
  // would add that spec back as a revision), and the new spec's own reconcile follows.
  if (store.peek(keyOf(app))?.metadata.generation !== app.metadata.generation) return {};
  const current = await ensureRevision(store, app, UNKNOWN_AUTHOR, {
    durable: false,
    ...(facts.inputs ? { inputs: facts.inputs } : {}),
  });
  const entry = revisionsOf(store, app);
  const latest = entry?.items.at(-1);
  if (!entry || !latest || latest.revision !== current.revision) return {};
  // Recorded first: a release that ends and the replicas that follow may be one pass.
  const release = facts.release;
  if (release && release.phase !== "running" && latest.release?.exitCode !== release.exitCode) {
    latest.release = { exitCode: release.exitCode ?? -1, output: [...release.output] };
    await saveRevisions(store, app, entry, false);
  }
  if (facts.converged) {
    if (latest.outcome === "Complete" && entry.progress === undefined) return {};
    latest.outcome = "Complete";
    delete latest.reason;
    if (facts.imageId) latest.imageId = facts.imageId;
    delete entry.progress;
    await saveRevisions(store, app, entry, false);
    return {};
  }
  if (FAILED.has(latest.outcome)) return { failed: failedCondition(latest) };
  if (latest.outcome !== "Progressing") return {};
  // A running release command is progress: the deadline counts from its end.
  const mark = release?.phase === "running" ? `release ${now}` : `${facts.updatedReplicas}/${facts.readyReplicas}`;
  if (entry.progress?.revision !== latest.revision || entry.progress.mark !== mark) {
    entry.progress = { revision: latest.revision, mark, at: now };
    await saveRevisions(store, app, entry, false);
  }
  const deadlineMs = (app.spec.strategy?.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS) * 1000;
  const crashing = facts.problems?.find((p) => p.reason === "CrashLoopBackOff");
  const releaseFailed = release?.phase === "failed";
  const left = entry.progress.at + deadlineMs - now;
  if (!crashing && !releaseFailed && left > 0) return { requeueAfterMs: left + 250 };
  latest.outcome = releaseFailed ? "ReleaseFailed" : "Failed";
  latest.reason = releaseFailed
    ? `release command exited with code ${release.exitCode ?? "unknown"}: ${release.output.join(" | ") || "no output"}`
    : crashing
      ? `new replicas crash-loop (${crashing.message})`
      : `no progress in ${deadlineMs / 1000}s (${facts.updatedReplicas} updated, ${facts.readyReplicas} ready)`;
  delete entry.progress;
  const good = app.spec.strategy?.autoRollback
    ? [...entry.items].reverse().find((r) => r.outcome === "Complete" && r.configHash !== latest.configHash)
    : undefined;
  if (good) {
    latest.outcome = "RolledBack";
    latest.reason = `${latest.reason}; rolled back to revision ${good.revision}`;
  }
  await saveRevisions(store, app, entry, false);
  await store.recordEvent(keyOf(app), {
    type: "Warning",
    reason: releaseFailed ? "ReleaseFailed" : "ProgressDeadlineExceeded",
    message: `revision ${latest.revision}: ${latest.reason}`,
  });
  if (good) {
    const restored = await restoreRevision(store, app, good, `rollback (revision ${latest.revision} failed)`);
    await store.recordEvent(keyOf(app), {
      type: "Warning",
      reason: "RolledBack",
      message: `revision ${latest.revision} failed; revision ${good.revision} restored as revision ${restored.revision}`,
    });
  }
  return { failed: failedCondition(latest) };
}

function failedCondition(revision: Revision): { reason: string; message: string } {
  return {
    reason: revision.outcome === "ReleaseFailed" ? "ReleaseFailed" : "ProgressDeadlineExceeded",
    message: `revision ${revision.revision}: ${revision.reason ?? revision.outcome}`,
  };
}

/** A reconcile's outcome with a failed rollout's condition, and a look again at the deadline. */
export function withRollout<O extends { ready: boolean; reason: string; message: string; requeueAfterMs?: number }>(
  outcome: O,
  verdict: RolloutVerdict,
): O {
  const requeue = Math.min(
    outcome.requeueAfterMs ?? Number.POSITIVE_INFINITY,
    verdict.requeueAfterMs ?? Number.POSITIVE_INFINITY,
  );
  const timed = Number.isFinite(requeue) ? { ...outcome, requeueAfterMs: requeue } : outcome;
  return verdict.failed ? { ...timed, ready: false, ...verdict.failed } : timed;
}

/** Whether the app's current revision recorded its release command's success: it never runs twice. */
export function releaseDone(store: Store, app: App): boolean {
  const latest = revisionsOf(store, app)?.items.at(-1);
  return latest?.configHash === revisionHash(app.spec) && latest.release?.exitCode === 0;
}

/**
 * The revision the app's spec is at, or will be once recorded (the next number): a release
 * belongs to a revision, so a roll back to an earlier config (a new revision) runs its release
 * again, as a task of its own. The same from the first pass of a config to its last.
 */
export function releaseRevision(store: Store, app: App): number {
  const latest = revisionsOf(store, app)?.items.at(-1);
  if (!latest) return 1;
  return latest.configHash === revisionHash(app.spec) ? latest.revision : latest.revision + 1;
}
