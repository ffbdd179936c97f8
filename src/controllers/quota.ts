import { isReadyAt } from "../resources/conditions.js";
import { objectKey } from "../resources/kinds.js";
import {
  addRunUsage,
  hardOf,
  type QuotaViolation,
  runOwners,
  type Usage,
  usageOf,
  violations,
} from "../resources/quota.js";
import type { BaseStatus, Quota } from "../resources/types.js";
import type { Store } from "../store/store.js";
import type { FinalizeOutcome, Outcome } from "./reconciler.js";
import { Reconciler } from "./reconciler.js";
import { type WatchDeclaration, watch, whenGroupChanges } from "./watches.js";

/** While runs run, the quota looks again this often, so that a run's end shows soon. */
const RUNS_POLL_MS = 2000;

/**
 * A quota counts its group's apps and services (their creation, change and removal recount it)
 * and the runs running (an app's job runs starting or ending recount it).
 */
export const QUOTA_WATCHES: WatchDeclaration = {
  kind: "Quota",
  watches: [
    whenGroupChanges("Quota"),
    {
      kinds: ["App", "Service"],
      on: ["added", "spec", "deleting", "removed"],
      map: ({ metadata: { group } }) => (group ? [{ group, kind: "Quota" }] : []),
    },
    watch({
      kinds: ["App"],
      on: ["status"],
      seen: (app) =>
        Object.values(app.status?.jobs ?? {})
          .map((j) => j.active.length)
          .join(","),
      map: ({ metadata: { group } }) => (group ? [{ group, kind: "Quota" }] : []),
    }),
  ],
};

export interface QuotaStatus extends BaseStatus {
  used?: Record<string, number>;
  hard?: Record<string, number>;
  /** Runs (jobs' and one-offs') running, counted in `used` as replicas of their apps. */
  runs?: number;
}

/** The limits a group's objects are over right now (after a quota was lowered, say). */
export function quotaViolationsOf(store: Store, group: string): QuotaViolation[] {
  // Read, never copied (an app's reconcile in a group of 18,000 copied all of them); the quotas
  // through the store's index by kind, so a group without one costs nothing more.
  const quotas = store.view({ group, kind: "Quota" }).filter((o): o is Quota => o.kind === "Quota");
  if (quotas.length === 0) return [];
  return violations(quotas, groupUsage(store, group));
}

/** Each store's group usage, with the group's change serial it was counted at. */
const usageCaches = new WeakMap<Store, Map<string, { readonly serial: number; readonly usage: Usage }>>();

/**
 * A group's usage for its apps' reconciles: counted once per change, not once per app (3,000
 * apps applied into a group of 18,000 with a quota counted 18,000 objects 3,000 times).
 */
function groupUsage(store: Store, group: string): Usage {
  let cache = usageCaches.get(store);
  if (!cache) usageCaches.set(store, (cache = new Map()));
  const serial = store.changeSerialOf(group);
  const counted = cache.get(group);
  if (counted?.serial === serial) return counted.usage;
  const usage = usageOf(store.view({ group }));
  cache.set(group, { serial, usage });
  return usage;
}

/**
 * Keeps a quota's `status.used` current. Admission (in the store) stops applies that would pass
 * a limit; this controller only reports, and apps over a lowered quota stop scaling up.
 */
export class QuotaController extends Reconciler<"Quota"> {
  readonly kind = "Quota" as const;

  protected async reconcileObject(quota: Quota): Promise<Outcome<QuotaStatus>> {
    const objects = this.ctx.store.view({ group: quota.metadata.group ?? "" });
    const runs = runOwners(objects, await this.runningRuns(quota));
    const used = addRunUsage(usageOf(objects), runs);
    const hard = hardOf(quota);
    const over = violations([quota], used);
    const shown = Object.fromEntries(Object.keys(hard).map((k) => [k, used[k as keyof typeof used]]));
    return {
      status: { used: shown, hard: { ...hard }, runs: runs.length },
      ready: true,
      reason: over.length > 0 ? "Exceeded" : "WithinLimits",
      message:
        over.length > 0
          ? over.map((v) => v.message).join("; ")
          : Object.entries(hard)
              .map(([k, h]) => `${k} ${shown[k]}/${h}`)
              .join(", ") + (runs.length > 0 ? ` (${runs.length} run${runs.length > 1 ? "s" : ""} running)` : ""),
      operations: [],
      ...(runs.length > 0 ? { requeueAfterMs: RUNS_POLL_MS } : {}),
    };
  }

  /** The group's running runs; none while its engine cannot say (the quota then counts the rest). */
  private async runningRuns(quota: Quota): Promise<ReadonlyArray<{ readonly uid: string }>> {
    const group = this.ctx.store.get(objectKey("Group", "", quota.metadata.group ?? ""));
    if (!this.ctx.runs || group?.kind !== "Group" || !isReadyAt(group)) return [];
    return this.ctx.runs.running(group).catch(() => []);
  }

  protected async finalizeObject(): Promise<FinalizeOutcome> {
    return { done: true, operations: [] };
  }
}
