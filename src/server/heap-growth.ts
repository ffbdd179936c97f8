import { setFlagsFromString } from "node:v8";

/**
 * How far past its live data V8 lets the heap grow before a full collection, in percent. Chosen
 * with --optimize-for-size (favourMemory): under issue 13's abuse run 20 held the server's peak at
 * 390 to 426 MiB but its collections stalled the well-behaved tenant (p99 169 to 274 ms); 30 gave
 * 435 to 449 MiB and 155 to 161 ms; 50, 466 to 516 MiB. With SERVER_NODE_FLAGS instead, 20 was
 * tried in two runs (p99 227 and 140 ms) against 30's nine below.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 30;

/**
 * A server's heap grows with the garbage its requests make, not only with what it keeps: under a
 * tenant sending large bodies V8's own growth rule (up to four times the live data) took the
 * server from 450 MiB to about 1 GiB of resident memory, nearly all of it garbage. A bound on the
 * growth makes full collections come sooner and shorter instead. It is V8's --heap-growing-percent,
 * which V8 reads at each collection (NODE_OPTIONS refuses it, so it is set here); 0 keeps V8's
 * rule. AIRLOFT_HEAP_GROWING_PERCENT overrides the default.
 */
export function boundHeapGrowth(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.AIRLOFT_HEAP_GROWING_PERCENT;
  const percent = raw === undefined || raw === "" ? DEFAULT_HEAP_GROWING_PERCENT : Number(raw);
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000)
    throw new Error(`AIRLOFT_HEAP_GROWING_PERCENT must be a whole number from 0 to 1000, got ${raw}`);
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}

/**
 * The Node.js flags the server is meant to start with (deploy/airloft.service, the abuse
 * benchmark): semi-spaces of 2 MiB, a young generation of 4 MiB instead of up to 32. V8 sizes it
 * only as it starts, so it cannot be set from here. Under issue 13's abuse run this (without
 * --optimize-for-size) kept the server's peak at 442 to 495 MiB with the well-behaved tenant's
 * p99 under 200 ms in seven of nine runs (140 to 273 ms), where --optimize-for-size gave 391 to
 * 447 MiB but met 200 ms in three of nine (166 to 326 ms): that flag makes every full collection
 * a memory-reducing one, which compacts in its pause (96 to 144 ms, most of it copying objects).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2"];

/** Whether the process started with its young generation bounded (--max-semi-space-size, on the command line or in NODE_OPTIONS). */
export function youngGenerationBounded(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? "",
): boolean {
  // V8 takes either spelling; 0 means its own default (up to 32 MiB), which bounds nothing.
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((flag) => {
    const size = /^--max[-_]semi[-_]space[-_]size=(\d+)$/.exec(flag)?.[1];
    return size !== undefined && Number(size) > 0;
  });
}

/**
 * V8's --optimize-for-size, for a server started without SERVER_NODE_FLAGS (by hand, as
 * `airloft serve`): a young generation of a few MiB instead of up to 32, and an old one compacted
 * and kept close to its live data. Under issue 13's abuse run the server held 60 to 100 MiB of
 * free heap pages at its peak without it (old space 225 MiB for 140 to 165 MiB used, young 32
 * MiB). V8 reads it as the heap sizes itself, so it takes effect when set here, as the server
 * starts (NODE_OPTIONS refuses it). Off when the young generation was bounded at start (the
 * better trade, above); AIRLOFT_OPTIMIZE_FOR_SIZE=1 or 0 decides either way. Returns whether it
 * is set.
 */
export function favourMemory(
  env: NodeJS.ProcessEnv = process.env,
  bounded = youngGenerationBounded(process.execArgv, env.NODE_OPTIONS ?? ""),
): boolean {
  const raw = env.AIRLOFT_OPTIMIZE_FOR_SIZE;
  if (raw !== undefined && raw !== "" && raw !== "0" && raw !== "1")
    throw new Error(`AIRLOFT_OPTIMIZE_FOR_SIZE must be 0 or 1, got ${raw}`);
  const on = raw === "1" || (raw !== "0" && !bounded);
  if (on) setFlagsFromString("--optimize-for-size");
  return on;
}
