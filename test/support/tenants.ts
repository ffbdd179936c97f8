import { strict as assert } from "node:assert";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { ServeProcess } from "./serve.js";

/** Applies each group's manifest as the admin, gives the group an account, and returns its token by group. */
export async function groupTokens(
  server: ServeProcess,
  admin: string,
  groups: readonly string[],
  manifest: (group: string) => string,
): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const g of groups) {
    assert.equal((await server.api("POST", `${API_PREFIX}/apply`, admin, manifest(g))).status, 200);
    const res = await fetch(`${server.url}/api/accounts/groups/${g}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ password: `${g}-password-1` }),
    });
    assert.ok(res.ok, await res.text());
    tokens[g] = await server.token({ group: g }, `${g}-password-1`);
  }
  return tokens;
}

/** The first truthy answer of `check`, asked every 200 ms, or an error past the timeout. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
