import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { QuotaStatus } from "../../src/controllers/quota.js";
import { verify } from "../../src/notifications/signature.js";
import { Store } from "../../src/store/store.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { type BackgroundCli, startAirloft } from "../support/cli.js";
import { endControllerRun } from "../support/controller-run.js";
import { requireEngine } from "../support/e2e.js";

const G = "jobalert";
const SIGNING_KEY = "job-alert-key-8e21";

interface Received {
  readonly body: string;
  readonly json: { id: string; event: string; reason: string; message: string; involvedObject: { name: string } };
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
}

/**
 * A webhook receiver on 127.0.0.1 that answers (`up`) or takes each request and never answers
 * (down: the notifier's request hangs until it gives up); what it was sent is kept either way.
 */
async function receiver() {
  const answered: Received[] = [];
  const unanswered: Received[] = [];
  const state = { up: true };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      const got = {
        body,
        json: JSON.parse(body) as Received["json"],
        signature: req.headers["x-airloft-signature"] as string | undefined,
        timestamp: req.headers["x-airloft-timestamp"] as string | undefined,
      };
      if (!state.up) {
        unanswered.push(got);
        return;
      }
      answered.push(got);
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, answered, unanswered, state };
}

const manifests = (host: string, port: number) => [
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name: G },
    spec: { provider: "docker", docker: { host } },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Quota",
    metadata: { name: "default", group: G },
    spec: { hard: { replicas: 10 } },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Secret",
    metadata: { name: "hook", group: G },
    stringData: { url: `http://127.0.0.1:${port}/hook`, key: SIGNING_KEY },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Alert",
    metadata: { name: "jobs", group: G },
    spec: {
      urlFrom: { secret: "hook", key: "url" },
      signingKeyFrom: { secret: "hook", key: "key" },
      events: ["JobFailed"],
    },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "cron", group: G },
    spec: {
      image: TEST_IMAGE,
      command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
      jobs: [
        {
          name: "fail",
          // Every 8 seconds, for 4 of them: a run is seen running, then ended.
          schedule: "*/8 * * * * *",
          command: ["sh", "-c", "echo failing; sleep 4; exit 3"],
          concurrencyPolicy: "Forbid",
        },
      ],
    },
  },
];

/**
 * A failed job on the real engine, under `airloft watch`: its JobFailed notification reaches a
 * receiver on 127.0.0.1 signed; one waiting while the receiver is down is kept across a SIGKILL of
 * the controller and delivered once after; and the group's Quota counts the run while it runs.
 */
describe("a failed job's notification, kept across a restart, and its run in the quota (real engine)", function () {
  this.timeout(300_000);
  let engine: TestEngine;
  let dir: string;
  let controller: BackgroundCli | undefined;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const state = () => join(dir, "state.json");
  const env = () => ({ DOCKER_HOST: engine.host, CI: "" });
  const startController = () => {
    controller = startAirloft(
      ["--state", state(), "watch", join(dir, "manifests"), "--resync", "2s", "--notify-allow-cidr", "127.0.0.1/32"],
      { cwd: dir, env: env() },
    );
  };
  const until = async <T>(ms: number, what: string, probe: () => Promise<T | undefined> | T | undefined) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = await probe();
      if (found !== undefined) return found;
      if (Date.now() > deadline) assert.fail(`${what}\ncontroller log:\n${controller?.log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const jobFailed = (list: readonly Received[]) =>
    list.filter((r) => r.json.reason === "JobFailed" && r.json.involvedObject.name === "cron");
  /** The quota's status as the state file has it now (read without taking the writer's lock). */
  const quotaStatus = async (): Promise<QuotaStatus | undefined> => {
    const store = await Store.open(state(), { write: false, command: "test" });
    try {
      return store.get(`Quota/${G}/default`)?.status as QuotaStatus | undefined;
    } finally {
      await store.close();
    }
  };

  before(async function () {
    engine = await requireEngine(this);
    dir = mkdtempSync(join(tmpdir(), "airloft-job-alerts-"));
    hook = await receiver();
    mkdirSync(join(dir, "manifests"));
    writeFileSync(
      join(dir, "manifests", "all.yaml"),
      manifests(engine.host, hook.port)
        .map((m) => stringify(m))
        .join("---\n"),
    );
    startController();
  });

  after(async function () {
    this.timeout(120_000);
    hook?.server.closeAllConnections();
    hook?.server.close();
    await endControllerRun(controller, dir, G, env());
  });

  it("sends a job that exits 3 as a signed JobFailed notification", async () => {
    const failed = await until(90_000, "no JobFailed notification", () => jobFailed(hook.answered)[0]);
    assert.equal(failed.json.event, "JobFailed");
    assert.match(failed.json.message, /exit(ed)? (with )?(code )?3/);
    const now = { nowSeconds: Math.floor(Date.now() / 1000) };
    const headers = { signature: failed.signature, timestamp: failed.timestamp };
    assert.ok(verify(failed.body, SIGNING_KEY, headers, now), "the HMAC verifies");
    assert.ok(!verify(failed.body, "another-key", headers, now), "and only under the Alert's key");
  });

  it("counts the run in the quota's status.used while it runs, and not after", async () => {
    const running = await until(60_000, "the quota never counted a running run", async () => {
      const s = await quotaStatus();
      return s?.runs === 1 ? s : undefined;
    });
    assert.equal(running.used?.replicas, 2, "the app's replica and its run");
    const ended = await until(60_000, "the quota never dropped the ended run", async () => {
      const s = await quotaStatus();
      return s?.runs === 0 ? s : undefined;
    });
    assert.equal(ended.used?.replicas, 1);
  });

  it("keeps a notification waiting for a receiver that is down across a SIGKILL, and delivers it once", async () => {
    hook.state.up = false;
    const waiting = await until(
      60_000,
      "no JobFailed sent to the receiver while down",
      () => jobFailed(hook.unanswered)[0],
    );
    // Killed with the delivery in flight: only the state file can bring it back.
    const child = controller?.child;
    const exited = new Promise((r) => child?.once("exit", r));
    child?.kill("SIGKILL");
    await exited;
    hook.server.closeAllConnections();
    hook.state.up = true;
    startController();
    const delivered = await until(90_000, "the waiting notification was not delivered after the restart", () =>
      hook.answered.find((r) => r.json.id === waiting.json.id),
    );
    const headers = { signature: delivered.signature, timestamp: delivered.timestamp };
    assert.ok(verify(delivered.body, SIGNING_KEY, headers, { nowSeconds: Math.floor(Date.now() / 1000) }));
    // A later failure delivered too: whatever was left waiting went before it.
    await until(90_000, "no later JobFailed after the restart", () =>
      jobFailed(hook.answered).find((r) => r.json.id !== waiting.json.id && r.json.message !== waiting.json.message),
    );
    const ids = hook.answered.map((r) => r.json.id);
    assert.equal(ids.filter((id) => id === waiting.json.id).length, 1, "delivered exactly once");
    assert.equal(new Set(ids).size, ids.length, "no delivery answered twice");
  });
});
