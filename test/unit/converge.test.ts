import { strict as assert } from "node:assert";
import { type ConvergeSteps, converge, formatOperation, type Plan, planOnce } from "../../src/providers/converge.js";

/** A world of counters the steps drive toward `want`: one step per round, as a rollout takes steps. */
function counterSteps(
  world: { have: number },
  want: number,
  maxRounds: number,
): ConvergeSteps<number, number, Plan<number> & { done: boolean }> {
  return {
    maxRounds,
    observe: async () => world.have,
    plan: (have) => ({ operations: have < want ? [have] : [], done: have >= want }),
    execute: async (ops, done) => {
      for (const op of ops) {
        world.have = op + 1;
        done(op);
      }
    },
    describe: (op) => formatOperation(`app:g/a:${op}`, "create", undefined, "missing"),
  };
}

describe("the shared converge loop", () => {
  it("plans, executes and observes again until nothing is left, reporting each operation once", async () => {
    const world = { have: 0 };
    const reported: string[] = [];
    const result = await converge(counterSteps(world, 3, 5), { onOperation: (op) => reported.push(op) });
    assert.deepEqual(result.operations, [
      "app:g/a:0 create (missing)",
      "app:g/a:1 create (missing)",
      "app:g/a:2 create (missing)",
    ]);
    assert.deepEqual(reported, result.operations);
    assert.equal(result.observed, 3);
    assert.equal(result.plan.done, true);
  });

  it("stops after its rounds, with the plan of the last observation", async () => {
    const world = { have: 0 };
    const result = await converge(counterSteps(world, 5, 2));
    assert.equal(result.operations.length, 2);
    assert.deepEqual(result.plan.operations, [2]);
    assert.equal(result.plan.done, false);
  });

  it("does nothing and observes once when converged; planOnce shows the first round without running it", async () => {
    let observed = 0;
    const steps = counterSteps({ have: 3 }, 3, 5);
    const counted = { ...steps, observe: async () => (observed++, 3) };
    assert.deepEqual((await converge(counted)).operations, []);
    assert.equal(observed, 1);
    const world = { have: 1 };
    assert.deepEqual(await planOnce(counterSteps(world, 3, 5)), ["app:g/a:1 create (missing)"]);
    assert.equal(world.have, 1);
  });

  it("stops at the next round once its signal is aborted, with nothing of the round begun", async () => {
    const world = { have: 0 };
    const controller = new AbortController();
    const steps = counterSteps(world, 5, 5);
    const cancelling = {
      ...steps,
      execute: async (ops: readonly number[], done: (op: number) => void) => {
        await steps.execute(ops, done);
        controller.abort(new Error("deadline"));
      },
    };
    await assert.rejects(converge(cancelling, { signal: controller.signal }), /deadline/);
    assert.equal(world.have, 1, "the first round ran whole; no other began");
    await assert.rejects(converge(counterSteps(world, 5, 5), { signal: AbortSignal.abort() }));
    assert.equal(world.have, 1);
  });

  it("prints every provider's operations in one form: target, verb, detail, cause", () => {
    assert.equal(
      formatOperation("app:shop/web", "terminate", "i-a i-b", "scale down"),
      "app:shop/web terminate i-a i-b (scale down)",
    );
    assert.equal(formatOperation("group:shop", "create-listener", "80"), "group:shop create-listener 80");
    assert.equal(
      formatOperation("app:shop/web:1", "create", undefined, "config changed"),
      "app:shop/web:1 create (config changed)",
    );
  });
});
