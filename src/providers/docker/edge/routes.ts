import type { App, Group, Resource } from "../../../resources/types.js";
import { swarmSettings } from "../../swarm/desired.js";
import { networkName } from "../desired.js";
import { type EdgeTls, edgeTlsOf } from "./tls.js";
import { withoutForeignCoverage } from "./tls-coverage.js";

/** One app served through the edge: plain data taken from the store, for the pure config. */
export interface EdgeRoute {
  /** Whose edge serves it: the engine's Caddy container (docker) or the swarm's Caddy service (swarm). */
  readonly provider: EdgeProvider;
  readonly group: string;
  readonly app: string;
  readonly uid: string;
  /** The group's engine as its spec names it; undefined means DOCKER_HOST or the default. */
  readonly engine: string | undefined;
  readonly network: string;
  readonly port: number;
  /** The hosts the app holds; a host claimed earlier by another app is not among them. */
  readonly hosts: readonly string[];
  /** Container ids (12 characters) the app's status last found ready. */
  readonly ready: readonly string[];
  /** HTTPS for the hosts; absent: plain HTTP. */
  readonly tls?: EdgeTls;
}

export type EdgeProvider = "docker" | "swarm";

/** What routing needs of a group whose provider has an edge: its domain, network and engine. */
interface EdgeGroup {
  readonly provider: EdgeProvider;
  readonly domain: string | undefined;
  readonly network: string;
  readonly engine: string | undefined;
}

function edgeGroupOf(group: Group): EdgeGroup | undefined {
  const { provider, docker, swarm } = group.spec;
  if (provider === "docker")
    return { provider, domain: docker?.edge?.domain, network: networkName(group), engine: docker?.host };
  if (provider === "swarm")
    return { provider, domain: swarm?.edge?.domain, network: swarmSettings(group).network, engine: swarm?.host };
  return undefined;
}

/** Whether the group's provider has an edge proxy (Docker, Swarm). */
export function hasEdge(group: Group): boolean {
  return edgeGroupOf(group) !== undefined;
}

/** The domain the group's apps are served under by default, where it set one. */
export function edgeDomainOf(group: Group): string | undefined {
  return edgeGroupOf(group)?.domain;
}

/** A Secret's values, looked up in the named group only. */
export type SecretValues = (group: string, name: string) => Readonly<Record<string, Buffer>> | undefined;

/** A host an app asked for and did not get, and why (the message names no other tenant). */
export interface HostConflict {
  readonly uid: string;
  readonly host: string;
  readonly message: string;
}

export interface EdgeRoutes {
  readonly routes: readonly EdgeRoute[];
  readonly conflicts: readonly HostConflict[];
}

/** The hosts an app asks for: its own domain, else its name under the group's default domain. */
export function requestedHosts(app: App, group: Group): string[] {
  if (app.spec.expose?.public === false || !app.spec.port) return [];
  if (app.spec.expose?.domain) return [app.spec.expose.domain.toLowerCase()];
  const domain = edgeDomainOf(group);
  return domain ? [`${app.metadata.name}.${domain.toLowerCase()}`] : [];
}

/** Oldest first; the uid breaks ties so that every reconcile decides the same way. */
function byAge(a: Resource, b: Resource): number {
  const at = a.metadata.creationTimestamp ?? "";
  const bt = b.metadata.creationTimestamp ?? "";
  return at < bt ? -1 : at > bt ? 1 : (a.metadata.uid ?? "").localeCompare(b.metadata.uid ?? "");
}

/**
 * Every app routed through a Docker or Swarm edge, from the store alone. Hosts are claimed
 * across both providers (a host name is one name, wherever it is served). Hosts are first come, first
 * served: a group's default domain belongs to the oldest group that set it, so no other group's
 * app gets a host under it; a host belongs to the oldest app that asked for it. The loser gets a
 * HostConflict and keeps running, unrouted on that host.
 */
export function edgeRoutes(objects: readonly Resource[], secretValues: SecretValues = () => undefined): EdgeRoutes {
  const groups = new Map<string, Group>();
  const facts = new Map<string, EdgeGroup>();
  for (const o of objects) {
    const edge = o.kind === "Group" ? edgeGroupOf(o) : undefined;
    if (o.kind === "Group" && edge) {
      groups.set(o.metadata.name, o);
      facts.set(o.metadata.name, edge);
    }
  }
  const domainOwner = new Map<string, string>();
  for (const g of [...groups.values()].sort(byAge)) {
    const domain = facts.get(g.metadata.name)?.domain?.toLowerCase();
    if (domain && !domainOwner.has(domain)) domainOwner.set(domain, g.metadata.name);
  }
  const apps = objects
    .filter((o): o is App => o.kind === "App" && !o.metadata.deletionTimestamp && groups.has(o.metadata.group ?? ""))
    .sort(byAge);
  const hostOwner = new Map<string, string>();
  const routes: EdgeRoute[] = [];
  const conflicts: HostConflict[] = [];
  for (const app of apps) {
    const group = groups.get(app.metadata.group ?? "") as Group;
    const uid = app.metadata.uid ?? "";
    const hosts: string[] = [];
    for (const host of requestedHosts(app, group)) {
      const reserved = reservedBy(host, domainOwner);
      if (reserved !== undefined && reserved !== group.metadata.name)
        conflicts.push({ uid, host, message: `host ${host} is under a domain another group set earlier` });
      else if (hostOwner.has(host) && hostOwner.get(host) !== uid)
        conflicts.push({
          uid,
          host,
          message: `host ${host} is already routed to another app, which claimed it earlier`,
        });
      else {
        hostOwner.set(host, uid);
        hosts.push(host);
      }
    }
    if (hosts.length === 0) continue;
    const edge = facts.get(group.metadata.name) as EdgeGroup;
    const tls = edgeTlsOf(app, hosts, (name) => secretValues(group.metadata.name, name));
    routes.push({
      provider: edge.provider,
      group: group.metadata.name,
      app: app.metadata.name,
      uid,
      engine: edge.engine,
      network: edge.network,
      port: app.spec.port ?? 0,
      hosts,
      ready: (app.status?.instances ?? []).filter((r) => r.ready).map((r) => r.containerId),
      ...(tls ? { tls } : {}),
    });
  }
  // A certificate covering another group's host is refused here too, so its status says why.
  return { routes: withoutForeignCoverage(routes), conflicts };
}

/** The group whose default domain holds this host, if any. */
function reservedBy(host: string, domainOwner: ReadonlyMap<string, string>): string | undefined {
  for (const [domain, group] of domainOwner) if (host === domain || host.endsWith(`.${domain}`)) return group;
  return undefined;
}
