import { strict as assert } from "node:assert";
import { Outbox } from "../../src/store/outbox.js";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("store outbox: change events over several turns, in commit order", () => {
  // A slice of 0 ms is one event per turn: the interleaving is exact, with no clock involved.
  it("hands a batch out one slice per turn, and other work runs between the slices", async () => {
    const seen: string[] = [];
    const outbox = new Outbox<string>((e) => seen.push(e), 0);
    const done = outbox.sendAll(["a", "b", "c"]);
    assert.deepEqual(seen, ["a"], "the first slice goes out at once");
    assert.equal(outbox.pending, 2);
    await turn();
    seen.push("other work");
    await done;
    assert.deepEqual(seen, ["a", "b", "other work", "c"]);
    assert.equal(outbox.pending, 0);
    assert.equal(outbox.delivered, 3);
  });

  it("queues an event sent meanwhile behind the batch: no listener sees a newer change first", async () => {
    const seen: string[] = [];
    const outbox = new Outbox<string>((e) => seen.push(e), 0);
    const first = outbox.sendAll(["rv1", "rv2", "rv3"]);
    outbox.send("rv4");
    const second = outbox.sendAll(["rv5"]);
    await Promise.all([first, second]);
    assert.deepEqual(seen, ["rv1", "rv2", "rv3", "rv4", "rv5"]);
    outbox.send("rv6");
    assert.deepEqual(seen.at(-1), "rv6", "with nothing queued an event goes out at once");
  });

  it("resolves a batch only once its last event is out, and goes on past a listener that throws", async () => {
    const seen: string[] = [];
    const errors: unknown[] = [];
    const outbox = new Outbox<string>((e) => {
      if (e === "bad") throw new Error("listener bug");
      seen.push(e);
    }, 0, (err) => errors.push(err));
    let resolved = false;
    const done = outbox.sendAll(["a", "bad", "c"]).then(() => (resolved = true));
    await turn();
    assert.equal(resolved, false);
    await done;
    assert.deepEqual(seen, ["a", "c"]);
    assert.equal(errors.length, 1);
  });
});
