import assert from "node:assert/strict";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { loadFile } from "../../src/resources/loader.js";
import { TestApi } from "../support/api.js";

const alertYaml = (group: string, spec: string): string =>
  `apiVersion: airloft.dev/v1alpha1\nkind: Alert\nmetadata:\n  name: ops\n  group: ${group}\nspec:\n${spec}`;

describe("Alert manifests and API (hostile tenants)", function () {
  this.timeout(20_000);

  describe("validation", () => {
    const errorsOf = (spec: string): string[] =>
      loadFile(alertYaml("acme", spec), "alert.yaml", "/tmp").errors.map((e) => e.message);

    it("accepts a URL or a Secret's key, with filters", () => {
      assert.deepEqual(
        errorsOf(`  url: https://hooks.example.test/x\n  format: slack\n  events: [Stalled, JobFailed]\n`),
        [],
      );
      assert.deepEqual(
        errorsOf(`  urlFrom: {secret: hook, key: url}\n  signingKeyFrom: {secret: hook, key: key}\n  kinds: [App]\n`),
        [],
      );
    });

    it("refuses other schemes, spaces and control characters, huge values, both or neither URL, unknown fields, with file:line:column and field", () => {
      const cases: Array<[string, RegExp]> = [
        ["  url: file:///etc/passwd\n", /alert\.yaml:7:\d+ spec\.url/],
        ["  url: gopher://127.0.0.1:6379/_FLUSHALL\n", /spec\.url/],
        ['  url: "http://a b"\n', /spec\.url/],
        ['  url: "http://a\\r\\nX-Injected: 1"\n', /spec\.url/],
        [`  url: https://x/${"a".repeat(3000)}\n`, /spec\.url/],
        ["  url: https://x/\n  urlFrom: {secret: s, key: k}\n", /url and urlFrom/],
        ["  format: generic\n", /url and urlFrom/],
        ["  url: https://x/\n  headers: {a: b}\n", /spec\.headers: unknown field/],
        [
          `  url: https://x/\n  events: [${Array.from({ length: 60 }, (_, i) => `E${i}`).join(", ")}]\n`,
          /spec\.events/,
        ],
        [`  url: https://x/\n  events: ["${"E".repeat(500)}"]\n`, /spec\.events/],
        ["  urlFrom: {secret: ../other, key: url}\n", /spec\.urlFrom\.secret/],
      ];
      for (const [spec, pattern] of cases) {
        const errors = errorsOf(spec);
        assert.ok(
          errors.some((e) => pattern.test(e)),
          `${spec.slice(0, 80)}: ${errors.join(" | ")}`,
        );
      }
    });
  });

  describe("through the API", () => {
    let api: TestApi;
    let acme: string;
    let umbrella: string;
    before(async () => {
      api = await TestApi.start();
      acme = await api.tenant("acme");
      umbrella = await api.tenant("umbrella");
    });
    after(() => api.stop());
    const path = (group: string): string => `${API}/groups/${group}/alerts/ops`;

    it("a group writes its own Alerts; another group's are 403 to read, write and delete", async () => {
      const mine = await api.call("PUT", path("acme"), {
        token: acme,
        body: alertYaml("acme", "  urlFrom: {secret: hook, key: url}\n"),
      });
      assert.equal(mine.status, 201, mine.text);
      const theirs = await api.call("PUT", path("acme"), {
        token: umbrella,
        body: alertYaml("acme", "  url: https://attacker.example.test/\n"),
      });
      assert.equal(theirs.status, 403);
      assert.equal((await api.call("GET", path("acme"), { token: umbrella })).status, 403);
      assert.equal((await api.call("DELETE", path("acme"), { token: umbrella })).status, 403);
      const list = await api.call("GET", `${API}/alerts`, { token: umbrella });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.items, []);
    });

    it("answers a malformed or oversized Alert with a 4xx naming the field", async () => {
      const bad = await api.call("PUT", path("acme"), {
        token: acme,
        body: alertYaml("acme", "  url: ftp://x/\n"),
      });
      assert.equal(bad.status, 422);
      assert.ok(
        bad.body.details?.errors.some((e) => e.field === "spec.url"),
        bad.text,
      );
      const huge = await api.call("PUT", path("acme"), {
        token: acme,
        body: alertYaml("acme", `  url: https://x/\n  names: [${"a,".repeat(600_000)}a]\n`),
      });
      assert.ok(huge.status === 413 || huge.status === 422, String(huge.status));
    });
  });
});
