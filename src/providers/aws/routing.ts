import { AuthorizeSecurityGroupIngressCommand, type IpPermission } from "@aws-sdk/client-ec2";
import {
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  ModifyRuleCommand,
  ModifyTargetGroupCommand,
  type Rule,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import {
  ChangeResourceRecordSetsCommand,
  ChangeTagsForResourceCommand,
  CreateHostedZoneCommand,
  type Change,
  type ResourceRecordSet,
} from "@aws-sdk/client-route-53";
import type { HealthCheck } from "../../resources/types.js";
import type { AwsClients } from "./clients.js";
import { classifyAwsError } from "./errors.js";
import { digest, toTags } from "./names.js";
import type { KeyedLock } from "./keyed-lock.js";
import { allRules, observedTargetGroup, type ObservedLoadBalancer, type ObservedTargetGroup } from "./observe.js";
import { allowsPort } from "./network.js";

/** The load balancer's health check for an app, from its spec (an HTTP path, "/" by default). */
export function targetHealthCheck(check: HealthCheck | undefined): { path: string; interval: number; timeout: number; unhealthy: number } {
  const interval = Math.min(300, Math.max(5, check?.intervalSeconds ?? 15));
  return {
    path: check?.http?.path ?? "/",
    interval,
    timeout: Math.min(interval - 1, Math.max(2, check?.timeoutSeconds ?? 5)),
    unhealthy: Math.min(10, Math.max(2, check?.retries ?? 3)),
  };
}

export async function ensureTargetGroup(
  clients: AwsClients,
  existing: ObservedTargetGroup | undefined,
  wanted: { name: string; port: number; vpcId: string; check: ReturnType<typeof targetHealthCheck>; tags: Record<string, string> },
): Promise<{ change: string; targetGroup: ObservedTargetGroup } | undefined> {
  if (existing && existing.port === wanted.port && existing.vpcId === wanted.vpcId) {
    if (existing.healthCheckPath !== wanted.check.path) {
      const out = await clients.elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: existing.arn, HealthCheckPath: wanted.check.path }));
      return { change: "modify-target-group", targetGroup: out.TargetGroups?.[0] ? observedTargetGroup(out.TargetGroups[0]) : { ...existing, healthCheckPath: wanted.check.path } };
    }
    return undefined;
  }
  // A port or VPC change needs a new target group; the old one goes once no rule uses it.
  if (existing) return undefined;
  const out = await clients.elb.send(new CreateTargetGroupCommand({
    Name: wanted.name,
    Protocol: "HTTP",
    Port: wanted.port,
    VpcId: wanted.vpcId,
    TargetType: "instance",
    HealthCheckProtocol: "HTTP",
    HealthCheckPath: wanted.check.path,
    HealthCheckIntervalSeconds: wanted.check.interval,
    HealthCheckTimeoutSeconds: wanted.check.timeout,
    HealthyThresholdCount: 2,
    UnhealthyThresholdCount: wanted.check.unhealthy,
    Tags: toTags(wanted.tags),
  }));
  const created = out.TargetGroups?.[0];
  if (!created) throw new Error(`CreateTargetGroup ${wanted.name} returned no target group`);
  return { change: "create-target-group", targetGroup: observedTargetGroup(created) };
}

/** Lets traffic in on `port` from another security group, once; returns the rule it added. */
export async function ensureIngress(clients: AwsClients, sg: { id: string; ingress: Parameters<typeof allowsPort>[0] }, port: number, fromGroupId: string, what: string): Promise<IpPermission | undefined> {
  if (allowsPort(sg.ingress, port, { groupId: fromGroupId })) return undefined;
  const permission: IpPermission = { IpProtocol: "tcp", FromPort: port, ToPort: port, UserIdGroupPairs: [{ GroupId: fromGroupId, Description: `AirLoft: ${what}` }] };
  try {
    await clients.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.id, IpPermissions: [permission] }));
  } catch (err) {
    if (classifyAwsError(err) !== "conflict") throw err;
  }
  return permission;
}

function forwardsTo(rule: Rule, targetGroupArn: string): boolean {
  return (rule.Actions ?? []).some((a) => a.TargetGroupArn === targetGroupArn || (a.ForwardConfig?.TargetGroups ?? []).some((t) => t.TargetGroupArn === targetGroupArn));
}

function hostOf(rule: Rule): string | undefined {
  const condition = (rule.Conditions ?? []).find((c) => c.Field === "host-header");
  return condition?.HostHeaderConfig?.Values?.[0] ?? condition?.Values?.[0];
}

function rulesForwardingTo(lb: ObservedLoadBalancer, targetGroupArn: string): Array<{ listenerArn: string; rule: Rule }> {
  return lb.listeners.flatMap((l) => l.rules.filter((r) => !r.IsDefault && forwardsTo(r, targetGroupArn)).map((rule) => ({ listenerArn: l.arn, rule })));
}

/** The lowest priority no rule of the listener holds. */
export function freePriority(rules: readonly Rule[]): number {
  const used = new Set(rules.map((r) => Number(r.Priority)).filter(Number.isFinite));
  let p = 1;
  while (used.has(p)) p++;
  return p;
}

/**
 * One host rule per listener that forwards the app's domain to its target group. Priorities are
 * per listener, so creates on one listener take turns and pick from the rules as they are now.
 */
export async function ensureHostRules(clients: AwsClients, lock: KeyedLock, lb: ObservedLoadBalancer, targetGroupArn: string, host: string, tags: Record<string, string>): Promise<Array<{ change: string; listenerArn: string; rules: Rule[] }>> {
  const done: Array<{ change: string; listenerArn: string; rules: Rule[] }> = [];
  for (const listener of lb.listeners) {
    const seen = listener.rules.filter((r) => !r.IsDefault && forwardsTo(r, targetGroupArn));
    if (seen.length === 1 && hostOf(seen[0]!) === host) continue;
    const change = await lock.run(listener.arn, async () => {
      let rules = await allRules(clients, listener.arn);
      // A create retried after a crash can leave two rules for one app: keep the first.
      const [rule, ...extra] = rules.filter((r) => !r.IsDefault && forwardsTo(r, targetGroupArn)).sort((a, b) => Number(a.Priority) - Number(b.Priority));
      for (const r of extra) if (r.RuleArn) await clients.elb.send(new DeleteRuleCommand({ RuleArn: r.RuleArn }));
      rules = rules.filter((r) => !extra.includes(r));
      if (rule && hostOf(rule) === host) return extra.length > 0 ? { change: `delete-duplicate-rule ${listener.port} ${host}`, listenerArn: listener.arn, rules } : undefined;
      if (rule?.RuleArn) {
        const out = await clients.elb.send(new ModifyRuleCommand({ RuleArn: rule.RuleArn, Conditions: [{ Field: "host-header", HostHeaderConfig: { Values: [host] } }] }));
        return { change: `modify-rule ${listener.port} ${host}`, listenerArn: listener.arn, rules: [...rules.filter((r) => r.RuleArn !== rule.RuleArn), ...(out.Rules ?? [])] };
      }
      const out = await clients.elb.send(new CreateRuleCommand({
        ListenerArn: listener.arn,
        Priority: freePriority(rules),
        Conditions: [{ Field: "host-header", HostHeaderConfig: { Values: [host] } }],
        Actions: [{ Type: "forward", TargetGroupArn: targetGroupArn }],
        Tags: toTags(tags),
      }));
      return { change: `create-rule ${listener.port} ${host}`, listenerArn: listener.arn, rules: [...rules, ...(out.Rules ?? [])] };
    });
    if (change) done.push(change);
  }
  return done;
}

export async function removeRoutes(clients: AwsClients, lb: ObservedLoadBalancer | undefined, targetGroupArn: string): Promise<string[]> {
  const done: string[] = [];
  for (const { rule } of lb ? rulesForwardingTo(lb, targetGroupArn) : []) {
    if (!rule.RuleArn) continue;
    await clients.elb.send(new DeleteRuleCommand({ RuleArn: rule.RuleArn }));
    done.push(`delete-rule ${hostOf(rule) ?? ""}`.trim());
  }
  try {
    await clients.elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: targetGroupArn }));
    done.push("delete-target-group");
  } catch (err) {
    if (classifyAwsError(err) !== "not-found") throw err;
  }
  return done;
}

function fqdn(name: string): string {
  return name.endsWith(".") ? name : `${name}.`;
}

export function aliasRecord(host: string, lb: ObservedLoadBalancer): ResourceRecordSet {
  return { Name: fqdn(host), Type: "A", AliasTarget: { HostedZoneId: lb.zoneId, DNSName: fqdn(lb.dnsName), EvaluateTargetHealth: true } };
}

/** An A record for `host` that already aliases this load balancer. */
export function findRecord(records: readonly ResourceRecordSet[], host: string): ResourceRecordSet | undefined {
  return records.find((r) => r.Type === "A" && r.Name?.toLowerCase() === fqdn(host).toLowerCase());
}

export function sameAlias(record: ResourceRecordSet | undefined, wanted: ResourceRecordSet): boolean {
  return record?.AliasTarget?.DNSName?.toLowerCase() === wanted.AliasTarget?.DNSName?.toLowerCase() && record?.AliasTarget?.HostedZoneId === wanted.AliasTarget?.HostedZoneId;
}

/**
 * Collects record changes for a short window and sends them as one ChangeResourceRecordSets per
 * zone: a pass over many apps makes one call per zone, not one per app.
 */
export class RecordBatcher {
  private readonly pending = new Map<string, { changes: Map<string, Change>; waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>; timer: NodeJS.Timeout }>();

  constructor(private readonly clients: (zoneId: string) => AwsClients, private readonly windowMs = 25) {}

  change(zoneId: string, change: Change): Promise<void> {
    let batch = this.pending.get(zoneId);
    if (!batch) {
      const timer = setTimeout(() => void this.flush(zoneId), this.windowMs);
      batch = { changes: new Map(), waiters: [], timer };
      this.pending.set(zoneId, batch);
    }
    batch.changes.set(`${change.ResourceRecordSet?.Name}|${change.ResourceRecordSet?.Type}`, change);
    const b = batch;
    return new Promise((resolve, reject) => b.waiters.push({ resolve, reject }));
  }

  private async flush(zoneId: string): Promise<void> {
    const batch = this.pending.get(zoneId);
    if (!batch) return;
    this.pending.delete(zoneId);
    try {
      await this.clients(zoneId).route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Comment: "AirLoft", Changes: [...batch.changes.values()] } }));
      for (const w of batch.waiters) w.resolve();
    } catch (err) {
      for (const w of batch.waiters) w.reject(err);
    }
  }
}

/** Creates the group's hosted zone; the caller reference makes a retried create the same zone. */
export async function createZone(clients: AwsClients, domain: string, callerKey: string, tags: Record<string, string>): Promise<string> {
  const out = await clients.route53.send(new CreateHostedZoneCommand({ Name: domain, CallerReference: digest("zone", callerKey, domain).slice(0, 64), HostedZoneConfig: { Comment: `AirLoft ${tags["airloft.dev/group"] ?? ""}` } }));
  const id = (out.HostedZone?.Id ?? "").replace(/^\/hostedzone\//, "");
  await clients.route53.send(new ChangeTagsForResourceCommand({ ResourceType: "hostedzone", ResourceId: id, AddTags: toTags(tags) }));
  return id;
}
