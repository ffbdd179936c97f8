/**
 * The cost of metrics. 1) The loop with and without them, each in a fresh process: reconciles per
 * second over full passes of N apps (fake provider, 1 ms per app), CPU, peak RSS, with a scraper
 * rendering /metrics every second in the "with" run. 2) One stats pass (providers/docker/usage) on
 * the private engine against the number of running containers. The "autoscale" run is "with"
 * and every app autoscaled; the edge row is the cost of reading Caddy's metrics for N apps.
 * Usage: npx tsx bench/metrics.ts [apps=200] [containers=10,50,100] [passes=20]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createProgress } from "../src/controllers/context.js";
import { Manager } from "../src/controllers/manager.js";
import { createLogger } from "../src/log.js";
import { EdgeTraffic } from "../src/metrics/edge-traffic.js";
import { Metrics } from "../src/metrics/metrics.js";
import { parseCaddyMetrics } from "../src/providers/docker/edge/traffic.js";
import { engineUsage } from "../src/providers/docker/usage.js";
import { ownerLabels } from "../src/providers/ownership.js";
import { ProviderRegistry } from "../src/providers/registry.js";
import { loadTexts } from "../src/resources/loader.js";
import { Store } from "../src/store/store.js";
import { stopEngine, TEST_IMAGE, useEngine } from "../support/engine.js";
import { FakeProvider } from "../support/fake-provider.js";
import { cost, median, peakRssMiB, round, writeResults } from "./lib/measure.js";

interface LoopRow {
  /** autoscale: "with", and every app autoscaled (decisions and status.autoscale writes each pass). */
  mode: "without" | "with" | "autoscale";
  apps: number;
  reconcilesPerSecond: number;
  cpuMs: number;
  peakRssMiB: number;
  scrapes: number;
  scrapeMsMedian: number | null;
  seriesLines: number | null;
}

interface StatsRow {
  containers: number;
  concurrency: number;
  passMs: number;
  perContainerMs: number;
}

const idle = async (manager: Manager) => {
  while (manager.queue.busy > 0) await new Promise((r) => setTimeout(r, 10));
};

/** One mode in this (fresh) process; prints its row as JSON. */
async function loopChild(mode: LoopRow["mode"], apps: number, passes: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "airloft-bench-metrics-"));
  const store = await Store.open(join(dir, "state.json"), { write: true, command: "bench" });
  const docs = [
    "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: bench}\nspec: {provider: docker}\n",
    ...Array.from(
      { length: apps },
      (_, i) =>
        `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: app-${i}, group: bench}\nspec: {image: busybox, ${mode === "autoscale" ? "autoscale: {min: 2, max: 4, targetCPUUtilization: 50}" : "replicas: 2"}}\n`,
    ),
  ];
  await store.apply(loadTexts(docs.map((content, i) => ({ name: `m${i}.yaml`, content, baseDir: dir }))));
  const provider = new FakeProvider();
  provider.latencyMs = 1;
  const log = createLogger({ level: "error" });
  const providers = new ProviderRegistry({ instanceId: "bench", docker: provider });
  const manager = new Manager(
    { store, providers, log, progress: createProgress() },
    { resyncMs: 3_600_000, workers: 4, queue: { qps: 100_000, burst: 100_000 } },
  );
  const metrics =
    mode !== "without" ? new Metrics({ manager, store, providers, log, usageIntervalMs: 1000 }) : undefined;
  metrics?.start();
  manager.start();
  await idle(manager);
  const scrapeMs: number[] = [];
  let lines = 0;
  const scraper = metrics
    ? setInterval(async () => {
        const t0 = performance.now();
        lines = (await metrics.text()).split("\n").filter((l) => l && !l.startsWith("#")).length;
        scrapeMs.push(performance.now() - t0);
      }, 1000)
    : undefined;
  let reconciles = 0;
  manager.events.on("reconciled", () => reconciles++);
  const { cost: spent } = await cost(async () => {
    for (let p = 0; p < passes; p++) {
      manager.enqueueAll();
      await idle(manager);
    }
  });
  clearInterval(scraper);
  metrics?.stop();
  await manager.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const row: LoopRow = {
    mode,
    apps,
    reconcilesPerSecond: round(reconciles / (spent.wallMs / 1000)),
    cpuMs: spent.cpuMs,
    peakRssMiB: peakRssMiB(),
    scrapes: scrapeMs.length,
    scrapeMsMedian: scrapeMs.length ? round(median(scrapeMs), 1) : null,
    seriesLines: metrics ? lines : null,
  };
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

/** N labelled containers running sleep, then the median of three stats passes over them at each concurrency. */
async function statsPasses(host: string, n: number): Promise<StatsRow[]> {
  const { dockerClient } = await import("../src/providers/docker/engine.js");
  const docker = dockerClient(host);
  const made = [];
  for (let i = 0; i < n; i++) {
    const labels = ownerLabels({
      instance: "bench-metrics",
      group: "bench",
      kind: "App",
      name: `app-${i}`,
      uid: `u${i}`,
    });
    const container = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ["sleep", "3600"],
      Labels: { ...labels, "airloft.dev/replica": "0" },
      HostConfig: { NetworkMode: "none" },
    });
    await container.start();
    made.push(container);
  }
  try {
    const rows: StatsRow[] = [];
    for (const concurrency of [4, 16]) {
      const times: number[] = [];
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        const read = await engineUsage(host, "bench-metrics", new Set(["bench"]), concurrency);
        times.push(performance.now() - t0);
        if (read.length !== n) throw new Error(`the pass read ${read.length} of ${n} containers`);
      }
      const passMs = round(median(times));
      rows.push({ containers: n, concurrency, passMs, perContainerMs: round(passMs / n, 1) });
    }
    return rows;
  } finally {
    for (const c of made) await c.remove({ force: true });
  }
}

/** Reading the edge's Caddy text for N apps (3 status codes, Caddy's 12 buckets each) and rendering its series. */
function edgeParse(apps: number): { apps: number; caddyKiB: number; parseMs: number; renderMs: number } {
  const les = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, "+Inf"];
  const lines: string[] = [];
  for (let i = 0; i < apps; i++)
    for (const code of ["200", "404", "502"]) {
      const l = `code="${code}",handler="reverse_proxy",method="GET",server="airloft_app_bench_app-${i}"`;
      for (const le of les) lines.push(`caddy_http_request_duration_seconds_bucket{${l},le="${le}"} ${i}`);
      lines.push(
        `caddy_http_request_duration_seconds_sum{${l}} 1.5`,
        `caddy_http_request_duration_seconds_count{${l}} ${i}`,
      );
      lines.push(`caddy_http_request_size_bytes_sum{${l}} 100`, `caddy_http_response_size_bytes_sum{${l}} 100`);
    }
  const text = lines.join("\n");
  const traffic = new EdgeTraffic();
  const parse: number[] = [];
  const render: number[] = [];
  for (let k = 0; k < 20; k++) {
    const t0 = performance.now();
    traffic.update(parseCaddyMetrics(text, k * 1000));
    const t1 = performance.now();
    traffic.text(() => true);
    parse.push(t1 - t0);
    render.push(performance.now() - t1);
  }
  return {
    apps,
    caddyKiB: round(text.length / 1024),
    parseMs: round(median(parse), 2),
    renderMs: round(median(render), 2),
  };
}

if (process.argv[2] === "--loop") {
  await loopChild(process.argv[3] as LoopRow["mode"], Number(process.argv[4]), Number(process.argv[5]));
} else {
  const apps = Number(process.argv[2] ?? 200);
  const sizes = (process.argv[3] ?? "10,50,100").split(",").map(Number);
  const passes = Number(process.argv[4] ?? 20);
  const loop: LoopRow[] = [];
  for (const mode of ["without", "with", "autoscale", "without", "with", "autoscale"] as const) {
    const child = spawnSync(
      process.execPath,
      ["--import", import.meta.resolve("tsx"), import.meta.filename, "--loop", mode, String(apps), String(passes)],
      { encoding: "utf8", maxBuffer: 16 << 20 },
    );
    if (child.status !== 0) throw new Error(`the ${mode} run failed: ${child.stderr}`);
    loop.push(JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as LoopRow);
  }
  console.table(loop);
  const edge = edgeParse(apps);
  console.table([edge]);
  const lent = process.env.AIRLOFT_BENCH_DOCKER_HOST;
  const host = lent ?? (await useEngine()).host;
  const stats: StatsRow[] = [];
  try {
    for (const n of sizes) stats.push(...(await statsPasses(host, n)));
  } finally {
    if (!lent) await stopEngine();
  }
  console.table(stats);
  console.log(`figures in ${writeResults("metrics", { apps, passes, loop, edge, stats })}`);
}
