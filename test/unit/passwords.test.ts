import { strict as assert } from "node:assert";
import { randomBytes, scryptSync } from "node:crypto";
import { accountOf, accountsOf } from "../../src/server/account-records.js";
import { Accounts } from "../../src/server/accounts.js";
import { hashPassword, outdated, verifyPassword } from "../../src/server/passwords.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const MiB = 1024 * 1024;

/** A hash as the server made them before issue 13's abuse run: N=2^15, r=8, p=1 (32 MiB). */
function earlierHash(password: string): string {
  const salt = randomBytes(16);
  const N = 2 ** 15;
  const key = scryptSync(password, salt, 32, { N, r: 8, p: 1, maxmem: 128 * N * 8 * 2 });
  return ["scrypt", N, 8, 1, salt.toString("base64url"), key.toString("base64url")].join("$");
}

describe("password hashes", () => {
  it("hash at OWASP's 8 MiB scrypt setting (N=2^13, r=8, p=10), and only the right password matches", async () => {
    const stored = await hashPassword("right-password-1");
    const [scheme, N, r, p] = stored.split("$");
    assert.deepEqual([scheme, Number(N), Number(r), Number(p)], ["scrypt", 2 ** 13, 8, 10]);
    // scrypt's memory is 128 * N * r bytes, whatever p: a wrong login's hash holds this much.
    assert.ok(128 * Number(N) * Number(r) <= 8 * MiB);
    assert.equal(await verifyPassword("right-password-1", stored), true);
    assert.equal(await verifyPassword("right-password-2", stored), false);
    assert.equal(outdated(stored), false);
  });

  it("still verify a hash made at the earlier cost, which is outdated", async () => {
    const stored = earlierHash("right-password-1");
    assert.equal(await verifyPassword("right-password-1", stored), true);
    assert.equal(await verifyPassword("wrong-password", stored), false);
    assert.equal(outdated(stored), true);
  });

  it("are made again at the current cost on a login with the right password, and the account's tokens stay valid", async () => {
    const { store, dir } = await openTempStore("airloft-passwords-", { groupCommitMs: 0 });
    const accounts = new Accounts(store);
    try {
      await accounts.update("group", "acme", { password: "acme-password-1" });
      const made = accountOf(store, "group", "acme");
      assert.ok(made?.passwordHash);
      const before = { ...made, passwordHash: earlierHash("acme-password-1") };
      await accountsOf(store, "group").set("acme", before);

      assert.equal(await accounts.authenticate("group", "acme", "wrong-password"), undefined);
      assert.equal(
        accountOf(store, "group", "acme")?.passwordHash,
        before.passwordHash,
        "a wrong password changes nothing",
      );

      const principal = await accounts.authenticate("group", "acme", "acme-password-1");
      assert.equal(principal?.version, before.tokenVersion);
      const after = accountOf(store, "group", "acme");
      assert.ok(after?.passwordHash && !outdated(after.passwordHash), "stored again at the current cost");
      assert.equal(after.tokenVersion, before.tokenVersion);
      assert.equal(after.uid, before.uid);
      assert.equal(await verifyPassword("acme-password-1", after.passwordHash), true);
      assert.ok(principal && accounts.refusal(principal) === undefined, "a token of the login before is still good");
    } finally {
      accounts.close();
      await removeTempStore(store, dir);
    }
  });
});
