import { strict as assert } from "node:assert";
import { Compactions } from "../../src/store/compactions.js";

/** A compaction that records its position and waits until the test lets it finish. */
function gated(): { runs: number[]; release: () => void; compactions: Compactions } {
  const runs: number[] = [];
  let open: () => void = () => undefined;
  let gate = new Promise<void>((r) => (open = r));
  const compactions = new Compactions(async (position) => {
    runs.push(position);
    await gate;
  });
  return {
    runs,
    compactions,
    release: () => {
      open();
      gate = new Promise<void>((r) => (open = r));
    },
  };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("the state file's background compactions", () => {
  it("100 removes, each asking for a rewrite while one runs, cost at most 2 rewrites", async () => {
    const { runs, release, compactions } = gated();
    compactions.request(10); // the first removal's write: its compaction starts
    await turn();
    assert.deepEqual(runs, [10]);
    // The cascade's other 99 removals, each its own journal append, while the first rewrite runs.
    for (let i = 1; i < 100; i++) compactions.request(10 + i * 100);
    release();
    await turn();
    assert.deepEqual(runs, [10, 9910], "one more, dropping the journal up to the last position asked for");
    release();
    await compactions.settle();
    assert.equal(runs.length, 2);
  });

  it("starts a new compaction for a request made once the waiting one has started", async () => {
    const { runs, release, compactions } = gated();
    compactions.request(1);
    compactions.request(2); // absorbed: the first has not started yet
    await turn();
    compactions.request(3);
    release();
    await turn();
    release();
    await compactions.settle();
    assert.deepEqual(runs, [2, 3]);
  });

  it("reports a failed compaction once, and runs the next request", async () => {
    let fail = true;
    const runs: number[] = [];
    const compactions = new Compactions(async (position) => {
      runs.push(position);
      if (fail) throw new Error("disk full");
    });
    compactions.request(1);
    await assert.rejects(compactions.settle(), /disk full/);
    await compactions.settle();
    fail = false;
    compactions.request(2);
    await compactions.settle();
    assert.deepEqual(runs, [1, 2]);
  });
});
