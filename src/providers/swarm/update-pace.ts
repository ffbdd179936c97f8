import type { RolloutPace } from "../pace.js";

/** How Swarm rolls an update: tasks per step (0 is all at once) and which goes first. */
export interface SwarmUpdatePace {
  readonly parallelism: number;
  readonly order: "start-first" | "stop-first";
}

/**
 * maxSurge and maxUnavailable (as replica counts, pace.ts) in Swarm's terms. Swarm has one knob
 * per step, so a surge is start-first with that many new tasks at a time (none unavailable, which
 * keeps within both bounds), and no surge is stop-first with maxUnavailable at a time. Neither
 * given keeps one task at a time, start-first; Recreate, and a service with data (two servers
 * must never share a data folder), stop all first.
 */
export function swarmUpdatePace(options: {
  readonly replicas: number;
  readonly strategy: "RollingUpdate" | "Recreate";
  readonly pace: RolloutPace | undefined;
  readonly hasData: boolean;
}): SwarmUpdatePace {
  const { replicas, pace } = options;
  if (options.strategy === "Recreate" || options.hasData) return { parallelism: 0, order: "stop-first" };
  if (!pace || pace.maxSurge === Number.POSITIVE_INFINITY) return { parallelism: 1, order: "start-first" };
  const atMost = (n: number) => Math.max(1, Math.min(n, replicas));
  if (pace.maxSurge > 0) return { parallelism: atMost(pace.maxSurge), order: "start-first" };
  return { parallelism: atMost(pace.maxUnavailable), order: "stop-first" };
}
