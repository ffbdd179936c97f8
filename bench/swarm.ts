/**
 * The Swarm provider against `docker stack deploy` on the real three-node test swarm
 * (support/swarm.ts; root): N one-replica apps, a cold converge until every task runs, then a
 * no-op pass. API calls are counted by the manager's own log of each request (dockerd --debug),
 * so both tools are counted the same way. Run under `flock /tmp/airloft-swarm.lock`.
 * Usage: npx tsx bench/swarm.ts [apps=50]
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SwarmProvider } from "../src/providers/swarm/provider.js";
import { API_VERSION, type App, type Group } from "../src/resources/types.js";
import { SWARM_TEST_IMAGE, stopSwarm, useSwarm } from "../support/swarm.js";
import { round, writeResults } from "./lib/measure.js";

const N = Number(process.argv[2] ?? 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

process.env.AIRLOFT_SWARM_DEBUG = "1";
const swarm = await useSwarm();
const manager = swarm.nodes[0];
if (!manager) throw new Error("no manager");
const log = join(manager.dir, "dockerd.log");
/** Requests the manager has logged so far ("Calling GET /v1.47/..."). */
const calls = () => (readFileSync(log, "utf8").match(/msg="Calling /g) ?? []).length;
const env = { ...process.env, DOCKER_HOST: swarm.host };

async function measure(work: () => Promise<void>): Promise<{ ms: number; calls: number }> {
  const before = calls();
  const start = performance.now();
  await work();
  return { ms: round(performance.now() - start), calls: calls() - before };
}

async function airloft() {
  const provider = new SwarmProvider({ instanceId: `bench-${randomUUID()}`, env: {} });
  const group: Group = {
    apiVersion: API_VERSION,
    kind: "Group",
    metadata: { name: "bench", uid: randomUUID() },
    spec: { provider: "swarm", swarm: { host: swarm.host } },
  };
  const apps: App[] = Array.from({ length: N }, (_, i) => ({
    apiVersion: API_VERSION,
    kind: "App",
    metadata: { name: `app${i}`, uid: randomUUID(), group: "bench" },
    spec: { image: SWARM_TEST_IMAGE, replicas: 1, command: ["sh", "-c", "exec sleep 3600"] },
  }));
  // Passes over every app as the controllers make them, until all are converged.
  const pass = async () =>
    (await Promise.all(apps.map((a) => provider.reconcileApp(a, group)))).every((o) => o.converged);
  const cold = await measure(async () => {
    await provider.reconcileGroup(group);
    while (!(await pass())) await sleep(500);
  });
  const noop = await measure(async () => {
    provider.snapshots.invalidate(swarm.host);
    await pass();
  });
  for (const a of apps) await provider.finalizeApp(a, group);
  for (let i = 0; i < 30 && !(await provider.finalizeGroup(group).catch(() => false)); i++) await sleep(1000);
  return { cold, noop };
}

async function stack() {
  const dir = mkdtempSync(join(tmpdir(), "airloft-bench-stack-"));
  const file = join(dir, "stack.yml");
  const services = Array.from(
    { length: N },
    (_, i) =>
      `  app${i}:\n    image: ${SWARM_TEST_IMAGE}\n    command: ["sh", "-c", "exec sleep 3600"]\n    deploy:\n      replicas: 1\n      endpoint_mode: dnsrr\n`,
  ).join("");
  writeFileSync(file, `version: "3.8"\nservices:\n${services}`);
  const deploy = () =>
    execFileSync("docker", ["stack", "deploy", "--resolve-image", "never", "-c", file, "benchstack"], {
      env,
      stdio: "ignore",
    });
  const running = () => {
    const out = execFileSync("docker", ["stack", "services", "benchstack", "--format", "{{.Replicas}}"], {
      env,
    }).toString();
    const lines = out.trim().split("\n").filter(Boolean);
    return lines.length === N && lines.every((l) => l.startsWith("1/1"));
  };
  try {
    const cold = await measure(async () => {
      deploy();
      while (!running()) await sleep(500);
    });
    const noop = await measure(async () => {
      deploy();
    });
    return { cold, noop };
  } finally {
    execFileSync("docker", ["stack", "rm", "benchstack"], { env, stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  const results = { apps: N, airloft: await airloft(), stack: await stack() };
  console.log(`${N} one-replica apps on a three-node swarm (wall ms, API calls on the manager)`);
  console.log("tool            cold ms  cold calls  no-op ms  no-op calls");
  for (const tool of ["airloft", "stack"] as const) {
    const r = results[tool];
    console.log(
      `${tool.padEnd(14)} ${String(r.cold.ms).padStart(8)} ${String(r.cold.calls).padStart(11)} ${String(r.noop.ms).padStart(9)} ${String(r.noop.calls).padStart(12)}`,
    );
  }
  console.log(`written to ${writeResults("swarm", results)}`);
} finally {
  await stopSwarm();
}
