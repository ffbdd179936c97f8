export interface BackoffOptions {
  readonly baseMs: number;
  readonly capMs: number;
  /** 0 to 1; Math.random by default. */
  readonly random?: () => number;
}

/**
 * The wait before retry `attempt` (1 for the first retry): exponential with "full jitter"
 * (a random wait between half and all of base * 2^(attempt-1), capped), so that many alerts
 * failing together do not retry in step.
 */
export function backoffMs(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  const r = (options.random ?? Math.random)();
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}
