import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addListeners, closeListeners } from "../../src/server/accept-fanout.js";
import { TestApi } from "../support/api.js";

/**
 * A client in its own process: opens `count` connections, writes the flag file once all are
 * connected (the kernel completes them before the server accepts), then sends a request on each
 * and prints how many were answered.
 */
const CLIENT = `
const net = require("node:net"), fs = require("node:fs");
const [port, flag, count, path = "/"] = process.argv.slice(1);
let connected = 0, answered = 0;
for (let i = 0; i < Number(count); i++) {
  const socket = net.connect(Number(port), "127.0.0.1", () => {
    if (++connected === Number(count)) fs.writeFileSync(flag, "");
    socket.write("GET " + path + " HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n");
  });
  let text = "";
  socket.on("data", (d) => (text += d));
  socket.on("end", () => { if (text.includes("200 OK")) answered++; if (answered === Number(count)) console.log(answered); });
}`;

/** Holds the thread until the file exists (at most 10 s): the loop does not turn meanwhile. */
function holdUntil(file: string): void {
  const until = Date.now() + 10_000;
  while (!existsSync(file) && Date.now() < until);
  assert.ok(existsSync(file), "the client did not connect in 10 s");
}

/** A client that opens `count` connections, writes the flag once all are connected, sends nothing, and exits once the server has closed them all. */
const IDLE_CLIENT = `
const net = require("node:net"), fs = require("node:fs");
const [port, flag, count] = process.argv.slice(1);
let connected = 0, closed = 0;
for (let i = 0; i < Number(count); i++) {
  const socket = net.connect(Number(port), "127.0.0.1", () => { if (++connected === Number(count)) fs.writeFileSync(flag, ""); });
  socket.on("error", () => undefined);
  socket.on("close", () => { if (++closed === Number(count)) process.exit(0); });
}`;

describe("accept fanout (more descriptors of the listening socket)", function () {
  // Descriptors pass between processes over a Unix socket: on Linux only, where AirLoft serves.
  if (process.platform !== "linux") return;
  this.timeout(30_000);
  let dir: string;
  let server: Server;
  let extras: Awaited<ReturnType<typeof addListeners>> = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "airloft-fanout-"));
    server = createServer((_req, res) => res.end("ok"));
  });
  afterEach(async () => {
    for (const extra of extras) extra.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts CLIENT on 16 connections to `port`: `exited` resolves with the number it says were answered. */
  function startClient(port: number, flag: string, path = "/"): Promise<string> {
    const client = spawn(process.execPath, ["-e", CLIENT, String(port), flag, "16", path], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    client.stdout.on("data", (d: Buffer) => (output += d));
    return new Promise((resolve) => client.on("exit", () => resolve(output.trim())));
  }

  /** Lets 16 connections queue while the thread is held, then counts those accepted in the loop's next turn. */
  async function acceptedInOneTurn(): Promise<{ inOneTurn: number; answered: string }> {
    const flag = join(dir, "connected");
    const answered = startClient((server.address() as AddressInfo).port, flag);
    let accepted = 0;
    // The queued connections are accepted in the poll phase of the turn after the hold; the
    // immediate set at the first of them runs right after that phase.
    const inOneTurn = new Promise<number>((resolve) =>
      server.once("connection", () => setImmediate(() => resolve(accepted))),
    );
    server.on("connection", () => accepted++);
    holdUntil(flag);
    return { inOneTurn: await inOneTurn, answered: await answered };
  }

  it("accepts up to one connection per descriptor in a turn of the loop, and the server answers each", async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const failures: string[] = [];
    extras = await addListeners(server, 7, (message) => failures.push(message));
    assert.deepEqual(failures, []);
    assert.equal(extras.length, 7);
    const { inOneTurn, answered } = await acceptedInOneTurn();
    assert.equal(inOneTurn, 8, "one connection per descriptor, 8 descriptors");
    assert.equal(answered, "16", "every connection, through whichever descriptor, was the server's");
  });

  it("accepts one connection per turn on the server's one descriptor (what the extra ones are for)", async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    extras = await addListeners(server, 0);
    assert.equal(extras.length, 0);
    const { inOneTurn, answered } = await acceptedInOneTurn();
    assert.equal(inOneTurn, 1);
    assert.equal(answered, "16");
  });

  it("closes only once the connections the extra descriptors took have ended, as the server's own", async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    extras = await addListeners(server, 7);
    const port = (server.address() as AddressInfo).port;
    const flag = join(dir, "connected");
    const client = spawn(process.execPath, ["-e", IDLE_CLIENT, String(port), flag, "16"], { stdio: "ignore" });
    const exited = new Promise((resolve) => client.on("exit", resolve));
    let accepted = 0;
    const tookEight = new Promise<void>((resolve) => server.once("connection", () => setImmediate(() => resolve())));
    server.on("connection", () => accepted++);
    holdUntil(flag); // 16 queue: one turn takes 8, 7 of them through the extra descriptors
    await tookEight;
    let closed = false;
    const closing = Promise.all([closeListeners(extras), new Promise((resolve) => server.close(resolve))]).then(
      () => (closed = true),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(accepted >= 8);
    assert.equal(closed, false, "open connections hold the close, whichever descriptor took them");
    server.closeAllConnections(); // what ApiServer.close does after its grace period
    await closing;
    await exited;
    extras = [];
    server = createServer();
    server.listen(0, "127.0.0.1");
  });

  it("takes no more connections once the server and its extra descriptors are closed", async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    extras = await addListeners(server, 3);
    const port = (server.address() as AddressInfo).port;
    for (const extra of extras) extra.close();
    await new Promise((resolve) => server.close(resolve));
    assert.equal(await connectError(port), "ECONNREFUSED", "a descriptor left open would keep the socket listening");
    server = createServer(); // for afterEach
    server.listen(0, "127.0.0.1");
    extras = [];
  });

  it("serves the API through the extra descriptors, and its close leaves none of them listening", async () => {
    const api = await TestApi.start({ extraListeners: 7 });
    const port = Number(new URL(api.url).port);
    const flag = join(dir, "api-connected");
    const answered = startClient(port, flag, "/healthz");
    holdUntil(flag); // 16 queue while the thread is held: the extra descriptors take most of them
    assert.equal(await answered, "16");
    await api.stop();
    assert.equal(await connectError(port), "ECONNREFUSED");
  });
});

/** The error code of a connection to `port` on 127.0.0.1 ("connected" if one was made). */
function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}
