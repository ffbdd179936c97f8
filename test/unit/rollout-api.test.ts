import { strict as assert } from "node:assert";
import { saveSource } from "../../src/gitops/sources.js";
import { historyOf } from "../../src/releases/revisions.js";
import { trackRollout } from "../../src/releases/rollout.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { App } from "../../src/resources/types.js";
import { app, TestApi } from "../support/api.js";

const HISTORY = `${API_PREFIX}/groups/acme/apps/web/rollout/history`;
const UNDO = `${API_PREFIX}/groups/acme/apps/web/rollout/undo`;

describe("rollout API: history and undo under tenancy", () => {
  let api: TestApi;
  let acme: string;
  let globex: string;
  const put = (version: string, extra = "") =>
    api.call("PUT", `${API_PREFIX}/groups/acme/apps/web`, {
      token: acme,
      body: app("acme", "web", `  env:\n    VERSION: "${version}"\n${extra}`),
    });
  const stored = () => api.store.get("App/acme/web") as App;

  beforeEach(async () => {
    api = await TestApi.start();
    acme = await api.tenant("acme");
    globex = await api.tenant("globex");
    for (const v of ["1", "2", "3"]) assert.equal((await put(v)).status < 300, true);
  });
  afterEach(() => api.stop());

  it("writes an app and its new revision in one durable write: a request waits for one, not two", async () => {
    await api.store.flush();
    const before = api.store.stats.writes;
    assert.equal((await put("4")).status, 200);
    assert.equal(api.store.stats.writes - before, 1);
    assert.equal(historyOf(api.store, stored()).at(-1)?.spec.env?.VERSION, "4");
  });

  it("records a revision per spec change, with who made it, and none for a change of replicas alone", async () => {
    await put("3", "  replicas: 4\n");
    const answer = await api.call("GET", HISTORY, { token: acme });
    assert.equal(answer.status, 200);
    const items = (answer.body as unknown as { items: Array<{ revision: number; by: string; spec: App["spec"] }> })
      .items;
    assert.deepEqual(
      items.map((r) => [r.revision, r.by, r.spec.env?.VERSION]),
      [
        [1, "group acme", "1"],
        [2, "group acme", "2"],
        [3, "group acme", "3"],
      ],
    );
  });

  it("undoes to a revision as a new one, keeping the replica count", async () => {
    await put("3", "  replicas: 4\n");
    const answer = await api.call("POST", UNDO, { token: acme, body: { toRevision: 1 } });
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.body.message ?? "", /rolled back to revision 1 as revision 4/);
    assert.equal(stored().spec.env?.VERSION, "1");
    assert.equal(stored().spec.replicas, 4);
    const last = historyOf(api.store, stored()).at(-1);
    assert.equal(last?.revision, 4);
    assert.equal(last?.by, "group acme (undo to revision 1)");
    // Without a revision: the one before the latest.
    assert.equal((await api.call("POST", UNDO, { token: acme, body: {} })).status, 200);
    assert.equal(stored().spec.env?.VERSION, "3");
  });

  it("refuses another group, malformed and oversized bodies, and unknown revisions", async () => {
    assert.equal((await api.call("GET", HISTORY, { token: globex })).status, 403);
    assert.equal((await api.call("POST", UNDO, { token: globex, body: {} })).status, 403);
    assert.equal(stored().spec.env?.VERSION, "3", "nothing changed by the refused undo");
    for (const body of ["[1]", '"x"', "{", '{"toRevision":-1}', '{"toRevision":1.5}', '{"force":"yes"}', '{"x":1}'])
      assert.equal(
        (await api.call("POST", UNDO, { token: acme, body, type: "application/json" })).status,
        400,
        `body ${body}`,
      );
    const big = JSON.stringify({ toRevision: 1, pad: "x".repeat(10_000) });
    assert.equal((await api.call("POST", UNDO, { token: acme, body: big, type: "application/json" })).status, 413);
    const missing = await api.call("POST", UNDO, { token: acme, body: { toRevision: 99 } });
    assert.equal(missing.status, 404);
    assert.match(missing.body.message ?? "", /no revision 99 \(kept: 1, 2, 3\)/);
    assert.equal(
      (await api.call("GET", `${API_PREFIX}/groups/acme/apps/nope/rollout/history`, { token: acme })).status,
      404,
    );
    assert.equal((await api.call("PUT", HISTORY, { token: acme })).status, 405);
  });

  it("refuses to undo an app of a git-ops source without force; suspending the source is an admin's", async () => {
    await saveSource(api.store, {
      name: "site",
      paths: ["/srv/site"],
      kind: "watch",
      lastErrors: [],
      inventory: ["App/acme/web"],
      files: {},
    });
    const refused = await api.call("POST", UNDO, { token: acme, body: {} });
    assert.equal(refused.status, 409);
    assert.match(refused.body.message ?? "", /git-ops source site.*--suspend-source.*--force/);
    assert.equal(
      (await api.call("POST", UNDO, { token: acme, body: { suspendSource: true } })).status,
      403,
      "a group may not suspend a source that applies every group's objects",
    );
    const admin = await api.adminToken();
    const done = await api.call("POST", UNDO, { token: admin, body: { suspendSource: true, toRevision: 2 } });
    assert.equal(done.status, 200, done.text);
    assert.match(done.body.message ?? "", /source site suspended/);
    const sources = await api.call("GET", `${API_PREFIX}/sources`, { token: admin });
    const site = (sources.body as unknown as { items: Array<{ suspended: boolean; outsideGit?: string[] }> }).items[0];
    assert.equal(site?.suspended, true);
    assert.match(site?.outsideGit?.[0] ?? "", /app\/acme\/web admin admin \(undo to revision 2\)/);
    const forced = await api.call("POST", UNDO, { token: acme, body: { force: true } });
    assert.equal(forced.status, 200);
  });
});

describe("rollout progress deadline", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await TestApi.start();
  });
  afterEach(() => api.stop());

  const apply = async (version: string, strategy: string) => {
    const admin = await api.adminToken();
    const body = app("acme", "web", `  env:\n    VERSION: "${version}"\n  strategy:\n${strategy}`);
    await api.call("POST", `${API_PREFIX}/apply`, { token: admin, body: `${groupYaml}---\n${body}` });
    return api.store.get("App/acme/web") as App;
  };
  const groupYaml =
    "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: acme\nspec:\n  provider: docker\n";
  const stuck = { converged: false, readyReplicas: 0, updatedReplicas: 1 };

  it("fails a rollout without progress past the deadline, and not before", async () => {
    const good = await apply("1", "    progressDeadlineSeconds: 10\n");
    await trackRollout(api.store, good, { converged: true, readyReplicas: 1, updatedReplicas: 1 }, 0);
    const bad = await apply("2", "    progressDeadlineSeconds: 10\n");
    assert.equal((await trackRollout(api.store, bad, stuck, 1000)).requeueAfterMs, 10_250);
    assert.equal((await trackRollout(api.store, bad, stuck, 10_999)).failed, undefined);
    const verdict = await trackRollout(api.store, bad, stuck, 11_001);
    assert.equal(verdict.failed?.reason, "ProgressDeadlineExceeded");
    assert.match(verdict.failed?.message ?? "", /revision 2: no progress in 10s \(1 updated, 0 ready\)/);
    assert.equal((api.store.get("App/acme/web") as App).spec.env?.VERSION, "2", "no rollback unless asked");
  });

  it("records a release's result though the replicas converge in the same pass", async () => {
    const app = await apply("1", "    progressDeadlineSeconds: 10\n");
    const release = { phase: "succeeded" as const, exitCode: 0, output: ["migrated"] };
    await trackRollout(api.store, app, { converged: true, readyReplicas: 1, updatedReplicas: 1, release }, 0);
    const last = historyOf(api.store, app).at(-1);
    assert.deepEqual([last?.outcome, last?.release], ["Complete", { exitCode: 0, output: ["migrated"] }]);
  });

  it("counts from the last progress, stops at once on a crash loop, and rolls back when asked", async () => {
    const good = await apply("1", "    autoRollback: true\n");
    await trackRollout(api.store, good, { converged: true, readyReplicas: 1, updatedReplicas: 1 }, 0);
    const bad = await apply("2", "    autoRollback: true\n");
    await trackRollout(api.store, bad, stuck, 0);
    assert.equal((await trackRollout(api.store, bad, { ...stuck, readyReplicas: 1 }, 599_000)).failed, undefined);
    const crash = { reason: "CrashLoopBackOff", replica: "web-0", message: "web-0 exited with code 3" };
    const verdict = await trackRollout(api.store, bad, { ...stuck, problems: [crash] }, 599_001);
    assert.match(verdict.failed?.message ?? "", /crash-loop \(web-0 exited with code 3\); rolled back to revision 1/);
    const now = api.store.get("App/acme/web") as App;
    assert.equal(now.spec.env?.VERSION, "1");
    assert.deepEqual(
      historyOf(api.store, now).map((r) => [r.revision, r.outcome]),
      [
        [1, "Complete"],
        [2, "RolledBack"],
        [3, "Progressing"],
      ],
    );
    const events = api.store.eventsOf(now).map((e) => e.reason);
    assert.ok(events.includes("ProgressDeadlineExceeded") && events.includes("RolledBack"), events.join());
  });
});
