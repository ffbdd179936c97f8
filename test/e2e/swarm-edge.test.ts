import { strict as assert } from "node:assert";
import type Docker from "dockerode";
import { edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import { edgeLabels, edgeNames } from "../../src/providers/docker/edge/settings.js";
import type { App, Group } from "../../src/resources/types.js";
import { getOnce } from "../../support/http-load.js";
import { SWARM_TEST_IMAGE } from "../../support/swarm.js";
import { execOutput } from "../support/container-exec.js";
import { commandMissing, requireComponent } from "../support/e2e.js";
import { caddyImage, EDGE_IMAGE } from "../support/edge-image.js";
import { countRequests, edgeContainer, swarmGroupSuite, until } from "../support/swarm-group.js";

/** Published in the manager's own network namespace, where nothing else listens. */
const PORT = 18_480;
const HTTPS_PORT = 18_484;
const DOMAIN = "swedge.localhost";
/** Each replica answers with its hostname (the task's container id). */
const SERVE = ["sh", "-c", 'mkdir -p /www && echo "$HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www'];

/** The edge proxy on the real three-node swarm (support/swarm.ts): an ordinary container on the manager. */
describe("swarm provider: the edge proxy", function () {
  this.timeout(300_000);
  const suite = swarmGroupSuite(() => ({
    AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
    AIRLOFT_EDGE_HTTP_PORT: String(PORT),
    AIRLOFT_EDGE_HTTPS_PORT: String(HTTPS_PORT),
  }));
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
      (await manager().listConfigs({
        filters: { label: [`airloft.dev/instance=${suite.provider.instanceId}`] },
      })) as unknown[]
    ).length;
  const edgeServices = async () =>
    ((await manager().listServices({ filters: { name: [edgeName()] } })) as unknown[]).length;
  const edge = () => edgeContainer(manager(), suite.provider.instanceId);

  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    // Made on the manager, where the edge's task runs: no registry is involved.
    await caddyImage(suite.swarm.host);
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
    // An earlier version's edge: a Swarm service with its Caddy config in a Swarm config, both removed by the first pass.
    const labels = edgeLabels(suite.provider.instanceId, "old");
    const config = (await manager().createConfig({
      Name: `${edgeName()}_old`,
      Labels: labels,
      Data: Buffer.from("{}").toString("base64"),
    })) as { id: string };
    await manager().createService({
      Name: edgeName(),
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: SWARM_TEST_IMAGE,
          Command: ["sleep", "3600"],
          Labels: labels,
          Configs: [
            {
              ConfigID: config.id,
              ConfigName: `${edgeName()}_old`,
              File: { Name: "/old.json", UID: "0", GID: "0", Mode: 0o444 },
            },
          ],
        },
        Placement: { Constraints: ["node.role==manager"] },
      },
      EndpointSpec: { Ports: [{ Protocol: "tcp", TargetPort: 80, PublishedPort: PORT, PublishMode: "host" }] },
    });
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
    assert.equal(await edgeServices(), 0, "the earlier version's edge service removed");
    assert.equal(await edgeConfigs(), 0, "and its config");
  });

  it("refuses a tenant's task on the overlay (403) and never lets it reach the admin API", async () => {
    const tenant = suite.app("tenant", { image: SWARM_TEST_IMAGE, command: ["sh", "-c", "exec sleep 3600"] });
    const task = (await reconcile(tenant, webApp)).replicas[0];
    const ip = (await edge())?.networks[`airloft-${group.metadata.name}`] ?? "";
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

  /** Requests to a host, one after another, until stopped: the answered and the failed counted. */
  const traffic = (host: string) => countRequests(() => get(host));

  it("takes a route change into the running Caddy without a restart", async () => {
    const before = await edge();
    assert.ok(before, "the edge runs");
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
    assert.deepEqual(await edge(), before, "the same Caddy serves, on the same networks");
  });

  let apiApp: App;

  it("refuses no request while another app is added and a route changes", async () => {
    const before = await edge();
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
    assert.equal(counts.failed, 0, `the first failure: ${counts.firstFailure}`);
    assert.ok(counts.ok > 0);
    assert.equal((await get(`api.${DOMAIN}`)).status, 404, "api's old host gone");
    assert.ok(answered.body.trim().length > 0);
    assert.deepEqual(await edge(), before, "no restart");
  });

  it("comes back serving the current routes when Caddy is killed: the engine restarts the container, which resumes its last config", async () => {
    const killed = await edge();
    assert.ok(killed, "the edge runs");
    process.kill(killed.pid, "SIGKILL");
    const back = await until(edge, (e) => e !== undefined && e.pid !== killed.pid, "the engine restarted the edge", 60);
    assert.equal(back?.id, killed.id, "the same container");
    // The same networks; the manager may give it another address on an overlay.
    assert.deepEqual(Object.keys(back?.networks ?? {}).sort(), Object.keys(killed.networks).sort());
    // Before any pass of AirLoft: the routes it loaded last.
    for (const host of ["store", "api2"])
      await until(
        () => get(`${host}.${DOMAIN}`),
        (r) => r.status === 200,
        `${host} answered after the restart`,
        60,
      );
    assert.equal((await get(`web.${DOMAIN}`)).status, 404);
  });

  it("drops a removed app's route, and the edge once no app is routed", async () => {
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
    assert.equal(await edge(), undefined, "the edge removed");
    assert.equal(await edgeServices(), 0);
  });
});
