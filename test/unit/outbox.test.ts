import { strict as assert } from "node:assert";
import { performance } from "node:perf_hooks";
import { objectKey } from "../../src/resources/kinds.js";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";
import { Outbox } from "../../src/store/outbox.js";
import type { Store, StoreEvent } from "../../src/store/store.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

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

  it("charges each slice of deliveries to the thread's share, and waits for the share before the next", async () => {
    const seen: string[] = [];
    const slices: string[][] = [];
    let grant: () => void = () => undefined;
    const share = {
      slice<T>(work: () => T): T {
        const before = seen.length;
        const result = work();
        slices.push(seen.slice(before));
        return result;
      },
      next: () => new Promise<void>((resolve) => (grant = resolve)),
    };
    const outbox = new Outbox<string>((e) => seen.push(e), 0, undefined, undefined, share);
    const done = outbox.sendAll(["a", "b", "c"]);
    await turn();
    await turn();
    assert.deepEqual(slices, [["a"]], "nothing more goes out until the share allows it");
    grant();
    await turn();
    assert.deepEqual(slices, [["a"], ["b"]]);
    grant();
    await done;
    assert.deepEqual(slices, [["a"], ["b"], ["c"]], "each slice charged, with what it delivered");
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
    const outbox = new Outbox<string>(
      (e) => {
        if (e === "bad") throw new Error("listener bug");
        seen.push(e);
      },
      0,
      (err) => errors.push(err),
    );
    let resolved = false;
    const done = outbox.sendAll(["a", "bad", "c"]).then(() => (resolved = true));
    await turn();
    assert.equal(resolved, false);
    await done;
    assert.deepEqual(seen, ["a", "c"]);
    assert.equal(errors.length, 1);
  });
});

describe("store change events (issue 13 review)", () => {
  const groups = (n: number, from = 0): LoadedManifest[] =>
    Array.from({ length: n }, (_, i) => ({
      source: { file: "g.yaml", line: 1, column: 1 },
      object: {
        apiVersion: "airloft.dev/v1alpha1",
        kind: "Group",
        metadata: { name: `g${i + from}` },
        spec: { provider: "docker" },
      } as Resource,
    }));
  const rvOf = (e: StoreEvent): number => Number(e.object.metadata.resourceVersion);
  const increasing = (list: readonly number[]): boolean => list.every((rv, i) => i === 0 || rv > (list[i - 1] ?? 0));
  let dir: string;
  let store: Store;

  afterEach(() => removeTempStore(store, dir));

  it("hands out each object as it was committed, even when it changes in place while its event waits", async () => {
    ({ dir, store } = await openTempStore("airloft-outbox-", { groupCommitMs: 0 }));
    const seen: number[] = [];
    store.events.on("change", (e) => {
      const until = performance.now() + 0.05; // a slow listener: the batch takes several turns
      while (performance.now() < until);
      seen.push(rvOf(e));
    });
    const applying = store.apply(groups(1000));
    while (store.eventsInFlight.delivered === 0 || store.eventsInFlight.pending === 0) await turn();
    await store.updateStatus(objectKey("Group", "", "g900"), (s) => ({ ...s, observedGeneration: 1 }));
    await applying;
    // An apply is answered once durable; its events go on out behind.
    while (store.eventsInFlight.pending > 0) await turn();
    assert.equal(seen.length, 1001);
    assert.ok(increasing(seen), "resourceVersions went backwards in the events");
  });

  it("hands out a change made while an earlier write is on its way to disk after that write's events", async () => {
    ({ dir, store } = await openTempStore("airloft-outbox-", { groupCommitMs: 20 }));
    await store.apply(groups(1));
    const seen: number[] = [];
    store.events.on("change", (e) => seen.push(rvOf(e)));
    const applying = store.apply(groups(200, 1));
    await store.updateStatus(objectKey("Group", "", "g0"), (s) => ({ ...s, observedGeneration: 1 }));
    await applying;
    assert.equal(seen.length, 201);
    assert.ok(increasing(seen), `delivered out of commit order: ${seen.slice(0, 3).join(", ")}...`);
  });

  it("gives every listener every event, whatever another listener throws", async () => {
    ({ dir, store } = await openTempStore("airloft-outbox-", { groupCommitMs: 0 }));
    store.events.on("change", (e) => {
      if (e.key === objectKey("Group", "", "g1")) throw new Error("a listener bug");
    });
    const seen: string[] = [];
    store.events.on("change", (e) => seen.push(e.key));
    const errors = console.error;
    console.error = () => undefined;
    try {
      await store.apply(groups(3));
      await store.updateStatus(objectKey("Group", "", "g1"), (s) => ({ ...s, observedGeneration: 1 }));
    } finally {
      console.error = errors;
    }
    assert.deepEqual(
      seen,
      ["g0", "g1", "g2", "g1"].map((name) => objectKey("Group", "", name)),
    );
  });

  it("resolves a deletion only once its event is out, even behind a big batch", async () => {
    ({ dir, store } = await openTempStore("airloft-outbox-", { groupCommitMs: 0 }));
    await store.apply(groups(1));
    const seen: string[] = [];
    store.events.on("change", (e) => {
      const until = performance.now() + 0.05;
      while (performance.now() < until);
      seen.push(e.type);
    });
    const applying = store.apply(groups(500, 1));
    while (store.eventsInFlight.delivered === 0 || store.eventsInFlight.pending === 0) await turn();
    await store.markDeleted(objectKey("Group", "", "g0"));
    assert.equal(seen.at(-1), "deleting", "markDeleted resolved before its event went out");
    await applying;
  });

  it("answers a write once durable when it asks only for room: its events still go out behind the big batch ahead", async () => {
    const seen: string[] = [];
    const outbox = new Outbox<string>((e) => seen.push(e), 0, undefined, 3);
    const big = outbox.hold();
    const small = outbox.hold();
    let answered = false;
    const bigDone = big.release(["b1", "b2", "b3"], "delivery");
    const smallDone = small.release(["s1"], "room").then(() => (answered = true));
    await Promise.resolve();
    assert.equal(answered, true, "the small write was answered before the batch ahead went out");
    assert.deepEqual(seen, ["b1"]);
    await Promise.all([bigDone, smallDone]);
    while (outbox.pending > 0) await turn();
    assert.deepEqual(seen, ["b1", "b2", "b3", "s1"], "in order all the same");
    // Past the bound (3 waiting), asking for room waits for its own events.
    const flood = outbox.hold();
    const next = outbox.hold();
    void flood.release(["f1", "f2", "f3", "f4"], "room");
    let waited = true;
    const nextDone = next.release(["n1"], "room").then(() => (waited = seen.includes("n1")));
    await nextDone;
    assert.equal(waited, true, "with the backlog past its bound the write waited for its events");
  });
});
