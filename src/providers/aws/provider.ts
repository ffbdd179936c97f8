import { SERVICE_TEMPLATES, type ServiceCredentials } from "../../resources/templates.js";
import type { App, AwsGroupStatus, Group, GroupStatus, Service } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import { type ConvergeSteps, converge, inOrder, type Plan, planOnce } from "../converge.js";
import type {
  AppOutcome,
  AppReconcileOptions,
  InfraProvider,
  LiveReplicas,
  LogOptions,
  ReconcileOptions,
  ScalingFigures,
  ServiceOutcome,
} from "../types.js";
import type { AwsClients, CallCounter } from "./clients.js";
import { CloudWatchFigures } from "./cloudwatch.js";
import { consoleLogs } from "./console-logs.js";
import { AwsContext, type AwsProviderOptions } from "./context.js";
import { appSetup, desiredNetwork, hostOf, type OwnerSetup, serviceSetup } from "./desired.js";
import { runGroupOp, runOwnerOp } from "./execute.js";
import { subnetCidr } from "./names.js";
import { observedNetwork } from "./network.js";
import type { AwsSnapshot } from "./observe.js";
import type { OwnerKeys, OwnerObservation } from "./observe-owner.js";
import {
  observeGarbage,
  observeOwner,
  observeRemoval,
  observeTeardown,
  ownZoneUntagged,
  replicaStatuses,
} from "./observe-owner.js";
import { removeGroupSecrets, removeOwnerParameters, syncOwnerSecrets } from "./owner-secrets.js";
import type { DesiredGroupNetwork, GroupOp } from "./plan.js";
import { describeGroupOp, planGroupNetwork, planGroupTeardown, planHostedZone } from "./plan.js";
import type { OwnerOp, OwnerPlan } from "./plan-routing.js";
import { describeOwnerOp, planGarbage, planOwner, planOwnerRemoval } from "./plan-routing.js";
import { awsRelease } from "./release.js";
import { routingWait } from "./routing.js";
import { awsAddress, awsRegion } from "./settings.js";
import { AwsTasks } from "./task-access.js";
import { TASK_KINDS } from "./tasks.js";

export type { AwsProviderOptions } from "./context.js";

/** Plan-execute rounds in one reconcile: a group's network takes about five, one layer each. */
const MAX_ROUNDS = 6;

type GroupSteps = ConvergeSteps<unknown, GroupOp, Plan<GroupOp>>;
type Reported = Omit<AppOutcome, "operations" | "image">;

interface ObservedGroup {
  readonly snapshot: AwsSnapshot;
  readonly zoneId: string | undefined;
  /** The zone was made here but its tagging was cut short. */
  readonly untagged?: boolean;
}

/**
 * EC2, VPC, Application Load Balancers and Route 53 as an InfraProvider: every object observed
 * from the region's shared snapshot, planned by the pure planners in plan.ts and plan-routing.ts,
 * and executed by execute.ts, through the one converge loop.
 */
export class AwsProvider implements InfraProvider {
  readonly name = "aws" as const;
  private readonly ctx: AwsContext;
  private readonly cloudwatch: CloudWatchFigures;
  /** One-shot task instances of the group's apps: job runs and one-off runs. */
  readonly tasks: AwsTasks;

  constructor(options: AwsProviderOptions) {
    this.ctx = new AwsContext(options);
    this.cloudwatch = new CloudWatchFigures(options.instanceId);
    this.tasks = new AwsTasks(this.ctx);
  }

  /** Autoscaled apps' CPU and request figures from CloudWatch: one GetMetricData call per group, at most once a minute. */
  scalingFigures(group: Group, apps: readonly App[]): Promise<ReadonlyMap<string, ScalingFigures>> {
    return this.cloudwatch.read(this.clients(this.region(group)), group.metadata.uid ?? group.metadata.name, apps);
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
    this.ctx.volumes.invalidate(region);
  }

  // ---- Group ----

  async reconcileGroup(group: Group, options: ReconcileOptions = {}): Promise<Partial<GroupStatus>> {
    const desired = await desiredNetwork(this.ctx, group);
    const { observed } = await converge(this.groupSteps(group, desired), options);
    const ami = await this.groupAmi(group);
    return { provider: "aws", aws: { ...this.groupFacts(observed, group, desired), ami } };
  }

  /**
   * The image a group's instances run: resolved once and pinned in its status, since a new
   * release would otherwise roll every app and re-create every service; FollowLatest opts in.
   */
  private async groupAmi(group: Group): Promise<string> {
    const pinned = group.status?.aws?.ami;
    if (pinned && group.spec.aws?.amiPolicy !== "FollowLatest") return pinned;
    return this.ctx.amis.get(this.region(group));
  }

  async planGroup(group: Group): Promise<readonly string[]> {
    return planOnce(this.groupSteps(group, await desiredNetwork(this.ctx, group)));
  }

  /** The group's network, load balancer and hosted zone (given by id, found by name, or created and tagged). */
  private groupSteps(group: Group, desired: DesiredGroupNetwork): ConvergeSteps<ObservedGroup, GroupOp, Plan<GroupOp>> {
    const region = this.region(group);
    const aws = group.spec.aws;
    const cidr = desired.vpc.mode === "create" ? desired.vpc.cidr : "";
    const domain = aws?.domain?.toLowerCase();
    return {
      ...this.groupExecution(group),
      observe: async () => {
        const snapshot = await this.ctx.snapshots.get(region);
        const found = domain && !aws?.hostedZoneId ? await this.ctx.zoneIds.get(domain) : undefined;
        const untagged = domain && found ? await ownZoneUntagged(this.ctx, group, domain, found) : false;
        return { snapshot, zoneId: domain ? (aws?.hostedZoneId ?? found ?? undefined) : undefined, untagged };
      },
      plan: ({ snapshot, zoneId, untagged }) => {
        const network = observedNetwork(snapshot, group, this.ctx.instanceId);
        const subnets = (i: number) => subnetCidr(cidr, 4, i);
        const zone = planHostedZone(domain, aws?.hostedZoneId, zoneId, untagged);
        return { operations: [...planGroupNetwork(desired, network, subnets), ...zone] };
      },
    };
  }

  /** How a group's operations run, whether it is made or torn down. */
  private groupExecution(group: Group): Pick<GroupSteps, "maxRounds" | "execute" | "describe"> {
    return {
      maxRounds: MAX_ROUNDS,
      execute: (ops, done) => inOrder(ops, (op) => runGroupOp(this.ctx, group, op), done),
      describe: (op) => describeGroupOp(group.metadata.name, op),
    };
  }

  private groupFacts({ snapshot, zoneId }: ObservedGroup, group: Group, desired: DesiredGroupNetwork): AwsGroupStatus {
    const net = observedNetwork(snapshot, group, this.ctx.instanceId);
    const own = net.subnets
      .filter((s) => s.role?.startsWith("subnet-"))
      .map((s) => s.id)
      .sort();
    const subnetIds = desired.vpc.mode === "use" ? [...desired.vpc.subnetIds] : own;
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
      ...(zoneId ? { hostedZoneId: zoneId } : {}),
    };
  }

  /** The network in dependency order, one layer per round; true once nothing of the group is left. */
  async finalizeGroup(group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    const observe = () => observeTeardown(this.ctx, group);
    const steps = { ...this.groupExecution(group), observe, plan: planGroupTeardown };
    const done = (await converge(steps, options)).plan.done;
    // Its instances are gone: the role they ran with and every parameter of the group go too.
    if (done) await removeGroupSecrets(this.ctx, group);
    return done;
  }

  // ---- Apps and services ----

  async reconcileApp(app: App, group: Group, options: AppReconcileOptions = {}): Promise<AppOutcome> {
    const { bindings = {}, scaleUpLimit, secrets } = options;
    const setup = await appSetup(this.ctx, app, group, bindings, scaleUpLimit, secrets);
    const synced = await this.syncSecrets(group, setup, options);
    const env = { ...bindings, ...setup.program.env, ...secrets?.env };
    const release = await awsRelease(this.ctx, setup, app, {
      done: options.releaseDone,
      revision: options.releaseRevision,
      env,
    });
    // Until the release succeeded no instance of the new config launches; the old ones serve on.
    const steps = release && release.phase !== "succeeded" ? this.heldSteps(setup) : this.ownerSteps(setup);
    const { observed, plan, operations } = await converge(steps, options);
    // Still waiting for targets to turn healthy: the next pass must see them fresh.
    if (!plan.converged && observed.targetGroup) this.ctx.targetHealth.invalidate(observed.targetGroup.arn);
    const route = setup.desired.host;
    // A refusal counts while the rule is still wanted: on a listener the plan would still make it on.
    const wanted = plan.operations.flatMap((op) => (op.op === "create-rule" ? [op.listenerArn] : []));
    const waiting = routingWait(observed.listeners, wanted, observed.health);
    return {
      ...outcome(observed, plan, setup),
      operations: [...synced, ...operations],
      image: app.spec.image ?? app.spec.source?.url ?? "",
      ...(route ? { url: `http://${route}${route.includes("/") ? "/" : ""}` } : {}),
      ...(waiting ? { waiting } : {}),
      ...(release ? { release } : {}),
    };
  }

  /** An owner's steps that look and change nothing: its status while its release holds the rollout. */
  private heldSteps(setup: OwnerSetup): ConvergeSteps<OwnerObservation, OwnerOp, OwnerPlan> {
    const steps = this.ownerSteps(setup);
    return {
      ...steps,
      maxRounds: 1,
      plan: (observed) => ({ ...steps.plan(observed), operations: [], converged: false }),
    };
  }

  async planApp(
    app: App,
    group: Group,
    bindings: Readonly<Record<string, string>> = {},
    secrets?: ResolvedSecrets,
  ): Promise<readonly string[]> {
    return planOnce(this.ownerSteps(await appSetup(this.ctx, app, group, bindings, undefined, secrets)));
  }

  /** The owner's parameters (and the group's role) before any of its instances launches. */
  private async syncSecrets(group: Group, setup: OwnerSetup, options: ReconcileOptions): Promise<string[]> {
    const target = setup.desired.target;
    const done = (await syncOwnerSecrets(this.ctx, group, setup.secrets)).map((op) => `${target} ${op}`);
    for (const op of done) options.onOperation?.(op);
    return done;
  }

  async finalizeApp(app: App, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    return this.removeOwner(group, app, hostOf(app, group), options);
  }

  async reconcileService(
    service: Service,
    group: Group,
    creds: ServiceCredentials,
    options: ReconcileOptions = {},
  ): Promise<ServiceOutcome> {
    const setup = await serviceSetup(this.ctx, service, group, creds);
    const synced = await this.syncSecrets(group, setup, options);
    const { observed, plan, operations } = await converge(this.ownerSteps(setup), options);
    const current = observed.owned.find((i) => i.owner.configHash === setup.launch.configHash && i.state === "running");
    const reported = outcome(observed, plan, setup);
    return {
      ...reported,
      converged: reported.converged && current?.privateIp !== undefined,
      operations: [...synced, ...operations],
      image: service.spec.image ?? SERVICE_TEMPLATES[service.spec.template].image(service.spec.version),
      volume: observed.volume?.id ?? "",
      ...(current?.privateIp ? { host: current.privateIp } : {}),
    };
  }

  async planService(service: Service, group: Group, creds: ServiceCredentials): Promise<readonly string[]> {
    return planOnce(this.ownerSteps(await serviceSetup(this.ctx, service, group, creds)));
  }

  async finalizeService(service: Service, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    return this.removeOwner(group, service, undefined, options);
  }

  /** Terminates instances, and removes target groups with their rules, of this group whose owner is gone. */
  async collectGarbage(group: Group, liveUids: ReadonlySet<string>, options: ReconcileOptions = {}) {
    const region = this.region(group);
    const params = await removeOwnerParameters(this.ctx, group, (uid) => !liveUids.has(uid));
    for (const op of params) options.onOperation?.(`group:${group.metadata.name} ${op}`);
    const place = { region, targetGroupArn: undefined, zoneId: undefined };
    const steps: ConvergeSteps<Awaited<ReturnType<typeof observeGarbage>>, OwnerOp, Plan<OwnerOp>> = {
      maxRounds: 1,
      observe: () => observeGarbage(this.ctx, group, liveUids),
      plan: (view) => ({ operations: planGarbage(view) }),
      execute: (ops, done) =>
        this.afresh(
          region,
          inOrder(ops, (op) => runOwnerOp(this.ctx, place, op), done),
        ),
      describe: describeOwnerOp,
    };
    return [
      ...params.map((op) => `group:${group.metadata.name} ${op}`),
      ...(await converge(steps, options)).operations,
    ];
  }

  async liveReplicas(obj: App | Service, group: Group): Promise<LiveReplicas> {
    const keys = this.keysOf(group, obj, undefined, undefined);
    const { owned, health } = await observeOwner(this.ctx, keys, { waiting: true });
    const rows = [...owned]
      .sort((a, b) => (a.owner.replica ?? -1) - (b.owner.replica ?? -1) || a.id.localeCompare(b.id))
      .map((i) => {
        const { replica, configHash } = i.owner;
        return [String(replica ?? "?"), i.id, i.state, health?.get(i.id) ?? "-", i.privateIp ?? "-", configHash ?? "-"];
      });
    const columns = ["REPLICA", "INSTANCE", "STATE", "HEALTH", "ADDRESS", "CONFIG"];
    return { title: `Instances (on ${this.address(group)} now)`, columns, rows };
  }

  /** Where an owner's parts are, when its desired state is not needed (removal, describe). */
  private keysOf(group: Group, obj: App | Service, host: string | undefined, zoneId: string | undefined): OwnerKeys {
    const uid = obj.metadata.uid ?? "";
    const volume =
      obj.kind === "Service"
        ? { name: obj.metadata.name, policy: obj.spec.storage?.deletionPolicy ?? ("Retain" as const) }
        : undefined;
    return { group, uid, registers: obj.kind === "App", securityGroupId: undefined, host, zoneId, volume };
  }

  /** The instances' console output (see console-logs.ts for why, and its limits). */
  async logs(obj: App | Service, group: Group, options: LogOptions): Promise<void> {
    const snapshot = await this.ctx.snapshots.get(this.region(group));
    const owned = snapshot.instances
      .filter((i) => i.owner.uid === obj.metadata.uid && i.state !== "terminated" && !TASK_KINDS.has(i.owner.kind))
      .sort((a, b) => (a.owner.replica ?? -1) - (b.owner.replica ?? -1));
    await consoleLogs(this.clients(this.region(group)), owned, obj.metadata.name, options);
  }

  private ownerSteps(setup: OwnerSetup): ConvergeSteps<OwnerObservation, OwnerOp, OwnerPlan> {
    const region = this.region(setup.keys.group);
    let last: OwnerObservation | undefined;
    return {
      maxRounds: MAX_ROUNDS,
      observe: async () => (last = await observeOwner(this.ctx, setup.keys, { waiting: true })),
      plan: (observed) => planOwner(setup.desired, observed),
      execute: (ops, done) => {
        const { launch, keys } = setup;
        const place = { region, launch, targetGroupArn: last?.targetGroup?.arn, zoneId: keys.zoneId };
        return inOrder(ops, (op) => runOwnerOp(this.ctx, place, op), done);
      },
      describe: describeOwnerOp,
    };
  }

  /** Removes everything one app or service owns; true once a fresh look finds none of it. */
  private async removeOwner(group: Group, obj: App | Service, host: string | undefined, options: ReconcileOptions) {
    const region = this.region(group);
    const zoneId = group.status?.aws?.hostedZoneId;
    const keys = this.keysOf(group, obj, host, zoneId);
    const target = `${obj.kind.toLowerCase()}:${group.metadata.name}/${obj.metadata.name}`;
    let last: OwnerObservation | undefined;
    const steps: ConvergeSteps<Awaited<ReturnType<typeof observeRemoval>>, OwnerOp, Plan<OwnerOp>> = {
      maxRounds: MAX_ROUNDS,
      observe: async () => (last = await observeRemoval(this.ctx, keys)),
      plan: (observed) => ({ operations: planOwnerRemoval(target, observed) }),
      execute: (ops, done) => {
        const place = { region, targetGroupArn: last?.targetGroup?.arn, zoneId };
        return this.afresh(
          region,
          inOrder(ops, (op) => runOwnerOp(this.ctx, place, op), done),
        );
      },
      describe: describeOwnerOp,
    };
    const done = (await converge(steps, options)).plan.operations.length === 0;
    if (done) await removeOwnerParameters(this.ctx, group, (uid) => uid === keys.uid);
    return done;
  }

  /** After removals the region is read again: what is gone is confirmed by AWS, not by this process. */
  private async afresh(region: string, work: Promise<void>): Promise<void> {
    try {
      await work;
    } finally {
      this.forget(region);
    }
  }
}

/** What an app's or service's outcome reports of its last observation and plan. */
function outcome(observed: OwnerObservation, plan: OwnerPlan, setup: OwnerSetup): Reported {
  return {
    replicas: replicaStatuses(observed, setup.launch.configHash, setup.launch.port ?? 80),
    readyReplicas: plan.readyReplicas,
    updatedReplicas: plan.updatedReplicas,
    converged: plan.converged,
  };
}
