import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { ApiClient, type WatchLine } from "../../src/cli/remote/client.js";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { FINALIZER } from "../../src/store/store.js";
import { app, TestApi, WatchReader } from "../support/api.js";

/** Waits until `predicate` holds; fails after `timeoutMs` (a bound on a hang, never a measured time). */
async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Whether the server ends the stream, within a bound. */
async function endsByServer(watch: WatchReader, timeoutMs = 3000): Promise<boolean> {
  return Promise.race([
    watch.endedByServer().then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs)),
  ]);
}

/** An app whose manifest is about `bytes` long, in env values of 30,000 characters; `version` makes each one differ. */
function bigApp(group: string, name: string, bytes: number, version: number): string {
  const values = Array.from(
    { length: Math.ceil(bytes / 30_000) },
    (_, i) => `    FILLER_${i}: "${String(version).padStart(12, "0")}${"x".repeat(30_000 - 12)}"\n`,
  );
  return app(group, name, `  env:\n${values.join("")}`);
}

const names = (watch: WatchReader): string[] =>
  watch.lines.map((l) => `${l.type} ${l.object?.kind ?? ""}/${l.object?.metadata.name ?? ""}`);

describe("API server: watch streams end when their account may no longer act", function () {
  this.timeout(20_000);
  let api: TestApi;
  let admin: string;
  let acme: string;

  beforeEach(async () => {
    api = await TestApi.start();
    admin = await api.adminToken();
    acme = await api.tenant("acme");
  });
  afterEach(() => api.stop());

  async function openWatch(): Promise<WatchReader> {
    const watch = await WatchReader.open(`${api.url}${API}/objects?watch=true`, acme);
    await watch.waitFor((lines) => lines.some((l) => l.type === "BOOKMARK"));
    return watch;
  }

  const accountChanges: Array<[string, object, string]> = [
    ["the group is locked", { locked: true }, "the stream of a locked group ends"],
    ["its password changes", { password: "acme-password-2" }, "the stream of a revoked token ends"],
  ];
  for (const [when, change, why] of accountChanges) {
    it(`ends a group's stream when ${when}`, async () => {
      const watch = await openWatch();
      try {
        assert.equal((await api.call("PUT", "/api/accounts/groups/acme", { token: admin, body: change })).status, 200);
        await api.call("PUT", `${API}/groups/acme/apps/after-change`, {
          token: admin,
          body: app("acme", "after-change"),
        });
        assert.ok(await endsByServer(watch), why);
        assert.ok(!names(watch).includes("ADDED App/after-change"), names(watch).join(", "));
      } finally {
        await watch.close();
      }
    });
  }

  it("ends a group's stream when the group is deleted: the group made again under its name is someone else", async () => {
    const watch = await openWatch();
    try {
      assert.equal((await api.call("DELETE", `${API}/groups/acme?cascade=true`, { token: admin })).status, 200);
      await api.store.removeFinalizer("Group//acme", FINALIZER); // as the controller does once the infrastructure is gone
      const newcomer = await api.tenant("acme", "newcomer-password-1");
      assert.equal(
        (
          await api.call("PUT", `${API}/groups/acme/apps/newcomers-app`, {
            token: newcomer,
            body: app("acme", "newcomers-app"),
          })
        ).status,
        201,
      );
      assert.ok(await endsByServer(watch), "the old tenant's stream ends");
      const seen = names(watch);
      assert.ok(!seen.includes("ADDED App/newcomers-app"), seen.join(", "));
      assert.equal(seen.filter((l) => l === "ADDED Group/acme").length, 1, `only the listing's: ${seen.join(", ")}`);
    } finally {
      await watch.close();
    }
  });
});

describe("API server: watch stream lifetime", function () {
  this.timeout(20_000);
  let api: TestApi;

  afterEach(() => api.stop());

  it("ends a stream at its maximum lifetime, and the client resumes from its position", async () => {
    api = await TestApi.start({ limits: { watchMaxLifetimeMs: 40 } });
    const acme = await api.tenant("acme");
    const watch = await WatchReader.open(`${api.url}${API}/groups/acme/apps?watch=true`, acme);
    assert.ok(await endsByServer(watch), "the stream ends by itself");
    assert.deepEqual(
      watch.lines.map((l) => l.type),
      ["BOOKMARK"],
      "a clean end after the listing",
    );

    // The CLI's client: every stream ends after 40 ms; it resumes without listing again.
    let opened = 0;
    const serve = api.server.watches.serve.bind(api.server.watches);
    api.server.watches.serve = (...args) => {
      opened += 1;
      serve(...args);
    };
    const lines: WatchLine[] = [];
    const stop = new AbortController();
    const following = new ApiClient(api.url, { AIRLOFT_TOKEN: acme }).watch(
      `${API}/objects`,
      (line) => lines.push(line),
      stop.signal,
    );
    try {
      await until(() => opened >= 3, "the client opened a third stream");
      await api.call("PUT", `${API}/groups/acme/apps/late`, { token: acme, body: app("acme", "late") });
      await until(() => lines.some((l) => l.object?.metadata.name === "late"), "the change reached the client");
      const added = lines.filter((l) => l.type === "ADDED").map((l) => l.object?.metadata.name);
      assert.deepEqual(added, ["acme", "late"], "listed once, then each change once");
    } finally {
      stop.abort();
      await following;
    }
  });
});

describe("API server: what a tenant may hold", function () {
  this.timeout(60_000);
  let api: TestApi;

  afterEach(() => api.stop());

  it("keeps the watch history under its byte bound, however large the objects", async () => {
    const bound = 1024 * 1024;
    api = await TestApi.start({ limits: { watchHistoryBytes: bound } });
    const acme = await api.tenant("acme");
    let first = "";
    for (let version = 1; version <= 40; version++) {
      const answer = await api.call("PUT", `${API}/groups/acme/apps/big`, {
        token: acme,
        body: bigApp("acme", "big", 200_000, version),
      });
      assert.ok(answer.status === 200 || answer.status === 201, answer.text);
      first ||= answer.body.metadata?.resourceVersion ?? "";
      assert.ok(api.server.hub.retained.bytes <= bound, `${api.server.hub.retained.bytes} bytes kept`);
    }
    const { events, bytes } = api.server.hub.retained;
    assert.ok(events >= 4 && events < 40, `${events} changes kept, ${bytes} bytes`);
    // The oldest changes are gone: resuming from before them is 410; from the newest kept, it works.
    assert.equal(
      (await api.call("GET", `${API}/groups/acme/apps?watch=true&resourceVersion=${first}`, { token: acme })).status,
      410,
    );
    const recent = await WatchReader.open(
      `${api.url}${API}/groups/acme/apps?watch=true&resourceVersion=${Number(api.server.hub.current) - 2}`,
      acme,
    );
    try {
      await recent.waitFor((lines) => lines.length === 2);
    } finally {
      await recent.close();
    }
  });

  it("holds one account's watch streams to its byte budget together; an admin's are not held", async () => {
    // 64 KiB a second after 64 KiB: 2,000 apps (about 600 KB of listing) would take seconds.
    api = await TestApi.start({ limits: { watchBytesPerSecond: 64 * 1024, watchBurstBytes: 64 * 1024 } });
    const acme = await api.tenant("acme");
    const file = (f: number) => ({
      name: `apps-${f}.yaml`,
      content: Array.from({ length: 1000 }, (_, i) =>
        app("acme", `app-${f}-${i}`, `  env:\n    PAD: ${"x".repeat(200)}\n`),
      ).join("---\n"),
    });
    const applied = await api.call("POST", `${API}/apply`, {
      token: await api.adminToken(),
      body: { files: [file(0), file(1)] },
    });
    assert.equal(applied.status, 200, applied.text);
    const watches = await Promise.all(
      [0, 1, 2].map(() => WatchReader.open(`${api.url}${API}/groups/acme/apps?watch=true`, acme)),
    );
    const admin = await WatchReader.open(`${api.url}${API}/groups/acme/apps?watch=true`, await api.adminToken());
    try {
      await admin.waitFor((lines) => lines.some((l) => l.type === "BOOKMARK"), 30_000);
      const received = watches.reduce((sum, w) => sum + w.lines.length, 0);
      // Whatever the machine's speed: the budget lets through about 64 KiB plus 64 KiB a second.
      assert.ok(
        received < 2000,
        `the tenant's three streams got ${received} lines while the admin's got its whole listing`,
      );
    } finally {
      await Promise.all([...watches, admin].map((w) => w.close()));
    }
  });

  it("disconnects a watcher that never reads once it is behind by more than the limit", async () => {
    api = await TestApi.start({ limits: { watchMaxBehindBytes: 256 * 1024 } });
    const acme = await api.tenant("acme");
    const url = new URL(api.url);
    const socket: Socket = connect(Number(url.port), url.hostname);
    socket.on("error", () => undefined);
    socket.write(
      `GET ${API}/groups/acme/apps?watch=true HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${acme}\r\n\r\n`,
    );
    socket.pause(); // never reads: the kernel's buffers fill, then the server's
    try {
      await until(() => api.server.watches.count === 1, "the stream is open");
      let updates = 0;
      // Each change is about 100 KB: the loopback's buffers take a few MB before the server's fill.
      while (api.server.watches.count > 0 && updates < 400) {
        updates += 1;
        await api.call("PUT", `${API}/groups/acme/apps/big`, {
          token: acme,
          body: bigApp("acme", "big", 100_000, updates),
        });
      }
      await until(
        () => api.server.watches.count === 0,
        `the stream's connection is released (after ${updates} changes)`,
      );
    } finally {
      socket.destroy();
    }
  });

  it("refuses a tenant's 21st open watch with 429; an admin is not counted", async () => {
    api = await TestApi.start();
    const acme = await api.tenant("acme");
    const admin = await api.adminToken();
    const watches: WatchReader[] = [];
    try {
      for (let i = 0; i < 20; i++)
        watches.push(await WatchReader.open(`${api.url}${API}/groups/acme/apps?watch=true`, acme));
      assert.deepEqual(new Set(watches.map((w) => w.status)), new Set([200]));
      const refused = await api.call("GET", `${API}/objects?watch=true`, { token: acme });
      assert.equal(refused.status, 429, refused.text);
      assert.match(refused.body.message ?? "", /group acme has 20 watch streams open/);
      for (let i = 0; i < 21; i++) watches.push(await WatchReader.open(`${api.url}${API}/objects?watch=true`, admin));
      assert.ok(
        watches.every((w) => w.status === 200),
        "an admin's watches are not limited",
      );
      // One closed: the tenant may open another.
      await watches[0]?.close();
      await until(() => api.server.watches.count === 40, "the closed stream is released");
      const again = await WatchReader.open(`${api.url}${API}/groups/acme/apps?watch=true`, acme);
      watches.push(again);
      assert.equal(again.status, 200);
    } finally {
      await Promise.all(watches.map((w) => w.close()));
    }
  });

  it("refuses an apply past the objects per group (admins too) and an object over the size limit, with 422", async () => {
    api = await TestApi.start({ limits: { maxObjectsPerGroup: 3 } });
    const acme = await api.tenant("acme");
    const admin = await api.adminToken();
    const three = ["a", "b", "c"].map((name) => app("acme", name)).join("---\n");
    assert.equal((await api.call("POST", `${API}/apply`, { token: acme, body: three })).status, 200);
    for (const token of [acme, admin]) {
      const fourth = await api.call("PUT", `${API}/groups/acme/apps/d`, { token, body: app("acme", "d") });
      assert.equal(fourth.status, 422, fourth.text);
      assert.match(
        fourth.body.message ?? "",
        /group acme would have 4 objects, more than the limit of 3 objects per group/,
      );
    }
    const batch = await api.call("POST", `${API}/apply?dryRun=true`, {
      token: acme,
      body: `${app("acme", "d")}---\n${app("acme", "e")}`,
    });
    assert.equal(batch.status, 422, batch.text);
    assert.equal(
      (await api.call("PUT", `${API}/groups/acme/apps/a`, { token: acme, body: app("acme", "a", "  replicas: 2\n") }))
        .status,
      200,
      "changing an object adds none",
    );

    const huge = await api.call("PUT", `${API}/groups/acme/apps/a`, {
      token: acme,
      body: bigApp("acme", "a", 300 * 1024, 1),
    });
    assert.equal(huge.status, 422, huge.text);
    assert.match(
      huge.body.message ?? "",
      /app\/acme\/a is \d+ bytes as JSON, more than the limit of 262144 bytes per object/,
    );
    // Past twice the object limit a PUT is refused before it is read or parsed (a hostile tenant's
    // 900 KB bodies were parsed in full, and their garbage grew the heap by hundreds of MiB).
    const far = await api.call("PUT", `${API}/groups/acme/apps/a`, {
      token: acme,
      body: bigApp("acme", "a", 600 * 1024, 1),
    });
    assert.equal(far.status, 413, far.text);
    assert.match(far.body.message ?? "", /more than the limit of 524288/);
  });
});
