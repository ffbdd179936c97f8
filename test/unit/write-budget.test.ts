import assert from "node:assert/strict";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { app, TestApi } from "../support/api.js";

/** An app manifest of about `bytes`, in one env value. */
const padded = (group: string, name: string, bytes: number): string =>
  app(group, name, `  env:\n    PAD: "${"x".repeat(bytes)}"\n`);

describe("API server: what one tenant may send to be written", function () {
  this.timeout(20_000);
  let api: TestApi;

  // 1,000 bytes a second after a burst of 20,000: refills far slower than the test runs.
  beforeEach(async () => {
    api = await TestApi.start({ limits: { writeBytesPerSecond: 1000, writeBurstBytes: 20_000 } });
  });
  afterEach(() => api.stop());

  it("answers 429 with Retry-After once a tenant's budget is spent, stores nothing of it, and holds back no other tenant or admin", async () => {
    const acme = await api.tenant("acme");
    const beta = await api.tenant("beta");
    const apply = (token: string, body: string) => api.call("POST", `${API}/apply`, { token, body });
    assert.equal((await apply(acme, padded("acme", "one", 15_000))).status, 200);
    // The bucket holds 5,000 bytes: the next body goes whole and leaves a debt.
    assert.equal((await apply(acme, padded("acme", "two", 15_000))).status, 200);
    for (const send of [
      () => apply(acme, padded("acme", "three", 100)),
      () => api.call("PUT", `${API}/groups/acme/apps/four`, { token: acme, body: app("acme", "four") }),
    ]) {
      const refused = await send();
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get("retry-after")) >= 1);
      assert.match(refused.body.message ?? "", /group acme sent more to write than 1000 bytes a second allow/);
    }
    assert.equal(api.store.get("App/acme/three"), undefined);
    assert.equal(api.store.get("App/acme/four"), undefined);
    assert.equal((await apply(beta, padded("beta", "one", 15_000))).status, 200, "another tenant's budget is its own");
    const admin = await api.adminToken();
    assert.equal((await apply(admin, padded("acme", "five", 30_000))).status, 200, "admins are not held to it");
  });
});
