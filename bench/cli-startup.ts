/**
 * The everyday commands as a user types them, beside docker-compose's, on one private engine
 * where both have converged the same N single-replica apps. Each pair runs, in alternating order:
 * a no-op `airloft apply -f` and a no-op `docker-compose up -d`; `airloft get` and
 * `docker-compose ps`; and, with no compose peer, `airloft diff -f`, `airloft describe` and
 * `node -e ""` (Node.js's own start-up, the floor under every airloft command). The airloft CLI is
 * bin/airloft.js running the bundle that `make build` makes. Medians of the pairs, of wall time (the
 * targets) and of CPU time (user and system, which other load on the machine sways less).
 * Usage: npx tsx bench/cli-startup.ts [apps=50] [pairs=7]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { stopEngine, useEngine } from "../support/engine.js";
import { composeFile, manifests, measured, type Timing } from "./lib/compose-apps.js";
import { median, round, writeResults } from "./lib/measure.js";

const APPS = Number(process.argv[2] ?? 50);
const PAIRS = Number(process.argv[3] ?? 7);
const ROOT = join(import.meta.dirname, "..");
const PROJECT = `startup${APPS}`;

/** What is measured: each airloft command and its docker-compose peer, if it has one. */
const STEPS = ["apply", "get", "diff", "describe", "node"] as const;
type Step = (typeof STEPS)[number];
const PEER: Partial<Record<Step, string>> = { apply: "up -d", get: "ps" };
/** The targets of issue 14: a no-op apply at least 3 times faster than compose's, get under 150 ms. */
const TARGET_RATIO = 3;
const TARGET_GET_MS = 150;

execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
// A private engine of its own; the smoke test lends its engine (with the test image) instead.
const lent = process.env.AIRLOFT_BENCH_DOCKER_HOST;
const host = lent ?? (await useEngine()).host;
const env = { ...process.env, DOCKER_HOST: host, COMPOSE_INTERACTIVE_NO_CLI: "1" };
const dir = mkdtempSync(join(tmpdir(), "airloft-bench-startup-"));
const folder = join(dir, "manifests");
const composeYml = join(dir, "docker-compose.yml");
mkdirSync(folder);
writeFileSync(join(folder, "apps.yaml"), manifests(APPS, PROJECT));
writeFileSync(composeYml, composeFile(APPS));

const airloft = (...args: string[]) =>
  measured(process.execPath, [join(ROOT, "bin/airloft.js"), "--state", join(dir, "state.json"), ...args], env, dir);
const compose = (...args: string[]) => measured("docker-compose", ["-p", PROJECT, "-f", composeYml, ...args], env, dir);
const measure: Record<Step, { airloft: () => Promise<Timing>; compose?: () => Promise<Timing> }> = {
  apply: { airloft: () => airloft("apply", "-f", folder), compose: () => compose("up", "-d", "--remove-orphans") },
  get: { airloft: () => airloft("get"), compose: () => compose("ps") },
  // Exit 0: nothing would change (1 would mean the no-op apply left something to do).
  diff: { airloft: () => airloft("diff", "-f", folder) },
  describe: { airloft: () => airloft("describe", `app/${PROJECT}/app0`) },
  node: { airloft: () => measured(process.execPath, ["-e", ""], env, dir) },
};

type Pair = { pair: number; step: Step; airloft: Timing; compose?: Timing };
const pairs: Pair[] = [];
try {
  const cold = { airloft: await airloft("apply", "-f", folder), compose: await compose("up", "-d") };
  process.stderr.write(
    `  ${APPS} apps converged: airloft ${Math.round(cold.airloft.wallMs)} ms, compose ${Math.round(cold.compose.wallMs)} ms\n`,
  );
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const step of STEPS) {
      const { airloft: ours, compose: theirs } = measure[step];
      // Alternate which goes first, so that neither always runs on a warmer engine.
      let a: Timing;
      let c: Timing | undefined;
      if (theirs && pair % 2 === 1) {
        c = await theirs();
        a = await ours();
      } else {
        a = await ours();
        c = theirs ? await theirs() : undefined;
      }
      pairs.push({ pair, step, airloft: a, ...(c ? { compose: c } : {}) });
    }
    const last = pairs.filter((p) => p.pair === pair);
    const ms = (t: Timing | undefined) => (t ? `/${Math.round(t.wallMs)}` : "");
    process.stderr.write(
      `  pair ${pair + 1}/${PAIRS}: ${last.map((p) => `${p.step} ${Math.round(p.airloft.wallMs)}${ms(p.compose)} ms`).join(", ")}\n`,
    );
  }
} finally {
  // Both tear down: a lent engine goes on serving the other tests.
  await airloft("delete", "-f", folder).catch(() => undefined);
  await compose("down").catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  if (!lent) await stopEngine();
}

const summary = STEPS.map((step) => {
  const of = pairs.filter((p) => p.step === step);
  const peer = of.flatMap((p) => (p.compose ? [{ airloft: p.airloft, compose: p.compose }] : []));
  const ratios = peer.map((p) => p.compose.wallMs / p.airloft.wallMs);
  const med = (timings: readonly Timing[], key: keyof Timing) => Math.round(median(timings.map((t) => t[key])));
  return {
    command: step === "node" ? 'node -e ""' : `airloft ${step}`,
    airloftMs: med(
      of.map((p) => p.airloft),
      "wallMs",
    ),
    airloftCpuMs: med(
      of.map((p) => p.airloft),
      "cpuMs",
    ),
    peer: PEER[step] ? `docker-compose ${PEER[step]}` : "-",
    peerMs:
      peer.length > 0
        ? med(
            peer.map((p) => p.compose),
            "wallMs",
          )
        : "-",
    peerCpuMs:
      peer.length > 0
        ? med(
            peer.map((p) => p.compose),
            "cpuMs",
          )
        : "-",
    "peer/airloft (median of pairs)": ratios.length > 0 ? round(median(ratios), 2) : "-",
    "per pair": ratios.map((r) => round(r, 2)).join(" "),
  };
});
console.log(
  `The everyday commands on ${APPS} apps beside docker-compose (${execFileSync("docker-compose", ["version", "--short"], { encoding: "utf8" }).trim()}): ${PAIRS} pairs, ${cpus().length} cores, Node ${process.version}`,
);
console.table(summary);
const [apply, get] = summary;
if (apply && get && typeof apply["peer/airloft (median of pairs)"] === "number") {
  const ratio = apply["peer/airloft (median of pairs)"];
  console.log(
    `targets: no-op apply at least ${TARGET_RATIO}x faster than docker-compose up -d: ${ratio >= TARGET_RATIO ? "met" : "NOT met"} (${ratio}x); get under ${TARGET_GET_MS} ms: ${get.airloftMs < TARGET_GET_MS ? "met" : "NOT met"} (${get.airloftMs} ms)`,
  );
}
writeResults("cli-startup", { apps: APPS, pairs: PAIRS, summary, results: pairs });
