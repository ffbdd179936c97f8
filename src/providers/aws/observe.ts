import {
  DescribeInstancesCommand,
  type Filter,
  type Instance,
  type IpPermission,
  paginateDescribeInstances,
  paginateDescribeInternetGateways,
  paginateDescribeRouteTables,
  paginateDescribeSecurityGroups,
  paginateDescribeSubnets,
  paginateDescribeVpcs,
} from "@aws-sdk/client-ec2";
import {
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  paginateDescribeLoadBalancers,
  paginateDescribeTargetGroups,
  type Rule,
  type TargetGroup,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { LABEL, type OwnedLabels, parseOwnedLabels } from "../ownership.js";
import type { AwsClients } from "./clients.js";
import { namePrefix, tagRecord } from "./names.js";

export interface ObservedInstance {
  readonly id: string;
  readonly state: string; // pending | running | stopping | stopped
  readonly owner: OwnedLabels;
  readonly subnetId: string | undefined;
  readonly privateIp: string | undefined;
  readonly launchTime: number;
  readonly zone: string | undefined;
}

export interface ObservedTagged {
  readonly id: string;
  readonly owner: OwnedLabels;
  readonly role: string | undefined;
}

export interface ObservedSubnet extends ObservedTagged {
  readonly vpcId: string;
  readonly az: string;
  readonly cidr: string;
  /** Instances launched here get a public address (they fetch images and runtimes; no NAT is made). */
  readonly mapPublicIp: boolean;
}

export interface ObservedSecurityGroup extends ObservedTagged {
  readonly vpcId: string;
  readonly ingress: readonly IpPermission[];
}

export interface ObservedRouteTable extends ObservedTagged {
  readonly vpcId: string;
  readonly routes: ReadonlyArray<{ readonly destination: string; readonly gatewayId: string | undefined }>;
  readonly subnetIds: readonly string[];
}

export interface ObservedLoadBalancer {
  readonly arn: string;
  readonly name: string;
  readonly dnsName: string;
  readonly zoneId: string;
  readonly vpcId: string;
  readonly listeners: readonly ObservedListener[];
}

export interface ObservedListener {
  readonly arn: string;
  readonly port: number;
  readonly rules: readonly Rule[];
  /**
   * AWS's words when a rule made here was refused for the load balancer's rule limit: no describe
   * call shows the limit reached, the refusal does. It lasts as long as this snapshot, or until a
   * rule of the load balancer is made or removed; the next snapshot learns it again by trying.
   */
  readonly ruleLimit?: string;
}

export interface ObservedTargetGroup {
  readonly arn: string;
  readonly name: string;
  readonly port: number;
  readonly vpcId: string;
  readonly healthCheckPath: string | undefined;
  readonly loadBalancerArns: readonly string[];
}

/** Everything AirLoft owns in one region, read with paginated, tag-filtered Describe calls. */
export interface AwsSnapshot {
  readonly region: string;
  readonly takenAt: number;
  readonly instances: readonly ObservedInstance[];
  readonly vpcs: ReadonlyArray<ObservedTagged & { readonly cidr: string }>;
  readonly subnets: readonly ObservedSubnet[];
  readonly securityGroups: readonly ObservedSecurityGroup[];
  readonly internetGateways: ReadonlyArray<ObservedTagged & { readonly vpcIds: readonly string[] }>;
  readonly routeTables: readonly ObservedRouteTable[];
  readonly loadBalancers: readonly ObservedLoadBalancer[];
  readonly targetGroups: readonly ObservedTargetGroup[];
}

/** The tag that says which part of a group a shared resource plays: vpc, subnet-0, lb, instances. */
export const ROLE_TAG = "airloft.dev/role";

const LIVE_STATES = ["pending", "running", "stopping", "stopped"];

async function collect<P, T>(pages: AsyncIterable<P>, pick: (page: P) => readonly T[] | undefined): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(...(pick(page) ?? []));
  return out;
}

function owned<T extends { Tags?: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined }>(
  item: T,
  id: string | undefined,
): (ObservedTagged & { raw: T }) | undefined {
  const tags = tagRecord(item.Tags);
  const owner = parseOwnedLabels(tags);
  return owner && id ? { id, owner, role: tags[ROLE_TAG], raw: item } : undefined;
}

export async function takeSnapshot(clients: AwsClients, instanceId: string): Promise<AwsSnapshot> {
  const { ec2, elb } = clients;
  const mine: Filter[] = [{ Name: `tag:${LABEL.instance}`, Values: [instanceId] }];
  const prefix = namePrefix(instanceId);
  const [reservations, vpcs, subnets, groups, gateways, tables, balancers, targetGroups] = await Promise.all([
    collect(
      paginateDescribeInstances(
        { client: ec2, pageSize: 1000 },
        { Filters: [...mine, { Name: "instance-state-name", Values: LIVE_STATES }] },
      ),
      (p) => p.Reservations,
    ),
    collect(paginateDescribeVpcs({ client: ec2 }, { Filters: mine }), (p) => p.Vpcs),
    collect(paginateDescribeSubnets({ client: ec2 }, { Filters: mine }), (p) => p.Subnets),
    collect(paginateDescribeSecurityGroups({ client: ec2 }, { Filters: mine }), (p) => p.SecurityGroups),
    collect(paginateDescribeInternetGateways({ client: ec2 }, { Filters: mine }), (p) => p.InternetGateways),
    collect(paginateDescribeRouteTables({ client: ec2 }, { Filters: mine }), (p) => p.RouteTables),
    collect(paginateDescribeLoadBalancers({ client: elb, pageSize: 400 }, {}), (p) => p.LoadBalancers),
    collect(paginateDescribeTargetGroups({ client: elb, pageSize: 400 }, {}), (p) => p.TargetGroups),
  ]);
  // Load balancers and target groups cannot be filtered by tag; their names carry our prefix.
  const ours = balancers.filter((lb) => lb.LoadBalancerName?.startsWith(prefix));
  const loadBalancers = await Promise.all(
    ours.map(async (lb): Promise<ObservedLoadBalancer> => {
      const listeners =
        (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners ?? [];
      return {
        arn: lb.LoadBalancerArn ?? "",
        name: lb.LoadBalancerName ?? "",
        dnsName: lb.DNSName ?? "",
        zoneId: lb.CanonicalHostedZoneId ?? "",
        vpcId: lb.VpcId ?? "",
        listeners: await Promise.all(
          listeners.map(async (l) => ({
            arn: l.ListenerArn ?? "",
            port: l.Port ?? 0,
            rules: await allRules(clients, l.ListenerArn ?? ""),
          })),
        ),
      };
    }),
  );
  return {
    region: clients.region,
    takenAt: Date.now(),
    instances: reservations.flatMap((r) => r.Instances ?? []).flatMap(observedInstance),
    vpcs: vpcs.flatMap((v) => {
      const o = owned(v, v.VpcId);
      return o ? [{ id: o.id, owner: o.owner, role: o.role, cidr: v.CidrBlock ?? "" }] : [];
    }),
    subnets: subnets.flatMap((s) => {
      const o = owned(s, s.SubnetId);
      return o
        ? [
            {
              id: o.id,
              owner: o.owner,
              role: o.role,
              vpcId: s.VpcId ?? "",
              az: s.AvailabilityZone ?? "",
              cidr: s.CidrBlock ?? "",
              mapPublicIp: s.MapPublicIpOnLaunch === true,
            },
          ]
        : [];
    }),
    securityGroups: groups.flatMap((g) => {
      const o = owned(g, g.GroupId);
      return o
        ? [{ id: o.id, owner: o.owner, role: o.role, vpcId: g.VpcId ?? "", ingress: g.IpPermissions ?? [] }]
        : [];
    }),
    internetGateways: gateways.flatMap((g) => {
      const o = owned(g, g.InternetGatewayId);
      return o
        ? [{ id: o.id, owner: o.owner, role: o.role, vpcIds: (g.Attachments ?? []).map((a) => a.VpcId ?? "") }]
        : [];
    }),
    routeTables: tables.flatMap((t) => {
      const o = owned(t, t.RouteTableId);
      return o
        ? [
            {
              id: o.id,
              owner: o.owner,
              role: o.role,
              vpcId: t.VpcId ?? "",
              routes: (t.Routes ?? []).map((r) => ({
                destination: r.DestinationCidrBlock ?? "",
                gatewayId: r.GatewayId,
              })),
              subnetIds: (t.Associations ?? []).flatMap((a) => (a.SubnetId ? [a.SubnetId] : [])),
            },
          ]
        : [];
    }),
    loadBalancers,
    targetGroups: targetGroups.filter((tg) => tg.TargetGroupName?.startsWith(prefix)).map(observedTargetGroup),
  };
}

/** An instance as AirLoft sees it, from Describe or RunInstances; none when it carries no ownership tags. */
export function observedInstance(i: Instance): ObservedInstance[] {
  const owner = parseOwnedLabels(tagRecord(i.Tags));
  if (!owner || !i.InstanceId) return [];
  return [
    {
      id: i.InstanceId,
      state: i.State?.Name ?? "unknown",
      owner,
      subnetId: i.SubnetId,
      privateIp: i.PrivateIpAddress,
      launchTime: i.LaunchTime?.getTime() ?? 0,
      zone: i.Placement?.AvailabilityZone,
    },
  ];
}

export function observedTargetGroup(tg: TargetGroup): ObservedTargetGroup {
  return {
    arn: tg.TargetGroupArn ?? "",
    name: tg.TargetGroupName ?? "",
    port: tg.Port ?? 0,
    vpcId: tg.VpcId ?? "",
    healthCheckPath: tg.HealthCheckPath,
    loadBalancerArns: tg.LoadBalancerArns ?? [],
  };
}

/** The current state of a few instances by id: one call, for those a pass waits on. */
export async function describeInstances(clients: AwsClients, ids: readonly string[]): Promise<ObservedInstance[]> {
  const out = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [...ids] }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).flatMap(observedInstance);
}

/**
 * Read-your-writes: what this process just did, folded into the shared snapshot, so that a
 * create does not cost every concurrent reconcile a new snapshot. Each patch is an upsert by
 * id, safe to apply to a snapshot that already saw the change.
 */
export const patch = {
  instances(changed: readonly ObservedInstance[], removed: readonly string[] = []) {
    return (s: AwsSnapshot): AwsSnapshot => {
      const gone = new Set([...removed, ...changed.filter((i) => !LIVE_STATES.includes(i.state)).map((i) => i.id)]);
      const fresh = new Map(changed.filter((i) => !gone.has(i.id)).map((i) => [i.id, i]));
      const kept = s.instances.filter((i) => !gone.has(i.id) && !fresh.has(i.id));
      return { ...s, instances: [...kept, ...fresh.values()] };
    };
  },
  targetGroup(tg: ObservedTargetGroup) {
    return (s: AwsSnapshot): AwsSnapshot => ({
      ...s,
      targetGroups: [...s.targetGroups.filter((t) => t.arn !== tg.arn), tg],
    });
  },
  targetGroupRemoved(arn: string) {
    return (s: AwsSnapshot): AwsSnapshot => ({ ...s, targetGroups: s.targetGroups.filter((t) => t.arn !== arn) });
  },
  ingress(groupId: string, permission: IpPermission) {
    return (s: AwsSnapshot): AwsSnapshot => ({
      ...s,
      securityGroups: s.securityGroups.map((g) =>
        g.id === groupId ? { ...g, ingress: [...g.ingress, permission] } : g,
      ),
    });
  },
  /** A rule made or removed: the load balancer's rule count changed, so no refusal of it holds. */
  rules(listenerArn: string, change: (rules: readonly Rule[]) => readonly Rule[]) {
    return onListener(listenerArn, (l, same) => {
      const { ruleLimit: _, ...rest } = l;
      return same ? { ...rest, rules: change(l.rules) } : rest;
    });
  },
  ruleLimit(listenerArn: string, words: string) {
    return onListener(listenerArn, (l, same) => (same ? { ...l, ruleLimit: words } : l));
  },
};

/** Changes the listeners of the load balancer that has `listenerArn`; `same` marks that listener. */
function onListener(listenerArn: string, change: (l: ObservedListener, same: boolean) => ObservedListener) {
  return (s: AwsSnapshot): AwsSnapshot => ({
    ...s,
    loadBalancers: s.loadBalancers.map((lb) =>
      lb.listeners.some((l) => l.arn === listenerArn)
        ? { ...lb, listeners: lb.listeners.map((l) => change(l, l.arn === listenerArn)) }
        : lb,
    ),
  });
}
export async function allRules(clients: AwsClients, listenerArn: string): Promise<Rule[]> {
  const rules: Rule[] = [];
  let marker: string | undefined;
  do {
    const page = await clients.elb.send(
      new DescribeRulesCommand({ ListenerArn: listenerArn, PageSize: 400, ...(marker ? { Marker: marker } : {}) }),
    );
    rules.push(...(page.Rules ?? []));
    marker = page.NextMarker;
  } while (marker);
  return rules;
}

export type TargetHealth = ReadonlyMap<string, string>;

export async function describeTargetHealth(clients: AwsClients, targetGroupArn: string): Promise<TargetHealth> {
  const out = await clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return new Map(
    (out.TargetHealthDescriptions ?? []).map((d) => [d.Target?.Id ?? "", d.TargetHealth?.State ?? "unknown"]),
  );
}
