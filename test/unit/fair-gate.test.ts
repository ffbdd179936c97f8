import { strict as assert } from "node:assert";
import { FairGate } from "../../src/server/fair-gate.js";

describe("fair gate for parsing writes", () => {
  it("runs one job at a time, round-robin across accounts, and caps what one account has waiting", async () => {
    const gate = new FairGate(2);
    const order: string[] = [];
    let release!: () => void;
    const first = gate.run("evil", () => new Promise<void>((resolve) => (release = resolve)).then(() => order.push("evil-1")));
    const jobs = [
      gate.run("evil", () => order.push("evil-2")),
      gate.run("evil", () => order.push("evil-3")),
    ];
    assert.equal(gate.hasRoom("evil"), false, "a third waiting job of one account is refused");
    assert.equal(gate.hasRoom("good"), true);
    jobs.push(gate.run("good", () => order.push("good-1")), gate.run("other", () => order.push("other-1")));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [], "nothing runs beside a running job");
    release();
    await Promise.all([first, ...jobs]);
    assert.deepEqual(order, ["evil-1", "evil-2", "good-1", "other-1", "evil-3"]);
    assert.equal(gate.hasRoom("evil"), true);
  });

  it("passes a failing job's error on and frees the turn", async () => {
    const gate = new FairGate(1);
    await assert.rejects(gate.run("a", () => {
      throw new Error("bad manifest");
    }), /bad manifest/);
    assert.equal(await gate.run("a", () => 42), 42);
  });
});
