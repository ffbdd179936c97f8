import { strict as assert } from "node:assert";
import { FairGate } from "../../src/server/fair-gate.js";

describe("fair gate for parsing writes", () => {
  it("runs one job at a time, round-robin across accounts, and caps what one account has waiting", async () => {
    const gate = new FairGate(2);
    const order: string[] = [];
    const run = <T>(account: string, job: () => T | Promise<T>): Promise<T> => {
      const ticket = gate.admit(account);
      if (!ticket) throw new Error(`${account} was refused`);
      return ticket.run(job);
    };
    let release!: () => void;
    const first = run("evil", () => new Promise<void>((resolve) => (release = resolve)).then(() => order.push("evil-1")));
    const jobs = [run("evil", () => order.push("evil-2")), run("evil", () => order.push("evil-3"))];
    assert.equal(gate.admit("evil"), undefined, "a third waiting job of one account is refused");
    jobs.push(run("good", () => order.push("good-1")), run("other", () => order.push("other-1")));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [], "nothing runs beside a running job");
    release();
    await Promise.all([first, ...jobs]);
    assert.deepEqual(order, ["evil-1", "evil-2", "good-1", "other-1", "evil-3"]);
    assert.ok(gate.admit("evil"));
  });

  it("holds an account's places while bodies are read, so parallel requests cannot all pass", () => {
    const gate = new FairGate(2);
    const reading = [gate.admit("evil"), gate.admit("evil")];
    assert.ok(reading.every(Boolean));
    assert.equal(gate.admit("evil"), undefined, "two bodies still being read fill the account's places");
    reading[0]?.cancel();
    reading[0]?.cancel(); // twice is once
    assert.ok(gate.admit("evil"), "a cancelled read gives its place back");
    assert.equal(gate.admit("evil"), undefined);
  });

  it("passes a failing job's error on and frees the turn", async () => {
    const gate = new FairGate(1);
    await assert.rejects(gate.admit("a")?.run(() => {
      throw new Error("bad manifest");
    }) ?? Promise.resolve(), /bad manifest/);
    assert.equal(await gate.admit("a")?.run(() => 42), 42);
  });
});
