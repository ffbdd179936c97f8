import { Gauge, type Registry } from "prom-client";
import { replicasOf } from "../resources/replicas.js";
import type { App, Service } from "../resources/types.js";
import type { Store } from "../store/store.js";
import type { UsageSampler } from "./usage-sampler.js";

const OBJECT_LABELS = ["group", "kind", "name"] as const;
const REPLICA_LABELS = ["group", "kind", "name", "replica"] as const;

/**
 * Each app's and service's series, labelled by group, kind (app, service) and name, in their own
 * registry (tenants read their group's part of it). Every gauge is rebuilt when scraped from the
 * store and the sampler's last pass, so a deleted object's series go with it.
 */
export function observeApps(registry: Registry, store: Store, sampler: UsageSampler): void {
  const registers = [registry];
  new Gauge({
    name: "airloft_replicas_desired",
    help: "Replicas the spec asks for, per app and service.",
    labelNames: OBJECT_LABELS,
    registers,
    collect() {
      this.reset();
      for (const obj of workloads(store)) this.set(labelsOf(obj), obj.kind === "App" ? replicasOf(obj) : 1);
    },
  });
  new Gauge({
    name: "airloft_replicas_ready",
    help: "Replicas ready (running and passing their health check), per app and service.",
    labelNames: OBJECT_LABELS,
    registers,
    collect() {
      this.reset();
      for (const obj of workloads(store)) this.set(labelsOf(obj), readyOf(obj));
    },
  });
  const perReplica = (
    name: string,
    help: string,
    value: (f: ReturnType<UsageSampler["latest"]>[number]) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: REPLICA_LABELS,
      registers,
      collect() {
        this.reset();
        const live = liveUids(store);
        for (const f of sampler.latest()) {
          const v = value(f);
          if (v === undefined || !live.has(f.uid)) continue;
          this.set({ group: f.group, kind: f.kind.toLowerCase(), name: f.name, replica: f.replica }, v);
        }
      },
    });
  perReplica(
    "airloft_replica_cpu_cores",
    "CPU in use per replica, in cores (0.5 is half a core), between the last two stats passes.",
    (f) => f.cpuCores,
  );
  perReplica(
    "airloft_replica_memory_bytes",
    "Memory in use per replica, without reclaimable page cache, at the last stats pass.",
    (f) => f.memoryBytes,
  );
  perReplica("airloft_replica_restarts", "Times the engine restarted the replica's container.", (f) => f.restarts);
}

type Workload = App | Service;

function workloads(store: Store): Workload[] {
  return [...store.view({ kind: "App" }), ...store.view({ kind: "Service" })] as Workload[];
}

function labelsOf(obj: Workload): Record<(typeof OBJECT_LABELS)[number], string> {
  return { group: obj.metadata.group ?? "", kind: obj.kind.toLowerCase(), name: obj.metadata.name };
}

function readyOf(obj: Workload): number {
  if (obj.kind === "App") return obj.status?.readyReplicas ?? 0;
  return (obj.status?.instances ?? []).filter((i) => i.ready).length;
}

/** The uids of the apps and services that exist: a figure of a deleted one is not shown. */
function liveUids(store: Store): Set<string> {
  return new Set(workloads(store).flatMap((o) => (o.metadata.uid ? [o.metadata.uid] : [])));
}
