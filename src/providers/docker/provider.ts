import { TerminalError } from "../../errors.js";
import { SERVICE_TEMPLATES, type ServiceCredentials } from "../../resources/templates.js";
import type { App, Group, GroupStatus, ReplicaStatus, Service } from "../../resources/types.js";
import type { AppOutcome, AppReconcileOptions, InfraProvider, ReconcileOptions, ServiceOutcome } from "../types.js";
import { desiredApp, desiredService, networkName, type DesiredApp } from "./desired.js";
import { resolveEngineAddress } from "./engine.js";
import { executePlan } from "./execute.js";
import { buildImage, buildTag, findImage, pullImage } from "./images.js";
import { ownerLabels } from "../ownership.js";
import { engineSnapshots, type ObservedContainer, type Snapshot } from "./observe.js";
import type { SnapshotCache } from "../snapshot-cache.js";
import { describeOperation, isReady, planApp, planGarbage, planNetwork, planVolumeRemoval, planVolumes, resolveServiceVolume, type Operation, type VolumeOwner } from "./plan.js";
import { probeContainers, publishedEndpoint } from "./probe.js";

/** Plan-execute rounds in one reconcile; a replica that keeps failing waits for the next pass. */
const MAX_ROUNDS = 3;

export interface DockerProviderOptions {
  readonly instanceId: string;
  readonly concurrency?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** The Docker engine as an InfraProvider: a network per group, containers per app replica. */
export class DockerProvider implements InfraProvider {
  readonly name = "docker" as const;
  readonly snapshots: SnapshotCache<Snapshot>;
  private readonly instanceId: string;
  private readonly concurrency: number;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: DockerProviderOptions) {
    this.instanceId = options.instanceId;
    this.concurrency = options.concurrency ?? 4;
    this.env = options.env ?? process.env;
    this.snapshots = engineSnapshots(options.instanceId);
  }

  address(group: Group): string {
    return resolveEngineAddress(group.spec.docker?.host, this.env);
  }

  async reconcileGroup(group: Group, options: ReconcileOptions = {}): Promise<Partial<GroupStatus>> {
    const address = this.address(group);
    const snapshot = await this.snapshots.get(address);
    const name = networkName(group);
    const ops = planNetwork(
      { group: group.metadata.name, uid: uidOf(group), name, labels: this.labelsFor(group), subnet: group.spec.docker?.network?.subnet },
      snapshot.networks,
    );
    await this.execute(address, ops, options);
    const after = ops.length > 0 ? await this.snapshots.get(address) : snapshot;
    const network = after.networks.find((n) => n.owner.uid === uidOf(group) && n.name === name);
    return { provider: "docker", engine: address, ...(network ? { network: { name: network.name, id: network.id.slice(0, 12) } } : {}) };
  }

  async finalizeGroup(group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    const address = this.address(group);
    const snapshot = await this.snapshots.get(address);
    const ops: Operation[] = [
      ...snapshot.containers.filter((c) => c.owner.group === group.metadata.name).map((c) => removeOp(c, "group deleted")),
      ...snapshot.networks.filter((n) => n.owner.uid === uidOf(group)).map((n): Operation => ({ op: "remove-network", target: `group:${group.metadata.name}`, cause: "group deleted", id: n.id })),
    ];
    await this.execute(address, ops, options);
    return true;
  }

  async reconcileApp(app: App, group: Group, options: AppReconcileOptions = {}): Promise<AppOutcome> {
    const address = this.address(group);
    const image = await this.ensureImage(address, this.imageRef(app), app.spec.build);
    let desired = desiredApp(app, group, this.instanceId, image, options.bindings);
    if (options.scaleUpLimit !== undefined && options.scaleUpLimit < desired.replicas) desired = { ...desired, replicas: options.scaleUpLimit };
    return this.converge(address, desired, options);
  }

  async reconcileService(service: Service, group: Group, creds: ServiceCredentials, options: ReconcileOptions = {}): Promise<ServiceOutcome> {
    const address = this.address(group);
    const ref = service.spec.image ?? SERVICE_TEMPLATES[service.spec.template].image(service.spec.version);
    const image = await this.ensureImage(address, { ref }, undefined);
    const volumes = (await this.snapshots.get(address)).volumes;
    const volume = resolveServiceVolume(this.volumeOwner(service, group), volumes);
    const desired = desiredService(service, group, this.instanceId, image, creds, volume);
    const volumeOps = planVolumes(desired, volumes, this.ownerOf(desired));
    await this.execute(address, volumeOps, options);
    const outcome = await this.converge(address, desired, options);
    return { ...outcome, operations: [...volumeOps.map(describeOperation), ...outcome.operations], volume: desired.template.volumes[0]?.name ?? "" };
  }

  async finalizeService(service: Service, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    const address = this.address(group);
    const snapshot = await this.snapshots.get(address);
    const ops: Operation[] = snapshot.containers.filter((c) => c.owner.uid === uidOf(service)).map((c) => removeOp(c, "service deleted"));
    if (service.spec.storage?.deletionPolicy === "Delete") ops.push(...planVolumeRemoval(this.volumeOwner(service, group), snapshot.volumes, "deletionPolicy Delete"));
    await this.execute(address, ops, options);
    return true;
  }

  /** Observe, plan and execute one app's or service's containers; report as the engine is after. */
  private async converge(address: string, desired: DesiredApp, options: ReconcileOptions): Promise<AppOutcome> {
    const observe = async () => {
      const containers = this.containersOf(await this.snapshots.get(address), desired);
      const probe = desired.httpCheck ? await probeContainers(containers, desired.httpCheck, 2000) : new Map<string, boolean>();
      return { containers, probe, plan: planApp(desired, containers, probe) };
    };
    let now = await observe();
    const done: Operation[] = [];
    // A rollout takes steps (create, then remove the old replica once the new one is ready):
    // take in this pass those that can be taken now, instead of waiting for the next pass.
    for (let round = 0; round < MAX_ROUNDS && now.plan.operations.length > 0; round++) {
      await this.execute(address, now.plan.operations, options);
      done.push(...now.plan.operations);
      now = await observe();
    }
    return {
      replicas: replicaStatuses(now.containers, desired, now.probe),
      readyReplicas: now.plan.readyReplicas,
      updatedReplicas: now.plan.updatedReplicas,
      converged: now.plan.converged,
      operations: done.map(describeOperation),
      image: desired.template.image,
    };
  }

  async planApp(app: App, group: Group, bindings: Readonly<Record<string, string>> = {}): Promise<readonly string[]> {
    const address = this.address(group);
    const snapshot = await this.snapshots.get(address);
    const image = this.imageRef(app);
    const found = findImage(snapshot.images, image.ref);
    if (!found) {
      // Without the image its id is unknown; what will happen is a build or pull, then a rollout.
      const target = `app:${group.metadata.name}/${app.metadata.name}`;
      return [`${target} ${app.spec.build ? "build" : "pull"} (image ${image.ref} not on the engine)`, `${target} rollout (new image)`];
    }
    const desired = desiredApp(app, group, this.instanceId, { ref: image.ref, id: found.id }, bindings);
    const containers = this.containersOf(snapshot, desired);
    // diff does not probe: it reports the configuration changes, not readiness.
    const ready = new Map(containers.map((c) => [c.id, true] as const));
    return planApp(desired, containers, ready).operations.map(describeOperation);
  }

  async finalizeApp(app: App, group: Group, options: ReconcileOptions = {}): Promise<boolean> {
    const address = this.address(group);
    const snapshot = await this.snapshots.get(address);
    const ops = snapshot.containers.filter((c) => c.owner.uid === uidOf(app)).map((c) => removeOp(c, "app deleted"));
    await this.execute(address, ops, options);
    return true;
  }

  async collectGarbage(group: Group, liveUids: ReadonlySet<string>, options: ReconcileOptions = {}): Promise<readonly string[]> {
    const address = this.address(group);
    const snapshot = await this.snapshots.get(address);
    const ops = planGarbage(liveUids, snapshot.containers, snapshot.networks);
    await this.execute(address, ops, options);
    return ops.map(describeOperation);
  }

  private containersOf(snapshot: Snapshot, desired: Pick<DesiredApp, "kind" | "group" | "name">): ObservedContainer[] {
    return snapshot.containers.filter((c) => c.owner.kind === desired.kind && c.owner.group === desired.group && c.owner.name === desired.name);
  }

  private volumeOwner(service: Service, group: Group): VolumeOwner {
    return { instance: this.instanceId, group: group.metadata.name, kind: "Service", name: service.metadata.name };
  }

  private ownerOf(desired: DesiredApp): Record<string, string> {
    return ownerLabels({ instance: this.instanceId, group: desired.group, kind: desired.kind, name: desired.name, uid: desired.uid });
  }

  private imageRef(app: App): { ref: string; build?: { tag: string; files: string[] } } {
    if (app.spec.build) {
      const build = buildTag(app.metadata.group ?? "", app.metadata.name, app.spec.build.context, app.spec.build.dockerfile);
      return { ref: build.tag, build };
    }
    if (app.spec.source) throw new TerminalError("UnsupportedOnDocker", `app ${app.metadata.name} sets spec.source, which runs on the aws provider only; give an image or a build on docker`);
    return { ref: app.spec.image ?? "" };
  }

  /** Makes sure the image is on the engine (built or pulled) and returns its id. */
  private async ensureImage(address: string, image: { ref: string; build?: { tag: string; files: string[] } }, build: App["spec"]["build"]): Promise<{ ref: string; id: string }> {
    let found = findImage((await this.snapshots.get(address)).images, image.ref);
    if (!found) {
      if (image.build && build) await buildImage(address, build.context, image.build.files, image.build.tag, build.dockerfile);
      else await pullImage(address, image.ref);
      this.snapshots.invalidate(address);
      found = findImage((await this.snapshots.get(address)).images, image.ref);
    }
    if (!found) throw new Error(`image ${image.ref} is still not on the engine at ${address}`);
    return { ref: image.ref, id: found.id };
  }

  private async execute(address: string, ops: readonly Operation[], options: ReconcileOptions): Promise<void> {
    if (ops.length === 0) return;
    try {
      await executePlan(address, ops, { concurrency: this.concurrency, onDone: (op) => options.onOperation?.(describeOperation(op)) });
    } finally {
      this.snapshots.invalidate(address);
    }
  }

  private labelsFor(group: Group): Record<string, string> {
    return ownerLabels({ instance: this.instanceId, group: group.metadata.name, kind: "Group", name: group.metadata.name, uid: uidOf(group) });
  }
}

function uidOf(obj: Group | App | Service): string {
  return obj.metadata.uid ?? "";
}

function removeOp(c: ObservedContainer, cause: string): Operation {
  return { op: "remove", target: `${c.owner.kind.toLowerCase()}:${c.owner.group}/${c.owner.name}:${c.owner.replica ?? "?"}`, cause, id: c.id };
}

function replicaStatuses(containers: readonly ObservedContainer[], desired: DesiredApp, probe: ReadonlyMap<string, boolean>): ReplicaStatus[] {
  return containers
    .filter((c) => c.owner.uid === desired.uid && c.owner.replica !== undefined)
    .sort((a, b) => (a.owner.replica ?? 0) - (b.owner.replica ?? 0) || a.name.localeCompare(b.name))
    .map((c) => {
      const endpoint = publishedEndpoint(c, desired.template.port);
      return {
        replica: c.owner.replica ?? 0,
        containerId: c.id.slice(0, 12),
        name: c.name,
        state: c.health && c.state === "running" ? `${c.state} (${c.health})` : c.state,
        ready: isReady(c, desired, probe),
        configHash: c.owner.configHash ?? "",
        ...(endpoint ? { endpoint: `${endpoint.host}:${endpoint.port}` } : {}),
      };
    });
}
