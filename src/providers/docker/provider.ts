import { SERVICE_TEMPLATES, type ServiceCredentials } from "../../resources/templates.js";
import type { App, Group, Service } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import { type Clock, systemClock } from "../../util/clock.js";
import { type Converged, type ConvergeSteps, converge, type Plan, planOnce } from "../converge.js";
import { EngineGroups, GroupNetworkStep } from "../group-network-step.js";
import { ownerLabels } from "../ownership.js";
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
import { appImage, ensureImage, imageMissing } from "./app-image.js";
import { prepareAppSecrets, pruneAppSecretFiles } from "./app-secrets.js";
import { type DesiredApp, desiredApp, desiredService, networkName } from "./desired.js";
import { DockerEdge } from "./edge/edge.js";
import { edgeSettings } from "./edge/settings.js";
import { edgeTraffic } from "./edge/traffic.js";
import { resolveEngineAddress } from "./engine.js";
import { executePlan } from "./execute.js";
import { containerLogs, liveContainers } from "./facts.js";
import { findImage } from "./images.js";
import { engineSnapshots, type ObservedContainer, type Snapshot } from "./observe.js";
import type { AppPlan, Operation, VolumeOwner } from "./plan.js";
import {
  describeOperation,
  isReady,
  planApp,
  planGarbage,
  planVolumeRemoval,
  planVolumes,
  resolveServiceVolume,
} from "./plan.js";
import { NO_RECOVERY, type Recovery, type ReplicaFacts } from "./recovery.js";
import { releaseGate } from "./release.js";
import { observeReplicaFacts, recoveryFor, replicaKey, replicaOfTarget, replicaStatuses } from "./replica-facts.js";
import { ReplicaHealth } from "./replica-health.js";
import { engineUsage, perEngine } from "./usage.js";

/** Plan-execute rounds in one reconcile; a replica that keeps failing waits for the next pass. */
const MAX_ROUNDS = 3;

export interface DockerProviderOptions {
  readonly instanceId: string;
  readonly concurrency?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Paces crash-loop back-off and liveness intervals. */
  readonly clock?: Clock;
}

/** The Docker engine as an InfraProvider: a network per group, containers per app replica. */
export class DockerProvider extends EngineGroups<Snapshot, Operation> implements InfraProvider {
  readonly name = "docker" as const;
  readonly snapshots: SnapshotCache<Snapshot>;
  readonly edge: DockerEdge;
  readonly instanceId: string;
  private readonly concurrency: number;
  readonly env: NodeJS.ProcessEnv;
  private readonly health: ReplicaHealth;
  /** Each group's bridge network. */
  protected readonly groups: GroupNetworkStep<Snapshot, Operation>;

  constructor(options: DockerProviderOptions) {
    super();
    this.health = new ReplicaHealth(options.clock ?? systemClock);
    this.instanceId = options.instanceId;
    this.concurrency = options.concurrency ?? 4;
    this.env = options.env ?? process.env;
    this.snapshots = engineSnapshots(options.instanceId);
    this.edge = new DockerEdge({
      instance: this.instanceId,
      settings: edgeSettings(this.env),
      snapshots: this.snapshots,
      resolve: (engine) => resolveEngineAddress(engine, this.env),
      ensureImage: (address, ref) => ensureImage(this.snapshots, address, { ref }, undefined),
      execute: (address, ops) => executePlan(address, ops, { concurrency: this.concurrency }),
    });
    this.groups = new GroupNetworkStep({
      provider: "docker",
      instanceId: this.instanceId,
      address: (group) => this.address(group),
      network: (group) => ({ name: networkName(group), subnet: group.spec.docker?.network?.subnet }),
      operations: (planned) => planned,
      steps: (address, plan) => this.steps(address, plan),
    });
  }

  address(group: Group): string {
    return resolveEngineAddress(group.spec.docker?.host, this.env);
  }

  async finalizeGroup(group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    return this.removeAll(group, options, (snapshot) => [
      ...snapshot.containers
        .filter((c) => c.owner.group === group.metadata.name)
        .map((c) => removeOp(c, "group deleted")),
      ...snapshot.networks
        .filter((n) => n.owner.uid === uidOf(group))
        .map(
          (n): Operation => ({
            op: "remove-network",
            target: `group:${group.metadata.name}`,
            cause: "group deleted",
            id: n.id,
          }),
        ),
    ]);
  }

  async reconcileApp(app: App, group: Group, options: AppReconcileOptions = {}): Promise<AppOutcome> {
    const address = this.address(group);
    const image = await ensureImage(this.snapshots, address, appImage(app), app.spec.build, options.secrets?.pull);
    const secrets = prepareAppSecrets(address, this.env, this.instanceId, app, options.secrets);
    const gate = desiredApp(app, group, this.instanceId, image, options.bindings, secrets);
    let { desired, release } = await releaseGate(address, gate, app.spec.release?.command, options.releaseDone);
    if (options.scaleUpLimit !== undefined && options.scaleUpLimit < desired.replicas)
      desired = { ...desired, replicas: options.scaleUpLimit };
    if (options.edgeRoutes) this.edge.remember(address, options.edgeRoutes);
    const converged = await converge(this.appSteps(address, desired, { probe: true }), options);
    const outcome = { ...this.outcome(desired, converged), ...(release ? { release } : {}) };
    if (outcome.converged) pruneAppSecretFiles(address, this.env, this.instanceId, app, secrets.digest ?? "");
    if (!options.edgeRoutes) return outcome;
    // After the rollout's rounds: replicas that became ready enter the upstreams now.
    await this.edge.sync(address, options.edgeRoutes);
    const route = options.edgeRoutes.find((r) => r.uid === uidOf(app));
    const url = route && this.edge.url(route);
    const tls = route && (await this.edge.tls(address, route));
    return { ...outcome, ...(url ? { url } : {}), ...(tls ? { tls } : {}) };
  }

  async planApp(
    app: App,
    group: Group,
    bindings: Readonly<Record<string, string>> = {},
    resolved?: ResolvedSecrets,
  ): Promise<readonly string[]> {
    const address = this.address(group);
    const image = appImage(app);
    const found = findImage((await this.snapshots.get(address)).images, image.ref);
    const target = `app:${group.metadata.name}/${app.metadata.name}`;
    if (!found) return imageMissing(target, image.ref, app.spec.build ? "build" : "pull");
    // The digest and file paths only: diff writes no file.
    const secrets = { env: resolved?.env ?? {}, mounts: [], digest: resolved?.digest || undefined };
    const desired = desiredApp(app, group, this.instanceId, { ref: image.ref, id: found.id }, bindings, secrets);
    // diff does not probe: it reports the configuration changes, not readiness.
    return planOnce(this.appSteps(address, desired, { probe: false }));
  }

  async reconcileService(
    service: Service,
    group: Group,
    creds: ServiceCredentials,
    options: ServiceReconcileOptions = {},
  ): Promise<ServiceOutcome> {
    const address = this.address(group);
    const ref = service.spec.image ?? SERVICE_TEMPLATES[service.spec.template].image(service.spec.version);
    const image = await ensureImage(this.snapshots, address, { ref }, undefined, options.secrets?.pull);
    const desired = await this.desiredService(address, service, group, creds, image);
    const outcome = this.outcome(desired, await converge(this.appSteps(address, desired, { probe: true }), options));
    return { ...outcome, volume: desired.template.volumes[0]?.name ?? "" };
  }

  async planService(service: Service, group: Group, creds: ServiceCredentials): Promise<readonly string[]> {
    const address = this.address(group);
    const ref = service.spec.image ?? SERVICE_TEMPLATES[service.spec.template].image(service.spec.version);
    const found = findImage((await this.snapshots.get(address)).images, ref);
    if (!found) return imageMissing(`service:${group.metadata.name}/${service.metadata.name}`, ref, "pull");
    const desired = await this.desiredService(address, service, group, creds, { ref, id: found.id });
    return planOnce(this.appSteps(address, desired, { probe: false }));
  }

  private async desiredService(
    address: string,
    service: Service,
    group: Group,
    creds: ServiceCredentials,
    image: { ref: string; id: string },
  ): Promise<DesiredApp> {
    const volume = resolveServiceVolume(this.volumeOwner(service, group), (await this.snapshots.get(address)).volumes);
    return desiredService(service, group, this.instanceId, image, creds, volume);
  }

  async finalizeService(service: Service, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    return this.removeAll(group, options, (snapshot) => [
      ...snapshot.containers.filter((c) => c.owner.uid === uidOf(service)).map((c) => removeOp(c, "service deleted")),
      ...(service.spec.storage?.deletionPolicy === "Delete"
        ? planVolumeRemoval(this.volumeOwner(service, group), snapshot.volumes, "deletionPolicy Delete")
        : []),
    ]);
  }

  /**
   * One app's or service's containers (and a service's volume): observed with their readiness,
   * planned by the pure planner. `probe: false` takes every running container as ready (diff).
   */
  private appSteps(address: string, desired: DesiredApp, options: { probe: boolean }): AppSteps {
    const volumeLabels = this.ownerOf(desired);
    const engine = this.steps(address, () => ({ operations: [] }));
    // What the last plan decided, so that the restarts it made are counted once done.
    let recovery: Recovery = NO_RECOVERY;
    return {
      ...engine,
      observe: async () => {
        const snapshot = await this.snapshots.get(address);
        const containers = this.containersOf(snapshot, desired);
        if (!options.probe)
          return {
            containers,
            probe: new Map(containers.map((c) => [c.id, true] as const)),
            facts: new Map(),
            volumes: snapshot.volumes,
          };
        const { probe, facts } = await observeReplicaFacts(address, desired, containers, this.health);
        if (desired.kind === "App") this.edge.noteReadiness(containers, (c) => isReady(c, desired, probe));
        return { containers, probe, facts, volumes: snapshot.volumes };
      },
      plan: ({ containers, probe, facts, volumes }) => {
        const volumeOps = planVolumes(desired, volumes, volumeLabels);
        recovery = recoveryFor(desired, containers, facts, (c) => isReady(c, desired, probe), this.health.now());
        const plan = planApp(desired, containers, probe, recovery.actions);
        const operations = [...volumeOps, ...plan.operations];
        return {
          ...plan,
          operations,
          converged: plan.converged && volumeOps.length === 0,
          problems: recovery.problems,
        };
      },
      execute: (ops, done) =>
        engine.execute(ops, (op) => {
          if (op.op === "restart-policy") this.health.setHeld(op.id, op.policy === "no");
          const action = op.op === "start" || op.op === "remove" ? recovery.actions.get(op.id) : undefined;
          if (action?.kind === "start" || action?.kind === "replace") {
            const replica = replicaOfTarget(op.target, desired.replicas);
            if (replica !== undefined) this.health.recordRestart(replicaKey(desired, replica));
          }
          done(op);
        }),
    };
  }

  private outcome(
    desired: DesiredApp,
    result: Converged<ObservedApp, AppPlan & Pick<Recovery, "problems">>,
  ): AppOutcome {
    const { observed, plan, operations } = result;
    return {
      replicas: replicaStatuses(observed.containers, desired, observed.probe, observed.facts),
      readyReplicas: plan.readyReplicas,
      updatedReplicas: plan.updatedReplicas,
      converged: plan.converged,
      operations,
      image: desired.template.image,
      imageId: desired.template.imageId,
      ...(plan.problems.length > 0 ? { problems: plan.problems } : {}),
    };
  }

  async finalizeApp(app: App, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    // The routes no longer hold the app: its host goes first, then its replicas drain and stop.
    if (options.edgeRoutes) await this.edge.sync(this.address(group), options.edgeRoutes);
    const done = await this.removeAll(group, options, (snapshot) =>
      snapshot.containers.filter((c) => c.owner.uid === uidOf(app)).map((c) => removeOp(c, "app deleted", true)),
    );
    if (done) pruneAppSecretFiles(this.address(group), this.env, this.instanceId, app, undefined);
    return done;
  }

  async collectGarbage(
    group: Group,
    liveUids: ReadonlySet<string>,
    options: ReconcileOptions = {},
  ): Promise<readonly string[]> {
    const steps = this.steps(this.address(group), ({ containers, networks }) => ({
      operations: planGarbage(liveUids, containers, networks),
    }));
    return (await converge(steps, options)).operations;
  }

  async liveReplicas(obj: App | Service, group: Group): Promise<LiveReplicas> {
    return liveContainers(this.address(group), uidOf(obj));
  }

  async logs(obj: App | Service, group: Group, options: LogOptions): Promise<void> {
    return containerLogs(this.address(group), uidOf(obj), obj.metadata.name, options);
  }

  async usage(groups: readonly Group[], concurrency: number): Promise<UsageReading> {
    return {
      figures: await perEngine(groups, this, (address, names) =>
        engineUsage(address, this.instanceId, names, concurrency),
      ),
    };
  }

  async traffic(groups: readonly Group[]): Promise<readonly AppTraffic[]> {
    return perEngine(groups, this, (address, names) => edgeTraffic(address, this.instanceId, names));
  }

  /** Removes what `plan` picks from the engine; true once a fresh look finds nothing left of it. */
  private async removeAll(group: Group, options: ReconcileOptions, plan: (snapshot: Snapshot) => Operation[]) {
    const steps = this.steps(this.address(group), (snapshot) => ({ operations: plan(snapshot) }));
    const { plan: left } = await converge(steps, options);
    return left.operations.length === 0;
  }

  /** Steps on the engine's shared snapshot, run by the plan executor. */
  private steps<P extends Plan<Operation>>(address: string, plan: (s: Snapshot) => P): EngineSteps<P> {
    return {
      maxRounds: MAX_ROUNDS,
      observe: () => this.snapshots.get(address),
      plan,
      execute: async (ops, done) => {
        try {
          await executePlan(address, ops, {
            concurrency: this.concurrency,
            onDone: done,
            beforeStop: (id) => this.edge.withdraw(address, id),
          });
        } finally {
          this.snapshots.invalidate(address);
        }
      },
      describe: describeOperation,
    };
  }

  private containersOf(snapshot: Snapshot, desired: Pick<DesiredApp, "kind" | "group" | "name">): ObservedContainer[] {
    return snapshot.containers.filter(
      (c) => c.owner.kind === desired.kind && c.owner.group === desired.group && c.owner.name === desired.name,
    );
  }

  private volumeOwner(service: Service, group: Group): VolumeOwner {
    return { instance: this.instanceId, group: group.metadata.name, kind: "Service", name: service.metadata.name };
  }

  private ownerOf(desired: DesiredApp): Record<string, string> {
    return ownerLabels({
      instance: this.instanceId,
      group: desired.group,
      kind: desired.kind,
      name: desired.name,
      uid: desired.uid,
    });
  }
}

function uidOf(obj: Group | App | Service): string {
  return obj.metadata.uid ?? "";
}

type AppSteps = ConvergeSteps<ObservedApp, Operation, AppPlan & Pick<Recovery, "problems">>;
type EngineSteps<P extends Plan<Operation>> = ConvergeSteps<Snapshot, Operation, P>;

interface ObservedApp {
  readonly containers: readonly ObservedContainer[];
  readonly probe: ReadonlyMap<string, boolean>;
  readonly facts: ReadonlyMap<string, ReplicaFacts>;
  readonly volumes: Snapshot["volumes"];
}

function removeOp(c: ObservedContainer, cause: string, graceful = false): Operation {
  return {
    op: "remove",
    target: `${c.owner.kind.toLowerCase()}:${c.owner.group}/${c.owner.name}:${c.owner.replica ?? "?"}`,
    cause,
    id: c.id,
    ...(graceful ? { graceful: true as const } : {}),
  };
}
