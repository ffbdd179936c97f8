import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { FailureOutcome, Manager } from "../controllers/manager.js";
import { getCondition } from "../resources/conditions.js";
import { parseKey } from "../resources/kinds.js";
import type { Store } from "../store/store.js";

/** Reconciles last from milliseconds to the ten-minute deadline. */
const RECONCILE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];
const WRITE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The control loop's series, fed by the manager's events and the queue's and store's observers;
 * gauges are read from the queue and the store when scraped, never kept up to date by hand.
 * Returns what detaches them.
 */
export function observeLoop(registry: Registry, manager: Manager, store: Store): () => void {
  const registers = [registry];
  const reconciles = new Counter({
    name: "airloft_reconciles_total",
    help: "Reconciles by kind and result (success, retry, stalled, cancelled).",
    labelNames: ["kind", "result"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "airloft_reconcile_duration_seconds",
    help: "How long a reconcile took, by kind and result.",
    labelNames: ["kind", "result"] as const,
    buckets: RECONCILE_BUCKETS,
    registers,
  });
  const retries = new Counter({
    name: "airloft_reconcile_retries_total",
    help: "Failed reconciles queued again with backoff, by kind.",
    labelNames: ["kind"] as const,
    registers,
  });
  const wait = new Histogram({
    name: "airloft_queue_wait_seconds",
    help: "How long a key waited in the work queue before a worker took it, by kind.",
    labelNames: ["kind"] as const,
    buckets: WAIT_BUCKETS,
    registers,
  });
  new Gauge({
    name: "airloft_queue_depth",
    help: "Keys waiting in the work queue (not counting those delayed for backoff or being reconciled).",
    registers,
    collect() {
      this.set(manager.queue.length);
    },
  });
  new Gauge({
    name: "airloft_reconciles_in_flight",
    help: "Reconciles running now.",
    registers,
    collect() {
      this.set(manager.queue.busy - manager.queue.length);
    },
  });
  objectGauges(registry, store);
  storeWrites(registry, store);

  const started = new Map<string, number>();
  const onStarted = (key: string): void => void started.set(key, performance.now());
  const finish = (key: string, result: "success" | FailureOutcome): void => {
    const kind = parseKey(key).kind;
    const at = started.get(key);
    started.delete(key);
    reconciles.inc({ kind, result });
    if (at !== undefined) duration.observe({ kind, result }, (performance.now() - at) / 1000);
    if (result === "retry") retries.inc({ kind });
  };
  const onReconciled = (key: string): void => finish(key, "success");
  const onFailed = (key: string, outcome: FailureOutcome): void => finish(key, outcome);
  manager.events.on("started", onStarted);
  manager.events.on("reconciled", onReconciled);
  manager.events.on("failed", onFailed);
  manager.queue.onDequeue = (key, waitedMs) => wait.observe({ kind: parseKey(key).kind }, waitedMs / 1000);
  return () => {
    manager.events.off("started", onStarted);
    manager.events.off("reconciled", onReconciled);
    manager.events.off("failed", onFailed);
    manager.queue.onDequeue = undefined;
    store.observeWrites(undefined);
  };
}

/** Objects and stalled objects by kind, counted in one pass over the store when scraped. */
function objectGauges(registry: Registry, store: Store): void {
  // The first registered is rendered first, so it counts for both.
  new Gauge({
    name: "airloft_objects",
    help: "Objects in the store, by kind.",
    labelNames: ["kind"] as const,
    registers: [registry],
    collect() {
      const stalledBy = new Map<string, number>();
      const total = new Map<string, number>();
      for (const obj of store.view()) {
        total.set(obj.kind, (total.get(obj.kind) ?? 0) + 1);
        if (getCondition(obj.status, "Stalled")?.status === "True")
          stalledBy.set(obj.kind, (stalledBy.get(obj.kind) ?? 0) + 1);
      }
      this.reset();
      stalled.reset();
      for (const [kind, n] of total) {
        this.set({ kind }, n);
        stalled.set({ kind }, stalledBy.get(kind) ?? 0);
      }
    },
  });
  const stalled = new Gauge({
    name: "airloft_stalled_objects",
    help: "Objects whose Stalled condition is True (a terminal error: no retry until the spec changes), by kind.",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
}

function storeWrites(registry: Registry, store: Store): void {
  const latency = new Histogram({
    name: "airloft_store_write_duration_seconds",
    help: "How long a write of the state file took, encoding and I/O.",
    buckets: WRITE_BUCKETS,
    registers: [registry],
  });
  store.observeWrites((ms) => latency.observe(ms / 1000));
  new Counter({
    name: "airloft_store_written_bytes_total",
    help: "Bytes written to the state file.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(store.stats.bytesWritten);
    },
  });
  new Counter({
    name: "airloft_store_writes_total",
    help: "Writes of the state file.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(store.stats.writes);
    },
  });
}
