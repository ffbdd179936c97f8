import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { verify } from "../../src/notifications/signature.js";
import type { Alert, AlertStatus } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { airloft, type BackgroundCli, startAirloft } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";

const SIGNING_KEY = "e2e-signing-key-5d1c";
const URL_TOKEN = "T0KEN-in-the-url-93ab";

interface Received {
  readonly body: string;
  readonly json: { event: string; reason: string; involvedObject: { kind: string; name: string } };
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
}

/** A webhook receiver on 127.0.0.1 that keeps what it gets. */
async function receiver(): Promise<{ server: Server; port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      received.push({
        body,
        json: JSON.parse(body) as Received["json"],
        signature: req.headers["x-airloft-signature"] as string | undefined,
        timestamp: req.headers["x-airloft-timestamp"] as string | undefined,
      });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, received };
}

/** A receiver that accepts connections and never answers: each delivery hangs until its timeout. */
async function hungReceiver(): Promise<{ server: Server; port: number; open: Set<Socket>; accepted: () => number }> {
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createServer(() => undefined);
  server.on("connection", (socket) => {
    accepted += 1;
    open.add(socket);
    socket.on("close", () => open.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, open, accepted: () => accepted };
}

const manifests = (host: string, goodPort: number, hungPort: number) => [
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name: "notify" },
    spec: { provider: "docker", docker: { host } },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Secret",
    metadata: { name: "hook", group: "notify" },
    stringData: { url: `http://127.0.0.1:${goodPort}/hook/${URL_TOKEN}`, key: SIGNING_KEY },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Alert",
    metadata: { name: "team", group: "notify" },
    spec: {
      urlFrom: { secret: "hook", key: "url" },
      signingKeyFrom: { secret: "hook", key: "key" },
      events: ["Stalled", "Degraded", "RolloutSucceeded", "SyncFailed"],
    },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Alert",
    metadata: { name: "hung", group: "notify" },
    // Every operation's event too: many deliveries, each hanging.
    spec: { url: `http://127.0.0.1:${hungPort}/`, events: ["Stalled", "Degraded", "RolloutSucceeded", "Configured"] },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Alert",
    metadata: { name: "closed", group: "notify" },
    spec: { url: "http://127.0.0.1:1/", events: ["Degraded"] },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Alert",
    metadata: { name: "metadata", group: "notify" },
    spec: { url: "http://169.254.169.254/latest/meta-data/", events: ["Degraded"] },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "crashy", group: "notify" },
    spec: { image: TEST_IMAGE, command: ["sh", "-c", "echo starting; exit 3"] },
  },
];

const calmApp = {
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name: "calm", group: "notify" },
  spec: { image: TEST_IMAGE, command: ["sh", "-c", "exec sleep 3600"] },
};

describe("notifications on a real Docker engine", () => {
  let engine: TestEngine;
  let dir: string;
  let controller: BackgroundCli | undefined;
  const log = (): string => controller?.log() ?? "";
  let good: Awaited<ReturnType<typeof receiver>>;
  let hung: Awaited<ReturnType<typeof hungReceiver>>;
  const env = () => ({ DOCKER_HOST: engine.host, CI: "" });
  const cli = (...args: string[]) => airloft(["--state", join(dir, "state.json"), ...args], { env: env(), cwd: dir });
  const until = async <T>(ms: number, what: string, probe: () => Promise<T | undefined> | T | undefined) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = await probe();
      if (found !== undefined) return found;
      if (Date.now() > deadline) assert.fail(`${what}\ncontroller log:\n${log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const alertStatus = async (name: string): Promise<AlertStatus> => {
    const r = await cli("get", `alert/notify/${name}`, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Alert).status ?? {};
  };

  before(async function () {
    engine = await requireEngine(this);
    dir = mkdtempSync(join(tmpdir(), "airloft-notify-"));
    good = await receiver();
    hung = await hungReceiver();
    // `airloft watch` of a folder: it applies the manifests, and later changes while it runs.
    mkdirSync(join(dir, "manifests"));
    writeFileSync(
      join(dir, "manifests", "notify.yaml"),
      manifests(engine.host, good.port, hung.port)
        .map((m) => stringify(m))
        .join("---\n"),
    );
    const state = join(dir, "state.json");
    const args = [
      "--state",
      state,
      "watch",
      join(dir, "manifests"),
      "--resync",
      "2s",
      "--notify-allow-cidr",
      "127.0.0.1/32",
    ];
    controller = startAirloft(args, { cwd: dir, env: env() });
  });

  after(async function () {
    this.timeout(120_000);
    await controller?.stop();
    for (const s of [good?.server, hung?.server]) {
      s?.closeAllConnections();
      s?.close();
    }
    if (dir) {
      await cli("delete", "group/notify", "--cascade", "--timeout", "90s");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sends a crash loop to the receiver on 127.0.0.1, signed with the Alert's key", async function () {
    this.timeout(150_000);
    const crash = await until(120_000, "no CrashLoopBackOff notification", () =>
      good.received.find((r) => r.json.reason === "CrashLoopBackOff" && r.json.involvedObject.name === "crashy"),
    );
    assert.equal(crash.json.event, "Degraded");
    assert.ok(
      verify(
        crash.body,
        SIGNING_KEY,
        { signature: crash.signature, timestamp: crash.timestamp },
        { nowSeconds: Math.floor(Date.now() / 1000) },
      ),
      "the HMAC verifies",
    );
    assert.ok(
      !verify(
        crash.body,
        "another-key",
        { signature: crash.signature, timestamp: crash.timestamp },
        { nowSeconds: Math.floor(Date.now() / 1000) },
      ),
    );
    const status = await alertStatus("team");
    assert.ok((status.delivered ?? 0) >= 1, JSON.stringify(status));
    const shown = JSON.stringify(status) + (await cli("get", "alert/notify/team", "-o", "yaml")).stdout + log();
    assert.ok(!shown.includes(URL_TOKEN), "the URL's token is in no status, output or log");
  });

  it("keeps reconciling while a receiver never answers: another app converges and is announced meanwhile", async function () {
    this.timeout(150_000);
    await until(60_000, "the hung receiver got no connection", () => (hung.accepted() > 0 ? true : undefined));
    writeFileSync(join(dir, "manifests", "calm.yaml"), stringify(calmApp));
    const announced = await until(90_000, "calm's rollout was not announced", () =>
      good.received.find((r) => r.json.involvedObject.name === "calm" && r.json.event === "RolloutSucceeded"),
    );
    assert.ok(announced);
    // Counted, not timed: when calm was announced, deliveries to the hung receiver were still hanging.
    assert.ok(hung.open.size > 0, "no delivery was hanging when calm converged");
    process.stderr.write(
      `      when calm was announced: ${hung.open.size} deliveries hanging, ${hung.accepted()} accepted by the hung receiver\n`,
    );
    const calm = await cli("get", "app/notify/calm", "-o", "json");
    assert.match(calm.stdout, /"reason": "Converged"/);
    assert.equal(good.received.filter((r) => r.json.involvedObject.name === "calm").length, 1, "announced once");
  });

  it("sends a failed sync of the watched folder, with the errors of the group's own file", async function () {
    this.timeout(60_000);
    writeFileSync(
      join(dir, "manifests", "calm.yaml"),
      stringify({ ...calmApp, spec: { ...calmApp.spec, replicas: "many" } }),
    );
    const failed = await until(30_000, "no SyncFailed notification", () =>
      good.received.find((r) => r.json.event === "SyncFailed"),
    );
    assert.equal(failed.json.reason, "SyncPartial");
    assert.match((failed.json as unknown as { message: string }).message, /calm\.yaml:\d+:\d+ spec\.replicas/);
  });

  it("gives up on a closed port and refuses the metadata address, saying so on each Alert", async function () {
    this.timeout(150_000);
    const closed = await until(120_000, "the closed port's deliveries never gave up", async () => {
      const s = await alertStatus("closed");
      return (s.failures ?? 0) >= 1 ? s : undefined;
    });
    assert.equal(closed.lastDelivery?.result, "Failed");
    assert.equal(closed.lastDelivery?.attempts, 5);
    assert.equal(closed.lastDelivery?.message, "ECONNREFUSED");
    const metadata = await until(60_000, "the metadata address was not refused", async () => {
      const s = await alertStatus("metadata");
      return (s.failures ?? 0) >= 1 ? s : undefined;
    });
    assert.equal(metadata.lastDelivery?.attempts, 1, "a refusal is not retried");
    assert.match(metadata.lastDelivery?.message ?? "", /^refused: 169\.254\.169\.254 is a loopback, link-local/);
    const described = await cli("describe", "alert/notify/metadata");
    assert.match(described.stdout, /NotificationFailed/);
  });
});
