import type { Group, GroupStatus } from "../../resources/types.js";
import { ownerLabels } from "../ownership.js";
import type { ObservedNetwork } from "./observe.js";
import type { DesiredNetwork } from "./plan.js";

/** A group's own network, labelled with the group as owner (a bridge on Docker, an overlay on Swarm). */
export function desiredGroupNetwork(
  instance: string,
  group: Group,
  network: { name: string; subnet: string | undefined; driver?: "overlay" },
): DesiredNetwork {
  const uid = group.metadata.uid ?? "";
  const name = group.metadata.name;
  return {
    group: name,
    uid,
    name: network.name,
    labels: ownerLabels({ instance, group: name, kind: "Group", name, uid }),
    subnet: network.subnet,
    ...(network.driver ? { driver: network.driver } : {}),
  };
}

/** The group's status from what was observed: the engine and the network, once it exists. */
export function groupNetworkStatus(
  provider: "docker" | "swarm",
  address: string,
  desired: DesiredNetwork,
  observed: readonly ObservedNetwork[],
): Partial<GroupStatus> {
  const network = observed.find((n) => n.owner.uid === desired.uid && n.name === desired.name);
  return {
    provider,
    engine: address,
    ...(network ? { network: { name: network.name, id: network.id.slice(0, 12) } } : {}),
  };
}
