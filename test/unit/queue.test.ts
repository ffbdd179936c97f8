import { strict as assert } from "node:assert";
import { WorkQueue } from "../../src/controllers/queue.js";
import { FakeClock } from "../support/fake-clock.js";

/** Takes whatever key is ready now, without waiting. */
async function take(queue: WorkQueue): Promise<string | undefined> {
  return Promise.race([queue.get(), new Promise<undefined>((r) => setImmediate(() => r(undefined)))]);
}

describe("work queue", () => {
  it("de-duplicates keys and hands them out in order", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add("a");
    q.add("b");
    q.add("a");
    assert.equal(q.length, 2);
    assert.equal(await take(q), "a");
    assert.equal(await take(q), "b");
  });

  it("never hands one key to two workers; a key added while processing comes back after done", async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add("a");
    assert.equal(await take(q), "a");
    q.add("a");
    q.add("a");
    assert.equal(q.length, 0, "held while processing");
    q.done("a");
    assert.equal(q.length, 1);
    assert.equal(await take(q), "a");
  });

  it("backs off exponentially per key up to the cap, and forget resets it", () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 1000 });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map(() => q.addRateLimited("a")),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(q.addRateLimited("b"), 100, "another key has its own count");
    q.forget("a");
    assert.equal(q.addRateLimited("a"), 100);
  });

  it("adds a delayed key when its time comes, and the earlier of two delays wins", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter("a", 500);
    q.addAfter("a", 200);
    q.addAfter("a", 900);
    clock.advance(199);
    assert.equal(q.length, 0);
    clock.advance(1);
    assert.equal(q.length, 1);
    clock.advance(1000);
    assert.equal(q.length, 1, "the later delays were dropped");
  });

  it("limits the global rate with a token bucket", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, qps: 2, burst: 2 });
    const got: string[] = [];
    const worker = (async () => {
      for (let k = await q.get(); k !== undefined; k = await q.get()) got.push(k);
    })();
    const settle = () => new Promise((r) => setImmediate(r));
    for (const k of ["a", "b", "c", "d"]) q.add(k);
    await settle();
    assert.deepEqual(got, ["a", "b"], "the burst, then the bucket is empty");
    clock.advance(499);
    await settle();
    assert.deepEqual(got, ["a", "b"]);
    clock.advance(1);
    await settle();
    assert.deepEqual(got, ["a", "b", "c"]);
    clock.advance(500);
    await settle();
    assert.deepEqual(got, ["a", "b", "c", "d"]);
    q.shutdown();
    await worker;
  });

  it("wakes waiting workers with undefined on shutdown and drops delayed keys", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const waiting = q.get();
    q.addAfter("a", 100);
    q.shutdown();
    assert.equal(await waiting, undefined);
    assert.equal(clock.pendingTimers, 0);
    q.add("b");
    assert.equal(q.length, 0);
  });
});
