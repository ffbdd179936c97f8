import assert from "node:assert/strict";
import { connect } from "node:net";
import { RemoteClient } from "../../src/cli/client/remote.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { LogOptions } from "../../src/providers/types.js";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import type { App, Group, Service } from "../../src/resources/types.js";
import type { LoopAccess } from "../../src/server/control-api.js";
import { FakeProvider } from "../../support/fake-provider.js";
import { app, TestApi } from "../support/api.js";

const LINE = "x".repeat(1000);

/** The fake provider with scripted output, by object name; it counts what is open and what it produced. */
class LogFake extends FakeProvider {
  open = 0;
  produced = 0;
  aborted = 0;
  last: Omit<LogOptions, "write" | "signal"> | undefined;

  override async logs(obj: App | Service, _group: Group, options: LogOptions): Promise<void> {
    const { follow, tail, since } = options;
    this.last = { follow, ...(tail !== undefined ? { tail } : {}), ...(since ? { since } : {}) };
    this.open += 1;
    try {
      await this.script(obj.metadata.name, options);
    } finally {
      this.open -= 1;
      if (options.signal?.aborted) this.aborted += 1;
    }
  }

  private async script(name: string, options: LogOptions): Promise<void> {
    const { signal } = options;
    if (name === "web" || name === "db") {
      for (const replica of [0, 1]) for (const n of [1, 2]) await options.write(`${name}-${replica}`, `line ${n}`);
      return;
    }
    if (name === "fails") {
      await options.write("fails-0", "started");
      throw new Error("the engine went away");
    }
    if (name === "follow") {
      await options.write("follow-0", "hello");
      if (!signal?.aborted) await new Promise((resolve) => signal?.addEventListener("abort", resolve, { once: true }));
      return;
    }
    // "flood": as much as the writes take, up to 200 MB.
    while (!signal?.aborted && this.produced < 200_000) {
      await options.write("flood-0", LINE);
      this.produced += 1;
    }
  }
}

/** GET .../logs read whole: the status and the JSON lines. */
async function readLogs(url: string, token: string): Promise<{ status: number; lines: Array<Record<string, string>> }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (!res.ok) return { status: res.status, lines: [JSON.parse(text) as Record<string, string>] };
  return { status: res.status, lines: text.split("\n").flatMap((l) => (l ? [JSON.parse(l)] : [])) };
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const service = (group: string, name: string): string =>
  `apiVersion: airloft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: ${name}\n  group: ${group}\nspec:\n  template: redis\n`;

describe("logs through the API (hostile tenants)", function () {
  this.timeout(30_000);
  let api: TestApi;
  let fake: LogFake;
  let acme: string;
  let globex: string;
  let admin: string;
  const logsUrl = (path: string): string => `${api.url}${API}/groups/${path}`;

  before(async () => {
    fake = new LogFake();
    const loop: LoopAccess = {
      providers: new ProviderRegistry({ instanceId: "i", docker: fake }),
      control: () => Promise.reject(new Error("no loop")),
    };
    api = await TestApi.start({
      loop,
      limits: { maxLogStreamsPerAccount: 2, logStallMs: 1000, logBytesPerSecond: 64 * 1024, logBurstBytes: 256 * 1024 },
    });
    admin = await api.adminToken();
    acme = await api.tenant("acme");
    globex = await api.tenant("globex");
    const manifests = ["web", "fails", "follow", "flood"].map((n) => app("acme", n)).join("---\n");
    const applied = await api.call("POST", `${API}/apply`, {
      token: acme,
      body: `${manifests}---\n${service("acme", "db")}`,
    });
    assert.equal(applied.status, 200, applied.text);
  });
  after(async () => {
    await api.stop();
  });

  it("streams every replica's lines, each with its replica, to the object's own group (apps and services)", async () => {
    for (const [path, name] of [
      ["acme/apps/web/logs", "web"],
      ["acme/services/db/logs", "db"],
    ] as const) {
      const { status, lines } = await readLogs(logsUrl(path), acme);
      assert.equal(status, 200);
      assert.deepEqual(
        lines.map((l) => `${l.replica} ${l.line}`),
        [`${name}-0 line 1`, `${name}-0 line 2`, `${name}-1 line 1`, `${name}-1 line 2`],
      );
    }
    assert.equal((await readLogs(logsUrl("acme/apps/web/logs"), admin)).status, 200);
  });

  it("passes follow, tail and since to the provider, checked", async () => {
    const before = Date.now();
    assert.equal((await readLogs(logsUrl("acme/apps/web/logs?tail=5&since=10m&follow=false"), acme)).status, 200);
    assert.equal(fake.last?.tail, 5);
    assert.equal(fake.last?.follow, false);
    const since = fake.last?.since?.getTime() ?? 0;
    assert.ok(since <= before - 600_000 + 1000 && since > before - 700_000, String(fake.last?.since));
    await readLogs(logsUrl("acme/apps/web/logs?since=2026-11-30T15:00:00Z"), acme);
    assert.equal(fake.last?.since?.toISOString(), "2026-11-30T15:00:00.000Z");
  });

  it("refuses another group's objects with 403 before looking them up, and unknown ones with 404", async () => {
    const other = await readLogs(logsUrl("acme/apps/web/logs"), globex);
    assert.equal(other.status, 403);
    assert.equal((await readLogs(logsUrl("acme/apps/nothing-here/logs"), globex)).status, 403);
    assert.equal((await readLogs(logsUrl("acme/apps/nothing-here/logs"), acme)).status, 404);
    assert.equal((await readLogs(logsUrl("acme/services/web/logs"), acme)).status, 404);
    assert.equal((await readLogs(logsUrl("acme/quotas/web/logs"), acme)).status, 404);
    assert.equal((await readLogs(logsUrl("acme/groups/acme/logs"), acme)).status, 404);
    assert.equal((await readLogs(logsUrl("acme/apps/web/logs"), "not-a-token")).status, 401);
    const posted = await fetch(logsUrl("acme/apps/web/logs"), {
      method: "POST",
      headers: { authorization: `Bearer ${acme}` },
    });
    assert.equal(posted.status, 405);
  });

  it("answers path tricks with 404 or 400, never another group's logs", async () => {
    for (const path of [
      "acme/apps/..%2F..%2Fglobex%2Fapps%2Fweb/logs",
      "acme/apps/web%2F..%2Fweb/logs",
      "acme/apps/%2e%2e/logs",
      "acme/apps/web/logs/more",
      `acme/apps/${"a".repeat(5000)}/logs`,
    ]) {
      const { status } = await readLogs(logsUrl(path), acme);
      assert.ok(status === 404 || status === 400, `${path}: ${status}`);
    }
    assert.equal((await readLogs(logsUrl("acme/apps/%E0%A4%A/logs"), acme)).status, 400);
    assert.equal((await readLogs(logsUrl("globex%2F..%2Facme/apps/web/logs"), globex)).status, 403);
  });

  it("answers malformed parameters with 400 and a clear message", async () => {
    for (const [query, message] of [
      ["tail=-1", /tail is a number of lines from 0 to 10000/],
      ["tail=abc", /tail/],
      ["tail=10001", /tail/],
      ["tail=99999999999999999999", /tail/],
      ["since=yesterday", /since is a time/],
      ["since=99999999h", /since/],
      ["since=2026-13-45T99:99:99Z", /since/],
      ["follow=maybe", /follow is true or false/],
    ] as const) {
      const { status, lines } = await readLogs(logsUrl(`acme/apps/web/logs?${query}`), acme);
      assert.equal(status, 400, query);
      assert.match(lines[0]?.message ?? "", message, query);
    }
  });

  it("a failure after the first line ends the stream with an error line", async () => {
    const { status, lines } = await readLogs(logsUrl("acme/apps/fails/logs"), acme);
    assert.equal(status, 200);
    assert.deepEqual(lines, [{ replica: "fails-0", line: "started" }, { error: "the engine went away" }]);
  });

  it("stops the provider's stream as soon as the client disconnects", async () => {
    const stop = new AbortController();
    const res = await fetch(logsUrl("acme/apps/follow/logs?follow=true"), {
      headers: { authorization: `Bearer ${acme}` },
      signal: stop.signal,
    });
    const reader = res.body?.getReader();
    assert.ok(reader);
    assert.match(new TextDecoder().decode((await reader.read()).value), /"line":"hello"/);
    assert.equal(fake.open, 1);
    const abortedBefore = fake.aborted;
    stop.abort();
    await until("the provider's stream to end", () => fake.open === 0);
    assert.equal(fake.aborted, abortedBefore + 1);
    await until("the server to forget the stream", () => api.server.logs.count === 0);
  });

  it("caps the open log streams of one account with 429; other accounts and closed slots are not held", async () => {
    const open = async (token: string): Promise<{ status: number; stop: AbortController; text: string }> => {
      const stop = new AbortController();
      const res = await fetch(logsUrl("acme/apps/follow/logs?follow=true"), {
        headers: { authorization: `Bearer ${token}` },
        signal: stop.signal,
      });
      return { status: res.status, stop, text: res.ok ? "" : await res.text() };
    };
    const first = await open(acme);
    const second = await open(acme);
    const third = await open(acme);
    assert.deepEqual([first.status, second.status, third.status], [200, 200, 429]);
    assert.match(third.text, /group acme has 2 log streams open, the most one account may have; close one first/);
    const byAdmin = await open(admin);
    assert.equal(byAdmin.status, 200, "admins are not counted");
    first.stop.abort();
    await until("the slot to be free", () => api.server.logs.count === 2);
    const again = await open(acme);
    assert.equal(again.status, 200);
    for (const s of [second, byAdmin, again]) s.stop.abort();
    await until("every stream to end", () => api.server.logs.count === 0 && fake.open === 0);
  });

  it("a client that stops reading holds back the provider (no unbounded buffering), and is cut after the stall limit", async () => {
    fake.produced = 0;
    const url = new URL(logsUrl("acme/apps/flood/logs?follow=true"));
    const socket = connect(Number(url.port), url.hostname);
    // A raw client that sends its request and never reads a byte.
    socket.pause();
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\n\r\n`);
    await until("the stream to open", () => fake.open === 1);
    await until("the stall limit to cut the client", () => fake.open === 0, 20_000);
    socket.destroy();
    // Without backpressure all 200,000 lines (200 MB) would have been produced into memory.
    const bytes = fake.produced * LINE.length;
    assert.ok(bytes < 16 * 1024 * 1024, `the provider produced ${bytes} bytes for a client that read nothing`);
    assert.ok(fake.produced < 200_000);
  });

  it("one tenant's flood is held to its byte budget, and another tenant is answered meanwhile", async () => {
    fake.produced = 0;
    const stop = new AbortController();
    const started = Date.now();
    const res = await fetch(logsUrl("acme/apps/flood/logs?follow=true"), {
      headers: { authorization: `Bearer ${acme}` },
      signal: stop.signal,
    });
    let received = 0;
    const reading = (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
      } catch {
        // aborted
      }
    })();
    const other = await readLogs(logsUrl("globex/apps/web/logs"), globex);
    assert.equal(other.status, 404, "globex has no app web: answered at once all the same");
    await new Promise((r) => setTimeout(r, 500));
    const elapsed = (Date.now() - started) / 1000;
    stop.abort();
    await reading;
    // At most the burst, the rate for the time it ran, and one line in flight.
    const allowed = 256 * 1024 + 64 * 1024 * elapsed + 2 * LINE.length + 100;
    assert.ok(received > 0, "the flood is served");
    assert.ok(received <= allowed, `${received} bytes sent in ${elapsed}s, more than the budget's ${allowed}`);
    await until("the flood to stop", () => fake.open === 0);
  });

  it("the remote client reads the stream, and turns an error line into an error", async () => {
    const client = new RemoteClient(api.url, { AIRLOFT_TOKEN: acme });
    const web = await client.find({ kind: "App", name: "web", group: "acme" });
    const seen: string[] = [];
    const signal = new AbortController().signal;
    assert.ok(web.kind === "App");
    await client.logs(web, { follow: false, signal, write: (r, l) => void seen.push(`${r} | ${l}`) });
    assert.equal(seen.length, 4);
    assert.equal(seen[0], "web-0 | line 1");
    const fails = await client.find({ kind: "App", name: "fails", group: "acme" });
    assert.ok(fails.kind === "App");
    await assert.rejects(client.logs(fails, { follow: false, signal, write: () => undefined }), /the engine went away/);
  });

  it("locking an account ends its open log streams at once", async () => {
    const initech = await api.tenant("initech");
    assert.equal(
      (await api.call("POST", `${API}/apply`, { token: initech, body: app("initech", "follow") })).status,
      200,
    );
    const stop = new AbortController();
    const res = await fetch(logsUrl("initech/apps/follow/logs?follow=true"), {
      headers: { authorization: `Bearer ${initech}` },
      signal: stop.signal,
    });
    assert.equal(res.status, 200);
    await until("the stream to open", () => fake.open === 1);
    const locked = await api.call("PUT", "/api/accounts/groups/initech", { token: admin, body: { locked: true } });
    assert.equal(locked.status, 200, locked.text);
    await until("the locked account's stream to end", () => fake.open === 0);
    assert.match(await res.text(), /"line":"hello"/);
  });
});
