import { strict as assert } from "node:assert";
import { WriteScheduler } from "../../src/store/write-scheduler.js";
import { FakeClock } from "../support/fake-clock.js";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("write scheduler: how often the state file is written", () => {
  // The thread's time is scripted: each write's encoding "takes" 4 ms of it.
  let clock: FakeClock;
  let threadTime: number;
  let starts: number[];
  let scheduler: WriteScheduler;

  beforeEach(() => {
    clock = new FakeClock(1_000);
    threadTime = 0;
    starts = [];
    const write = (): Promise<void> => {
      starts.push(clock.now());
      threadTime += 4;
      return Promise.resolve();
    };
    scheduler = new WriteScheduler(write, clock, 5, () => threadTime);
  });

  /** Moves the clock a millisecond per turn until the promise settles. */
  async function settle(promise: Promise<void>): Promise<void> {
    let done = false;
    void promise.then(() => (done = true));
    for (let i = 0; !done && i < 1_000; i++) {
      await turn();
      if (!done) clock.advance(1);
    }
    await promise;
  }

  it("starts no write within five times the last encoding of the last start, however often applies come", async () => {
    await settle(scheduler.persist());
    assert.deepEqual(starts, [1_005], "the first write waits the group commit only");
    // A stream of applies, one per millisecond: they share writes, and writes keep their distance.
    const applies: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      applies.push(scheduler.persist());
      await turn();
      clock.advance(1);
    }
    await settle(Promise.all(applies).then(() => undefined));
    const gaps = starts.slice(1).map((at, i) => at - (starts[i] ?? 0));
    assert.ok(
      gaps.every((gap) => gap >= 20),
      `gaps between write starts: ${gaps.join(", ")}`,
    );
    assert.ok(starts.length <= 11, `${starts.length} writes for 200 applies over 200 ms`);
  });

  it("holds the next write at most 25 ms after a write that took long to encode", async () => {
    let encodeMs = 10;
    const slow = new WriteScheduler(
      () => {
        starts.push(clock.now());
        threadTime += encodeMs;
        return Promise.resolve();
      },
      clock,
      5,
      () => threadTime,
    );
    encodeMs = 400; // a bulk apply's entry
    await settle(slow.persist());
    encodeMs = 1;
    const asked = clock.now();
    await settle(slow.persist());
    assert.ok(
      (starts.at(-1) ?? Infinity) - asked <= 25,
      `the next write started ${(starts.at(-1) ?? Infinity) - asked} ms after it was asked for`,
    );
  });

  it("writes after the group commit when the last write is long past", async () => {
    await settle(scheduler.persist());
    clock.advance(1_000);
    const at = clock.now();
    await settle(scheduler.persist());
    assert.equal(starts.at(-1), at + 5);
  });

  it("starts a write due now at the event loop's next check phase, with no clock timer", async () => {
    const now = new WriteScheduler(
      () => {
        starts.push(clock.now());
        return Promise.resolve();
      },
      clock,
      0,
      () => threadTime,
    );
    const written = now.persist();
    assert.deepEqual(starts, [], "not within the caller's own turn");
    // The fake clock never moves here: a write scheduled on it (a 0 ms timer) would never start.
    await turn();
    await turn();
    assert.deepEqual(starts, [1_000], "started by a setImmediate, with no time passed on the clock");
    await written;
  });

  it("a wall clock stepped back an hour does not hold a durable write for an hour", async () => {
    await settle(scheduler.persist());
    clock.advance(-3_600_000);
    const at = clock.now();
    await settle(scheduler.persist());
    assert.ok(
      (starts.at(-1) ?? Infinity) - at <= 50,
      `the write started ${(starts.at(-1) ?? Infinity) - at} ms after it was asked for`,
    );
  });
});
