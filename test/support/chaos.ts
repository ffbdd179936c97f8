import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { TSX } from "./cli.js";

/** How many kills a chaos test does: a few in the regular run, many in `make chaos`. */
export function chaosKills(regular: number): number {
  return Number(process.env.AIRLOFT_CHAOS_KILLS ?? regular);
}

/**
 * A seeded random source (mulberry32): the seed is printed, so a failing run can be replayed
 * with AIRLOFT_CHAOS_SEED.
 */
export function chaosRandom(label: string): () => number {
  let seed = Number(process.env.AIRLOFT_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
  process.stdout.write(`      ${label}: AIRLOFT_CHAOS_SEED=${seed}\n`);
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A TypeScript script as its own process, with its stdout lines handed to `onLine`. */
const running = new Set<ChildProcess>();

/** Kills what a test left running (it failed before its own kill): a live child keeps mocha from exiting. */
export async function endScripts(): Promise<void> {
  await Promise.all(
    [...running].map((child) => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      return exited;
    }),
  );
}

export function spawnScript(
  script: string,
  args: readonly string[],
  onLine: (line: string) => void,
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", TSX, script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  if (child.stdout) createInterface({ input: child.stdout }).on("line", onLine);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
