import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { loadConfig, readConfig } from "../../src/providers/docker/edge/admin.js";
import { edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import { edgeNames } from "../../src/providers/docker/edge/settings.js";
import { swarmSettings } from "../../src/providers/swarm/desired.js";
import { swarmEdgeConfig } from "../../src/providers/swarm/edge-spec.js";
import type { App, Group } from "../../src/resources/types.js";
import { getOnce } from "../../support/http-load.js";
import { SWARM_TEST_IMAGE } from "../../support/swarm.js";
import { REPO_ROOT } from "../support/cli.js";
import { commandMissing, requireComponent } from "../support/e2e.js";
import { countRequests, swarmGroupSuite, until } from "../support/swarm-group.js";

const EDGE_IMAGE = "airloft-test/caddy:2";
/** The Swarm edge's port in this suite, and the plain container's: neither is swarm-edge.test.ts's. */
const EDGE_PORT = 18_482;
const PORT = 18_481;
const SERVE = ["sh", "-c", 'mkdir -p /www && echo "$HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www'];

const over = (c: { failed: number; first: number; last: number }) => (c.failed ? ` over ${c.last - c.first} ms` : "");

type Inspected = {
  Id: string;
  State: { Pid: number; Running: boolean };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
};

/**
 * The Swarm edge and a group it has not joined yet (issue 21), on the real three-node swarm. The
 * edge is a Swarm task, which cannot join an overlay live: a new group's first route restarts it
 * (the first test, pending until the edge can). The other two measure what a fix can rest on: a
 * task's container cannot join an overlay live, and an ordinary container on the manager can,
 * through the manager's own address allocation.
 */
describe("swarm edge: a group it has not joined yet", function () {
  this.timeout(300_000);
  const made: string[] = [];
  // Before the suite's own after-hook: a container left on a group overlay would keep the group.
  after(async () => {
    for (const id of made)
      await manager()
        .getContainer(id)
        .remove({ force: true })
        .catch(() => undefined);
    await suite.provider?.edge.sync(suite.swarm.host, []).catch(() => undefined);
  });
  const suite = swarmGroupSuite(() => ({ AIRLOFT_EDGE_IMAGE: EDGE_IMAGE, AIRLOFT_EDGE_HTTP_PORT: String(EDGE_PORT) }));
  const manager = () => suite.swarm.nodes[0]?.docker as Docker;
  /** From the host, to the manager's address on the bridge. */
  const getAt = (port: number, host: string) =>
    getOnce({ host: suite.swarm.nodes[0]?.ip, port, path: "/", headers: { Host: host }, timeout: 5000 }).catch(
      (err: unknown) => ({ status: 0, body: String(err) }),
    );
  /** The container of the Swarm edge's running task. */
  const edgeContainer = async () => {
    const tasks = (await manager().listTasks({
      filters: { service: [edgeNames(suite.provider.instanceId).container], "desired-state": ["running"] },
    })) as Array<{ Status?: { State?: string; ContainerStatus?: { ContainerID?: string } } }>;
    return tasks.find((t) => t.Status?.State === "running")?.Status?.ContainerStatus?.ContainerID;
  };
  const inspect = async (id: string) => (await manager().getContainer(id).inspect()) as Inspected;
  const addresses = (i: Inspected) =>
    Object.fromEntries(Object.entries(i.NetworkSettings.Networks).map(([k, v]) => [k, v.IPAddress]));
  /** A group of the same swarm beside the suite's, with a domain of its own. */
  const group = (name: string, domain: string): Group => ({
    ...suite.group,
    metadata: { ...suite.group.metadata, name: `${suite.group.metadata.name}-${name}`, uid: randomUUID() },
    spec: { ...suite.group.spec, swarm: { ...suite.group.spec.swarm, edge: { domain } } },
  });
  const appOf = (g: Group, name: string, spec: Partial<App["spec"]> = {}): App => {
    const app = suite.app(name, { image: SWARM_TEST_IMAGE, port: 8080, command: SERVE, ...spec });
    return { ...app, metadata: { ...app.metadata, group: g.metadata.name } };
  };
  const converge = (app: App, g: Group) =>
    until(
      () => suite.provider.reconcileApp(app, g),
      (o) => o.converged,
      `${app.metadata.name} converged`,
    );
  const remove = async (app: App, g: Group) => {
    assert.ok(await until(() => suite.provider.finalizeApp(app, g), Boolean, `${app.metadata.name} removed`));
    assert.ok(await until(() => suite.provider.finalizeGroup(g), Boolean, `${g.metadata.name} deleted`));
  };
  const networkOf = (g: Group) => swarmSettings(g).network;

  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    await promisify(execFile)("sh", [join(REPO_ROOT, "scripts/caddy-image.sh"), EDGE_IMAGE], {
      env: { ...process.env, DOCKER_HOST: suite.swarm.host },
    });
  });

  // Pending (issue 21): the edge is a Swarm task, so it restarts. With the edge of main at 0420b12 it
  // failed 92 of 214 requests over 2.0 s as the group joined and 47 of 173 over 1.0 s as it went.
  it.skip("takes an app of a new group without a restart, and lets the group go again, refusing no request", async () => {
    const a = group("ea", "ea.test");
    const b = group("eb", "eb.test");
    await suite.provider.reconcileGroup(a);
    const web = appOf(a, "web", { replicas: 2 });
    const other = appOf(b, "other");
    const routed = (...apps: App[]) => edgeRoutes([a, b, ...apps]).routes;
    await until(
      () => suite.provider.reconcileApp(web, a, { edgeRoutes: routed(web) }),
      (o) => o.converged,
      "web converged",
    );
    const get = (host: string) => getAt(EDGE_PORT, host);
    await until(
      () => get("web.ea.test"),
      (r) => r.status === 200,
      "web answered through the edge",
      60,
    );
    const first = await edgeContainer();

    const joining = countRequests(() => get("web.ea.test"));
    await suite.provider.reconcileGroup(b);
    await until(
      () => suite.provider.reconcileApp(other, b, { edgeRoutes: routed(web, other) }),
      (o) => o.converged,
      "the new group's app converged",
    );
    await until(
      () => get("other.eb.test"),
      (r) => r.status === 200,
      "the new group's app answered",
      60,
    );
    const joined = await joining();
    console.log(
      `      a new group joined under traffic: ${joined.ok} answered, ${joined.failed} failed${over(joined)}`,
    );

    const leaving = countRequests(() => get("web.ea.test"));
    assert.ok(
      await until(() => suite.provider.finalizeApp(other, b, { edgeRoutes: routed(web) }), Boolean, "other removed"),
    );
    assert.ok(await until(() => suite.provider.finalizeGroup(b), Boolean, "the new group deleted"));
    const left = await leaving();
    console.log(`      the group deleted under traffic: ${left.ok} answered, ${left.failed} failed${over(left)}`);
    assert.equal(joined.failed + left.failed, 0);
    assert.ok(joined.ok > 0 && left.ok > 0);
    assert.equal((await get("other.eb.test")).status, 404, "the deleted group's host gone");
    assert.equal(await edgeContainer(), first, "no restart");
    assert.ok(await until(() => suite.provider.finalizeApp(web, a, { edgeRoutes: [] }), Boolean, "web removed"));
    assert.ok(await until(() => suite.provider.finalizeGroup(a), Boolean, "the first group deleted"));
  });

  it("a task's container: no overlay not on its node, and one that is gets an address the manager never gave", async () => {
    const a = group("ta", "ta.test");
    const b = group("tb", "tb.test");
    await suite.provider.reconcileGroup(a);
    await suite.provider.reconcileGroup(b);
    // A task on the manager (on a's overlay), and b's only task on a worker.
    const onManager = appOf(a, "pinned", { placement: { constraints: ["node.role==manager"] } });
    const elsewhere = appOf(b, "away", { placement: { constraints: ["node.role==worker"] } });
    const task = (await converge(onManager, a)).replicas[0]?.containerId ?? "";
    await converge(elsewhere, b);
    await assert.rejects(
      manager().getNetwork(networkOf(b)).connect({ Container: task }),
      (err: { statusCode?: number }) => err.statusCode === 404,
    );
    // Once the overlay is on the manager (an ordinary container joined it), the task's container joins...
    const plain = await manager().createContainer({ Image: SWARM_TEST_IMAGE, Cmd: ["sleep", "600"] });
    made.push(plain.id);
    await plain.start();
    await manager().getNetwork(networkOf(b)).connect({ Container: plain.id });
    await manager().getNetwork(networkOf(b)).connect({ Container: task });
    const taskAddress = addresses(await inspect(task))[networkOf(b)] ?? "";
    assert.match(taskAddress, /^\d+\.\d+\.\d+\.\d+$/);
    // ...with an address from the node's own pool: the manager's task has no attachment to the overlay,
    // so nothing in the swarm keeps another task from the same address.
    const tasks = (await manager().listTasks({ filters: { "desired-state": ["running"] } })) as Array<{
      Status?: { ContainerStatus?: { ContainerID?: string } };
      NetworksAttachments?: Array<{ Network: { Spec: { Name: string } }; Addresses: string[] }>;
    }>;
    const onB = tasks.flatMap((t) =>
      (t.NetworksAttachments ?? [])
        .filter((n) => n.Network.Spec.Name === networkOf(b))
        .map((n) => ({ container: t.Status?.ContainerStatus?.ContainerID, address: n.Addresses[0]?.split("/")[0] })),
    );
    assert.ok(!onB.some((t) => t.container === task), "the manager does not know the task joined");
    const clash = onB.find((t) => t.address === taskAddress);
    console.log(
      `      a task's container joined an overlay on its node at ${taskAddress}` +
        (clash ? `, the address of another task of the overlay` : ""),
    );
    await manager().getNetwork(networkOf(b)).disconnect({ Container: task, Force: true });
    await manager().getNetwork(networkOf(b)).disconnect({ Container: plain.id, Force: true });
    await remove(onManager, a);
    await remove(elsewhere, b);
  });

  it("a plain container on the manager: joins and leaves an overlay under traffic, none refused, and the group can go", async () => {
    const a = group("pa", "pa.test");
    const b = group("pb", "pb.test");
    await suite.provider.reconcileGroup(a);
    const web = appOf(a, "web", { replicas: 2 });
    const other = appOf(b, "other", { placement: { constraints: ["node.role==worker"] } });
    await converge(web, a);
    const edge = await manager().createContainer({
      Image: EDGE_IMAGE,
      name: `airloft-test-edge_${randomUUID().slice(0, 8)}`,
      Cmd: ["caddy", "run", "--resume"],
      Env: ["XDG_CONFIG_HOME=/config", "XDG_DATA_HOME=/data"],
      ExposedPorts: { "80/tcp": {} },
      HostConfig: { PortBindings: { "80/tcp": [{ HostPort: String(PORT) }] }, RestartPolicy: { Name: "always" } },
    });
    made.push(edge.id);
    await edge.start();
    const route = async (groups: Group[], apps: App[]) => {
      suite.provider.snapshots.invalidate(suite.swarm.host);
      const snapshot = await suite.provider.snapshots.get(suite.swarm.host);
      const config = swarmEdgeConfig(suite.provider.instanceId, edgeRoutes([...groups, ...apps]).routes, snapshot);
      await loadConfig(manager(), edge.id, JSON.parse(config.data.toString()) as unknown);
    };
    const get = (host: string) => getAt(PORT, host);
    await manager().getNetwork(networkOf(a)).connect({ Container: edge.id });
    await route([a], [web]);
    await until(
      () => get("web.pa.test"),
      (r) => r.status === 200,
      "web answered",
      60,
    );

    const joining = countRequests(() => get("web.pa.test"));
    await suite.provider.reconcileGroup(b);
    await converge(other, b);
    let t0 = Date.now();
    await manager().getNetwork(networkOf(b)).connect({ Container: edge.id });
    const joinMs = Date.now() - t0;
    await route([a, b], [web, other]);
    await until(
      () => get("other.pb.test"),
      (r) => r.status === 200,
      "the new group's app answered",
      60,
    );
    const joined = await joining();
    console.log(`      joined under traffic (connect ${joinMs} ms): ${joined.ok} answered, ${joined.failed} failed`);
    assert.equal(joined.failed, 0);

    // The container's address on the overlay is the manager's allocation: no task of the overlay has it.
    const before = await inspect(edge.id);
    const tasks = (await manager().listTasks({ filters: { "desired-state": ["running"] } })) as Array<{
      NetworksAttachments?: Array<{ Network: { Spec: { Name: string } }; Addresses: string[] }>;
    }>;
    const taken = tasks.flatMap((t) =>
      (t.NetworksAttachments ?? []).filter((n) => n.Network.Spec.Name === networkOf(b)).map((n) => n.Addresses[0]),
    );
    assert.ok(!taken.some((x) => x?.split("/")[0] === addresses(before)[networkOf(b)]), JSON.stringify(taken));

    // The engine restarts it (its process killed): the same container, on the same overlays, with the routes loaded last.
    process.kill(before.State.Pid, "SIGKILL");
    const back = await until(
      () => inspect(edge.id),
      (i) => i.State.Running && i.State.Pid !== before.State.Pid,
      "the engine restarted the container",
      60,
    );
    assert.deepEqual(Object.keys(addresses(back)).sort(), Object.keys(addresses(before)).sort());
    await until(
      () => get("other.pb.test"),
      (r) => r.status === 200,
      "the routes loaded last, after the restart",
      60,
    );
    assert.notEqual(await readConfig(manager(), edge.id), null);

    const leaving = countRequests(() => get("web.pa.test"));
    await route([a, b], [web]);
    t0 = Date.now();
    await manager().getNetwork(networkOf(b)).disconnect({ Container: edge.id, Force: true });
    const leaveMs = Date.now() - t0;
    await remove(other, b);
    const left = await leaving();
    console.log(
      `      left and deleted under traffic (disconnect ${leaveMs} ms): ${left.ok} answered, ${left.failed} failed`,
    );
    assert.equal(left.failed, 0);
    assert.equal((await get("other.pb.test")).status, 404);
    await manager().getNetwork(networkOf(a)).disconnect({ Container: edge.id, Force: true });
    await remove(web, a);
  });
});
