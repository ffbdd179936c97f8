import { SERVICE_TEMPLATES, type ServiceCredentials } from "../../resources/templates.js";
import type { App, Group, Service } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import { type ConvergeSteps, converge, type Plan, planOnce } from "../converge.js";
import { desiredService, volumeName } from "../docker/desired.js";
import { edgeSettings } from "../docker/edge/settings.js";
import { edgeTraffic } from "../docker/edge/traffic.js";
import { resolveEngineAddress } from "../docker/engine.js";
import { perEngine } from "../docker/usage.js";
import { EngineGroups, GroupNetworkStep } from "../group-network-step.js";
import { eachReplica } from "../log-lines.js";
import type { SnapshotCache } from "../snapshot-cache.js";
import type {
  AppOutcome,
  AppReconcileOptions,
  AppTraffic,
  InfraProvider,
  LiveReplicas,
  LogOptions,
  ReconcileOptions,
  ServiceOutcome,
  ServiceReconcileOptions,
  UsageReading,
} from "../types.js";
import { desiredSwarmApp } from "./app-spec.js";
import { type DesiredSwarmService, desiredSwarmService, NODE_LABEL, serviceName, swarmSettings } from "./desired.js";
import { SwarmEdge } from "./edge.js";
import { executeSwarmPlan } from "./execute.js";
import { taskLogs } from "./logs.js";
import { ManagerNodes } from "./manager-node.js";
import { type SwarmSnapshot, swarmSnapshots } from "./observe.js";
import {
  chooseNode,
  describeSwarmOperation,
  isNetworkOp,
  planSwarmGarbage,
  planSwarmService,
  replicaView,
  type SwarmOperation,
  type SwarmPlan,
} from "./plan.js";
import { planSecretGarbage, planSwarmSecrets } from "./secrets.js";
import { swarmUsage } from "./usage.js";
import { planWipe, WIPE_KIND } from "./wipe.js";

/** Swarm does the rollout itself: one round makes the change, the next passes watch it. */
const MAX_ROUNDS = 2;

export interface SwarmProviderOptions {
  readonly instanceId: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** A Docker Swarm cluster, through its manager: an overlay network per group, a Swarm service per app or backing service. */
export class SwarmProvider extends EngineGroups<SwarmSnapshot, SwarmOperation> implements InfraProvider {
  readonly name = "swarm" as const;
  readonly snapshots: SnapshotCache<SwarmSnapshot>;
  readonly instanceId: string;
  private readonly env: NodeJS.ProcessEnv;
  /** Each group's overlay network. */
  protected readonly groups: GroupNetworkStep<SwarmSnapshot, SwarmOperation>;
  readonly edge: SwarmEdge;
  private readonly managers = new ManagerNodes();

  constructor(options: SwarmProviderOptions) {
    super();
    this.instanceId = options.instanceId;
    this.env = options.env ?? process.env;
    this.snapshots = swarmSnapshots(options.instanceId);
    this.edge = new SwarmEdge({
      instance: this.instanceId,
      // Published on every address of the manager unless one is set, as Swarm's host-mode port was.
      settings: { ...edgeSettings(this.env), hostIP: this.env.AIRLOFT_EDGE_ADDRESS || "0.0.0.0" },
      snapshots: this.snapshots,
      resolve: (engine) => resolveEngineAddress(engine, this.env),
    });
    this.groups = new GroupNetworkStep<SwarmSnapshot, SwarmOperation>({
      provider: "swarm",
      instanceId: this.instanceId,
      address: (group) => this.address(group),
      network: (group) => ({
        name: swarmSettings(group).network,
        subnet: group.spec.swarm?.network?.subnet,
        driver: "overlay",
      }),
      operations: (planned) => planned.filter(isNetworkOp),
      steps: (address, plan) => this.steps(address, plan),
    });
  }

  address(group: Group): string {
    return resolveEngineAddress(group.spec.swarm?.host, this.env);
  }

  async finalizeGroup(group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    const name = group.metadata.name;
    return this.removeAll(group, options, (s) => [
      ...planSwarmGarbage(new Set(), { ...s, networks: [] }, name).map((op) => ({ ...op, cause: "group deleted" })),
      ...s.networks
        .filter((n) => n.owner.uid === uidOf(group))
        .map(
          (n): SwarmOperation => ({ op: "remove-network", target: `group:${name}`, cause: "group deleted", id: n.id }),
        ),
    ]);
  }

  async reconcileApp(app: App, group: Group, options: AppReconcileOptions = {}): Promise<AppOutcome> {
    const address = this.address(group);
    const desired = await this.desiredApp(address, app, group, options.bindings, options.secrets, {
      scaleUpLimit: options.scaleUpLimit,
      mayBuild: true,
    });
    const { plan, operations } = await converge(this.serviceSteps(address, desired), options);
    if (!options.edgeRoutes) return outcome(desired, plan, operations);
    await this.edge.sync(address, options.edgeRoutes);
    const route = options.edgeRoutes.find((r) => r.uid === uidOf(app));
    const url = route && this.edge.url(route);
    const tls = route && (await this.edge.tls(address, route));
    return { ...outcome(desired, plan, operations), ...(url ? { url } : {}), ...(tls ? { tls } : {}) };
  }

  async planApp(
    app: App,
    group: Group,
    bindings: Readonly<Record<string, string>> = {},
    secrets?: ResolvedSecrets,
  ): Promise<readonly string[]> {
    const address = this.address(group);
    const desired = await this.desiredApp(address, app, group, bindings, secrets, { mayBuild: false });
    return planOnce(this.serviceSteps(address, desired));
  }

  private async desiredApp(
    address: string,
    app: App,
    group: Group,
    bindings: Readonly<Record<string, string>> = {},
    resolved: ResolvedSecrets | undefined,
    how: { scaleUpLimit?: number | undefined; mayBuild: boolean },
  ): Promise<DesiredSwarmService> {
    const snapshot = await this.snapshots.get(address);
    const { scaleUpLimit, mayBuild } = how;
    return desiredSwarmApp({
      mayBuild,
      address,
      instance: this.instanceId,
      app,
      group,
      bindings,
      resolved,
      scaleUpLimit,
      snapshot,
    });
  }

  async reconcileService(
    service: Service,
    group: Group,
    creds: ServiceCredentials,
    options: ServiceReconcileOptions = {},
  ): Promise<ServiceOutcome> {
    const address = this.address(group);
    const desired = await this.desiredService(address, service, group, creds);
    const { plan, operations } = await converge(this.serviceSteps(address, desired), options);
    return {
      ...outcome(desired, plan, operations),
      volume: volumeName(group.metadata.name, service.metadata.name),
      ...(desired.node ? { node: desired.node } : {}),
    };
  }

  async planService(service: Service, group: Group, creds: ServiceCredentials): Promise<readonly string[]> {
    const address = this.address(group);
    return planOnce(this.serviceSteps(address, await this.desiredService(address, service, group, creds)));
  }

  /**
   * One replica with its data on a named volume of one node: the node the running service is
   * pinned to, else the one recorded in the status (the service was removed by hand), else one
   * chosen now and kept from then on.
   */
  private async desiredService(
    address: string,
    service: Service,
    group: Group,
    creds: ServiceCredentials,
  ): Promise<DesiredSwarmService> {
    const ref = service.spec.image ?? SERVICE_TEMPLATES[service.spec.template].image(service.spec.version);
    const snapshot = await this.snapshots.get(address);
    const running = snapshot.services.find(
      (s) => s.name === serviceName(group.metadata.name, service.metadata.name) && s.owner?.uid === uidOf(service),
    );
    const node = running?.labels[NODE_LABEL] ?? service.status?.node ?? chooseNode(snapshot);
    const desired = desiredService(service, group, this.instanceId, { ref, id: ref }, creds);
    return desiredSwarmService(desired, swarmSettings(group), { node });
  }

  /** Removes the service; with deletionPolicy Delete, then empties its volume on its node (wipe.ts). */
  async finalizeService(service: Service, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    const uid = uidOf(service);
    const name = serviceName(group.metadata.name, service.metadata.name);
    const template = SERVICE_TEMPLATES[service.spec.template];
    let pending = false;
    const steps = this.steps(this.address(group), (s) => {
      const operations = this.removals(s, uid, "service deleted");
      const running = s.services.find((x) => x.name === name && x.owner?.uid === uid);
      const node = running?.labels[NODE_LABEL] ?? service.status?.node;
      pending = running !== undefined;
      if (service.spec.storage?.deletionPolicy !== "Delete" || running || !node) return { operations };
      const wipe = planWipe(
        {
          instance: this.instanceId,
          group: group.metadata.name,
          name: service.metadata.name,
          uid,
          serviceName: name,
          node,
          volume: volumeName(group.metadata.name, service.metadata.name),
          dataPath: template.dataPath,
          image: service.spec.image ?? template.image(service.spec.version),
        },
        s,
      );
      pending = wipe.pending;
      return { operations: [...operations, ...wipe.operations] };
    });
    const { plan } = await converge(steps, options);
    return plan.operations.length === 0 && !pending;
  }

  async finalizeApp(app: App, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    // The routes no longer hold the app: its host leaves the edge before its tasks go.
    if (options.edgeRoutes) await this.edge.sync(this.address(group), options.edgeRoutes);
    return this.removeAll(group, options, (s) => [
      ...this.removals(s, uidOf(app), "app deleted"),
      ...planSecretGarbage((uid) => uid === uidOf(app), s, group.metadata.name, "app deleted"),
    ]);
  }

  private removals(snapshot: SwarmSnapshot, uid: string, cause: string): SwarmOperation[] {
    return snapshot.services
      .filter((s) => s.owner?.uid === uid && s.owner.kind !== WIPE_KIND)
      .map((s) => ({
        op: "remove-service",
        target: `${s.owner?.kind.toLowerCase()}:${s.owner?.group}/${s.owner?.name}`,
        cause,
        id: s.id,
      }));
  }

  async collectGarbage(
    group: Group,
    liveUids: ReadonlySet<string>,
    options: ReconcileOptions = {},
  ): Promise<readonly string[]> {
    const steps = this.steps(this.address(group), (s) => ({
      operations: [
        ...planSwarmGarbage(liveUids, s, group.metadata.name),
        ...planSecretGarbage((uid) => !liveUids.has(uid), s, group.metadata.name),
      ],
    }));
    return (await converge(steps, options)).operations;
  }

  async liveReplicas(obj: App | Service, group: Group): Promise<LiveReplicas> {
    const address = this.address(group);
    this.snapshots.invalidate(address);
    const snapshot = await this.snapshots.get(address);
    const view = this.viewOf(snapshot, obj);
    return {
      title: `Swarm tasks (on ${address} now)`,
      columns: ["REPLICA", "TASK", "NAME", "NODE", "STATE", "CONFIG"],
      rows: view.replicas.map((r) => [String(r.replica), r.containerId, r.name, r.node ?? "-", r.state, r.configHash]),
    };
  }

  /** Every replica's node and state, and figures of those on the manager: the one engine reached (README, Docker Swarm). */
  async usage(groups: readonly Group[], concurrency: number): Promise<UsageReading> {
    const read = await perEngine(groups, this, async (address, names) => [
      await swarmUsage(address, this.managers, await this.snapshots.get(address), names, concurrency),
    ]);
    return { figures: read.flatMap((r) => r.figures), placements: read.flatMap((r) => r.placements) };
  }

  /** Each app's requests, from the edge on each manager (the same Caddy metrics as Docker's). */
  async traffic(groups: readonly Group[]): Promise<readonly AppTraffic[]> {
    return perEngine(groups, this, (address, names) => edgeTraffic(address, this.instanceId, names));
  }

  async logs(obj: App | Service, group: Group, options: LogOptions): Promise<void> {
    const address = this.address(group);
    const snapshot = await this.snapshots.get(address);
    const service = snapshot.services.find((s) => s.owner?.uid === uidOf(obj));
    const tasks = snapshot.tasks.filter((t) => t.serviceId === service?.id && t.desiredState === "running");
    const slots = [...new Set(tasks.map((t) => t.slot))].sort((a, b) => a - b);
    await eachReplica(tasks, options, (t, replicaOptions) =>
      taskLogs(address, t.id, `${obj.metadata.name}-${slots.indexOf(t.slot)}`, replicaOptions),
    );
  }

  private viewOf(snapshot: SwarmSnapshot, obj: App | Service) {
    const service = snapshot.services.find((s) => s.owner?.uid === uidOf(obj));
    const tasks = snapshot.tasks.filter((t) => t.serviceId === service?.id);
    const name = serviceName(obj.metadata.group ?? "", obj.metadata.name);
    return replicaView({ name: obj.metadata.name, serviceName: name, configHash: "" }, tasks, snapshot.nodes);
  }

  private serviceSteps(
    address: string,
    desired: DesiredSwarmService,
  ): ConvergeSteps<SwarmSnapshot, SwarmOperation, SwarmPlan> {
    return this.steps(address, (s) => withSecrets(planSwarmService(desired, s), desired, s));
  }

  private async removeAll(group: Group, options: ReconcileOptions, plan: (s: SwarmSnapshot) => SwarmOperation[]) {
    const steps = this.steps(this.address(group), (s) => ({ operations: plan(s) }));
    const { plan: left } = await converge(steps, options);
    return left.operations.length === 0;
  }

  private steps<P extends Plan<SwarmOperation>>(
    address: string,
    plan: (s: SwarmSnapshot) => P,
  ): ConvergeSteps<SwarmSnapshot, SwarmOperation, P> {
    return {
      maxRounds: MAX_ROUNDS,
      observe: () => this.snapshots.get(address),
      plan,
      execute: async (ops, done) => {
        try {
          await executeSwarmPlan(address, ops, done);
        } finally {
          this.snapshots.invalidate(address);
          if (ops.some(isNetworkOp)) this.edge.overlaysChanged(address);
        }
      },
      describe: describeSwarmOperation,
    };
  }
}

function outcome(desired: DesiredSwarmService, plan: SwarmPlan, operations: readonly string[]): AppOutcome {
  return {
    replicas: plan.replicas,
    readyReplicas: plan.readyReplicas,
    updatedReplicas: plan.updatedReplicas,
    converged: plan.converged,
    operations,
    image: desired.image,
    ...(plan.waiting ? { waiting: plan.waiting } : {}),
    ...(plan.problems.length > 0 ? { problems: plan.problems } : {}),
  };
}

/** The secrets a service's tasks mount go in before it is created or updated; unused ones go after. */
function withSecrets(plan: SwarmPlan, desired: DesiredSwarmService, snapshot: SwarmSnapshot): SwarmPlan {
  const owner = { instance: desired.instance, group: desired.group, name: desired.name, uid: desired.uid };
  const target = `${desired.kind.toLowerCase()}:${desired.group}/${desired.name}`;
  const ops = planSwarmSecrets(owner, target, desired.secrets, snapshot);
  if (ops.length === 0) return plan;
  return { ...plan, operations: [...plan.operations, ...ops], converged: false };
}

function uidOf(obj: Group | App | Service): string {
  return obj.metadata.uid ?? "";
}
