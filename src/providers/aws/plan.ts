/** Pure planning for the AWS provider: plain data in, operations out, no I/O. */
import { formatOperation } from "../converge.js";

export interface InstanceView {
  readonly id: string;
  readonly replica: number | undefined;
  readonly configHash: string | undefined;
  readonly state: string;
  readonly launchTime: number;
  /** Target health in the app's target group; undefined when not registered. */
  readonly health: string | undefined;
  readonly zone?: string | undefined;
}

export interface DesiredInstances {
  readonly replicas: number;
  readonly configHash: string;
  readonly strategy: "RollingUpdate" | "Recreate";
  /** A target group to register in; services have none and are ready once running. */
  readonly registers: boolean;
  /** A stopped instance is started again, not replaced (a service's instance holds its volume). */
  readonly startStopped?: boolean;
}

export type InstanceOp =
  | { readonly op: "run"; readonly replica: number; readonly cause: string }
  | { readonly op: "register"; readonly ids: readonly string[] }
  | { readonly op: "start"; readonly ids: readonly string[] }
  | { readonly op: "deregister"; readonly ids: readonly string[] }
  | { readonly op: "terminate"; readonly ids: readonly string[]; readonly cause: string };

export interface InstancePlan {
  readonly operations: readonly InstanceOp[];
  readonly readyReplicas: number;
  readonly updatedReplicas: number;
  readonly converged: boolean;
}

// "unused" targets are registered too: registering them again would not change what AWS reports.
const REGISTERED = new Set(["initial", "healthy", "unhealthy", "unavailable", "unused"]);

function isRegistered(i: InstanceView): boolean {
  return i.health !== undefined && REGISTERED.has(i.health);
}

function isReady(i: InstanceView, desired: DesiredInstances): boolean {
  return i.state === "running" && (!desired.registers || i.health === "healthy");
}

/**
 * Instances of one app: one per replica with the current config hash. Extra instances of a
 * replica (a retried launch) are terminated, the oldest kept; a rolling update keeps the old
 * instance of a replica until its successor is healthy in the target group; stopped instances
 * are replaced. Removal always deregisters before it terminates.
 */
export function planInstances(desired: DesiredInstances, observed: readonly InstanceView[]): InstancePlan {
  const run: InstanceOp[] = [];
  const register: string[] = [];
  const start: string[] = [];
  const remove = new Map<string, string>(); // id -> cause
  let ready = 0;
  let updated = 0;
  const sorted = [...observed].sort((a, b) => a.launchTime - b.launchTime || a.id.localeCompare(b.id));
  for (const i of sorted) {
    if (i.replica === undefined || i.replica >= desired.replicas) remove.set(i.id, "scale down");
    else if (desired.startStopped && i.configHash === desired.configHash) continue;
    else if (i.state === "stopped" || i.state === "stopping")
      remove.set(i.id, `replica ${i.replica} was ${i.state} outside AirLoft`);
  }
  for (let replica = 0; replica < desired.replicas; replica++) {
    const mine = sorted.filter((i) => i.replica === replica && !remove.has(i.id));
    const current = mine.filter((i) => i.configHash === desired.configHash);
    const old = mine.filter((i) => i.configHash !== desired.configHash);
    for (const extra of current.slice(1)) remove.set(extra.id, `duplicate of replica ${replica}`);
    const keep = current[0];
    if (!keep) {
      if (desired.strategy === "Recreate") for (const o of old) remove.set(o.id, "recreate");
      run.push({ op: "run", replica, cause: old.length > 0 ? "config changed" : "missing" });
      continue;
    }
    updated++;
    if (keep.state === "stopped") start.push(keep.id);
    if (desired.registers && keep.state === "running" && !isRegistered(keep)) register.push(keep.id);
    if (isReady(keep, desired)) {
      ready++;
      for (const o of old) remove.set(o.id, "replaced");
    }
  }
  // An instance leaves its target group first and goes only once drained (its in-flight requests
  // done): registered -> deregister now, draining -> wait, out of the target group -> terminate.
  const byId = new Map(observed.map((i) => [i.id, i]));
  const inTargetGroup = (id: string, health: (h: string | undefined) => boolean) =>
    desired.registers && health(byId.get(id)?.health);
  const deregister = [...remove.keys()].filter((id) => inTargetGroup(id, (h) => h !== undefined && REGISTERED.has(h)));
  const draining = [...remove.keys()].filter((id) => inTargetGroup(id, (h) => h === "draining"));
  const removeIds = [...remove.keys()].filter((id) => !deregister.includes(id) && !draining.includes(id));
  const causes = [...new Set(removeIds.map((id) => remove.get(id)))].join(", ");
  const operations: InstanceOp[] = [
    ...run,
    ...(start.length > 0 ? [{ op: "start" as const, ids: start }] : []),
    ...(register.length > 0 ? [{ op: "register" as const, ids: register }] : []),
    ...(deregister.length > 0 ? [{ op: "deregister" as const, ids: deregister }] : []),
    ...(removeIds.length > 0 ? [{ op: "terminate" as const, ids: removeIds, cause: causes }] : []),
  ];
  return {
    operations,
    readyReplicas: ready,
    updatedReplicas: updated,
    converged: operations.length === 0 && draining.length === 0 && ready === desired.replicas,
  };
}

/** What a group needs on AWS; vpc "create" builds a VPC with two public subnets. */
export interface DesiredGroupNetwork {
  readonly vpc:
    | { readonly mode: "create"; readonly cidr: string }
    | { readonly mode: "use"; readonly id: string; readonly subnetIds: readonly string[] };
  readonly zones: readonly string[];
  readonly certificateArn: string | undefined;
}

export interface ObservedGroupNetwork {
  readonly vpcId: string | undefined;
  readonly subnets: ReadonlyArray<{
    readonly id: string;
    readonly role: string | undefined;
    readonly mapPublicIp: boolean;
  }>;
  readonly internetGateway: { readonly id: string; readonly vpcIds: readonly string[] } | undefined;
  readonly routeTable:
    | { readonly id: string; readonly hasDefaultRoute: boolean; readonly subnetIds: readonly string[] }
    | undefined;
  readonly securityGroups: Readonly<Partial<Record<SecurityRole, { readonly id: string; readonly open: boolean }>>>;
  readonly loadBalancer: { readonly arn: string; readonly listenerPorts: readonly number[] } | undefined;
  /** Surplus copies of a part (a create retried after a crash); removed once seen. */
  readonly duplicates: readonly DuplicatePart[];
}

export interface DuplicatePart {
  readonly kind: "vpc" | "subnet" | "internet-gateway" | "route-table";
  readonly id: string;
  readonly vpcIds?: readonly string[];
}

export type SecurityRole = "lb" | "instances" | "services";

export type GroupOp =
  | { readonly op: "remove-duplicate"; readonly part: DuplicatePart }
  | { readonly op: "map-public-ip"; readonly subnetId: string }
  | { readonly op: "create-vpc"; readonly cidr: string }
  | {
      readonly op: "create-subnet";
      readonly vpcId: string;
      readonly index: number;
      readonly cidr: string;
      readonly zone: string;
    }
  | { readonly op: "create-internet-gateway" }
  | { readonly op: "attach-internet-gateway"; readonly gatewayId: string; readonly vpcId: string }
  | { readonly op: "create-route-table"; readonly vpcId: string }
  | { readonly op: "create-default-route"; readonly routeTableId: string; readonly gatewayId: string }
  | { readonly op: "associate-route-table"; readonly routeTableId: string; readonly subnetId: string }
  | { readonly op: "create-security-group"; readonly role: SecurityRole; readonly vpcId: string }
  | { readonly op: "open-load-balancer"; readonly securityGroupId: string }
  | { readonly op: "create-load-balancer"; readonly subnetIds: readonly string[]; readonly securityGroupId: string }
  | { readonly op: "create-listener"; readonly loadBalancerArn: string; readonly port: 80 | 443 }
  | { readonly op: "create-hosted-zone"; readonly domain: string }
  | { readonly op: "tag-hosted-zone"; readonly id: string; readonly domain: string }
  | { readonly op: "delete-load-balancer"; readonly arn: string }
  | { readonly op: "delete-security-group"; readonly role: SecurityRole; readonly id: string }
  | { readonly op: "delete-route-table"; readonly id: string }
  | { readonly op: "delete-internet-gateway"; readonly id: string; readonly vpcIds: readonly string[] }
  | { readonly op: "delete-subnet"; readonly id: string }
  | { readonly op: "delete-vpc"; readonly id: string }
  | { readonly op: "delete-hosted-zone"; readonly id: string; readonly domain: string };

export const SUBNET_COUNT = 2;

/**
 * The next operations a group's network needs, in dependency order: only those whose inputs
 * exist now. The provider runs them, observes again and plans again until nothing is left.
 */
export function planGroupNetwork(
  desired: DesiredGroupNetwork,
  observed: ObservedGroupNetwork,
  subnetCidr: (index: number) => string,
): GroupOp[] {
  const ops: GroupOp[] = [];
  const vpcId = desired.vpc.mode === "use" ? desired.vpc.id : observed.vpcId;
  if (!vpcId) return desired.vpc.mode === "create" ? [{ op: "create-vpc", cidr: desired.vpc.cidr }] : [];
  let subnetIds: readonly string[];
  if (desired.vpc.mode === "create") {
    const byRole = new Map(observed.subnets.map((s) => [s.role, s.id]));
    for (let index = 0; index < SUBNET_COUNT; index++) {
      if (!byRole.has(`subnet-${index}`))
        ops.push({
          op: "create-subnet",
          vpcId,
          index,
          cidr: subnetCidr(index),
          zone: desired.zones[index % desired.zones.length] ?? "",
        });
    }
    subnetIds = [...byRole.entries()].filter(([role]) => role?.startsWith("subnet-")).map(([, id]) => id);
    // Checked on every pass, not set once: a subnet changed outside AirLoft is set back.
    for (const s of observed.subnets)
      if (s.role?.startsWith("subnet-") && !s.mapPublicIp) ops.push({ op: "map-public-ip", subnetId: s.id });
    const igw = observed.internetGateway;
    if (!igw) ops.push({ op: "create-internet-gateway" });
    else if (!igw.vpcIds.includes(vpcId)) ops.push({ op: "attach-internet-gateway", gatewayId: igw.id, vpcId });
    const table = observed.routeTable;
    if (!table) ops.push({ op: "create-route-table", vpcId });
    else {
      if (!table.hasDefaultRoute && igw?.vpcIds.includes(vpcId))
        ops.push({ op: "create-default-route", routeTableId: table.id, gatewayId: igw.id });
      for (const subnetId of subnetIds)
        if (!table.subnetIds.includes(subnetId))
          ops.push({ op: "associate-route-table", routeTableId: table.id, subnetId });
    }
  } else {
    subnetIds = desired.vpc.subnetIds;
  }
  for (const role of ["lb", "instances", "services"] as const) {
    if (!observed.securityGroups[role]) ops.push({ op: "create-security-group", role, vpcId });
  }
  const lbGroup = observed.securityGroups.lb;
  if (lbGroup && !lbGroup.open) ops.push({ op: "open-load-balancer", securityGroupId: lbGroup.id });
  if (!observed.loadBalancer) {
    if (lbGroup && subnetIds.length >= SUBNET_COUNT)
      ops.push({ op: "create-load-balancer", subnetIds: [...subnetIds].sort(), securityGroupId: lbGroup.id });
  } else {
    const ports: Array<80 | 443> = desired.certificateArn ? [80, 443] : [80];
    for (const port of ports)
      if (!observed.loadBalancer.listenerPorts.includes(port))
        ops.push({ op: "create-listener", loadBalancerArn: observed.loadBalancer.arn, port });
  }
  for (const part of observed.duplicates) ops.push({ op: "remove-duplicate", part });
  return ops;
}

/** The group's hosted zone, created when the spec names a domain but no zone and none has its name. */
export function planHostedZone(
  domain: string | undefined,
  givenId: string | undefined,
  foundId: string | undefined,
  untagged = false,
) {
  const ops: GroupOp[] = domain && !givenId && !foundId ? [{ op: "create-hosted-zone", domain }] : [];
  if (domain && foundId && untagged) ops.push({ op: "tag-hosted-zone", id: foundId, domain });
  return ops;
}

export interface ObservedTeardown {
  readonly network: ObservedGroupNetwork;
  /** Every VPC the group's tags own, duplicates included. */
  readonly vpcIds: readonly string[];
  /** Instances of the group's apps and services still live: the network waits for them. */
  readonly instancesLeft: boolean;
  /** The hosted zone AirLoft created for the group (its tags say so), if any is left. */
  readonly zone: { readonly id: string; readonly domain: string } | undefined;
}

export interface TeardownPlan {
  readonly operations: readonly GroupOp[];
  /** Nothing of the group is left. */
  readonly done: boolean;
}

/**
 * A group's network in dependency order, one layer at a time: the load balancer (it holds
 * interfaces in the subnets for a while), then, once no instance is left, the security groups
 * (instances' and services' refer to the load balancer's), surplus copies, route table, gateway,
 * subnets, VPCs and the hosted zone.
 */
export function planGroupTeardown(observed: ObservedTeardown): TeardownPlan {
  const net = observed.network;
  if (net.loadBalancer) return { operations: [{ op: "delete-load-balancer", arn: net.loadBalancer.arn }], done: false };
  if (observed.instancesLeft) return { operations: [], done: false };
  const ops: GroupOp[] = [];
  for (const role of ["services", "instances", "lb"] as const) {
    const sg = net.securityGroups[role];
    if (sg) ops.push({ op: "delete-security-group", role, id: sg.id });
  }
  for (const part of net.duplicates) ops.push({ op: "remove-duplicate", part });
  if (net.routeTable) ops.push({ op: "delete-route-table", id: net.routeTable.id });
  const gateway = net.internetGateway;
  if (gateway) ops.push({ op: "delete-internet-gateway", id: gateway.id, vpcIds: gateway.vpcIds });
  for (const subnet of net.subnets) ops.push({ op: "delete-subnet", id: subnet.id });
  const duplicateVpcs = new Set(net.duplicates.filter((d) => d.kind === "vpc").map((d) => d.id));
  for (const id of observed.vpcIds) if (!duplicateVpcs.has(id)) ops.push({ op: "delete-vpc", id });
  if (observed.zone) ops.push({ op: "delete-hosted-zone", id: observed.zone.id, domain: observed.zone.domain });
  return { operations: ops, done: ops.length === 0 };
}

export function describeGroupOp(group: string, op: GroupOp): string {
  return formatOperation(`group:${group}`, op.op, groupOpDetail(op));
}

function groupOpDetail(op: GroupOp): string | undefined {
  switch (op.op) {
    case "create-subnet":
      return `${op.cidr} in ${op.zone}`;
    case "create-security-group":
    case "delete-security-group":
      return op.role;
    case "create-listener":
      return String(op.port);
    case "remove-duplicate":
      return `${op.part.kind} ${op.part.id}`;
    case "create-hosted-zone":
    case "tag-hosted-zone":
    case "delete-hosted-zone":
      return op.domain;
    case "delete-subnet":
    case "delete-vpc":
      return op.id;
    default:
      return undefined;
  }
}

export function describeInstanceOp(target: string, op: InstanceOp): string {
  switch (op.op) {
    case "run":
      return formatOperation(`${target}:${op.replica}`, "run-instance", undefined, op.cause);
    case "terminate":
      return formatOperation(target, op.op, op.ids.join(" "), op.cause);
    default:
      return formatOperation(target, op.op, op.ids.join(" "));
  }
}
