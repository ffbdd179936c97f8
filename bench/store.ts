/**
 * Store benchmark: apply N objects from a folder (load, validate, admit, store durably), then a
 * full reconcile pass over all of them with a fake of the project's InfraProvider interface. Wall
 * time, CPU time, peak memory and bytes written, at several N, each in a fresh process, so that
 * growth faster than N (a state file rewritten whole per status update) shows in the figures.
 * The fake provider takes 2 ms per app, as a provider's calls would, so that status writes
 * interleave with the pass. The peer is lowdb used as its documentation shows (its JSONFile
 * adapter, `db.write()` after each status update), over the same objects, in the same run.
 * Usage: npx tsx bench/store.ts [sizes=1000,2000,5000]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Low } from "lowdb";
import { JSONFile } from "lowdb/node";
import { createProgress } from "../src/controllers/context.js";
import { Manager } from "../src/controllers/manager.js";
import { createLogger } from "../src/log.js";
import { ProviderRegistry } from "../src/providers/registry.js";
import { loadManifests } from "../src/resources/loader.js";
import { Store } from "../src/store/store.js";
import { FakeProvider } from "../support/fake-provider.js";
import { cost, peakRssMiB, round, writeResults } from "./lib/measure.js";

const GROUPS = 5;
const PROVIDER_LATENCY_MS = 2;

interface Row {
  store: string;
  objects: number;
  applyMs: number;
  applyCpuMs: number;
  applyWrites: number;
  applyWrittenMiB: number;
  reconcileMs: number;
  reconcileCpuMs: number;
  reconcileWrites: number;
  reconcileWrittenMiB: number;
  stateFileMiB: number;
  peakRssMiB: number;
}

function writeManifests(dir: string, objects: number): void {
  for (let g = 0; g < GROUPS; g++)
    writeFileSync(
      join(dir, `group-${g}.yaml`),
      `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: team-${g}}\nspec: {provider: docker}\n`,
    );
  for (let i = 0; i < objects - GROUPS; i++) {
    writeFileSync(
      join(dir, `app-${i}.yaml`),
      [
        "apiVersion: airloft.dev/v1alpha1",
        "kind: App",
        `metadata: {name: app-${i}, group: team-${i % GROUPS}, labels: {tier: web}}`,
        "spec:",
        "  image: example/app:1",
        "  replicas: 2",
        "  port: 8080",
        "  env: {GREETING: hello, LOG_LEVEL: info}",
        "  resources: {cpu: 250m, memory: 128Mi}",
        "  healthCheck: {http: {path: /healthz}}",
        "",
      ].join("\n"),
    );
  }
}

/** The peer: lowdb's JSONFile, one `db.write()` per status update, as its README shows. */
async function naiveChild(objects: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "airloft-bench-lowdb-"));
  const folder = join(dir, "manifests");
  mkdirSync(folder);
  writeManifests(folder, objects);
  const path = join(dir, "state.json");
  const db = new Low<{ objects: Record<string, { kind: string; metadata: object; spec: object; status?: object }> }>(
    new JSONFile(path),
    { objects: {} },
  );
  let writes = 0;
  let bytes = 0;
  const write = async () => {
    await db.write();
    writes++;
    bytes += statSync(path).size;
  };
  const applied = await cost(async () => {
    for (const m of loadManifests([folder], { recursive: false }))
      db.data.objects[`${m.object.kind}/${m.object.metadata.group ?? ""}/${m.object.metadata.name}`] = { ...m.object };
    await write();
  });
  const applyWrites = writes;
  const applyBytes = bytes;
  const reconciled = await cost(async () => {
    for (const obj of Object.values(db.data.objects)) {
      await new Promise((r) => setTimeout(r, PROVIDER_LATENCY_MS / 4)); // 4 workers share the provider's latency
      obj.status = {
        observedGeneration: 1,
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "Converged",
            message: "2/2 replicas ready",
            lastTransitionTime: new Date().toISOString(),
            observedGeneration: 1,
          },
        ],
      };
      await write();
    }
  });
  const mib = (n: number) => round(n / 2 ** 20, 1);
  const row: Row = {
    store: "lowdb, write per update",
    objects,
    applyMs: applied.cost.wallMs,
    applyCpuMs: applied.cost.cpuMs,
    applyWrites,
    applyWrittenMiB: mib(applyBytes),
    reconcileMs: reconciled.cost.wallMs,
    reconcileCpuMs: reconciled.cost.cpuMs,
    reconcileWrites: writes - applyWrites,
    reconcileWrittenMiB: mib(bytes - applyBytes),
    stateFileMiB: mib(statSync(path).size),
    peakRssMiB: peakRssMiB(),
  };
  rmSync(dir, { recursive: true, force: true });
  return row;
}

/** One measurement, in this process: the child side of the benchmark. */
async function child(objects: number, groupCommitMs: number | undefined): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "airloft-bench-store-"));
  const folder = join(dir, "manifests");
  mkdirSync(folder);
  writeManifests(folder, objects);
  const statePath = join(dir, "state.json");
  const store = await Store.open(statePath, {
    write: true,
    command: "bench",
    ...(groupCommitMs !== undefined ? { groupCommitMs } : {}),
  });
  const stats0 = store.stats;
  const applied = await cost(async () => store.apply(loadManifests([folder], { recursive: false })));
  const stats1 = store.stats;
  const manager = new Manager(
    {
      store,
      providers: new ProviderRegistry({
        instanceId: "bench",
        docker: Object.assign(new FakeProvider(), { latencyMs: PROVIDER_LATENCY_MS }),
      }),
      log: createLogger({ level: "error" }),
      progress: createProgress(),
    },
    { resyncMs: 3_600_000, workers: 4, queue: { qps: 100_000, burst: 100_000 } },
  );
  const reconciled = await cost(async () => {
    let done = 0;
    const all = new Promise<void>((resolve) =>
      manager.events.on("reconciled", () => {
        if (++done >= objects) resolve();
      }),
    );
    manager.start();
    await all;
    await manager.stop();
    await store.flush();
  });
  const stats2 = store.stats;
  await store.close();
  const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
  const row: Row = {
    store: "AirLoft",
    objects,
    applyMs: applied.cost.wallMs,
    applyCpuMs: applied.cost.cpuMs,
    applyWrites: stats1.writes - stats0.writes,
    applyWrittenMiB: mib(stats1.bytesWritten - stats0.bytesWritten),
    reconcileMs: reconciled.cost.wallMs,
    reconcileCpuMs: reconciled.cost.cpuMs,
    reconcileWrites: stats2.writes - stats1.writes,
    reconcileWrittenMiB: mib(stats2.bytesWritten - stats1.bytesWritten),
    stateFileMiB: round(statSync(statePath).size / 2 ** 20, 1),
    peakRssMiB: peakRssMiB(),
  };
  rmSync(dir, { recursive: true, force: true });
  return row;
}

if (process.argv[2] === "--child") {
  const row =
    process.argv[4] === "lowdb"
      ? await naiveChild(Number(process.argv[3]))
      : await child(Number(process.argv[3]), undefined);
  process.stdout.write(JSON.stringify(row));
} else {
  const sizes = (process.argv[2] ?? "1000,2000,5000").split(",").map(Number);
  const rows: Row[] = [];
  for (const n of sizes) {
    for (const mode of ["airloft", "lowdb"]) {
      // The peer rewrites the whole file per update: quadratic, so it runs at the smallest size only.
      if (mode === "lowdb" && n !== Math.min(...sizes)) continue;
      const out = execFileSync(
        process.execPath,
        ["--import", "tsx", import.meta.filename, "--child", String(n), mode],
        { encoding: "utf8", maxBuffer: 1 << 20, timeout: 900_000 },
      );
      rows.push(JSON.parse(out) as Row);
      process.stderr.write(`  ${n} objects, ${mode}: done\n`);
    }
  }
  console.log(`store benchmark: ${cpus().length} cores, Node ${process.version}`);
  console.table(rows);
  const at = (n: number, store = "AirLoft") => rows.find((r) => r.objects === n && r.store === store);
  const big = at(Math.max(...sizes));
  const small = at(Math.min(...sizes));
  if (big && small && big !== small) {
    const k = big.objects / small.objects;
    console.log(
      `growth from ${small.objects} to ${big.objects} objects (x${k}): reconcile bytes written x${round(big.reconcileWrittenMiB / small.reconcileWrittenMiB, 1)}, reconcile time x${round(big.reconcileMs / small.reconcileMs, 1)} (linear would be x${k})`,
    );
  }
  const naive = rows.filter((r) => r.store !== "AirLoft");
  for (const r of naive) {
    const ours = at(r.objects);
    if (ours)
      console.log(
        `${r.objects} objects, reconcile pass: AirLoft ${ours.reconcileMs} ms, ${ours.reconcileWrites} writes, ${ours.reconcileWrittenMiB} MiB vs lowdb ${r.reconcileMs} ms, ${r.reconcileWrites} writes, ${r.reconcileWrittenMiB} MiB (${round(r.reconcileWrittenMiB / ours.reconcileWrittenMiB, 1)}x the bytes)`,
      );
  }
  if (at(5000))
    console.log(
      `targets: apply of 5,000 objects under 3 s: ${at(5000)!.applyMs < 3000 ? "met" : "NOT met"} (${at(5000)!.applyMs} ms); peak memory under 250 MB: ${at(5000)!.peakRssMiB < 250 ? "met" : "NOT met"} (${at(5000)!.peakRssMiB} MiB)`,
    );
  writeResults("store", { rows });
}
