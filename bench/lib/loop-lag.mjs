/**
 * Loaded into a server under benchmark with `node --import` (never by AirLoft itself): every
 * second, appends the event loop's delay over that second (max and p99, in ms) to the file named
 * by $AIRLOFT_BENCH_LAG_FILE, as a JSON line with the wall-clock time, with the garbage
 * collector's pauses over that second (their sum, the longest, the longest full collection's, and
 * the young generation's collections). A delay is how long any request, timer or socket of that
 * process waited for the one thread to be free.
 */
import { appendFileSync } from "node:fs";
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { isMainThread } from "node:worker_threads";

const file = process.env.AIRLOFT_BENCH_LAG_FILE;
// Node 20 also runs --import modules in its module-loader thread: measure the main thread only.
if (file && isMainThread) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  // The thread's garbage-collection pauses too: a delay is often one, and which kind says what to change.
  const noPauses = () => ({ gcMs: 0, gcMaxMs: 0, fullGcMaxMs: 0, youngGcs: 0 });
  let gc = noPauses();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.gcMs += entry.duration;
      gc.gcMaxMs = Math.max(gc.gcMaxMs, entry.duration);
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
        gc.fullGcMaxMs = Math.max(gc.fullGcMaxMs, entry.duration);
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.youngGcs++;
    }
  }).observe({ entryTypes: ["gc"] });
  setInterval(() => {
    const pauses = Object.fromEntries(Object.entries(gc).map(([k, v]) => [k, Math.round(v)]));
    appendFileSync(
      file,
      `${JSON.stringify({ pid: process.pid, at: Date.now(), maxMs: Math.round(histogram.max / 1e6), p99Ms: Math.round(histogram.percentile(99) / 1e6), ...pauses })}\n`,
    );
    histogram.reset();
    gc = noPauses();
  }, 1000).unref();
}
