import { readFileSync } from "node:fs";
import { stableHash } from "../../../util/stable-hash.js";
import { ownerLabels } from "../../ownership.js";
import { DEFAULT_BIND_ADDRESS } from "../desired.js";
import type { ObservedContainer, ObservedNetwork, ObservedVolume } from "../observe.js";
import type { Operation } from "../plan.js";
import type { EdgeRoute } from "./routes.js";

/** How the edge runs on every engine, from the environment of the process running the controllers. */
export interface EdgeSettings {
  readonly image: string;
  readonly hostIP: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** How long a replica taken out of the upstreams keeps running for its in-flight requests. */
  readonly drainMs: number;
  /** The ACME directory TLS hosts get certificates from; the CA root (PEM) to trust for it, if any. */
  readonly acme: { readonly directory: string; readonly email?: string; readonly caRoot?: string };
}

export const LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";

export function edgeSettings(env: NodeJS.ProcessEnv): EdgeSettings {
  return {
    image: env.AIRLOFT_EDGE_IMAGE || "caddy:2",
    hostIP: env.AIRLOFT_EDGE_ADDRESS || DEFAULT_BIND_ADDRESS,
    httpPort: portOf(env.AIRLOFT_EDGE_HTTP_PORT, 80, "AIRLOFT_EDGE_HTTP_PORT"),
    httpsPort: portOf(env.AIRLOFT_EDGE_HTTPS_PORT, 443, "AIRLOFT_EDGE_HTTPS_PORT"),
    drainMs: Math.round(seconds(env.AIRLOFT_EDGE_DRAIN_SECONDS, 5, "AIRLOFT_EDGE_DRAIN_SECONDS") * 1000),
    acme: {
      directory: httpsUrl(env.AIRLOFT_ACME_DIRECTORY) ?? LETS_ENCRYPT,
      ...(env.AIRLOFT_ACME_EMAIL ? { email: env.AIRLOFT_ACME_EMAIL } : {}),
      ...(env.AIRLOFT_ACME_CA_ROOT ? { caRoot: pemFile(env.AIRLOFT_ACME_CA_ROOT) } : {}),
    },
  };
}

/** An app's address through an edge with these settings, once it holds a host. */
export function edgeUrl(route: EdgeRoute, settings: Pick<EdgeSettings, "httpPort" | "httpsPort">): string | undefined {
  const host = route.hosts[0];
  const [scheme, port, usual] = route.tls ? ["https", settings.httpsPort, 443] : ["http", settings.httpPort, 80];
  return host ? `${scheme}://${host}${port === usual ? "" : `:${port}`}/` : undefined;
}

function httpsUrl(text: string | undefined): string | undefined {
  if (!text) return undefined;
  if (!/^https:\/\/[^\s/]+(\/\S*)?$/.test(text))
    throw new Error(`AIRLOFT_ACME_DIRECTORY must be an https URL, not ${text}`);
  return text;
}

/** Read once at start: the edge gets the root pushed with its config, so the file is not needed on the engine's host. */
function pemFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`AIRLOFT_ACME_CA_ROOT: cannot read ${path}: ${(err as Error).message}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----"))
    throw new Error(`AIRLOFT_ACME_CA_ROOT: ${path} holds no PEM certificate`);
  return text;
}

function portOf(text: string | undefined, fallback: number, name: string): number {
  if (!text) return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${name} must be a port (1-65535), not ${text}`);
  return port;
}

function seconds(text: string | undefined, fallback: number, name: string): number {
  if (!text) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 3600)
    throw new Error(`${name} must be 0 to 3600 seconds, not ${text}`);
  return value;
}

/**
 * The edge's engine names: "_" never occurs in a group or app name (DNS labels), so no user
 * object can take them; the instance keeps two installations on one engine apart.
 */
export function edgeNames(instance: string): { container: string; network: string; data: string } {
  const name = `airloft_edge_${instance.replace(/[^A-Za-z0-9.-]/g, "").slice(0, 32)}`;
  return { container: name, network: name, data: `${name}_data` };
}

/** The edge container's name label: the Docker groups' edge, or the Swarm groups' (EdgeFlavour). */
export const DOCKER_EDGE = "edge";

/** Labels like every AirLoft object's; kind Edge, which no store object has, and no group. */
export function edgeLabels(instance: string, hash?: string, name = DOCKER_EDGE): Record<string, string> {
  return ownerLabels({
    instance,
    group: "",
    kind: "Edge",
    name,
    uid: `edge-${instance}`,
    ...(hash ? { configHash: hash } : {}),
  });
}

/** The docker create body of the edge container. */
export function edgeContainerOptions(
  instance: string,
  settings: EdgeSettings,
  edgeName = DOCKER_EDGE,
): Record<string, unknown> {
  const names = edgeNames(instance);
  const hash = stableHash({
    image: settings.image,
    hostIP: settings.hostIP,
    http: settings.httpPort,
    https: settings.httpsPort,
  });
  return {
    name: names.container,
    Image: settings.image,
    Cmd: ["caddy", "run", "--resume"],
    Env: ["XDG_CONFIG_HOME=/config", "XDG_DATA_HOME=/data"],
    Labels: edgeLabels(instance, hash, edgeName),
    ExposedPorts: { "80/tcp": {}, "443/tcp": {} },
    HostConfig: {
      // The edge network comes first: published ports reach Caddy through it, from an address
      // that is on no group network, so the remote_ip block never refuses the public.
      NetworkMode: names.network,
      PortBindings: {
        "80/tcp": [{ HostIp: settings.hostIP, HostPort: String(settings.httpPort) }],
        "443/tcp": [{ HostIp: settings.hostIP, HostPort: String(settings.httpsPort) }],
      },
      // Caddy's certificates and ACME account: kept when the edge is made again (new settings),
      // so that certificates are not issued anew, against the CA's rate limits.
      Mounts: [{ Type: "volume", Source: names.data, Target: "/data" }],
      RestartPolicy: { Name: "unless-stopped" },
      Privileged: false,
      SecurityOpt: ["no-new-privileges:true"],
      CapDrop: ["NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE"],
    },
  };
}

/**
 * The edge container and its network against what the engine has: created when routes exist,
 * recreated when its settings change, started when stopped, removed with its network when no
 * app on the engine is routed any more.
 */
export function planEdge(
  instance: string,
  settings: EdgeSettings,
  wanted: boolean,
  containers: readonly ObservedContainer[],
  networks: readonly ObservedNetwork[],
  volumes: readonly ObservedVolume[] = [],
  edgeName = DOCKER_EDGE,
): Operation[] {
  const names = edgeNames(instance);
  const options = edgeContainerOptions(instance, settings, edgeName);
  const hash = (options.Labels as Record<string, string>)["airloft.dev/config-hash"];
  const mine = containers.filter((c) => isEdge(c, instance, edgeName));
  const network = networks.find((n) => n.owner.kind === "Edge" && n.owner.instance === instance);
  const data = volumes.find((v) => v.name === names.data && v.owner.kind === "Edge" && v.owner.instance === instance);
  const target = "edge";
  const ops: Operation[] = [];
  if (!wanted) {
    for (const c of mine) ops.push({ op: "remove", target, cause: "no routed app", id: c.id });
    if (network) ops.push({ op: "remove-network", target, cause: "no routed app", id: network.id });
    if (data) ops.push({ op: "remove-volume", target, cause: "no routed app", name: data.name });
    return ops;
  }
  if (!data)
    ops.push({ op: "create-volume", target, cause: "missing", name: names.data, labels: edgeLabels(instance) });
  if (!network)
    ops.push({
      op: "create-network",
      target,
      cause: "missing",
      name: names.network,
      labels: edgeLabels(instance),
      subnet: undefined,
    });
  const current = mine.find((c) => c.owner.configHash === hash && c.state !== "dead" && c.state !== "removing");
  for (const c of mine) if (c !== current) ops.push({ op: "remove", target, cause: "settings changed", id: c.id });
  if (!current)
    ops.push({ op: "create", target, cause: mine.length > 0 ? "settings changed" : "missing", replica: 0, options });
  else if (current.state !== "running") ops.push({ op: "start", target, cause: "stopped", id: current.id });
  return ops;
}

/** Whether the container is this installation's edge of that name (the Docker or the Swarm groups'). */
export function isEdge(c: ObservedContainer, instance: string, edgeName?: string): boolean {
  return (
    c.owner.kind === "Edge" && c.owner.instance === instance && (edgeName === undefined || c.owner.name === edgeName)
  );
}
