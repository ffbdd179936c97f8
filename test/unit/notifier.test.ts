import { strict as assert } from "node:assert";
import { Registry } from "prom-client";
import { createLogger } from "../../src/log.js";
import { observeNotifications } from "../../src/notifications/metrics.js";
import { Notifier, type NotifierOptions } from "../../src/notifications/notifier.js";
import type { SendResult } from "../../src/notifications/send.js";
import { verify } from "../../src/notifications/signature.js";
import { setCondition } from "../../src/resources/conditions.js";
import { loadTexts } from "../../src/resources/loader.js";
import type { AlertStatus, BaseStatus } from "../../src/resources/types.js";
import { Store } from "../../src/store/store.js";
import { FakeClock } from "../support/fake-clock.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const MANIFESTS = `
apiVersion: airloft.dev/v1alpha1
kind: Group
metadata: { name: acme }
spec: { provider: docker }
---
apiVersion: airloft.dev/v1alpha1
kind: Group
metadata: { name: other }
spec: { provider: docker }
---
apiVersion: airloft.dev/v1alpha1
kind: Secret
metadata: { name: hook, group: acme }
stringData: { url: "https://hooks.example.test/services/T0/B0/tok3n", key: signing-key-1 }
---
apiVersion: airloft.dev/v1alpha1
kind: App
metadata: { name: web, group: acme }
spec: { image: "x:1" }
---
apiVersion: airloft.dev/v1alpha1
kind: App
metadata: { name: web, group: other }
spec: { image: "x:1" }
---
apiVersion: airloft.dev/v1alpha1
kind: Alert
metadata: { name: ops, group: acme }
spec:
  urlFrom: { secret: hook, key: url }
  signingKeyFrom: { secret: hook, key: key }
`;

interface Sent {
  readonly url: string;
  readonly body: string;
  readonly headers: Record<string, string>;
}

describe("notifier", () => {
  let store: Store;
  let dir: string;
  let path: string;
  let clock: FakeClock;
  let notifier: Notifier;
  let sent: Sent[];
  let answer: () => Promise<SendResult>;
  const log = createLogger({ level: "error" });

  const start = (options: NotifierOptions = {}) => {
    notifier = new Notifier(store, log, {
      clock,
      random: () => 1,
      backoff: { baseMs: 1000, capMs: 10_000 },
      send: async (url, body, headers) => {
        sent.push({ url: url.toString(), body, headers });
        return answer();
      },
      ...options,
    });
    notifier.start();
  };
  const stall = (key: string, reason = "ImagePullFailed") =>
    store.updateStatus<BaseStatus>(key, (s) => {
      const ready = setCondition(s, { type: "Ready", status: "False", reason, message: `${reason}: boom` }, 1);
      return setCondition(ready, { type: "Stalled", status: "True", reason, message: `${reason}: boom` }, 1);
    });
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };

  beforeEach(async () => {
    ({ store, dir, path } = await openTempStore("airloft-notify-", { groupCommitMs: 0 }));
    await store.apply(loadTexts([{ name: "m.yaml", content: MANIFESTS, baseDir: dir }]));
    clock = new FakeClock(Date.parse("2026-11-30T12:00:00Z"));
    sent = [];
    answer = async () => ({ ok: true, message: "HTTP 200", retry: false });
  });
  afterEach(async () => {
    await notifier.stop();
    await removeTempStore(store, dir);
  });

  it("sends a stall of its own group, signed, with the URL from the Secret, and records it", async () => {
    start();
    await stall("App/acme/web");
    await settle();
    assert.equal(sent.length, 1);
    const [one] = sent;
    assert.equal(one?.url, "https://hooks.example.test/services/T0/B0/tok3n");
    const body = JSON.parse(one?.body ?? "{}") as Record<string, unknown>;
    assert.equal(body.event, "Stalled");
    assert.equal(body.reason, "ImagePullFailed");
    assert.deepEqual(body.involvedObject, { kind: "App", group: "acme", name: "web", generation: 1 });
    const ok = verify(
      one?.body ?? "",
      "signing-key-1",
      { signature: one?.headers["x-airloft-signature"], timestamp: one?.headers["x-airloft-timestamp"] },
      { nowSeconds: Math.floor(clock.now() / 1000) },
    );
    assert.ok(ok, "the receiver verifies the signature");
    const status = store.get("Alert/acme/ops")?.status as AlertStatus;
    assert.equal(status.lastDelivery?.result, "Succeeded");
    assert.equal(status.delivered, 1);
    assert.ok(!JSON.stringify(store.get("Alert/acme/ops")).includes("tok3n"), "the URL's token is not in the Alert");
  });

  it("never sends another group's objects", async () => {
    start();
    await stall("App/other/web");
    await settle();
    assert.equal(sent.length, 0);
  });

  it("does not send what was already so when it started, nor a repeat", async () => {
    await stall("App/acme/web");
    start();
    await stall("App/acme/web");
    await store.updateStatus<BaseStatus>("App/acme/web", (s) => ({ ...s, observedGeneration: 1 }));
    await settle();
    assert.equal(sent.length, 0);
  });

  it("sends a recorded event by its reason (a failed job) when the Alert names it", async () => {
    await store.apply(
      loadTexts([
        {
          name: "a.yaml",
          content: `apiVersion: airloft.dev/v1alpha1\nkind: Alert\nmetadata: { name: jobs, group: acme }\nspec: { url: "https://hooks.example.test/j", events: [JobFailed] }\n`,
          baseDir: dir,
        },
      ]),
    );
    start();
    await store.recordEvent("App/acme/web", { type: "Warning", reason: "JobFailed", message: "nightly exited 2" });
    await settle();
    const urls = sent.map((s) => s.url).sort();
    assert.deepEqual(urls, ["https://hooks.example.test/j", "https://hooks.example.test/services/T0/B0/tok3n"]);
    const unsigned = sent.find((s) => s.url.endsWith("/j"));
    assert.equal(unsigned?.headers["x-airloft-signature"], undefined, "no key, no signature");
  });

  it("retries with backoff, then gives up with a Warning on the Alert and its status", async () => {
    answer = async () => ({ ok: false, message: "HTTP 503", retry: true });
    start({ attempts: 3 });
    await stall("App/acme/web");
    await settle();
    assert.equal(sent.length, 1);
    clock.advance(999);
    await settle();
    assert.equal(sent.length, 1, "not before the first backoff (1 s)");
    clock.advance(1);
    await settle();
    assert.equal(sent.length, 2);
    clock.advance(2000);
    await settle();
    assert.equal(sent.length, 3);
    clock.advance(60_000);
    await settle();
    assert.equal(sent.length, 3, "gave up after 3 attempts");
    const alert = store.get("Alert/acme/ops");
    const status = alert?.status as AlertStatus;
    assert.equal(status.failures, 1);
    assert.equal(status.lastDelivery?.result, "Failed");
    assert.equal(status.lastDelivery?.attempts, 3);
    assert.ok(alert);
    const events = store.eventsOf(alert);
    assert.ok(events.some((e) => e.reason === "NotificationFailed" && /HTTP 503/.test(e.message)));
    assert.ok(!JSON.stringify(events).includes("tok3n"));
  });

  it("keeps at most `capacity` deliveries waiting, dropping the oldest, and never waits in the store's listener", async () => {
    let release: () => void = () => undefined;
    answer = () =>
      new Promise((resolve) => {
        release = () => resolve({ ok: true, message: "HTTP 200", retry: false });
      });
    start({ capacity: 2, concurrency: 1 });
    for (const reason of ["A1", "A2", "A3", "A4", "A5"]) {
      // Each write returns although the receiver has not answered: the listener only queues.
      await stall("App/acme/web", reason);
    }
    await settle();
    assert.equal(sent.length, 1, "one in flight");
    assert.equal(notifier.waiting, 2);
    assert.equal(notifier.dropped, 2);
    release();
    await settle();
    release();
    await settle();
    release();
    await settle();
    const reasons = sent.map((s) => (JSON.parse(s.body) as { reason: string }).reason);
    assert.deepEqual(reasons, ["A1", "A4", "A5"]);
  });

  it("counts deliveries in the metrics registry: sent, retried, failed, dropped", async () => {
    answer = async () => ({ ok: false, message: "HTTP 503", retry: true });
    start({ attempts: 2, capacity: 1, concurrency: 1 });
    const registry = new Registry();
    const detach = observeNotifications(registry, notifier);
    await stall("App/acme/web");
    await settle();
    clock.advance(1000);
    await settle();
    const answers: Array<() => void> = [];
    answer = () =>
      new Promise((resolve) => answers.push(() => resolve({ ok: true, message: "HTTP 200", retry: false })));
    for (const reason of ["B1", "B2", "B3"]) await stall("App/acme/web", reason);
    await settle();
    const text = await registry.metrics();
    for (let i = 0; i < 3; i++) {
      for (const release of answers.splice(0)) release();
      await settle();
    }
    const after = await registry.metrics();
    detach();
    assert.match(text, /airloft_notifications_total\{result="retried"\} 1/);
    assert.match(text, /airloft_notifications_total\{result="failed"\} 1/);
    assert.match(text, /airloft_notifications_total\{result="dropped"\} 1/);
    assert.match(text, /airloft_notifications_waiting 1/);
    assert.match(after, /airloft_notifications_total\{result="sent"\} 2/);
  });

  it("drops a deleted Alert's deliveries", async () => {
    answer = async () => ({ ok: false, message: "HTTP 503", retry: true });
    start();
    await stall("App/acme/web");
    await settle();
    assert.equal(sent.length, 1);
    await store.markDeleted("Alert/acme/ops");
    clock.advance(60_000);
    await settle();
    assert.equal(sent.length, 1);
  });

  it("keeps what waits across a restart, on disk at once, and sends it exactly once after", async () => {
    answer = async () => ({ ok: false, message: "ECONNREFUSED", retry: true });
    start();
    await stall("App/acme/web");
    await settle();
    assert.equal(sent.length, 1, "the receiver was down");
    await store.flush();
    // What a kill would leave: the waiting delivery is in the state file already.
    const reader = await Store.open(path, { write: false, command: "test" });
    assert.equal(reader.stateMap("notifications").values().length, 1);
    await reader.close();
    await notifier.stop();
    await store.close();
    store = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    answer = async () => ({ ok: true, message: "HTTP 200", retry: false });
    start();
    clock.advance(1000);
    await settle();
    assert.equal(sent.length, 2, "sent once more after the restart");
    assert.equal(JSON.parse(sent[1]?.body ?? "{}").reason, "ImagePullFailed");
    assert.equal(JSON.parse(sent[1]?.body ?? "{}").id, JSON.parse(sent[0]?.body ?? "{}").id, "the same delivery");
    clock.advance(120_000);
    await settle();
    await notifier.stop();
    await store.close();
    store = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    start();
    clock.advance(120_000);
    await settle();
    assert.equal(sent.length, 2, "nothing sent twice, nothing left");
    assert.equal(store.stateMap("notifications").values().length, 0);
    assert.equal((store.get("Alert/acme/ops")?.status as AlertStatus).delivered, 1);
  });

  it("keeps no more on disk than the queue holds: a dropped delivery leaves the state file", async () => {
    start({
      capacity: 2,
      concurrency: 1,
      // A receiver that never answers: the request ends when the notifier stops.
      send: (url, body, headers, options) => {
        sent.push({ url: url.toString(), body, headers });
        return new Promise((resolve) =>
          options.signal?.addEventListener("abort", () => resolve({ ok: false, message: "stopped", retry: true })),
        );
      },
    });
    for (const reason of ["A1", "A2", "A3", "A4", "A5"]) await stall("App/acme/web", reason);
    await settle();
    assert.equal(notifier.dropped, 2);
    // One in flight and two waiting.
    assert.equal(store.stateMap("notifications").values().length, 3);
  });
});
