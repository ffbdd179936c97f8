import { strict as assert } from "node:assert";
import { ByteBudgets } from "../../src/server/byte-budget.js";

describe("byte budgets of watch streams (issue 13)", () => {
  it("lets a burst go at once, then a steady rate, per account", () => {
    let now = 0;
    const budgets = new ByteBudgets(1000, 4000, () => now);
    assert.equal(budgets.take("group:evil", 3000), 0);
    assert.equal(budgets.take("group:evil", 3000), 0, "a bucket with anything left lets a whole line go");
    const wait = budgets.take("group:evil", 100);
    assert.equal(wait, 2001, "2,000 bytes of debt at 1,000 a second");
    assert.equal(budgets.take("group:good", 3000), 0, "another account has its own bucket");
    now += wait;
    assert.equal(budgets.take("group:evil", 100), 0);
  });

  it("refills no further than the burst, however long an account was quiet", () => {
    let now = 0;
    const budgets = new ByteBudgets(1000, 4000, () => now);
    budgets.take("a", 1);
    now += 3_600_000;
    assert.equal(budgets.take("a", 4000), 0);
    assert.ok(budgets.take("a", 1) > 0, "an hour of quiet is still one burst");
  });
});
