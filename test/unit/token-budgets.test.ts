import { strict as assert } from "node:assert";
import { TokenBudgets } from "../../src/util/token-budgets.js";

describe("token budgets: watch and log bytes lent (issue 13), reads of runs refused (issue 19)", () => {
  it("lets a burst go at once, then a steady rate, per account", () => {
    let now = 0;
    const budgets = new TokenBudgets({ perSecond: 1000, burst: 4000, overdraft: "lend", now: () => now });
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
    const budgets = new TokenBudgets({ perSecond: 1000, burst: 4000, overdraft: "lend", now: () => now });
    budgets.take("a", 1);
    now += 3_600_000;
    assert.equal(budgets.take("a", 4000), 0);
    assert.ok(budgets.take("a", 1) > 0, "an hour of quiet is still one burst");
  });

  it("a read budget refuses past its burst with the wait until the next read, per account", () => {
    let now = 0;
    const budget = new TokenBudgets({ perSecond: 0.5, burst: 10, overdraft: "refuse", now: () => now });
    for (let i = 0; i < 10; i++) assert.equal(budget.take("hostile"), 0);
    assert.equal(budget.take("hostile"), 2_000);
    assert.equal(budget.take("neighbour"), 0, "another account has its own");
    now = 1_000;
    assert.equal(budget.take("hostile"), 1_000);
    now = 2_000;
    assert.equal(budget.take("hostile"), 0);
  });

  it("keeps at most 10,000 accounts: past it, the longest unseen one still spending is forgotten", () => {
    const budgets = new TokenBudgets({ perSecond: 1, burst: 10, overdraft: "lend", now: () => 0 });
    budgets.take("first", 10);
    assert.ok(budgets.take("first", 1) > 0);
    for (let i = 0; i < 10_000; i++) budgets.take(`other-${i}`, 10);
    assert.equal(budgets.take("first", 1), 0, "forgotten, so full again");
    assert.ok(budgets.take("other-9999", 1) > 0, "the latest seen are kept");
  });
});
