import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { WatchHub } from "../../src/server/watch-hub.js";
import { app, TestApi, WatchReader } from "../support/api.js";

describe("API server: requests and answers", function () {
  this.timeout(20_000);
  let api: TestApi;
  let acme: string;

  before(async () => {
    api = await TestApi.start({ maxBodyBytes: 64 * 1024 });
    acme = await api.tenant("acme");
  });
  after(() => api.stop());

  it("creates with 201, updates with 200, reads, and answers 404 and 405", async () => {
    const created = await api.call("PUT", `${API}/groups/acme/apps/web`, { token: acme, body: app("acme", "web") });
    assert.equal(created.status, 201);
    assert.equal(created.body.changes, undefined);
    const updated = await api.call("PUT", `${API}/groups/acme/apps/web`, {
      token: acme,
      body: app("acme", "web", "  replicas: 2\n"),
    });
    assert.equal(updated.status, 200);
    const read = await api.call("GET", `${API}/groups/acme/apps/web`, { token: acme });
    assert.equal(read.status, 200);
    assert.equal(read.body.metadata?.name, "web");
    assert.equal((await api.call("GET", `${API}/groups/acme/apps/nothing`, { token: acme })).status, 404);
    assert.equal((await api.call("GET", `${API}/groups/acme/widgets`, { token: acme })).status, 404);
    assert.equal(
      (await api.call("POST", `${API}/groups/acme/apps/web`, { token: acme, body: app("acme", "web") })).status,
      405,
    );
    assert.equal((await api.call("GET", `${API}/apply`, { token: acme })).status, 405);
    const json = await api.call("PUT", `${API}/groups/acme/apps/web`, {
      token: acme,
      body: {
        apiVersion: "airloft.dev/v1alpha1",
        kind: "App",
        metadata: { name: "web", group: "acme" },
        spec: { image: "example/web:2", port: 8080 },
      },
    });
    assert.equal(json.status, 200, "JSON manifests are accepted too");
  });

  it("answers a manifest that names another object than its path with 400", async () => {
    const answer = await api.call("PUT", `${API}/groups/acme/apps/web`, { token: acme, body: app("acme", "other") });
    assert.equal(answer.status, 400);
    assert.equal(api.store.get("App/acme/other"), undefined);
  });

  it("answers an invalid manifest with 422 naming line, column and field, and stores nothing of the apply", async () => {
    const body = `${app("acme", "good")}---\n${app("acme", "bad", "  replicas: -1\n  privileged: true\n")}`;
    const answer = await api.call("POST", `${API}/apply`, { token: acme, body });
    assert.equal(answer.status, 422);
    assert.equal(answer.body.reason, "Invalid");
    const fields = answer.body.details?.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.field}`);
    assert.deepEqual(fields, ["request body:18:13 spec.replicas", "request body:19:3 spec.privileged"]);
    assert.equal(api.store.get("App/acme/good"), undefined, "the valid document was not stored either");
  });

  it("names the user's files when the CLI sends them as files", async () => {
    const answer = await api.call("POST", `${API}/apply`, {
      token: acme,
      body: { files: [{ name: "manifests/web.yaml", content: app("acme", "web", "  replicas: many\n") }] },
    });
    assert.equal(answer.status, 422);
    assert.equal(answer.body.details?.errors[0]?.file, "manifests/web.yaml");
  });

  it("answers malformed bodies with 400, unknown media types with 415", async () => {
    assert.equal(
      (
        await api.call("POST", `${API}/apply`, {
          token: acme,
          body: "kind: App\n  bad: [indent",
          type: "application/yaml",
        })
      ).status,
      400,
    );
    assert.equal(
      (await api.call("POST", `${API}/apply`, { token: acme, body: '{"files": [', type: "application/json" })).status,
      400,
    );
    assert.equal((await api.call("POST", `${API}/apply`, { token: acme, body: { files: [{ name: 1 }] } })).status, 400);
    assert.equal(
      (await api.call("POST", `${API}/apply`, { token: acme, body: "", type: "application/yaml" })).status,
      400,
    );
    assert.equal(
      (await api.call("POST", `${API}/apply`, { token: acme, body: "x", type: "application/x-www-form-urlencoded" }))
        .status,
      415,
    );
    assert.equal((await api.call("GET", `${API}/groups/%E0%A4%A/apps`, { token: acme })).status, 400);
  });

  it("answers bodies over the limit with 413, declared or streamed", async () => {
    const big = app("acme", "big", `  env:\n    FILL: "${"x".repeat(70 * 1024)}"\n`);
    assert.equal((await api.call("POST", `${API}/apply`, { token: acme, body: big })).status, 413);
    // Chunked, with no length given: cut off once the limit is passed.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${api.url}${API}/apply`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${acme}`,
            "content-type": "application/yaml",
            "transfer-encoding": "chunked",
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      for (let i = 0; i < 80; i++) req.write(`${"#".repeat(1023)}\n`);
      req.end();
    });
    assert.equal(status, 413);
    assert.equal(api.store.get("App/acme/big"), undefined);
  });

  it("answers a stale resourceVersion with 409", async () => {
    await api.call("PUT", `${API}/groups/acme/apps/rv`, { token: acme, body: app("acme", "rv") });
    const current =
      (await api.call("GET", `${API}/groups/acme/apps/rv`, { token: acme })).body.metadata?.resourceVersion ?? "";
    const withRv = (rv: string, replicas: number): string =>
      app("acme", "rv", `  replicas: ${replicas}\n`).replace(
        "  group: acme\n",
        `  group: acme\n  resourceVersion: "${rv}"\n`,
      );
    assert.equal(
      (await api.call("PUT", `${API}/groups/acme/apps/rv`, { token: acme, body: withRv(current, 2) })).status,
      200,
    );
    const stale = await api.call("PUT", `${API}/groups/acme/apps/rv`, { token: acme, body: withRv(current, 3) });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, "Conflict");
    const stored = api.store.get("App/acme/rv");
    assert.equal(stored?.kind === "App" ? stored.spec.replicas : undefined, 2, "the stale write changed nothing");
  });

  it("refuses build contexts unless the server has a build root, and keeps them inside it", async () => {
    const build = (context: string): string =>
      `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: built\n  group: acme\nspec:\n  build:\n    context: ${context}\n  port: 8080\n`;
    const refused = await api.call("POST", `${API}/apply`, { token: acme, body: build("/etc") });
    assert.equal(refused.status, 422);
    assert.match(refused.body.message ?? "", /builds no local folders/);
    const root = mkdtempSync(join(tmpdir(), "airloft-build-root-"));
    mkdirSync(join(root, "acme", "web"), { recursive: true });
    mkdirSync(join(root, "beta", "web"), { recursive: true });
    const rooted = await TestApi.start({ buildRoot: root });
    try {
      const token = await rooted.tenant("acme");
      assert.equal((await rooted.call("POST", `${API}/apply`, { token, body: build("../../etc") })).status, 422);
      assert.equal((await rooted.call("POST", `${API}/apply`, { token, body: build("/etc") })).status, 422);
      // Another tenant's folder is as closed as a path that does not exist, and said the same way.
      const other = await rooted.call("POST", `${API}/apply`, { token, body: build("../beta/web") });
      const missing = await rooted.call("POST", `${API}/apply`, { token, body: build("../beta/nothing-here") });
      assert.equal(other.status, 422);
      assert.equal(
        other.body.details?.errors[0]?.message.replace("web", "X"),
        missing.body.details?.errors[0]?.message.replace("nothing-here", "X"),
      );
      assert.equal((await rooted.call("POST", `${API}/apply`, { token, body: build("web") })).status, 200);
    } finally {
      await rooted.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("previews an apply with dryRun and stores nothing", async () => {
    const answer = await api.call("POST", `${API}/apply?dryRun=true`, { token: acme, body: app("acme", "preview") });
    assert.equal(answer.status, 200);
    assert.deepEqual(
      answer.body.changes?.map((c) => c.action),
      ["created"],
    );
    assert.equal(api.store.get("App/acme/preview"), undefined);
  });

  it("gives a service's password only when asked, to its own group", async () => {
    const service =
      "apiVersion: airloft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: cache\n  group: acme\nspec:\n  template: redis\n";
    assert.equal((await api.call("POST", `${API}/apply`, { token: acme, body: service })).status, 200);
    const plain = await api.call("GET", `${API}/groups/acme/services/cache`, { token: acme });
    assert.equal(plain.body.secrets, undefined);
    const password = api.store.secretsOf(api.store.get("Service/acme/cache") ?? (plain.body as never)).password ?? "";
    assert.ok(password.length > 10);
    assert.ok(!plain.text.includes(password));
    assert.equal(
      (await api.call("GET", `${API}/groups/acme/services/cache?showSecrets=true`, { token: acme })).body.secrets
        ?.password,
      password,
    );
  });

  it("serves the status page with a strict content security policy", async () => {
    const page = await api.call("GET", "/");
    assert.equal(page.status, 200);
    assert.match(page.text, /<title>AirLoft status<\/title>/);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.equal((await api.call("GET", "/app.js")).status, 200);
    assert.equal((await api.call("GET", "/../package.json")).status, 404);
    assert.equal((await api.call("GET", "/healthz")).status, 200);
  });
});

describe("API server: watch", function () {
  this.timeout(20_000);
  let api: TestApi;
  let acme: string;

  beforeEach(async () => {
    api = await TestApi.start();
    acme = await api.tenant("acme");
  });
  afterEach(() => api.stop());

  it("lists what exists, then delivers changes in order, only of the watcher's group", async () => {
    await api.call("PUT", `${API}/groups/acme/apps/first`, { token: acme, body: app("acme", "first") });
    const other = await api.tenant("globex");
    // Another group's object listed before the watch: never in its listing.
    await api.call("PUT", `${API}/groups/globex/apps/listed`, { token: other, body: app("globex", "listed") });
    const watch = await WatchReader.open(`${api.url}${API}/objects?watch=true`, acme);
    try {
      await watch.waitFor((lines) => lines.some((l) => l.type === "BOOKMARK"));
      assert.deepEqual(watch.lines.map((l) => `${l.type} ${l.object?.metadata.name ?? ""}`).sort(), [
        "ADDED acme",
        "ADDED first",
        "BOOKMARK ",
      ]);
      await api.call("PUT", `${API}/groups/globex/apps/hidden`, { token: other, body: app("globex", "hidden") });
      await api.call("PUT", `${API}/groups/acme/apps/second`, { token: acme, body: app("acme", "second") });
      await api.store.updateStatus("App/acme/second", (s) => ({ ...s, readyReplicas: 1 }));
      await api.call("DELETE", `${API}/groups/acme/apps/second`, { token: acme });
      await api.store.removeFinalizer("App/acme/second", "airloft.dev/infrastructure");
      await watch.waitFor((lines) => lines.some((l) => l.type === "DELETED"));
      const live = watch.lines.slice(3);
      assert.deepEqual(
        live.map((l) => `${l.type} ${l.object?.metadata.name}`),
        ["ADDED second", "MODIFIED second", "MODIFIED second", "DELETED second"],
      );
      const positions = live.map((l) => Number(l.resourceVersion));
      assert.deepEqual(
        positions,
        [...positions].sort((a, b) => a - b),
        "positions only grow",
      );
      assert.equal(new Set(positions).size, positions.length);
      assert.ok(
        !watch.lines.some((l) => l.object?.metadata.group === "globex"),
        "another group's change never reaches this watcher",
      );
    } finally {
      await watch.close();
    }
  });

  it("resumes after a position, and answers 410 for a position no longer kept", async () => {
    const first = await WatchReader.open(`${api.url}${API}/groups/acme/apps?watch=true`, acme);
    await first.waitFor((lines) => lines.some((l) => l.type === "BOOKMARK"));
    for (const name of ["a", "b", "c"])
      await api.call("PUT", `${API}/groups/acme/apps/${name}`, { token: acme, body: app("acme", name) });
    await first.waitFor((lines) => lines.filter((l) => l.type === "ADDED").length === 3);
    const afterA = first.lines.find((l) => l.object?.metadata.name === "a")?.resourceVersion ?? "";
    await first.close();
    await api.call("PUT", `${API}/groups/acme/apps/d`, { token: acme, body: app("acme", "d") });
    const resumed = await WatchReader.open(
      `${api.url}${API}/groups/acme/apps?watch=true&resourceVersion=${afterA}`,
      acme,
    );
    try {
      await resumed.waitFor((lines) => lines.length >= 3);
      assert.deepEqual(
        resumed.lines.map((l) => `${l.type} ${l.object?.metadata.name}`),
        ["ADDED b", "ADDED c", "ADDED d"],
      );
    } finally {
      await resumed.close();
    }
    for (const position of ["-1", "999999", "abc"]) {
      const gone = await api.call("GET", `${API}/groups/acme/apps?watch=true&resourceVersion=${position}`, {
        token: acme,
      });
      assert.equal(gone.status, 410, position);
      assert.equal(gone.body.reason, "Expired");
    }
  });

  it("keeps a bounded history: a position older than it is expired", async () => {
    const hub = new WatchHub(api.store, 2);
    try {
      const start = Number(hub.current);
      for (const name of ["a", "b", "c"])
        await api.call("PUT", `${API}/groups/acme/apps/${name}`, { token: acme, body: app("acme", name) });
      assert.equal(hub.since(start), undefined, "the first change is no longer kept");
      assert.deepEqual(
        hub.since(start + 1)?.map((e) => e.object.metadata.name),
        ["b", "c"],
      );
      assert.deepEqual(hub.since(start + 3), []);
    } finally {
      hub.close();
    }
  });

  it("ends open watch streams when the server shuts down", async () => {
    const watch = await WatchReader.open(`${api.url}${API}/objects?watch=true`, acme);
    await watch.waitFor((lines) => lines.some((l) => l.type === "BOOKMARK"));
    await api.server.close();
    await watch.endedByServer();
    assert.ok(watch.ended);
  });
});
