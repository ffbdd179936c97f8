import { strict as assert } from "node:assert";
import { BUSY_SHARE, ThreadLoad } from "../../src/util/thread-load.js";

describe("thread load (event-loop utilization over a recent window)", () => {
  it("measures the busy share since the older mark, one to two windows back", () => {
    const clock = { ms: 0 };
    const loop = { active: 0, idle: 0 };
    const load = new ThreadLoad(
      100,
      () => clock.ms,
      () => ({ ...loop }),
    );
    const spend = (activeMs: number, idleMs: number) => {
      loop.active += activeMs;
      loop.idle += idleMs;
      clock.ms += activeMs + idleMs;
    };
    assert.equal(load.utilization(), 0, "nothing measured yet");
    spend(90, 10);
    assert.equal(load.utilization(), 0.9);
    assert.ok(load.busy(), `90% is past ${BUSY_SHARE * 100}%`);
    spend(10, 90);
    // The window moved on: the older mark is now 100 ms back, after the busy part.
    assert.equal(load.utilization(), 0.1);
    assert.equal(load.busy(), false);
    spend(50, 50);
    spend(70, 30);
    // Not read in between: the older mark is the last one read, 200 ms back (120 of 200 busy).
    assert.equal(load.utilization(), 0.6);
  });
});
