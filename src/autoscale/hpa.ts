import type { AutoscaleSpec } from "../resources/types.js";

/** Kubernetes' default: a metric within 10 % of its target changes nothing. */
export const TOLERANCE = 0.1;
export const DEFAULT_SCALE_DOWN_WINDOW_S = 300;
export const DEFAULT_SCALE_UP_WINDOW_S = 0;

/** What one pass measured for an app; undefined where there is no figure yet. */
export interface Measured {
  /** Replicas the app runs at now (the last decision). */
  readonly currentReplicas: number;
  /** Percent of the CPU limit, averaged over the replicas that have a figure. */
  readonly cpuUtilization?: number;
  /** How many replicas that average is over. */
  readonly cpuReplicas?: number;
  /** Requests per second at the edge, for the whole app. */
  readonly requestsPerSecond?: number;
}

/** One unstabilized recommendation, kept for the windows. */
export interface Recommendation {
  readonly at: number;
  readonly replicas: number;
}

export type Limit = "TooFewReplicas" | "TooManyReplicas" | "QuotaExceeded";

export interface Decision {
  readonly desiredReplicas: number;
  /** The recommendation before windows and bounds, to keep in the history. */
  readonly recommendation: Recommendation;
  /** What bounded the decision, if anything did. */
  readonly limitedBy?: Limit;
}

/**
 * desired = ceil(n * metric / target) for each metric, the highest wins (as the HPA does); a
 * ratio within the tolerance keeps the current count. For CPU, n is the replicas that have a
 * figure; the request rate is the app's total, so per replica it is divided by the current count.
 */
export function recommend(spec: AutoscaleSpec, m: Measured): number {
  const proposals: number[] = [];
  if (spec.targetCPUUtilization !== undefined && m.cpuUtilization !== undefined && (m.cpuReplicas ?? 0) > 0)
    proposals.push(scaled(m.cpuReplicas ?? 0, m.cpuUtilization / spec.targetCPUUtilization, m.currentReplicas));
  if (spec.targetRequestsPerSecond !== undefined && m.requestsPerSecond !== undefined) {
    const perReplica = m.requestsPerSecond / Math.max(1, m.currentReplicas);
    proposals.push(
      scaled(Math.max(1, m.currentReplicas), perReplica / spec.targetRequestsPerSecond, m.currentReplicas),
    );
  }
  // No figure at all (the first pass, a stopped edge): keep what runs.
  return proposals.length > 0 ? Math.max(...proposals) : m.currentReplicas;
}

function scaled(n: number, ratio: number, current: number): number {
  if (Math.abs(ratio - 1) <= TOLERANCE) return current;
  return Math.ceil(n * ratio);
}

/**
 * The HPA's stabilization: a scale-up takes the lowest recommendation within the up window, a
 * scale-down the highest within the down window (both include this one), so a short dip or
 * spike moves nothing. `history` holds earlier recommendations, oldest first.
 */
export function stabilize(
  spec: AutoscaleSpec,
  current: number,
  recommended: number,
  history: readonly Recommendation[],
  now: number,
): number {
  const upCutoff = now - (spec.scaleUpStabilizationSeconds ?? DEFAULT_SCALE_UP_WINDOW_S) * 1000;
  const downCutoff = now - (spec.scaleDownStabilizationSeconds ?? DEFAULT_SCALE_DOWN_WINDOW_S) * 1000;
  let up = recommended;
  let down = recommended;
  for (const r of history) {
    if (r.at > upCutoff) up = Math.min(up, r.replicas);
    if (r.at > downCutoff) down = Math.max(down, r.replicas);
  }
  let replicas = current;
  if (replicas < up) replicas = up;
  if (replicas > down) replicas = down;
  return replicas;
}

/**
 * One decision: recommend, stabilize, then bound by min/max and by the quota's room (`quotaCap`:
 * the most replicas the group's quotas leave this app; never below what runs now, since a
 * lowered quota stops growth and does not evict).
 */
export function decide(
  spec: AutoscaleSpec,
  m: Measured,
  history: readonly Recommendation[],
  now: number,
  quotaCap = Number.POSITIVE_INFINITY,
): Decision {
  const recommended = recommend(spec, m);
  const stable = stabilize(spec, m.currentReplicas, recommended, history, now);
  const min = minOf(spec);
  const max = Math.max(min, spec.max);
  const cap = Math.max(quotaCap, Math.min(m.currentReplicas, max));
  let desired = Math.min(Math.max(stable, min), max);
  let limitedBy: Limit | undefined = stable < min ? "TooFewReplicas" : stable > max ? "TooManyReplicas" : undefined;
  if (desired > cap) {
    desired = cap;
    limitedBy = "QuotaExceeded";
  }
  return {
    desiredReplicas: desired,
    recommendation: { at: now, replicas: recommended },
    ...(limitedBy ? { limitedBy } : {}),
  };
}

export function minOf(spec: AutoscaleSpec): number {
  return spec.min ?? 1;
}

/** Drops recommendations older than both windows. */
export function pruneHistory(spec: AutoscaleSpec, history: readonly Recommendation[], now: number): Recommendation[] {
  const keepS = Math.max(
    spec.scaleDownStabilizationSeconds ?? DEFAULT_SCALE_DOWN_WINDOW_S,
    spec.scaleUpStabilizationSeconds ?? DEFAULT_SCALE_UP_WINDOW_S,
  );
  return history.filter((r) => r.at > now - keepS * 1000);
}
