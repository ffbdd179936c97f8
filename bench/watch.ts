/**
 * Git-ops watcher benchmark: the time from a file save to the start of its reconcile (median and
 * p95 over many saves), and the watcher's memory and idle CPU with thousands of manifest files.
 * AirLoft's event-driven watcher is measured against a polling watcher in the same run (the way
 * git-ops tools that poll a checkout notice changes), on the same files and the same loop.
 * Usage: npx tsx bench/watch.ts [files=2000] [saves=40]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createProgress } from "../src/controllers/context.js";
import { Manager } from "../src/controllers/manager.js";
import { SourceSync } from "../src/gitops/sync.js";
import { FolderWatcher } from "../src/gitops/watcher.js";
import { createLogger } from "../src/log.js";
import { ProviderRegistry } from "../src/providers/registry.js";
import { Store } from "../src/store/store.js";
import { FakeProvider } from "../support/fake-provider.js";
import { writeResults } from "./lib/measure.js";

const FILES = Number(process.argv[2] ?? 2000);
const SAVES = Number(process.argv[3] ?? 40);
const appYaml = (i: number, replicas: number) =>
  `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: app-${i}, group: bench}\nspec: {image: busybox, replicas: ${replicas}}\n`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Figures {
  mode: string;
  initialSyncMs: number;
  rssMiB: number;
  heapMiB: number;
  idleCpuPercent: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
}

async function measure(mode: "events" | "polling"): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), "airloft-bench-watch-"));
  const repo = join(dir, "repo");
  mkdirSync(repo);
  writeFileSync(
    join(repo, "group.yaml"),
    "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: bench}\nspec: {provider: docker}\n",
  );
  for (let i = 0; i < FILES; i++) writeFileSync(join(repo, `app-${i}.yaml`), appYaml(i, 1));
  const store = await Store.open(join(dir, "state.json"), { write: true, command: "bench" });
  const providers = new ProviderRegistry({ instanceId: "bench", docker: new FakeProvider() });
  const manager = new Manager(
    { store, providers, log: createLogger({ level: "error" }), progress: createProgress() },
    { resyncMs: 3_600_000, workers: 4, queue: { qps: 1000, burst: 1000 } },
  );
  const sync = new SourceSync(store, "repo", [repo], "watch", { recursive: true, cwd: repo });
  const t0 = performance.now();
  await sync.sync();
  const initialSyncMs = performance.now() - t0;
  manager.start();
  const watcher = new FolderWatcher(
    repo,
    async () => void (await sync.sync()),
    mode === "polling" ? { pollIntervalMs: 1000 } : {},
  );
  await watcher.start();
  // Let the initial reconciles of every object drain before measuring.
  while (manager.queue.busy > 0) await new Promise((r) => setTimeout(r, 50));
  if (global.gc) global.gc();
  const mem = process.memoryUsage();
  const cpu0 = process.cpuUsage();
  const idle0 = performance.now();
  await new Promise((r) => setTimeout(r, 3000));
  const cpu = process.cpuUsage(cpu0);
  const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - idle0)) * 100;

  const latencies: number[] = [];
  for (let s = 0; s < SAVES; s++) {
    const i = (s * 7919) % FILES;
    const key = `App/bench/app-${i}`;
    const started = new Promise<number>((resolve) => {
      const on = (k: string): void => {
        if (k !== key) return;
        manager.events.off("started", on);
        resolve(performance.now());
      };
      manager.events.on("started", on);
    });
    const saved = performance.now();
    writeFileSync(join(repo, `app-${i}.yaml`), appYaml(i, 2 + s));
    latencies.push((await started) - saved);
    await new Promise((r) => setTimeout(r, 150));
  }
  await watcher.stop();
  await manager.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    mode,
    initialSyncMs: Math.round(initialSyncMs),
    rssMiB: Math.round(mem.rss / 2 ** 20),
    heapMiB: Math.round(mem.heapUsed / 2 ** 20),
    idleCpuPercent: Math.round(idleCpuPercent * 10) / 10,
    medianMs: Math.round(percentile(sorted, 50)),
    p95Ms: Math.round(percentile(sorted, 95)),
    maxMs: Math.round(sorted.at(-1) ?? NaN),
  };
}

const results = [await measure("events"), await measure("polling")];
const [ours, peer] = results;
console.log(
  `watch benchmark: ${FILES} manifest files, ${SAVES} saves, ${cpus().length} cores, Node ${process.version}`,
);
console.table(results);
if (ours && peer) {
  console.log(
    `save -> reconcile start, p95: AirLoft ${ours.p95Ms} ms vs polling baseline ${peer.p95Ms} ms (${(peer.p95Ms / ours.p95Ms).toFixed(1)}x); target p95 < 300 ms: ${ours.p95Ms < 300 ? "met" : "NOT met"}`,
  );
}
writeResults("watch", { files: FILES, saves: SAVES, results });
