import { ProviderUnavailableError, TerminalError } from "../../errors.js";
import { SERVICE_TEMPLATES, type ServiceCredentials } from "../../resources/templates.js";
import type { App, AwsGroupStatus, Group, GroupStatus, ReplicaStatus, Service } from "../../resources/types.js";
import { converge, inOrder, planOnce, type ConvergeSteps, type Plan } from "../converge.js";
import { ownerLabels } from "../ownership.js";
import type { AppOutcome, AppReconcileOptions, InfraProvider, LiveReplicas, LogOptions, ReconcileOptions, ServiceOutcome } from "../types.js";
import type { AwsClients, CallCounter } from "./clients.js";
import { AwsContext, type AwsProviderOptions } from "./context.js";
import { runGroupOp, runOwnerOp } from "./execute.js";
import type { LaunchTemplate } from "./instances.js";
import { digest, subnetCidr, targetGroupName } from "./names.js";
import { observedNetwork } from "./network.js";
import type { AwsSnapshot, ObservedInstance, TargetHealth } from "./observe.js";
import { observeGarbage, observeOwner, observeRemoval, observeTeardown, type OwnerKeys, type OwnerObservation } from "./observe-owner.js";
import { describeGroupOp, planGroupNetwork, planGroupTeardown, planHostedZone, type DesiredGroupNetwork, type GroupOp } from "./plan.js";
import { describeOwnerOp, planGarbage, planOwner, planOwnerRemoval, type DesiredOwner, type OwnerOp, type OwnerPlan } from "./plan-routing.js";
import { aliasRecord, targetHealthCheck } from "./routing.js";
import { awsAddress, awsRegion } from "./settings.js";
import { renderUserData, type InstanceProgram } from "./userdata.js";

export type { AwsProviderOptions } from "./context.js";

const MAX_ROUNDS = 6;
const DEFAULT_INSTANCE_TYPE = "t3.micro";

/** One app's or service's plan inputs: what it should be, and where its parts are looked for. */
interface OwnerSetup {
  readonly keys: OwnerKeys;
  readonly desired: DesiredOwner;
  readonly launch: LaunchTemplate;
}

/** EC2, VPC, Application Load Balancers and Route 53 as an InfraProvider. */
export class AwsProvider implements InfraProvider {
  readonly name = "aws" as const;
  private readonly ctx: AwsContext;

  constructor(options: AwsProviderOptions) {
    this.ctx = new AwsContext(options);
  }

  /** Every HTTP request sent, by "family:Operation". */
  get calls(): CallCounter {
    return this.ctx.calls;
  }

  region(group?: Group): string {
    return awsRegion(group, this.ctx.env);
  }

  address(group: Group): string {
    return awsAddress(group, this.ctx.env);
  }

  clients(region: string): AwsClients {
    return this.ctx.clients(region);
  }

  /** Drops the shared snapshot of a region, so the next reconcile observes afresh (a resync). */
  forget(region: string): void {
    this.ctx.snapshots.invalidate(region);
  }

  // ---- Group ----

  async reconcileGroup(group: Group, options: ReconcileOptions = {}): Promise<Partial<GroupStatus>> {
    const desired = await this.desiredNetwork(group);
    const { observed } = await converge(this.groupSteps(group, desired), options);
    return { provider: "aws", aws: this.groupFacts(observed.snapshot, group, desired, observed.zoneId) };
  }

  async planGroup(group: Group): Promise<readonly string[]> {
    return planOnce(this.groupSteps(group, await this.desiredNetwork(group)));
  }

  /** The group's network, load balancer and hosted zone (given by id, found by name, or created and tagged as ours). */
  private groupSteps(group: Group, desired: DesiredGroupNetwork): ConvergeSteps<{ snapshot: AwsSnapshot; zoneId: string | undefined }, GroupOp, Plan<GroupOp>> {
    const region = this.region(group);
    const aws = group.spec.aws;
    const cidr = desired.vpc.mode === "create" ? desired.vpc.cidr : "";
    return {
      ...this.groupExecution(group),
      observe: async () => {
        const snapshot = await this.ctx.snapshots.get(region);
        const found = aws?.domain && !aws.hostedZoneId ? await this.ctx.zoneIds.get(aws.domain) : undefined;
        return { snapshot, zoneId: aws?.domain ? (aws.hostedZoneId ?? found ?? undefined) : undefined };
      },
      plan: ({ snapshot, zoneId }) => ({
        operations: [
          ...planGroupNetwork(desired, observedNetwork(snapshot, group, this.ctx.instanceId), (i) => subnetCidr(cidr, 4, i)),
          ...planHostedZone(aws?.domain, aws?.hostedZoneId, zoneId),
        ],
      }),
    };
  }

  private groupExecution(group: Group): Pick<ConvergeSteps<unknown, GroupOp, Plan<GroupOp>>, "maxRounds" | "execute" | "describe"> {
    return {
      maxRounds: MAX_ROUNDS,
      execute: (ops, done) => inOrder(ops, (op) => runGroupOp(this.ctx, group, op), done),
      describe: (op) => describeGroupOp(group.metadata.name, op),
    };
  }

  private async desiredNetwork(group: Group): Promise<DesiredGroupNetwork> {
    const region = this.region(group);
    const vpc = group.spec.aws?.vpc;
    const zones = await this.ctx.zones.get(region);
    const certificateArn = group.spec.aws?.certificateArn;
    if (vpc?.create) return { vpc: { mode: "create", cidr: vpc.create.cidr }, zones, certificateArn };
    const foreign = await this.ctx.foreignVpcs.get(`${region}|${vpc?.id ?? "default"}`);
    return { vpc: { mode: "use", id: foreign.vpcId, subnetIds: foreign.subnetIds }, zones, certificateArn };
  }

  private groupFacts(snapshot: AwsSnapshot, group: Group, desired: DesiredGroupNetwork, hostedZoneId: string | undefined): AwsGroupStatus {
    const net = observedNetwork(snapshot, group, this.ctx.instanceId);
    const subnetIds = desired.vpc.mode === "use" ? [...desired.vpc.subnetIds] : net.subnets.filter((s) => s.role?.startsWith("subnet-")).map((s) => s.id).sort();
    const vpcId = desired.vpc.mode === "use" ? desired.vpc.id : net.vpcId;
    const sg = net.securityGroups;
    return {
      region: snapshot.region,
      ...(vpcId ? { vpcId } : {}),
      subnetIds,
      securityGroups: {
        ...(sg.lb ? { loadBalancer: sg.lb.id } : {}),
        ...(sg.instances ? { instances: sg.instances.id } : {}),
        ...(sg.services ? { services: sg.services.id } : {}),
      },
      ...(net.lb ? { loadBalancer: { arn: net.lb.arn, dnsName: net.lb.dnsName } } : {}),
      ...(hostedZoneId ? { hostedZoneId } : {}),
    };
  }

  /** The network in dependency order, one layer per round; true once nothing of the group is left. */
  async finalizeGroup(group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    const steps = { ...this.groupExecution(group), observe: () => observeTeardown(this.ctx, group), plan: planGroupTeardown };
    return (await converge(steps, options)).plan.done;
  }

  // ---- Apps and services ----

  async reconcileApp(app: App, group: Group, options: AppReconcileOptions = {}): Promise<AppOutcome> {
    const setup = await this.appSetup(app, group, options.bindings ?? {}, options.scaleUpLimit);
    const { observed, plan, operations } = await converge(this.ownerSteps(setup), options);
    // Still waiting for targets to turn healthy: the next pass must see them fresh.
    if (!plan.converged && observed.targetGroup) this.ctx.targetHealth.invalidate(observed.targetGroup.arn);
    const host = setup.desired.host;
    return {
      ...this.outcome(observed, plan, setup.launch, observed.health),
      operations,
      image: app.spec.image ?? app.spec.source?.url ?? "",
      ...(host ? { url: `http://${host}` } : {}),
    };
  }

  async planApp(app: App, group: Group, bindings: Readonly<Record<string, string>> = {}): Promise<readonly string[]> {
    return planOnce(this.ownerSteps(await this.appSetup(app, group, bindings, undefined)));
  }

  async finalizeApp(app: App, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    return this.removeOwner(group, app, this.hostOf(app, group), options);
  }

  async reconcileService(service: Service, group: Group, creds: ServiceCredentials, options: ReconcileOptions = {}): Promise<ServiceOutcome> {
    const setup = await this.serviceSetup(service, group, creds);
    const { observed, plan, operations } = await converge(this.ownerSteps(setup), options);
    const current = observed.owned.find((i) => i.owner.configHash === setup.launch.configHash && i.state === "running");
    const outcome = this.outcome(observed, plan, setup.launch, undefined);
    return {
      ...outcome,
      converged: outcome.converged && current?.privateIp !== undefined,
      operations,
      image: service.spec.image ?? SERVICE_TEMPLATES[service.spec.template].image(service.spec.version),
      volume: "",
      ...(current?.privateIp ? { host: current.privateIp } : {}),
    };
  }

  async planService(service: Service, group: Group, creds: ServiceCredentials): Promise<readonly string[]> {
    return planOnce(this.ownerSteps(await this.serviceSetup(service, group, creds)));
  }

  async finalizeService(service: Service, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    return this.removeOwner(group, service, undefined, options);
  }

  /** Terminates instances and removes target groups (with their rules) of this group whose owner is gone. */
  async collectGarbage(group: Group, liveUids: ReadonlySet<string>, options: ReconcileOptions = {}): Promise<readonly string[]> {
    const region = this.region(group);
    const steps: ConvergeSteps<Awaited<ReturnType<typeof observeGarbage>>, OwnerOp, Plan<OwnerOp>> = {
      maxRounds: 1,
      observe: () => observeGarbage(this.ctx, group, liveUids),
      plan: (view) => ({ operations: planGarbage(view) }),
      execute: (ops, done) => this.afresh(region, inOrder(ops, (op) => runOwnerOp(this.ctx, { region, targetGroupArn: undefined, zoneId: undefined }, op), done)),
      describe: describeOwnerOp,
    };
    return (await converge(steps, options)).operations;
  }

  async liveReplicas(obj: App | Service, group: Group): Promise<LiveReplicas> {
    const registers = obj.kind === "App";
    const observed = await observeOwner(this.ctx, { group, uid: obj.metadata.uid ?? "", registers, securityGroupId: undefined, host: undefined, zoneId: undefined }, { waiting: true });
    return {
      title: `Instances (on ${this.address(group)} now)`,
      columns: ["REPLICA", "INSTANCE", "STATE", "HEALTH", "ADDRESS", "CONFIG"],
      rows: [...observed.owned]
        .sort((a, b) => (a.owner.replica ?? -1) - (b.owner.replica ?? -1) || a.id.localeCompare(b.id))
        .map((i) => [String(i.owner.replica ?? "?"), i.id, i.state, observed.health?.get(i.id) ?? "-", i.privateIp ?? "-", i.owner.configHash ?? "-"]),
    };
  }

  async logs(app: App, group: Group): Promise<void> {
    throw new TerminalError("UnsupportedOnAws", `logs of app ${app.metadata.name} are not available: group ${group.metadata.name} runs on ${this.address(group)}, whose instances keep their output on the instance; AirLoft reads logs from Docker groups only`);
  }

  private ownerSteps(setup: OwnerSetup): ConvergeSteps<OwnerObservation, OwnerOp, OwnerPlan> {
    const region = this.region(setup.keys.group);
    let last: OwnerObservation | undefined;
    return {
      maxRounds: MAX_ROUNDS,
      observe: async () => (last = await observeOwner(this.ctx, setup.keys, { waiting: true })),
      plan: (observed) => planOwner(setup.desired, observed),
      execute: (ops, done) => {
        const place = { region, launch: setup.launch, targetGroupArn: last?.targetGroup?.arn, zoneId: setup.keys.zoneId };
        return inOrder(ops, (op) => runOwnerOp(this.ctx, place, op), done);
      },
      describe: describeOwnerOp,
    };
  }

  /** Removes everything one app or service owns; true once a fresh look finds none of it. */
  private async removeOwner(group: Group, obj: App | Service, host: string | undefined, options: ReconcileOptions): Promise<boolean> {
    const region = this.region(group);
    const keys: OwnerKeys = { group, uid: obj.metadata.uid ?? "", registers: obj.kind === "App", securityGroupId: undefined, host, zoneId: group.status?.aws?.hostedZoneId };
    const target = `${obj.kind.toLowerCase()}:${group.metadata.name}/${obj.metadata.name}`;
    let last: OwnerObservation | undefined;
    const steps: ConvergeSteps<Awaited<ReturnType<typeof observeRemoval>>, OwnerOp, Plan<OwnerOp>> = {
      maxRounds: MAX_ROUNDS,
      observe: async () => (last = await observeRemoval(this.ctx, keys)),
      plan: (observed) => ({ operations: planOwnerRemoval(target, observed) }),
      execute: (ops, done) => {
        const place = { region, targetGroupArn: last?.targetGroup?.arn, zoneId: keys.zoneId };
        return this.afresh(region, inOrder(ops, (op) => runOwnerOp(this.ctx, place, op), done));
      },
      describe: describeOwnerOp,
    };
    return (await converge(steps, options)).plan.operations.length === 0;
  }

  /** After removals the region is read again: what is gone is confirmed by AWS, not by this process. */
  private async afresh(region: string, work: Promise<void>): Promise<void> {
    try {
      await work;
    } finally {
      this.forget(region);
    }
  }

  private async appSetup(app: App, group: Group, bindings: Readonly<Record<string, string>>, scaleUpLimit: number | undefined): Promise<OwnerSetup> {
    const uid = app.metadata.uid ?? "";
    const { net, vpcId, subnetIds, zoneId } = await this.network(group);
    const program = this.program(`app ${group.metadata.name}/${app.metadata.name}`, app, bindings);
    const port = program.port ?? 80;
    const lbGroup = net.securityGroups.lb.id;
    const host = this.hostOf(app, group);
    const launch = await this.launchTemplate({ kind: "App", group, name: app.metadata.name, uid }, program, app.spec, subnetIds, net.securityGroups.instances.id);
    const replicas = Math.min(app.spec.replicas ?? 1, scaleUpLimit ?? Number.POSITIVE_INFINITY);
    const tags = ownerLabels({ instance: this.ctx.instanceId, group: group.metadata.name, kind: "App", name: app.metadata.name, uid });
    return {
      keys: { group, uid, registers: true, securityGroupId: net.securityGroups.instances.id, host, zoneId },
      launch,
      desired: {
        target: `app:${group.metadata.name}/${app.metadata.name}`,
        targetGroup: { name: targetGroupName(this.ctx.instanceId, uid), port, vpcId, check: targetHealthCheck(app.spec.healthCheck), tags },
        ingress: { securityGroupId: net.securityGroups.instances.id, port, fromGroupId: lbGroup, what: `app port ${port} from the load balancer` },
        host,
        record: host && zoneId ? aliasRecord(host, net.lb) : undefined,
        instances: { replicas, configHash: launch.configHash, strategy: app.spec.strategy?.type ?? "RollingUpdate", registers: true },
      },
    };
  }

  private async serviceSetup(service: Service, group: Group, creds: ServiceCredentials): Promise<OwnerSetup> {
    const template = SERVICE_TEMPLATES[service.spec.template];
    const uid = service.metadata.uid ?? "";
    const { net, subnetIds } = await this.network(group);
    const program: InstanceProgram = {
      label: `service ${group.metadata.name}/${service.metadata.name}`,
      runtime: "docker",
      image: service.spec.image ?? template.image(service.spec.version),
      source: undefined,
      command: template.command ? [...template.command] : undefined,
      env: template.env(creds, service.metadata.name),
      port: template.port,
    };
    const servicesGroup = net.securityGroups.services.id;
    const launch = await this.launchTemplate({ kind: "Service", group, name: service.metadata.name, uid }, program, {}, subnetIds, servicesGroup);
    return {
      keys: { group, uid, registers: false, securityGroupId: servicesGroup, host: undefined, zoneId: undefined },
      launch,
      desired: {
        target: `service:${group.metadata.name}/${service.metadata.name}`,
        targetGroup: undefined,
        ingress: { securityGroupId: servicesGroup, port: template.port, fromGroupId: net.securityGroups.instances.id, what: `${template.name} from the group's instances` },
        host: undefined,
        record: undefined,
        instances: { replicas: 1, configHash: launch.configHash, strategy: "Recreate", registers: false },
      },
    };
  }

  private outcome(observed: OwnerObservation, plan: OwnerPlan, launch: LaunchTemplate, health: TargetHealth | undefined): Omit<AppOutcome, "operations" | "image"> {
    return {
      replicas: replicaStatuses(observed.owned, health, launch.configHash, launch.port ?? 80),
      readyReplicas: plan.readyReplicas,
      updatedReplicas: plan.updatedReplicas,
      converged: plan.converged,
    };
  }

  /** The group's network facts an app needs; an error the queue retries until the group has them. */
  private async network(group: Group) {
    const snapshot = await this.ctx.snapshots.get(this.region(group));
    const facts = group.status?.aws;
    const net = observedNetwork(snapshot, group, this.ctx.instanceId);
    const { lb } = net;
    const { lb: lbGroup, instances, services } = net.securityGroups;
    const vpcId = facts?.vpcId;
    const subnetIds = facts?.subnetIds ?? [];
    if (!vpcId || subnetIds.length === 0 || !lb || !instances || !services || !lbGroup) {
      throw new ProviderUnavailableError("WaitingForGroup", `group ${group.metadata.name}'s network and load balancer are not ready yet`);
    }
    return { net: { lb, securityGroups: { lb: lbGroup, instances, services } }, vpcId, subnetIds, zoneId: facts?.hostedZoneId };
  }

  private program(label: string, app: App, bindings: Readonly<Record<string, string>>): InstanceProgram {
    return { label, runtime: app.spec.runtime ?? "docker", image: app.spec.image, source: app.spec.source, command: app.spec.command, env: { ...app.spec.env, ...bindings }, port: app.spec.port ?? 80 };
  }

  private async launchTemplate(owner: { kind: string; group: Group; name: string; uid: string }, program: InstanceProgram, spec: { ami?: string | undefined; instanceType?: string | undefined }, subnetIds: string[], securityGroupId: string): Promise<LaunchTemplate> {
    const imageId = spec.ami ?? (await this.ctx.amis.get(this.region(owner.group)));
    const instanceType = spec.instanceType ?? DEFAULT_INSTANCE_TYPE;
    const userData = renderUserData(program);
    const configHash = digest(userData, imageId, instanceType).slice(0, 12);
    const base = { instance: this.ctx.instanceId, group: owner.group.metadata.name, kind: owner.kind, name: owner.name, uid: owner.uid, configHash };
    return {
      uid: owner.uid, configHash, imageId, instanceType, userData, subnetIds, securityGroupId, port: program.port,
      tags: (replica) => ({ ...ownerLabels({ ...base, replica }), Name: `airloft-${owner.group.metadata.name}-${owner.name}-${replica}` }),
    };
  }

  private hostOf(app: App, group: Group): string | undefined {
    if (app.spec.expose?.domain) return app.spec.expose.domain;
    const domain = group.spec.aws?.domain;
    return domain ? `${app.metadata.name}.${domain}` : undefined;
  }
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
