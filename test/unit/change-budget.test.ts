import assert from "node:assert/strict";
import { ApiClient, RemoteError } from "../../src/cli/remote/client.js";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { app, TestApi } from "../support/api.js";

const apps = (group: string, names: readonly string[]): string => names.map((n) => app(group, n)).join("---\n");

describe("API server: how many objects one tenant may change a second", function () {
  this.timeout(20_000);
  let api: TestApi;

  // One change in 100 s after a burst of 3: nothing refills while the test runs, however slowly.
  beforeEach(async () => {
    api = await TestApi.start({ limits: { writeChangesPerSecond: 0.01, writeChangesBurst: 3 } });
  });
  afterEach(() => api.stop());

  const apply = (token: string, body: string) => api.call("POST", `${API}/apply`, { token, body });

  it("answers 429 with Retry-After once a tenant's changes outrun its budget, stores nothing of it, and holds back no other tenant or admin", async () => {
    const acme = await api.tenant("acme");
    const beta = await api.tenant("beta");
    assert.equal((await apply(acme, apps("acme", ["a", "b"]))).status, 200);
    // One change is left: the next apply goes whole (three more) and leaves a debt of two.
    assert.equal((await apply(acme, apps("acme", ["c", "d", "e"]))).status, 200);
    assert.ok(api.store.get("App/acme/e"), "a write past the budget goes whole");
    for (const send of [
      () => apply(acme, apps("acme", ["f"])),
      () => api.call("PUT", `${API}/groups/acme/apps/g`, { token: acme, body: app("acme", "g") }),
      () => api.call("DELETE", `${API}/groups/acme/apps/a`, { token: acme }),
      () => api.call("POST", `${API}/sources/site/apply`, { token: acme, body: app("acme", "h") }),
    ]) {
      const refused = await send();
      assert.equal(refused.status, 429, refused.text);
      assert.ok(Number(refused.headers.get("retry-after")) >= 2, "until the debt is paid");
      assert.match(refused.body.message ?? "", /group acme created or changed more objects than 0.01 a second allow/);
    }
    for (const name of ["f", "g", "h"]) assert.equal(api.store.get(`App/acme/${name}`), undefined);
    assert.equal(
      api.store.get("App/acme/a")?.metadata.deletionTimestamp,
      undefined,
      "the refused delete deleted nothing",
    );
    assert.equal((await apply(beta, apps("beta", ["a", "b", "c"]))).status, 200, "another tenant's budget is its own");
    const admin = await api.adminToken();
    assert.equal((await apply(admin, apps("acme", ["i", "j", "k", "l"]))).status, 200, "admins are not held to it");
  });

  it("charges only what an apply changes: re-applying what is stored (a git-ops sync) costs nothing", async () => {
    const acme = await api.tenant("acme");
    const body = apps("acme", ["a", "b"]);
    assert.equal((await apply(acme, body)).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await apply(acme, body)).status, 200, `unchanged apply ${i + 1}`);
    // One change is left: changing both apps goes whole and leaves a debt.
    assert.equal((await apply(acme, body.replaceAll("example/web:1", "example/web:2"))).status, 200);
    assert.equal((await apply(acme, body)).status, 429, "two changes went past the one left");
  });

  it("the CLI's client shows at once a 429 whose Retry-After is past its two minutes of waiting", async () => {
    const acme = await api.tenant("acme");
    assert.equal((await apply(acme, apps("acme", ["a", "b", "c", "d", "e"]))).status, 200);
    const notices: string[] = [];
    const client = new ApiClient(api.url, { AIRLOFT_TOKEN: acme }, (text) => notices.push(text));
    const files = [{ name: "f.yaml", content: app("acme", "f") }];
    await assert.rejects(
      client.request("POST", `${API}/apply`, { json: { files } }),
      (err: unknown) => err instanceof RemoteError && err.status === 429,
    );
    assert.deepEqual(notices, []);
  });

  it("charges a prune set's applies and the objects it prunes", async () => {
    const acme = await api.tenant("acme");
    const set = (body: string) => api.call("POST", `${API}/sources/site/apply`, { token: acme, body });
    assert.equal((await set(apps("acme", ["a", "b"]))).status, 200);
    // Creates c with the one change left, and prunes a and b: a debt of two.
    const second = await set(apps("acme", ["c"]));
    assert.equal(second.status, 200, second.text);
    const refused = await set(apps("acme", ["c"]));
    assert.equal(refused.status, 429, "its prunes were charged too");
  });

  it("charges a PUT and a rollout undo", async () => {
    const acme = await api.tenant("acme");
    const put = (name: string, image = "example/web:1") =>
      api.call("PUT", `${API}/groups/acme/apps/${name}`, {
        token: acme,
        body: app("acme", name).replace("example/web:1", image),
      });
    const undo = () => api.call("POST", `${API}/groups/acme/apps/a/rollout/undo`, { token: acme, body: "{}" });
    assert.equal((await put("a")).status, 201);
    assert.equal((await put("a", "example/web:2")).status, 200);
    // One change left: each of these goes while anything is left, and the third finds a debt.
    assert.equal((await undo()).status, 200);
    assert.equal((await undo()).status, 200);
    assert.equal((await undo()).status, 429, "two undos were charged");
  });

  it("charges a DELETE", async () => {
    const acme = await api.tenant("acme");
    assert.equal((await apply(acme, apps("acme", ["a", "b", "c"]))).status, 200);
    assert.equal((await api.call("DELETE", `${API}/groups/acme/apps/a`, { token: acme })).status, 200);
    const refused = await api.call("PUT", `${API}/groups/acme/apps/d`, { token: acme, body: app("acme", "d") });
    assert.equal(refused.status, 429, "the delete was charged");
  });

  it("lets one write past the budget, not every one that came at once", async () => {
    const acme = await api.tenant("acme");
    await apply(acme, apps("acme", ["a"]));
    // Two changes left; four applies of three new apps each, at once: each was admitted before
    // its body was parsed, and the first to reserve its changes goes into debt.
    const answers = await Promise.all([0, 1, 2, 3].map((i) => apply(acme, apps("acme", [`x${i}`, `y${i}`, `z${i}`]))));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 429, 429, 429]);
    assert.equal(api.store.list().filter((o) => o.kind === "App").length, 4, "a and one apply's three apps");
  });
});

describe("the CLI's client and a tenant's budget of changes", function () {
  this.timeout(20_000);

  it("waits out a 429's Retry-After, saying so on stderr, and sends the request again", async () => {
    const api = await TestApi.start({ limits: { writeChangesPerSecond: 1, writeChangesBurst: 1 } });
    try {
      const acme = await api.tenant("acme");
      const first = await api.call("POST", `${API}/apply`, { token: acme, body: apps("acme", ["a", "b"]) });
      assert.equal(first.status, 200);
      const notices: string[] = [];
      const client = new ApiClient(api.url, { AIRLOFT_TOKEN: acme }, (text) => notices.push(text));
      const files = [{ name: "c.yaml", content: app("acme", "c") }];
      await client.request("POST", `${API}/apply`, { json: { files } });
      assert.ok(api.store.get("App/acme/c"), "sent again and applied");
      assert.ok(notices.length >= 1);
      assert.match(
        notices[0] ?? "",
        /created or changed more objects than 1 a second allow.*: sending it again in \d+ s$/,
      );
    } finally {
      await api.stop();
    }
  });
});
