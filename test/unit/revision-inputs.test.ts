import { strict as assert } from "node:assert";
import { AppController } from "../../src/controllers/app.js";
import { GroupController } from "../../src/controllers/group.js";
import { ServiceController } from "../../src/controllers/service.js";
import { changedInputs } from "../../src/releases/inputs.js";
import { ensureRevision, historyOf, recordApplied, recordRevisions } from "../../src/releases/revisions.js";
import { trackRollout } from "../../src/releases/rollout.js";
import { undoRollout } from "../../src/releases/undo.js";
import { loadTexts } from "../../src/resources/loader.js";
import type { App, ServiceStatus } from "../../src/resources/types.js";
import { PersistedState, readStateFile } from "../../src/store/state-file.js";
import type { Store } from "../../src/store/store.js";
import { fakeContext } from "../support/controller-context.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const FIRST = "first-Value-31ac";
const SECOND = "second-Value-77d0";
const object = (kind: string, name: string, body: string) =>
  `apiVersion: airloft.dev/v1alpha1\nkind: ${kind}\nmetadata: {name: ${name}, group: acme}\n${body}\n`;
const secret = (value: string) => object("Secret", "app-secrets", `stringData: {TOKEN: "${value}"}`);
const web = (version: string) =>
  object(
    "App",
    "web",
    `spec: {image: busybox, env: {VERSION: "${version}", TOKEN: {secret: app-secrets, key: TOKEN}}, services: [{name: db}]}`,
  );
const group = "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: acme}\nspec: {provider: docker}\n";
const load = (...texts: string[]) => loadTexts([{ name: "m.yaml", content: texts.join("---\n"), baseDir: "." }]);

/**
 * A changed Secret value or bound Service rolls an app's replicas (its config hash): it is a
 * revision of its own, made "by" that change, holding hashes only; an undo past it says the
 * current value is used, since old values are not kept.
 */
describe("revisions on a Secret's or a bound Service's change", () => {
  let dir: string;
  let store: Store;
  let reconcileApp: () => Promise<unknown>;
  const history = () => historyOf(store, store.get("App/acme/web") as App);
  const apply = async (...texts: string[]) => recordApplied(store, await store.apply(load(...texts)), "user test");

  beforeEach(async () => {
    ({ dir, store } = await openTempStore("airloft-rev-inputs-", { groupCommitMs: 0 }));
    const { ctx } = fakeContext(store);
    await apply(group, secret(FIRST), object("Service", "db", "spec: {template: redis}"), web("1"));
    await new GroupController(ctx).reconcile("Group//acme");
    await new ServiceController(ctx).reconcile("Service/acme/db");
    const apps = new AppController(ctx);
    reconcileApp = () => apps.reconcile("App/acme/web");
    await reconcileApp();
  });
  afterEach(() => removeTempStore(store, dir));

  it("never changes a stored history in place: a new revision makes a new entry, sharing the unchanged ones", async () => {
    const uid = store.get("App/acme/web")?.metadata.uid ?? "";
    const stored = () => store.stateMap<{ items: Array<{ revision: number; outcome: string }> }>("revisions").get(uid);
    const before = stored();
    const text = JSON.stringify(before);
    await apply(web("2"));
    await apply(web("3"));
    assert.equal(JSON.stringify(before), text, "the entry read before the applies is as it was");
    const after = stored();
    assert.deepEqual(
      after?.items.map((r) => [r.revision, r.outcome]),
      [
        [1, before?.items[0]?.outcome],
        [2, "Superseded"],
        [3, "Progressing"],
      ],
    );
    assert.equal(after?.items[0], before?.items[0], "an unchanged revision is shared, not copied");
  });

  it("shares an applied app's spec with its new revision, and copies a caller's copy", async () => {
    const uid = store.get("App/acme/web")?.metadata.uid ?? "";
    const latest = () => store.stateMap<{ items: Array<{ spec: object }> }>("revisions").get(uid)?.items.at(-1);
    await apply(web("2"));
    assert.equal(latest()?.spec, store.peek("App/acme/web")?.spec, "the stored spec itself, not a copy of it");
    const copy = store.get("App/acme/web") as App;
    await ensureRevision(store, copy, "user test", { always: true });
    assert.deepEqual(latest()?.spec, copy.spec);
    assert.notEqual(latest()?.spec, copy.spec, "a copy its caller may change is copied");
  });

  it("asks for no durable write of a controller's revision: it goes with the next write, as status does", async () => {
    const original = PersistedState.prototype.persist;
    let durable = 0;
    PersistedState.prototype.persist = function (this: PersistedState) {
      durable++;
      return original.call(this);
    };
    try {
      await apply(secret(SECOND));
      durable = 0;
      await reconcileApp(); // records the revision the Secret's change makes, by that change
      assert.equal(history().at(-1)?.by, "secret app-secrets changed");
      assert.equal(durable, 0);
    } finally {
      PersistedState.prototype.persist = original;
    }
    await store.flush();
    const uid = store.get("App/acme/web")?.metadata.uid ?? "";
    const onDisk = (await readStateFile(store.path)).revisions as Record<string, { items: Array<{ by: string }> }>;
    assert.equal(onDisk[uid]?.items.at(-1)?.by, "secret app-secrets changed", "written by the lazy write");
  });

  it("records a revision when a Secret the app reads changes, by that change, without its value", async () => {
    assert.deepEqual(
      history().map((r) => [r.revision, r.by]),
      [[1, "user test"]],
    );
    assert.deepEqual(Object.keys(history()[0]?.inputs ?? {}), ["secret app-secrets", "service db"]);
    await reconcileApp();
    assert.equal(history().length, 1, "nothing changed: no revision");
    await apply(secret(SECOND));
    await reconcileApp();
    const [first, second] = history();
    assert.equal(second?.revision, 2);
    assert.equal(second?.by, "secret app-secrets changed");
    assert.equal(second?.configHash, first?.configHash, "the spec is the same");
    assert.deepEqual(changedInputs(first?.inputs, second?.inputs), ["secret app-secrets"]);
    const kept = JSON.stringify(history());
    assert.ok(!kept.includes(SECOND) && !kept.includes(FIRST), "no value in a revision");
  });

  it("an apply waits for its own write, not for every write and compaction after it", async () => {
    // flush() under a tenant that applies without pause would wait for a write that never ends.
    store.flush = () => new Promise<void>(() => undefined);
    const settled = await Promise.race([
      apply(web("2")).then(() => "recorded"),
      new Promise<string>((resolve) => setTimeout(() => resolve("still waiting"), 5000)),
    ]);
    assert.equal(settled, "recorded");
    assert.equal(history().length, 2);
  });

  it("leaves an app changed again since its apply to that later apply's own revision", async () => {
    const first = await store.apply(load(web("5")));
    await store.apply(load(web("6")));
    await recordRevisions(store, first, "user first");
    assert.ok(!history().some((r) => r.by === "user first"), "the second spec is not recorded as the first apply's");
  });

  it("records no revision from a reconcile whose app was applied again during its provider pass", async () => {
    const read = store.get("App/acme/web") as App;
    await apply(web("2"));
    // The pass that read v1 ends after v2's apply: its facts are v1's, and v2's own reconcile follows.
    await trackRollout(store, read, { converged: true, readyReplicas: 1, updatedReplicas: 1 });
    assert.deepEqual(
      history().map((r) => [r.revision, r.by, r.spec.env?.VERSION]),
      [
        [1, "user test", "1"],
        [2, "user test", "2"],
      ],
    );
  });

  it("records a revision when a bound Service's variables change", async () => {
    await store.updateStatus<ServiceStatus>("Service/acme/db", (s) => ({ ...s, host: "db-elsewhere" }));
    await reconcileApp();
    assert.deepEqual(
      history().map((r) => [r.revision, r.by]),
      [
        [1, "user test"],
        [2, "service db changed"],
      ],
    );
  });

  it("undoes past a Secret's change: the spec comes back, the secret's current value is used and said so", async () => {
    await apply(web("2"));
    await reconcileApp();
    await apply(secret(SECOND));
    await reconcileApp();
    assert.deepEqual(
      history().map((r) => [r.revision, r.by]),
      [
        [1, "user test"],
        [2, "user test"],
        [3, "secret app-secrets changed"],
      ],
    );
    const result = await undoRollout(store, store.get("App/acme/web") as App, { toRevision: 1, by: "user test" });
    assert.equal(result.revision, 4);
    assert.equal((store.get("App/acme/web") as App).spec.env?.VERSION, "1");
    assert.equal(
      history().at(-1)?.by,
      "user test (undo to revision 1); secret app-secrets: current value used (old values are not kept)",
    );
    // To revision 2, whose spec is the current one but not its secret: recorded all the same, and said so.
    await apply(web("2"));
    await reconcileApp();
    const same = await undoRollout(store, store.get("App/acme/web") as App, { toRevision: 2, by: "user test" });
    assert.equal(same.revision, 6);
    assert.match(history().at(-1)?.by ?? "", /undo to revision 2\); secret app-secrets: current value used/);
  });
});
