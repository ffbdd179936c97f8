import { strict as assert } from "node:assert";
import { Compactions } from "../../src/store/compactions.js";

/** A compaction that records its position and waits until the test lets it finish. */
function gated(outgrown?: () => number | undefined): {
  runs: number[];
  release: () => void;
  compactions: Compactions;
} {
  const runs: number[] = [];
  let open: () => void = () => undefined;
  let gate = new Promise<void>((r) => (open = r));
  const compactions = new Compactions(async (position) => {
    runs.push(position);
    await gate;
  }, outgrown);
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

  it("queues no second rewrite for journal growth while one runs, and measures the journal again once it is done", async () => {
    let journalOver: number | undefined;
    const asked: string[] = [];
    const { runs, release, compactions } = gated(() => {
      asked.push(`after ${runs.at(-1)}`);
      return journalOver;
    });
    compactions.requestIfIdle(10);
    await turn();
    assert.deepEqual(runs, [10]);
    // Every write while the file is being written finds the journal still over its bound.
    for (let i = 1; i <= 20; i++) compactions.requestIfIdle(10 + i);
    journalOver = 40; // what was journaled meanwhile is itself more than the file
    release();
    await turn();
    assert.deepEqual(runs, [10, 40], "one more, asked for once the first was done");
    journalOver = undefined;
    release();
    await compactions.settle();
    assert.deepEqual(runs, [10, 40]);
    assert.deepEqual(asked, ["after 10", "after 40"]);
  });

  it("still queues an explicit request (a value to erase) while one runs", async () => {
    const { runs, release, compactions } = gated();
    compactions.request(1);
    await turn();
    compactions.requestIfIdle(2); // growth: the running one will do
    compactions.request(3); // an erase: the running one may hold the value already
    release();
    await turn();
    release();
    await compactions.settle();
    assert.deepEqual(runs, [1, 3]);
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
