/**
 * Issue 13 item 9, measured in-process (not a test, not part of `make bench`): the real Store and
 * Manager with the fake provider, a setInterval measuring event-loop lag (how late a 10 ms tick
 * fires: what a /healthz would wait).
 *
 *   npx tsx bench/lib/stall.ts apply [existing=18000] [batch=3000] [--quota]
 *     a group of `existing` objects, converged; then one apply of `batch` more apps into it.
 *   npx tsx bench/lib/stall.ts cascade [objects=20000] [capSeconds=60]
 *     a converged group of `objects` objects; then `delete group --cascade` (markDeletedAll), the
 *     time until the group is gone, and a manager stop (SIGTERM) after it. Gives up after the cap.
 *
 * The queue's rate limit is lifted so that the reconciles, not the token bucket, set the pace.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createProgress } from "../../src/controllers/context.js";
import { Manager } from "../../src/controllers/manager.js";
import { createLogger } from "../../src/log.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";
import { Store } from "../../src/store/store.js";
import { FakeProvider } from "../../support/fake-provider.js";

const GROUP = "big";
const at = { file: "bench.yaml", line: 1, column: 1 };
const manifest = (object: Resource): LoadedManifest => ({ source: at, object });
const groupManifest = manifest({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name: GROUP },
  spec: { provider: "docker" },
});
const appManifest = (name: string): LoadedManifest =>
  manifest({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group: GROUP, labels: { tier: "web" } },
    spec: {
      image: "example/app:1",
      replicas: 2,
      port: 8080,
      env: { GREETING: "hello", LOG_LEVEL: "info" },
      resources: { cpu: "250m", memory: "128Mi" },
    },
  });
const quotaManifest = manifest({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Quota",
  metadata: { name: "default", group: GROUP },
  spec: { hard: { apps: 1_000_000 } },
});

/** The largest delay of a 10 ms interval since start(). */
function lagMeter(): { start(): void; stop(): number } {
  let timer: NodeJS.Timeout | undefined;
  let max = 0;
  return {
    start() {
      max = 0;
      let last = performance.now();
      timer = setInterval(() => {
        const now = performance.now();
        max = Math.max(max, now - last - 10);
        last = now;
      }, 10);
    },
    stop() {
      clearInterval(timer);
      return Math.round(max);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(done: () => boolean, capMs: number): Promise<boolean> {
  const deadline = performance.now() + capMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

async function setup(
  objects: readonly LoadedManifest[],
): Promise<{ dir: string; store: Store; manager: Manager; converged: number }> {
  const dir = mkdtempSync(join(tmpdir(), "airloft-stall-"));
  const store = await Store.open(join(dir, "state.json"), { write: true, command: "bench" });
  await store.apply(objects);
  const provider = new FakeProvider();
  const ctx = {
    store,
    providers: new ProviderRegistry({ instanceId: "bench", docker: provider }),
    log: createLogger({ level: "error" }),
    progress: createProgress(),
  };
  const manager = new Manager(ctx, { resyncMs: 3_600_000, queue: { qps: 1e6, burst: 1e6 } });
  const t0 = performance.now();
  manager.start();
  await until(() => manager.queue.busy === 0, 30 * 60_000);
  return { dir, store, manager, converged: Math.round(performance.now() - t0) };
}

async function applyScenario(existing: number, batch: number, quota: boolean): Promise<void> {
  const initial = [
    groupManifest,
    ...(quota ? [quotaManifest] : []),
    ...Array.from({ length: existing - 1 - (quota ? 1 : 0) }, (_, i) => appManifest(`app-${i}`)),
  ];
  const { dir, store, manager, converged } = await setup(initial);
  console.log(`group of ${initial.length} objects converged in ${converged} ms`);
  const added = Array.from({ length: batch }, (_, i) => appManifest(`new-${i}`));
  const lag = lagMeter();
  lag.start();
  const t0 = performance.now();
  await store.apply(added);
  const applied = Math.round(performance.now() - t0);
  await until(() => manager.queue.busy === 0, 30 * 60_000);
  const idle = Math.round(performance.now() - t0);
  console.log(
    JSON.stringify({
      scenario: "apply",
      existing: initial.length,
      batch,
      quota,
      applyMs: applied,
      untilIdleMs: idle,
      maxLagMs: lag.stop(),
    }),
  );
  await manager.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

async function cascadeScenario(objects: number, capSeconds: number): Promise<void> {
  const initial = [groupManifest, ...Array.from({ length: objects - 1 }, (_, i) => appManifest(`app-${i}`))];
  const { dir, store, manager, converged } = await setup(initial);
  console.log(`group of ${initial.length} objects converged in ${converged} ms`);
  let deleting = 0;
  store.events.on("change", (e: { type: string }) => {
    if (e.type === "deleting") deleting += 1;
  });
  const lag = lagMeter();
  lag.start();
  const writes0 = store.stats.writes;
  const t0 = performance.now();
  let markedMs: number | undefined;
  const marking = store.markDeletedAll([`Group//${GROUP}`], { cascade: true }).then(() => {
    markedMs = Math.round(performance.now() - t0);
  });
  const capMs = capSeconds * 1000;
  await until(() => markedMs !== undefined, capMs);
  const gone = await until(
    () => store.get(`Group//${GROUP}`) === undefined,
    Math.max(0, capMs - (performance.now() - t0)),
  );
  const goneMs = gone ? Math.round(performance.now() - t0) : undefined;
  const writes = store.stats.writes - writes0; // marking, then the finalizers removed until the group is gone or the cap
  const marked = deleting;
  // SIGTERM: what `airloft serve` does on it.
  const t1 = performance.now();
  const stopped = await Promise.race([
    manager.stop().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), capMs).unref()),
  ]);
  const stopMs = stopped ? Math.round(performance.now() - t1) : undefined;
  console.log(
    JSON.stringify({
      scenario: "cascade",
      objects,
      capSeconds,
      markDeletedAllMs: markedMs ?? `not done in ${capSeconds} s`,
      markedWithinCap: marked,
      durableWrites: writes,
      groupGoneMs: goneMs ?? `not gone in ${capSeconds} s`,
      stopMs: stopMs ?? `not stopped in ${capSeconds} s`,
      maxLagMs: lag.stop(),
    }),
  );
  if (!stopped || markedMs === undefined) process.exit(0);
  await marking;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

const [scenario = "apply", ...rest] = process.argv.slice(2);
const numbers = rest.filter((a) => !a.startsWith("--")).map(Number);
if (scenario === "apply") await applyScenario(numbers[0] ?? 18_000, numbers[1] ?? 3_000, rest.includes("--quota"));
else if (scenario === "cascade") await cascadeScenario(numbers[0] ?? 20_000, numbers[1] ?? 60);
else throw new Error(`unknown scenario ${scenario}: apply or cascade`);
