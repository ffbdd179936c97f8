import { addRunUsage, runOwners, usageOf, violations } from "../resources/quota.js";
import type { App, Quota } from "../resources/types.js";
import type { Store } from "../store/store.js";
import type { ObservedRun } from "./docker-runs.js";

/**
 * Why one more run of `app` would pass a quota of its group, or undefined when it fits. A running
 * run counts as a replica of its app, with the app's cpu and memory, as long as it runs.
 */
export function runQuotaProblem(store: Store, app: App, running: readonly ObservedRun[]): string | undefined {
  const group = app.metadata.group ?? "";
  const objects = store.view({ group });
  const quotas = objects.filter((o): o is Quota => o.kind === "Quota");
  if (quotas.length === 0) return undefined;
  const owners = runOwners(
    objects,
    running.filter((r) => r.group === group),
  );
  const usage = addRunUsage(usageOf(objects), [...owners, app]);
  const over = violations(quotas, usage, "would exceed");
  return over.length > 0 ? over.map((v) => v.message).join("; ") : undefined;
}
