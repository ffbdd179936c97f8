import { hardOf, usageOf, violations, type QuotaViolation } from "../resources/quota.js";
import type { BaseStatus, Quota } from "../resources/types.js";
import type { Store } from "../store/store.js";
import type { FinalizeOutcome, Outcome } from "./reconciler.js";
import { Reconciler } from "./reconciler.js";

export interface QuotaStatus extends BaseStatus {
  used?: Record<string, number>;
  hard?: Record<string, number>;
}

/** The limits a group's objects are over right now (after a quota was lowered, say). */
export function quotaViolationsOf(store: Store, group: string): QuotaViolation[] {
  // Most groups have no quota: do not copy every object of the group on each app's reconcile.
  const quotas = store.list({ group, kind: "Quota" }).filter((o): o is Quota => o.kind === "Quota");
  if (quotas.length === 0) return [];
  return violations(quotas, usageOf(store.list({ group })));
}

/**
 * Keeps a quota's `status.used` current. Admission (in the store) stops applies that would pass
 * a limit; this controller only reports, and apps over a lowered quota stop scaling up.
 */
export class QuotaController extends Reconciler<"Quota"> {
  readonly kind = "Quota" as const;

  protected async reconcileObject(quota: Quota): Promise<Outcome<QuotaStatus>> {
    const used = usageOf(this.ctx.store.list({ group: quota.metadata.group ?? "" }));
    const hard = hardOf(quota);
    const over = violations([quota], used);
    const shown = Object.fromEntries(Object.keys(hard).map((k) => [k, used[k as keyof typeof used]]));
    return {
      status: { used: shown, hard: { ...hard } },
      ready: true,
      reason: over.length > 0 ? "Exceeded" : "WithinLimits",
      message: over.length > 0 ? over.map((v) => v.message).join("; ") : Object.entries(hard).map(([k, h]) => `${k} ${shown[k]}/${h}`).join(", "),
      operations: [],
    };
  }

  protected async finalizeObject(): Promise<FinalizeOutcome> {
    return { done: true, operations: [] };
  }
}
