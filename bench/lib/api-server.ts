/**
 * The API server alone (store and HTTP, no controllers), for bench/api.ts: what is measured is
 * the API, not a provider. Prints its URL, then serves until killed.
 * Usage: npx tsx bench/lib/api-server.ts STATE_FILE
 */
import { randomBytes } from "node:crypto";
import { createLogger } from "../../src/log.js";
import { ApiServer } from "../../src/server/server.js";
import { audienceOf, TokenService } from "../../src/server/tokens.js";
import { Store } from "../../src/store/store.js";

const [statePath] = process.argv.slice(2);
if (!statePath) throw new Error("usage: api-server.ts STATE_FILE");
const store = await Store.open(statePath, { write: true, command: "bench api server" });
const server = new ApiServer({
  store,
  tokens: new TokenService(randomBytes(32), audienceOf(store.instanceId), 3600),
  log: createLogger({ level: "error" }),
  maxBodyBytes: 8 << 20,
});
await server.accounts.bootstrap({
  AIRLOFT_ADMIN_PASSWORD: process.env.AIRLOFT_ADMIN_PASSWORD ?? "bench-admin-password",
});
process.stdout.write(`${await server.listen(0, "127.0.0.1")}\n`);
process.on(
  "SIGTERM",
  () =>
    void server
      .close()
      .then(() => store.close())
      .then(() => process.exit(0)),
);
