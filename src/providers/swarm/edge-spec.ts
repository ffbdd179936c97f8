import { stableHash } from "../../util/stable-hash.js";
import { caddyConfig } from "../docker/edge/config.js";
import type { EdgeRoute } from "../docker/edge/routes.js";
import { type EdgeSettings, edgeLabels, edgeNames } from "../docker/edge/settings.js";
import { LABEL } from "../ownership.js";
import { type DesiredSwarmService, serviceName } from "./desired.js";
import type { ObservedService, SwarmSnapshot } from "./observe.js";
import type { SwarmOperation } from "./plan.js";

/** Where the Caddy config is mounted in the edge's task. */
export const EDGE_CONFIG_TARGET = "/etc/airloft/edge.json";
const SECOND_NS = 1_000_000_000;

/** A Swarm config of this installation (its data is not kept: the name says what it holds). */
export interface ObservedConfig {
  readonly id: string;
  readonly name: string;
  readonly labels: Record<string, string>;
}

/** The edge's Caddy config as a Swarm config: named by the hash of its content, so a change is a new config. */
export interface EdgeConfig {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly data: Buffer;
}

/**
 * The Docker edge's config (the same builder) for a swarm's routes. Each app's upstreams are
 * `tasks.SERVICE`, which Swarm's DNS answers with the address of every running, healthy task on
 * every node; Caddy looks them up again each second. Requests from any group overlay are refused
 * (a tenant's task talking to the edge); the public comes in through the host-mode port, from
 * outside the overlays.
 */
export function swarmEdgeConfig(instance: string, routes: readonly EdgeRoute[], snapshot: SwarmSnapshot): EdgeConfig {
  const overlays = snapshot.networks.filter((n) => n.owner.kind === "Group" && n.owner.instance === instance);
  const json = JSON.stringify(
    caddyConfig({
      routes,
      upstreams: new Map(),
      resolved: new Map(routes.map((r) => [r.uid, `tasks.${serviceName(r.group, r.app)}`])),
      blocked: overlays.flatMap((n) => n.subnets),
      // No exemption: nothing legitimate reaches the edge from an overlay's gateway.
      gateways: [],
    }),
  );
  const hash = stableHash(json);
  return {
    name: `${edgeNames(instance).container}_${hash}`,
    labels: edgeLabels(instance, hash),
    data: Buffer.from(json),
  };
}

/** A Swarm config as a service spec names it. */
export interface ConfigRef {
  readonly id: string;
  readonly name: string;
}

/** The container of the edge's task that serves now: running on the manager, where AirLoft can exec into it. */
export function servingEdgeTask(snapshot: SwarmSnapshot, serviceId: string, node: string): string | undefined {
  return snapshot.tasks.find(
    (t) => t.serviceId === serviceId && t.nodeId === node && t.state === "running" && t.desiredState === "running",
  )?.containerId;
}

export interface EdgeConfigChoice {
  /** The config the service's spec names after this pass. */
  readonly config: ConfigRef;
  readonly operations: readonly SwarmOperation[];
  /** The container the wanted config is loaded into live (Caddy's admin API), when the spec keeps an older one. */
  readonly live: string | undefined;
}

/**
 * Where a route change goes. While the edge's task serves and nothing but the config would change
 * in its spec, the spec keeps the config it names (a change there restarts the one task, which
 * holds the port, so requests would fail until the new Caddy listens) and the running Caddy takes
 * the wanted config live. The spec takes the wanted config with the next change that makes a new
 * task anyway, or once no task serves. A task Swarm restarts meanwhile starts with the kept config
 * and gets the wanted one on AirLoft's next pass (its Caddy's config differs, so it is loaded).
 */
export function edgeConfigChoice(input: {
  readonly wanted: ConfigRef;
  /** The config the service's spec names now, while it exists. */
  readonly kept: ConfigRef | undefined;
  readonly serving: string | undefined;
  readonly plan: (config: ConfigRef) => readonly SwarmOperation[];
}): EdgeConfigChoice {
  const { wanted, kept, serving, plan } = input;
  if (kept && serving) {
    const operations = plan(kept);
    if (operations.length === 0) return { config: kept, operations, live: serving };
  }
  const operations = plan(wanted);
  // Nothing to roll and the spec names the wanted config: the serving task was started with it, or got it live.
  return { config: wanted, operations, live: operations.length === 0 ? serving : undefined };
}

export interface SwarmEdgeInput {
  readonly instance: string;
  readonly settings: EdgeSettings;
  /** The routed groups' overlays the edge joins. */
  readonly networks: readonly string[];
  readonly config: ConfigRef;
  /** The manager the controller talks to: the edge's port is published there, and its image is there. */
  readonly node: string;
}

/**
 * The edge as a Swarm service: one Caddy task pinned to the manager, on the routed groups'
 * overlays, its HTTP port published in host mode there (no routing mesh: it needs IPVS). A spec
 * change rolls it stop-first (the port is held by the one task): route changes alone are loaded
 * live instead (edgeConfigChoice).
 */
export function desiredSwarmEdge(input: SwarmEdgeInput): DesiredSwarmService {
  const { instance, settings, config, node } = input;
  const name = edgeNames(instance).container;
  const networks = [...new Set(input.networks)].sort();
  const configHash = stableHash({
    image: settings.image,
    config: config.name,
    networks,
    port: settings.httpPort,
    node,
  });
  const labels = edgeLabels(instance, configHash);
  const update = { Parallelism: 1, Delay: 0, Monitor: 5 * SECOND_NS, MaxFailureRatio: 0, Order: "stop-first" };
  const spec = {
    Name: name,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: settings.image,
        Command: ["caddy", "run", "--config", EDGE_CONFIG_TARGET],
        Env: ["XDG_CONFIG_HOME=/config", "XDG_DATA_HOME=/data"],
        Labels: labels,
        Configs: [
          {
            ConfigID: config.id,
            ConfigName: config.name,
            File: { Name: EDGE_CONFIG_TARGET, UID: "0", GID: "0", Mode: 0o444 },
          },
        ],
        CapabilityDrop: ["CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE"],
      },
      RestartPolicy: { Condition: "any", Delay: SECOND_NS },
      Placement: { Constraints: [`node.id==${node}`] },
      Networks: networks.map((Target) => ({ Target })),
    },
    Mode: { Replicated: { Replicas: 1 } },
    UpdateConfig: { ...update, FailureAction: "rollback" },
    RollbackConfig: { ...update, FailureAction: "pause" },
    EndpointSpec: {
      Mode: "dnsrr",
      Ports: [{ Protocol: "tcp", TargetPort: 80, PublishedPort: settings.httpPort, PublishMode: "host" }],
    },
  };
  return {
    kind: "Edge",
    group: "",
    name: "edge",
    uid: labels[LABEL.uid] ?? "",
    instance,
    serviceName: name,
    replicas: 1,
    configHash,
    image: settings.image,
    node,
    spec,
    secrets: [],
  };
}

/** The edge's configs that neither the wanted config nor any service's spec or previous spec (a rollback's) names. */
export function unusedEdgeConfigs(
  instance: string,
  configs: readonly ObservedConfig[],
  wanted: string | undefined,
  services: readonly ObservedService[],
): ObservedConfig[] {
  const keep = new Set([...(wanted ? [wanted] : []), ...services.flatMap((s) => s.configNames)]);
  return configs.filter(
    (c) => c.labels[LABEL.instance] === instance && c.labels[LABEL.kind] === "Edge" && !keep.has(c.name),
  );
}
