import assert from "node:assert/strict";
import { LoopHost } from "../../src/cli/host.js";
import { isSuspended } from "../../src/controllers/suspension.js";
import { getSource, type SourceRecord, saveSource } from "../../src/gitops/sources.js";
import { createLogger } from "../../src/log.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import type { LoopAccess } from "../../src/server/control-api.js";
import { FakeProvider } from "../../support/fake-provider.js";
import { type ApiAnswer, app, TestApi } from "../support/api.js";

/** The API's diff, prune sets, suspend, resume and reconcile, against hostile callers. */
describe("API server: diff, prune sets and control of objects", function () {
  this.timeout(20_000);
  let api: TestApi;
  let host: LoopHost | undefined;
  let admin: string;
  let acme: string;
  let globex: string;
  /** POST below the API prefix: YAML text, or a JSON value. */
  const post = (path: string, token: string, body?: string | object, type?: string): Promise<ApiAnswer> =>
    api.call("POST", `${API}${path}`, { token, ...(body !== undefined ? { body } : {}), ...(type ? { type } : {}) });
  const get = (path: string, token: string): Promise<ApiAnswer> => api.call("GET", `${API}${path}`, { token });

  before(async () => {
    const providers = new ProviderRegistry({ instanceId: "i", docker: new FakeProvider() });
    // The loop needs the API's store, made by TestApi.start: it is reached through `host` once made.
    const loop: LoopAccess = {
      providers,
      control: (req) => (host ? host.control(req) : Promise.reject(new Error("no loop yet"))),
    };
    api = await TestApi.start({ loop });
    host = new LoopHost(api.store, createLogger({ level: "error" }), { resyncMs: 60_000, workers: 2, providers });
    admin = await api.adminToken();
    acme = await api.tenant("acme");
    globex = await api.tenant("globex");
    assert.equal((await post(`/apply`, acme, `${app("acme", "a")}---\n${app("acme", "b")}`)).status, 200);
  });
  after(async () => {
    await host?.stop();
    await api.stop();
  });

  describe("POST /diff", () => {
    it("shows a group its own changes, and stores nothing", async () => {
      const content = `${app("acme", "a", "  replicas: 3\n")}---\n${app("acme", "new")}`;
      const answer = await post("/diff", acme, { files: [{ name: "web.yaml", content }] });
      assert.equal(answer.status, 200, answer.text);
      type Entry = { title: string; isNew: boolean; specLines: string[] };
      const entries = (answer.body as { entries?: Entry[] }).entries ?? [];
      assert.deepEqual(
        entries.map((e) => [e.title, e.isNew]),
        [
          ["app/acme/a", false],
          ["app/acme/new", true],
        ],
      );
      assert.ok(entries[0]?.specLines.includes("+   replicas: 3"), JSON.stringify(entries[0]));
      assert.equal(api.store.get("App/acme/new"), undefined);
    });

    it("refuses another group's objects with 403: their stored spec is not shown", async () => {
      const answer = await post(`/diff`, globex, app("acme", "a", "  replicas: 3\n"));
      assert.equal(answer.status, 403);
      assert.ok(!answer.text.includes("example/web"), answer.text);
    });

    it("answers malformed and invalid input with a clear 4xx", async () => {
      assert.equal((await post(`/diff`, acme, "kind: App\n  bad: [indent", "application/yaml")).status, 400);
      assert.equal((await post(`/diff`, acme, { files: "nope" })).status, 400);
      assert.equal((await post(`/diff`, acme, "", "application/yaml")).status, 400);
      assert.equal((await post(`/diff`, acme, "x", "text/html")).status, 415);
      const invalid = await post(`/diff`, acme, app("acme", "a", "  replicas: -1\n"));
      assert.equal(invalid.status, 422);
      assert.match(invalid.body.details?.errors[0]?.field ?? "", /spec\.replicas/);
      assert.equal((await post(`/diff`, acme, app("nowhere", "a"))).status, 403);
      assert.equal((await get(`/diff`, acme)).status, 405);
      assert.equal((await api.call("POST", `${API}/diff`, { body: app("acme", "a") })).status, 401);
    });

    it("answers 503 where no controllers run with the API", async () => {
      const bare = await TestApi.start();
      try {
        const token = await bare.tenant("acme");
        const answer = await bare.call("POST", `${API}/diff`, { token, body: app("acme", "a") });
        assert.equal(answer.status, 503);
        assert.match(answer.body.message ?? "", /no controllers/);
      } finally {
        await bare.stop();
      }
    });
  });

  describe("POST /sources/NAME/apply", () => {
    it("applies a prune set, then deletes what it no longer defines", async () => {
      const first = await post(`/sources/site/apply`, acme, `${app("acme", "p1")}---\n${app("acme", "p2")}`);
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(
        first.body.changes?.map((c) => c.action),
        ["created", "created"],
      );
      const second = await post(`/sources/site/apply`, acme, app("acme", "p1"));
      assert.equal(second.status, 200, second.text);
      const pruned = (second.body as { pruned?: Array<{ display: string }> }).pruned;
      assert.deepEqual(
        pruned?.map((c) => c.display),
        ["app/acme/p2"],
      );
      const p2 = api.store.get("App/acme/p2");
      assert.ok(!p2 || p2.metadata.deletionTimestamp, "pruned: deleting, or gone already (the loop runs)");
      const never = api.store.get("App/acme/a");
      assert.equal(never?.metadata.deletionTimestamp, undefined, "what the set never applied stays");
    });

    it("keeps each group's sets apart: another group's set of the same name prunes nothing of it", async () => {
      await post(`/sources/shared/apply`, acme, app("acme", "s1"));
      const other = await post(`/sources/shared/apply`, globex, app("globex", "g1"));
      assert.equal(other.status, 200, other.text);
      assert.deepEqual((other.body as { pruned?: unknown[] }).pruned, []);
      assert.equal(api.store.get("App/acme/s1")?.metadata.deletionTimestamp, undefined);
      const asGroup = await post(`/sources/${encodeURIComponent("group:acme:shared")}/apply`, admin, app("acme", "s1"));
      assert.equal(asGroup.status, 400);
    });

    it("refuses another group's manifests with 403, storing nothing", async () => {
      const answer = await post(`/sources/steal/apply`, globex, app("acme", "stolen"));
      assert.equal(answer.status, 403);
      assert.equal(api.store.get("App/acme/stolen"), undefined);
      assert.equal(getSource(api.store, "group:globex:steal"), undefined);
    });

    it("lists a group's own sets by the names it gave them; an admin sees every source", async () => {
      const names = async (token: string): Promise<string[]> => {
        const { items } = JSON.parse((await get("/sources", token)).text) as { items: Array<{ name: string }> };
        return items.map((s) => s.name);
      };
      assert.deepEqual((await names(acme)).sort(), ["shared", "site"]);
      assert.deepEqual(await names(globex), ["shared"]);
      assert.deepEqual((await names(admin)).sort(), ["group:acme:shared", "group:acme:site", "group:globex:shared"]);
      assert.equal((await post("/sources", acme)).status, 405);
    });

    it("answers malformed input and a watched folder's name with a clear 4xx", async () => {
      assert.equal((await post(`/sources/${encodeURIComponent("a b")}/apply`, acme, app("acme", "x"))).status, 400);
      assert.equal((await post(`/sources/${"n".repeat(600)}/apply`, acme, app("acme", "x"))).status, 400);
      assert.equal((await post(`/sources/%E0%A4%A/apply`, acme, app("acme", "x"))).status, 400);
      assert.equal((await post(`/sources/ok/apply`, acme, "kind: [", "application/yaml")).status, 400);
      assert.equal((await get(`/sources/ok/apply`, acme)).status, 405);
      await saveSource(api.store, watchedFolder("folder"));
      const watched = await post(`/sources/folder/apply`, admin, app("acme", "x"));
      assert.equal(watched.status, 409);
      assert.equal(api.store.get("App/acme/x"), undefined);
    });
  });

  describe("POST .../suspend, resume, reconcile", () => {
    it("lets a group suspend, resume and reconcile its own apps", async () => {
      const suspended = await post(`/groups/acme/apps/a/suspend`, acme);
      assert.equal(suspended.status, 200, suspended.text);
      assert.equal(suspended.body.message, "App/acme/a suspended");
      assert.equal(isSuspended(api.store, "App/acme/a"), true);
      assert.equal((await post(`/groups/acme/apps/a/resume`, acme)).body.message, "App/acme/a resumed");
      assert.equal(isSuspended(api.store, "App/acme/a"), false);
      assert.equal((await post(`/groups/acme/apps/a/reconcile`, acme)).body.message, "App/acme/a queued for reconcile");
    });

    it("refuses another group's token with 403, whether the object exists or not", async () => {
      assert.equal((await post(`/groups/acme/apps/a/suspend`, globex)).status, 403);
      assert.equal((await post(`/groups/acme/apps/nothing/suspend`, globex)).status, 403);
      assert.equal(isSuspended(api.store, "App/acme/a"), false);
      // A group's own Group and Quota are the admin's to control.
      assert.equal((await post(`/groups/acme/suspend`, acme)).status, 403);
      assert.equal((await post(`/groups/acme/quotas/q/suspend`, acme)).status, 403);
      const byAdmin = await post(`/groups/acme/suspend`, admin);
      assert.equal(byAdmin.status, 200, byAdmin.text);
      assert.equal((await post(`/groups/acme/resume`, admin)).status, 200);
    });

    it("answers unknown objects, paths and methods with a clear 4xx", async () => {
      assert.equal((await post(`/groups/acme/apps/nothing/suspend`, acme)).status, 404);
      assert.equal((await post(`/groups/acme/apps/a/explode`, acme)).status, 404);
      assert.equal((await post(`/groups/acme/widgets/a/suspend`, acme)).status, 404);
      assert.equal((await get(`/groups/acme/apps/a/suspend`, acme)).status, 405);
      assert.equal((await post(`/groups/acme/apps/%E0%A4%A/suspend`, acme)).status, 400);
    });

    it("leaves sources to admins", async () => {
      await saveSource(api.store, watchedFolder("repo"));
      assert.equal((await post(`/sources/repo/suspend`, acme)).status, 403);
      assert.equal(getSource(api.store, "repo")?.suspended, undefined);
      const answer = await post(`/sources/repo/suspend`, admin);
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body.message, "source/repo suspended");
      assert.equal((await post(`/sources/nothing/resume`, admin)).status, 404);
    });

    it("tells whether an object is suspended and which set applied it, to its own group only", async () => {
      await post(`/groups/acme/apps/p1/suspend`, acme);
      const own = await get(`/groups/acme/apps/p1/control`, acme);
      assert.equal(own.status, 200, own.text);
      assert.deepEqual(own.body, { suspended: true, source: "site" });
      const byAdmin = await get(`/groups/acme/apps/p1/control`, admin);
      assert.deepEqual(byAdmin.body, { suspended: true, source: "group:acme:site" });
      assert.deepEqual((await get(`/groups/acme/control`, acme)).body, { suspended: false });
      assert.equal((await get(`/groups/acme/apps/p1/control`, globex)).status, 403);
      assert.equal((await get(`/groups/acme/apps/nothing/control`, globex)).status, 403);
      assert.equal((await get(`/groups/acme/apps/nothing/control`, acme)).status, 404);
      assert.equal((await post(`/groups/acme/apps/p1/control`, acme)).status, 405);
      await post(`/groups/acme/apps/p1/resume`, acme);
    });

    it("does not show a group the name of a set it did not apply", async () => {
      await post(`/sources/admins-set/apply`, admin, app("acme", "managed"));
      const answer = await get(`/groups/acme/apps/managed/control`, acme);
      assert.deepEqual(answer.body, { suspended: false });
    });

    it("is still serving after all of the above", async () => {
      assert.equal((await api.call("GET", "/healthz")).status, 200);
      assert.equal((await get(`/groups/acme/apps/a`, acme)).status, 200);
    });
  });
});

/** A watched folder's record, as `serve --watch` keeps it. */
function watchedFolder(name: string): SourceRecord {
  return { name, paths: [`/srv/${name}`], kind: "watch", lastErrors: [], inventory: [], files: {} };
}
