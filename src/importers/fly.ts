import { dirname, resolve } from "node:path";
import type { SourcePosition } from "../errors.js";
import { readToml } from "../resources/toml-documents.js";
import { API_VERSION, type App, type AppSpec, type HealthCheck, type Resource } from "../resources/types.js";
import { runToEnd } from "../util/steps.js";
import type { ImportOptions } from "./compose.js";
import { flyIssues } from "./fly-schema.js";
import {
  checkTiming,
  contextFrom,
  dnsName,
  ENV_NAME,
  ENV_NAME_REASON,
  type ImportResult,
  memoryQuantity,
  type Path,
  Report,
  shellWords,
} from "./report.js";

type Fields = Record<string, unknown>;

/** fly.io's machine sizes: CPUs and the memory each comes with. */
const VM_SIZES: Readonly<Record<string, { cpu: number; memory: string }>> = {
  "shared-cpu-1x": { cpu: 1, memory: "256Mi" },
  "shared-cpu-2x": { cpu: 2, memory: "512Mi" },
  "shared-cpu-4x": { cpu: 4, memory: "1Gi" },
  "shared-cpu-8x": { cpu: 8, memory: "2Gi" },
  "performance-1x": { cpu: 1, memory: "2Gi" },
  "performance-2x": { cpu: 2, memory: "4Gi" },
  "performance-4x": { cpu: 4, memory: "8Gi" },
  "performance-8x": { cpu: 8, memory: "16Gi" },
  "performance-16x": { cpu: 16, memory: "32Gi" },
};

/** Top-level keys and why they have no AirLoft equivalent; those read below are not here. */
const REFUSED: Readonly<Record<string, string>> = {
  primary_region: "AirLoft runs where its group's provider is",
  kill_signal: "AirLoft stops containers with the engine's signal",
  kill_timeout: "AirLoft stops containers with the engine's timeout",
  swap_size_mb: "AirLoft sets no swap",
  console_command: "fly's console has no AirLoft equivalent",
  mounts: "apps have no volumes on AirLoft: keep data in a Service (redis, postgres, mongo, kafka) or outside",
  statics: "AirLoft serves no static files from the edge: serve them from the app",
  metrics: "AirLoft does not scrape metrics",
  experimental: "fly's experimental settings have no AirLoft equivalent",
  restart: "AirLoft restarts apps unless stopped",
};
const READ = new Set(["app", "build", "env", "processes", "http_service", "services", "checks", "vm", "deploy"]);

/** A fly.toml as AirLoft manifests: one App per process group (or one App), with notes. */
export function importFly(content: string, file: string, flyPath: string, options: ImportOptions): ImportResult {
  const read = runToEnd(readToml(content));
  const at = (line: number, column: number): SourcePosition => ({ file, line, column });
  if ("refused" in read) {
    const r = new Report(() => at(read.refused.line, read.refused.column));
    r.fail([], read.refused.message);
    return r.result([]);
  }
  const locate = read.locate([]);
  const report = new Report((path, atKey) => {
    const p = locate(path, atKey);
    return at(p.line, p.column);
  });
  const fly = read.root;
  const issues = flyIssues(fly);
  for (const issue of issues.slice(0, 50)) report.fail(issue.path, issue.message);
  if (issues.length > 0) return report.result([]);
  const appName = typeof fly.app === "string" ? dnsName(fly.app) : undefined;
  const group = options.group ?? appName;
  if (!appName || !group) {
    report.fail(["app"], "an app name is required (or give the group with -g and an app name in the file)");
    return report.result([]);
  }
  for (const key of Object.keys(fly))
    if (!READ.has(key)) report.refuse([key], REFUSED[key] ?? `${key} has no AirLoft equivalent`);

  const base: AppSpec = {};
  const build = (fly.build ?? {}) as Fields;
  if (typeof build.image === "string") base.image = build.image;
  else {
    // fly builds the folder of fly.toml; the manifests say where that is from their own folder.
    const dockerfile = typeof build.dockerfile === "string" ? { dockerfile: build.dockerfile } : {};
    base.build = { context: contextFrom(options.outDir, dirname(resolve(flyPath))), ...dockerfile };
  }
  for (const key of Object.keys(build))
    if (key !== "image" && key !== "dockerfile")
      report.refuse(["build", key], "AirLoft builds a Dockerfile or runs an image; no buildpacks or build arguments");
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries((fly.env ?? {}) as Fields)) {
    if (ENV_NAME.test(k)) env[k] = String(v);
    else report.refuse(["env", k], ENV_NAME_REASON);
  }
  if (Object.keys(env).length > 0) base.env = env;
  deployOf(fly.deploy, report, base);

  const processes = Object.entries((fly.processes ?? {}) as Fields);
  const groups = processes.length > 0 ? processes : [["app", undefined] as const];
  const web = webService(fly, report);
  const apps: App[] = groups.map(([proc, command]) => {
    const spec: AppSpec = structuredClone(base);
    if (typeof command === "string") spec.command = shellWords(command);
    if (web && (web.processes === undefined || web.processes.includes(proc))) {
      spec.port = web.port;
      const domain = options.domains?.get(proc) ?? options.domains?.get(fly.app as string);
      spec.expose = { public: true, ...(domain ? { domain } : {}) };
      if (web.health) spec.healthCheck = web.health;
      if (web.replicas) spec.replicas = web.replicas;
    }
    vmOf(fly.vm, proc, report, spec);
    const name = processes.length > 1 ? `${appName}-${dnsName(proc) ?? proc}` : appName;
    return { apiVersion: API_VERSION, kind: "App", metadata: { name, group }, spec };
  });
  checksOf(fly.checks, web?.port, report, apps);
  const groupObject: Resource = {
    apiVersion: API_VERSION,
    kind: "Group",
    metadata: { name: group },
    spec: { provider: "docker" },
  };
  return report.result([...(options.noGroup ? [] : [groupObject]), ...apps]);
}

interface Web {
  readonly port: number;
  readonly processes: string[] | undefined;
  readonly health: HealthCheck | undefined;
  readonly replicas: number | undefined;
}

/** [http_service], else the first [[services]]: the port, the process groups it serves, its HTTP check. */
function webService(fly: Fields, report: Report): Web | undefined {
  const services = Array.isArray(fly.services) ? (fly.services as Fields[]) : [];
  const http = fly.http_service as Fields | undefined;
  services.forEach((_, i) => {
    if (http || i > 0) report.refuse(["services", i], "an App has one port; the first service is imported");
  });
  const [path, svc] = http ? [["http_service"], http] : services[0] ? [["services", 0], services[0]] : [[], undefined];
  if (!svc) return undefined;
  const port = Number(svc.internal_port);
  if (!Number.isInteger(port)) {
    report.fail([...path, "internal_port"], "an internal_port is required");
    return undefined;
  }
  if (svc.protocol !== undefined && svc.protocol !== "tcp")
    report.refuse([...path, "protocol"], "AirLoft routes TCP (HTTP) only");
  for (const key of [
    "force_https",
    "auto_stop_machines",
    "auto_start_machines",
    "concurrency",
    "ports",
    "tls_options",
    "http_options",
    "tcp_checks",
  ])
    if (svc[key] !== undefined) report.refuse([...path, key], "the edge and the replica count decide this on AirLoft");
  const checks = ((svc.checks ?? svc.http_checks ?? []) as Fields[]).filter((c) => c && typeof c === "object");
  const checkKey = svc.checks ? "checks" : "http_checks";
  for (let i = 1; i < checks.length; i++) report.refuse([...path, checkKey, i], "an App has one health check");
  const health = checks[0] ? httpCheck(checks[0], [...path, checkKey, 0], report) : undefined;
  const min =
    typeof svc.min_machines_running === "number" && svc.min_machines_running > 0 ? svc.min_machines_running : undefined;
  if (min !== undefined)
    report.change([...path, "min_machines_running"], "the replica count: AirLoft keeps that many running, always");
  return {
    port,
    processes: Array.isArray(svc.processes) ? svc.processes.map(String) : undefined,
    health,
    replicas: min,
  };
}

function httpCheck(check: Fields, path: Path, report: Report): HealthCheck | undefined {
  if (check.type === "tcp") {
    report.refuse(path, "TCP checks are not imported: AirLoft probes HTTP or runs a command");
    return undefined;
  }
  const probe = typeof check.path === "string" ? check.path : "/";
  const health: HealthCheck = { http: { path: probe }, ...checkTiming(check, path, report, "grace_period") };
  for (const key of ["method", "protocol", "headers", "tls_skip_verify", "port"])
    if (check[key] !== undefined) report.refuse([...path, key], "AirLoft probes GET on the app's port");
  return health;
}

/** Top-level [checks.NAME]: an HTTP check on the app's port becomes its health check, if it has none. */
function checksOf(raw: unknown, port: number | undefined, report: Report, apps: App[]): void {
  for (const [name, check] of Object.entries((raw ?? {}) as Record<string, Fields>)) {
    const path = ["checks", name];
    if (check.type !== "http" || (check.port !== undefined && Number(check.port) !== port)) {
      report.refuse(path, "only an HTTP check on the app's port maps to a health check");
      continue;
    }
    const { port: _, ...rest } = check;
    const health = httpCheck(rest, path, report);
    for (const app of apps)
      if (health && app.spec.port !== undefined && !app.spec.healthCheck) app.spec.healthCheck = health;
  }
}

/** [[vm]] (or [vm]): size, memory and cpus, for every process group or those it names. */
function vmOf(raw: unknown, proc: string, report: Report, spec: AppSpec): void {
  const list = Array.isArray(raw) ? (raw as Fields[]) : raw ? [raw as Fields] : [];
  list.forEach((vm, i) => {
    const path: Path = Array.isArray(raw) ? ["vm", i] : ["vm"];
    if (Array.isArray(vm.processes) && !vm.processes.map(String).includes(proc)) return;
    const size = typeof vm.size === "string" ? VM_SIZES[vm.size] : undefined;
    if (vm.size !== undefined && !size) report.refuse([...path, "size"], `unknown machine size ${String(vm.size)}`);
    const memory =
      vm.memory !== undefined
        ? memoryQuantity(vm.memory, "m")
        : vm.memory_mb !== undefined
          ? memoryQuantity(vm.memory_mb, "m")
          : size?.memory;
    const cpu = typeof vm.cpus === "number" ? vm.cpus : size?.cpu;
    if (memory === undefined && (vm.memory !== undefined || vm.memory_mb !== undefined))
      report.refuse([...path, vm.memory !== undefined ? "memory" : "memory_mb"], "is not a size");
    spec.resources = { ...(cpu !== undefined ? { cpu } : {}), ...(memory !== undefined ? { memory } : {}) };
    for (const key of ["cpu_kind", "gpus", "gpu_kind", "kernel_args", "host_dedication_id"])
      if (vm[key] !== undefined) report.refuse([...path, key], "AirLoft sets CPUs and memory only");
  });
}

function deployOf(raw: unknown, report: Report, spec: AppSpec): void {
  const deploy = (raw ?? {}) as Fields;
  if (deploy.strategy === "immediate") spec.strategy = { type: "Recreate" };
  else if (deploy.strategy !== undefined)
    report.change(["deploy", "strategy"], "AirLoft rolls replicas one by one (RollingUpdate)");
  if (deploy.release_command !== undefined)
    report.refuse(["deploy", "release_command"], "release commands are not supported yet");
  for (const key of Object.keys(deploy))
    if (key !== "strategy" && key !== "release_command") report.refuse(["deploy", key], "has no AirLoft equivalent");
}
