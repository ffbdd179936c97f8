import { createHash } from "node:crypto";
import type { EdgeRoute } from "./routes.js";
import { type AcmeSettings, redirectRoute, tlsParts } from "./tls-config.js";

/** Where Caddy's admin API listens: inside the edge container's own network namespace only. */
export const ADMIN_LISTEN = "127.0.0.1:2019";

export interface EdgeConfigInput {
  readonly routes: readonly EdgeRoute[];
  /** The ready, not withdrawn replicas of each app, by app uid: "10.0.3.2:8080". */
  readonly upstreams: ReadonlyMap<string, readonly string[]>;
  /**
   * Instead, by app uid, a DNS name whose A records are the app's replicas (Swarm's `tasks.NAME`,
   * which holds only running, healthy tasks): Caddy looks it up again every second.
   */
  readonly resolved?: ReadonlyMap<string, string>;
  /**
   * The group networks' subnets: a request from one (a tenant's container talking to the edge
   * on its network) is refused, so that no tenant reaches another group's apps through the edge.
   */
  readonly blocked: readonly string[];
  /**
   * The same networks' gateways: the engine's port publishing connects from there (the host's
   * side of the bridge), and no container can take that address.
   */
  readonly gateways: readonly string[];
  /** The ACME directory for TLS routes, and the published HTTPS port their redirects name. */
  readonly acme?: AcmeSettings;
  readonly httpsPort?: number;
}

/**
 * Caddy's whole JSON config for one engine's edge: a pure function of the routes (from the
 * store) and the observed upstreams. Sorted throughout, so the same input gives the same JSON
 * and an unchanged config is never pushed again.
 */
export function caddyConfig(input: EdgeConfigInput): Record<string, unknown> {
  const routes = [...input.routes].sort((a, b) => (a.hosts[0] ?? "").localeCompare(b.hosts[0] ?? ""));
  const blocked = [...input.blocked].sort();
  const gateways = [...input.gateways].sort();
  const guard =
    blocked.length > 0
      ? [
          {
            match: [
              {
                remote_ip: { ranges: blocked },
                ...(gateways.length > 0 ? { not: [{ remote_ip: { ranges: gateways } }] } : {}),
              },
            ],
            handle: [{ handler: "static_response", status_code: 403, body: "forbidden\n" }],
            terminal: true,
          },
        ]
      : [];
  const fallback = { handle: [{ handler: "static_response", status_code: 404, body: "no app at this host\n" }] };
  // Both servers (HTTP, HTTPS) hand a host's requests to its app's own server (appServers).
  const site = siteRoute;
  const tls = tlsParts(routes, site, guard, fallback, input.acme);
  // Caddy saves its config to disk to resume after a restart: not one that holds a user's key.
  const holdsKeys = routes.some((r) => r.tls?.mode === "secret" && r.tls.key);
  return {
    admin: { listen: ADMIN_LISTEN, ...(holdsKeys ? { config: { persist: false } } : {}) },
    apps: {
      http: {
        servers: {
          edge: {
            listen: [":80"],
            // Plain HTTP serves *.localhost with no DNS; HTTPS has its own server (edge_tls).
            automatic_https: { disable: true },
            routes: [
              ...guard,
              ...routes.map((r) => (r.tls ? redirectRoute(r, input.httpsPort ?? 443) : site(r))),
              fallback,
            ],
          },
          ...tls.servers,
          ...appServers(routes, input),
        },
      },
      ...tls.apps,
    },
  };
}

/** The front server hands a host's requests to its app's own server, over a unix socket in the edge container. */
function siteRoute(route: EdgeRoute): Record<string, unknown> {
  const proxy = { handler: "reverse_proxy", upstreams: [{ dial: `unix/${appSocket(route)}` }] };
  return { match: [{ host: [...route.hosts].sort() }], handle: [proxy], terminal: true };
}

/**
 * One Caddy server per app, reached only through its socket: Caddy labels its request metrics
 * by server, so the server's name is how the scrape tells the apps apart (edge/traffic.ts).
 */
function appServers(
  routes: readonly EdgeRoute[],
  input: Pick<EdgeConfigInput, "upstreams" | "resolved">,
): Record<string, unknown> {
  const servers: Record<string, unknown> = {};
  for (const route of routes) {
    const name = input.resolved?.get(route.uid);
    servers[appServerName(route.group, route.app)] = {
      listen: [`unix/${appSocket(route)}`],
      automatic_https: { disable: true },
      metrics: {},
      routes: [
        { handle: [name ? resolvedHandler(name, route.port) : appHandler(input.upstreams.get(route.uid) ?? [])] },
      ],
    };
  }
  return servers;
}

/** "_" occurs in no group or app name (DNS labels), so the name parses back unambiguously. */
export function appServerName(group: string, app: string): string {
  return `${APP_SERVER_PREFIX}${group}_${app}`;
}

export const APP_SERVER_PREFIX = "airloft_app_";

/** A socket path per app uid, short enough for a unix socket whatever the names' length. */
function appSocket(route: EdgeRoute): string {
  return `/tmp/airloft-${createHash("sha256").update(route.uid).digest("hex").slice(0, 20)}.sock`;
}

// A replica that refuses a connection (stopping, crashed) costs a retry on another, not a failed request.
const LOAD_BALANCING = { selection_policy: { policy: "round_robin" }, try_duration: "5s", try_interval: "100ms" };

function appHandler(upstreams: readonly string[]): Record<string, unknown> {
  return upstreams.length === 0
    ? { handler: "static_response", status_code: 503, body: "no ready replica\n" }
    : {
        handler: "reverse_proxy",
        upstreams: [...upstreams].sort().map((dial) => ({ dial })),
        load_balancing: LOAD_BALANCING,
      };
}

/** Every address the name resolves to is an upstream, looked up again each second. */
function resolvedHandler(name: string, port: number): Record<string, unknown> {
  return {
    handler: "reverse_proxy",
    dynamic_upstreams: { source: "a", name, port: String(port), refresh: "1s" },
    load_balancing: LOAD_BALANCING,
  };
}

/** The upstream addresses in a config, for telling whether a push took replicas out of service. */
export function dialsOf(config: unknown): Set<string> {
  const dials = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        // The sockets to the apps' own servers stay as long as the apps: replicas are what drain.
        if (k === "dial" && typeof x === "string" && !x.startsWith("unix/")) dials.add(x);
        else walk(x);
      }
    }
  };
  walk(config);
  return dials;
}
