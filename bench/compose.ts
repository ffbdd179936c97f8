/**
 * AirLoft against Docker Compose on the same private engine: Debian's docker-compose with a
 * compose file, and the airloft CLI (the bundle `make build` makes, as a user runs it) with the
 * equivalent manifests, for N single-replica apps. Each run is a cold converge to all running, a no-op
 * re-apply, a change of one app's env, and a tear-down. The tools alternate run by run
 * (A B A B ...), and each pair gives a ratio; the table shows medians.
 * Usage: npx tsx bench/compose.ts [sizes=10,50] [pairs=5]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { stopEngine, useEngine } from "../support/engine.js";
import { composeFile, manifests, timed as run } from "./lib/compose-apps.js";
import { median, round, writeResults } from "./lib/measure.js";

const SIZES = (process.argv[2] ?? "10,50").split(",").map(Number);
const PAIRS = Number(process.argv[3] ?? 5);
const ROOT = join(import.meta.dirname, "..");
const STEPS = ["cold", "noop", "change", "down"] as const;
type Step = (typeof STEPS)[number];
type Tool = "airloft" | "compose";

/** One full run of a tool: cold, no-op, change, down; milliseconds per step. */
async function runTool(tool: Tool, n: number, env: NodeJS.ProcessEnv): Promise<Record<Step, number>> {
  const dir = mkdtempSync(join(tmpdir(), `airloft-bench-${tool}-`));
  const times = {} as Record<Step, number>;
  try {
    if (tool === "compose") {
      const file = join(dir, "docker-compose.yml");
      const up = ["-p", `bench${n}`, "-f", file, "up", "-d", "--remove-orphans"];
      writeFileSync(file, composeFile(n, false));
      times.cold = await run("docker-compose", up, env, dir);
      times.noop = await run("docker-compose", up, env, dir);
      writeFileSync(file, composeFile(n, true));
      times.change = await run("docker-compose", up, env, dir);
      times.down = await run("docker-compose", ["-p", `bench${n}`, "-f", file, "down"], env, dir);
    } else {
      const folder = join(dir, "manifests");
      mkdirSync(folder);
      const file = join(folder, "apps.yaml");
      const cli = (...args: string[]) =>
        run(process.execPath, [join(ROOT, "bin/airloft.js"), "--state", join(dir, "state.json"), ...args], env, dir);
      writeFileSync(file, manifests(n, `bench${n}`, false));
      times.cold = await cli("apply", "-f", folder);
      times.noop = await cli("apply", "-f", folder);
      writeFileSync(file, manifests(n, `bench${n}`, true));
      times.change = await cli("apply", "-f", folder);
      times.down = await cli("delete", "-f", folder);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

// The CLI as a user runs it: the bundle, not the sources through tsx.
execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
// A private engine of its own; the smoke test lends its engine (with the test image) instead.
const lent = process.env.AIRLOFT_BENCH_DOCKER_HOST;
const host = lent ?? (await useEngine()).host;
const env = { ...process.env, DOCKER_HOST: host, COMPOSE_INTERACTIVE_NO_CLI: "1" };
const results: Array<{ apps: number; pair: number; tool: Tool } & Record<Step, number>> = [];
try {
  for (const n of SIZES) {
    for (let pair = 0; pair < PAIRS; pair++) {
      // Alternate which tool goes first, so that neither always runs on a warmer engine.
      const order: Tool[] = pair % 2 === 0 ? ["airloft", "compose"] : ["compose", "airloft"];
      for (const tool of order) {
        results.push({ apps: n, pair, tool, ...(await runTool(tool, n, env)) });
        process.stderr.write(
          `  ${n} apps, pair ${pair + 1}/${PAIRS}, ${tool}: ${STEPS.map((s) => `${s} ${Math.round(results.at(-1)![s])} ms`).join(", ")}\n`,
        );
      }
    }
  }
} finally {
  if (!lent) await stopEngine();
}

const summary = SIZES.flatMap((n) =>
  STEPS.map((step) => {
    const of = (tool: Tool) => results.filter((r) => r.apps === n && r.tool === tool);
    const ratios = of("compose").map((c) => c[step] / of("airloft").find((a) => a.pair === c.pair)![step]);
    return {
      apps: n,
      step,
      airloftMs: Math.round(median(of("airloft").map((r) => r[step]))),
      composeMs: Math.round(median(of("compose").map((r) => r[step]))),
      "compose/airloft (median of pairs)": round(median(ratios), 2),
      "per pair": ratios.map((r) => round(r, 2)).join(" "),
    };
  }),
);
console.log(
  `AirLoft vs docker-compose (${execFileSync("docker-compose", ["version", "--short"], { encoding: "utf8" }).trim()}) on one private engine: ${PAIRS} pairs, ${cpus().length} cores, Node ${process.version}`,
);
console.table(summary);
const at = (n: number, step: Step) => summary.find((s) => s.apps === n && s.step === step);
const noop50 = at(50, "noop");
const cold50 = at(50, "cold");
if (noop50 && cold50) {
  console.log(
    `targets: no-op re-apply of 50 apps at least 3x faster: ${noop50["compose/airloft (median of pairs)"] >= 3 ? "met" : "NOT met"} (${noop50["compose/airloft (median of pairs)"]}x); cold converge of 50 no slower: ${cold50["compose/airloft (median of pairs)"] >= 1 ? "met" : "NOT met"} (${cold50["compose/airloft (median of pairs)"]}x)`,
  );
}
writeResults("compose", { pairs: PAIRS, summary, results });
