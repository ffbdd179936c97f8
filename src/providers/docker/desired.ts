import { createHash } from "node:crypto";
import type { App, Group } from "../../resources/types.js";
import { parseCpu, parseMemory } from "../../resources/quantity.js";
import { ownerLabels } from "./labels.js";

export const DEFAULT_BIND_ADDRESS = "127.0.0.1";

/** What one replica of an app should be, independent of which replica it is. */
export interface ContainerTemplate {
  readonly image: string;
  readonly imageId: string;
  readonly command: readonly string[] | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly port: number | undefined;
  readonly hostIP: string;
  readonly network: string;
  readonly nanoCpus: number | undefined;
  readonly memory: number | undefined;
  readonly restart: string;
  readonly healthCheck: { readonly test: readonly string[]; readonly intervalNs: number; readonly timeoutNs: number; readonly retries: number; readonly startPeriodNs: number } | undefined;
}

export interface DesiredApp {
  readonly group: string;
  readonly name: string;
  readonly uid: string;
  readonly instance: string;
  readonly replicas: number;
  readonly strategy: "RollingUpdate" | "Recreate";
  readonly template: ContainerTemplate;
  /** Hash of every field that needs a new container; replicas is not one of them. */
  readonly configHash: string;
  /** AirLoft probes this path over the published port; undefined for none or a command check. */
  readonly httpCheck: { readonly path: string; readonly port: number } | undefined;
}

const SECOND_NS = 1e9;

export function networkName(group: Group): string {
  return group.spec.docker?.network?.name ?? `airloft-${group.metadata.name}`;
}

/** The desired state of an app's containers, given the image id that its image or build resolved to. */
export function desiredApp(app: App, group: Group, instance: string, image: { ref: string; id: string }): DesiredApp {
  const spec = app.spec;
  const hc = spec.healthCheck;
  const port = spec.port;
  const env: Record<string, string> = { ...(port ? { PORT: String(port) } : {}), ...(spec.env ?? {}) };
  const timing = {
    intervalNs: (hc?.intervalSeconds ?? 5) * SECOND_NS,
    timeoutNs: (hc?.timeoutSeconds ?? 3) * SECOND_NS,
    retries: hc?.retries ?? 3,
    startPeriodNs: (hc?.startPeriodSeconds ?? 0) * SECOND_NS,
  };
  const template: ContainerTemplate = {
    image: image.ref,
    imageId: image.id,
    command: spec.command,
    env,
    port,
    hostIP: spec.publish?.hostIP ?? DEFAULT_BIND_ADDRESS,
    network: networkName(group),
    nanoCpus: spec.resources?.cpu !== undefined ? Math.round(parseCpu(spec.resources.cpu) * SECOND_NS) : undefined,
    memory: spec.resources?.memory !== undefined ? parseMemory(spec.resources.memory) : undefined,
    restart: spec.restart ?? "unless-stopped",
    healthCheck: hc?.command ? { test: ["CMD", ...hc.command], ...timing } : undefined,
  };
  return {
    group: group.metadata.name,
    name: app.metadata.name,
    uid: app.metadata.uid ?? "",
    instance,
    replicas: spec.replicas ?? 1,
    strategy: spec.strategy?.type ?? "RollingUpdate",
    template,
    configHash: configHash(template),
    httpCheck: hc?.http && port ? { path: hc.http.path, port } : undefined,
  };
}

/** A stable hash: keys sorted, so the same config always hashes the same. */
export function configHash(template: ContainerTemplate): string {
  return createHash("sha256").update(canonicalJson(template)).digest("hex").slice(0, 12);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function containerName(desired: Pick<DesiredApp, "group" | "name" | "configHash">, replica: number): string {
  return `airloft-${desired.group}-${desired.name}-${replica}-${desired.configHash.slice(0, 8)}`;
}

/** The Docker create body for one replica. Isolation settings are fixed here, never from the spec. */
export function containerCreateOptions(desired: DesiredApp, replica: number): Record<string, unknown> {
  const t = desired.template;
  const portKey = t.port ? `${t.port}/tcp` : undefined;
  return {
    name: containerName(desired, replica),
    Image: t.image,
    ...(t.command ? { Cmd: [...t.command] } : {}),
    Env: Object.entries(t.env).map(([k, v]) => `${k}=${v}`),
    Labels: ownerLabels({ instance: desired.instance, group: desired.group, kind: "App", name: desired.name, uid: desired.uid, configHash: desired.configHash, replica }),
    ...(portKey ? { ExposedPorts: { [portKey]: {} } } : {}),
    ...(t.healthCheck
      ? { Healthcheck: { Test: [...t.healthCheck.test], Interval: t.healthCheck.intervalNs, Timeout: t.healthCheck.timeoutNs, Retries: t.healthCheck.retries, StartPeriod: t.healthCheck.startPeriodNs } }
      : {}),
    HostConfig: {
      NetworkMode: t.network,
      ...(portKey ? { PortBindings: { [portKey]: [{ HostIp: t.hostIP, HostPort: "" }] } } : {}),
      RestartPolicy: { Name: t.restart === "no" ? "" : t.restart },
      ...(t.nanoCpus !== undefined ? { NanoCpus: t.nanoCpus } : {}),
      ...(t.memory !== undefined ? { Memory: t.memory } : {}),
      Privileged: false,
      SecurityOpt: ["no-new-privileges:true"],
      CapDrop: ["NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE"],
    },
    NetworkingConfig: { EndpointsConfig: { [t.network]: { Aliases: [desired.name, `${desired.name}-${replica}`] } } },
  };
}
