import { parseCpu, parseMemory } from "../resources/quantity.js";
import { usageOf, violations } from "../resources/quota.js";
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
  const apps = new Map(objects.flatMap((o) => (o.kind === "App" ? [[o.metadata.uid ?? "", o] as const] : [])));
  const usage = usageOf(objects);
  for (const owner of [...running.filter((r) => r.group === group).map((r) => apps.get(r.uid)), app]) {
    if (!owner) continue;
    usage.replicas += 1;
    const r = owner.spec.resources;
    usage.cpu += r?.cpu !== undefined ? parseCpu(r.cpu) : 0;
    usage.memory += r?.memory !== undefined ? parseMemory(r.memory) : 0;
  }
  usage.cpu = Math.round(usage.cpu * 1000) / 1000;
  const over = violations(quotas, usage, "would exceed");
  return over.length > 0 ? over.map((v) => v.message).join("; ") : undefined;
}
