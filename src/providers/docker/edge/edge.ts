import { performance } from "node:perf_hooks";
import { isDeepStrictEqual } from "node:util";
import type Docker from "dockerode";
import { KeyedLock } from "../../aws/keyed-lock.js";
import type { SnapshotCache } from "../../snapshot-cache.js";
import { dockerClient, statusCodeOf } from "../engine.js";
import type { ObservedContainer, Snapshot } from "../observe.js";
import type { Operation } from "../plan.js";
import { loadConfig, putFile, readConfig } from "./admin.js";
import { caddyConfig, dialsOf } from "./config.js";
import type { EdgeRoute } from "./routes.js";
import { DOCKER_EDGE, type EdgeSettings, edgeNames, edgeUrl, isEdge, planEdge } from "./settings.js";
import { type TlsOutcome, tlsOutcome } from "./tls-status.js";

/** Where the edge finds the ACME directory's CA root: pushed with the config, read when Caddy loads it. */
const CA_ROOT_FILE = "/config/airloft-acme-ca.pem";

export interface EdgeDeps {
  readonly instance: string;
  readonly settings: EdgeSettings;
  readonly snapshots: SnapshotCache<Snapshot>;
  /** The engine address a group's spec.docker.host resolves to. */
  readonly resolve: (engine: string | undefined) => string;
  readonly ensureImage: (address: string, ref: string) => Promise<unknown>;
  readonly execute: (address: string, ops: readonly Operation[]) => Promise<void>;
  /** What differs where the engine is a Swarm manager (swarm/edge.ts); Docker's by default. */
  readonly flavour?: EdgeFlavour;
}

/** The two things an edge on a Swarm manager does otherwise: where an app's replicas are, which routes are its. */
export interface EdgeFlavour {
  readonly provider: "docker" | "swarm";
  /**
   * By route, a DNS name whose records are the app's replicas (Swarm's `tasks.NAME`), instead of
   * the replicas observed on the engine.
   */
  readonly resolved?: (route: EdgeRoute) => string;
  /** Whether a request from a group network's gateway passes: Docker's port publishing comes from there. */
  readonly gatewaysPass: boolean;
  /** The edge container's name label, which tells the two flavours' edges apart on one engine. */
  readonly edgeName: string;
}

/** How long the config an edge was seen or told to run is taken as what it runs: about a pass. */
const CONFIG_TRUST_MS = 1000;

const DOCKER: EdgeFlavour = { provider: "docker", gatewaysPass: true, edgeName: DOCKER_EDGE };

/**
 * The edge proxy of each engine: one Caddy container, on the group networks of the apps it
 * routes, its config derived from the routes and the ready replicas and pushed only when Caddy
 * runs something else (a change here, or a hand-made one). One sync per engine at a time.
 */
export class DockerEdge {
  private readonly lock = new KeyedLock();
  /** Readiness this process observed, by container id; newer than what statuses say. */
  private readonly ready = new Map<string, boolean>();
  /** Replicas on their way out: never an upstream again. */
  private readonly withdrawn = new Set<string>();
  private readonly routes = new Map<string, readonly EdgeRoute[]>();
  /** When a push took each upstream address out of service: its drain runs from then. */
  private readonly removedAt = new Map<string, number>();
  /** By engine, the config its edge was last seen or told to run (see currentConfig), and when (performance.now(): a wall clock stepped back must not make it trusted for as long). */
  private readonly known = new Map<
    string,
    { readonly edgeId: string; readonly config: unknown; readonly at: number }
  >();

  private readonly flavour: EdgeFlavour;

  constructor(private readonly deps: EdgeDeps) {
    this.flavour = deps.flavour ?? DOCKER;
  }

  noteReadiness(containers: readonly ObservedContainer[], isReady: (c: ObservedContainer) => boolean): void {
    for (const c of containers) this.ready.set(c.id, isReady(c));
  }

  /**
   * The routes a withdrawal syncs with: told before a rollout starts, since a replica can be
   * replaced within the reconcile's first rounds, before its closing sync.
   */
  remember(address: string, routes: readonly EdgeRoute[]): void {
    this.routes.set(
      address,
      routes.filter((r) => r.provider === this.flavour.provider && this.deps.resolve(r.engine) === address),
    );
  }

  /** The app's address through the edge, once it holds a host. */
  url(route: EdgeRoute): string | undefined {
    return edgeUrl(route, this.deps.settings);
  }

  /**
   * Converges the engine's edge with the routes (when given; else the last ones seen). Returns
   * the upstreams the push took out of service, which callers drain before stopping.
   */
  sync(address: string, routes?: readonly EdgeRoute[]): Promise<ReadonlySet<string>> {
    return this.lock.run(address, async () => {
      if (routes) this.remember(address, routes);
      try {
        return await this.push(address);
      } catch (err) {
        // The pass's shared snapshot may predate a hand-made change: an edge container or
        // network removed since answers 404. The engine is read again and the edge made anew now.
        if (statusCodeOf(err) !== 404) throw err;
        this.deps.snapshots.invalidate(address);
        this.known.delete(address);
        return this.push(address);
      }
    });
  }

  /** One sync with the routes remembered for the engine, from the pass's snapshot. */
  private async push(address: string): Promise<ReadonlySet<string>> {
    const mine = this.routes.get(address);
    if (!mine) return new Set<string>();
    const other = (await this.deps.snapshots.get(address)).containers.find(
      (c) => isEdge(c, this.deps.instance) && c.owner.name !== this.flavour.edgeName,
    );
    // The two flavours would share the edge's name, ports and config: one engine serves one.
    if (other && mine.length === 0) return new Set<string>();
    if (other)
      throw new Error(
        `the engine at ${address} already runs the ${this.flavour.provider === "swarm" ? "Docker" : "Swarm"} groups' edge: Docker and Swarm groups cannot route through one engine's edge`,
      );
    let snapshot = await this.converged(address, mine.length > 0);
    if (mine.length === 0) return new Set<string>();
    const edge = this.running(snapshot);
    if (!edge) throw new Error(`the edge container on ${address} is not running`);
    if (await this.joinNetworks(address, edge, mine, snapshot)) {
      this.deps.snapshots.invalidate(address);
      snapshot = await this.deps.snapshots.get(address);
    }
    const config = JSON.parse(JSON.stringify(this.configOf(mine, snapshot))) as unknown;
    const docker = dockerClient(address);
    const current = await this.currentConfig(docker, address, edge.id);
    if (isDeepStrictEqual(current, config)) return new Set<string>();
    this.known.delete(address); // until the load is done: a failed one may have half happened
    const caRoot = this.deps.settings.acme.caRoot;
    if (caRoot) await putFile(docker, edge.id, CA_ROOT_FILE, caRoot);
    await loadConfig(docker, edge.id, config);
    this.known.set(address, { edgeId: edge.id, config, at: performance.now() });
    const kept = dialsOf(config);
    const removed = new Set([...dialsOf(current)].filter((d) => !kept.has(d)));
    const now = Date.now();
    for (const [dial, at] of this.removedAt) if (at + this.deps.settings.drainMs < now) this.removedAt.delete(dial);
    for (const dial of removed) this.removedAt.set(dial, now);
    return removed;
  }

  /**
   * The config the edge runs: read from Caddy (a `docker exec` of its admin API, three calls)
   * unless read or loaded within CONFIG_TRUST_MS. A pass syncs once per app, and reading it each
   * time was 150 of a 50-app no-op pass's 186 calls to a swarm's manager. A hand-made change is
   * still seen by the next pass after that. The container itself is looked at each time (one
   * call): the pass's snapshot may predate its removal by hand, and the 404 takes sync()'s repair
   * path, as the read's did.
   */
  private async currentConfig(docker: Docker, address: string, edgeId: string): Promise<unknown> {
    const known = this.known.get(address);
    if (known?.edgeId === edgeId && performance.now() - known.at < CONFIG_TRUST_MS) {
      const seen = (await docker.getContainer(edgeId).inspect()) as { State?: { Running?: boolean } };
      if (seen.State?.Running) return known.config;
    }
    const config = await readConfig(docker, edgeId);
    this.known.set(address, { edgeId, config, at: performance.now() });
    return config;
  }

  /** The certificate the edge serves for the route, or why it has none yet. */
  async tls(address: string, route: EdgeRoute): Promise<TlsOutcome | undefined> {
    if (!route.tls) return undefined;
    const edge = this.running(await this.deps.snapshots.get(address));
    return tlsOutcome(dockerClient(address), edge?.id, route, this.deps.settings.acme.directory);
  }

  /** Takes a replica out of the upstreams and waits while its in-flight requests finish. */
  async withdraw(address: string, containerId: string): Promise<void> {
    this.withdrawn.add(containerId);
    await this.sync(address);
    // Replicas withdrawn together leave in one push: each waits out the drain from that push.
    const dials = this.dialsOfContainer(containerId, await this.deps.snapshots.get(address), address);
    const since = Math.max(0, ...dials.map((d) => this.removedAt.get(d) ?? 0));
    const wait = since + this.deps.settings.drainMs - Date.now();
    if (since > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  private running(snapshot: Snapshot): ObservedContainer | undefined {
    return snapshot.containers.find(
      (c) => isEdge(c, this.deps.instance, this.flavour.edgeName) && c.state === "running",
    );
  }

  private dialsOfContainer(containerId: string, snapshot: Snapshot, address: string): string[] {
    const c = snapshot.containers.find((x) => x.id === containerId);
    const routes = (c && this.routes.get(address)?.filter((r) => r.uid === c.owner.uid)) ?? [];
    return routes.flatMap((r) => (c?.networks[r.network] ? [`${c.networks[r.network]}:${r.port}`] : []));
  }

  /** The edge container and network as wanted; the snapshot after. */
  private async converged(address: string, wanted: boolean): Promise<Snapshot> {
    // The pass's shared snapshot: an edge gone since is found by the admin call (a 404), see sync().
    const snapshot = await this.deps.snapshots.get(address);
    const ops = planEdge(
      this.deps.instance,
      this.deps.settings,
      wanted,
      snapshot.containers,
      snapshot.networks,
      snapshot.volumes,
      this.flavour.edgeName,
    );
    if (ops.length === 0) return snapshot;
    if (ops.some((o) => o.op === "create")) await this.deps.ensureImage(address, this.deps.settings.image);
    await this.deps.execute(address, ops);
    this.deps.snapshots.invalidate(address);
    return this.deps.snapshots.get(address);
  }

  /** Joins the routed groups' networks and leaves the others; true when it changed any. */
  private async joinNetworks(
    address: string,
    edge: ObservedContainer,
    routes: readonly EdgeRoute[],
    snapshot: Snapshot,
  ): Promise<boolean> {
    const docker = dockerClient(address);
    const own = edgeNames(this.deps.instance).network;
    const groupNets = new Set(snapshot.networks.filter((n) => n.owner.kind === "Group").map((n) => n.name));
    const wanted = new Set(routes.map((r) => r.network).filter((n) => groupNets.has(n)));
    const joined = Object.keys(edge.networks);
    const join = [...wanted].filter((n) => !joined.includes(n));
    const leave = joined.filter((n) => n !== own && !wanted.has(n));
    const tolerate =
      (...codes: number[]) =>
      (err: unknown) => {
        if (!codes.includes(statusCodeOf(err) ?? -1)) throw err;
      };
    for (const n of join) await docker.getNetwork(n).connect({ Container: edge.id }).catch(tolerate(403, 409));
    for (const n of leave)
      await docker.getNetwork(n).disconnect({ Container: edge.id, Force: true }).catch(tolerate(404));
    return join.length + leave.length > 0;
  }

  private configOf(routes: readonly EdgeRoute[], snapshot: Snapshot): Record<string, unknown> {
    const live = new Set(snapshot.containers.map((c) => c.id));
    for (const id of this.ready.keys()) if (!live.has(id)) this.ready.delete(id);
    for (const id of this.withdrawn) if (!live.has(id)) this.withdrawn.delete(id);
    const upstreams = new Map<string, string[]>();
    for (const route of routes) {
      const dials = snapshot.containers
        .filter((c) => c.owner.kind === "App" && c.owner.uid === route.uid && c.state === "running")
        .filter((c) => !this.withdrawn.has(c.id))
        .filter((c) => this.ready.get(c.id) ?? route.ready.includes(c.id.slice(0, 12)))
        .flatMap((c) => (c.networks[route.network] ? [`${c.networks[route.network]}:${route.port}`] : []));
      upstreams.set(route.uid, dials);
    }
    const groupNets = snapshot.networks.filter((n) => n.owner.kind === "Group");
    const { acme, httpsPort } = this.deps.settings;
    const { resolved, gatewaysPass } = this.flavour;
    return caddyConfig({
      routes,
      upstreams,
      ...(resolved ? { resolved: new Map(routes.map((r) => [r.uid, resolved(r)])) } : {}),
      blocked: groupNets.flatMap((n) => n.subnets),
      gateways: gatewaysPass ? groupNets.flatMap((n) => n.gateways) : [],
      acme: {
        directory: acme.directory,
        ...(acme.email ? { email: acme.email } : {}),
        ...(acme.caRoot ? { caRootFile: CA_ROOT_FILE } : {}),
      },
      httpsPort,
    });
  }
}
