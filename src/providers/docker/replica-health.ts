import type { Clock } from "../../util/clock.js";
import type { ProbeResult } from "./probe.js";

/** Kubernetes' crash-loop back-off: the first restart at once, then 10 s doubling to 5 min. */
export const CRASH_BACKOFF = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 } as const;

/** How long to wait before restarting a replica that AirLoft has restarted `restarts` times. */
export function restartDelayMs(restarts: number): number {
  if (restarts <= 0) return 0;
  return Math.min(CRASH_BACKOFF.initialMs * 2 ** Math.min(restarts - 1, 30), CRASH_BACKOFF.maxMs);
}

/** A replica that never passed its check is held to liveness only after this, unless startPeriodSeconds says. */
export const UNPROVEN_GRACE_MS = 300_000;

export interface LivenessCheck {
  readonly intervalMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

/** Consecutive failed checks of one running container, one counted per interval at most. */
export interface LivenessState {
  readonly failures: number;
  readonly failed: boolean;
  /** When the first of these failures was seen. */
  readonly since: number;
  readonly reason: string;
}

export interface RestartHistory {
  readonly restarts: number;
  readonly lastAt: number | undefined;
}

interface ContainerRecord {
  readonly seenAt: number;
  touchedAt: number;
  everReady: boolean;
  held: boolean;
  liveness: { failures: number; since: number; countedAt: number; reason: string } | undefined;
}

const FORGET_AFTER_MS = 3_600_000;

/**
 * What the engine does not remember for AirLoft: how many checks in a row a container failed, and
 * how often AirLoft restarted a replica. Kept in memory (a restart of AirLoft starts the counts
 * again, which only delays a replacement), and bounded: records of containers not seen for an
 * hour and restart counts past their reset are dropped.
 */
export class ReplicaHealth {
  private readonly containers = new Map<string, ContainerRecord>();
  private readonly restarts = new Map<string, { restarts: number; lastAt: number }>();
  private sweptAt = 0;

  constructor(private readonly clock: Clock) {}

  now(): number {
    return this.clock.now();
  }

  /** Records AirLoft's own HTTP check of a running container and returns where liveness stands. */
  recordProbe(id: string, result: ProbeResult, check: LivenessCheck): LivenessState | undefined {
    const now = this.clock.now();
    const rec = this.touch(id, now);
    if (result.ok) {
      rec.everReady = true;
      rec.liveness = undefined;
      return undefined;
    }
    if (!this.armed(rec, check, now)) return undefined;
    const reason = result.reason ?? "check failed";
    if (!rec.liveness) rec.liveness = { failures: 1, since: now, countedAt: now, reason };
    else {
      rec.liveness.reason = reason;
      // Reconciles poll faster than the interval while an app is not ready: count one per interval.
      if (now - rec.liveness.countedAt >= check.intervalMs) {
        rec.liveness.failures++;
        rec.liveness.countedAt = now;
      }
    }
    const { failures, since } = rec.liveness;
    return { failures, since, reason, failed: failures >= check.retries };
  }

  /** Docker's own health (command checks): "unhealthy" already means `retries` failures in a row. */
  recordEngineHealth(id: string, health: string | undefined, check: LivenessCheck): LivenessState | undefined {
    const now = this.clock.now();
    const rec = this.touch(id, now);
    if (health === "healthy") {
      rec.everReady = true;
      rec.liveness = undefined;
      return undefined;
    }
    if (health !== "unhealthy" || !this.armed(rec, check, now)) return undefined;
    rec.liveness ??= { failures: check.retries, since: now, countedAt: now, reason: "unhealthy" };
    return { failures: check.retries, since: rec.liveness.since, reason: "unhealthy", failed: true };
  }

  /** Whether AirLoft set this container's restart policy to "no" to pace its crash loop. */
  isHeld(id: string): boolean {
    return this.containers.get(id)?.held ?? false;
  }

  setHeld(id: string, held: boolean): void {
    this.touch(id, this.clock.now()).held = held;
  }

  restartsOf(replicaKey: string): RestartHistory {
    const rec = this.restarts.get(replicaKey);
    if (!rec || this.clock.now() - rec.lastAt > CRASH_BACKOFF.resetAfterMs) return { restarts: 0, lastAt: undefined };
    return rec;
  }

  recordRestart(replicaKey: string): void {
    const { restarts } = this.restartsOf(replicaKey);
    this.restarts.set(replicaKey, { restarts: restarts + 1, lastAt: this.clock.now() });
  }

  /** How many records are held: for tests of the bound. */
  get size(): number {
    return this.containers.size + this.restarts.size;
  }

  /** Liveness counts once the container has passed a check, or once its start period is over. */
  private armed(rec: ContainerRecord, check: LivenessCheck, now: number): boolean {
    return rec.everReady || now - rec.seenAt >= (check.startPeriodMs > 0 ? check.startPeriodMs : UNPROVEN_GRACE_MS);
  }

  private touch(id: string, now: number): ContainerRecord {
    this.sweep(now);
    let rec = this.containers.get(id);
    if (!rec) {
      rec = { seenAt: now, touchedAt: now, everReady: false, held: false, liveness: undefined };
      this.containers.set(id, rec);
    }
    rec.touchedAt = now;
    return rec;
  }

  private sweep(now: number): void {
    if (now - this.sweptAt < 60_000) return;
    this.sweptAt = now;
    for (const [id, rec] of this.containers) if (now - rec.touchedAt > FORGET_AFTER_MS) this.containers.delete(id);
    for (const [key, rec] of this.restarts)
      if (now - rec.lastAt > CRASH_BACKOFF.resetAfterMs) this.restarts.delete(key);
  }
}
