import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { LockedError, ValidationErrors } from "../../src/errors.js";
import { keyOf } from "../../src/resources/kinds.js";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";
import { CachedJsonSerializer } from "../../src/store/serialize.js";
import { readStateFile } from "../../src/store/state-file.js";
import { FINALIZER, Store } from "../../src/store/store.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const at = { file: "m.yaml", line: 1, column: 1 };
const group = (spec: Record<string, unknown> = {}): LoadedManifest => ({
  source: at,
  object: {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name: "acme" },
    spec: { provider: "docker", ...spec },
  } as Resource,
});
const app = (replicas: number, extra: Partial<Resource["metadata"]> = {}): LoadedManifest => ({
  source: at,
  object: {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "web", group: "acme", ...extra },
    spec: { image: "busybox", replicas },
  },
});

describe("store", () => {
  let dir: string;
  let path: string;
  let store: Store;

  beforeEach(async () => {
    ({ dir, path, store } = await openTempStore("airloft-store-"));
  });
  afterEach(() => removeTempStore(store, dir));

  it("encodes a status and an event on the controller's turn, not in the next write that every durable write waits for", async () => {
    await store.apply([group(), app(1)]);
    await store.flush();
    const remembered: string[] = [];
    const original = CachedJsonSerializer.prototype.remember;
    CachedJsonSerializer.prototype.remember = function (this: CachedJsonSerializer, map, key, value, text) {
      remembered.push(`${map} ${key}`);
      return original.call(this, map, key, value, text);
    };
    try {
      await store.updateStatus("App/acme/web", (s) => ({ ...s, phase: "Running" }));
      await store.recordEvent("App/acme/web", { type: "Normal", reason: "Started", message: "running" });
    } finally {
      CachedJsonSerializer.prototype.remember = original;
    }
    const uid = store.get("App/acme/web")?.metadata.uid;
    assert.deepEqual(remembered, ["objects App/acme/web", `events ${uid}`]);
    await store.flush();
    const file = await readStateFile(path);
    assert.equal((file.objects["App/acme/web"]?.status as { phase?: string }).phase, "Running", "written as encoded");
    assert.equal(file.events[uid ?? ""]?.at(-1)?.reason, "Started");
  });

  it("encodes an apply's event lists in its plan's steps, not in the journal line every other tenant's write waits for", async () => {
    await store.apply([group(), app(1)]);
    const remembered: { key: string; bytes: Buffer | undefined }[] = [];
    const original = CachedJsonSerializer.prototype.remember;
    CachedJsonSerializer.prototype.remember = function (this: CachedJsonSerializer, map, key, value, text) {
      if (map === "events") remembered.push({ key, bytes: text?.bytes });
      return original.call(this, map, key, value, text);
    };
    try {
      await store.apply([
        app(2),
        { ...app(1), object: { ...app(1).object, metadata: { name: "api", group: "acme" } } },
      ]);
    } finally {
      CachedJsonSerializer.prototype.remember = original;
    }
    const web = store.get("App/acme/web") as Resource;
    const api = store.get("App/acme/api") as Resource;
    assert.deepEqual(
      remembered.map((r) => r.key),
      [web.metadata.uid, api.metadata.uid],
    );
    for (const { key, bytes } of remembered)
      assert.equal(
        bytes?.toString(),
        `${JSON.stringify(key)}:${JSON.stringify(store.eventsOf(key === web.metadata.uid ? web : api))}`,
      );
    assert.deepEqual(
      store.eventsOf(web).map((e) => e.reason),
      ["Created", "Configured"],
    );
    assert.equal(store.eventsOf(api)[0]?.time, api.metadata.creationTimestamp, "a creation's event has its time");
    await store.close();
    const file = await readStateFile(path);
    assert.deepEqual(file.events[web.metadata.uid ?? ""], store.eventsOf(web));
    assert.deepEqual(file.events[api.metadata.uid ?? ""], store.eventsOf(api));
  });

  it("adds an apply's event at commit to a list that changed since its plan, losing neither", async () => {
    await store.apply([group(), app(1)]);
    const web = store.get("App/acme/web") as Resource;
    await store.recordEvent(keyOf(web), { type: "Normal", reason: "Started", message: "running" });
    // The plan sees a list that is no longer the stored one, as when an event lands during its steps.
    const context = (store as unknown as { planContext: { eventsOf: (uid: string) => unknown } }).planContext;
    const eventsOf = context.eventsOf;
    context.eventsOf = (uid) => [...((eventsOf(uid) as unknown[]) ?? [])].slice(0, -1);
    try {
      await store.apply([app(2)]);
    } finally {
      context.eventsOf = eventsOf;
    }
    assert.deepEqual(
      store.eventsOf(web).map((e) => e.reason),
      ["Created", "Started", "Configured"],
    );
    await store.close();
    assert.deepEqual((await readStateFile(path)).events[web.metadata.uid ?? ""], store.eventsOf(web));
  });

  it("sets uid, generation, resourceVersion, creation time and the finalizer on create", async () => {
    const [g, a] = await store.apply([group(), app(1)]);
    assert.equal(g?.action, "created");
    assert.equal(a?.display, "app/acme/web");
    const stored = store.get("App/acme/web");
    assert.match(stored?.metadata.uid ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(stored?.metadata.generation, 1);
    assert.ok(stored?.metadata.creationTimestamp);
    assert.deepEqual(stored?.metadata.finalizers, [FINALIZER]);
  });

  it("works a big apply out in steps and commits it whole: a write that lands meanwhile is neither lost nor overwritten stale", async () => {
    const named = (name: string, image: string): LoadedManifest => ({
      source: at,
      object: { ...app(1).object, metadata: { name, group: "acme" }, spec: { image } } as Resource,
    });
    const others = Array.from({ length: 20 }, (_, i) => named(`other-${i}`, "a"));
    await store.apply([group(), named("web", "v0"), ...others]);
    // The big apply plans web first, then pauses on each of the others (a microtask each), while
    // a status is written in place and a small apply of web is worked out and committed.
    const big = store.apply([named("web", "big"), ...others.map((m) => named(m.object.metadata.name, "b"))]);
    const small = store.apply([named("web", "small")]);
    await store.updateStatus("App/acme/web", (s) => ({ ...s, observedGeneration: 1 }));
    assert.equal((await small)[0]?.object.metadata.generation, 2, "the small apply commits first");
    const changes = await big;
    const web = store.get("App/acme/web");
    assert.equal((web?.spec as { image?: string }).image, "big");
    assert.equal(web?.metadata.generation, 3, "worked out again on the small apply's version");
    assert.equal(
      (web?.status as { observedGeneration?: number }).observedGeneration,
      1,
      "the status written meanwhile stays",
    );
    assert.equal(changes[0]?.object.metadata.resourceVersion, web?.metadata.resourceVersion);
    assert.equal(changes.filter((c) => c.action === "configured").length, 21);
  });

  it("writes each applied object's entry, made before its resourceVersion was known, as the object is", async () => {
    const labelled = (value: string): LoadedManifest => ({
      source: at,
      // A label named like the version field: the placeholder is found by its random value, not by a field's name.
      object: { ...app(2).object, metadata: { name: "web", group: "acme", labels: { resourceVersion: value } } },
    });
    const created = (await store.apply([group(), labelled("")]))[1]?.object;
    const configured = (await store.apply([labelled("x")]))[0]?.object;
    await store.updateStatus("App/acme/web", (s) => ({ ...s, observedGeneration: 1 }));
    await store.flush();
    const journal = readFileSync(`${path}.journal`, "utf8").trim().split("\n");
    const lines = journal.map((l) => JSON.parse(l) as { set?: { objects?: Record<string, Resource> } });
    const written = lines.flatMap((l) => Object.entries(l.set?.objects ?? {}));
    assert.ok(written.length >= 3, "the group, and the app twice");
    for (const [key, obj] of written) assert.match(obj.metadata.resourceVersion ?? "", /^\d+$/, key);
    const apps = written.filter(([key]) => key === "App/acme/web").map(([, obj]) => obj);
    assert.deepEqual(apps, [created, configured, store.get("App/acme/web")], "each entry is the object as stored then");
    await store.close();
    assert.deepEqual((await readStateFile(path)).objects["App/acme/web"], store.get("App/acme/web"));
  });

  it("previews in steps, each change with the metadata it had then: a status or deletion meanwhile does not show in it", async () => {
    await store.apply([group(), app(1)]);
    const steps = store.previewSteps([app(2)]);
    let next = steps.next();
    while (!next.done) next = steps.next();
    const [change] = next.value;
    const version = change?.object.metadata.resourceVersion;
    await store.updateStatus("App/acme/web", (s) => ({ ...s, phase: "Running" }));
    await store.markDeleted("App/acme/web");
    assert.equal(change?.action, "configured");
    assert.equal(change?.object.metadata.resourceVersion, version, "the version it was previewed at");
    assert.equal(change?.object.metadata.deletionTimestamp, undefined);
    assert.equal((change?.object.spec as { replicas: number }).replicas, 2);
  });

  it("bumps generation only on spec changes, resourceVersion on every write", async () => {
    await store.apply([group(), app(1)]);
    const rv1 = store.get("App/acme/web")?.metadata.resourceVersion;
    assert.equal((await store.apply([group(), app(1)]))[1]?.action, "unchanged");
    assert.equal(store.get("App/acme/web")?.metadata.resourceVersion, rv1);

    const labelled: LoadedManifest = {
      source: at,
      object: { ...app(1).object, metadata: { ...app(1).object.metadata, labels: { a: "b" } } },
    };
    assert.equal((await store.apply([labelled]))[0]?.action, "configured");
    assert.equal(store.get("App/acme/web")?.metadata.generation, 1, "labels are not spec");
    assert.notEqual(store.get("App/acme/web")?.metadata.resourceVersion, rv1);

    await store.apply([app(3)]);
    assert.equal(store.get("App/acme/web")?.metadata.generation, 2);
    const rv = store.get("App/acme/web")?.metadata.resourceVersion;
    await store.updateStatus("App/acme/web", (s) => ({ ...s, observedGeneration: 2 }));
    const after = store.get("App/acme/web");
    assert.equal(after?.metadata.generation, 2, "status writes leave generation alone");
    assert.notEqual(after?.metadata.resourceVersion, rv);
    const unchangedRv = after?.metadata.resourceVersion;
    await store.updateStatus("App/acme/web", (s) => ({ ...s, observedGeneration: 2 }));
    assert.equal(
      store.get("App/acme/web")?.metadata.resourceVersion,
      unchangedRv,
      "an identical status is not written",
    );
  });

  it("rejects a stale resourceVersion and an object whose group does not exist, storing nothing", async () => {
    await assert.rejects(
      store.apply([app(1)]),
      (err: unknown) => err instanceof ValidationErrors && /group "acme" does not exist/.test(err.message),
    );
    assert.equal(store.list().length, 0);
    await store.apply([group(), app(1)]);
    await assert.rejects(store.apply([app(2, { resourceVersion: "1" })]), /metadata.resourceVersion: stale/);
    assert.equal(store.get("App/acme/web")?.metadata.generation, 1);
  });

  it("holds a deleted object until its finalizer is removed", async () => {
    await store.apply([group(), app(1)]);
    const change = await store.markDeleted("App/acme/web");
    assert.equal(change.action, "deleted");
    assert.ok(store.get("App/acme/web")?.metadata.deletionTimestamp);
    await assert.rejects(store.apply([app(1)]), /is being deleted/);
    await store.removeFinalizer("App/acme/web", FINALIZER);
    assert.equal(store.get("App/acme/web"), undefined);
  });

  it("lists a group in kind and name order, kept as objects come and go", async () => {
    const named = (kind: "App" | "Quota", name: string): LoadedManifest => ({
      source: at,
      object: {
        apiVersion: "airloft.dev/v1alpha1",
        kind,
        metadata: { name, group: "acme" },
        spec: kind === "App" ? { image: "busybox", replicas: 1 } : { hard: { apps: 10 } },
      } as Resource,
    });
    const names = (kind?: "App") =>
      store.view({ group: "acme", ...(kind ? { kind } : {}) }).map((o) => o.metadata.name);
    await store.apply([group(), named("App", "b"), named("App", "a")]);
    assert.deepEqual(names(), ["a", "b"]);
    await store.apply([named("Quota", "q"), named("App", "c")]);
    assert.deepEqual(names(), ["q", "a", "b", "c"]);
    assert.deepEqual(names("App"), ["a", "b", "c"]);
    await store.markDeleted("App/acme/a");
    await store.removeFinalizer("App/acme/a", FINALIZER);
    await store.apply([named("App", "0")]);
    assert.deepEqual(names(), ["q", "0", "b", "c"]);
    assert.deepEqual(names("App"), ["0", "b", "c"]);
  });

  it("lists a kind across groups in key order and keeps a selection, as objects come, change and go", async () => {
    const named = (kind: "Group" | "App", name: string, groupName = "", jobs = false): LoadedManifest => ({
      source: at,
      object: {
        apiVersion: "airloft.dev/v1alpha1",
        kind,
        metadata: kind === "Group" ? { name } : { name, group: groupName },
        spec:
          kind === "Group"
            ? { provider: "docker" }
            : {
                image: "busybox",
                replicas: 1,
                ...(jobs ? { jobs: [{ name: "j", schedule: "@daily", command: ["true"] }] } : {}),
              },
      } as Resource,
    });
    const keys = (kind?: "App") => store.view(kind ? { kind } : {}).map(keyOf);
    await store.apply([
      named("Group", "b"),
      named("Group", "a-b"),
      named("App", "x", "b"),
      named("App", "y", "a-b", true),
    ]);
    const withJobs = store.selection(
      "jobs",
      "App",
      (o) => o.kind === "App" && !o.metadata.deletionTimestamp && !!o.spec.jobs,
    );
    assert.deepEqual([...withJobs], ["App/a-b/y"]);
    assert.equal(
      store.selection("jobs", "App", () => true),
      withJobs,
      "a name asked for again gets its selection",
    );
    await store.apply([named("App", "w", "b", true), named("Group", "a")]);
    assert.deepEqual(keys(), ["Group//a", "Group//a-b", "Group//b", "App/a-b/y", "App/b/w", "App/b/x"]);
    assert.deepEqual(keys("App"), ["App/a-b/y", "App/b/w", "App/b/x"]);
    assert.deepEqual([...withJobs].sort(), ["App/a-b/y", "App/b/w"]);
    await store.apply([named("App", "y", "a-b"), named("App", "x", "b", true)]); // a spec change either way
    assert.deepEqual([...withJobs].sort(), ["App/b/w", "App/b/x"]);
    await store.markDeleted("App/b/w"); // a deletion leaves the selection at once, its removal the kind
    assert.deepEqual([...withJobs], ["App/b/x"]);
    assert.deepEqual(keys("App"), ["App/a-b/y", "App/b/w", "App/b/x"]);
    await store.removeFinalizer("App/b/w", FINALIZER);
    assert.deepEqual(keys("App"), ["App/a-b/y", "App/b/x"]);
    await store.flush();
    await store.reload();
    assert.deepEqual([...withJobs], ["App/b/x"], "the same set, rebuilt from the file");
    assert.deepEqual(keys(), ["Group//a", "Group//a-b", "Group//b", "App/a-b/y", "App/b/x"]);
  });

  it("keeps a short event history per object", async () => {
    await store.apply([group()]);
    for (let i = 0; i < 30; i++)
      await store.recordEvent("Group//acme", { type: "Normal", reason: "Test", message: `n${i}` });
    await store.recordEvent("Group//acme", { type: "Normal", reason: "Test", message: "n29" });
    const events = store.eventsOf(store.get("Group//acme") as Resource);
    assert.equal(events.length, 20);
    assert.equal(events.at(-1)?.message, "n29");
  });

  it("coalesces concurrent writes; status is on disk after flush, specs when apply returns", async () => {
    await store.apply([group(), app(1)]);
    const before = store.stats.writes;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.updateStatus("App/acme/web", (s) => ({ ...s, observedGeneration: i + 1 })),
      ),
    );
    await store.flush();
    assert.ok(store.stats.writes - before <= 3, `50 status updates took ${store.stats.writes - before} writes`);
    const onDisk = await readStateFile(path);
    assert.equal(onDisk.objects["App/acme/web"]?.status?.observedGeneration, 50);
  });

  it("refuses a second writer, naming the holder; readers need no lock", async () => {
    await assert.rejects(
      Store.open(path, { write: true, command: "second" }),
      (err: unknown) =>
        err instanceof LockedError && new RegExp(`locked by "test" \\(pid ${process.pid} on `).test(err.message),
    );
    const reader = await Store.open(path, { write: false });
    await reader.close();
  });

  it("takes over a lock whose process is gone", async () => {
    await store.close();
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
    writeFileSync(
      `${path}.lock`,
      JSON.stringify({
        pid: Number(dead),
        host: (await import("node:os")).hostname(),
        command: "crashed",
        since: "then",
      }),
    );
    store = await Store.open(path, { write: true, command: "test" });
    assert.equal(JSON.parse(readFileSync(`${path}.lock`, "utf8")).pid, process.pid);
  });

  it("reopens what was written: the file is the whole truth", async () => {
    await store.apply([group(), app(2)]);
    const instance = store.instanceId;
    await store.close();
    store = await Store.open(path, { write: true, command: "test" });
    assert.equal(store.instanceId, instance);
    assert.equal((store.get("App/acme/web") as { spec: { replicas: number } }).spec.replicas, 2);
  });
});
