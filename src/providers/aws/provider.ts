import { DeleteHostedZoneCommand, ListTagsForResourceCommand, type ResourceRecordSet } from "@aws-sdk/client-route-53";
import { DescribeTagsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ProviderUnavailableError } from "../../errors.js";
import { SERVICE_TEMPLATES, type ServiceCredentials } from "../../resources/templates.js";
import type { App, AwsGroupStatus, Group, GroupStatus, ReplicaStatus, Service } from "../../resources/types.js";
import { LABEL, ownerLabels } from "../ownership.js";
import { SnapshotCache } from "../snapshot-cache.js";
import type { AppOutcome, AppReconcileOptions, InfraProvider, ReconcileOptions, ServiceOutcome } from "../types.js";
import { CallCounter, createClients, createLimiters, DEFAULT_RATES, type ApiFamily, type AwsClients } from "./clients.js";
import { executeInstanceOps, type LaunchTemplate } from "./instances.js";
import { KeyedLock } from "./keyed-lock.js";
import { digest, namePrefix, subnetCidr, tagRecord, targetGroupName } from "./names.js";
import { executeGroupOp, groupTags, observedNetwork, teardownNetwork } from "./network.js";
import { availabilityZones, defaultAmi, describeForeignVpc, describeInstances, describeTargetHealth, findZone, listRecords, patch, takeSnapshot, type AwsSnapshot, type ObservedInstance, type TargetHealth } from "./observe.js";
import { describeGroupOp, describeInstanceOp, planGroupNetwork, planInstances, type DesiredGroupNetwork, type DesiredInstances, type InstanceOp, type InstancePlan, type InstanceView } from "./plan.js";
import { aliasRecord, ensureHostRules, ensureIngress, ensureTargetGroup, findRecord, RecordBatcher, removeRoutes, sameAlias, targetHealthCheck, createZone } from "./routing.js";
import { awsAddress, awsRegion } from "./settings.js";
import { renderUserData, type InstanceProgram } from "./userdata.js";

export interface AwsProviderOptions {
  readonly instanceId: string;
  readonly env?: NodeJS.ProcessEnv;
  /** How long one snapshot serves a pass; changes made here invalidate it at once. */
  readonly snapshotMaxAgeMs?: number;
  /**
   * Target health and DNS records of converged apps are read this often (5 min by default);
   * AirLoft's own changes, and an app still waiting for health, read them again at once.
   */
  readonly slowMaxAgeMs?: number;
  readonly rates?: Readonly<Record<ApiFamily, { perSecond: number; burst: number }>>;
  readonly maxAttempts?: number;
}

const MAX_ROUNDS = 6;
const DEFAULT_INSTANCE_TYPE = "t3.micro";

/** EC2, VPC, Application Load Balancers and Route 53 as an InfraProvider. */
export class AwsProvider implements InfraProvider {
  readonly name = "aws" as const;
  readonly calls = new CallCounter();
  private readonly instanceId: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly options: AwsProviderOptions;
  private readonly limiters;
  private readonly clientsByRegion = new Map<string, AwsClients>();
  private readonly snapshots: SnapshotCache<AwsSnapshot>;
  private readonly targetHealth: SnapshotCache<TargetHealth>;
  private readonly records: SnapshotCache<ResourceRecordSet[]>;
  /** Slow-changing facts, read again after minutes: zones and the default AMI by region, a foreign VPC by "region|id", a zone id by domain. */
  private readonly zones: SnapshotCache<string[]>;
  private readonly amis: SnapshotCache<string>;
  private readonly foreignVpcs: SnapshotCache<{ vpcId: string; subnetIds: string[] }>;
  private readonly zoneIds: SnapshotCache<string | null>;
  private readonly batcher: RecordBatcher;
  private readonly listenerLock = new KeyedLock();

  constructor(options: AwsProviderOptions) {
    this.options = options;
    this.instanceId = options.instanceId;
    this.env = options.env ?? process.env;
    this.limiters = createLimiters(options.rates ?? DEFAULT_RATES);
    const slow = options.slowMaxAgeMs ?? 300_000;
    this.snapshots = new SnapshotCache((region) => takeSnapshot(this.clients(region), this.instanceId), options.snapshotMaxAgeMs ?? 10_000);
    // Keyed by target group ARN, which names its region.
    this.targetHealth = new SnapshotCache((arn) => describeTargetHealth(this.clients(arn.split(":")[3] ?? this.region()), arn), slow);
    this.records = new SnapshotCache((zoneId) => listRecords(this.clients(this.region()), zoneId), slow);
    const minutes = 10 * 60_000;
    this.zones = new SnapshotCache((region) => availabilityZones(this.clients(region)), minutes);
    this.amis = new SnapshotCache((region) => defaultAmi(this.clients(region)), minutes);
    this.foreignVpcs = new SnapshotCache((key) => {
      const [region = "", id = "default"] = key.split("|");
      return describeForeignVpc(this.clients(region), id);
    }, minutes);
    this.zoneIds = new SnapshotCache(async (domain) => (await findZone(this.clients(this.region()), domain)) ?? null, minutes);
    // A longer window than a reconcile takes, so that the apps of a pass share a change batch.
    this.batcher = new RecordBatcher(() => this.clients(this.region()), 200);
  }

  region(group?: Group): string {
    return awsRegion(group, this.env);
  }

  address(group: Group): string {
    return awsAddress(group, this.env);
  }

  clients(region: string): AwsClients {
    let clients = this.clientsByRegion.get(region);
    if (!clients) {
      clients = createClients({ region, env: this.env, counter: this.calls, limiters: this.limiters, ...(this.options.maxAttempts ? { maxAttempts: this.options.maxAttempts } : {}) });
      this.clientsByRegion.set(region, clients);
    }
    return clients;
  }

  /** Drops the shared snapshot of a region, so the next reconcile observes afresh: after a change it cannot patch in, or for a resync. */
  forget(region: string): void {
    this.snapshots.invalidate(region);
  }

  // ---- Group ----

  async reconcileGroup(group: Group, options: ReconcileOptions = {}): Promise<Partial<GroupStatus>> {
    const region = this.region(group);
    const clients = this.clients(region);
    const desired = await this.desiredNetwork(group, region);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const observed = observedNetwork(await this.snapshots.get(region), group, this.instanceId);
      const cidr = desired.vpc.mode === "create" ? desired.vpc.cidr : "";
      const ops = planGroupNetwork(desired, observed, (i) => subnetCidr(cidr, 4, i));
      if (ops.length === 0) break;
      for (const op of ops) {
        await executeGroupOp(clients, group, this.instanceId, op);
        options.onOperation?.(describeGroupOp(group.metadata.name, op));
      }
      this.forget(region);
    }
    const hostedZoneId = await this.ensureZone(group, options);
    return { provider: "aws", aws: this.groupFacts(await this.snapshots.get(region), group, desired, hostedZoneId) };
  }

  private async desiredNetwork(group: Group, region: string): Promise<DesiredGroupNetwork> {
    const vpc = group.spec.aws?.vpc;
    const zones = await this.zones.get(region);
    if (vpc?.create) return { vpc: { mode: "create", cidr: vpc.create.cidr }, zones, certificateArn: group.spec.aws?.certificateArn };
    const foreign = await this.foreignVpcs.get(`${region}|${vpc?.id ?? "default"}`);
    return { vpc: { mode: "use", id: foreign.vpcId, subnetIds: foreign.subnetIds }, zones, certificateArn: group.spec.aws?.certificateArn };
  }

  private groupFacts(snapshot: AwsSnapshot, group: Group, desired: DesiredGroupNetwork, hostedZoneId: string | undefined): AwsGroupStatus {
    const net = observedNetwork(snapshot, group, this.instanceId);
    const subnetIds = desired.vpc.mode === "use" ? [...desired.vpc.subnetIds] : net.subnets.filter((s) => s.role?.startsWith("subnet-")).map((s) => s.id).sort();
    const vpcId = desired.vpc.mode === "use" ? desired.vpc.id : net.vpcId;
    return {
      region: snapshot.region,
      ...(vpcId ? { vpcId } : {}),
      subnetIds,
      securityGroups: {
        ...(net.securityGroups.lb ? { loadBalancer: net.securityGroups.lb.id } : {}),
        ...(net.securityGroups.instances ? { instances: net.securityGroups.instances.id } : {}),
        ...(net.securityGroups.services ? { services: net.securityGroups.services.id } : {}),
      },
      ...(net.lb ? { loadBalancer: { arn: net.lb.arn, dnsName: net.lb.dnsName } } : {}),
      ...(hostedZoneId ? { hostedZoneId } : {}),
    };
  }

  /** The group's hosted zone: given by id, found by name, or created and tagged as ours. */
  private async ensureZone(group: Group, options: ReconcileOptions): Promise<string | undefined> {
    const aws = group.spec.aws;
    if (!aws?.domain) return undefined;
    if (aws.hostedZoneId) return aws.hostedZoneId;
    const found = await this.zoneIds.get(aws.domain);
    if (found) return found;
    const id = await createZone(this.clients(this.region(group)), aws.domain, `${this.instanceId}/${group.metadata.uid ?? ""}`, groupTags(group, this.instanceId, "zone"));
    this.zoneIds.seed(aws.domain, id);
    options.onOperation?.(`group:${group.metadata.name} create-hosted-zone ${aws.domain}`);
    return id;
  }

  async finalizeGroup(group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    const region = this.region(group);
    const clients = this.clients(region);
    const report = options.onOperation ?? (() => {});
    const done = await teardownNetwork(clients, await this.snapshots.get(region), group, this.instanceId, report);
    this.forget(region);
    if (!done) return false;
    const domain = group.spec.aws?.domain;
    if (domain && !group.spec.aws?.hostedZoneId) {
      const zoneId = await this.zoneIds.get(domain);
      if (zoneId && (await this.ownsZone(clients, zoneId, group))) {
        await clients.route53.send(new DeleteHostedZoneCommand({ Id: zoneId }));
        this.zoneIds.seed(domain, null);
        report(`group:${group.metadata.name} delete-hosted-zone ${domain}`);
      }
    }
    return true;
  }

  private async ownsZone(clients: AwsClients, zoneId: string, group: Group): Promise<boolean> {
    const out = await clients.route53.send(new ListTagsForResourceCommand({ ResourceType: "hostedzone", ResourceId: zoneId }));
    const tags = tagRecord(out.ResourceTagSet?.Tags);
    return tags[LABEL.instance] === this.instanceId && tags[LABEL.uid] === group.metadata.uid;
  }

  // ---- Apps and services ----

  private async network(group: Group): Promise<{ snapshot: AwsSnapshot; net: ReturnType<typeof observedNetwork>; vpcId: string; subnetIds: string[]; zoneId: string | undefined }> {
    const region = this.region(group);
    const snapshot = await this.snapshots.get(region);
    const facts = group.status?.aws;
    const net = observedNetwork(snapshot, group, this.instanceId);
    const vpcId = facts?.vpcId;
    const subnetIds = facts?.subnetIds ?? [];
    if (!vpcId || subnetIds.length === 0 || !net.lb || !net.securityGroups.instances || !net.securityGroups.services || !net.securityGroups.lb) {
      throw new ProviderUnavailableError("WaitingForGroup", `group ${group.metadata.name}'s network and load balancer are not ready yet`);
    }
    return { snapshot, net, vpcId, subnetIds, zoneId: facts?.hostedZoneId };
  }

  private program(label: string, app: App, bindings: Readonly<Record<string, string>>): InstanceProgram {
    return { label, runtime: app.spec.runtime ?? "docker", image: app.spec.image, source: app.spec.source, command: app.spec.command, env: { ...app.spec.env, ...bindings }, port: app.spec.port ?? 80 };
  }

  private async launchTemplate(owner: { kind: string; group: Group; name: string; uid: string }, program: InstanceProgram, spec: { ami?: string | undefined; instanceType?: string | undefined }, subnetIds: string[], securityGroupId: string, targetGroupArn: string | undefined): Promise<LaunchTemplate> {
    const region = this.region(owner.group);
    const imageId = spec.ami ?? (await this.amis.get(region));
    const instanceType = spec.instanceType ?? DEFAULT_INSTANCE_TYPE;
    const userData = renderUserData(program);
    const configHash = digest(userData, imageId, instanceType).slice(0, 12);
    const base = { instance: this.instanceId, group: owner.group.metadata.name, kind: owner.kind, name: owner.name, uid: owner.uid, configHash };
    return {
      uid: owner.uid, configHash, imageId, instanceType, userData, subnetIds, securityGroupId, targetGroupArn, port: program.port,
      tags: (replica) => ({ ...ownerLabels({ ...base, replica }), Name: `airloft-${owner.group.metadata.name}-${owner.name}-${replica}` }),
    };
  }

  private views(snapshot: AwsSnapshot, uid: string, health: TargetHealth | undefined): { instances: ObservedInstance[]; views: InstanceView[] } {
    const instances = snapshot.instances.filter((i) => i.owner.uid === uid);
    return {
      instances,
      views: instances.map((i) => ({ id: i.id, replica: i.owner.replica, configHash: i.owner.configHash, state: i.state, launchTime: i.launchTime, health: health?.get(i.id) })),
    };
  }

  async reconcileApp(app: App, group: Group, options: AppReconcileOptions = {}): Promise<AppOutcome> {
    const region = this.region(group);
    const clients = this.clients(region);
    const uid = app.metadata.uid ?? "";
    const target = `app:${group.metadata.name}/${app.metadata.name}`;
    const { operations, report } = recorder(options);
    const program = this.program(`app ${group.metadata.name}/${app.metadata.name}`, app, options.bindings ?? {});
    const port = program.port ?? 80;
    let { snapshot, net, vpcId, subnetIds, zoneId } = await this.network(group);
    const lb = net.lb!;
    const tgName = targetGroupName(this.instanceId, uid);
    const ownTags = ownerLabels({ instance: this.instanceId, group: group.metadata.name, kind: "App", name: app.metadata.name, uid });
    const tgChange = await ensureTargetGroup(clients, snapshot.targetGroups.find((t) => t.name === tgName), { name: tgName, port, vpcId, check: targetHealthCheck(app.spec.healthCheck), tags: ownTags });
    if (tgChange) {
      report(`${target} ${tgChange.change}`);
      this.snapshots.patch(region, patch.targetGroup(tgChange.targetGroup));
      // A new target group has no targets: no need to ask for their health.
      if (tgChange.change === "create-target-group") this.targetHealth.seed(tgChange.targetGroup.arn, new Map());
    }
    const instancesSg = snapshot.securityGroups.find((s) => s.id === net.securityGroups.instances!.id)!;
    const opened = await ensureIngress(clients, instancesSg, port, net.securityGroups.lb!.id, `app port ${port} from the load balancer`);
    if (opened) {
      report(`${target} allow-port ${port}`);
      this.snapshots.patch(region, patch.ingress(instancesSg.id, opened));
    }
    if (tgChange || opened) ({ snapshot, net } = await this.network(group));
    const tg = snapshot.targetGroups.find((t) => t.name === tgName);
    if (!tg) throw new ProviderUnavailableError("WaitingForTargetGroup", `target group ${tgName} is not visible yet`);
    const host = this.hostOf(app, group);
    if (host) {
      for (const done of await ensureHostRules(clients, this.listenerLock, net.lb!, tg.arn, host, ownTags)) {
        report(`${target} ${done.change}`);
        this.snapshots.patch(region, patch.rules(done.listenerArn, done.rules));
      }
    }
    const desiredReplicas = Math.min(app.spec.replicas ?? 1, options.scaleUpLimit ?? Number.POSITIVE_INFINITY);
    const launch = await this.launchTemplate({ kind: "App", group, name: app.metadata.name, uid }, program, app.spec, subnetIds, net.securityGroups.instances!.id, tg.arn);
    const desired = { replicas: desiredReplicas, configHash: launch.configHash, strategy: app.spec.strategy?.type ?? "RollingUpdate", registers: true } as const;
    const healthKey = tg.arn;
    let plan: InstancePlan;
    ({ snapshot, plan } = await this.convergeInstances(region, launch, desired, target, report, healthKey));
    const dns = host && zoneId ? await this.ensureRecord(zoneId, host, lb, target, report) : true;
    const health = await this.targetHealth.get(healthKey);
    // Still waiting for targets to turn healthy: the next pass must see them fresh.
    if (!plan.converged) this.targetHealth.invalidate(healthKey);
    const { instances } = this.views(snapshot, uid, health);
    return {
      replicas: replicaStatuses(instances, health, launch.configHash, port),
      readyReplicas: plan.readyReplicas,
      updatedReplicas: plan.updatedReplicas,
      converged: plan.converged && dns,
      operations,
      image: app.spec.image ?? app.spec.source?.url ?? "",
      ...(host ? { url: `http://${host}` } : {}),
    };
  }

  /**
   * Plans and runs one owner's instances until nothing more can be done now. Between rounds it
   * folds its own launches and terminations into the snapshot and reads again, by id, only the
   * instances it waits on: one call instead of a new snapshot.
   */
  private async convergeInstances(region: string, launch: LaunchTemplate, desired: DesiredInstances, target: string, report: (op: string) => void, healthKey: string | undefined): Promise<{ snapshot: AwsSnapshot; plan: InstancePlan }> {
    const health = async () => (healthKey ? await this.targetHealth.get(healthKey) : undefined);
    let snapshot = await this.refreshWaiting(region, launch.uid);
    let plan = planInstances(desired, this.views(snapshot, launch.uid, await health()).views);
    for (let round = 0; round < MAX_ROUNDS && plan.operations.length > 0; round++) {
      const result = await executeInstanceOps(this.clients(region), plan.operations, { launch, targetGroupArn: launch.targetGroupArn, port: launch.port });
      for (const op of plan.operations) report(describeInstanceOp(target, op));
      this.snapshots.patch(region, patch.instances(result.launched, result.terminated));
      if (healthKey && plan.operations.some((o) => o.op !== "run")) this.targetHealth.invalidate(healthKey);
      snapshot = await this.refreshWaiting(region, launch.uid);
      plan = planInstances(desired, this.views(snapshot, launch.uid, await health()).views);
    }
    return { snapshot, plan };
  }

  /** The region's snapshot, with this owner's pending or stopping instances read again by id. */
  private async refreshWaiting(region: string, uid: string): Promise<AwsSnapshot> {
    const snapshot = await this.snapshots.get(region);
    const waiting = snapshot.instances.filter((i) => i.owner.uid === uid && (i.state === "pending" || i.state === "stopping")).map((i) => i.id);
    if (waiting.length === 0) return snapshot;
    const fresh = await describeInstances(this.clients(region), waiting);
    this.snapshots.patch(region, patch.instances(fresh, waiting.filter((id) => !fresh.some((i) => i.id === id))));
    return this.snapshots.get(region);
  }

  private hostOf(app: App, group: Group): string | undefined {
    if (app.spec.expose?.domain) return app.spec.expose.domain;
    const domain = group.spec.aws?.domain;
    return domain ? `${app.metadata.name}.${domain}` : undefined;
  }

  private async ensureRecord(zoneId: string, host: string, lb: NonNullable<ReturnType<typeof observedNetwork>["lb"]>, target: string, report: (op: string) => void): Promise<boolean> {
    const wanted = aliasRecord(host, lb);
    if (sameAlias(findRecord(await this.records.get(zoneId), host), wanted)) return true;
    await this.batcher.change(zoneId, { Action: "UPSERT", ResourceRecordSet: wanted });
    // Read-your-writes: the zone's records are not listed again for every app.
    this.records.patch(zoneId, (records) => [...records.filter((r) => r !== findRecord(records, host)), wanted]);
    report(`${target} upsert-record ${host}`);
    return true;
  }

  async planApp(app: App, group: Group, bindings: Readonly<Record<string, string>> = {}): Promise<readonly string[]> {
    const target = `app:${group.metadata.name}/${app.metadata.name}`;
    const { snapshot, net, subnetIds } = await this.network(group);
    const uid = app.metadata.uid ?? "";
    const tg = snapshot.targetGroups.find((t) => t.name === targetGroupName(this.instanceId, uid));
    const program = this.program(`app ${group.metadata.name}/${app.metadata.name}`, app, bindings);
    const launch = await this.launchTemplate({ kind: "App", group, name: app.metadata.name, uid }, program, app.spec, subnetIds, net.securityGroups.instances!.id, tg?.arn);
    const health = tg ? await this.targetHealth.get(tg.arn) : undefined;
    const plan = planInstances({ replicas: app.spec.replicas ?? 1, configHash: launch.configHash, strategy: app.spec.strategy?.type ?? "RollingUpdate", registers: true }, this.views(snapshot, uid, health).views);
    return [...(tg ? [] : [`${target} create-target-group`]), ...plan.operations.map((op) => describeInstanceOp(target, op))];
  }

  async finalizeApp(app: App, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    return this.removeOwned(group, app.metadata.uid ?? "", `app:${group.metadata.name}/${app.metadata.name}`, this.hostOf(app, group), options);
  }

  /** Removes everything one app or service owns: record, rules, targets, instances, target group. */
  private async removeOwned(group: Group, uid: string, target: string, host: string | undefined, options: ReconcileOptions): Promise<boolean> {
    const region = this.region(group);
    const clients = this.clients(region);
    const report = (op: string) => options.onOperation?.(op);
    const snapshot = await this.snapshots.get(region);
    const net = observedNetwork(snapshot, group, this.instanceId);
    const tg = snapshot.targetGroups.find((t) => t.name === targetGroupName(this.instanceId, uid));
    const zoneId = group.status?.aws?.hostedZoneId;
    if (host && zoneId && net.lb) {
      const record = findRecord(await this.records.get(zoneId), host);
      if (record && sameAlias(record, aliasRecord(host, net.lb))) {
        await this.batcher.change(zoneId, { Action: "DELETE", ResourceRecordSet: record });
        this.records.patch(zoneId, (records) => records.filter((r) => r !== findRecord(records, host)));
        report(`${target} delete-record ${host}`);
      }
    }
    const instances = snapshot.instances.filter((i) => i.owner.uid === uid);
    const health = tg ? await this.targetHealth.get(tg.arn) : undefined;
    const registered = instances.filter((i) => health?.has(i.id)).map((i) => i.id);
    const ops: InstanceOp[] = [
      ...(registered.length > 0 ? [{ op: "deregister" as const, ids: registered }] : []),
      ...(instances.length > 0 ? [{ op: "terminate" as const, ids: instances.map((i) => i.id), cause: "deleted" }] : []),
    ];
    if (ops.length > 0) {
      await executeInstanceOps(clients, ops, { targetGroupArn: tg?.arn });
      for (const op of ops) report(describeInstanceOp(target, op));
    }
    if (tg) {
      for (const op of await removeRoutes(clients, net.lb, tg.arn)) report(`${target} ${op}`);
      this.targetHealth.invalidate(tg.arn);
    }
    this.forget(region);
    const after = await this.snapshots.get(region);
    return !after.instances.some((i) => i.owner.uid === uid) && !after.targetGroups.some((t) => t.name === targetGroupName(this.instanceId, uid));
  }

  async reconcileService(service: Service, group: Group, creds: ServiceCredentials, options: ReconcileOptions = {}): Promise<ServiceOutcome> {
    const region = this.region(group);
    const clients = this.clients(region);
    const template = SERVICE_TEMPLATES[service.spec.template];
    const uid = service.metadata.uid ?? "";
    const target = `service:${group.metadata.name}/${service.metadata.name}`;
    const { operations, report } = recorder(options);
    const { snapshot: before, net, subnetIds } = await this.network(group);
    const servicesSg = before.securityGroups.find((s) => s.id === net.securityGroups.services!.id)!;
    const opened = await ensureIngress(clients, servicesSg, template.port, net.securityGroups.instances!.id, `${template.name} from the group's instances`);
    if (opened) {
      report(`${target} allow-port ${template.port}`);
      this.snapshots.patch(region, patch.ingress(servicesSg.id, opened));
    }
    const program: InstanceProgram = {
      label: `service ${group.metadata.name}/${service.metadata.name}`,
      runtime: "docker",
      image: service.spec.image ?? template.image(service.spec.version),
      source: undefined,
      command: template.command ? [...template.command] : undefined,
      env: template.env(creds, service.metadata.name),
      port: template.port,
    };
    const launch = await this.launchTemplate({ kind: "Service", group, name: service.metadata.name, uid }, program, {}, subnetIds, net.securityGroups.services!.id, undefined);
    const desired = { replicas: 1, configHash: launch.configHash, strategy: "Recreate", registers: false } as const;
    const { snapshot, plan } = await this.convergeInstances(region, launch, desired, target, report, undefined);
    const { instances } = this.views(snapshot, uid, undefined);
    const current = instances.find((i) => i.owner.configHash === launch.configHash && i.state === "running");
    return {
      replicas: replicaStatuses(instances, undefined, launch.configHash, template.port),
      readyReplicas: plan.readyReplicas,
      updatedReplicas: plan.updatedReplicas,
      converged: plan.converged && current?.privateIp !== undefined,
      operations,
      image: program.image ?? "",
      volume: "",
      ...(current?.privateIp ? { host: current.privateIp } : {}),
    };
  }

  async finalizeService(service: Service, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    return this.removeOwned(group, service.metadata.uid ?? "", `service:${group.metadata.name}/${service.metadata.name}`, undefined, options);
  }

  /**
   * Terminates instances and removes target groups of this group whose owner is gone. Target
   * group names are hashes, so an unknown one is checked by its tags before anything is removed.
   */
  async collectGarbage(group: Group, liveUids: ReadonlySet<string>, options: ReconcileOptions = {}): Promise<readonly string[]> {
    const region = this.region(group);
    const clients = this.clients(region);
    const snapshot = await this.snapshots.get(region);
    const removed: string[] = [];
    const orphans = snapshot.instances.filter((i) => i.owner.group === group.metadata.name && !liveUids.has(i.owner.uid));
    if (orphans.length > 0) {
      await executeInstanceOps(clients, [{ op: "terminate", ids: orphans.map((i) => i.id), cause: "owner gone" }], {});
      for (const i of orphans) removed.push(`${i.owner.kind.toLowerCase()}:${group.metadata.name}/${i.owner.name}:${i.owner.replica ?? 0} terminate ${i.id} (owner gone)`);
    }
    const lb = observedNetwork(snapshot, group, this.instanceId).lb;
    const liveNames = new Set([...liveUids].map((uid) => targetGroupName(this.instanceId, uid)));
    const unknown = snapshot.targetGroups.filter((t) => t.name.startsWith(namePrefix(this.instanceId)) && !liveNames.has(t.name));
    for (let i = 0; i < unknown.length; i += 20) {
      const batch = unknown.slice(i, i + 20);
      const tags = (await clients.elb.send(new DescribeTagsCommand({ ResourceArns: batch.map((t) => t.arn) }))).TagDescriptions ?? [];
      for (const d of tags) {
        const owner = tagRecord(d.Tags);
        if (owner[LABEL.instance] !== this.instanceId || owner[LABEL.group] !== group.metadata.name || liveUids.has(owner[LABEL.uid] ?? "")) continue;
        await removeRoutes(clients, lb, d.ResourceArn ?? "");
        removed.push(`app:${group.metadata.name}/${owner[LABEL.name] ?? "?"} delete-target-group (owner gone)`);
      }
    }
    if (removed.length > 0) this.forget(region);
    for (const r of removed) options.onOperation?.(r);
    return removed;
  }
}

/** Collects what a reconcile did and passes each operation on as it happens. */
function recorder(options: ReconcileOptions): { operations: string[]; report: (op: string) => void } {
  const operations: string[] = [];
  return {
    operations,
    report: (op) => {
      operations.push(op);
      options.onOperation?.(op);
    },
  };
}

function replicaStatuses(instances: readonly ObservedInstance[], health: TargetHealth | undefined, configHash: string, port: number): ReplicaStatus[] {
  return instances
    .map((i): ReplicaStatus => {
      const state = health?.get(i.id);
      return {
      replica: i.owner.replica ?? -1,
      containerId: i.id,
      name: i.id,
      state: i.state,
      ready: i.state === "running" && (health === undefined || state === "healthy"),
      ...(state ? { health: state } : {}),
      ...(i.privateIp ? { endpoint: `${i.privateIp}:${port}` } : {}),
      configHash: i.owner.configHash ?? "",
      };
    })
    .sort((a, b) => a.replica - b.replica || a.containerId.localeCompare(b.containerId))
    .map((r) => (r.configHash === configHash ? r : { ...r, state: `${r.state} (old config)` }));
}
