import { jobIssues } from "./job-rules.js";
import type { PolicyIssue } from "./policy-issue.js";
import { limitProblem } from "./quantity.js";
import type { Kind } from "./types.js";

/**
 * What a tenant must never get, whatever the schema allows: each forbidden field gets its own
 * reason, clearer than "unknown field". Field names cover the spellings of Docker, Compose and
 * Kubernetes, since manifests are often ported from them.
 */
const FORBIDDEN_FIELDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^privileged$/i, "privileged containers are not allowed"],
  [/^(host_?network|network_?mode|net)$/i, "host networking is not allowed"],
  [/^(host_?pid|pid|pid_?mode|host_?ipc|ipc|ipc_?mode)$/i, "sharing the host's PID or IPC namespace is not allowed"],
  [/^(cap_?add|capabilities|add_?capabilities)$/i, "added capabilities are not allowed"],
  [/^(volumes|mounts|binds|host_?path|volume_?mounts)$/i, "host mounts are not allowed"],
  [/^(devices|device_?requests)$/i, "host devices are not allowed"],
  [
    /^(security_?opt|security_?context|userns_?mode|cgroup_?parent)$/i,
    "changing the container's isolation is not allowed",
  ],
];

export type { PolicyIssue };

const DOCKER_SOCKET = /docker\.sock|\/var\/run\/docker|\/run\/docker/;

/** Walks a document's spec and reports every forbidden field or Docker socket reference. */
export function checkPolicy(kind: Kind, doc: unknown): PolicyIssue[] {
  if (kind === "Group" || kind === "Quota" || kind === "Secret") return [];
  const issues: PolicyIssue[] = [];
  const spec = (doc as { spec?: unknown } | null)?.spec;
  walk(spec, ["spec"], issues);
  issues.push(...limitIssues(spec));
  issues.push(...plainTextIssues(kind, spec));
  if (kind === "App") issues.push(...jobIssues(spec));
  return issues;
}

/**
 * Strings that end up in shell text, a systemd unit or a load balancer setting (AWS user data, the
 * target group's health check, the Docker provider's probe), where a line break or another control
 * character can only be an attack: a newline in a command element ended the user data's heredoc
 * and ran the rest as root. "*" stands for every element of a list.
 */
const PLAIN_FIELDS: Readonly<Partial<Record<Kind, ReadonlyArray<readonly string[]>>>> = {
  App: [["image"], ["command", "*"], ["source", "url"], ["source", "ref"], ["healthCheck", "http", "path"]],
  Service: [["image"]],
};

/** C0, DEL and C1: what no shell, unit file or HTTP request line reads as text. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function plainTextIssues(kind: Kind, spec: unknown): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const field of PLAIN_FIELDS[kind] ?? []) {
    for (const [path, value] of valuesAt(spec, ["spec"], field)) {
      if (typeof value === "string" && CONTROL.test(value))
        issues.push({ path, message: "must not contain control characters", atKey: false });
    }
  }
  // No process environment can carry a NUL; other characters are the app's business (the AWS
  // provider also refuses line breaks, which its environment files cannot carry).
  const env = (spec as { env?: unknown } | null | undefined)?.env;
  if (env && typeof env === "object" && !Array.isArray(env)) {
    for (const [key, value] of Object.entries(env)) {
      if (typeof value === "string" && value.includes("\0"))
        issues.push({ path: ["spec", "env", key], message: "must not contain NUL characters", atKey: false });
    }
  }
  return issues;
}

/** The values at a field path under `value`, each with its full path. */
function valuesAt(
  value: unknown,
  path: (string | number)[],
  rest: readonly string[],
): Array<[(string | number)[], unknown]> {
  const [head, ...tail] = rest;
  if (head === undefined) return [[path, value]];
  if (head === "*") return Array.isArray(value) ? value.flatMap((item, i) => valuesAt(item, [...path, i], tail)) : [];
  if (!value || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, head)) return [];
  return valuesAt((value as Record<string, unknown>)[head], [...path, head], tail);
}

/** Limits that would count as almost nothing against a quota while nothing is enforced. */
function limitIssues(spec: unknown): PolicyIssue[] {
  const resources = (spec as { resources?: unknown } | null | undefined)?.resources;
  if (!resources || typeof resources !== "object") return [];
  const issues: PolicyIssue[] = [];
  for (const resource of ["cpu", "memory"] as const) {
    const value = (resources as Record<string, unknown>)[resource];
    if (typeof value !== "number" && typeof value !== "string") continue;
    const problem = limitProblem(resource, value);
    if (problem) issues.push({ path: ["spec", "resources", resource], message: problem, atKey: false });
  }
  return issues;
}

function walk(value: unknown, path: (string | number)[], issues: PolicyIssue[]): void {
  if (typeof value === "string") {
    if (!path.includes("env") && DOCKER_SOCKET.test(value))
      issues.push({ path, message: "the Docker socket must not be exposed to a container", atKey: false });
    return;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) walk(item, [...path, i], issues);
    return;
  }
  if (value && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      const forbidden = FORBIDDEN_FIELDS.find(([pattern]) => pattern.test(key));
      // env keys are free-form names: a variable called PID is fine.
      if (forbidden && path[path.length - 1] !== "env") {
        issues.push({ path: [...path, key], message: forbidden[1], atKey: true });
        continue;
      }
      walk(child, [...path, key], issues);
    }
  }
}
