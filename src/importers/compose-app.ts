import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { AppSpec, HealthCheck } from "../resources/types.js";
import { secretFiles } from "./compose-secrets.js";
import {
  type ComposeSecrets,
  checkTiming,
  contextFrom,
  ENV_NAME,
  ENV_NAME_REASON,
  memoryQuantity,
  type Path,
  type Report,
  shellWords,
} from "./report.js";

export type Fields = Record<string, unknown>;

export interface ComposeContext {
  readonly report: Report;
  /** The Compose file's folder: env files and build contexts are relative to it. */
  readonly composeDir: string;
  /** Where the manifests will be: build contexts are written relative to it. */
  readonly outDir: string;
  /** Domains from --domain, by compose service name. */
  readonly domains: ReadonlyMap<string, string>;
  /** The stack's top-level secrets, as keys of one Secret. */
  readonly secrets: ComposeSecrets;
}

/** The label that gives an app its public domain on the edge. */
export const DOMAIN_LABEL = "airloft.dev/domain";
const MAX_ENV_FILE_BYTES = 256 * 1024;

/** Keys of a service that AirLoft has no place for, and why; the keys handled elsewhere are not here. */
export const REFUSED: Readonly<Record<string, string>> = {
  privileged: "privileged containers are not allowed on AirLoft",
  cap_add: "added capabilities are not allowed on AirLoft",
  cap_drop: "AirLoft drops its own set of capabilities from every container",
  pid: "sharing the host's PID namespace is not allowed on AirLoft",
  ipc: "sharing the host's IPC namespace is not allowed on AirLoft",
  devices: "host devices are not allowed on AirLoft",
  device_cgroup_rules: "host devices are not allowed on AirLoft",
  security_opt: "changed isolation is not allowed on AirLoft",
  userns_mode: "changed isolation is not allowed on AirLoft",
  cgroup_parent: "changed isolation is not allowed on AirLoft",
  configs: "configs have no AirLoft equivalent: put the file in the image",
  container_name: "AirLoft names containers itself (GROUP_APP-N)",
  hostname: "apps are reached by their name on the group's network",
  extra_hosts: "the group's network resolves names; host entries are not imported",
  dns: "the group's network resolves names",
  dns_search: "the group's network resolves names",
  links: "apps reach each other by name on the group's network, without links",
  external_links: "apps reach only their own group",
  volumes_from: "apps have no volumes on AirLoft",
  tmpfs: "apps have no volumes on AirLoft",
  user: "AirLoft runs the image's user",
  working_dir: "AirLoft runs in the image's working directory",
  logging: "AirLoft keeps container logs itself (airloft logs)",
};

const NETWORK_REASON = "apps of a group share the group's network";

/** The App spec of one compose service; what does not map is reported. */
export function composeAppSpec(name: string, service: Fields, ctx: ComposeContext): AppSpec {
  const at: Path = ["services", name];
  const { report } = ctx;
  const spec: AppSpec = {};
  const build = service.build;
  if (build !== undefined) {
    const b: Fields = typeof build === "string" ? { context: build } : (build as Fields);
    spec.build = {
      context: contextFrom(ctx.outDir, resolve(ctx.composeDir, String(b.context ?? "."))),
      ...(b.dockerfile ? { dockerfile: String(b.dockerfile) } : {}),
    };
    for (const key of Object.keys(b))
      if (key !== "context" && key !== "dockerfile")
        report.refuse([...at, "build", key], "AirLoft builds the context with its Dockerfile only");
    if (service.image !== undefined)
      report.change([...at, "image"], "AirLoft tags what it builds itself; the image name is not used");
  } else if (typeof service.image === "string") spec.image = service.image;

  const command = commandOf(service.command);
  const entrypoint = commandOf(service.entrypoint);
  if (entrypoint) {
    spec.command = [...entrypoint, ...(command ?? [])];
    report.change(
      [...at, "entrypoint"],
      "an App has no entrypoint: the command is entrypoint + command, for images without an ENTRYPOINT of their own",
    );
  } else if (command) spec.command = command;
  if (spec.command?.some((w) => /[\u0000-\u001f\u007f-\u009f]/.test(w))) {
    spec.command = spec.command.map((w) => w.replace(/\s*[\r\n]+\s*/g, " "));
    report.change(
      [...at, entrypoint ? "entrypoint" : "command"],
      "line breaks in the command are joined into one line",
    );
  }

  const env = {
    ...envFiles(service.env_file, [...at, "env_file"], ctx),
    ...environment(service.environment, [...at, "environment"], report),
  };
  for (const key of Object.keys(env).filter((k) => !ENV_NAME.test(k))) {
    report.refuse(envPath(name, service, key), ENV_NAME_REASON);
    delete env[key];
  }
  if (Object.keys(env).length > 0) spec.env = env;

  portOf(service, at, ctx, spec);
  replicasOf(service, at, report, spec);
  resourcesOf(service, at, report, spec);
  const health = healthCheckOf(service.healthcheck, [...at, "healthcheck"], report);
  if (health) spec.healthCheck = health;
  restartOf(service, at, report, spec);
  if (service.network_mode !== undefined) {
    const mode = String(service.network_mode);
    report.refuse(
      [...at, "network_mode"],
      mode === "host" ? "host networking is not allowed on AirLoft" : NETWORK_REASON,
    );
  }
  if (service.networks !== undefined) report.refuse([...at, "networks"], NETWORK_REASON);
  volumesOf(service.volumes, [...at, "volumes"], report);
  const files = secretFiles(service.secrets, [...at, "secrets"], ctx.secrets, report);
  if (files) spec.files = files;
  return spec;
}

/** Compose's own escape: `$$` in a Compose file is one `$` in the container. */
export const unescapeDollars = (text: string): string => text.replace(/\$\$/g, "$");

function commandOf(raw: unknown): string[] | undefined {
  if (typeof raw === "string") return shellWords(unescapeDollars(raw));
  if (Array.isArray(raw)) return raw.map((w) => unescapeDollars(String(w)));
  return undefined;
}

/** `environment` as a list (`A=1`, `B`) or a mapping; a variable without a value comes from the shell, which AirLoft has not. */
function environment(raw: unknown, at: Path, report: Report): Record<string, string> {
  const env: Record<string, string> = {};
  const entries: Array<[string, unknown, Path]> = Array.isArray(raw)
    ? raw.map((item, i) => {
        const text = String(item);
        const eq = text.indexOf("=");
        return eq === -1 ? [text, null, [...at, i]] : [text.slice(0, eq), text.slice(eq + 1), [...at, i]];
      })
    : Object.entries((raw ?? {}) as Fields).map(([k, v]) => [k, v, [...at, k]]);
  for (const [key, value, path] of entries) {
    if (value === null || value === undefined) {
      report.refuse(path, "takes its value from the shell that runs docker-compose; give it a value");
      continue;
    }
    const text = unescapeDollars(String(value));
    if (/(^|[^$])\$\{?[A-Za-z_]/.test(String(value).replace(/\$\$/g, "")))
      report.change(path, "Compose would substitute $-variables from the shell or .env; kept as written");
    env[key] = text;
  }
  return env;
}

/** `env_file` lines (KEY=VALUE, comments, `export`), read from the Compose file's folder. */
function envFiles(raw: unknown, at: Path, ctx: ComposeContext): Record<string, string> {
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const env: Record<string, string> = {};
  list.forEach((item, i) => {
    const path = Array.isArray(raw) ? [...at, i] : at;
    const file = typeof item === "string" ? item : String((item as Fields).path);
    const full = resolve(ctx.composeDir, file);
    if (!existsSync(full) || !statSync(full).isFile()) {
      if ((item as Fields).required === false) return;
      ctx.report.fail(path, `env file ${file} is not a file`);
      return;
    }
    if (statSync(full).size > MAX_ENV_FILE_BYTES) {
      ctx.report.fail(path, `env file ${file} is more than ${MAX_ENV_FILE_BYTES} bytes`);
      return;
    }
    for (const line of readFileSync(full, "utf8").split(/\r?\n/)) {
      const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s?(.*)$/.exec(line);
      if (!m || line.trim().startsWith("#")) continue;
      const value = (m[2] ?? "").trim();
      const quoted = /^(["'])(.*)\1$/.exec(value);
      env[m[1] ?? ""] = quoted ? (quoted[2] ?? "") : value.replace(/\s+#.*$/, "");
    }
  });
  return env;
}

interface PortEntry {
  readonly target: number;
  readonly hostIP?: string;
  readonly published?: string;
  readonly protocol?: string;
}

function parsePort(raw: unknown): PortEntry | undefined {
  if (typeof raw === "number") return { target: raw };
  if (raw && typeof raw === "object") {
    const p = raw as Fields;
    return {
      target: Number(p.target),
      ...(p.host_ip ? { hostIP: String(p.host_ip) } : {}),
      ...(p.published !== undefined ? { published: String(p.published) } : {}),
      ...(p.protocol ? { protocol: String(p.protocol) } : {}),
    };
  }
  // [[ip:]published:]target[/protocol]; an IPv6 address in brackets is not split.
  const m = /^(?:(?:(\[[^\]]*\]|[^:]*):)?([^:]*):)?([^:/]+)(?:\/(\w+))?$/.exec(String(raw));
  if (!m || !/^\d+$/.test(m[3] ?? "")) return undefined;
  return {
    target: Number(m[3]),
    ...(m[1] ? { hostIP: m[1] } : {}),
    ...(m[2] ? { published: m[2] } : {}),
    ...(m[4] ? { protocol: m[4] } : {}),
  };
}

/** The first port (or exposed port) becomes `port`; the host address, if any, `publish.hostIP`. */
function portOf(service: Fields, at: Path, ctx: ComposeContext, spec: AppSpec): void {
  const { report } = ctx;
  const ports = Array.isArray(service.ports) ? service.ports : [];
  for (const [i, raw] of ports.entries()) {
    const path = [...at, "ports", i];
    const p = parsePort(raw);
    const refusal =
      !p || !Number.isInteger(p.target)
        ? "port ranges have no AirLoft equivalent: an App has one port"
        : p.protocol && p.protocol !== "tcp"
          ? `${p.protocol} ports are not published by AirLoft`
          : spec.port !== undefined
            ? "an App has one port; the first one is imported"
            : undefined;
    if (refusal || !p) {
      report.refuse(path, refusal ?? "");
      continue;
    }
    spec.port = p.target;
    if (p.hostIP && /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(p.hostIP)) spec.publish = { hostIP: p.hostIP };
    else if (p.hostIP)
      report.refuse(path, `host address ${p.hostIP} is not imported: AirLoft publishes on an IPv4 address`);
    if (p.published)
      report.change(path, `host port ${p.published} is not kept: AirLoft publishes on a free port (status.endpoints)`);
  }
  const expose = Array.isArray(service.expose) ? service.expose : [];
  expose.forEach((raw, i) => {
    const port = Number.parseInt(String(raw), 10);
    if (spec.port === undefined && Number.isInteger(port)) spec.port = port;
    else report.refuse([...at, "expose", i], "an App has one port; the first one is imported");
  });
  const labels = labelsOf(service.labels);
  const domain = ctx.domains.get(String(at[1])) ?? labels.get(DOMAIN_LABEL);
  if (domain !== undefined) spec.expose = { public: true, domain };
  for (const key of labels.keys())
    if (key !== DOMAIN_LABEL) report.refuse([...at, "labels"], `container label ${key} is not imported`);
}

function labelsOf(raw: unknown): Map<string, string> {
  if (Array.isArray(raw))
    return new Map(raw.map((l) => String(l)).map((l) => [l.split("=")[0] ?? "", l.slice(l.indexOf("=") + 1)]));
  return new Map(Object.entries((raw ?? {}) as Fields).map(([k, v]) => [k, String(v ?? "")]));
}

function replicasOf(service: Fields, at: Path, report: Report, spec: AppSpec): void {
  const deploy = (service.deploy ?? {}) as Fields;
  if (typeof deploy.replicas === "number") spec.replicas = deploy.replicas;
  else if (typeof service.scale === "number") spec.replicas = service.scale;
  if (deploy.mode === "global")
    report.refuse([...at, "deploy", "mode"], "global services have no AirLoft equivalent: set replicas");
  for (const key of ["placement", "update_config", "rollback_config", "endpoint_mode", "labels"])
    if (deploy[key] !== undefined) report.refuse([...at, "deploy", key], "swarm deployment settings are not imported");
}

function resourcesOf(service: Fields, at: Path, report: Report, spec: AppSpec): void {
  const resources = ((service.deploy as Fields | undefined)?.resources ?? {}) as Fields;
  const limits = (resources.limits ?? {}) as Fields;
  const cpu = limits.cpus ?? service.cpus;
  const memoryRaw = limits.memory ?? service.mem_limit;
  const out: NonNullable<AppSpec["resources"]> = {};
  if (cpu !== undefined && Number(cpu) > 0) out.cpu = Number(cpu);
  if (memoryRaw !== undefined) {
    const memory = memoryQuantity(memoryRaw);
    if (memory === undefined)
      report.refuse(
        [...at, limits.memory !== undefined ? "deploy" : "mem_limit"],
        `memory ${String(memoryRaw)} is not a size`,
      );
    else out.memory = memory;
  }
  if (Object.keys(out).length > 0) spec.resources = out;
  if (resources.reservations !== undefined)
    report.refuse([...at, "deploy", "resources", "reservations"], "AirLoft sets limits, not reservations");
}

/** `test` as ["CMD", ...], ["CMD-SHELL", "..."], a string (a shell line) or ["NONE"]. */
function healthCheckOf(raw: unknown, at: Path, report: Report): HealthCheck | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const h = raw as Fields;
  const test = h.test;
  if (h.disable === true || (Array.isArray(test) && test[0] === "NONE") || test === undefined) return undefined;
  const words = (Array.isArray(test) ? test.map(String) : ["CMD-SHELL", String(test)]).map(unescapeDollars);
  const command = words[0] === "CMD" ? words.slice(1) : ["sh", "-c", words.slice(1).join(" ")];
  const check: HealthCheck = { command, ...checkTiming(h, at, report, "start_period") };
  if (typeof h.retries === "number" && h.retries >= 1) check.retries = h.retries;
  if (h.start_interval !== undefined) report.refuse([...at, "start_interval"], "AirLoft checks at one interval");
  return check;
}

function restartOf(service: Fields, at: Path, report: Report, spec: AppSpec): void {
  const policy = ((service.deploy as Fields | undefined)?.restart_policy ?? undefined) as Fields | undefined;
  if (policy?.condition !== undefined) {
    const map: Record<string, AppSpec["restart"]> = { none: "no", "on-failure": "on-failure", any: "always" };
    const restart = map[String(policy.condition)];
    if (restart) spec.restart = restart;
    for (const key of ["delay", "max_attempts", "window"])
      if (policy[key] !== undefined)
        report.refuse([...at, "deploy", "restart_policy", key], "Docker's restart policy decides the timing");
  }
  if (typeof service.restart !== "string") return;
  const [mode, count] = service.restart.split(":");
  if (mode === "no" || mode === "always" || mode === "on-failure" || mode === "unless-stopped") spec.restart = mode;
  else report.refuse([...at, "restart"], `unknown restart policy ${service.restart}`);
  if (count !== undefined)
    report.change([...at, "restart"], "the retry count is not kept: on-failure restarts without a limit");
}

/** Apps have no volumes: host mounts are refused, named volumes belong in a Service. */
function volumesOf(raw: unknown, at: Path, report: Report): void {
  if (!Array.isArray(raw)) return;
  raw.forEach((v, i) => {
    const source = typeof v === "string" ? (v.split(":")[0] ?? "") : String((v as Fields).source ?? "");
    const type = typeof v === "string" ? undefined : String((v as Fields).type ?? "");
    const hostPath = type === "bind" || /^[./~]/.test(source);
    report.refuse(
      [...at, i],
      hostPath
        ? "host mounts are not allowed on AirLoft"
        : "apps have no volumes on AirLoft: keep data in a Service (redis, postgres, mongo, kafka) or outside",
    );
  });
}

export /** The environment entry of a variable, for a note on its line. */
function envPath(key: string, service: Fields, name: string): Path {
  const env = service.environment;
  if (Array.isArray(env)) {
    const i = env.findIndex((e) => String(e).split("=")[0] === name);
    if (i !== -1) return ["services", key, "environment", i];
  } else if (env && typeof env === "object" && name in env) return ["services", key, "environment", name];
  return ["services", key, "env_file"];
}
