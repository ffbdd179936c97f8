import { strict as assert } from "node:assert";
import { FairGate } from "../../src/server/fair-gate.js";
import type { Steps } from "../../src/util/steps.js";

/** A job of `count` steps that records each step as it runs. */
function* job(name: string, count: number, order: string[]): Steps<string> {
  for (let i = 1; i <= count; i++) {
    order.push(`${name}.${i}`);
    if (i < count) yield;
  }
  return name;
}

/** A clock that never moves: every account's usage stays 0, and the order is plain round-robin. */
const STILL = { now: () => 0 };

/** A job whose every step takes `stepMs` of the given clock. */
function* timed(name: string, count: number, order: string[], clock: { ms: number }, stepMs: number): Steps<string> {
  for (let i = 1; i <= count; i++) {
    order.push(`${name}.${i}`);
    clock.ms += stepMs;
    if (i < count) yield;
  }
  return name;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done` holds, for at most two seconds (then the assertion after it says what is missing). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await sleep(5);
}

describe("fair gate for parsing writes", () => {
  // A slice of 0 ms is one step: the interleaving is then exact, with no clock involved.
  const run = <T>(gate: FairGate, account: string, steps: Steps<T>): Promise<T> => {
    const ticket = gate.admit(account);
    if (!ticket) throw new Error(`${account} was refused`);
    return ticket.run(steps, 100);
  };

  it("runs jobs in slices, round-robin across accounts: a small job never waits for all of a big one", async () => {
    const gate = new FairGate(2, 0, STILL);
    const order: string[] = [];
    const big = run(gate, "evil", job("evil", 5, order));
    const small = run(gate, "good", job("good", 1, order));
    const other = run(gate, "other", job("other", 2, order));
    // All three are light (a still clock): each takes its first slice in its own request's turn.
    assert.deepEqual(order, ["evil.1", "good.1", "other.1"]);
    assert.deepEqual(await Promise.all([big, small, other]), ["evil", "good", "other"]);
    assert.deepEqual(order, ["evil.1", "good.1", "other.1", "evil.2", "other.2", "evil.3", "evil.4", "evil.5"]);
  });

  it("runs a light account's job at once, and queues a heavy account's for a turn of the loop", async () => {
    const clock = { ms: 0 };
    const gate = new FairGate(2, 8, { now: () => clock.ms });
    const order: string[] = [];
    await run(gate, "evil", timed("warm", 3, order, clock, 10)); // evil has used 30 ms: heavy
    order.length = 0;
    const evil = run(gate, "evil", timed("evil", 1, order, clock, 1));
    const good = run(gate, "good", timed("good", 1, order, clock, 1));
    const bulky = gate.admit("other")?.run(timed("bulky", 1, order, clock, 1), 100_000);
    assert.deepEqual(
      order,
      ["good.1"],
      "the light account's PUT is parsed in its own turn; the heavy one and a big body wait",
    );
    assert.deepEqual(await Promise.all([evil, good, bulky]), ["evil", "good", "bulky"]);
    assert.deepEqual(order, ["good.1", "bulky.1", "evil.1"]);
  });

  it("runs one account's jobs one after another, and caps what it has waiting", async () => {
    const gate = new FairGate(2, 0, STILL);
    const order: string[] = [];
    const jobs = [
      run(gate, "evil", job("a", 2, order)),
      run(gate, "evil", job("b", 1, order)),
      run(gate, "evil", job("c", 1, order)),
    ];
    assert.equal(gate.admit("evil"), undefined, "a third waiting job of one account is refused");
    jobs.push(run(gate, "good", job("g", 1, order)));
    await Promise.all(jobs);
    assert.deepEqual(order, ["a.1", "g.1", "a.2", "b.1", "c.1"]);
    assert.ok(gate.admit("evil"), "places come back as jobs finish");
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

  it("passes a failing job's error on and goes on with the others", async () => {
    const gate = new FairGate(1, 0, STILL);
    const order: string[] = [];
    function* failing(): Steps<never> {
      yield;
      throw new Error("bad manifest");
    }
    const bad = run(gate, "a", failing());
    const good = run(gate, "b", job("b", 3, order));
    await assert.rejects(bad, /bad manifest/);
    assert.equal(await good, "b");
    assert.equal(await run(gate, "a", job("a", 1, order)), "a");
  });

  it("gives the next slice to the account that used the least time lately, not to the next in turn", async () => {
    const clock = { ms: 0 };
    const gate = new FairGate(2, 0, { now: () => clock.ms });
    const order: string[] = [];
    await run(gate, "evil", timed("warm", 3, order, clock, 10)); // evil has used 30 ms
    order.length = 0;
    const evil = run(gate, "evil", timed("evil", 3, order, clock, 10));
    const good = run(gate, "good", timed("good", 2, order, clock, 1));
    await Promise.all([evil, good]);
    // Round-robin would give evil.1, good.1, evil.2, good.2; good's lighter use puts it first.
    assert.deepEqual(order, ["good.1", "good.2", "evil.1", "evil.2", "evil.3"]);
  });

  it("a heavy account's slice waits while the thread is busy and another account is served, for a bounded time", async () => {
    const clock = { ms: 0 };
    let busy = true;
    const gate = new FairGate(2, 0, { now: () => clock.ms, load: { busy: () => busy } });
    const order: string[] = [];
    await run(gate, "evil", timed("warm", 3, order, clock, 10));
    order.length = 0;
    // Alone, a heavy account is not held back: nobody else is waiting for the thread.
    clock.ms += 2000;
    await run(gate, "evil", timed("alone", 3, order, clock, 20));
    assert.deepEqual(order, ["alone.1", "alone.2", "alone.3"]);
    order.length = 0;
    gate.seen("good");
    const evil = run(gate, "evil", timed("evil", 2, order, clock, 10));
    await sleep(40);
    assert.deepEqual(order, [], "busy thread, another account served: the heavy slice waits");
    clock.ms += 60; // past MAX_DEFER_MS: it takes a slice anyway
    await sleep(20);
    assert.deepEqual(order.slice(0, 1), ["evil.1"]);
    busy = false;
    assert.equal(await evil, "evil");
    // A light account never waits for the load.
    busy = true;
    clock.ms += 10_000;
    gate.seen("evil");
    assert.equal(await run(gate, "good", timed("good", 1, order, clock, 1)), "good");
  });

  describe("with a worker to run jobs off the thread", () => {
    /** Work sent off the thread, settled by the test; `started` says when it was sent. */
    function awayWork(name: string, order: string[]) {
      let settle: { resolve: (value: string) => void; reject: (err: Error) => void } | undefined;
      const work = (): Promise<string> => {
        order.push(`${name} away`);
        return new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
      };
      return {
        work,
        finish: () => settle?.resolve(name),
        fail: (message: string) => settle?.reject(new Error(message)),
      };
    }
    /** Past the worker threshold (64 KiB) even for a light account; MID is past the at-once size only. */
    const BIG = 100_000;
    const MID = 20_000;
    const offloaded = (
      gate: FairGate,
      account: string,
      steps: Steps<string>,
      work: () => Promise<string>,
      bytes = BIG,
    ) => {
      const ticket = gate.admit(account);
      if (!ticket) throw new Error(`${account} was refused`);
      return ticket.run(steps, bytes, work);
    };

    /** A gate with one worker, where evil-1 and evil-2 have used 30 ms each: both heavy. */
    async function twoHeavyAccounts() {
      const clock = { ms: 0 };
      const gate = new FairGate(4, 0, { now: () => clock.ms, workers: 1 });
      const order: string[] = [];
      for (const heavy of ["evil-1", "evil-2"]) await run(gate, heavy, timed("warm", 3, order, clock, 10));
      order.length = 0;
      return { clock, gate, order };
    }

    it("sends a heavy account's job to a free worker whole, and the account's next job waits for it; its time is the account's", async () => {
      const clock = { ms: 0 };
      const gate = new FairGate(4, 8, { now: () => clock.ms, workers: 1 });
      const order: string[] = [];
      await run(gate, "evil", timed("warm", 3, order, clock, 10)); // evil has used 30 ms: heavy
      order.length = 0;
      assert.equal(await offloaded(gate, "good", job("good", 2, order), awayWork("good", order).work, MID), "good");
      assert.deepEqual(
        order,
        ["good.1", "good.2"],
        "a light account's body under 64 KiB runs here even with the worker free",
      );
      order.length = 0;
      const first = awayWork("evil-a", order);
      const second = awayWork("evil-b", order);
      const a = offloaded(gate, "evil", job("evil-a", 2, order), first.work);
      const b = offloaded(gate, "evil", job("evil-b", 2, order), second.work);
      await sleep(10);
      assert.deepEqual(order, ["evil-a away"], "one job of an account at a time, none of its steps run here");
      clock.ms += 50; // the worker took 50 ms
      first.finish();
      assert.equal(await a, "evil-a");
      await sleep(10);
      assert.deepEqual(order, ["evil-a away", "evil-b away"]);
      second.finish();
      assert.equal(await b, "evil-b");
      // Its bodies on the worker count by their size (100 KB: 49 ms each): 2.5 s later the account
      // is still heavy, however long the worker took, and its one-object job waits for a turn.
      clock.ms += 2500;
      order.length = 0;
      const small = run(gate, "evil", job("small", 1, order));
      assert.deepEqual(order, [], "a heavy account's small job is not run at once");
      assert.equal(await small, "small");
    });

    it("keeps a heavy account's job for the worker waiting while the worker is busy, and runs a light one's here", async () => {
      const { gate, order } = await twoHeavyAccounts();
      const held = awayWork("evil-1", order);
      const waiting = awayWork("evil-2", order);
      const one = offloaded(gate, "evil-1", job("evil-1", 2, order), held.work);
      const two = offloaded(gate, "evil-2", job("evil-2", 2, order), waiting.work);
      const good = offloaded(gate, "good", job("good", 2, order), awayWork("good", order).work, MID);
      assert.equal(await good, "good");
      await sleep(10);
      assert.deepEqual(
        order,
        ["good.1", "good.2", "evil-1 away"],
        "the light account's job ran here in slices, not on the free worker; the heavy one's waits for the worker",
      );
      held.fail("the worker stopped");
      await assert.rejects(one, /the worker stopped/);
      // The gate looks again within its poll (20 ms) while every queued job waits for the worker.
      await until(() => order.length > 3);
      assert.deepEqual(order.slice(3), ["evil-2 away"], "a failure frees the worker for the next job");
      waiting.finish();
      assert.equal(await two, "evil-2");
    });

    it("runs a heavy account's small job here once it has waited a second for a busy worker", async () => {
      const { clock, gate, order } = await twoHeavyAccounts();
      const held = awayWork("evil-1", order);
      const one = offloaded(gate, "evil-1", job("evil-1", 2, order), held.work);
      const two = offloaded(gate, "evil-2", job("evil-2", 2, order), awayWork("evil-2", order).work, MID);
      await sleep(50);
      assert.deepEqual(order, ["evil-1 away"], "the worker is busy: evil-2 waits");
      clock.ms += 1000;
      assert.equal(await two, "evil-2");
      assert.deepEqual(order, ["evil-1 away", "evil-2.1", "evil-2.2"], "then it ran here, in slices");
      held.finish();
      assert.equal(await one, "evil-1");
    });

    it("keeps a body of 64 KiB or more waiting for a busy worker, never parsing it here, and refuses it (503) after 10 s", async () => {
      const { clock, gate, order } = await twoHeavyAccounts();
      const held = awayWork("evil-1", order);
      const one = offloaded(gate, "evil-1", job("evil-1", 2, order), held.work);
      const two = offloaded(gate, "evil-2", job("evil-2", 2, order), awayWork("evil-2", order).work);
      await sleep(10);
      clock.ms += 5_000; // evil-2's usage has decayed: light now, and its big body still waits
      await sleep(50); // a few of the gate's polls (20 ms)
      assert.deepEqual(order, ["evil-1 away"], "five seconds on, evil-2's big body still waits for the worker");
      clock.ms += 5_000;
      await assert.rejects(
        two,
        (err: Error & { status?: number }) => err.status === 503 && /parser is busy/.test(err.message),
      );
      assert.deepEqual(order, ["evil-1 away"], "refused, not parsed here");
      held.finish();
      assert.equal(await one, "evil-1");
    });

    it("parses a big body here, in slices, when the worker cannot be started", async () => {
      const clock = { ms: 0 };
      let ready = true;
      const gate = new FairGate(4, 0, { now: () => clock.ms, workers: 1, offloadReady: () => ready });
      const order: string[] = [];
      ready = false; // three workers in a row died before they were ready
      assert.equal(await offloaded(gate, "good", job("big", 2, order), awayWork("big", order).work), "big");
      assert.deepEqual(order, ["big.1", "big.2"]);
    });

    it("sends a light account's body of 64 KiB or more to the worker, waiting while it is busy", async () => {
      const clock = { ms: 0 };
      const gate = new FairGate(4, 0, { now: () => clock.ms, workers: 1 });
      const order: string[] = [];
      const first = awayWork("big-1", order);
      const second = awayWork("big-2", order);
      const one = offloaded(gate, "good", job("big-1", 2, order), first.work);
      const two = offloaded(gate, "other", job("big-2", 2, order), second.work);
      await sleep(50); // a few of the gate's polls (20 ms)
      assert.deepEqual(order, ["big-1 away"], "the worker is busy: the second light body waits, none of it runs here");
      first.finish();
      assert.equal(await one, "big-1");
      await until(() => order.length > 1);
      assert.deepEqual(order, ["big-1 away", "big-2 away"]);
      second.finish();
      assert.equal(await two, "big-2");
    });
  });
});
