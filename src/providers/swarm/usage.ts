import { runBounded } from "../../util/pool.js";
import { dockerClient } from "../docker/engine.js";
import { containerUsage } from "../docker/usage.js";
import type { ReplicaPlacement, ReplicaUsage } from "../types.js";
import type { ManagerNodes } from "./manager-node.js";
import type { SwarmSnapshot } from "./observe.js";
import { liveSlots } from "./plan.js";

/** A live replica as the manager has it: where its task runs, and its container there. */
export interface SwarmReplica extends ReplicaPlacement {
  readonly nodeId: string;
  readonly containerId: string | undefined;
}

/**
 * The live replicas of this installation's apps and services in the groups, numbered as their
 * status numbers them. Swarm never restarts a container: a task that failed is replaced by a new
 * one in its slot, so restarts are the slot's failed tasks the manager still keeps (its task
 * history limit, 5 by default).
 */
export function swarmReplicas(snapshot: SwarmSnapshot, groups: ReadonlySet<string>): SwarmReplica[] {
  const names = new Map(snapshot.nodes.map((n) => [n.id, n.name]));
  return snapshot.services.flatMap((s) => {
    const owner = s.owner;
    if (!owner || !groups.has(owner.group) || (owner.kind !== "App" && owner.kind !== "Service")) return [];
    const tasks = snapshot.tasks.filter((t) => t.serviceId === s.id);
    return liveSlots(tasks).map(({ inSlot, task }, index) => ({
      group: owner.group,
      kind: owner.kind,
      name: owner.name,
      uid: owner.uid,
      replica: String(index),
      node: names.get(task.nodeId) ?? task.nodeId,
      state: task.state,
      restarts: inSlot.filter((t) => t.state === "failed" || t.state === "rejected").length,
      nodeId: task.nodeId,
      containerId: task.containerId,
    }));
  });
}

/**
 * One engine's reading, from one listing of its replicas: where every one is placed, and figures
 * of those on the manager (none when the manager's node cannot be told, the placements all the same).
 */
export async function swarmUsage(
  address: string,
  managers: ManagerNodes,
  snapshot: SwarmSnapshot,
  groups: ReadonlySet<string>,
  concurrency: number,
): Promise<{ figures: ReplicaUsage[]; placements: ReplicaPlacement[] }> {
  const replicas = swarmReplicas(snapshot, groups);
  // Without the manager's node id no replica can be placed on it: no figures, the placements still.
  const manager = await managers.of(address).catch(() => undefined);
  const figures = manager === undefined ? [] : await managerUsage(address, manager, replicas, concurrency);
  return { figures, placements: replicas.map(({ nodeId: _n, containerId: _c, ...r }) => r) };
}

/**
 * Figures of the replicas whose task runs on the manager itself: the only engine the controller
 * reaches. Another node's containers answer only to that node's engine.
 */
async function managerUsage(
  address: string,
  manager: string,
  replicas: readonly SwarmReplica[],
  concurrency: number,
): Promise<ReplicaUsage[]> {
  const docker = dockerClient(address);
  const local = replicas.filter((r) => r.nodeId === manager && r.containerId && r.state === "running");
  const read = await runBounded(local, concurrency, async (r) => {
    const usage = await containerUsage(docker, r.containerId ?? "", r);
    return usage && { ...usage, restarts: r.restarts };
  });
  return read.filter((u): u is ReplicaUsage => u !== undefined);
}
