import { parseCpu, parseMemory } from "./quantity.js";
import { replicasOf } from "./replicas.js";
import type { App, Quota, Resource } from "./types.js";

export type QuotaResource = "apps" | "replicas" | "services" | "cpu" | "memory";

export type Usage = Record<QuotaResource, number>;

/** What a group's objects ask for: objects being deleted no longer count. */
export function usageOf(objects: readonly Resource[]): Usage {
  const used: Usage = { apps: 0, replicas: 0, services: 0, cpu: 0, memory: 0 };
  for (const o of objects) {
    if (o.metadata.deletionTimestamp) continue;
    if (o.kind === "App") {
      const replicas = replicasOf(o);
      used.apps += 1;
      used.replicas += replicas;
      used.cpu += replicas * (o.spec.resources?.cpu !== undefined ? parseCpu(o.spec.resources.cpu) : 0);
      used.memory += replicas * (o.spec.resources?.memory !== undefined ? parseMemory(o.spec.resources.memory) : 0);
    } else if (o.kind === "Service") {
      used.services += 1;
      used.cpu += o.spec.resources?.cpu !== undefined ? parseCpu(o.spec.resources.cpu) : 0;
      used.memory += o.spec.resources?.memory !== undefined ? parseMemory(o.spec.resources.memory) : 0;
    }
  }
  used.cpu = Math.round(used.cpu * 1000) / 1000;
  return used;
}

/** Adds running runs (a job's or a one-off's) to `usage`: each a replica of its app, with the app's cpu and memory. */
export function addRunUsage(usage: Usage, owners: readonly App[]): Usage {
  for (const owner of owners) {
    usage.replicas += 1;
    const r = owner.spec.resources;
    usage.cpu += r?.cpu !== undefined ? parseCpu(r.cpu) : 0;
    usage.memory += r?.memory !== undefined ? parseMemory(r.memory) : 0;
  }
  usage.cpu = Math.round(usage.cpu * 1000) / 1000;
  return usage;
}

/** The apps of `objects` that own the runs, by the apps' uids (a run of a deleted app owns nothing). */
export function runOwners(objects: readonly Resource[], runs: ReadonlyArray<{ readonly uid: string }>): App[] {
  const apps = new Map(objects.flatMap((o) => (o.kind === "App" ? [[o.metadata.uid ?? "", o] as const] : [])));
  return runs.flatMap((r) => {
    const app = apps.get(r.uid);
    return app ? [app] : [];
  });
}

export function hardOf(quota: Quota): Partial<Usage> {
  const h = quota.spec.hard;
  return {
    ...(h.apps !== undefined ? { apps: h.apps } : {}),
    ...(h.replicas !== undefined ? { replicas: h.replicas } : {}),
    ...(h.services !== undefined ? { services: h.services } : {}),
    ...(h.cpu !== undefined ? { cpu: parseCpu(h.cpu) } : {}),
    ...(h.memory !== undefined ? { memory: parseMemory(h.memory) } : {}),
  };
}

export interface QuotaViolation {
  readonly quota: string; // "acme/default"
  readonly resource: QuotaResource;
  readonly used: number;
  readonly hard: number;
  readonly message: string;
}

function show(resource: QuotaResource, value: number): string {
  if (resource === "memory") return value % 1024 ** 2 === 0 ? `${value / 1024 ** 2}Mi` : `${value}`;
  return String(value);
}

/** Every limit of every quota that `usage` is over. */
export function violations(quotas: readonly Quota[], usage: Usage, verb = "exceeds"): QuotaViolation[] {
  const out: QuotaViolation[] = [];
  for (const q of quotas) {
    if (q.metadata.deletionTimestamp) continue;
    const name = `${q.metadata.group}/${q.metadata.name}`;
    for (const [resource, hard] of Object.entries(hardOf(q)) as Array<[QuotaResource, number]>) {
      if (usage[resource] > hard) {
        out.push({
          quota: name,
          resource,
          used: usage[resource],
          hard,
          message: `quota ${name}: ${resource} ${show(resource, usage[resource])} ${verb} ${show(resource, hard)}`,
        });
      }
    }
  }
  return out;
}

/**
 * Admission of a group's objects after an apply: a limit may not be passed by an apply that
 * raises its usage (a lowered quota does not block an apply that keeps or lowers usage).
 * Limits on cpu or memory need every app and service to say what it takes.
 */
export function admissionErrors(
  before: readonly Resource[],
  after: readonly Resource[],
): Array<{ object: Resource | undefined; message: string }> {
  const quotas = after.filter((o): o is Quota => o.kind === "Quota");
  if (quotas.length === 0) return [];
  const errors: Array<{ object: Resource | undefined; message: string }> = [];
  for (const q of quotas) {
    for (const resource of ["cpu", "memory"] as const) {
      if (q.spec.hard[resource] === undefined) continue;
      for (const o of after) {
        if (
          (o.kind === "App" || o.kind === "Service") &&
          !o.metadata.deletionTimestamp &&
          o.spec.resources?.[resource] === undefined
        ) {
          errors.push({
            object: o,
            message: `quota ${q.metadata.group}/${q.metadata.name} limits ${resource}: ${o.kind.toLowerCase()} ${o.metadata.name} must set spec.resources.${resource}`,
          });
        }
      }
    }
  }
  const old = usageOf(before);
  for (const v of violations(quotas, usageOf(after), "would exceed")) {
    if (v.used > old[v.resource]) errors.push({ object: undefined, message: v.message });
  }
  return errors;
}
