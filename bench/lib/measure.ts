import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

export interface Cost {
  wallMs: number;
  cpuMs: number;
}

/** Wall time and CPU time of `work`. */
export async function cost<T>(work: () => Promise<T>): Promise<{ result: T; cost: Cost }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await work();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { result, cost: { wallMs: Math.round(wallMs), cpuMs: Math.round((cpu.user + cpu.system) / 1000) } };
}

export function peakRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Writes a benchmark's figures as JSON under bench/results/ (or $AIRLOFT_BENCH_RESULTS, for smoke runs). */
export function writeResults(name: string, data: object): string {
  const dir = process.env.AIRLOFT_BENCH_RESULTS ?? join(import.meta.dirname, "..", "results");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({ cores: cpus().length, node: process.version, at: new Date().toISOString(), ...data }, null, 2),
  );
  return path;
}
