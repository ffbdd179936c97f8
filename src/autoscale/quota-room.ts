import { parseCpu, parseMemory } from "../resources/quantity.js";
import { hardOf, usageOf } from "../resources/quota.js";
import type { App, Quota, Resource } from "../resources/types.js";

/**
 * The most replicas the group's quotas leave an app: for each limit on replicas, cpu or memory,
 * what the other objects leave divided by what one replica takes. Infinity without a quota.
 */
export function quotaRoom(app: App, groupObjects: readonly Resource[]): number {
  const quotas = groupObjects.filter((o): o is Quota => o.kind === "Quota" && !o.metadata.deletionTimestamp);
  if (quotas.length === 0) return Number.POSITIVE_INFINITY;
  const others = usageOf(groupObjects.filter((o) => o.metadata.uid !== app.metadata.uid));
  const perReplica = {
    replicas: 1,
    cpu: app.spec.resources?.cpu !== undefined ? parseCpu(app.spec.resources.cpu) : 0,
    memory: app.spec.resources?.memory !== undefined ? parseMemory(app.spec.resources.memory) : 0,
  };
  let room = Number.POSITIVE_INFINITY;
  for (const q of quotas) {
    const hard = hardOf(q);
    for (const resource of ["replicas", "cpu", "memory"] as const) {
      const limit = hard[resource];
      const each = perReplica[resource];
      if (limit === undefined || each <= 0) continue;
      // Rounded a little: cpu sums in thousandths must not lose a replica to 0.30000000000000004.
      room = Math.min(room, Math.floor((limit - others[resource]) / each + 1e-9));
    }
  }
  return Math.max(0, room);
}
