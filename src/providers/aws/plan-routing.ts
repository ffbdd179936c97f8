/**
 * Pure planning of what one app or service owns on AWS besides its instances: its target group,
 * the port its security group opens, its host rules on the group's listeners and its DNS record;
 * and their removal when it is deleted or its owner is gone. Plain data in, operations out.
 */
import type { IpPermission } from "@aws-sdk/client-ec2";
import type { Rule } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { ResourceRecordSet } from "@aws-sdk/client-route-53";
import { formatOperation } from "../converge.js";
import type { ObservedLoadBalancer, ObservedTargetGroup } from "./observe.js";
import type { DesiredInstances, InstanceOp, InstancePlan, InstanceView } from "./plan.js";
import { describeInstanceOp, planInstances } from "./plan.js";
import { type DesiredVolume, type ObservedVolume, planVolume, planVolumeRemoval, type VolumeOp } from "./volumes.js";

export interface HealthCheckSettings {
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  readonly unhealthy: number;
}

export interface DesiredTargetGroup {
  readonly name: string;
  readonly port: number;
  readonly vpcId: string;
  readonly check: HealthCheckSettings;
  readonly tags: Readonly<Record<string, string>>;
}

/** What one app (or service: no target group, no host) should have, beside its launch template. */
export interface DesiredOwner {
  /** "app:shop/web": every operation's target. */
  readonly target: string;
  readonly targetGroup: DesiredTargetGroup | undefined;
  /** Traffic the owner's port must accept, from the load balancer's (or the instances') group. */
  readonly ingress: Ingress;
  readonly host: string | undefined;
  /** The alias record the host should have, when the group has a hosted zone. */
  readonly record: ResourceRecordSet | undefined;
  readonly instances: DesiredInstances;
  /** A service's data volume. */
  readonly volume?: DesiredVolume | undefined;
}

export interface Ingress {
  readonly securityGroupId: string;
  readonly port: number;
  readonly fromGroupId: string;
  /** Why, in the rule's description. */
  readonly what: string;
}

type Tags = Readonly<Record<string, string>>;

/** A host rule on one listener. */
export interface RuleAt {
  readonly listenerArn: string;
  readonly port: number;
  readonly host: string;
}

export interface ObservedOwner {
  readonly targetGroup: ObservedTargetGroup | undefined;
  /** The ingress rules of the owner's security group. */
  readonly ingress: readonly IpPermission[];
  readonly listeners: ObservedLoadBalancer["listeners"];
  /** The A record of the owner's host, if the zone has one. */
  readonly record: ResourceRecordSet | undefined;
  readonly instances: readonly InstanceView[];
  /** The service's data volume, found by its group and name. */
  readonly volume?: ObservedVolume | undefined;
}

export type RoutingOp =
  | { readonly op: "create-target-group"; readonly spec: DesiredTargetGroup }
  | { readonly op: "modify-target-group"; readonly arn: string; readonly path: string }
  | ({ readonly op: "allow-port" } & Ingress)
  | ({ readonly op: "create-rule"; readonly targetGroupArn: string; readonly tags: Tags } & RuleAt)
  | ({ readonly op: "modify-rule"; readonly ruleArn: string } & RuleAt)
  | ({ readonly op: "delete-rule"; readonly ruleArn: string; readonly cause?: string } & RuleAt)
  | { readonly op: "upsert-record"; readonly host: string; readonly record: ResourceRecordSet }
  | { readonly op: "delete-record"; readonly host: string; readonly record: ResourceRecordSet }
  | { readonly op: "delete-target-group"; readonly arn: string; readonly cause?: string };

/** One step for one owner's infrastructure; `target` names the owner, as in every provider's plan. */
export type OwnerOp = (RoutingOp | InstanceOp | VolumeOp) & { readonly target: string };

export interface OwnerPlan extends Omit<InstancePlan, "operations"> {
  readonly operations: readonly OwnerOp[];
}

export function forwardsTo(rule: Rule, targetGroupArn: string): boolean {
  return (rule.Actions ?? []).some(
    (a) =>
      a.TargetGroupArn === targetGroupArn ||
      (a.ForwardConfig?.TargetGroups ?? []).some((t) => t.TargetGroupArn === targetGroupArn),
  );
}

/** The route a rule matches: its host, and for a path route the host and the path ("lb-dns/web"). */
export function hostOf(rule: Rule): string | undefined {
  const conditions = rule.Conditions ?? [];
  const host = conditions.find((c) => c.Field === "host-header");
  const path = conditions.find((c) => c.Field === "path-pattern");
  const name = host?.HostHeaderConfig?.Values?.[0] ?? host?.Values?.[0];
  const prefix = path?.PathPatternConfig?.Values?.[0] ?? path?.Values?.[0];
  return name === undefined ? undefined : `${name}${prefix ?? ""}`;
}

/** Does the ingress let `port` in from another security group (or from everywhere)? */
export function allowsPort(ingress: readonly IpPermission[], port: number, from: { cidr?: string; groupId?: string }) {
  const fromSource = (p: IpPermission) =>
    from.cidr
      ? (p.IpRanges ?? []).some((r) => r.CidrIp === from.cidr)
      : (p.UserIdGroupPairs ?? []).some((g) => g.GroupId === from.groupId);
  return ingress.some(
    (p) =>
      (p.IpProtocol === "tcp" || p.IpProtocol === "-1") &&
      (p.IpProtocol === "-1" || ((p.FromPort ?? 0) <= port && port <= (p.ToPort ?? 0))) &&
      fromSource(p),
  );
}

export function sameAlias(record: ResourceRecordSet | undefined, wanted: ResourceRecordSet | undefined): boolean {
  const [a, b] = [record?.AliasTarget, wanted?.AliasTarget];
  return a?.DNSName?.toLowerCase() === b?.DNSName?.toLowerCase() && a?.HostedZoneId === b?.HostedZoneId;
}

/**
 * An app's target group first (its rules and registrations need its ARN), the port opened for it,
 * then in the next round: one host rule per listener (a duplicate from a retried create removed,
 * the oldest kept), its instances, and its alias record.
 */
export function planOwner(desired: DesiredOwner, observed: ObservedOwner): OwnerPlan {
  const ops: RoutingOp[] = [];
  const { ingress } = desired;
  const opened = allowsPort(observed.ingress, ingress.port, { groupId: ingress.fromGroupId });
  if (!opened) ops.push({ op: "allow-port", ...ingress });
  const wanted = desired.targetGroup;
  const tg = observed.targetGroup;
  if (wanted && !tg) {
    ops.push({ op: "create-target-group", spec: wanted });
    return withTarget(desired.target, ops, { operations: [], readyReplicas: 0, updatedReplicas: 0, converged: false });
  }
  // A port or VPC change needs a new target group; the old one goes once no rule uses it.
  const samePlace = wanted && tg && tg.port === wanted.port && tg.vpcId === wanted.vpcId;
  if (wanted && tg && samePlace && tg.healthCheckPath !== wanted.check.path) {
    ops.push({ op: "modify-target-group", arn: tg.arn, path: wanted.check.path });
  }
  if (wanted && tg && desired.host) ops.push(...planHostRules(observed.listeners, tg.arn, desired.host, wanted.tags));
  const instances = planInstances(desired.instances, observed.instances);
  const { host, record } = desired;
  const stale = host && record && !sameAlias(observed.record, record);
  const tail: Array<RoutingOp | VolumeOp> = stale ? [{ op: "upsert-record", host, record }] : [];
  if (desired.volume) {
    const current = observed.instances.find((i) => i.replica === 0 && i.configHash === desired.instances.configHash);
    const volume = planVolume(desired.volume, observed.volume, current);
    tail.push(...volume.ops);
    if (!volume.attached)
      return withTarget(desired.target, [...ops, ...instances.operations, ...tail], { ...instances, converged: false });
  }
  return withTarget(desired.target, [...ops, ...instances.operations, ...tail], instances);
}

function planHostRules(
  listeners: ObservedLoadBalancer["listeners"],
  targetGroupArn: string,
  host: string,
  tags: Readonly<Record<string, string>>,
): RoutingOp[] {
  const ops: RoutingOp[] = [];
  for (const { arn: listenerArn, port, rules } of listeners) {
    const forwarding = rules.filter((r) => !r.IsDefault && forwardsTo(r, targetGroupArn));
    const [rule, ...extra] = forwarding.sort((a, b) => Number(a.Priority) - Number(b.Priority));
    for (const r of extra) {
      const at = { listenerArn, port, host: hostOf(r) ?? "" };
      if (r.RuleArn) ops.push({ op: "delete-rule", ...at, ruleArn: r.RuleArn, cause: "duplicate" });
    }
    if (!rule) ops.push({ op: "create-rule", listenerArn, port, host, targetGroupArn, tags });
    else if (hostOf(rule) !== host && rule.RuleArn) {
      ops.push({ op: "modify-rule", listenerArn, port, ruleArn: rule.RuleArn, host });
    }
  }
  return ops;
}

function withTarget(
  target: string,
  ops: ReadonlyArray<RoutingOp | InstanceOp | VolumeOp>,
  instances: InstancePlan,
): OwnerPlan {
  const operations = ops.map((op): OwnerOp => ({ ...op, target }));
  return { ...instances, operations, converged: instances.converged && operations.length === 0 };
}

export interface ObservedRemoval extends ObservedOwner {
  /** A removed service's volume is deleted only under Delete. */
  readonly volumePolicy?: "Retain" | "Delete";
  readonly host: string | undefined;
  /** The alias this group's load balancer gives the host: only a record that is one is removed. */
  readonly lbRecord: ResourceRecordSet | undefined;
}

/**
 * Everything one deleted app or service owns, in dependency order: its record (only while it
 * still aliases this group's load balancer), its targets, its instances, its rules, its target group.
 */
export function planOwnerRemoval(target: string, observed: ObservedRemoval): OwnerOp[] {
  const ops: Array<RoutingOp | InstanceOp | VolumeOp> = [];
  const { host, record, lbRecord } = observed;
  if (host && record && lbRecord && sameAlias(record, lbRecord)) ops.push({ op: "delete-record", host, record });
  const registered = observed.instances.filter((i) => i.health !== undefined).map((i) => i.id);
  if (registered.length > 0) ops.push({ op: "deregister", ids: registered });
  const ids = observed.instances.map((i) => i.id);
  if (ids.length > 0) ops.push({ op: "terminate", ids, cause: "deleted" });
  if (observed.targetGroup) ops.push(...routesTo(observed.listeners, observed.targetGroup.arn));
  // The volume goes once its instance is gone (an attached volume cannot be deleted).
  const volume = ids.length === 0 ? planVolumeRemoval(observed.volumePolicy ?? "Retain", observed.volume) : [];
  return [...ops, ...volume].map((op) => ({ ...op, target }));
}

/** The rules that forward to a target group, then the target group. */
function routesTo(listeners: ObservedLoadBalancer["listeners"], arn: string, cause?: string): RoutingOp[] {
  const rules = listeners.flatMap(({ arn: listenerArn, port, rules: all }) =>
    all
      .filter((r) => !r.IsDefault && r.RuleArn && forwardsTo(r, arn))
      .map((r): RoutingOp => {
        const rule = { listenerArn, port, ruleArn: r.RuleArn ?? "", host: hostOf(r) ?? "" };
        return { op: "delete-rule", ...rule, ...(cause ? { cause } : {}) };
      }),
  );
  return [...rules, { op: "delete-target-group", arn, ...(cause ? { cause } : {}) }];
}

export interface GarbageView {
  readonly group: string;
  /** Instances of this group whose owner uid is not live. */
  readonly orphans: ReadonlyArray<{ readonly id: string; readonly kind: string; readonly name: string }>;
  /** Target groups whose tags give them to this group and an owner that is not live. */
  readonly targetGroups: ReadonlyArray<{ readonly arn: string; readonly name: string }>;
  readonly listeners: ObservedLoadBalancer["listeners"];
}

/** What a group holds whose owner is gone: instances terminated per owner, routes and target groups removed. */
export function planGarbage(view: GarbageView): OwnerOp[] {
  const ops: OwnerOp[] = [];
  const byOwner = new Map<string, string[]>();
  for (const o of view.orphans) {
    const target = `${o.kind.toLowerCase()}:${view.group}/${o.name}`;
    byOwner.set(target, [...(byOwner.get(target) ?? []), o.id]);
  }
  for (const [target, ids] of byOwner) ops.push({ op: "terminate", ids, cause: "owner gone", target });
  for (const tg of view.targetGroups) {
    const target = `app:${view.group}/${tg.name}`;
    ops.push(...routesTo(view.listeners, tg.arn, "owner gone").map((op) => ({ ...op, target })));
  }
  return ops;
}

export function describeOwnerOp(op: OwnerOp): string {
  switch (op.op) {
    case "run":
    case "register":
    case "deregister":
    case "terminate":
      return describeInstanceOp(op.target, op);
    case "allow-port":
      return formatOperation(op.target, op.op, String(op.port));
    case "create-rule":
    case "modify-rule":
      return formatOperation(op.target, op.op, `${op.port} ${op.host}`);
    case "delete-rule":
      return formatOperation(op.target, op.op, `${op.port} ${op.host}`, op.cause);
    case "upsert-record":
    case "delete-record":
      return formatOperation(op.target, op.op, op.host);
    case "delete-target-group":
      return formatOperation(op.target, op.op, undefined, op.cause);
    case "create-target-group":
    case "modify-target-group":
      return formatOperation(op.target, op.op);
    case "create-volume":
      return formatOperation(op.target, op.op, `${op.volume.sizeGiB}GiB in ${op.zone}`);
    case "attach-volume":
      return formatOperation(op.target, op.op, `${op.volumeId} to ${op.instanceId}`);
    case "delete-volume":
      return formatOperation(op.target, op.op, op.volumeId, "deletionPolicy Delete");
    case "start":
      return describeInstanceOp(op.target, op);
  }
}
