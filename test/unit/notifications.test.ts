import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AddressPolicy, parseAllowList } from "../../src/notifications/address-policy.js";
import { backoffMs } from "../../src/notifications/backoff.js";
import { fromConditions, fromEvent, type Notification, seenConditions } from "../../src/notifications/events.js";
import { alertMatches } from "../../src/notifications/matching.js";
import { clip, genericPayload, slackPayload } from "../../src/notifications/payload.js";
import { DeliveryQueue } from "../../src/notifications/queue.js";
import { send } from "../../src/notifications/send.js";
import { sign, verify } from "../../src/notifications/signature.js";
import { fromSync } from "../../src/notifications/source-events.js";
import type { Alert, App, Condition } from "../../src/resources/types.js";

const condition = (
  type: Condition["type"],
  status: Condition["status"],
  reason: string,
  generation = 1,
): Condition => ({
  type,
  status,
  reason,
  message: `${reason} message`,
  lastTransitionTime: "2026-11-30T00:00:00Z",
  observedGeneration: generation,
});

const app = (conditions: Condition[], generation = 1, group = "acme"): App => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name: "web", group, generation },
  spec: { image: "x" },
  status: { conditions },
});

const alert = (spec: Partial<Alert["spec"]> = {}, group = "acme"): Alert => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Alert",
  metadata: { name: "ops", group, uid: "u1" },
  spec: { url: "https://hooks.example.test/x", ...spec },
});

const note = (over: Partial<Notification> = {}): Notification => ({
  event: "Stalled",
  reason: "ImagePullFailed",
  severity: "error",
  group: "acme",
  kind: "App",
  name: "web",
  message: "m",
  time: "t",
  ...over,
});

describe("notifications", () => {
  describe("signature", () => {
    const body = JSON.stringify({ timestamp: 1000, event: "Stalled" });
    it("signs the body with HMAC-SHA256 as sha256=<hex>, which a receiver verifies", () => {
      const signature = sign(body, "k1");
      assert.match(signature, /^sha256=[0-9a-f]{64}$/);
      assert.ok(verify(body, "k1", { signature, timestamp: "1000" }, { nowSeconds: 1010 }));
    });
    it("fails on another key, a changed body, a stale or mismatched timestamp", () => {
      const signature = sign(body, "k1");
      assert.ok(!verify(body, "k2", { signature, timestamp: "1000" }, { nowSeconds: 1000 }));
      assert.ok(
        !verify(body.replace("Stalled", "Ready"), "k1", { signature, timestamp: "1000" }, { nowSeconds: 1000 }),
      );
      assert.ok(!verify(body, "k1", { signature, timestamp: "1000" }, { nowSeconds: 2000 }), "a replay an hour later");
      // The header's timestamp must be the signed one: a replayer cannot move it forward.
      assert.ok(!verify(body, "k1", { signature, timestamp: "1900" }, { nowSeconds: 1900 }));
      assert.ok(!verify(body, "k1", { signature: undefined, timestamp: "1000" }, { nowSeconds: 1000 }));
    });
  });

  describe("backoff", () => {
    it("doubles from the base up to the cap, with jitter between half and all of it", () => {
      const opts = { baseMs: 1000, capMs: 8000 };
      assert.equal(backoffMs(1, { ...opts, random: () => 1 }), 1000);
      assert.equal(backoffMs(1, { ...opts, random: () => 0 }), 500);
      assert.equal(backoffMs(3, { ...opts, random: () => 1 }), 4000);
      assert.equal(backoffMs(10, { ...opts, random: () => 1 }), 8000);
      assert.equal(backoffMs(10, { ...opts, random: () => 0 }), 4000);
      for (let i = 0; i < 100; i++) {
        const w = backoffMs(2, opts);
        assert.ok(w >= 1000 && w <= 2000, String(w));
      }
    });
  });

  describe("delivery queue", () => {
    it("drops the oldest past its capacity and counts what it dropped", () => {
      const dropped: number[] = [];
      const q = new DeliveryQueue<number>(3, (n) => dropped.push(n));
      for (let i = 1; i <= 5; i++) q.add(i, 0);
      assert.equal(q.length, 3);
      assert.equal(q.dropped, 2);
      assert.deepEqual(dropped, [1, 2]);
      assert.deepEqual([q.take(0), q.take(0), q.take(0), q.take(0)], [3, 4, 5, undefined]);
    });
    it("drops a key's own oldest past its share, so one tenant cannot push out another's", () => {
      const q = new DeliveryQueue<string>(10, () => undefined, 2);
      q.add("b1", 0, "b");
      for (const a of ["a1", "a2", "a3", "a4"]) q.add(a, 0, "a");
      assert.equal(q.dropped, 2);
      assert.deepEqual([q.take(0), q.take(0), q.take(0), q.take(0)], ["b1", "a3", "a4", undefined]);
    });
    it("hands out only what is due and eligible, and says when the next is due", () => {
      const q = new DeliveryQueue<string>(10);
      q.add("later", 500);
      q.add("held", 0);
      q.add("now", 0);
      assert.equal(
        q.take(0, (s) => s !== "held"),
        "now",
      );
      assert.equal(
        q.take(0, (s) => s !== "held"),
        undefined,
      );
      assert.equal(q.nextDue(0), 500);
      assert.equal(q.take(500), "later", "in the order added");
      assert.equal(q.take(500), "held");
    });
  });

  describe("address policy (SSRF)", () => {
    const policy = new AddressPolicy();
    it("refuses loopback, link-local (metadata), private, shared, multicast and reserved addresses", () => {
      for (const a of [
        "127.0.0.1",
        "127.1.2.3",
        "0.0.0.0",
        "169.254.169.254",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "::7f00:1",
        "64:ff9b::a9fe:a9fe",
      ])
        assert.ok(policy.refuses(a), `${a} should be refused`);
    });
    it("lets public addresses through", () => {
      for (const a of ["93.184.216.34", "172.32.0.1", "2606:4700::1111", "8.8.8.8"])
        assert.equal(policy.refuses(a), undefined, a);
    });
    it("checks the URL: only http and https, and every spelling of a forbidden host", () => {
      for (const u of ["file:///etc/passwd", "ftp://x/", "gopher://x/", "data:,x", "javascript:alert(1)"])
        assert.match(policy.checkUrl(new URL(u)) ?? "", /scheme/, u);
      for (const u of [
        "http://127.0.0.1:80/",
        "http://0x7f.1/",
        "http://2130706433/",
        "http://017700000001/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0/",
      ])
        assert.ok(policy.checkUrl(new URL(u)), u);
    });
    it("refuses a name that resolves to a forbidden address, at connect time", async () => {
      const err = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
        policy.lookup("localhost", {}, (e) => resolve(e)),
      );
      assert.equal(err?.code, "EFORBIDDEN");
    });
    it("lets an installation allow some ranges back, and refuses bad CIDRs", () => {
      const allowing = new AddressPolicy(parseAllowList("127.0.0.1/32, fd00::/8"));
      assert.equal(allowing.refuses("127.0.0.1"), undefined);
      assert.equal(allowing.refuses("fd12::1"), undefined);
      assert.ok(allowing.refuses("127.0.0.2"));
      assert.ok(allowing.refuses("169.254.169.254"));
      for (const bad of ["127.0.0.1/33", "hello", "10.0.0.0/8/1", "::1/129", "1.2.3.4/x"])
        assert.throws(() => parseAllowList(bad), /not a CIDR/, bad);
    });
  });

  describe("send", () => {
    let servers: Server[] = [];
    const listen = async (handler: Parameters<typeof createServer>[1]): Promise<string> => {
      const server = createServer(handler);
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    };
    afterEach(async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
      servers = [];
    });
    const allowing = new AddressPolicy(["127.0.0.1/32"]);

    it("refuses 127.0.0.1 unless the installation allows it, without connecting", async () => {
      let hits = 0;
      const url = await listen((_req, res) => {
        hits += 1;
        res.end();
      });
      const refused = await send(new URL(url), "{}", {}, { policy: new AddressPolicy(), timeoutMs: 2000 });
      assert.equal(refused.ok, false);
      assert.equal(refused.retry, false);
      assert.match(refused.message, /^refused: 127\.0\.0\.1/);
      const sent = await send(new URL(url), "{}", {}, { policy: allowing, timeoutMs: 2000 });
      assert.deepEqual(sent, { ok: true, message: "HTTP 200", retry: false });
      assert.equal(hits, 1);
    });

    it("resolves a name through the policy: refused by default, sent when its addresses are allowed", async () => {
      const url = new URL((await listen((_req, res) => res.end())).replace("127.0.0.1", "localhost"));
      const refused = await send(url, "{}", {}, { policy: new AddressPolicy(), timeoutMs: 2000 });
      assert.match(refused.message, /^refused: localhost resolves to/);
      assert.equal(refused.retry, false);
      const both = new AddressPolicy(["127.0.0.1/32", "::1/128"]);
      assert.equal((await send(url, "{}", {}, { policy: both, timeoutMs: 2000 })).ok, true);
    });

    it("does not follow a redirect, to a forbidden address or any other", async () => {
      let targetHits = 0;
      const target = await listen((_req, res) => {
        targetHits += 1;
        res.end();
      });
      const redirecting = await listen((_req, res) => {
        res.writeHead(307, { location: target }).end();
      });
      const metadata = await listen((_req, res) => {
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      });
      for (const url of [redirecting, metadata]) {
        const result = await send(new URL(url), "{}", {}, { policy: allowing, timeoutMs: 2000 });
        assert.equal(result.ok, false);
        assert.match(result.message, /redirects are not followed/);
      }
      assert.equal(targetHits, 0);
    });

    it("ends a request the receiver never answers at its timeout, and retries it", async () => {
      const url = await listen(() => undefined);
      const result = await send(new URL(url), "{}", {}, { policy: allowing, timeoutMs: 300 });
      assert.deepEqual(result, { ok: false, message: "timeout after 0.3s", retry: true });
    });

    it("says which failures are worth a retry, never with the URL in the message", async () => {
      const codes = new Map([
        ["/500", 500],
        ["/429", 429],
        ["/404", 404],
      ]);
      const base = await listen((req, res) => {
        res.writeHead(codes.get(new URL(req.url ?? "/", "http://x").pathname) ?? 200).end("x".repeat(100_000));
      });
      const at = (path: string) => new URL(base.replace("/hook", `${path}?token=s3cr3t`));
      assert.deepEqual(await send(at("/500"), "{}", {}, { policy: allowing, timeoutMs: 2000 }), {
        ok: false,
        message: "HTTP 500",
        retry: true,
      });
      assert.equal((await send(at("/429"), "{}", {}, { policy: allowing, timeoutMs: 2000 })).retry, true);
      assert.equal((await send(at("/404"), "{}", {}, { policy: allowing, timeoutMs: 2000 })).retry, false);
      const down = await send(
        new URL(`http://127.0.0.1:1/hook?token=s3cr3t`),
        "{}",
        {},
        { policy: allowing, timeoutMs: 2000 },
      );
      assert.deepEqual(down, { ok: false, message: "ECONNREFUSED", retry: true });
    });
  });

  describe("what makes a notification", () => {
    it("a new stall, once", () => {
      const stalled = app([
        condition("Ready", "False", "ImagePullFailed"),
        condition("Stalled", "True", "ImagePullFailed"),
      ]);
      const n = fromConditions(undefined, stalled, "t");
      assert.equal(n?.event, "Stalled");
      assert.equal(n?.reason, "ImagePullFailed");
      assert.equal(fromConditions(seenConditions(stalled), stalled, "t"), undefined);
    });
    it("a crash loop as Degraded; progress says nothing; a message change of the same reason neither", () => {
      const rolling = app([condition("Ready", "False", "RollingOut")]);
      assert.equal(fromConditions(undefined, rolling, "t"), undefined);
      const crashing = app([condition("Ready", "False", "CrashLoopBackOff")]);
      assert.equal(fromConditions(seenConditions(rolling), crashing, "t")?.event, "Degraded");
      const again = app([{ ...condition("Ready", "False", "CrashLoopBackOff"), message: "restarted 5 times" }]);
      assert.equal(fromConditions(seenConditions(crashing), again, "t"), undefined);
    });
    it("a failed rollout and an exceeded quota by their reasons", () => {
      assert.equal(
        fromConditions(undefined, app([condition("Ready", "False", "ProgressDeadlineExceeded")]), "t")?.event,
        "RolloutFailed",
      );
      assert.equal(
        fromConditions(undefined, app([condition("Ready", "False", "QuotaExceeded")]), "t")?.event,
        "QuotaExceeded",
      );
    });
    it("a rollout that succeeds, and a recovery of the same generation", () => {
      const ready1 = app([condition("Ready", "True", "Converged", 1)], 1);
      const first = fromConditions(undefined, ready1, "t");
      assert.equal(first?.event, "RolloutSucceeded");
      assert.equal(first?.severity, "info");
      const seen1 = seenConditions(ready1);
      const rolling2 = app([condition("Ready", "False", "RollingOut", 2)], 2);
      const seen2 = seenConditions(rolling2, seen1);
      assert.equal(
        fromConditions(seen2, app([condition("Ready", "True", "Converged", 2)], 2), "t")?.event,
        "RolloutSucceeded",
      );
      const crash2 = app([condition("Ready", "False", "CrashLoopBackOff", 2)], 2);
      const seen3 = seenConditions(crash2, seenConditions(app([condition("Ready", "True", "Converged", 2)], 2), seen2));
      assert.equal(
        fromConditions(seen3, app([condition("Ready", "True", "Converged", 2)], 2), "t")?.event,
        "Recovered",
      );
      assert.equal(fromConditions(seenConditions(ready1), ready1, "t"), undefined, "a resync says nothing");
    });
    it("a recorded event by its reason, unless the conditions already show it", () => {
      const ok = app([condition("Ready", "True", "Converged")]);
      const job = fromEvent(ok, { time: "t", type: "Warning", reason: "JobFailed", message: "nightly exited 2" });
      assert.equal(job?.event, "JobFailed");
      const stalled = app([
        condition("Ready", "False", "ImagePullFailed"),
        condition("Stalled", "True", "ImagePullFailed"),
      ]);
      assert.equal(
        fromEvent(stalled, { time: "t", type: "Warning", reason: "ImagePullFailed", message: "x" }),
        undefined,
      );
    });
    it("a failed sync, per group, with only that group's files' errors", () => {
      const source = {
        name: "ops",
        paths: ["/x"],
        kind: "watch" as const,
        lastSyncTime: "t2",
        lastResult: "Partial" as const,
        lastErrors: ["a/acme.yaml:3:1 spec.replicas: must be integer", "b/other.yaml:1:1 secret thing of other"],
        inventory: ["App/acme/web", "App/other/db"],
        files: { "a/acme.yaml": ["App/acme/web"], "b/other.yaml": ["App/other/db"] },
      };
      assert.deepEqual(fromSync(undefined, source), [], "nothing before the first look");
      const ns = fromSync("t1 Succeeded", source);
      assert.deepEqual(ns.map((n) => n.group).sort(), ["acme", "other"]);
      const acme = ns.find((n) => n.group === "acme");
      assert.match(acme?.message ?? "", /spec\.replicas/);
      assert.doesNotMatch(acme?.message ?? "", /other/);
      assert.deepEqual(fromSync("t2 Partial", source), [], "the same sync once");
    });
  });

  describe("matching", () => {
    it("only the Alert's own group, never Alerts, by event or reason, kinds and names", () => {
      assert.ok(alertMatches(alert(), note()));
      assert.ok(!alertMatches(alert({}, "other"), note()), "another group's object");
      assert.ok(!alertMatches(alert(), note({ kind: "Alert" })));
      assert.ok(!alertMatches(alert(), note({ event: "RolloutSucceeded", reason: "Converged" })), "not a default");
      assert.ok(
        alertMatches(alert({ events: ["CrashLoopBackOff"] }), note({ event: "Degraded", reason: "CrashLoopBackOff" })),
      );
      assert.ok(!alertMatches(alert({ kinds: ["Service"] }), note()));
      assert.ok(alertMatches(alert({ kinds: ["app"] }), note()));
      assert.ok(!alertMatches(alert({ names: ["api"] }), note()));
      assert.ok(!alertMatches(alert({ suspend: true }), note()));
    });
  });

  describe("payloads", () => {
    const ctx = { id: "id1", timestamp: 5, alert: "alert/acme/ops" };
    it("cut a huge field and drop control characters", () => {
      const body = genericPayload(note({ message: `a\u0000b${"x".repeat(100_000)}` }), ctx);
      assert.ok(String(body.message).length <= 2000);
      assert.ok(!String(body.message).includes("\u0000"));
      assert.ok(JSON.stringify(body).length < 3000);
      assert.equal(clip("short"), "short");
    });
    it("Slack's has text and blocks, with a tenant's markup escaped", () => {
      const body = slackPayload(note({ message: "<!channel> see <http://evil|here>" }), ctx) as {
        text: string;
        blocks: Array<{ text?: { text: string } }>;
      };
      assert.equal(typeof body.text, "string");
      assert.equal(body.blocks.length, 3);
      assert.match(body.blocks[0]?.text?.text ?? "", /app\/acme\/web: Stalled/);
      assert.equal(body.blocks[1]?.text?.text, "<!channel> see <http://evil|here>", "plain_text: never read as markup");
    });
  });
});
