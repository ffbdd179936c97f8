import { readFileSync } from "node:fs";
import { round } from "./measure.js";

/** Resident memory of another process, from /proc/PID/status, in MiB; undefined once it is gone. */
export function procMemoryMiB(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: round(kb("VmRSS") / 1024), hwmMiB: round(kb("VmHWM") / 1024) };
}

/**
 * Samples a process's VmRSS on an interval (250 ms by default), so that the peak of one phase of
 * a run can be told from another's; VmHWM alone is the peak of the process's whole life.
 */
export class RssSampler {
  private readonly samples: Array<{ at: number; rssMiB: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  /** The last VmHWM read while the process was alive. */
  hwmMiB = 0;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }

  /** The largest VmRSS sampled in [from, to] (performance.now() times). */
  peakMiB(from: number, to = Number.POSITIVE_INFINITY): number {
    return this.samples.reduce((peak, s) => (s.at >= from && s.at <= to ? Math.max(peak, s.rssMiB) : peak), 0);
  }

  /** The newest sample. */
  get lastMiB(): number {
    return this.samples.at(-1)?.rssMiB ?? 0;
  }

  private sample(): void {
    const memory = procMemoryMiB(this.pid);
    if (!memory) return;
    this.samples.push({ at: performance.now(), rssMiB: memory.rssMiB });
    this.hwmMiB = memory.hwmMiB;
  }
}
