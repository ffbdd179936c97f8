import assert from "node:assert/strict";
import { randomBytes, scrypt } from "node:crypto";
import { TokenService } from "../../src/server/tokens.js";
import { VerifiedTokens } from "../../src/server/verified-tokens.js";

const principal = { kind: "group" as const, name: "acme", uid: "u-1", version: 1 };

describe("API server: tokens verified once", () => {
  it("answers a token verified before without the thread pool, even while every pool thread hashes", async () => {
    const tokens = new TokenService(randomBytes(32), "airloft:test", 3600);
    const { token } = await tokens.issue(principal);
    await tokens.verify(token);
    // libuv's pool has 4 threads by default: fill them with password hashes.
    const hashed: number[] = [];
    for (let i = 0; i < 4; i++)
      scrypt("guess", "salt", 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 }, () => hashed.push(i));
    const again = await tokens.verify(token);
    assert.deepEqual(again, principal);
    assert.equal(hashed.length, 0, "the second check waited for the hashes");
  });

  it("still refuses a cached token once it has expired, and a changed one", async () => {
    let now = Date.UTC(2026, 10, 30);
    const tokens = new TokenService(randomBytes(32), "airloft:test", 60, () => now);
    const { token } = await tokens.issue(principal);
    await tokens.verify(token);
    const [head, body, signature = ""] = token.split(".");
    const flipped = `${head}.${body}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    await assert.rejects(tokens.verify(flipped), /signature/);
    now += 91_000; // past the expiry and the 30 s clock tolerance
    await assert.rejects(tokens.verify(token), /expired/);
  });

  it("keeps at most its bound of tokens, dropping the oldest", () => {
    const cache = new VerifiedTokens<string>(2);
    cache.add("a", "A", 10);
    cache.add("b", "B", 10);
    cache.add("c", "C", 10);
    assert.equal(cache.size, 2);
    assert.equal(cache.get("a", 0), undefined);
    assert.equal(cache.get("c", 0), "C");
    assert.equal(cache.get("c", 10), undefined, "an entry at its expiry is gone");
  });
});
