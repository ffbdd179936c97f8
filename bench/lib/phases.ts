import { existsSync, readFileSync } from "node:fs";

/** Event-loop delay lines written by bench/lib/loop-lag.mjs. */
export interface LagLine {
  readonly at: number;
  readonly maxMs: number;
  readonly p99Ms: number;
  /** The garbage collector's pauses in that second (absent from older lag files). */
  readonly gcMs?: number;
  readonly gcMaxMs?: number;
  readonly fullGcMaxMs?: number;
  readonly youngGcs?: number;
}

export function readLag(file: string): LagLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as LagLine);
}

/** The largest event-loop delay reported in [from, to] (wall-clock ms), and the longest run of seconds with a delay over `overMs`. */
export function lagIn(
  lines: readonly LagLine[],
  from: number,
  to: number,
  overMs = 100,
): { maxMs: number; secondsOver: number; gc: GcPauses | undefined } {
  const mine = lines.filter((l) => l.at >= from && l.at <= to + 1000);
  return {
    maxMs: mine.reduce((m, l) => Math.max(m, l.maxMs), 0),
    secondsOver: mine.filter((l) => l.maxMs > overMs).length,
    // None recorded (an older lag file, or no second in the phase) is not "no pauses".
    gc: !mine.some((l) => l.gcMs !== undefined)
      ? undefined
      : {
          pausedMs: mine.reduce((sum, l) => sum + (l.gcMs ?? 0), 0),
          longestMs: mine.reduce((m, l) => Math.max(m, l.gcMaxMs ?? 0), 0),
          longestFullMs: mine.reduce((m, l) => Math.max(m, l.fullGcMaxMs ?? 0), 0),
          youngCollections: mine.reduce((sum, l) => sum + (l.youngGcs ?? 0), 0),
        },
  };
}

/** The garbage collector's pauses of the thread over a phase. */
export interface GcPauses {
  /** All pauses added up. */
  readonly pausedMs: number;
  readonly longestMs: number;
  /** The longest full (mark-compact) collection's pause. */
  readonly longestFullMs: number;
  readonly youngCollections: number;
}

/** Per-second figures of a phase's samples: requests sent in that second, their worst latency, and how many failed. */
export function timeline(
  samples: ReadonlyArray<{ at: number; ms: number; status: number }>,
): Array<{ second: number; requests: number; maxMs: number; failed: number }> {
  const out: Array<{ second: number; requests: number; maxMs: number; failed: number }> = [];
  for (const s of samples) {
    const second = Math.floor(s.at / 1000);
    let entry = out[second];
    if (!entry) {
      for (let i = out.length; i <= second; i++) out[i] = { second: i, requests: 0, maxMs: 0, failed: 0 };
      entry = out[second];
    }
    if (!entry) continue;
    entry.requests += 1;
    entry.maxMs = Math.max(entry.maxMs, Math.round(s.ms));
    if (s.status < 200 || s.status >= 300) entry.failed += 1;
  }
  return out;
}

/** The `count` slowest samples, slowest first: when each was sent (ms after the start), what it was, how long it took. */
export function slowest(
  samples: ReadonlyArray<{
    name: string;
    at: number;
    ms: number;
    status: number;
    newConnection?: boolean;
    connectMs?: number;
    port?: number;
    sentAt?: number;
  }>,
  count = 12,
): Array<{
  at: number;
  name: string;
  ms: number;
  status: number;
  newConnection: boolean;
  connectMs?: number;
  port?: number;
  sentAt?: number;
}> {
  return [...samples]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, count)
    .map((s) => ({
      at: Math.round(s.at),
      name: s.name,
      ms: Math.round(s.ms),
      status: s.status,
      newConnection: s.newConnection === true,
      ...(s.connectMs !== undefined ? { connectMs: s.connectMs } : {}),
      ...(s.port !== undefined ? { port: s.port, sentAt: s.sentAt } : {}),
    }));
}

/** The largest event-loop delay reported in each second from `from` to `to` (wall-clock ms). */
export function lagBySecond(lines: readonly LagLine[], from: number, to: number): number[] {
  const out = Array.from({ length: Math.ceil((to - from) / 1000) }, () => 0);
  for (const l of lines) {
    const second = Math.floor((l.at - from) / 1000);
    if (second >= 0 && second < out.length) out[second] = Math.max(out[second] ?? 0, Math.round(l.maxMs));
  }
  return out;
}
