import { strict as assert } from "node:assert";
import { MAX_SHARE_WAIT_MS, ThreadShare } from "../../src/util/thread-share.js";
import { TurnLoop, turnTaker } from "../../src/util/turns.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sliced work shares the thread: it may take `share` of the clock on average, in bursts of at
 * most `burstMs`, so that the loop turns often enough to accept connections (one per turn).
 */
describe("thread share for sliced work", () => {
  it("limits nothing until enabled (a command run once)", () => {
    const clock = { ms: 0 };
    const share = new ThreadShare(0.5, 10, () => clock.ms);
    share.charge(1000);
    assert.equal(share.waitMs(), 0);
  });

  it("makes sliced work wait once its burst is spent, as long as the share refills it", () => {
    const clock = { ms: 0 };
    const share = new ThreadShare(0.5, 10, () => clock.ms);
    share.enable();
    share.charge(6);
    assert.equal(share.waitMs(), 0, "4 ms of the burst left");
    share.charge(8);
    assert.equal(share.waitMs(), 8, "4 ms over: 8 ms of clock at half the thread");
    clock.ms += 8;
    assert.equal(share.waitMs(), 1, "refilled to nothing, not yet to something");
    clock.ms += 1;
    assert.equal(share.waitMs(), 0);
  });

  it("charges a slice what it took, even one that throws", () => {
    const clock = { ms: 0 };
    const share = new ThreadShare(0.5, 10, () => clock.ms);
    share.enable();
    const result = share.slice(() => {
      clock.ms += 14;
      return "done";
    });
    assert.equal(result, "done");
    assert.equal(share.waitMs(), 8, "14 ms from a burst of 10: 4 ms over, 8 ms of clock at half the thread");
    clock.ms += 100;
    assert.throws(() =>
      share.slice(() => {
        clock.ms += 16;
        throw new Error("a slice that fails");
      }),
    );
    assert.equal(share.waitMs(), 12, "refilled to the burst, then 16 ms charged: 6 ms over");
  });

  it("refills at most to the burst, however long it was idle", () => {
    const clock = { ms: 0 };
    const share = new ThreadShare(0.5, 10, () => clock.ms);
    share.enable();
    clock.ms += 60_000;
    share.charge(12);
    assert.equal(share.waitMs(), 4, "an idle minute is no licence for a minute of slices");
  });

  it("keeps no debt past its longest wait: work that may not wait cannot stall the rest for long", () => {
    const clock = { ms: 0 };
    const share = new ThreadShare(0.5, 10, () => clock.ms);
    share.enable();
    share.charge(10_000);
    assert.equal(share.waitMs(), MAX_SHARE_WAIT_MS);
  });

  it("holds a turn loop's next turn on a timer while the share is spent", async () => {
    const share = new ThreadShare(0.5, 10);
    share.enable();
    share.charge(1000); // the longest wait: 50 ms
    let turns = 0;
    const loop = new TurnLoop(
      () => {
        turns++;
        return undefined;
      },
      () => turns === 0,
      share,
    );
    loop.wake();
    await sleep(20);
    assert.equal(turns, 0, "no turn before the share has refilled");
    for (let waited = 0; turns === 0 && waited < 2000; waited += 10) await sleep(10);
    assert.equal(turns, 1);
  });

  it("charges a long loop's slices and holds its next slice on a timer", async () => {
    const share = new ThreadShare(0.5, 10);
    share.enable();
    const pause = turnTaker(5, undefined, share);
    const until = performance.now() + 30;
    while (performance.now() < until); // a 30 ms slice: 20 ms over the burst, 40 ms to refill
    const paused = performance.now();
    await pause();
    assert.ok(performance.now() - paused >= 30, "the next slice waited for the share");
  });
});
