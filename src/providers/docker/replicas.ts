import type { ReplicaStatus } from "../../resources/types.js";
import type { DesiredApp } from "./desired.js";
import type { ObservedContainer } from "./observe.js";
import { isReady } from "./plan.js";
import { publishedEndpoint } from "./probe.js";

/** The replicas of an object as its status shows them, in replica order. */
export function replicaStatuses(
  containers: readonly ObservedContainer[],
  desired: DesiredApp,
  probe: ReadonlyMap<string, boolean>,
): ReplicaStatus[] {
  return containers
    .filter((c) => c.owner.uid === desired.uid && c.owner.replica !== undefined)
    .sort((a, b) => (a.owner.replica ?? 0) - (b.owner.replica ?? 0) || a.name.localeCompare(b.name))
    .map((c) => {
      const endpoint = publishedEndpoint(c, desired.template.port);
      return {
        replica: c.owner.replica ?? 0,
        containerId: c.id.slice(0, 12),
        name: c.name,
        state: c.health && c.state === "running" ? `${c.state} (${c.health})` : c.state,
        ready: isReady(c, desired, probe),
        configHash: c.owner.configHash ?? "",
        ...(endpoint ? { endpoint: `${endpoint.host}:${endpoint.port}` } : {}),
      };
    });
}
