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
  /** The Swarm secrets its spec and its previous spec name: in use, or needed by a rollback. */
  readonly secretNames: readonly string[];
  /** The image its spec runs (by digest once resolved). */
  readonly image: string | undefined;
}

/** A Swarm secret of this installation: its value is never returned by the API. */
export interface ObservedSecret {
  readonly id: string;
  readonly name: string;
  readonly labels: Record<string, string>;
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

/** A swarm as its manager has it, in one pass: five list calls. */
export interface SwarmSnapshot {
  readonly address: string;
  readonly services: readonly ObservedService[];
  readonly tasks: readonly ObservedTask[];
  readonly networks: readonly ObservedNetwork[];
  readonly nodes: readonly ObservedNode[];
  readonly secrets: readonly ObservedSecret[];
}

type RawSpec = {
  Name?: string;
  Labels?: Record<string, string>;
  Mode?: { Replicated?: { Replicas?: number } };
  TaskTemplate?: {
    ContainerSpec?: {
      Image?: string;
      Secrets?: Array<{ SecretName?: string }>;
    };
  };
};

interface RawService {
  ID: string;
  Version?: { Index?: number };
  Spec?: RawSpec;
  PreviousSpec?: RawSpec;
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
    const [services, tasks, networks, nodes, secrets] = await Promise.all([
      docker.listServices({ filters }) as Promise<RawService[]>,
      // Tasks carry no service labels to filter on: all of them, kept for this installation's services below.
      docker.listTasks() as Promise<RawTask[]>,
      docker.listNetworks({ filters }),
      docker.listNodes() as Promise<RawNode[]>,
      docker.listSecrets({ filters }) as Promise<
        Array<{ ID: string; Spec?: { Name?: string; Labels?: Record<string, string> } }>
      >,
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
        secretNames: [s.Spec, s.PreviousSpec].flatMap(
          (spec) => spec?.TaskTemplate?.ContainerSpec?.Secrets?.map((r) => r.SecretName ?? "") ?? [],
        ),
        image: s.Spec?.TaskTemplate?.ContainerSpec?.Image,
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
      secrets: secrets.map((x) => ({ id: x.ID, name: x.Spec?.Name ?? x.ID, labels: x.Spec?.Labels ?? {} })),
    };
  } catch (err) {
    throw engineError(address, err);
  }
}

/** One snapshot per manager address, shared by the reconciles of a pass. */
export function swarmSnapshots(instanceId: string): SnapshotCache<SwarmSnapshot> {
  return new SnapshotCache((address) => takeSnapshot(address, instanceId));
}
