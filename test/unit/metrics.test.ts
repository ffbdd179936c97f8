import assert from "node:assert/strict";
import { once } from "node:events";
import { listenMetrics, parseMetricsAddress } from "../../src/cli/metrics.js";
import { createProgress } from "../../src/controllers/context.js";
import { Manager } from "../../src/controllers/manager.js";
import { TerminalError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { MetricsApi } from "../../src/metrics/api.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { routeTemplate } from "../../src/metrics/routes.js";
import { groupSeries } from "../../src/metrics/text.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { ReplicaUsage } from "../../src/providers/types.js";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { FakeProvider } from "../../support/fake-provider.js";
import { app, TestApi } from "../support/api.js";

const TOKEN = "scrape-token-0123456789abcdef";

function usage(uid: string, group: string, name: string, cpuSeconds: number, readAt: number): ReplicaUsage {
  return {
    group,
    kind: "App",
    name,
    uid,
    replica: "0",
    cpuSeconds,
    readAt,
    memoryBytes: 1_000_000,
    restarts: 2,
  };
}

/** The series (sample lines) of a Prometheus text, without comments. */
function series(text: string, metric?: string): string[] {
  return text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#") && (metric === undefined || l.startsWith(`${metric}{`)));
}

describe("metrics: the loop's and the apps' series, /metrics and a group's own", function () {
  this.timeout(30_000);
  let api: TestApi;
  let metrics: Metrics;
  let manager: Manager;
  let provider: FakeProvider;
  let acme: string;
  let beta: string;

  const scrape = async (token = TOKEN) => api.call("GET", "/metrics", { token });

  before(async () => {
    provider = new FakeProvider();
    api = await TestApi.start((store) => {
      const log = createLogger({ level: "error" });
      const providers = new ProviderRegistry({ instanceId: "i", docker: provider });
      manager = new Manager({ store, providers, log, progress: createProgress() }, { workers: 2 });
      metrics = new Metrics({ manager, store, providers, log });
      return { metrics: new MetricsApi(metrics, { token: TOKEN, watchClients: () => 0 }) };
    });
    manager.start();
    acme = await api.tenant("acme");
    beta = await api.tenant("beta");
    const reconciled = new Promise<void>((resolve) =>
      manager.events.on("reconciled", (key) => key === "App/acme/web" && resolve()),
    );
    const put = await api.call("PUT", `${API}/groups/acme/apps/web`, { token: acme, body: app("acme", "web") });
    assert.equal(put.status, 201);
    await api.call("PUT", `${API}/groups/beta/apps/web`, { token: beta, body: app("beta", "web") });
    await reconciled;
  });

  after(async () => {
    metrics.stop();
    await manager.stop();
    await api.stop();
  });

  it("refuses /metrics without the token or with a wrong one (401), and answers with it", async () => {
    assert.equal((await api.call("GET", "/metrics")).status, 401);
    assert.equal((await scrape("wrong")).status, 401);
    assert.equal((await scrape(`${TOKEN}x`)).status, 401);
    assert.equal((await scrape(acme)).status, 401, "a tenant's login token is not the scraper's");
    const ok = await scrape();
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  });

  it("counts reconciles by kind and result, with durations, queue waits and store writes", async () => {
    const text = (await scrape()).text;
    assert.match(text, /^airloft_reconciles_total\{kind="App",result="success"\} [1-9]/m);
    assert.match(text, /^airloft_reconcile_duration_seconds_count\{kind="App",result="success"\} [1-9]/m);
    assert.match(text, /^airloft_queue_wait_seconds_count\{kind="Group"\} [1-9]/m);
    assert.match(text, /^airloft_queue_depth \d+$/m);
    assert.match(text, /^airloft_store_write_duration_seconds_count [1-9]/m);
    assert.match(text, /^airloft_store_written_bytes_total [1-9]/m);
    assert.match(text, /^airloft_objects\{kind="App"\} 2$/m);
    assert.match(text, /^airloft_stalled_objects\{kind="App"\} 0$/m);
    assert.match(text, /^airloft_watch_clients 0$/m);
    assert.match(text, /^process_resident_memory_bytes /m);
    assert.match(
      text,
      /^airloft_api_requests_total\{method="PUT",route="\/apis\/airloft\.dev\/v1alpha1\/groups\/:group\/apps\/:name",status="201"\} 2$/m,
    );
  });

  it("shows replicas desired and ready per app, and usage per replica from the last stats pass", async () => {
    const now = Date.now();
    const acmeUid = api.store.peek("App/acme/web")?.metadata.uid ?? "";
    const betaUid = api.store.peek("App/beta/web")?.metadata.uid ?? "";
    provider.usageFigures = [usage(acmeUid, "acme", "web", 10, now), usage(betaUid, "beta", "web", 5, now)];
    await metrics.sampler.pass();
    provider.usageFigures = [
      usage(acmeUid, "acme", "web", 11, now + 2000),
      usage(betaUid, "beta", "web", 5, now + 2000),
    ];
    await metrics.sampler.pass();
    const text = (await scrape()).text;
    assert.match(text, /^airloft_replicas_desired\{group="acme",kind="app",name="web"\} 1$/m);
    assert.match(text, /^airloft_replicas_ready\{group="acme",kind="app",name="web"\} 1$/m);
    assert.match(text, /^airloft_replica_cpu_cores\{group="acme",kind="app",name="web",replica="0"\} 0\.5$/m);
    assert.match(text, /^airloft_replica_memory_bytes\{group="acme",kind="app",name="web",replica="0"\} 1000000$/m);
    assert.match(text, /^airloft_replica_restarts\{group="acme",kind="app",name="web",replica="0"\} 2$/m);
  });

  it("scrapes read the cached pass: no stats call per scrape or per request", async () => {
    const passes = provider.usagePasses;
    for (let i = 0; i < 20; i++) {
      await scrape();
      await api.call("GET", `${API}/groups/acme/metrics`, { token: acme });
    }
    assert.equal(provider.usagePasses, passes);
  });

  it("gives a tenant its own group's app series only, 403 for another group, 401 without a login", async () => {
    const own = await api.call("GET", `${API}/groups/acme/metrics`, { token: acme });
    assert.equal(own.status, 200);
    assert.ok(series(own.text).length >= 5, own.text);
    for (const line of series(own.text)) assert.match(line, /\{group="acme",/);
    assert.doesNotMatch(own.text, /airloft_reconciles_total|airloft_api_requests|process_/);
    assert.equal((await api.call("GET", `${API}/groups/beta/metrics`, { token: acme })).status, 403);
    assert.equal((await api.call("GET", `${API}/groups/beta/metrics`)).status, 401);
    assert.equal((await api.call("PUT", `${API}/groups/acme/metrics`, { token: acme, body: {} })).status, 405);
    const json = await api.call("GET", `${API}/groups/acme/metrics?format=json`, { token: acme });
    const figures = JSON.parse(json.text) as { replicas: Array<{ name: string; cpuCores: number }> };
    assert.deepEqual(
      figures.replicas.map((r) => [r.name, r.cpuCores]),
      [["web", 0.5]],
    );
    assert.equal((await api.call("GET", `${API}/groups/beta/metrics?format=json`, { token: acme })).status, 403);
  });

  it("keeps the route label bounded: random paths make no new series and never appear in it", async () => {
    const admin = await api.adminToken();
    const made: string[] = [];
    const random = () => {
      const word = `r${Math.random().toString(36).slice(2)}`;
      made.push(word);
      return word;
    };
    const paths = (n: number) =>
      Array.from(
        { length: n },
        (_, i) =>
          [
            `/${random()}`,
            `${API}/groups/${random()}/${random()}`,
            `${API}/groups/acme/apps/${random()}`,
            `${API}/groups/acme/${random()}/${random()}/${random()}`,
            `/api/accounts/groups/${random()}/x`,
            `${API}/${random()}`,
          ][i % 6] as string,
      );
    const run = async (n: number) => {
      const list = paths(n);
      for (let i = 0; i < list.length; i += 50)
        await Promise.all(list.slice(i, i + 50).map((p) => api.call("GET", p, { token: i % 100 ? acme : admin })));
    };
    await run(600);
    await scrape(); // the scrape itself is a route: counted from the next one
    const first = await scrape();
    const before = series(first.text, "airloft_api_requests_total").length;
    await run(3000);
    const after = await scrape();
    const requests = series(after.text, "airloft_api_requests_total");
    assert.equal(requests.length, before, "3,000 more random paths made no new request series");
    const ours = (text: string) => series(text).filter((l) => l.startsWith("airloft_"));
    assert.equal(ours(after.text).length, ours(first.text).length, "nor any other series");
    assert.ok(requests.length < 40, requests.join("\n"));
    assert.match(after.text, /route="unmatched"/);
    for (const word of made.slice(-500)) assert.ok(!after.text.includes(word), `${word} is in a label`);
  });

  it("drops a deleted app's series at once", async () => {
    const reconciled = new Promise<void>((resolve) =>
      manager.events.on("reconciled", (key) => key === "App/beta/web" && resolve()),
    );
    assert.equal((await api.call("DELETE", `${API}/groups/beta/apps/web`, { token: beta })).status, 200);
    await reconciled;
    while (api.store.peek("App/beta/web")) await once(api.store.events, "change");
    const text = (await scrape()).text;
    assert.doesNotMatch(text, /group="beta"/);
    assert.match(text, /group="acme"/);
  });

  it("counts a terminal failure as stalled, and the stalled object until its spec changes", async () => {
    provider.failWith = new TerminalError("InvalidConfig", "this image cannot run here");
    provider.failWhen = (call) => call === "app bad";
    const stalled = new Promise<void>((resolve) =>
      manager.events.on("failed", (key, outcome) => key === "App/acme/bad" && outcome === "stalled" && resolve()),
    );
    await api.call("PUT", `${API}/groups/acme/apps/bad`, { token: acme, body: app("acme", "bad") });
    await stalled;
    while (api.store.peek("App/acme/bad")?.status?.conditions?.every((c) => c.type !== "Stalled"))
      await once(api.store.events, "change");
    const text = (await scrape()).text;
    assert.match(text, /^airloft_reconciles_total\{kind="App",result="stalled"\} 1$/m);
    assert.match(text, /^airloft_stalled_objects\{kind="App"\} 1$/m);
    assert.doesNotMatch(text, /^airloft_reconcile_retries_total\{kind="App"\}/m, "a stalled object is not retried");
  });
});

describe("metrics: route templates and the controller's listener", () => {
  it("names routes by template and keeps known words only", () => {
    assert.equal(routeTemplate(`${API}/groups/acme/apps/web`), `${API}/groups/:group/apps/:name`);
    assert.equal(routeTemplate(`${API}/groups/acme/apps/web/events`), `${API}/groups/:group/apps/:name/events`);
    assert.equal(routeTemplate(`${API}/groups/acme/metrics`), `${API}/groups/:group/metrics`);
    assert.equal(routeTemplate(`${API}/groups/acme/apps/web/logs`), `${API}/groups/:group/apps/:name/logs`);
    assert.equal(routeTemplate(`${API}/groups/acme/services/db/logs`), `${API}/groups/:group/services/:name/logs`);
    assert.equal(routeTemplate(`${API}/groups/acme/secrets/tls`), `${API}/groups/:group/secrets/:name`);
    assert.equal(routeTemplate(`${API}/secrets/rotate-key`), `${API}/secrets/rotate-key`);
    assert.equal(routeTemplate(`${API}/secrets/other-verb`), "unmatched");
    assert.equal(routeTemplate(`${API}/groups/acme`), `${API}/groups/:group`);
    assert.equal(routeTemplate(`${API}/apply`), `${API}/apply`);
    assert.equal(routeTemplate(`${API}/sources/x/suspend`), `${API}/sources/:name/suspend`);
    assert.equal(routeTemplate("/api/accounts/groups/acme"), "/api/accounts/groups/:name");
    assert.equal(routeTemplate("/metrics"), "/metrics");
    assert.equal(routeTemplate(`${API}/groups/acme/widgets`), "unmatched");
    assert.equal(routeTemplate(`${API}/groups/acme/apps/web/x`), "unmatched");
    assert.equal(routeTemplate("/etc/passwd"), "unmatched");
  });

  it("keeps only the asked group's series, and their families' HELP and TYPE", () => {
    const text = [
      "# HELP a_metric A.",
      "# TYPE a_metric gauge",
      'a_metric{group="acme",name="web"} 1',
      'a_metric{group="acme-x",name="web"} 2',
      'a_metric{name="acme",group="other"} 3',
      "# HELP b_metric B.",
      "# TYPE b_metric gauge",
      'b_metric{group="other"} 4',
      "",
    ].join("\n");
    assert.equal(
      groupSeries(text, "acme"),
      '# HELP a_metric A.\n# TYPE a_metric gauge\na_metric{group="acme",name="web"} 1\n',
    );
  });

  it("takes HOST:PORT or a bare port on 127.0.0.1, and refuses an open listener beyond this machine", async () => {
    assert.deepEqual(parseMetricsAddress("9100"), { host: "127.0.0.1", port: 9100 });
    assert.deepEqual(parseMetricsAddress("0.0.0.0:9100"), { host: "0.0.0.0", port: 9100 });
    assert.deepEqual(parseMetricsAddress("[::1]:9100"), { host: "::1", port: 9100 });
    assert.throws(() => parseMetricsAddress("host:"), /--metrics-address/);
    assert.throws(() => parseMetricsAddress(":x"), /--metrics-address/);
    const metrics = { loop: undefined } as unknown as Metrics;
    await assert.rejects(listenMetrics(metrics, "0.0.0.0:0", undefined), /beyond this machine/);
  });
});
