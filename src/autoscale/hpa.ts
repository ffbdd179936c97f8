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
  /** How many replicas that average is over: ready replicas with a figure. */
  readonly cpuReplicas?: number;
  /** Ready replicas without a CPU figure (none read yet, or the read failed). */
  readonly cpuMissing?: number;
  /** Replicas the app runs at that are not ready yet (starting, or not there at all). */
  readonly cpuUnready?: number;
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
 * figure (see cpuProposal); the request rate is the app's total, so per replica it is divided by
 * the current count.
 */
export function recommend(spec: AutoscaleSpec, m: Measured): number {
  const proposals: number[] = [];
  if (spec.targetCPUUtilization !== undefined && m.cpuUtilization !== undefined && (m.cpuReplicas ?? 0) > 0)
    proposals.push(cpuProposal(m, spec.targetCPUUtilization));
  if (spec.targetRequestsPerSecond !== undefined && m.requestsPerSecond !== undefined) {
    const perReplica = m.requestsPerSecond / Math.max(1, m.currentReplicas);
    proposals.push(
      scaled(Math.max(1, m.currentReplicas), perReplica / spec.targetRequestsPerSecond, m.currentReplicas),
    );
  }
  // No figure at all (the first pass, a stopped edge): keep what runs.
  return proposals.length > 0 ? Math.max(...proposals) : m.currentReplicas;
}

/**
 * The HPA's rule for replicas without figures (Kubernetes' replica calculator): the ratio is
 * first taken over the ready replicas that have one. If that would scale up, replicas without a
 * figure count as 0 % of the target, and not-yet-ready replicas too; if it would scale down,
 * replicas without a figure count as 100 % and not-yet-ready ones are left out. Where that
 * reverses the direction, or brings the ratio within the tolerance, nothing moves: a missing
 * figure only ever damps a change.
 */
function cpuProposal(m: Measured, target: number): number {
  const n = m.cpuReplicas ?? 0;
  const sum = (m.cpuUtilization ?? 0) * n;
  const missing = m.cpuMissing ?? 0;
  const unready = m.cpuUnready ?? 0;
  const ratio = sum / n / target;
  const upWithUnready = unready > 0 && ratio > 1;
  if (!upWithUnready && missing === 0) return scaled(n, ratio, m.currentReplicas);
  let total = sum;
  let count = n;
  if (ratio < 1) {
    total += target * missing;
    count += missing;
  } else if (ratio > 1) count += missing;
  if (upWithUnready) count += unready;
  const newRatio = total / count / target;
  if (Math.abs(newRatio - 1) <= TOLERANCE || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1))
    return m.currentReplicas;
  const replicas = Math.ceil(newRatio * count);
  // Never a step the other way than the ratio points.
  if ((newRatio < 1 && replicas > m.currentReplicas) || (newRatio > 1 && replicas < m.currentReplicas))
    return m.currentReplicas;
  return replicas;
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

/**
 * Drops recommendations older than both windows, and those no window can pick: stabilize() takes
 * the highest or lowest of a suffix of the history, which is always one above every later
 * recommendation or one below every later one. A steady app keeps one or two entries, which
 * matters since the history is kept in the state file.
 */
export function pruneHistory(spec: AutoscaleSpec, history: readonly Recommendation[], now: number): Recommendation[] {
  const keepS = Math.max(
    spec.scaleDownStabilizationSeconds ?? DEFAULT_SCALE_DOWN_WINDOW_S,
    spec.scaleUpStabilizationSeconds ?? DEFAULT_SCALE_UP_WINDOW_S,
  );
  const recent = history.filter((r) => r.at > now - keepS * 1000);
  const kept: Recommendation[] = [];
  let laterMax = Number.NEGATIVE_INFINITY;
  let laterMin = Number.POSITIVE_INFINITY;
  for (let i = recent.length - 1; i >= 0; i--) {
    const r = recent[i];
    if (!r) continue;
    if (r.replicas > laterMax || r.replicas < laterMin) kept.push(r);
    laterMax = Math.max(laterMax, r.replicas);
    laterMin = Math.min(laterMin, r.replicas);
  }
  return kept.reverse();
}
