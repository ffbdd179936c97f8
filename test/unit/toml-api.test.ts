import assert from "node:assert/strict";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { TestApi } from "../support/api.js";

const toml = (group: string, name: string, extra = "") =>
  `apiVersion = "airloft.dev/v1alpha1"\nkind = "App"\nmetadata = { name = "${name}", group = "${group}" }\n[spec]\nimage = "example/web:1"\nport = 8080\n${extra}`;

/** TOML files sent to `airloft serve` by hostile tenants: refused with a position, never a crash. */
describe("API server: TOML manifests from tenants", function () {
  this.timeout(20_000);
  let api: TestApi;
  let acme: string;

  before(async () => {
    api = await TestApi.start({ maxBodyBytes: 1024 * 1024 });
    acme = await api.tenant("acme");
    await api.tenant("other");
  });
  after(() => api.stop());

  const apply = (name: string, content: string) =>
    api.call("POST", `${API}/apply`, { token: acme, body: { files: [{ name, content }] } });

  it("applies a tenant's TOML file in its own group", async () => {
    const answer = await apply("web.toml", toml("acme", "web"));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(api.store.get("App/acme/web"));
  });

  it("refuses a TOML object in another tenant's group, and stores nothing", async () => {
    const answer = await apply("evil.toml", toml("other", "evil"));
    assert.equal(answer.status, 403);
    assert.equal(api.store.get("App/other/evil"), undefined);
  });

  it("answers hostile TOML with 422 naming file, line and column; the server keeps answering", async () => {
    const keys = Array.from({ length: 20_000 }, () => "a").join(".");
    const cases: Record<string, string> = {
      "deep header": `[${keys}]\nx = 1\n`,
      "deep inline": `x = ${"[".repeat(50_000)}`,
      "prototype key": toml("acme", "p", '[spec.env]\n"__proto__" = "x"\n'),
      oversized: `x = "${"y".repeat(300 * 1024)}"\n`,
      binary: "\u0000\u0001[[\uFFFF",
      date: toml("acme", "d", "when = 2026-11-30T00:00:00Z\n"),
    };
    for (const [what, content] of Object.entries(cases)) {
      const answer = await apply("evil.toml", content);
      assert.equal(answer.status, 422, `${what}: ${answer.status}`);
      const [error] = answer.body.details?.errors ?? [];
      assert.equal(error?.file, "evil.toml", what);
      assert.ok((error?.line ?? 0) >= 1 && (error?.column ?? 0) >= 1, what);
    }
    const read = await api.call("GET", `${API}/groups/acme/apps/web`, { token: acme });
    assert.equal(read.status, 200);
  });
});
