import type { ReconcileOptions } from "./types.js";

/**
 * The stable form every provider prints an operation in, and that tests and `diff` read:
 * "app:acme/web:1 create (config changed)", "app:acme/web terminate i-1 i-2 (scale down)",
 * "group:acme create-listener 80". Detail and cause are left out when there are none.
 */
export function formatOperation(target: string, verb: string, detail?: string, cause?: string): string {
  return `${target} ${verb}${detail ? ` ${detail}` : ""}${cause ? ` (${cause})` : ""}`;
}

/** A pure planner's result: the operations to run now, and whatever the provider reports from it. */
export interface Plan<Op> {
  readonly operations: readonly Op[];
}

/**
 * The contract every provider implements for one object: observe the infrastructure (no
 * changes), plan with a pure function of what was observed, execute the plan with no decisions
 * left in it. `converge` runs them; `planOnce` is what `diff` shows.
 */
export interface ConvergeSteps<Observed, Op, P extends Plan<Op>> {
  /** How many plan-execute rounds one reconcile may take before it waits for the next pass. */
  readonly maxRounds: number;
  observe(): Promise<Observed>;
  plan(observed: Observed): P;
  /** Runs the operations; calls `done` for each as it completes, in any order. */
  execute(operations: readonly Op[], done: (op: Op) => void): Promise<void>;
  describe(op: Op): string;
}

export interface Converged<Observed, P> {
  /** The last observation, after the last round. */
  readonly observed: Observed;
  /** The plan of the last observation: empty once nothing is left to do now. */
  readonly plan: P;
  /** What the rounds did, in the stable form, in the order it completed. */
  readonly operations: readonly string[];
}

/**
 * The one converge loop: observe, plan, execute, observe again, until the plan is empty or the
 * rounds are spent. A rollout takes steps (create, then remove the old replica once the new one
 * is ready); each round takes those that can be taken now instead of waiting for the next pass.
 */
export async function converge<Observed, Op, P extends Plan<Op>>(
  steps: ConvergeSteps<Observed, Op, P>,
  options: ReconcileOptions = {},
): Promise<Converged<Observed, P>> {
  const operations: string[] = [];
  const { signal } = options;
  signal?.throwIfAborted();
  let observed = await steps.observe();
  let plan = steps.plan(observed);
  for (let round = 0; round < steps.maxRounds && plan.operations.length > 0; round++) {
    signal?.throwIfAborted();
    await steps.execute(plan.operations, (op) => {
      const line = steps.describe(op);
      operations.push(line);
      options.onOperation?.(line);
    });
    signal?.throwIfAborted();
    observed = await steps.observe();
    plan = steps.plan(observed);
  }
  return { observed, plan, operations };
}

/** What a converge would do first, without doing it: for `diff`. */
export async function planOnce<Observed, Op, P extends Plan<Op>>(
  steps: ConvergeSteps<Observed, Op, P>,
): Promise<readonly string[]> {
  return steps.plan(await steps.observe()).operations.map((op) => steps.describe(op));
}

/** Runs operations one after another in plan order, for providers whose steps depend on each other. */
export async function inOrder<Op>(
  operations: readonly Op[],
  run: (op: Op) => Promise<void>,
  done: (op: Op) => void,
): Promise<void> {
  for (const op of operations) {
    await run(op);
    done(op);
  }
}
