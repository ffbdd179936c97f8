import { createHash } from "node:crypto";
import type { Group } from "../../resources/types.js";
import { stableHash } from "../../util/stable-hash.js";
import type { DesiredApp } from "../docker/desired.js";
import { engineHealthcheck, NAME_SEPARATOR } from "../docker/desired.js";
import { LABEL, ownerLabels } from "../ownership.js";
import { type DesiredSwarmSecret, secretReferences } from "./secrets.js";
import { swarmUpdatePace } from "./update-pace.js";

/** Swarm's limit on a service name (a DNS label). */
const MAX_SERVICE_NAME = 63;
const SECOND_NS = 1_000_000_000;
/** Label on a Swarm service: the node its volume lives on (services with data only). */
export const NODE_LABEL = "airloft.dev/node";

/** What one Swarm service should be: the Docker provider's desired replica, as Swarm's spec. */
export interface DesiredSwarmService {
  readonly kind: "App" | "Service";
  readonly group: string;
  readonly name: string;
  readonly uid: string;
  readonly instance: string;
  /** The Swarm service's name: group_name, derived from the object so a retry finds it again. */
  readonly serviceName: string;
  readonly replicas: number;
  /** Hash of every field but the replica count. */
  readonly configHash: string;
  readonly image: string;
  /** The node a service's data is pinned to. */
  readonly node: string | undefined;
  /** The body of a create or update: everything but the version. Holds env: never logged. */
  readonly spec: Record<string, unknown>;
  /** The Swarm secrets its tasks mount (values: never logged). */
  readonly secrets: readonly DesiredSwarmSecret[];
  /** Registry credentials the nodes pull with (never logged, never in the spec). */
  readonly registryAuth?: Record<string, string>;
}

/** What the provider resolved beyond the Docker provider's replica: secrets, a wrapper, an image by digest. */
export interface SwarmExtras {
  readonly constraints?: readonly string[];
  readonly node?: string | undefined;
  readonly secrets?: readonly DesiredSwarmSecret[];
  /** Replaces the image's entrypoint (the env wrapper); `args` are then the entrypoint and command it runs. */
  readonly container?: { readonly command: readonly string[]; readonly args: readonly string[] };
  /** The Swarm health check, when the app's is one AirLoft turns into a command (HTTP). */
  readonly healthCheck?: Record<string, unknown>;
  readonly registryAuth?: Record<string, string>;
}

export interface SwarmSettings {
  readonly network: string;
  readonly endpointMode: "dnsrr" | "vip";
}

export function swarmSettings(group: Group): SwarmSettings {
  return {
    network: group.spec.swarm?.network?.name ?? `airloft-${group.metadata.name}`,
    endpointMode: group.spec.swarm?.endpointMode ?? "dnsrr",
  };
}

/**
 * group_name, as Docker names a stack's services; past Swarm's 63 characters, a prefix and a hash
 * of the whole (group and object names never hold "_", so two tenants never share a name).
 */
export function serviceName(group: string, name: string): string {
  const full = `${group}${NAME_SEPARATOR}${name}`;
  if (full.length <= MAX_SERVICE_NAME) return full;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, 12);
  return `${full.slice(0, MAX_SERVICE_NAME - 13)}-${hash}`;
}

const RESTART_CONDITION: Readonly<Record<string, string>> = {
  no: "none",
  "on-failure": "on-failure",
  always: "any",
  "unless-stopped": "any",
};

/**
 * The Docker provider's desired replica (image, command, env with secrets, resources, health
 * check, restart, volumes) as a Swarm service spec. Apps roll start-first and roll back on
 * failure; a service with data stops first (two servers never share a data folder) and stays on
 * the node that holds its volume.
 */
export function desiredSwarmService(
  desired: DesiredApp,
  settings: SwarmSettings,
  extra: SwarmExtras = {},
): DesiredSwarmService {
  const t = desired.template;
  const owner = { instance: desired.instance, group: desired.group, kind: desired.kind, name: desired.name };
  const { parallelism, order } = swarmUpdatePace({
    replicas: desired.replicas,
    strategy: desired.strategy,
    pace: desired.pace,
    hasData: t.volumes.length > 0,
  });
  const secrets = extra.secrets ?? [];
  const constraints = [...(extra.constraints ?? []), ...(extra.node ? [`node.id==${extra.node}`] : [])];
  const resources = {
    ...(t.nanoCpus !== undefined ? { NanoCPUs: t.nanoCpus } : {}),
    ...(t.memory !== undefined ? { MemoryBytes: t.memory } : {}),
  };
  const update = { Parallelism: parallelism, Delay: 0, Monitor: 5 * SECOND_NS, MaxFailureRatio: 0, Order: order };
  // Hashed without env values from secrets: the digest stands for them.
  const hashed = {
    image: t.image,
    command: t.command,
    env: t.env,
    secretDigest: t.secretDigest,
    // Names only: each hashes its value's keyed hash.
    secrets: secrets.length > 0 ? secrets.map((x) => [x.name, x.target]) : undefined,
    container: extra.container,
    httpCheck: extra.healthCheck,
    resources,
    restart: t.restart,
    healthCheck: t.healthCheck,
    volumes: t.volumes,
    constraints,
    order,
    network: settings.network,
    endpointMode: settings.endpointMode,
  };
  const configHash = stableHash(hashed);
  const name = serviceName(desired.group, desired.name);
  const labels = {
    ...ownerLabels({ ...owner, uid: desired.uid, configHash }),
    ...(extra.node ? { [NODE_LABEL]: extra.node } : {}),
  };
  const spec = {
    Name: name,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: t.image,
        ...(extra.container
          ? { Command: [...extra.container.command], Args: [...extra.container.args] }
          : t.command
            ? { Args: [...t.command] }
            : {}),
        Env: Object.entries({ ...t.env, ...desired.secretEnv }).map(([k, v]) => `${k}=${v}`),
        ...(secrets.length > 0 ? { Secrets: secretReferences(secrets) } : {}),
        // Each task says which configuration it runs: the rollout's progress is read from them.
        Labels: ownerLabels({ ...owner, uid: desired.uid, configHash }),
        ...(extra.healthCheck ? { Healthcheck: extra.healthCheck } : engineHealthcheck(t.healthCheck)),
        ...(t.volumes.length > 0
          ? { Mounts: t.volumes.map((v) => ({ Type: "volume", Source: v.name, Target: v.target })) }
          : {}),
        CapabilityDrop: ["CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE"],
      },
      // Reservations equal the limits: the scheduler places by what a replica may use.
      Resources: { Limits: resources, Reservations: resources },
      RestartPolicy: { Condition: RESTART_CONDITION[t.restart] ?? "any", Delay: SECOND_NS },
      Placement: { Constraints: constraints },
      Networks: [{ Target: settings.network, Aliases: [desired.name] }],
    },
    Mode: { Replicated: { Replicas: desired.replicas } },
    UpdateConfig: { ...update, FailureAction: "rollback" },
    RollbackConfig: { ...update, FailureAction: "pause" },
    EndpointSpec: { Mode: settings.endpointMode },
  };
  return {
    kind: desired.kind,
    group: desired.group,
    name: desired.name,
    uid: desired.uid,
    instance: desired.instance,
    serviceName: name,
    replicas: desired.replicas,
    configHash,
    image: t.image,
    node: extra.node,
    spec,
    secrets,
    ...(extra.registryAuth ? { registryAuth: extra.registryAuth } : {}),
  };
}

/** The labels a Swarm service of this object carries, for the ownership check before an update or removal. */
export function isOwnedBy(labels: Record<string, string> | undefined, desired: DesiredSwarmService): boolean {
  return labels?.[LABEL.instance] === desired.instance && labels?.[LABEL.uid] === desired.uid;
}
