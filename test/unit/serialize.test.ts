import { strict as assert } from "node:assert";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";
import { CachedJsonSerializer } from "../../src/store/serialize.js";
import { readStateFile } from "../../src/store/state-file.js";
import { FINALIZER } from "../../src/store/store.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const at = { file: "m.yaml", line: 1, column: 1 };
const manifest = (object: object): LoadedManifest => ({ source: at, object: object as Resource });

describe("state file serialization", () => {
  it("gives exactly JSON.stringify's text, re-encoding only entries whose version changed", () => {
    const versionOf = (o: object): string => String((o as { v: number }).v);
    const serializer = new CachedJsonSerializer({ objects: versionOf });
    const a = { v: 1, name: "a", nested: { list: [1, "two", null], skip: undefined } };
    const data: Record<string, unknown> = {
      version: 1,
      objects: { "x/a": a, "x/b": { v: 1, name: "b" }, gone: undefined },
      other: { k: [1, 2] },
      missing: undefined,
    };
    assert.equal(Buffer.concat(serializer.serialize(data)).toString(), JSON.stringify(data));
    a.name = "changed without a new version"; // the store never does this: every change bumps the version
    assert.match(
      Buffer.concat(serializer.serialize(data)).toString(),
      /"name":"a"/,
      "the cached text is reused while the version holds",
    );
    a.v = 2;
    assert.equal(Buffer.concat(serializer.serialize(data)).toString(), JSON.stringify(data));
    (data.objects as Record<string, unknown>)["x/c"] = { v: 1, name: "c" };
    delete (data.objects as Record<string, unknown>)["x/b"];
    assert.equal(Buffer.concat(serializer.serialize(data)).toString(), JSON.stringify(data));
  });

  it("makes an entry's text for a value not stored yet and keeps none of it until the value is remembered with it", () => {
    const serializer = new CachedJsonSerializer(
      { events: (list) => String((list as unknown[]).length) },
      new Set(["events"]),
    );
    const cached = (key: string) =>
      (serializer as unknown as { entryBytes: Map<string, Map<string, { itemEnds?: unknown }>> }).entryBytes
        .get("events")
        ?.get(key);
    const list = [{ time: "t1", type: "Normal", reason: "Created", message: "created by apply" }];
    const text = serializer.encoded("events", "uid-1", list);
    assert.equal(text.bytes.toString(), `"uid-1":${JSON.stringify(list)}`);
    assert.equal(cached("uid-1"), undefined, "a refused apply leaves nothing in the cache");
    serializer.remember("events", "uid-1", list, text);
    assert.deepEqual(
      cached("uid-1")?.itemEnds,
      text.itemEnds,
      "kept with where its items end, for the next list to reuse",
    );
    const longer = [...list, { time: "t2", type: "Normal", reason: "Started", message: "running" }];
    assert.equal(serializer.encoded("events", "uid-1", longer).bytes.toString(), `"uid-1":${JSON.stringify(longer)}`);
    const data = { events: { "uid-1": list } };
    assert.equal(Buffer.concat(serializer.serialize(data)).toString(), JSON.stringify(data));
  });

  it("encodes a journal line in steps, as JSON.stringify would, and the state file then reuses its entries", () => {
    const versionOf = (o: object): string => String((o as { v: number }).v);
    const serializer = new CachedJsonSerializer({ objects: versionOf, "accounts.group": () => "" });
    const a = { v: 1, name: 'a\u2028 "quoted"', nested: { skip: undefined, list: [1, null] } };
    const records: Array<Record<string, unknown>> = [
      {
        seq: 1,
        set: { objects: { "x/a": a, "x/b": { v: 1 } }, "accounts.group": { acme: { id: "u" } } },
        del: { objects: ["x/c"] },
        top: { lastResourceVersion: 9 },
      },
      { seq: 2, del: { objects: ["x/a"] } },
      { set: { objects: { "x/a": a } } },
    ];
    for (const record of records) {
      let pauses = 0;
      const steps = serializer.lineSteps(record);
      let next = steps.next();
      while (!next.done) {
        pauses += 1;
        next = steps.next();
      }
      const line = Buffer.concat(next.value).toString();
      assert.ok(line.endsWith("}\n") && line.indexOf("\n") === line.length - 1, "one line");
      assert.deepEqual(JSON.parse(line), JSON.parse(JSON.stringify(record)));
      const set = (record.set ?? {}) as Record<string, object>;
      assert.equal(
        pauses,
        Object.values(set).reduce((n, m) => n + Object.keys(m).length, 0),
        "a pause per entry set",
      );
    }
    a.name = "changed without a new version"; // as the store never does: the state file takes the journal's bytes
    const file = Buffer.concat(serializer.serialize({ objects: { "x/a": a } })).toString();
    assert.match(file, /quoted/, "the journal's encoding of the entry is the file's");
  });

  it("writes an entry set again after a change in place as it is then, in the next file too", () => {
    const serializer = new CachedJsonSerializer({ revisions: () => "" });
    const entry = { outcome: "Progressing" };
    const data = { revisions: { u1: entry } };
    serializer.serialize(data);
    entry.outcome = "Failed"; // the same value at the same version, set again by its writer
    serializer.remember("revisions", "u1", entry);
    assert.equal(Buffer.concat(serializer.serialize(data)).toString(), JSON.stringify(data));
  });

  it("pauses after each block, reads each block's values when it comes, and takes the keys at the start", () => {
    const versionOf = (o: object): string => String((o as { v: number }).v);
    const serializer = new CachedJsonSerializer({ objects: versionOf });
    const objects: Record<string, unknown> = {};
    for (let i = 0; i < 1000; i++) objects[`x/${i}`] = { v: 1, spec: "old" };
    const data = { version: 1, objects };
    serializer.serialize(data); // every block cached: a write with nothing to encode still pauses
    const steps = serializer.serializeSteps(data);
    assert.equal(steps.next().done, false, "a pause after the first block");
    // An apply during the pause replaces every object (a batch), adds one and removes one: the
    // journal holds it whole, and its entry, replayed on this file, makes the file whole.
    for (let i = 0; i < 1000; i++) objects[`x/${i}`] = { v: 2, spec: "new" };
    objects["x/added"] = { v: 1, spec: "new" };
    delete objects["x/999"];
    let next = steps.next();
    let pauses = 1;
    while (!next.done) {
      pauses += 1;
      next = steps.next();
    }
    assert.equal(pauses, 4, "1,000 entries are 4 blocks");
    const written = JSON.parse(Buffer.concat(next.value).toString()) as { objects: Record<string, { spec: string }> };
    assert.equal(written.objects["x/added"], undefined, "a key added after the start is left to the journal");
    assert.equal(written.objects["x/999"], undefined, "a key removed before its block came is left out");
    const specs = Object.entries(written.objects).map(([key, o]) => `${key.split("/")[1] ?? ""}:${o.spec}`);
    assert.equal(specs.length, 999);
    assert.ok(
      specs.slice(0, 256).every((s) => s.endsWith(":old")) && specs.slice(256).every((s) => s.endsWith(":new")),
      `the first block as it was before the pause, the others as they are after it: ${specs.slice(254, 258)}`,
    );
    assert.equal(Buffer.concat(serializer.serialize(data)).toString(), JSON.stringify(data), "the next write has it");
  });

  it("leaves out an entry named like an Object property once it is removed, and writes valid JSON", () => {
    const serializer = new CachedJsonSerializer({ sources: () => "" });
    const sources: Record<string, unknown> = {};
    for (let i = 0; i < 256; i++) sources[`s${i}`] = { url: "a" }; // the first block
    for (const name of ["constructor", "toString"]) sources[name] = { url: "b" };
    const steps = serializer.serializeSteps({ sources });
    assert.equal(steps.next().done, false, "a pause after the first block");
    for (const name of ["constructor", "toString"]) Reflect.deleteProperty(sources, name);
    let next = steps.next();
    while (!next.done) next = steps.next();
    const written = JSON.parse(Buffer.concat(next.value).toString()) as { sources: Record<string, unknown> };
    assert.equal(Object.keys(written.sources).length, 256);
    assert.ok(!Object.hasOwn(written.sources, "constructor") && !Object.hasOwn(written.sources, "toString"));
  });

  it("writes every change of the store to the file: creation, status, events, deletion, finalizers", async () => {
    const { dir, path, store } = await openTempStore("airloft-serialize-", { groupCommitMs: 0 });
    try {
      const group = {
        apiVersion: "airloft.dev/v1alpha1",
        kind: "Group",
        metadata: { name: "acme" },
        spec: { provider: "docker" },
      };
      const app = (name: string, replicas: number) =>
        manifest({
          apiVersion: "airloft.dev/v1alpha1",
          kind: "App",
          metadata: { name, group: "acme" },
          spec: { image: "busybox", replicas },
        });
      await store.apply([manifest(group), app("web", 1), app("api", 1)]);
      await store.flush();
      await store.apply([manifest(group), app("web", 3)]);
      await store.updateStatus("App/acme/api", (s) => ({ ...s, readyReplicas: 1 }));
      await store.recordEvent("App/acme/api", { type: "Normal", reason: "Ready", message: "1/1" });
      await store.markDeleted("App/acme/web");
      await store.removeFinalizer("App/acme/web", FINALIZER);
      await store.flush();
      const file = await readStateFile(path);
      assert.deepEqual(Object.keys(file.objects).sort(), ["App/acme/api", "Group//acme"]);
      assert.deepEqual(file.objects["App/acme/api"], store.get("App/acme/api"));
      const api = store.get("App/acme/api");
      assert.deepEqual(file.events[api?.metadata.uid ?? ""], store.eventsOf(api as Resource));
    } finally {
      await removeTempStore(store, dir);
    }
  });

  it("keeps one encoded entry per key, and forgets a removed key's at the next serialization", () => {
    const serializer = new CachedJsonSerializer({ objects: (o) => String((o as { v: number }).v) });
    const objects: Record<string, unknown> = {};
    const cached = (): number =>
      (Reflect.get(serializer, "entryBytes") as Map<string, Map<string, unknown>>).get("objects")?.size ?? 0;
    for (let round = 1; round <= 3; round++)
      for (let i = 0; i < 1000; i++) {
        objects[`x/${i}`] = { v: round };
        serializer.remember("objects", `x/${i}`, objects[`x/${i}`] as object);
      }
    assert.equal(cached(), 1000, "three versions of 1,000 objects are 1,000 entries");
    for (let i = 0; i < 600; i++) delete objects[`x/${i}`];
    const written = JSON.parse(Buffer.concat(serializer.serialize({ objects })).toString()) as { objects: object };
    assert.equal(Object.keys(written.objects).length, 400);
    assert.equal(cached(), 400, "removed keys are forgotten");
    // A nested map is written whole with its parent: nothing of it is kept here, where nothing would prune it.
    const nested = new CachedJsonSerializer({ "accounts.admin": () => "" });
    for (let i = 0; i < 100; i++) nested.remember("accounts.admin", `a${i}`, { name: `a${i}` });
    assert.equal((Reflect.get(nested, "entryBytes") as Map<string, unknown>).size, 0);
  });
});
