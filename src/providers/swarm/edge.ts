import { isDeepStrictEqual } from "node:util";
import type Docker from "dockerode";
import { KeyedLock } from "../aws/keyed-lock.js";
import { loadConfig, readConfig } from "../docker/edge/admin.js";
import type { EdgeRoute } from "../docker/edge/routes.js";
import { type EdgeSettings, edgeUrl } from "../docker/edge/settings.js";
import { dockerClient, engineError, statusCodeOf } from "../docker/engine.js";
import { cleanDockerMessage } from "../docker/execute.js";
import { pullImage } from "../docker/images.js";
import { LABEL } from "../ownership.js";
import type { SnapshotCache } from "../snapshot-cache.js";
import {
  type ConfigRef,
  desiredSwarmEdge,
  type EdgeConfig,
  edgeConfigChoice,
  type ObservedConfig,
  servingEdgeTask,
  swarmEdgeConfig,
  unusedEdgeConfigs,
} from "./edge-spec.js";
import { executeSwarmPlan } from "./execute.js";
import type { ManagerNodes } from "./manager-node.js";
import type { SwarmSnapshot } from "./observe.js";
import { planSwarmService, type SwarmOperation } from "./plan.js";

export interface SwarmEdgeDeps {
  readonly instance: string;
  readonly settings: EdgeSettings;
  readonly snapshots: SnapshotCache<SwarmSnapshot>;
  /** The manager address a group's spec.swarm.host resolves to. */
  readonly resolve: (engine: string | undefined) => string;
  readonly managers: ManagerNodes;
}

/**
 * The edge proxy of each swarm: one Caddy service (edge-spec.ts) whose config is a Swarm config,
 * made again when the routes change and loaded into the running Caddy without a restart
 * (edgeConfigChoice), and removed with its configs when no app on the swarm is routed any more.
 * One sync per swarm at a time.
 */
export class SwarmEdge {
  private readonly lock = new KeyedLock();

  constructor(private readonly deps: SwarmEdgeDeps) {}

  /** The app's address through the edge (plain HTTP on the manager's published port). */
  url(route: EdgeRoute): string | undefined {
    return edgeUrl(route, this.deps.settings);
  }

  /** Converges the swarm's edge with the routes of its groups. */
  sync(address: string, routes: readonly EdgeRoute[]): Promise<void> {
    return this.lock.run(address, async () => {
      const { instance, snapshots } = this.deps;
      const mine = routes.filter((r) => r.provider === "swarm" && this.deps.resolve(r.engine) === address);
      const docker = dockerClient(address);
      const snapshot = await snapshots.get(address);
      const configs = await listConfigs(address, docker, instance);
      const ops: SwarmOperation[] = [];
      let wanted: EdgeConfig | undefined;
      let live: string | undefined;
      if (mine.length === 0) {
        for (const s of snapshot.services)
          if (s.owner?.kind === "Edge" && s.owner.instance === instance)
            ops.push({ op: "remove-service", target: "edge", cause: "no routed app", id: s.id });
      } else {
        wanted = swarmEdgeConfig(instance, mine, snapshot);
        const node = await this.deps.managers.of(address);
        const service = snapshot.services.find((s) => s.owner?.kind === "Edge" && s.owner.instance === instance);
        const kept = configs.find((c) => c.name === service?.specConfigNames[0]);
        const choice = edgeConfigChoice({
          wanted: { id: await this.configId(address, docker, wanted, configs), name: wanted.name },
          kept,
          serving: service && servingEdgeTask(snapshot, service.id, node),
          plan: (config: ConfigRef) =>
            planSwarmService(
              desiredSwarmEdge({
                instance,
                settings: this.deps.settings,
                networks: mine.map((r) => r.network),
                config,
                node,
              }),
              snapshot,
            ).operations,
        });
        ops.push(...choice.operations);
        live = choice.live;
        // Before the task is made anew (a new image setting among the changes): it starts on the manager.
        if (ops.length > 0) await ensureImage(address, docker, this.deps.settings.image);
      }
      let now = snapshot;
      if (ops.length > 0) {
        await executeSwarmPlan(address, ops, () => undefined).finally(() => snapshots.invalidate(address));
        now = await snapshots.get(address);
      }
      if (live && wanted) await loadLive(docker, live, JSON.parse(wanted.data.toString()) as unknown);
      // An old config stays while the service's previous spec (a rollback's) names it.
      for (const c of unusedEdgeConfigs(instance, configs, wanted?.name, now.services))
        await docker
          .getConfig(c.id)
          .remove()
          .catch((err: unknown) => {
            if (statusCodeOf(err) !== 404 && !/in use/.test(cleanDockerMessage(err))) throw engineError(address, err);
          });
    });
  }

  /** The config's id: found, or made now (one made before a crash is found by its name). */
  private async configId(
    address: string,
    docker: Docker,
    config: EdgeConfig,
    configs: readonly ObservedConfig[],
  ): Promise<string> {
    const found = configs.find((c) => c.name === config.name);
    if (found) return found.id;
    try {
      const made = (await docker.createConfig({
        Name: config.name,
        Labels: config.labels,
        Data: config.data.toString("base64"),
      })) as { id: string };
      return made.id;
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw engineError(address, err);
      const again = await listConfigs(address, docker, this.deps.instance);
      const id = again.find((c) => c.name === config.name)?.id;
      if (!id) throw new Error(`the Swarm config name ${config.name} is taken by something AirLoft did not make`);
      return id;
    }
  }
}

/** Loads the config into the running Caddy when it runs another (Caddy swaps it without dropping a connection). */
async function loadLive(docker: Docker, containerId: string, config: unknown): Promise<void> {
  if (!isDeepStrictEqual(await readConfig(docker, containerId), config)) await loadConfig(docker, containerId, config);
}

/** This installation's edge configs: one list call, by label. */
async function listConfigs(address: string, docker: Docker, instance: string): Promise<ObservedConfig[]> {
  const filters = { label: [`${LABEL.instance}=${instance}`, `${LABEL.kind}=Edge`] };
  const found = (await docker.listConfigs({ filters }).catch((err: unknown) => {
    throw engineError(address, err);
  })) as Array<{ ID: string; Spec?: { Name?: string; Labels?: Record<string, string> } }>;
  return found.map((c) => ({ id: c.ID, name: c.Spec?.Name ?? c.ID, labels: c.Spec?.Labels ?? {} }));
}

/** The edge's image on the manager (its task runs there): pulled when missing, as the Docker edge's is. */
async function ensureImage(address: string, docker: Docker, ref: string): Promise<void> {
  const present = await docker
    .getImage(ref)
    .inspect()
    .then(
      () => true,
      (err: unknown) => {
        if (statusCodeOf(err) === 404) return false;
        throw engineError(address, err);
      },
    );
  if (!present) await pullImage(address, ref);
}
