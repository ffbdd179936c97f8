import type { RolloutStrategy } from "../resources/types.js";

/** How many replicas a rolling update may add beyond the count, and take below it, at a time. */
export interface RolloutPace {
  readonly maxSurge: number;
  readonly maxUnavailable: number;
}

/**
 * Kubernetes' rounding: a surge percentage rounds up, an unavailable one down, and both zero
 * would never move, so unavailable becomes one. Neither given keeps AirLoft's first behaviour:
 * every replica's successor starts at once beside it, and none goes before its successor is ready.
 */
export function rolloutPace(strategy: RolloutStrategy | undefined, replicas: number): RolloutPace {
  if (strategy?.maxSurge === undefined && strategy?.maxUnavailable === undefined)
    return { maxSurge: Number.POSITIVE_INFINITY, maxUnavailable: 0 };
  const maxSurge = amount(strategy.maxSurge ?? "25%", replicas, Math.ceil);
  const maxUnavailable = amount(strategy.maxUnavailable ?? "25%", replicas, Math.floor);
  return maxSurge === 0 && maxUnavailable === 0 ? { maxSurge, maxUnavailable: 1 } : { maxSurge, maxUnavailable };
}

function amount(value: number | string, replicas: number, round: (n: number) => number): number {
  if (typeof value === "number") return value;
  const percent = Number.parseInt(value, 10);
  return Number.isFinite(percent) ? round((replicas * percent) / 100) : 0;
}

/**
 * The budget of one planning pass: `live` containers (old and new, and the successors of replicas
 * with none) and `available` replica slots (a replica ready, or an old one running) as observed.
 * Each replacement the planner starts spends from it.
 */
export class RollingBudget {
  private live: number;
  private available: number;

  constructor(
    private readonly replicas: number,
    private readonly pace: RolloutPace,
    observed: { readonly live: number; readonly available: number },
  ) {
    this.live = observed.live;
    this.available = observed.available;
  }

  /**
   * How a replica whose config changed is replaced now: its successor "beside" it (surge), the old
   * one removed first ("in-place", the budget allows one fewer available), or "wait". The old one
   * is counted as available whether or not it is ready: it runs, and may pass its check any moment.
   */
  take(): "beside" | "in-place" | "wait" {
    if (this.live < this.replicas + this.pace.maxSurge) {
      this.live++;
      return "beside";
    }
    if (this.available - 1 >= this.replicas - this.pace.maxUnavailable) {
      this.available--;
      return "in-place";
    }
    return "wait";
  }
}
