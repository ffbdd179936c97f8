import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { accountOf, listAccounts } from "../../src/server/account-records.js";
import { TokenService } from "../../src/server/tokens.js";
import { app, group, TestApi } from "../support/api.js";

const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("API server: authentication", function () {
  this.timeout(20_000);
  let api: TestApi;
  let acme: string;

  before(async () => {
    api = await TestApi.start();
    acme = await api.tenant("acme");
  });
  const principal = (kind: "admin" | "group", name: string) => ({
    kind,
    name,
    uid: accountOf(api.store, kind, name)?.uid ?? "",
    version: 1,
  });
  const admin = () => principal("admin", "admin");
  const acme_ = () => principal("group", "acme");
  after(() => api.stop());

  const paths: Array<[string, string]> = [
    ["GET", `${API}/objects`],
    ["GET", `${API}/groups/acme/apps`],
    ["GET", `${API}/groups/acme/apps/web`],
    ["PUT", `${API}/groups/acme/apps/web`],
    ["DELETE", `${API}/groups/acme/apps/web`],
    ["POST", `${API}/apply`],
    ["GET", `${API}/objects?watch=true`],
    ["GET", "/api/whoami"],
    ["GET", "/api/accounts"],
  ];

  it("refuses every endpoint without a token, and with a malformed one", async () => {
    for (const [method, path] of paths) {
      for (const headers of [{}, { authorization: "Bearer not-a-jwt" }, { authorization: "Basic YWRtaW46YWRtaW4=" }]) {
        const answer = await api.call(method, path, {
          headers,
          ...(method === "PUT" || method === "POST" ? { body: app("acme", "web") } : {}),
        });
        assert.equal(answer.status, 401, `${method} ${path} ${JSON.stringify(headers)}: ${answer.text}`);
        assert.equal(answer.body.reason, "Unauthorized");
      }
    }
    assert.equal(api.store.get("App/acme/web"), undefined, "nothing was stored");
  });

  it("refuses alg none, another key, another audience, another issuer, another algorithm, and an expired token", async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: "admin:admin", ver: 1, iss: "airloft", aud: api.audience, iat: now, exp: now + 600 };
    const forged: Record<string, string> = {
      "alg none": `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`,
      "another key": (await new TokenService(randomBytes(32), api.audience, 600).issue(admin())).token,
      "another audience": (await new TokenService(api.key, "airloft:elsewhere", 600).issue(admin())).token,
      "another issuer": await new SignJWT({ ver: 1 })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("admin:admin")
        .setIssuer("someone")
        .setAudience(api.audience)
        .setIssuedAt()
        .setExpirationTime("10m")
        .sign(api.key),
      "HS512 with the same key": await new SignJWT({ ver: 1 })
        .setProtectedHeader({ alg: "HS512" })
        .setSubject("admin:admin")
        .setIssuer("airloft")
        .setAudience(api.audience)
        .setIssuedAt()
        .setExpirationTime("10m")
        .sign(new Uint8Array([...api.key, ...api.key])),
      "no expiry": await new SignJWT({ ver: 1 })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("admin:admin")
        .setIssuer("airloft")
        .setAudience(api.audience)
        .setIssuedAt()
        .sign(api.key),
      expired: (await new TokenService(api.key, api.audience, 60, () => Date.now() - 3_600_000).issue(admin())).token,
    };
    for (const [what, token] of Object.entries(forged)) {
      const answer = await api.call("GET", `${API}/objects`, { token });
      assert.equal(answer.status, 401, `${what}: ${answer.text}`);
    }
    assert.match(
      (await api.call("GET", `${API}/objects`, { token: forged.expired ?? "" })).body.message ?? "",
      /expired/,
    );
    // The same claims signed properly are accepted: the refusals above are about what was forged.
    const genuine = (await new TokenService(api.key, api.audience, 600).issue(admin())).token;
    assert.equal((await api.call("GET", `${API}/objects`, { token: genuine })).status, 200);
  });

  it("accepts a token within the clock tolerance", async () => {
    const skewed = (await new TokenService(api.key, api.audience, 60, () => Date.now() - 70_000).issue(acme_())).token;
    assert.equal((await api.call("GET", "/api/whoami", { token: skewed })).status, 200);
  });

  it("logs in with the right password only, and rate-limits failures", async () => {
    const limited = await TestApi.start({ loginLimits: { perAccount: 3, perAddress: 20, perDevice: 3 } });
    try {
      await limited.tenant("acme", "acme-password-1");
      assert.equal(
        (await limited.call("POST", "/api/tokens", { body: { group: "acme", password: "wrong" } })).status,
        401,
      );
      assert.equal(
        (await limited.call("POST", "/api/tokens", { body: { group: "nobody", password: "wrong" } })).status,
        401,
      );
      assert.equal((await limited.call("POST", "/api/tokens", { body: { group: "acme" } })).status, 400);
      assert.equal(
        (await limited.call("POST", "/api/tokens", { body: "{not json", type: "application/json" })).status,
        400,
      );
      for (let i = 0; i < 2; i++)
        await limited.call("POST", "/api/tokens", { body: { group: "acme", password: "wrong" } });
      const blocked = await limited.call("POST", "/api/tokens", {
        body: { group: "acme", password: "acme-password-1" },
      });
      assert.equal(blocked.status, 429, "even the right password waits once the limit is reached");
      assert.ok(Number(blocked.headers.get("retry-after")) > 0);
    } finally {
      await limited.stop();
    }
  });

  it("stores only slow salted hashes of passwords", async () => {
    const record = accountOf(api.store, "group", "acme");
    assert.match(record?.passwordHash ?? "", /^scrypt\$8192\$8\$10\$[\w-]{22}\$[\w-]{43}$/);
    assert.ok(!JSON.stringify(listAccounts(api.store, "group")).includes("acme-password-1"));
  });

  it("refuses a locked group, at login and with a token issued before", async () => {
    const admin = await api.adminToken();
    const beta = await api.tenant("beta");
    assert.equal(
      (await api.call("PUT", "/api/accounts/groups/beta", { token: admin, body: { locked: true } })).status,
      200,
    );
    const refused = await api.call("GET", `${API}/groups/beta/apps`, { token: beta });
    assert.equal(refused.status, 403);
    assert.match(refused.body.message ?? "", /locked/);
    // The right password gets the wrong password's answer: a locked account is no password oracle.
    const locked = await api.call("POST", "/api/tokens", { body: { group: "beta", password: "beta-password-1" } });
    const wrong = await api.call("POST", "/api/tokens", { body: { group: "beta", password: "not-the-password" } });
    assert.deepEqual([locked.status, locked.body.message], [wrong.status, wrong.body.message]);
    assert.equal(locked.status, 401);
    await api.call("PUT", "/api/accounts/groups/beta", { token: admin, body: { locked: false } });
    assert.equal((await api.call("GET", `${API}/groups/beta/apps`, { token: beta })).status, 200);
  });

  it("revokes earlier tokens when a password changes; a group changes its own password but cannot lock", async () => {
    const gamma = await api.tenant("gamma");
    assert.equal(
      (await api.call("PUT", "/api/accounts/groups/gamma", { token: gamma, body: { locked: true } })).status,
      403,
    );
    assert.equal(
      (await api.call("PUT", "/api/accounts/groups/acme", { token: gamma, body: { password: "stolen-password" } }))
        .status,
      403,
    );
    assert.equal(
      (await api.call("PUT", "/api/accounts/groups/gamma", { token: gamma, body: { password: "short" } })).status,
      422,
    );
    assert.equal(
      (await api.call("PUT", "/api/accounts/groups/gamma", { token: gamma, body: { password: "gamma-password-2" } }))
        .status,
      200,
    );
    assert.equal((await api.call("GET", "/api/whoami", { token: gamma })).status, 403);
    const fresh = await api.login({ group: "gamma" }, "gamma-password-2");
    assert.equal((await api.call("GET", "/api/whoami", { token: fresh })).body.name, "gamma");
  });

  it("lets only an admin list and manage accounts", async () => {
    assert.equal((await api.call("GET", "/api/accounts", { token: acme })).status, 403);
    const admin = await api.adminToken();
    const listed = await api.call("GET", "/api/accounts", { token: admin });
    assert.equal(listed.status, 200);
    assert.ok(!listed.text.includes("scrypt"), "hashes are never sent");
  });
});

describe("API server: groups as tenants", function () {
  this.timeout(20_000);
  let api: TestApi;
  let acme: string;
  let globex: string;
  let admin: string;

  before(async () => {
    api = await TestApi.start();
    acme = await api.tenant("acme");
    globex = await api.tenant("globex");
    admin = await api.adminToken();
    assert.equal(
      (
        await api.call("PUT", `${API}/groups/globex/apps/secret-app`, {
          token: globex,
          body: app("globex", "secret-app"),
        })
      ).status,
      201,
    );
    assert.equal(
      (await api.call("PUT", `${API}/groups/acme/apps/web`, { token: acme, body: app("acme", "web") })).status,
      201,
    );
  });
  after(() => api.stop());

  it("shows a group only its own objects", async () => {
    const names = (answer: { body: { items?: Array<{ kind: string; metadata: { name: string } }> } }): string[] =>
      (answer.body.items ?? []).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(names(await api.call("GET", `${API}/objects`, { token: acme })), ["App/web", "Group/acme"]);
    assert.deepEqual(names(await api.call("GET", `${API}/apps`, { token: acme })), ["App/web"]);
    assert.deepEqual(names(await api.call("GET", `${API}/groups`, { token: acme })), ["Group/acme"]);
    assert.deepEqual(names(await api.call("GET", `${API}/objects`, { token: admin })), [
      "App/secret-app",
      "App/web",
      "Group/acme",
      "Group/globex",
    ]);
  });

  it("refuses reads of another group's objects", async () => {
    for (const path of [
      `${API}/groups/globex/apps/secret-app`,
      `${API}/groups/globex/apps`,
      `${API}/groups/globex`,
      `${API}/groups/globex/apps/secret-app/events`,
      `${API}/groups/globex/apps?watch=true`,
      `${API}/groups/globex/apps/missing`,
      `${API}/groups/globex/apps/missing/events`,
      `${API}/groups/globex/events`,
    ]) {
      const answer = await api.call("GET", path, { token: acme });
      assert.equal(answer.status, 403, `${path}: ${answer.text}`);
      assert.ok(!answer.text.includes("example/web"), "nothing of the object leaks");
    }
  });

  it("refuses writes to another group, in one object or in a batch, and stores nothing of the batch", async () => {
    assert.equal(
      (
        await api.call("PUT", `${API}/groups/globex/apps/secret-app`, {
          token: acme,
          body: app("globex", "secret-app", "  replicas: 5\n"),
        })
      ).status,
      403,
    );
    assert.equal((await api.call("DELETE", `${API}/groups/globex/apps/secret-app`, { token: acme })).status, 403);
    const batch = await api.call("POST", `${API}/apply`, {
      token: acme,
      body: `${app("acme", "fine")}---\n${app("globex", "sneaky")}`,
    });
    assert.equal(batch.status, 403);
    assert.equal(api.store.get("App/acme/fine"), undefined);
    assert.equal(api.store.get("App/globex/sneaky"), undefined);
    const stored = api.store.get("App/globex/secret-app");
    assert.equal(stored?.kind === "App" ? stored.spec.replicas : "?", undefined, "the other group's app is unchanged");
  });

  it("lets a group write apps and services, not its quota or its group", async () => {
    const quota =
      "apiVersion: airloft.dev/v1alpha1\nkind: Quota\nmetadata:\n  name: limits\n  group: acme\nspec:\n  hard:\n    apps: 100\n";
    assert.equal((await api.call("POST", `${API}/apply`, { token: acme, body: quota })).status, 403);
    assert.equal((await api.call("PUT", `${API}/groups/acme`, { token: acme, body: group("acme") })).status, 403);
    assert.equal((await api.call("DELETE", `${API}/groups/acme`, { token: acme })).status, 403);
    assert.equal(
      (await api.call("POST", `${API}/apply`, { token: admin, body: quota })).status,
      200,
      "an admin sets the quota",
    );
    assert.equal(
      (await api.call("GET", `${API}/groups/acme/quotas/limits`, { token: acme })).status,
      200,
      "the group reads it",
    );
  });

  it("lets an admin do everything, across groups", async () => {
    assert.equal(
      (
        await api.call("PUT", `${API}/groups/globex/apps/secret-app`, {
          token: admin,
          body: app("globex", "secret-app", "  replicas: 2\n"),
        })
      ).status,
      200,
    );
    assert.equal((await api.call("GET", `${API}/groups/globex/apps/secret-app`, { token: admin })).status, 200);
    const deleted = await api.call("DELETE", `${API}/groups/globex?cascade=true`, { token: admin });
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body.changes?.map((c) => c.display).sort(), ["app/globex/secret-app", "group/globex"]);
  });

  it("forgets a group's account once the group is gone", async () => {
    const token = await api.tenant("gone");
    assert.ok(accountOf(api.store, "group", "gone"));
    assert.equal((await api.call("DELETE", `${API}/groups/gone`, { token: admin })).status, 200);
    assert.ok(accountOf(api.store, "group", "gone"), "kept while the group is being deleted");
    await api.store.removeFinalizer("Group//gone", "airloft.dev/infrastructure");
    await api.store.flush();
    assert.equal(accountOf(api.store, "group", "gone"), undefined);
    assert.equal((await api.call("GET", "/api/whoami", { token })).status, 403);
    assert.equal(
      (await api.call("POST", "/api/tokens", { body: { group: "gone", password: "gone-password-1" } })).status,
      401,
    );
  });
});
