/**
 * What an open watch listing holds while its client does not read: a group of `objects` apps,
 * `listings` watches of it by its own tenant on raw sockets that read the first bytes and then
 * stop, and the server's heapUsed (after a full GC) against the same process before they opened.
 * Everything runs in this one process, so the figure includes the clients' sockets; compare runs.
 * With `churn`, an app is added before each watch opens, so that no two listings share a key list.
 * Usage: node --expose-gc --import tsx bench/watch-listing-memory.ts [objects=20000] [listings=100] [churn]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../src/log.js";
import { API_PREFIX } from "../src/resources/kinds.js";
import { ApiServer } from "../src/server/server.js";
import { audienceOf, TokenService } from "../src/server/tokens.js";
import { Store } from "../src/store/store.js";
import { dockerGroup, loaded } from "./lib/manifests.js";
import { round } from "./lib/measure.js";

const objects = Number(process.argv[2] ?? 20_000);
const listings = Number(process.argv[3] ?? 100);
const churn = process.argv[4] === "churn";
const GROUP = "big";
const PASSWORD = "bench-password-1";
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

const dir = mkdtempSync(join(tmpdir(), "airloft-listing-memory-"));
const store = await Store.open(join(dir, "state.json"), { write: true, command: "bench" });
const apps = Array.from({ length: objects - 1 }, (_, i) =>
  loaded({ kind: "App", metadata: { name: `app-${i}`, group: GROUP }, spec: { image: "example/app:1", port: 8080 } }),
);
await store.apply([dockerGroup(GROUP), ...apps]);
const server = new ApiServer({
  store,
  tokens: new TokenService(randomBytes(32), audienceOf(store.instanceId), 3600),
  log: createLogger({ level: "error" }),
  limits: { maxWatchesPerAccount: listings },
});
await server.accounts.bootstrap({ AIRLOFT_ADMIN_PASSWORD: PASSWORD });
const url = new URL(await server.listen(0, "127.0.0.1"));

const post = async (path: string, body: object, token?: string, method = "POST") => {
  const res = await fetch(new URL(path, url), {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { token?: string };
};
const admin = (await post("/api/tokens", { admin: "admin", password: PASSWORD })).token ?? "";
await post(`/api/accounts/groups/${GROUP}`, { password: PASSWORD }, admin, "PUT");
const token = (await post("/api/tokens", { group: GROUP, password: PASSWORD })).token ?? "";

/** A watch whose client reads its first bytes, then nothing more. */
function stalledWatch(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), "127.0.0.1", () =>
      socket.write(
        `GET ${API_PREFIX}/groups/${GROUP}/apps?watch=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      ),
    );
    socket.once("error", reject);
    socket.once("data", () => {
      socket.pause();
      resolve(socket);
    });
  });
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 25));
  gc();
  return process.memoryUsage().heapUsed;
};
const before = await settle();
const sockets: Socket[] = [];
for (let i = 0; i < listings; i++) {
  if (churn)
    await store.apply([loaded({ kind: "App", metadata: { name: `new-${i}`, group: GROUP }, spec: { image: "x:1" } })]);
  sockets.push(await stalledWatch());
}
const after = await settle();
const perListing = (after - before) / listings;
process.stdout.write(
  `${objects} objects, ${listings} stalled listings${churn ? " (an apply before each)" : ""}: heapUsed ${round(before / 2 ** 20, 1)} -> ${round(after / 2 ** 20, 1)} MiB, ` +
    `${round(perListing / 1024, 1)} KiB per listing (${round(perListing / objects, 1)} bytes per object per listing)\n`,
);
for (const socket of sockets) socket.destroy();
await server.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
