/**
 * Loaded into a server under benchmark with `node --import` (never by AirLoft itself): every
 * second, appends the event loop's delay over that second (max and p99, in ms) to the file named
 * by $AIRLOFT_BENCH_LAG_FILE, as a JSON line with the wall-clock time. A delay is how long any
 * request, timer or socket of that process waited for the one thread to be free.
 */
import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { isMainThread } from "node:worker_threads";

const file = process.env.AIRLOFT_BENCH_LAG_FILE;
// Node 20 also runs --import modules in its module-loader thread: measure the main thread only.
if (file && isMainThread) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  setInterval(() => {
    appendFileSync(
      file,
      `${JSON.stringify({ pid: process.pid, at: Date.now(), maxMs: Math.round(histogram.max / 1e6), p99Ms: Math.round(histogram.percentile(99) / 1e6) })}\n`,
    );
    histogram.reset();
  }, 1000).unref();
}
