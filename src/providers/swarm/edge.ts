import { ensureImage } from "../docker/app-image.js";
import { DockerEdge, type EdgeFlavour } from "../docker/edge/edge.js";
import type { EdgeRoute } from "../docker/edge/routes.js";
import type { EdgeSettings } from "../docker/edge/settings.js";
import type { TlsOutcome } from "../docker/edge/tls-status.js";
import { dockerClient, engineError, statusCodeOf } from "../docker/engine.js";
import { cleanDockerMessage, executePlan } from "../docker/execute.js";
import { engineSnapshots, type Snapshot } from "../docker/observe.js";
import { LABEL } from "../ownership.js";
import type { SnapshotCache } from "../snapshot-cache.js";
import { serviceName } from "./desired.js";
import { executeSwarmPlan } from "./execute.js";
import type { SwarmSnapshot } from "./observe.js";

/** Each app's replicas are Swarm's DNS answer for its service's tasks, on every node. */
export const SWARM_FLAVOUR: EdgeFlavour = {
  provider: "swarm",
  resolved: (r) => `tasks.${serviceName(r.group, r.app)}`,
  // No exemption: nothing legitimate reaches the edge from an overlay's gateway.
  gatewaysPass: false,
  edgeName: "swarm-edge",
};

export interface SwarmEdgeDeps {
  readonly instance: string;
  readonly settings: EdgeSettings;
  readonly snapshots: SnapshotCache<SwarmSnapshot>;
  /** The manager address a group's spec.swarm.host resolves to. */
  readonly resolve: (engine: string | undefined) => string;
}

/**
 * The edge proxy of each swarm: the Docker edge (docker/edge/), an ordinary container on the
 * manager AirLoft talks to. Unlike a Swarm task's container, it joins and leaves the groups'
 * attachable overlays while it runs, with addresses the manager allocates, so a new group's app
 * is routed without a restart. Each app's upstreams are `tasks.GROUP_APP`, which Swarm's DNS
 * answers with every running, healthy task on every node. Requests from any group overlay are
 * refused; the public comes in through the edge's own bridge network.
 */
export class SwarmEdge {
  private readonly edge: DockerEdge;
  /** The manager's engine as the Docker edge sees it: containers, networks (the overlays among them), volumes. */
  private readonly engine: SnapshotCache<Snapshot>;
  /** Managers where no edge config of an earlier version is left: not listed again. */
  private readonly configsGone = new Set<string>();

  constructor(private readonly deps: SwarmEdgeDeps) {
    this.engine = engineSnapshots(deps.instance);
    this.edge = new DockerEdge({
      instance: deps.instance,
      settings: deps.settings,
      snapshots: this.engine,
      resolve: deps.resolve,
      ensureImage: (address, ref) => ensureImage(this.engine, address, { ref }, undefined),
      execute: (address, ops) => executePlan(address, ops, { concurrency: 2 }),
      flavour: SWARM_FLAVOUR,
    });
  }

  /** The app's address through the edge. */
  url(route: EdgeRoute): string | undefined {
    return this.edge.url(route);
  }

  /** The certificate the edge serves for the route, or why it has none yet. */
  tls(address: string, route: EdgeRoute): Promise<TlsOutcome | undefined> {
    return this.edge.tls(address, route);
  }

  /** Converges the swarm's edge with the routes of its groups. */
  async sync(address: string, routes: readonly EdgeRoute[]): Promise<void> {
    await this.removeEdgeService(address);
    await this.edge.sync(address, routes);
  }

  /**
   * The Swarm provider made or removed an overlay on the manager: the edge's networks and blocked
   * subnets are read again. Only then, so a pass over many apps shares one engine snapshot.
   */
  overlaysChanged(address: string): void {
    this.engine.invalidate(address);
  }

  /**
   * An earlier version's edge was a Swarm service with its config in Swarm configs: both go (the
   * service first, as a config in a spec cannot be removed, and its port must be free).
   */
  private async removeEdgeService(address: string): Promise<void> {
    const { instance, snapshots } = this.deps;
    const services = (await snapshots.get(address)).services.filter(
      (s) => s.owner?.kind === "Edge" && s.owner.instance === instance,
    );
    if (services.length > 0)
      await executeSwarmPlan(
        address,
        services.map((s) => ({ op: "remove-service", target: "edge", cause: "the edge is a container now", id: s.id })),
        () => undefined,
      ).finally(() => snapshots.invalidate(address));
    else if (this.configsGone.has(address)) return;
    const docker = dockerClient(address);
    const filters = { label: [`${LABEL.instance}=${instance}`, `${LABEL.kind}=Edge`] };
    const configs = (await docker.listConfigs({ filters }).catch((err: unknown) => {
      throw engineError(address, err);
    })) as Array<{ ID: string }>;
    let left = 0;
    for (const c of configs)
      await docker
        .getConfig(c.ID)
        .remove()
        .catch((err: unknown) => {
          // Still named by the removed service's last tasks: the next pass removes it.
          if (/in use/.test(cleanDockerMessage(err))) left++;
          else if (statusCodeOf(err) !== 404) throw engineError(address, err);
        });
    if (left === 0) this.configsGone.add(address);
  }
}
