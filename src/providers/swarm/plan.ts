import type { ReplicaStatus } from "../../resources/types.js";
import { formatOperation } from "../converge.js";
import type { Operation as DockerOperation } from "../docker/plan.js";
import type { ReplicaProblem } from "../types.js";
import { type DesiredSwarmService, isOwnedBy } from "./desired.js";
import type { ObservedNode, ObservedService, ObservedTask, SwarmSnapshot } from "./observe.js";
import type { SecretOperation } from "./secrets.js";

/** One step of a Swarm plan; the group's network steps are the Docker provider's own. */
export type SwarmOperation =
  | Extract<DockerOperation, { op: "create-network" | "remove-network" }>
  | { readonly op: "create-service"; readonly target: string; readonly cause: string; readonly spec: ServiceBody }
  | {
      readonly op: "update-service";
      readonly target: string;
      readonly cause: string;
      readonly id: string;
      readonly version: number;
      readonly spec: ServiceBody;
    }
  | { readonly op: "remove-service"; readonly target: string; readonly cause: string; readonly id: string }
  | SecretOperation;

/** A create or update body, with its owner labels for the conflict check. */
export interface ServiceBody {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly body: Record<string, unknown>;
  /** Registry credentials sent with the service (`--with-registry-auth`): never logged. */
  readonly auth?: Record<string, string>;
}

/** The group network's steps among a plan's (the Docker planner's, run by the Docker executor). */
export function isNetworkOp(
  op: SwarmOperation | DockerOperation,
): op is Extract<SwarmOperation, { op: "create-network" | "remove-network" }> {
  return op.op === "create-network" || op.op === "remove-network";
}

export function describeSwarmOperation(op: SwarmOperation): string {
  return formatOperation(op.target, op.op, undefined, op.cause);
}

export interface SwarmPlan {
  readonly operations: readonly SwarmOperation[];
  readonly readyReplicas: number;
  readonly updatedReplicas: number;
  readonly converged: boolean;
  readonly replicas: readonly ReplicaStatus[];
  readonly problems: readonly ReplicaProblem[];
  readonly waiting: { readonly reason: string; readonly message: string } | undefined;
}

/** Task states that count as a replica now or on its way; the others are history. */
const ACTIVE_DESIRED = new Set(["new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"]);

/**
 * The service of one app or backing service: created when missing, updated when its
 * configuration or replica count differs (by hand too: drift comes back), never touched when its
 * labels give it to someone else, and left as it is after Swarm rolled an update back (the
 * status says so) until the configuration changes again.
 */
export function planSwarmService(desired: DesiredSwarmService, snapshot: SwarmSnapshot): SwarmPlan {
  const base = `${desired.kind.toLowerCase()}:${desired.group}/${desired.name}`;
  const ops: SwarmOperation[] = [];
  const body: ServiceBody = {
    name: desired.serviceName,
    labels: desired.spec.Labels as Record<string, string>,
    body: desired.spec,
    ...(desired.registryAuth ? { auth: desired.registryAuth } : {}),
  };
  const sameObject = (s: ObservedService) =>
    s.owner?.instance === desired.instance &&
    s.owner.kind === desired.kind &&
    s.owner.group === desired.group &&
    s.owner.name === desired.name;
  for (const s of snapshot.services) {
    if (sameObject(s) && s.owner?.uid !== desired.uid)
      ops.push({ op: "remove-service", target: base, cause: "belongs to a deleted incarnation", id: s.id });
  }
  const found = snapshot.services.find((s) => s.name === desired.serviceName);
  const current = found && isOwnedBy(found.labels, desired) ? found : undefined;
  let waiting: SwarmPlan["waiting"];
  if (found && !current && !sameObject(found)) {
    waiting = { reason: "NameConflict", message: `the Swarm service name ${found.name} is taken by another owner` };
  } else if (!current) {
    ops.push({ op: "create-service", target: base, cause: "missing", spec: body });
  } else if (current.owner?.configHash !== desired.configHash) {
    // Swarm restores the earlier spec; what was tried shows in PreviousSpec or in the failed tasks it left.
    const tried =
      current.previousHash === desired.configHash ||
      snapshot.tasks.some((t) => t.serviceId === current.id && t.configHash === desired.configHash);
    const rolledBack = current.updateState?.startsWith("rollback") && tried;
    if (rolledBack)
      waiting = {
        reason: "RolledBack",
        message: `Swarm rolled the update back: ${current.updateMessage ?? "the new tasks failed"}`,
      };
    else
      ops.push({
        op: "update-service",
        target: base,
        cause: "config changed",
        id: current.id,
        version: current.version,
        spec: body,
      });
  } else if (current.replicas !== desired.replicas) {
    ops.push(...scaleOps(base, current, desired, body));
  }
  const tasks = current ? snapshot.tasks.filter((t) => t.serviceId === current.id) : [];
  const view = replicaView(desired, tasks, snapshot.nodes);
  const settled = !current?.updateState || ["completed", "rollback_completed"].includes(current.updateState);
  if (current?.updateState === "paused" || current?.updateState === "rollback_paused")
    waiting ??= { reason: "UpdatePaused", message: `Swarm paused the update: ${current.updateMessage ?? ""}` };
  return {
    operations: ops,
    readyReplicas: view.ready,
    updatedReplicas: view.updated,
    converged:
      ops.length === 0 &&
      waiting === undefined &&
      settled &&
      view.ready === desired.replicas &&
      view.replicas.length === desired.replicas &&
      !view.doubled,
    replicas: view.replicas,
    problems:
      waiting?.reason === "RolledBack" ? [{ replica: desired.name, ...waiting }, ...view.problems] : view.problems,
    waiting,
  };
}

/** A change of the replica count alone: one line per replica that comes or goes, one update call. */
function scaleOps(
  target: string,
  current: ObservedService,
  desired: DesiredSwarmService,
  spec: ServiceBody,
): SwarmOperation[] {
  const from = current.replicas ?? 0;
  const [low, high, verb] = from < desired.replicas ? [from, desired.replicas, "up"] : [desired.replicas, from, "down"];
  const ops: SwarmOperation[] = [];
  for (let replica = low; replica < high; replica++)
    ops.push({
      op: "update-service",
      target: `${target}:${replica}`,
      cause: `scale ${verb} ${from} -> ${desired.replicas}`,
      id: current.id,
      version: current.version,
      spec,
    });
  return ops;
}

interface ReplicaView {
  readonly replicas: ReplicaStatus[];
  readonly ready: number;
  readonly updated: number;
  /** A slot with two live tasks: an update under way. */
  readonly doubled: boolean;
  readonly problems: ReplicaProblem[];
}

/**
 * Replicas from the service's tasks: one per slot, numbered in slot order, the newest live task
 * of each; ready once running (Swarm holds a task in "starting" until its health check passes)
 * on a node that is up. A slot whose task was lost with its node says so, with the node's name.
 */
export function replicaView(
  desired: Pick<DesiredSwarmService, "name" | "serviceName" | "configHash">,
  tasks: readonly ObservedTask[],
  nodes: readonly ObservedNode[],
): ReplicaView {
  const nodeOf = (id: string) => nodes.find((n) => n.id === id);
  const replicas: ReplicaStatus[] = [];
  const problems: ReplicaProblem[] = [];
  let ready = 0;
  let updated = 0;
  let doubled = false;
  liveSlots(tasks).forEach(({ slot, inSlot, active, task }, index) => {
    if (active.length > 1) doubled = true;
    const node = nodeOf(task.nodeId);
    const nodeUp = node?.state === "ready";
    const isReady = task.state === "running" && nodeUp;
    const isUpdated = task.configHash === desired.configHash;
    if (isReady && isUpdated) ready++;
    if (isUpdated) updated++;
    const replica = `${desired.name}-${index}`;
    const lost = inSlot.find((t) => t !== task && nodeOf(t.nodeId)?.state !== "ready" && t.state === "running");
    const failed = inSlot.find((t) => t.error && (t.state === "failed" || t.state === "rejected"));
    const error =
      node && !nodeUp
        ? `node ${node.name} is ${node.state}`
        : !isReady && lost
          ? `node ${nodeOf(lost.nodeId)?.name ?? lost.nodeId} lost; rescheduled`
          : !isReady
            ? (task.error ?? failed?.error)
            : undefined;
    if (error) {
      const reason = error.startsWith("node ") ? "NodeDown" : "TaskFailed";
      problems.push({ replica, reason, message: `${replica}: ${error}` });
    }
    replicas.push({
      replica: index,
      containerId: (task.containerId ?? task.id).slice(0, 12),
      name: `${desired.serviceName}.${slot}`,
      state: task.state,
      ready: isReady,
      configHash: task.configHash ?? "",
      ...(node ? { node: node.name } : {}),
      ...(error ? { error } : {}),
    });
  });
  return { replicas, ready, updated, doubled, problems };
}

/** A service's slots with a live task, in slot order (a replica's number is its index here). */
export function liveSlots(tasks: readonly ObservedTask[]): Array<{
  readonly slot: number;
  /** Every task of the slot, newest first; `active` the live ones, `task` the newest of those. */
  readonly inSlot: readonly ObservedTask[];
  readonly active: readonly ObservedTask[];
  readonly task: ObservedTask;
}> {
  const live = tasks.filter((t) => ACTIVE_DESIRED.has(t.desiredState));
  const slots = [...new Set(live.map((t) => t.slot))].sort((a, b) => a - b);
  return slots.map((slot) => {
    const inSlot = tasks.filter((t) => t.slot === slot).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const active = inSlot.filter((t) => ACTIVE_DESIRED.has(t.desiredState));
    return { slot, inSlot, active, task: active[0] as ObservedTask };
  });
}

/**
 * The node a service's data goes on, chosen once: a ready, active node with the fewest live
 * tasks (the lowest id on a tie, so a retry picks the same).
 */
export function chooseNode(snapshot: SwarmSnapshot): string | undefined {
  const load = (id: string) =>
    snapshot.tasks.filter((t) => t.nodeId === id && ACTIVE_DESIRED.has(t.desiredState)).length;
  const candidates = snapshot.nodes
    .filter((n) => n.state === "ready" && n.availability === "active")
    .sort((a, b) => load(a.id) - load(b.id) || a.id.localeCompare(b.id));
  return candidates[0]?.id;
}

/** Everything of this installation in the group whose owner uid is not live: services, then the network. */
export function planSwarmGarbage(live: ReadonlySet<string>, snapshot: SwarmSnapshot, group: string): SwarmOperation[] {
  const ops: SwarmOperation[] = [];
  for (const s of snapshot.services) {
    if (s.owner && s.owner.group === group && !live.has(s.owner.uid))
      ops.push({
        op: "remove-service",
        // A wipe job is its Service's, in the operation's one form.
        target: `${s.owner.kind === "Wipe" ? "service" : s.owner.kind.toLowerCase()}:${s.owner.group}/${s.owner.name}`,
        cause: "owner gone",
        id: s.id,
      });
  }
  for (const n of snapshot.networks) {
    if (n.owner.group === group && !live.has(n.owner.uid))
      ops.push({ op: "remove-network", target: `group:${n.owner.group}`, cause: "owner gone", id: n.id });
  }
  return ops;
}
