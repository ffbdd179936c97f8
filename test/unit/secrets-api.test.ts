import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { secretDocument } from "../../src/secrets/update.js";
import { TestApi, WatchReader } from "../support/api.js";

const VALUE = "pw-Ultra-Secret-77aa";
const path = (group: string, name: string): string => `${API}/groups/${group}/secrets/${name}`;
const body = (group: string, name: string, values: Record<string, string>): object =>
  secretDocument(group, name, Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v)])));

describe("API server: secrets", function () {
  this.timeout(20_000);
  let api: TestApi;
  let acme: string;
  let umbrella: string;
  let admin: string;

  before(async () => {
    api = await TestApi.start({ maxBodyBytes: 256 * 1024 });
    acme = await api.tenant("acme");
    umbrella = await api.tenant("umbrella");
    admin = await api.adminToken();
  });
  after(() => api.stop());

  it("merges values by PATCH, shows names and hashes only, and never the value in a list, a get or a watch", async () => {
    const watch = await WatchReader.open(`${api.url}${API}/secrets?watch=true`, admin);
    const set = await api.call("PATCH", path("acme", "db"), { token: acme, body: body("acme", "db", { PW: VALUE }) });
    assert.equal(set.status, 201);
    const more = await api.call("PATCH", path("acme", "db"), { token: acme, body: body("acme", "db", { USER: "u" }) });
    assert.equal(more.status, 200);
    await watch.waitFor((lines) => lines.filter((l) => l.object?.metadata.name === "db").length >= 2);
    await watch.close();
    const answers = [
      more.text,
      (await api.call("GET", path("acme", "db"), { token: acme })).text,
      (await api.call("GET", path("acme", "db"), { token: admin })).text,
      (await api.call("GET", `${API}/secrets`, { token: admin })).text,
      (await api.call("GET", `${API}/groups/acme/secrets/db/events`, { token: admin })).text,
      JSON.stringify(watch.lines),
    ];
    for (const text of answers) assert.ok(!text.includes(VALUE), `a value in ${text.slice(0, 200)}`);
    assert.match(answers[1] ?? "", /"PW":"sha256:[0-9a-f]{16}"/);
    assert.match(answers[1] ?? "", /"USER":"sha256:/);
    await api.store.flush();
    assert.ok(!readFileSync(api.store.path, "utf8").includes(VALUE));
    // Asked for explicitly: the owner (or an admin) sees the values.
    const shown = await api.call("GET", `${path("acme", "db")}?showSecrets=true`, { token: acme });
    assert.equal(shown.body.secrets?.PW, VALUE);
  });

  it("unsets keys, and says 404 for a key or a secret that is not there", async () => {
    await api.call("PATCH", path("acme", "cfg"), { token: acme, body: body("acme", "cfg", { A: "1", B: "2" }) });
    const unset = await api.call("PATCH", `${path("acme", "cfg")}?unset=A`, {
      token: acme,
      body: body("acme", "cfg", {}),
    });
    assert.equal(unset.status, 200);
    assert.deepEqual(Object.keys((api.store.get("Secret/acme/cfg")?.spec as { keys: object }).keys), ["B"]);
    const again = await api.call("PATCH", `${path("acme", "cfg")}?unset=A`, {
      token: acme,
      body: body("acme", "cfg", {}),
    });
    assert.equal(again.status, 404);
    const none = await api.call("PATCH", `${path("acme", "nope")}?unset=A`, {
      token: acme,
      body: body("acme", "nope", {}),
    });
    assert.equal(none.status, 404);
  });

  it("refuses another tenant with 403, for reading, listing, writing and deleting", async () => {
    await api.call("PATCH", path("acme", "db"), { token: acme, body: body("acme", "db", { PW: VALUE }) });
    for (const [method, url] of [
      ["GET", path("acme", "db")],
      ["GET", `${path("acme", "db")}?showSecrets=true`],
      ["GET", `${API}/groups/acme/secrets`],
      ["DELETE", path("acme", "db")],
    ] as const) {
      const answer = await api.call(method, url, { token: umbrella });
      assert.equal(answer.status, 403, `${method} ${url}`);
      assert.ok(!answer.text.includes(VALUE));
    }
    const patch = await api.call("PATCH", path("acme", "db"), {
      token: umbrella,
      body: body("acme", "db", { PW: "x" }),
    });
    assert.equal(patch.status, 403);
    const list = await api.call("GET", `${API}/secrets`, { token: umbrella });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items, []);
    const rotate = await api.call("POST", `${API}/secrets/rotate-key`, { token: acme });
    assert.equal(rotate.status, 403);
  });

  it("answers malformed and oversized input with a clear 4xx, and keeps serving", async () => {
    const badKey = await api.call("PATCH", path("acme", "x"), { token: acme, body: body("acme", "x", { "a b": "1" }) });
    assert.equal(badKey.status, 422);
    assert.match(badKey.text, /data\.a b|data/);
    const huge = await api.call("PATCH", path("acme", "x"), {
      token: acme,
      body: body("acme", "x", { BIG: "x".repeat(70_000) }),
    });
    assert.equal(huge.status, 422);
    const notBase64 = await api.call("PATCH", path("acme", "x"), {
      token: acme,
      body: {
        apiVersion: "airloft.dev/v1alpha1",
        kind: "Secret",
        metadata: { name: "x", group: "acme" },
        data: { K: "!!" },
      },
    });
    assert.equal(notBase64.status, 422);
    const garbage = await api.call("PATCH", path("acme", "x"), {
      token: acme,
      body: "{not json",
      type: "application/json",
    });
    assert.ok(garbage.status >= 400 && garbage.status < 500);
    const tooMany = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`K${i}`, "v"]));
    assert.equal(
      (await api.call("PATCH", path("acme", "x"), { token: acme, body: body("acme", "x", tooMany) })).status,
      422,
    );
    const ok = await api.call("GET", `${API}/secrets`, { token: admin });
    assert.equal(ok.status, 200);
  });

  it("lets an admin rotate the key; values read the same after", async () => {
    await api.call("PATCH", path("acme", "db"), { token: acme, body: body("acme", "db", { PW: VALUE }) });
    const rotate = await api.call("POST", `${API}/secrets/rotate-key`, { token: admin });
    assert.equal(rotate.status, 200);
    const shown = await api.call("GET", `${path("acme", "db")}?showSecrets=true`, { token: admin });
    assert.equal(shown.body.secrets?.PW, VALUE);
  });
});
