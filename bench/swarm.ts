/**
 * The Swarm provider against `docker stack deploy` on the real three-node test swarm
 * (support/swarm.ts; root): N one-replica apps, a cold converge until every task runs, then a
 * no-op pass. AirLoft runs twice: without the edge, and with every app routed through the
 * swarm's edge (Caddy on the manager). API calls are counted by the manager's own log of each
 * request (dockerd --debug), so every tool is counted the same way. Run under
 * `flock /tmp/airloft-swarm.lock`.
 * A pass reconciles the apps `workers` at a time, as the controller manager's workers do (4 by
 * default there and here).
 * Usage: npx tsx bench/swarm.ts [apps=50] [tools=airloft,edge,stack] [workers=4]
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { edgeRoutes } from "../src/providers/docker/edge/routes.js";
import { SwarmProvider } from "../src/providers/swarm/provider.js";
import { API_VERSION, type App, type Group } from "../src/resources/types.js";
import { runBounded } from "../src/util/pool.js";
import { SWARM_TEST_IMAGE, stopSwarm, useSwarm } from "../support/swarm.js";
import { round, writeResults } from "./lib/measure.js";

const N = Number(process.argv[2] ?? 50);
const TOOLS = {
  airloft: "AirLoft",
  edge: "AirLoft + edge",
  stack: "docker stack deploy",
} as const;
type Tool = keyof typeof TOOLS;
const tools = (process.argv[3] ?? "airloft,edge,stack").split(",") as Tool[];
const WORKERS = Number(process.argv[4] ?? 4);
for (const t of tools) if (!(t in TOOLS)) throw new Error(`unknown tool ${t}: one of ${Object.keys(TOOLS).join(", ")}`);
/** Made on the manager, where the edge runs (scripts/caddy-image.sh): no registry is involved. */
const EDGE_IMAGE = "airloft-test/caddy:2";
/** The edge's ports in the manager's own network namespace, where nothing else listens. */
const EDGE_ENV = {
  AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
  AIRLOFT_EDGE_HTTP_PORT: "18490",
  AIRLOFT_EDGE_HTTPS_PORT: "18494",
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

process.env.AIRLOFT_SWARM_DEBUG = "1";
const swarm = await useSwarm();
const manager = swarm.nodes[0];
if (!manager) throw new Error("no manager");
const log = join(manager.dir, "dockerd.log");
/** Requests the manager has logged so far ("Calling GET /v1.47/..."). */
const calls = () => (readFileSync(log, "utf8").match(/msg="Calling /g) ?? []).length;
const env = { ...process.env, DOCKER_HOST: swarm.host };

async function measure(work: () => Promise<unknown>): Promise<{ ms: number; calls: number }> {
  const before = calls();
  const start = performance.now();
  await work();
  return { ms: round(performance.now() - start), calls: calls() - before };
}

/** With the edge: the group has a domain and every app a port, so each reconcile syncs the edge too. */
async function airloft(edge: boolean) {
  if (edge)
    execFileSync("sh", [join(import.meta.dirname, "..", "scripts", "caddy-image.sh"), EDGE_IMAGE], {
      env,
      stdio: "ignore",
    });
  const provider = new SwarmProvider({ instanceId: `bench-${randomUUID()}`, env: edge ? EDGE_ENV : {} });
  const group: Group = {
    apiVersion: API_VERSION,
    kind: "Group",
    metadata: { name: "bench", uid: randomUUID() },
    spec: { provider: "swarm", swarm: { host: swarm.host, ...(edge ? { edge: { domain: "bench.localhost" } } : {}) } },
  };
  const apps: App[] = Array.from({ length: N }, (_, i) => ({
    apiVersion: API_VERSION,
    kind: "App",
    metadata: { name: `app${i}`, uid: randomUUID(), group: "bench" },
    spec: {
      image: SWARM_TEST_IMAGE,
      replicas: 1,
      command: ["sh", "-c", "exec sleep 3600"],
      ...(edge ? { port: 8080 } : {}),
    },
  }));
  const options = edge ? { edgeRoutes: edgeRoutes([group, ...apps]).routes } : {};
  // Passes over every app as the controllers make them, until all are converged.
  const pass = async () =>
    (await runBounded(apps, WORKERS, (a) => provider.reconcileApp(a, group, options))).every((o) => o.converged);
  try {
    const cold = await measure(async () => {
      await provider.reconcileGroup(group);
      while (!(await pass())) await sleep(500);
    });
    // Past every snapshot's age limit (1 s), the swarm's and the edge's: read again, as on a controller's next pass.
    provider.snapshots.invalidate(swarm.host);
    await sleep(1100);
    const noop = await measure(pass);
    return { cold, noop };
  } finally {
    for (const a of apps) await provider.finalizeApp(a, group);
    if (edge) await provider.edge.sync(swarm.host, []);
    for (let i = 0; i < 30 && !(await provider.finalizeGroup(group).catch(() => false)); i++) await sleep(1000);
  }
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
  const rows = [];
  for (const tool of tools)
    rows.push({ tool: TOOLS[tool], ...(tool === "stack" ? await stack() : await airloft(tool === "edge")) });
  console.log(
    `${N} one-replica apps on a three-node swarm, ${WORKERS} reconciles at a time (wall ms, API calls on the manager)`,
  );
  console.log("tool                  cold ms  cold calls  no-op ms  no-op calls");
  for (const r of rows)
    console.log(
      `${r.tool.padEnd(20)} ${String(r.cold.ms).padStart(8)} ${String(r.cold.calls).padStart(11)} ${String(r.noop.ms).padStart(9)} ${String(r.noop.calls).padStart(12)}`,
    );
  console.log(`written to ${writeResults("swarm", { apps: N, workers: WORKERS, rows })}`);
} finally {
  await stopSwarm();
}
