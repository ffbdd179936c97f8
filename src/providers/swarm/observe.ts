import { dockerClient, engineError } from "../docker/engine.js";
import { type ObservedNetwork, observeNetworks } from "../docker/observe.js";
import { LABEL, type OwnedLabels, parseOwnedLabels } from "../ownership.js";
import { SnapshotCache } from "../snapshot-cache.js";

export interface ObservedService {
  readonly id: string;
  readonly name: string;
  readonly version: number;
  /** Labels of the service as found: the ownership check reads them before an update or removal. */
  readonly labels: Record<string, string>;
  readonly owner: OwnedLabels | undefined;
  readonly replicas: number | undefined;
  /** The configuration the service ran before its last update (a rollback returns to it). */
  readonly previousHash: string | undefined;
  /** updating, paused, completed, rollback_started, rollback_paused, rollback_completed. */
  readonly updateState: string | undefined;
  readonly updateMessage: string | undefined;
}

export interface ObservedTask {
  readonly id: string;
  readonly serviceId: string;
  readonly slot: number;
  readonly nodeId: string;
  /** new, pending, assigned, preparing, starting (health check not passed yet), running, failed, rejected... */
  readonly state: string;
  readonly desiredState: string;
  readonly error: string | undefined;
  readonly containerId: string | undefined;
  readonly configHash: string | undefined;
  readonly createdAt: string;
}

export interface ObservedNode {
  readonly id: string;
  /** The node's name for people: its spec name, else its hostname. */
  readonly name: string;
  /** ready, down, unknown, disconnected. */
  readonly state: string;
  readonly availability: string;
}

/** A swarm as its manager has it, in one pass: four list calls. */
export interface SwarmSnapshot {
  readonly address: string;
  readonly services: readonly ObservedService[];
  readonly tasks: readonly ObservedTask[];
  readonly networks: readonly ObservedNetwork[];
  readonly nodes: readonly ObservedNode[];
}

interface RawService {
  ID: string;
  Version?: { Index?: number };
  Spec?: { Name?: string; Labels?: Record<string, string>; Mode?: { Replicated?: { Replicas?: number } } };
  PreviousSpec?: { Labels?: Record<string, string> };
  UpdateStatus?: { State?: string; Message?: string };
}

interface RawTask {
  ID: string;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState?: string;
  CreatedAt?: string;
  Spec?: { ContainerSpec?: { Labels?: Record<string, string> } };
  Status?: { State?: string; Err?: string; ContainerStatus?: { ContainerID?: string } };
}

interface RawNode {
  ID: string;
  Spec?: { Name?: string; Availability?: string };
  Description?: { Hostname?: string };
  Status?: { State?: string };
}

async function takeSnapshot(address: string, instanceId: string): Promise<SwarmSnapshot> {
  const docker = dockerClient(address);
  const filters = { label: [`${LABEL.instance}=${instanceId}`] };
  try {
    const [services, tasks, networks, nodes] = await Promise.all([
      docker.listServices({ filters }) as Promise<RawService[]>,
      // Tasks carry no service labels to filter on: all of them, kept for this installation's services below.
      docker.listTasks() as Promise<RawTask[]>,
      docker.listNetworks({ filters }),
      docker.listNodes() as Promise<RawNode[]>,
    ]);
    const ours = new Set(services.map((s) => s.ID));
    return {
      address,
      services: services.map((s) => ({
        id: s.ID,
        name: s.Spec?.Name ?? s.ID,
        version: s.Version?.Index ?? 0,
        labels: s.Spec?.Labels ?? {},
        owner: parseOwnedLabels(s.Spec?.Labels),
        replicas: s.Spec?.Mode?.Replicated?.Replicas,
        previousHash: s.PreviousSpec?.Labels?.[LABEL.configHash],
        updateState: s.UpdateStatus?.State,
        updateMessage: s.UpdateStatus?.Message,
      })),
      tasks: tasks
        .filter((t) => ours.has(t.ServiceID))
        .map((t) => ({
          id: t.ID,
          serviceId: t.ServiceID,
          slot: t.Slot ?? 0,
          nodeId: t.NodeID ?? "",
          state: t.Status?.State ?? "unknown",
          desiredState: t.DesiredState ?? "unknown",
          error: t.Status?.Err || undefined,
          containerId: t.Status?.ContainerStatus?.ContainerID,
          configHash: t.Spec?.ContainerSpec?.Labels?.[LABEL.configHash],
          createdAt: t.CreatedAt ?? "",
        })),
      networks: observeNetworks(networks),
      nodes: nodes.map((n) => ({
        id: n.ID,
        name: n.Spec?.Name || n.Description?.Hostname || n.ID.slice(0, 12),
        state: n.Status?.State ?? "unknown",
        availability: n.Spec?.Availability ?? "active",
      })),
    };
  } catch (err) {
    throw engineError(address, err);
  }
}

/** One snapshot per manager address, shared by the reconciles of a pass. */
export function swarmSnapshots(instanceId: string): SnapshotCache<SwarmSnapshot> {
  return new SnapshotCache((address) => takeSnapshot(address, instanceId));
}
