/**
 * Job scheduler tick benchmark: what one tick of the job scheduler costs the event loop at
 * 20,000 objects when few apps have jobs. The groups' provider is a fake of the project's own
 * InfraProvider, so the tick does its store reads and its per-group steps but calls no engine:
 * the figure is the CPU the tick takes every second, whatever the engines answer. Beside it, in
 * the same run, the read the tick used to make (every App filtered and sorted, each group
 * copied), so that the two compare on the same machine and load.
 * Usage: npx tsx bench/scheduler-tick.ts [objects=20000] [ticks=200]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createProgress } from "../src/controllers/context.js";
import { JobScheduler } from "../src/jobs/scheduler.js";
import { createLogger } from "../src/log.js";
import { ProviderRegistry } from "../src/providers/registry.js";
import { setCondition } from "../src/resources/conditions.js";
import { objectKey } from "../src/resources/kinds.js";
import type { LoadedManifest } from "../src/resources/loader.js";
import type { BaseStatus, Resource } from "../src/resources/types.js";
import { Store } from "../src/store/store.js";
import { FakeProvider } from "../support/fake-provider.js";
import { dockerGroup, loaded } from "./lib/manifests.js";
import { median, round, writeResults } from "./lib/measure.js";

const GROUPS = 50;
/** One app in a hundred has a job: a few cron apps among many services. */
const JOB_EVERY = 100;

const objects = Number(process.argv[2] ?? 20_000);
const ticks = Number(process.argv[3] ?? 200);

function manifests(): LoadedManifest[] {
  const all: LoadedManifest[] = [];
  for (let g = 0; g < GROUPS; g++) all.push(dockerGroup(`team-${g}`));
  for (let i = 0; i < objects - GROUPS; i++) {
    const jobs = i % JOB_EVERY === 0 ? [{ name: "nightly", schedule: "0 3 * * *", command: ["true"] }] : undefined;
    all.push(
      loaded({
        kind: "App",
        metadata: { name: `app-${i}`, group: `team-${i % GROUPS}` },
        spec: { image: "example/app:1", replicas: 1, ...(jobs ? { jobs } : {}) },
      }),
    );
  }
  return all;
}

/** What the tick read before the kind index: every App filtered and sorted, each group copied. */
function oldRead(store: Store): number {
  const byGroup = new Map<string, Resource[]>();
  for (const obj of store.view({ kind: "App" })) {
    if (obj.kind !== "App" || obj.metadata.deletionTimestamp) continue;
    const group = obj.metadata.group ?? "";
    byGroup.set(group, [...(byGroup.get(group) ?? []), obj]);
  }
  let found = 0;
  for (const name of byGroup.keys()) if (store.get(objectKey("Group", "", name))) found++;
  return found;
}

async function timed(work: () => unknown): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < ticks; i++) {
    const t0 = performance.now();
    await work();
    times.push(performance.now() - t0);
  }
  return times;
}

const dir = mkdtempSync(join(tmpdir(), "airloft-bench-tick-"));
try {
  const store = await Store.open(join(dir, "state.json"), { write: true });
  await store.apply(manifests());
  for (let g = 0; g < GROUPS; g++)
    await store.updateStatus<BaseStatus>(objectKey("Group", "", `team-${g}`), (s) =>
      setCondition(s, { type: "Ready", status: "True", reason: "Converged", message: "" }, 1),
    );
  const scheduler = new JobScheduler({
    store,
    providers: new ProviderRegistry({ instanceId: store.instanceId, docker: new FakeProvider() }),
    log: createLogger({ level: "error" }),
    progress: createProgress(),
  });
  // A few ticks first, so that both figures are taken warm.
  for (let i = 0; i < 10; i++) {
    await scheduler.tick();
    oldRead(store);
  }
  const tick = median(await timed(() => scheduler.tick()));
  const read = median(await timed(() => oldRead(store)));
  await store.close();
  console.log(`${objects} objects (${GROUPS} groups, one app in ${JOB_EVERY} with a job), median of ${ticks} ticks:`);
  console.log(`  scheduler tick:                         ${round(tick, 3)} ms`);
  console.log(`  the read the tick made before (alone):  ${round(read, 3)} ms`);
  console.log(`  the tick costs ${round((tick / read) * 100, 1)}% of that read`);
  const path = writeResults("scheduler-tick", { objects, groups: GROUPS, ticks, tickMs: tick, oldReadMs: read });
  console.log(`results: ${path}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
