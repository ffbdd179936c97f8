import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import { edgeNames } from "../../src/providers/docker/edge/settings.js";
import type { App, Group } from "../../src/resources/types.js";
import { getOnce } from "../../support/http-load.js";
import { SWARM_TEST_IMAGE } from "../../support/swarm.js";
import { REPO_ROOT } from "../support/cli.js";
import { execOutput } from "../support/container-exec.js";
import { commandMissing, requireComponent } from "../support/e2e.js";
import { countRequests, swarmGroupSuite, until } from "../support/swarm-group.js";

const EDGE_IMAGE = "airloft-test/caddy:2";
/** Published in host mode in the manager's own network namespace, where nothing else listens. */
const PORT = 18_480;
const DOMAIN = "swedge.test";
/** Each replica answers with its hostname (the task's container id). */
const SERVE = ["sh", "-c", 'mkdir -p /www && echo "$HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www'];

/** The edge proxy as a Swarm service on the real three-node swarm (support/swarm.ts). */
describe("swarm provider: the edge proxy as a Swarm service", function () {
  this.timeout(300_000);
  const suite = swarmGroupSuite(() => ({ AIRLOFT_EDGE_IMAGE: EDGE_IMAGE, AIRLOFT_EDGE_HTTP_PORT: String(PORT) }));
  const manager = () => suite.swarm.nodes[0]?.docker as Docker;
  const nodeOf = (name: string | undefined) => suite.swarm.nodes.find((n) => n.netns === name)?.docker as Docker;
  const edgeName = () => edgeNames(suite.provider.instanceId).container;
  let group: Group;
  /** From the host, to the manager's address on the bridge. */
  const get = (host: string) =>
    getOnce({ host: suite.swarm.nodes[0]?.ip, port: PORT, path: "/", headers: { Host: host }, timeout: 5000 }).catch(
      (err: unknown) => ({ status: 0, body: String(err) }),
    );
  const routed = (...apps: App[]) => edgeRoutes([group, ...apps]).routes;
  const reconcile = (app: App, ...routedApps: App[]) =>
    until(
      () => suite.provider.reconcileApp(app, group, { edgeRoutes: routed(...routedApps) }),
      (o) => o.converged,
      `${app.metadata.name} converged`,
    );
  const edgeConfigs = async () =>
    (
      (await manager().listConfigs({ filters: { label: ["airloft.dev/kind=Edge"] } })) as Array<{
        Spec: { Name: string; Labels: Record<string, string> };
      }>
    )
      .filter((c) => c.Spec.Name.startsWith(edgeName()))
      .map((c) => c.Spec.Name)
      .sort();
  const edgeServices = async () =>
    ((await manager().listServices({ filters: { name: [edgeName()] } })) as unknown[]).length;

  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    // Made on the manager, where the edge's task runs: no registry is involved.
    await promisify(execFile)("sh", [join(REPO_ROOT, "scripts/caddy-image.sh"), EDGE_IMAGE], {
      env: { ...process.env, DOCKER_HOST: suite.swarm.host },
    });
    group = {
      ...suite.group,
      spec: { ...suite.group.spec, swarm: { ...suite.group.spec.swarm, edge: { domain: DOMAIN } } },
    };
  });

  after(async () => {
    // Whatever a failed test left: the edge goes with the last route.
    await suite.provider?.edge.sync(suite.swarm.host, []).catch(() => undefined);
  });

  const web = () => suite.app("web", { image: SWARM_TEST_IMAGE, replicas: 3, port: 8080, command: SERVE });
  let webApp: App;

  it("serves an app's three replicas on their nodes through the edge, at the port the manager publishes", async () => {
    webApp = web();
    const outcome = await reconcile(webApp, webApp);
    assert.equal(outcome.url, `http://web.${DOMAIN}:${PORT}/`);
    const nodes = new Set(outcome.replicas.map((r) => r.node));
    assert.ok(nodes.size >= 2, `replicas spread over nodes: ${[...nodes].join(", ")}`);
    const expected = new Set(outcome.replicas.map((r) => r.containerId));
    const seen = new Set<string>();
    await until(
      async () => {
        for (let i = 0; i < 12; i++) {
          const r = await get(`web.${DOMAIN}`);
          if (r.status === 200) seen.add(r.body.trim());
        }
        return seen;
      },
      (s) => [...expected].every((id) => s.has(id)),
      "every replica answered through the edge",
      60,
    );
    assert.deepEqual([...seen].sort(), [...expected].sort());
    assert.equal((await get(`nobody.${DOMAIN}`)).status, 404);
    assert.deepEqual((await edgeConfigs()).length, 1);
  });

  it("refuses a tenant's task on the overlay (403) and never lets it reach the admin API", async () => {
    const tenant = suite.app("tenant", { image: SWARM_TEST_IMAGE, command: ["sh", "-c", "exec sleep 3600"] });
    const task = (await reconcile(tenant, webApp)).replicas[0];
    const [edgeTask] = (await manager().listTasks({
      filters: { service: [edgeName()], "desired-state": ["running"] },
    })) as Array<{ NetworksAttachments?: Array<{ Network: { Spec: { Name: string } }; Addresses: string[] }> }>;
    const onOverlay = edgeTask?.NetworksAttachments?.find(
      (a) => a.Network.Spec.Name === `airloft-${group.metadata.name}`,
    );
    const ip = onOverlay?.Addresses[0]?.split("/")[0] ?? "";
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, "the edge's address on the group overlay");
    const ask = (port: number, path: string) =>
      execOutput(nodeOf(task?.node), task?.containerId ?? "", [
        "sh",
        "-c",
        `printf 'GET ${path} HTTP/1.0\\r\\nHost: web.${DOMAIN}\\r\\n\\r\\n' | nc -w 3 ${ip} ${port}; true`,
      ]);
    assert.match(await ask(80, "/"), /^HTTP\/1\.[01] 403/);
    assert.doesNotMatch(await ask(2019, "/config/"), /HTTP\/1/);
    assert.ok(await until(() => suite.provider.finalizeApp(tenant, group), Boolean, "tenant removed"));
  });

  /** The container of the edge's running task on the manager. */
  const edgeContainer = async () => {
    const tasks = (await manager().listTasks({
      filters: { service: [edgeName()], "desired-state": ["running"] },
    })) as Array<{ Status?: { State?: string; ContainerStatus?: { ContainerID?: string } } }>;
    return tasks.find((t) => t.Status?.State === "running")?.Status?.ContainerStatus?.ContainerID;
  };
  /** Requests to a host, one after another, until stopped: the answered and the failed counted. */
  const traffic = (host: string) => countRequests(() => get(host));

  it("takes a route change into the running Caddy without a restart, removing configs no spec names", async () => {
    const first = await edgeConfigs();
    const before = await edgeContainer();
    assert.ok(before, "the edge task runs");
    for (const host of ["shop", "store"]) {
      webApp = { ...webApp, spec: { ...webApp.spec, expose: { domain: `${host}.${DOMAIN}` } } };
      const outcome = await reconcile(webApp, webApp);
      assert.equal(outcome.url, `http://${host}.${DOMAIN}:${PORT}/`);
      await until(
        () => get(`${host}.${DOMAIN}`),
        (r) => r.status === 200,
        `${host} answered through the edge`,
        60,
      );
    }
    assert.equal((await get(`web.${DOMAIN}`)).status, 404);
    assert.equal(await edgeContainer(), before, "the same task serves");
    // The spec's config (a restarted task starts with it) and the current one; the one between is gone.
    const now = await edgeConfigs();
    assert.equal(now.length, 2, now.join(", "));
    assert.ok(now.includes(first[0] ?? ""), "the spec's config kept");
  });

  let apiApp: App;

  it("refuses no request while another app is added and a route changes", async () => {
    const before = await edgeContainer();
    const stop = traffic(`store.${DOMAIN}`);
    apiApp = suite.app("api", { image: SWARM_TEST_IMAGE, port: 8080, command: SERVE });
    await reconcile(apiApp, webApp, apiApp);
    await until(
      () => get(`api.${DOMAIN}`),
      (r) => r.status === 200,
      "api answered",
      60,
    );
    apiApp = { ...apiApp, spec: { ...apiApp.spec, expose: { domain: `api2.${DOMAIN}` } } };
    await reconcile(apiApp, webApp, apiApp);
    const answered = await until(
      () => get(`api2.${DOMAIN}`),
      (r) => r.status === 200,
      "api's new host answered",
      60,
    );
    const counts = await stop();
    console.log(
      `      route changes under traffic: ${counts.ok} answered, ${counts.failed} failed` +
        (counts.failed ? ` over ${counts.last - counts.first} ms` : ""),
    );
    assert.equal(counts.failed, 0);
    assert.ok(counts.ok > 0);
    assert.equal((await get(`api.${DOMAIN}`)).status, 404, "api's old host gone");
    assert.ok(answered.body.trim().length > 0);
    assert.equal(await edgeContainer(), before, "no restart");
  });

  it("brings a task Swarm restarted (its container killed) to the current routes at the next pass", async () => {
    const killed = (await edgeContainer()) ?? "";
    await manager().getContainer(killed).kill();
    const back = await until(
      edgeContainer,
      (id) => id !== undefined && id !== killed,
      "Swarm restarted the edge task",
      60,
    );
    // It starts with the config its spec names (web's first host), until AirLoft's pass loads the current one.
    await until(
      () => get(`web.${DOMAIN}`),
      (r) => r.status === 200,
      "the restarted Caddy listens",
      60,
    );
    assert.equal((await get(`store.${DOMAIN}`)).status, 404, "a stale route table before the pass");
    await reconcile(apiApp, webApp, apiApp);
    for (const host of ["store", "api2"])
      assert.equal((await get(`${host}.${DOMAIN}`)).status, 200, `${host} answered after the pass`);
    assert.equal((await get(`web.${DOMAIN}`)).status, 404);
    assert.equal(await edgeContainer(), back, "repaired in place");
  });

  it("drops a removed app's route, and the edge with its configs once no app is routed", async () => {
    assert.ok(
      await until(
        () => suite.provider.finalizeApp(webApp, group, { edgeRoutes: routed(apiApp) }),
        Boolean,
        "web removed",
      ),
    );
    await until(
      () => get(`store.${DOMAIN}`),
      (r) => r.status === 404,
      "web's route gone",
      60,
    );
    assert.equal((await get(`api2.${DOMAIN}`)).status, 200);
    assert.ok(
      await until(() => suite.provider.finalizeApp(apiApp, group, { edgeRoutes: routed() }), Boolean, "api removed"),
    );
    assert.equal(await edgeServices(), 0);
    assert.deepEqual(await edgeConfigs(), []);
  });
});
