import { basename, dirname, resolve } from "node:path";
import { SERVICE_TEMPLATES } from "../resources/templates.js";
import { API_VERSION, type App, type Resource, type Service, type ServiceSpec } from "../resources/types.js";
import { type ComposeContext, composeAppSpec, envPath, type Fields, REFUSED } from "./compose-app.js";
import { readCompose } from "./compose-read.js";
import { composeSecrets } from "./compose-secrets.js";
import { dnsName, type ImportResult, memoryQuantity, type Path, Report } from "./report.js";

export interface ImportOptions {
  /** The group of the objects; by default the Compose project's name (or the fly app's). */
  readonly group?: string;
  /** Where the manifests go: build contexts are written relative to it. */
  readonly outDir: string;
  /** Public domains by service name (--domain web=www.example.com). */
  readonly domains?: ReadonlyMap<string, string>;
  /** Leave the Group out (it exists already). */
  readonly noGroup?: boolean;
}

/** Keys of an app-service that compose-app.ts reads. */
const APP_KEYS = new Set([
  "secrets",
  "image",
  "build",
  "command",
  "entrypoint",
  "environment",
  "env_file",
  "ports",
  "expose",
  "deploy",
  "scale",
  "cpus",
  "mem_limit",
  "healthcheck",
  "restart",
  "network_mode",
  "networks",
  "volumes",
  "labels",
  "depends_on",
]);
const NO_EQUIVALENT = "has no AirLoft equivalent";
const TEMPLATES: Readonly<Record<string, ServiceSpec["template"]>> = {
  redis: "redis",
  postgres: "postgres",
  mongo: "mongo",
  kafka: "kafka",
};

/** The template a well-known image stands for, and whether it is that template's own image. */
export function templateOf(
  image: string,
): { template: ServiceSpec["template"]; tag?: string; own: boolean } | undefined {
  const ref = image.split("@")[0] ?? "";
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  const repo = colon > slash ? ref.slice(0, colon) : ref;
  const tag = colon > slash ? ref.slice(colon + 1) : undefined;
  const last = repo.slice(repo.lastIndexOf("/") + 1);
  const template = TEMPLATES[last];
  if (!template) return undefined;
  const own = [
    last,
    `library/${last}`,
    `docker.io/library/${last}`,
    ...(last === "kafka" ? ["apache/kafka"] : []),
  ].includes(repo);
  return { template, own, ...(tag && tag !== "latest" ? { tag } : {}) };
}

/** The programs that are the server itself: a command starting with another one makes the image an app's. */
const SERVERS: Readonly<Record<ServiceSpec["template"], RegExp>> = {
  redis: /(^|\/)redis-server$/,
  postgres: /(^|\/)postgres$/,
  mongo: /(^|\/)mongod$/,
  kafka: /kafka|\/run$/,
};

/**
 * A service of a well-known image runs as a Service from its template, unless it is built or its
 * command is some other program of that image (`redis:7` running `redis-cli monitor` is an app).
 */
function backingTemplate(service: Fields): ReturnType<typeof templateOf> {
  if (service.build !== undefined || typeof service.image !== "string") return undefined;
  const known = templateOf(service.image);
  if (!known) return undefined;
  const first = [service.entrypoint, service.command]
    .map((c) => (typeof c === "string" ? c.trim().split(/\s+/)[0] : Array.isArray(c) ? String(c[0] ?? "") : undefined))
    .find((w) => w !== undefined);
  return first === undefined || SERVERS[known.template].test(first) ? known : undefined;
}

/** A Compose file as AirLoft manifests, with a note for everything left out or changed. */
export function importCompose(
  content: string,
  file: string,
  composePath: string,
  options: ImportOptions,
): ImportResult {
  const read = readCompose(content, file);
  if ("errors" in read) return { objects: [], notes: [], errors: read.errors };
  const { value, place } = read.compose;
  const report = new Report(place);
  const group = options.group ?? dnsName(read.compose.name ?? basename(dirname(resolve(composePath))));
  if (!group) {
    report.fail([], "no group name: give one with -g");
    return report.result([]);
  }
  const services = (value.services ?? {}) as Record<string, Fields>;
  const names = new Map<string, string>();
  for (const key of Object.keys(services)) {
    const name = dnsName(key);
    const taken = [...names].find(([, n]) => n === name);
    if (!name) report.fail(["services", key], "cannot be an AirLoft name");
    else if (taken) report.fail(["services", key], `is ${name} on AirLoft, as ${taken[0]} is`);
    else names.set(key, name);
  }
  const ctx: ComposeContext = {
    report,
    composeDir: dirname(resolve(composePath)),
    outDir: options.outDir,
    domains: options.domains ?? new Map(),
    secrets: composeSecrets(value, group, dirname(resolve(composePath)), report),
  };
  const meta = (name: string) => ({ name, group });
  const backing = new Map<string, Service>();
  const apps = new Map<string, App>();
  for (const [key, service] of Object.entries(services)) {
    const name = names.get(key);
    if (!name) continue;
    const known = backingTemplate(service);
    if (known) {
      backing.set(key, {
        apiVersion: API_VERSION,
        kind: "Service",
        metadata: meta(name),
        spec: serviceSpec(key, service, known, report),
      });
    } else {
      apps.set(key, {
        apiVersion: API_VERSION,
        kind: "App",
        metadata: meta(name),
        spec: composeAppSpec(key, service, ctx),
      });
      for (const field of Object.keys(service)) {
        if (APP_KEYS.has(field)) continue;
        report.refuse(["services", key, field], REFUSED[field] ?? `${field} ${NO_EQUIVALENT}`);
      }
    }
  }
  for (const [key, app] of apps) bind(key, services[key] ?? {}, app, backing, report);
  topLevel(value, backing, services, report);
  const groupObject: Resource = {
    apiVersion: API_VERSION,
    kind: "Group",
    metadata: { name: group },
    spec: { provider: "docker" },
  };
  const result = report.result([...(options.noGroup ? [] : [groupObject]), ...backing.values(), ...apps.values()]);
  return ctx.secrets.keys.size > 0 ? { ...result, secrets: ctx.secrets } : result;
}

/** A well-known image as a Service from its template: its named volume becomes the storage. */
function serviceSpec(
  key: string,
  service: Fields,
  known: NonNullable<ReturnType<typeof templateOf>>,
  report: Report,
): ServiceSpec {
  const at: Path = ["services", key];
  const template = SERVICE_TEMPLATES[known.template];
  const spec: ServiceSpec = { template: known.template };
  if (known.own && known.tag) spec.version = known.tag;
  if (!known.own && known.template === "kafka") {
    report.change(
      [...at, "image"],
      `a kafka Service on the template's image ${template.image(undefined)}: its settings are that image's`,
    );
  } else if (!known.own) {
    spec.image = String(service.image);
    report.change(
      [...at, "image"],
      `a ${known.template} Service: the template's command, credentials and data path apply to this image`,
    );
  }
  const limits = (((service.deploy as Fields | undefined)?.resources as Fields | undefined)?.limits ?? {}) as Fields;
  const cpu = limits.cpus ?? service.cpus;
  const memory = memoryQuantity(limits.memory ?? service.mem_limit);
  if ((cpu !== undefined && Number(cpu) > 0) || memory !== undefined)
    spec.resources = {
      ...(cpu !== undefined ? { cpu: Number(cpu) } : {}),
      ...(memory !== undefined ? { memory } : {}),
    };
  const volumes = Array.isArray(service.volumes) ? service.volumes : [];
  for (const [i, v] of volumes.entries()) {
    const [source, target] =
      typeof v === "string" ? v.split(":") : [String((v as Fields).source ?? ""), String((v as Fields).target ?? "")];
    if (!source || /^[./~]/.test(source) || (typeof v === "object" && (v as Fields).type === "bind"))
      report.refuse(
        [...at, "volumes", i],
        "host mounts are not allowed on AirLoft: the Service keeps its data on its own volume",
      );
    else if (spec.storage) report.refuse([...at, "volumes", i], "a Service has one data volume");
    else {
      spec.storage = {};
      if (target !== template.dataPath)
        report.change([...at, "volumes", i], `the data volume is mounted at the template's ${template.dataPath}`);
    }
  }
  const told: Record<string, string> = {
    environment: `the template sets its own settings and generates a password; bound apps get ${template.prefix}_*`,
    env_file: `the template sets its own settings and generates a password; bound apps get ${template.prefix}_*`,
    ports: "a Service is reached from its group's apps only, never published on the host",
    command: "the template runs its own command",
    entrypoint: "the template runs its own command",
    healthcheck: "the template has its own health check",
    restart: "a Service always restarts",
  };
  for (const field of Object.keys(service)) {
    if (["image", "volumes", "deploy", "cpus", "mem_limit", "depends_on"].includes(field)) continue;
    if (field === "secrets")
      report.refuse([...at, field], "a Service from a template takes no secret files: it makes its own credentials");
    else report.refuse([...at, field], told[field] ?? REFUSED[field] ?? `${field} ${NO_EQUIVALENT}`);
  }
  return spec;
}

/**
 * Binds an app to the Services it used: a variable whose value names the service's host
 * (`REDIS_URL=redis://redis:6379`) becomes the binding that gives it with credentials (its prefix
 * kept: CACHE_URL -> prefix CACHE), and a depends_on on a Service binds it too. Ordering between
 * apps has no equivalent: an app waits only for the Services it is bound to.
 */
function bind(key: string, service: Fields, app: App, backing: ReadonlyMap<string, Service>, report: Report): void {
  const bindings: NonNullable<App["spec"]["services"]> = [];
  const env = { ...(app.spec.env ?? {}) };
  const dependsOn = Array.isArray(service.depends_on)
    ? service.depends_on.map(String)
    : Object.keys((service.depends_on ?? {}) as Fields);
  for (const [serviceKey, target] of backing) {
    const template = SERVICE_TEMPLATES[target.spec.template];
    const [suffix = "URL"] = Object.keys(template.exports("h", template.port, { password: "" }));
    const host = new RegExp(`(^|[^A-Za-z0-9_.-])${serviceKey.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}([:/]|$)`);
    let binding: { name: string; prefix?: string } | undefined;
    for (const [name, value] of Object.entries(env)) {
      // Imported env is plain text; a secret reference names no host.
      if (typeof value !== "string" || !host.test(value)) continue;
      const prefix = name.endsWith(`_${suffix}`) ? name.slice(0, -suffix.length - 1) : undefined;
      if (!binding && prefix && /^[A-Z][A-Z0-9_]*$/.test(prefix)) {
        binding = { name: target.metadata.name, ...(prefix !== template.prefix ? { prefix } : {}) };
        delete env[name];
        report.change(
          envPath(key, service, name),
          `bound to Service ${target.metadata.name}: the binding gives ${name} with its credentials`,
        );
      } else {
        report.change(
          envPath(key, service, name),
          `points at Service ${target.metadata.name}, which needs credentials now: use ${binding?.prefix ?? template.prefix}_${suffix} from the binding`,
        );
      }
    }
    if (!binding && dependsOn.includes(serviceKey)) binding = { name: target.metadata.name };
    if (binding) bindings.push(binding);
  }
  if (bindings.length > 0) app.spec.services = bindings;
  if (app.spec.env && Object.keys(env).length !== Object.keys(app.spec.env).length) {
    if (Object.keys(env).length > 0) app.spec.env = env;
    else delete app.spec.env;
  }
  dependsOn.forEach((other, i) => {
    if (backing.has(other)) return;
    const path: Path = ["services", key, "depends_on", Array.isArray(service.depends_on) ? i : other];
    report.refuse(path, "apps start without ordering; an app waits only for the Services it is bound to");
  });
}

/** Top-level networks, volumes and configs: only a Service's data volume maps (secrets: compose-secrets.ts). */
function topLevel(
  value: Fields,
  backing: ReadonlyMap<string, Service>,
  services: Record<string, Fields>,
  report: Report,
): void {
  const used = new Set<string>();
  for (const key of backing.keys()) {
    for (const v of (services[key]?.volumes ?? []) as unknown[])
      used.add(typeof v === "string" ? (v.split(":")[0] ?? "") : String((v as Fields).source ?? ""));
  }
  for (const name of Object.keys((value.networks ?? {}) as Fields))
    report.refuse(["networks", name], "apps of a group share the group's network");
  for (const name of Object.keys((value.volumes ?? {}) as Fields))
    if (!used.has(name)) report.refuse(["volumes", name], "only a Service's data volume has an AirLoft equivalent");
  for (const name of Object.keys((value.configs ?? {}) as Fields))
    report.refuse(["configs", name], REFUSED.configs ?? "");
  for (const key of Object.keys(value))
    if (key.startsWith("x-")) report.refuse([key], "extension fields are Compose's own");
}
