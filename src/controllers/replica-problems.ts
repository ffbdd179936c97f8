import type { ReplicaProblem } from "../providers/types.js";

/** The order in which a condition's reason is picked: the most telling first. */
const PRIORITY = ["CrashLoopBackOff", "Unhealthy", "ContainerExited"];
/** Replicas named in one message; the rest are counted. */
const SHOWN = 3;

/** The Ready reason for replicas that are not ready, or undefined when none says why. */
export function problemReason(problems: readonly ReplicaProblem[]): string | undefined {
  const ranked = [...problems].sort((a, b) => rank(a.reason) - rank(b.reason));
  return ranked[0]?.reason;
}

/** "0/2 replicas ready; web-0 exited with code 3, …; GET /healthz on web-1: 503", bounded. */
export function withProblems(counts: string, problems: readonly ReplicaProblem[]): string {
  if (problems.length === 0) return counts;
  const shown = problems.slice(0, SHOWN).map((p) => p.message);
  const more = problems.length > SHOWN ? [`and ${problems.length - SHOWN} more`] : [];
  return [counts, ...shown, ...more].join("; ");
}

function rank(reason: string): number {
  const at = PRIORITY.indexOf(reason);
  return at === -1 ? PRIORITY.length : at;
}
