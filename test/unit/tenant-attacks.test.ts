import assert from "node:assert/strict";
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_PREFIX as API, objectKey } from "../../src/resources/kinds.js";
import { accountOf, listAccounts } from "../../src/server/account-records.js";
import { Accounts } from "../../src/server/accounts.js";
import { FINALIZER } from "../../src/store/store.js";
import { writePrivateFile } from "../../src/util/private-file.js";
import { ADMIN_PASSWORD, app, TestApi } from "../support/api.js";
import { ServeProcess } from "../support/serve.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

/**
 * Issue 13: the attacks a hostile tenant ran against `airloft serve`, each replayed against a real
 * server over a real store. Each failed before its fix.
 */

/** A login sent from a chosen loopback source address (127.0.0.0/8 is all loopback). */
function loginFrom(
  url: string,
  localAddress: string,
  body: object,
): Promise<{ status: number; body: { token?: string; device?: string; message?: string } }> {
  const target = new URL("/api/tokens", url);
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "POST",
        localAddress,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString() || "{}") as { token?: string },
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

const count = (answers: ReadonlyArray<{ status: number }>, status: number): number =>
  answers.filter((a) => a.status === status).length;

describe("hostile tenants (issue 13)", function () {
  this.timeout(60_000);
  let api: TestApi;

  beforeEach(async () => {
    api = await TestApi.start({ loginLimits: { perAccount: 5, perAddress: 20, perDevice: 5 } });
  });
  afterEach(() => api.stop());

  it("1: two files of 1,000 nested brackets get a file:line:column error, and the server lives on", async () => {
    const acme = await api.tenant("acme");
    const deep = "[".repeat(1000) + "]".repeat(1000);
    for (let i = 0; i < 3; i++) {
      const answer = await api.call("POST", `${API}/apply`, {
        token: acme,
        body: {
          files: [
            { name: "a.yaml", content: deep },
            { name: "b.yaml", content: `x:\n${"- ".repeat(1000)}1\n` },
          ],
        },
      });
      assert.equal(answer.status, 422, answer.text);
      assert.deepEqual(
        answer.body.details?.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.message}`),
        [
          "a.yaml:1:64 nested more than 64 levels deep; a manifest needs a few",
          "b.yaml:2:127 nested more than 64 levels deep; a manifest needs a few",
        ],
      );
    }
    assert.equal((await api.call("GET", "/healthz")).status, 200);
  });

  it("1: an explicit key's value nested 50,000 levels (the review's evasion) is refused, and the server lives on", async () => {
    const acme = await api.tenant("acme");
    const deep = `? a\n: ${"- ".repeat(50_000)}1\n`;
    for (let i = 0; i < 3; i++) {
      const answer = await api.call("POST", `${API}/apply`, {
        token: acme,
        body: { files: [{ name: "a.yaml", content: deep }] },
      });
      assert.equal(answer.status, 422, answer.text);
      assert.match(answer.body.message ?? "", /a\.yaml:2:\d+ nested more than 64 levels deep/);
    }
    assert.equal((await api.call("GET", "/healthz")).status, 200);
  });

  it("3: a token of a group deleted with cascade does not work for the group made again under its name", async () => {
    const admin = await api.adminToken();
    const old = await api.tenant("acme");
    assert.equal(
      (await api.call("PUT", `${API}/groups/acme/apps/web`, { token: old, body: app("acme", "web") })).status,
      201,
    );
    assert.equal((await api.call("DELETE", `${API}/groups/acme?cascade=true`, { token: admin })).status, 200);
    // The controllers' part: the finalizers go once the infrastructure is gone.
    await api.store.removeFinalizer(objectKey("App", "acme", "web"), FINALIZER);
    await api.store.removeFinalizer(objectKey("Group", "", "acme"), FINALIZER);
    assert.equal(api.store.get(objectKey("Group", "", "acme")), undefined);
    // Another tenant gets the name, and an admin gives it a password.
    const fresh = await api.tenant("acme", "new-owner-password");
    assert.equal(
      (await api.call("PUT", `${API}/groups/acme/apps/secret`, { token: fresh, body: app("acme", "secret") })).status,
      201,
    );
    for (const [method, path] of [
      ["GET", `${API}/groups/acme/apps`],
      ["GET", `${API}/groups/acme/apps/secret`],
      ["PUT", `${API}/groups/acme/apps/evil`],
    ] as const) {
      const answer = await api.call(method, path, {
        token: old,
        ...(method === "PUT" ? { body: app("acme", "evil") } : {}),
      });
      assert.equal(answer.status, 403, `${method} ${path} with the old tenant's token: ${answer.text}`);
      assert.match(answer.body.message ?? "", /earlier group acme, which was deleted/);
    }
    assert.equal(api.store.get(objectKey("App", "acme", "evil")), undefined);
  });

  it("5: zero or tiny cpu and memory, in any spelling, cannot slip under a quota", async () => {
    const admin = await api.adminToken();
    const acme = await api.tenant("acme");
    const quota =
      "apiVersion: airloft.dev/v1alpha1\nkind: Quota\nmetadata: {name: default, group: acme}\nspec:\n  hard: {cpu: 2, memory: 2Gi}\n";
    assert.equal((await api.call("POST", `${API}/apply`, { token: admin, body: quota })).status, 200);
    const spellings: Array<[string, string]> = [
      ['"0m"', '"0"'],
      ["0.001", '"0Mi"'],
      ['"0.0"', '"1Ki"'],
      ['"5m"', "4194304"],
      ['"0"', '"0.000001Ti"'],
    ];
    for (const [cpu, memory] of spellings) {
      const apps = Array.from({ length: 40 }, (_, i) =>
        app("acme", `zero-${i}`, `  resources:\n    cpu: ${cpu}\n    memory: ${memory}\n`),
      ).join("---\n");
      const answer = await api.call("POST", `${API}/apply`, { token: acme, body: apps });
      assert.equal(answer.status, 422, `${cpu} ${memory}: ${answer.text}`);
      assert.ok(
        answer.body.details?.errors.some(
          (e) => /spec\.resources\.(cpu|memory)/.test(e.field) && /no limit at all/.test(e.message),
        ),
        answer.text,
      );
    }
    assert.equal(api.store.list({ group: "acme", kind: "App" }).length, 0);
  });

  it("6: 60 parallel guesses from one address are counted before hashing: at most the limit is checked", async () => {
    await api.tenant("acme");
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => loginFrom(api.url, "127.0.0.1", { group: "acme", password: "guess-guess" })),
    );
    assert.ok(count(answers, 401) <= 5, `${count(answers, 401)} guesses were checked`);
    assert.equal(count(answers, 401) + count(answers, 429), 60);
  });

  it("6: 20 source addresses give no more guesses on one account than one does", async () => {
    await api.tenant("acme");
    const answers = [];
    for (let round = 0; round < 5; round++) {
      answers.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            loginFrom(api.url, `127.0.0.${i + 2}`, { group: "acme", password: `guess-${round}-${i}` }),
          ),
        )),
      );
    }
    assert.ok(count(answers, 401) <= 5, `${count(answers, 401)} of 100 guesses were checked`);
  });

  it("6: the real user logs in with its device token while an attacker is locked out of the account", async () => {
    await api.tenant("acme");
    const first = await loginFrom(api.url, "127.0.0.1", { group: "acme", password: "acme-password-1" });
    assert.equal(first.status, 200);
    assert.ok(first.body.device);
    // The attacker, from the user's own address too, spends the account's budget and more.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => loginFrom(api.url, "127.0.0.1", { group: "acme", password: `guess-${i}` })),
    );
    assert.equal(
      (await loginFrom(api.url, "127.0.0.1", { group: "acme", password: "acme-password-1" })).status,
      429,
      "without its device token the user waits like anyone",
    );
    const again = await loginFrom(api.url, "127.0.0.1", {
      group: "acme",
      password: "acme-password-1",
      device: first.body.device,
    });
    assert.equal(again.status, 200, again.body.message);
    // A device token of another account, or an API token shown as one, is no device.
    const other = await api.tenant("beta");
    for (const device of [other, "x.y.z", first.body.token]) {
      assert.equal(
        (await loginFrom(api.url, "127.0.0.1", { group: "acme", password: "acme-password-1", device })).status,
        429,
      );
    }
  });

  it("6: a new password revokes the account's device tokens; logins with devices are limited per account too", async () => {
    await api.tenant("acme");
    const device = (await loginFrom(api.url, "127.0.0.1", { group: "acme", password: "acme-password-1" })).body.device;
    const admin = await api.adminToken();
    assert.equal(
      (await api.call("PUT", "/api/accounts/groups/acme", { token: admin, body: { password: "acme-password-2" } }))
        .status,
      200,
    );
    // The attacker who knew the old password and kept its device is an unknown client now.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        loginFrom(api.url, "127.0.0.1", { group: "acme", password: `guess-${i}`, device }),
      ),
    );
    assert.equal(
      (await loginFrom(api.url, "127.0.0.1", { group: "acme", password: "acme-password-2", device })).status,
      429,
    );
    // A tenant minting device tokens for itself cannot log in without end.
    const limited = await TestApi.start({
      loginLimits: { perAccount: 50, perAddress: 100, perDevice: 50, perAccountDevices: 4 },
    });
    try {
      await limited.tenant("beta");
      const devices = [];
      for (let i = 0; i < 3; i++)
        devices.push(
          (await loginFrom(limited.url, "127.0.0.1", { group: "beta", password: "beta-password-1" })).body.device,
        );
      const answers = await Promise.all(
        devices.flatMap((d) =>
          [1, 2].map(() =>
            loginFrom(limited.url, "127.0.0.1", { group: "beta", password: "beta-password-1", device: d }),
          ),
        ),
      );
      assert.equal(count(answers, 200), 4, "four logins with devices in a minute, whatever the number of devices");
    } finally {
      await limited.stop();
    }
  });

  it("6: random names from one address stop costing hashes past the address's limit; the real user still logs in", async () => {
    await api.tenant("acme");
    const device = (await loginFrom(api.url, "127.0.0.1", { group: "acme", password: "acme-password-1" })).body.device;
    const spray = Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        loginFrom(api.url, "127.0.0.9", { group: `nobody-${i}`, password: "guess-guess" }),
      ),
    );
    const real = await loginFrom(api.url, "127.0.0.1", { group: "acme", password: "acme-password-1", device });
    const answers = await spray;
    assert.equal(real.status, 200);
    assert.ok(count(answers, 401) <= 20, `${count(answers, 401)} unknown names were hashed`);
    assert.equal(count(answers, 401) + count(answers, 429), 64);
  });

  it("9: a one-object apply and /healthz are answered in the middle of another tenant's 3,000-object apply", async () => {
    const [evil, good] = [await api.tenant("evil"), await api.tenant("good")];
    const files = [0, 1, 2].map((f) => ({
      name: `bulk-${f}.yaml`,
      content: Array.from({ length: 1000 }, (_, i) => app("evil", `app-${f * 1000 + i}`)).join("\n---\n"),
    }));
    const stored = (): number => api.store.keysOf("evil").size;
    const bulk = api.call("POST", `${API}/apply`, { token: evil, body: { files } });
    // Once the bulk request is in, the good tenant's requests go in behind it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [put, health] = await Promise.all([
      api
        .call("PUT", `${API}/groups/good/apps/web`, { token: good, body: app("good", "web") })
        .then((a) => ({ ...a, evilStored: stored() })),
      api.call("GET", "/healthz").then((a) => ({ ...a, evilStored: stored() })),
    ]);
    assert.equal(put.status, 201, put.text);
    assert.equal(health.status, 200);
    // Before, the bulk apply was parsed in one stretch and stored before anything else was served.
    assert.equal(put.evilStored, 0, "the one-object apply waited for the whole bulk apply");
    assert.equal(health.evilStored, 0, "/healthz waited for the whole bulk apply");
    const answer = await bulk;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(stored(), 3000);
  });

  it("a tenant may not place an app on the swarm's managers, in any spelling; an admin may", async () => {
    const acme = await api.tenant("acme");
    const placed = (constraint: string) => app("acme", "pinned", `  placement:\n    constraints: ["${constraint}"]\n`);
    for (const constraint of ["node.role==manager", " node.role != worker ", "NODE.ROLE==Manager"]) {
      const refused = await api.call("PUT", `${API}/groups/acme/apps/pinned`, {
        token: acme,
        body: placed(constraint),
      });
      assert.equal(refused.status, 422, constraint);
      // Refused by the schema (spacing) or by the server's rule, never stored.
      assert.match(refused.body.details?.errors[0]?.field ?? "", /^spec\.placement\.constraints/);
    }
    const worker = await api.call("PUT", `${API}/groups/acme/apps/pinned`, {
      token: acme,
      body: placed("node.role==worker"),
    });
    assert.equal(worker.status, 201, worker.text);
    const admin = await api.adminToken();
    const byAdmin = await api.call("PUT", `${API}/groups/acme/apps/pinned`, {
      token: admin,
      body: placed("node.role==manager"),
    });
    assert.equal(byAdmin.status, 200, byAdmin.text);
  });

  it("a tenant publishes only on the addresses the server allows; an admin may choose", async () => {
    const acme = await api.tenant("acme");
    const exposed = app("acme", "web", "  publish:\n    hostIP: 0.0.0.0\n");
    const refused = await api.call("PUT", `${API}/groups/acme/apps/web`, { token: acme, body: exposed });
    assert.equal(refused.status, 422);
    assert.match(refused.body.details?.errors[0]?.message ?? "", /publish on 127\.0\.0\.1 only, not 0\.0\.0\.0/);
    assert.equal(refused.body.details?.errors[0]?.field, "spec.publish.hostIP");
    assert.equal(
      (
        await api.call("PUT", `${API}/groups/acme/apps/web`, {
          token: acme,
          body: app("acme", "web", "  publish:\n    hostIP: 127.0.0.1\n"),
        })
      ).status,
      201,
    );
    assert.equal(
      (await api.call("PUT", `${API}/groups/acme/apps/web`, { token: await api.adminToken(), body: exposed })).status,
      200,
    );
    // A server that gives tenants another address: leaving hostIP out does not fall back to loopback.
    const elsewhere = await TestApi.start({ tenantRules: { publishAddresses: ["10.0.0.5"] } });
    try {
      const token = await elsewhere.tenant("acme");
      const implicit = await elsewhere.call("PUT", `${API}/groups/acme/apps/web`, { token, body: app("acme", "web") });
      assert.equal(implicit.status, 422);
      assert.match(
        implicit.body.details?.errors[0]?.message ?? "",
        /not the default 127\.0\.0\.1; set spec\.publish\.hostIP/,
      );
      assert.equal(
        (
          await elsewhere.call("PUT", `${API}/groups/acme/apps/web`, {
            token,
            body: app("acme", "web", "  publish:\n    hostIP: 10.0.0.5\n"),
          })
        ).status,
        201,
      );
    } finally {
      await elsewhere.stop();
    }
  });

  it("a group named constructor is a name like any other (no plain-object lookups of user names)", async () => {
    const token = await api.tenant("constructor");
    assert.equal((await api.call("GET", "/api/whoami", { token })).body.name, "constructor");
    const admin = await api.adminToken();
    assert.equal(
      (await api.call("PUT", "/api/accounts/constructor/x", { token: admin, body: { password: "long-enough-1" } }))
        .status,
      404,
    );
  });
});

describe("server secrets on disk (issue 13)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "airloft-private-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("the initial admin password replaces a world-readable file, and never writes through a link", () => {
    const file = join(dir, "initial-admin-password");
    writeFileSync(file, "old\n", { mode: 0o644 });
    writePrivateFile(file, "secret\n");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, "utf8"), "secret\n");
    const target = join(dir, "elsewhere");
    writeFileSync(target, "untouched", { mode: 0o644 });
    rmSync(file);
    symlinkSync(target, file);
    writePrivateFile(file, "secret\n");
    assert.equal(readFileSync(target, "utf8"), "untouched");
    assert.ok(!lstatSync(file).isSymbolicLink());
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it("airloft serve writes the first admin's password through no link and keeps no earlier mode", async function () {
    this.timeout(60_000);
    const serve = new ServeProcess({ AIRLOFT_ADMIN_PASSWORD: "" });
    const target = join(dir, "victim");
    writeFileSync(target, "untouched", { mode: 0o644 });
    const file = join(serve.dir, "initial-admin-password");
    symlinkSync(target, file);
    try {
      await serve.start();
      assert.equal(readFileSync(target, "utf8"), "untouched");
      assert.ok(!lstatSync(file).isSymbolicLink());
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(readFileSync(file, "utf8"), /^[\w-]{20,}\n$/);
    } finally {
      await serve.stop();
      serve.remove();
    }
  });

  it("AIRLOFT_ADMIN_PASSWORD is held to the API's rule of 10 characters", async () => {
    const { dir: storeDir, store } = await openTempStore("airloft-admin-");
    const accounts = new Accounts(store);
    try {
      await assert.rejects(accounts.bootstrap({ AIRLOFT_ADMIN_PASSWORD: "a" }), /at least 10 characters/);
      assert.equal(listAccounts(store, "admin").length, 0);
      await accounts.bootstrap({ AIRLOFT_ADMIN_PASSWORD: ADMIN_PASSWORD });
      assert.equal(listAccounts(store, "admin").length, 1);
      assert.ok(accountOf(store, "admin", "admin")?.uid);
    } finally {
      accounts.close();
      await removeTempStore(store, storeDir);
    }
  });
});
