import { strict as assert } from "node:assert";
import { encodeListEntry, type ListEntry } from "../../src/store/list-entry.js";

const expected = (key: string, list: readonly unknown[]): string => `${JSON.stringify(key)}:${JSON.stringify(list)}`;

describe("encodeListEntry", () => {
  it("encodes a list as JSON, and a list sharing items with the last one the same, reusing their bytes", () => {
    const key = 'uid-"ü"';
    const events = Array.from({ length: 30 }, (_, i) => ({
      time: `t${i}`,
      reason: i % 2 ? "Configured" : "Créé",
      n: i,
    }));
    let list: unknown[] = [];
    let entry: ListEntry = encodeListEntry(key, list);
    assert.equal(entry.bytes.toString(), expected(key, list));
    // Kept like an object's events: one added at a time, at most 20.
    for (const event of events) {
      const next = [...list, event].slice(-20);
      entry = encodeListEntry(key, next, { list, entry });
      list = next;
      assert.equal(entry.bytes.toString(), expected(key, list));
      assert.equal(entry.itemEnds.length, list.length);
    }
  });

  it("encodes lists that share no item, some in another order, or several new ones, as JSON", () => {
    const items = Array.from({ length: 8 }, (_, i) => ({ i, s: "x".repeat(i) }));
    const cases: unknown[][] = [
      [],
      [items[0]],
      [items[3], items[4], items[5]],
      [items[4], items[5], items[6], items[7], { new: 1 }],
      [items[5], items[4]],
      [items[1], undefined, items[2]],
      [items[2], items[3]],
      [],
      [items[0], items[0]],
      [undefined, items[1]],
      [],
    ];
    let previous: { list: unknown[]; entry: ListEntry } | undefined;
    for (const list of cases) {
      const entry = encodeListEntry("k", list, previous);
      assert.equal(entry.bytes.toString(), expected("k", list));
      previous = { list, entry };
    }
  });
});
