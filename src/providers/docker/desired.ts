import { parseCpu, parseMemory } from "../../resources/quantity.js";
import { SERVICE_TEMPLATES, type ServiceCredentials } from "../../resources/templates.js";
import type { App, Group, ResourceQuantities, Service } from "../../resources/types.js";
import { stableHash } from "../../util/stable-hash.js";
import { ownerLabels } from "../ownership.js";
import { type RolloutPace, rolloutPace } from "../pace.js";
import type { SecretMount } from "./secret-files.js";

export const DEFAULT_BIND_ADDRESS = "127.0.0.1";

/** What one replica of an app should be, independent of which replica it is. */
export interface ContainerTemplate {
  readonly image: string;
  readonly imageId: string;
  readonly command: readonly string[] | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly port: number | undefined;
  /** Publish the port on the host (apps); services are reached only on the group network. */
  readonly publish: boolean;
  readonly hostIP: string;
  readonly volumes: ReadonlyArray<{ readonly name: string; readonly target: string }>;
  /** Secret files, bind-mounted read-only from a memory-backed folder (secret-files.ts). */
  readonly secretMounts: readonly SecretMount[] | undefined;
  /** A digest of the used secrets' hashes: a changed value means new containers. */
  readonly secretDigest: string | undefined;
  readonly network: string;
  readonly nanoCpus: number | undefined;
  readonly memory: number | undefined;
  readonly restart: string;
  readonly healthCheck:
    | {
        readonly test: readonly string[];
        readonly intervalNs: number;
        readonly timeoutNs: number;
        readonly retries: number;
        readonly startPeriodNs: number;
      }
    | undefined;
}

export interface DesiredApp {
  readonly kind: "App" | "Service";
  readonly group: string;
  readonly name: string;
  readonly uid: string;
  readonly instance: string;
  readonly replicas: number;
  readonly strategy: "RollingUpdate" | "Recreate";
  /** maxSurge and maxUnavailable as replica counts; all at once, none down, when unset. */
  readonly pace?: RolloutPace;
  /** Start no new replica (the release command has not succeeded): the old ones stay as they are. */
  readonly holdCreates?: boolean;
  readonly template: ContainerTemplate;
  /** Variables from secrets: given to the engine, but never part of the config hash or a label. */
  readonly secretEnv: Readonly<Record<string, string>>;
  /** Hash of every field that needs a new container; replicas is not one of them. */
  readonly configHash: string;
  /** AirLoft probes this path over the published port; undefined for none or a command check. */
  readonly httpCheck: HttpCheck | undefined;
}

/** AirLoft's own HTTP check: readiness on every pass, liveness after `retries` failed intervals. */
export interface HttpCheck {
  readonly path: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

const SECOND_NS = 1e9;

export function networkName(group: Group): string {
  return group.spec.docker?.network?.name ?? `airloft-${group.metadata.name}`;
}

/**
 * The desired state of an app's containers, given the image id that its image or build resolved
 * to and the variables of its bound services (the app's own env wins over them).
 */
export function desiredApp(
  app: App,
  group: Group,
  instance: string,
  image: { ref: string; id: string },
  bindings: Readonly<Record<string, string>> = {},
  secrets: AppSecrets = NO_SECRETS,
): DesiredApp {
  const spec = app.spec;
  const hc = spec.healthCheck;
  const port = spec.port;
  const plain = Object.fromEntries(
    Object.entries(spec.env ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
  // Precedence: PORT, bound services, envFrom, then the app's own env (plain or a secret key).
  const secretEnv = Object.fromEntries(Object.entries(secrets.env).filter(([k]) => !(k in plain)));
  const env: Record<string, string> = { ...(port ? { PORT: String(port) } : {}), ...bindings, ...plain };
  for (const name of Object.keys(secretEnv)) delete env[name];
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
    publish: true,
    hostIP: spec.publish?.hostIP ?? DEFAULT_BIND_ADDRESS,
    volumes: [],
    secretMounts: secrets.mounts.length > 0 ? secrets.mounts : undefined,
    secretDigest: secrets.digest,
    network: networkName(group),
    ...limits(spec.resources),
    restart: spec.restart ?? "unless-stopped",
    healthCheck: hc?.command ? { test: ["CMD", ...hc.command], ...timing } : undefined,
  };
  return {
    kind: "App",
    group: group.metadata.name,
    name: app.metadata.name,
    uid: app.metadata.uid ?? "",
    instance,
    replicas: spec.replicas ?? 1,
    strategy: spec.strategy?.type ?? "RollingUpdate",
    pace: rolloutPace(spec.strategy, spec.replicas ?? 1),
    template,
    secretEnv,
    configHash: configHash(template),
    httpCheck:
      hc?.http && port
        ? {
            path: hc.http.path,
            port,
            timeoutMs: timing.timeoutNs / 1e6,
            intervalMs: timing.intervalNs / 1e6,
            retries: timing.retries,
            startPeriodMs: timing.startPeriodNs / 1e6,
          }
        : undefined,
  };
}

/** What an app's secret references resolved to, for its containers. */
export interface AppSecrets {
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly SecretMount[];
  readonly digest: string | undefined;
}

const NO_SECRETS: AppSecrets = { env: {}, mounts: [], digest: undefined };

function limits(resources: ResourceQuantities | undefined): Pick<ContainerTemplate, "nanoCpus" | "memory"> {
  return {
    nanoCpus: resources?.cpu !== undefined ? Math.round(parseCpu(resources.cpu) * SECOND_NS) : undefined,
    memory: resources?.memory !== undefined ? parseMemory(resources.memory) : undefined,
  };
}

/**
 * Joins user-given parts of an engine-wide name. Group and object names are DNS labels, which
 * never hold "_": with "-" instead, group acme + prod-db and group acme-prod + db would both
 * give acme-prod-db, and one tenant would get the other's volume or container name.
 */
export const NAME_SEPARATOR = "_";

export function qualifiedName(group: string, name: string): string {
  return `${group}${NAME_SEPARATOR}${name}`;
}

/**
 * The volume a new service's data goes on: named by group and service, so a re-created Service
 * finds its data. A service that already has a volume (an older name) keeps using it: the
 * provider resolves that from the engine's labels and passes it to desiredService.
 */
export function volumeName(group: string, service: string): string {
  return `airloft-${qualifiedName(group, service)}-data`;
}

/** The name volumes got before names were qualified: ambiguous, kept only to find existing data. */
export function legacyVolumeName(group: string, service: string): string {
  return `airloft-${group}-${service}-data`;
}

/**
 * A service as one container from its template: not published on the host, its data on a
 * named volume, its own health check, replaced (never doubled) on change since two servers
 * must not share one data folder.
 */
export function desiredService(
  service: Service,
  group: Group,
  instance: string,
  image: { ref: string; id: string },
  creds: ServiceCredentials,
  volume = volumeName(group.metadata.name, service.metadata.name),
): DesiredApp {
  const t = SERVICE_TEMPLATES[service.spec.template];
  const name = service.metadata.name;
  const template: ContainerTemplate = {
    image: image.ref,
    imageId: image.id,
    command: t.command,
    env: t.env(creds, name),
    port: t.port,
    publish: false,
    hostIP: DEFAULT_BIND_ADDRESS,
    volumes: [{ name: volume, target: t.dataPath }],
    secretMounts: undefined,
    secretDigest: undefined,
    network: networkName(group),
    ...limits(service.spec.resources),
    restart: "unless-stopped",
    healthCheck: {
      test: ["CMD", ...t.healthCheck],
      intervalNs: 2 * SECOND_NS,
      timeoutNs: 5 * SECOND_NS,
      retries: 15,
      startPeriodNs: 0,
    },
  };
  return {
    kind: "Service",
    group: group.metadata.name,
    name,
    uid: service.metadata.uid ?? "",
    instance,
    replicas: 1,
    strategy: "Recreate",
    template,
    secretEnv: {},
    configHash: configHash(template),
    httpCheck: undefined,
  };
}

/** A stable hash: keys sorted, so the same config always hashes the same. */
export function configHash(template: ContainerTemplate): string {
  return stableHash(template);
}

export function containerName(desired: Pick<DesiredApp, "group" | "name" | "configHash">, replica: number): string {
  // Apps and services of a group never share a name (admission), and group_name is unambiguous,
  // so this is unique per engine for one installation.
  return `airloft-${qualifiedName(desired.group, desired.name)}-${replica}-${desired.configHash.slice(0, 8)}`;
}

/** The Docker create body for one replica. Isolation settings are fixed here, never from the spec. */
export function containerCreateOptions(desired: DesiredApp, replica: number): Record<string, unknown> {
  const t = desired.template;
  const portKey = t.port ? `${t.port}/tcp` : undefined;
  const publish = t.publish && portKey;
  return {
    name: containerName(desired, replica),
    Image: t.image,
    ...(t.command ? { Cmd: [...t.command] } : {}),
    Env: Object.entries({ ...t.env, ...desired.secretEnv }).map(([k, v]) => `${k}=${v}`),
    Labels: ownerLabels({
      instance: desired.instance,
      group: desired.group,
      kind: desired.kind,
      name: desired.name,
      uid: desired.uid,
      configHash: desired.configHash,
      replica,
    }),
    ...(portKey ? { ExposedPorts: { [portKey]: {} } } : {}),
    ...engineHealthcheck(t.healthCheck),
    HostConfig: {
      NetworkMode: t.network,
      ...(publish ? { PortBindings: { [publish]: [{ HostIp: t.hostIP, HostPort: "" }] } } : {}),
      ...(t.volumes.length > 0 || t.secretMounts
        ? {
            Mounts: [
              ...t.volumes.map((v) => ({ Type: "volume", Source: v.name, Target: v.target })),
              ...(t.secretMounts ?? []).map((m) => ({
                Type: "bind",
                Source: m.source,
                Target: m.target,
                ReadOnly: true,
              })),
            ],
          }
        : {}),
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

/** A command check as the engine takes it (a container's and a Swarm task's alike). */
export function engineHealthcheck(check: ContainerTemplate["healthCheck"]): { Healthcheck?: Record<string, unknown> } {
  if (!check) return {};
  return {
    Healthcheck: {
      Test: [...check.test],
      Interval: check.intervalNs,
      Timeout: check.timeoutNs,
      Retries: check.retries,
      StartPeriod: check.startPeriodNs,
    },
  };
}
