import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import type Docker from "dockerode";
import type { SwarmProvider } from "../../src/providers/swarm/provider.js";
import type { AppOutcome } from "../../src/providers/types.js";
import { API_VERSION, type App, type Group, type Service } from "../../src/resources/types.js";
import { loseNode, returnNode, SWARM_REDIS_IMAGE, SWARM_TEST_IMAGE, type TestSwarm } from "../../support/swarm.js";
import { execOutput } from "../support/container-exec.js";
import { swarmGroupSuite, until } from "../support/swarm-group.js";

const PASSWORD = "swarm-test-secret-0123456789";

/** Runs the test on the real three-node swarm (support/swarm.ts): apps and services as Swarm services. */
describe("swarm provider on a three-node swarm", function () {
  this.timeout(240_000);
  const suite = swarmGroupSuite();
  let swarm: TestSwarm;
  let provider: SwarmProvider;
  let group: Group;
  const meta = (name: string) => suite.meta(name);
  const app = (name: string, spec: App["spec"]): App => suite.app(name, spec);
  const manager = () => swarm.nodes[0]?.docker as Docker;
  const nodeName = (index: number) => swarm.nodes[index]?.netns ?? "";

  const converged = (a: App) =>
    until(
      () => provider.reconcileApp(a, group),
      (o) => o.converged,
      `${a.metadata.name} converged`,
    );

  before(() => {
    ({ swarm, provider, group } = suite);
  });

  it("makes the group's network an attachable overlay carrying the ownership labels", async () => {
    const [network] = (await manager().listNetworks({
      filters: { name: [`airloft-${group.metadata.name}`] },
    })) as Array<{
      Id: string;
    }>;
    assert.ok(network);
    type Info = { Driver: string; Attachable: boolean; Labels: Record<string, string> };
    // The manager reports the driver once its allocator has taken the network, which may lag on a loaded machine.
    const info = await until(
      async () => (await manager().getNetwork(network.Id).inspect()) as Info,
      (i) => i.Driver !== "",
      "the network allocated",
    );
    assert.equal(info.Driver, "overlay");
    assert.equal(info.Attachable, true);
    assert.equal(info.Labels["airloft.dev/uid"], group.metadata.uid);
    assert.deepEqual(await provider.planGroup(group), []);
  });

  it("spreads an app of six replicas over the three nodes; a second pass does nothing", async () => {
    const web = app("six", { image: SWARM_TEST_IMAGE, replicas: 6, command: ["sh", "-c", "exec sleep 3600"] });
    const outcome = await converged(web);
    assert.equal(outcome.readyReplicas, 6);
    assert.deepEqual(
      outcome.replicas.map((r) => r.replica),
      [0, 1, 2, 3, 4, 5],
    );
    assert.deepEqual(new Set(outcome.replicas.map((r) => r.node)), new Set([0, 1, 2].map(nodeName)));
    assert.deepEqual((await provider.reconcileApp(web, group)).operations, []);
    assert.deepEqual(await provider.planApp(web, group), []);
    assert.ok(await provider.finalizeApp(web, group));
  });

  it("repairs drift: a service scaled by hand is scaled back, one removed by hand comes back", async () => {
    const web = app("drift", { image: SWARM_TEST_IMAGE, replicas: 2, command: ["sh", "-c", "exec sleep 3600"] });
    await converged(web);
    const name = `${group.metadata.name}_drift`;
    const service = manager().getService(name);
    const info = (await service.inspect()) as { Version: { Index: number }; Spec: Record<string, unknown> };
    await service.update({ version: info.Version.Index, ...info.Spec, Mode: { Replicated: { Replicas: 5 } } });
    provider.snapshots.invalidate(swarm.host);
    assert.deepEqual(await provider.planApp(web, group), [
      `app:${group.metadata.name}/drift:2 update-service (scale down 5 -> 2)`,
      `app:${group.metadata.name}/drift:3 update-service (scale down 5 -> 2)`,
      `app:${group.metadata.name}/drift:4 update-service (scale down 5 -> 2)`,
    ]);
    assert.equal((await converged(web)).replicas.length, 2);
    await service.remove();
    provider.snapshots.invalidate(swarm.host);
    assert.deepEqual(await provider.planApp(web, group), [`app:${group.metadata.name}/drift create-service (missing)`]);
    assert.equal((await converged(web)).readyReplicas, 2);
    assert.ok(await provider.finalizeApp(web, group));
  });

  it("lets an app on one node call another by name over the overlay network", async () => {
    // The callee on the workers, the caller on the manager: every call crosses nodes.
    const callee = app("echo", {
      image: SWARM_TEST_IMAGE,
      replicas: 2,
      placement: { constraints: ["node.role==worker"] },
      command: [
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www",
      ],
    });
    const caller = app("caller", {
      image: SWARM_TEST_IMAGE,
      replicas: 1,
      placement: { constraints: ["node.role==manager"] },
      command: ["sh", "-c", 'while true; do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 echo 8080; sleep 1; done'],
    });
    const calleeOutcome = await converged(callee);
    assert.ok(calleeOutcome.replicas.every((r) => r.node !== nodeName(0)));
    const callerOutcome = await converged(caller);
    assert.equal(callerOutcome.replicas[0]?.node, nodeName(0));
    const heard = await until(
      async () => {
        const lines: string[] = [];
        provider.snapshots.invalidate(swarm.host);
        await provider.logs(caller, group, { follow: false, tail: 50, write: (_r, l) => void lines.push(l) });
        return lines;
      },
      (lines) => lines.some((l) => l.startsWith("hello-from-")),
      "an answer from the callee",
    );
    assert.ok(heard.some((l) => l.startsWith("hello-from-")));
    assert.ok(await provider.finalizeApp(caller, group));
    assert.ok(await provider.finalizeApp(callee, group));
  });

  it("rolls an update start-first: a new task runs beside the old one before it goes", async () => {
    const spec = (version: string): App["spec"] => ({
      image: SWARM_TEST_IMAGE,
      replicas: 2,
      command: ["sh", "-c", "exec sleep 3600"],
      env: { VERSION: version },
      healthCheck: { command: ["true"], intervalSeconds: 1, retries: 1 },
    });
    let web = app("roll", spec("1"));
    const first = await converged(web);
    web = { ...web, spec: spec("2") };
    const planned = await provider.planApp(web, group);
    assert.deepEqual(planned, [`app:${group.metadata.name}/roll update-service (config changed)`]);
    let doubled = false;
    const done = await until(
      async () => {
        const outcome = await provider.reconcileApp(web, group);
        doubled ||= outcome.replicas.length > 2 || (await liveTasks(`${group.metadata.name}_roll`)) > 2;
        return outcome;
      },
      (o) => o.converged,
      "rolled out",
    );
    assert.ok(doubled, "an old task kept running while its successor started");
    assert.equal(done.updatedReplicas, 2);
    const hashes = new Set(done.replicas.map((r) => r.configHash));
    assert.equal(hashes.size, 1);
    assert.ok(!first.replicas.some((r) => hashes.has(r.configHash)));
    const inspect = (await manager().getService(`${group.metadata.name}_roll`).inspect()) as {
      Spec: { UpdateConfig: { Order: string; FailureAction: string } };
    };
    assert.equal(inspect.Spec.UpdateConfig.Order, "start-first");
    assert.equal(inspect.Spec.UpdateConfig.FailureAction, "rollback");
    assert.ok(await provider.finalizeApp(web, group));
  });

  it("rolls a bad image back by Swarm's failure action, and the status says so", async () => {
    const spec = (image: string): App["spec"] => ({ image, replicas: 2, command: ["sh", "-c", "exec sleep 3600"] });
    let web = app("bad", spec(SWARM_TEST_IMAGE));
    const good = await converged(web);
    // A registry on the node's own loopback that is not there: the pull fails at once, nothing leaves the node.
    web = { ...web, spec: spec("127.0.0.1:9/airloft-test/missing:1") };
    const rolled = await until(
      () => provider.reconcileApp(web, group),
      (o) => o.waiting?.reason === "RolledBack",
      "rolled back",
    );
    assert.equal(rolled.converged, false);
    assert.match(rolled.waiting?.message ?? "", /rolled the update back/);
    assert.ok(rolled.problems?.some((p) => p.reason === "RolledBack"));
    // The old configuration serves again, and the next passes do not try the bad one again.
    const settled = await until(
      () => provider.reconcileApp(web, group),
      (o) => o.readyReplicas === 0 && o.replicas.filter((r) => r.ready).length === 2,
      "old replicas ready",
    );
    assert.ok(settled.replicas.every((r) => r.configHash === good.replicas[0]?.configHash));
    assert.deepEqual(settled.operations, []);
    assert.ok(await provider.finalizeApp(web, group));
  });

  it("keeps a Redis service's data, on the node its volume is pinned to, across a container loss", async () => {
    let cache: Service = {
      apiVersion: API_VERSION,
      kind: "Service",
      metadata: meta("cache"),
      spec: { template: "redis", image: SWARM_REDIS_IMAGE },
    };
    const pass = () => provider.reconcileService(cache, group, { password: PASSWORD });
    const up = await until(pass, (o) => o.converged, "redis ready");
    assert.ok(up.node, "the node the volume lives on, for the status");
    cache = { ...cache, status: { node: up.node } };
    const node = swarm.nodes.find((n) => n.nodeId === up.node);
    assert.ok(node);
    assert.equal(up.replicas[0]?.node, node.netns);
    const cli = (container: string, ...args: string[]) => redisCli(node.docker, container, args);
    const containerOf = async () =>
      (
        (await manager().listTasks({
          filters: { service: [`${group.metadata.name}_cache`], "desired-state": ["running"] },
        })) as Array<{
          Status: { ContainerStatus?: { ContainerID?: string } };
        }>
      )[0]?.Status.ContainerStatus?.ContainerID ?? "";
    const first = await containerOf();
    assert.equal(await cli(first, "SET", "kept", "across-loss"), "OK");
    await node.docker.getContainer(first).kill();
    const again = await until(
      async () => ({ outcome: await pass(), container: await containerOf() }),
      (o) => o.outcome.converged && o.container !== "" && o.container !== first,
      "redis back in a new container",
    );
    assert.equal(again.outcome.node, up.node);
    assert.equal(await cli(again.container, "GET", "kept"), "across-loss");

    // Retain: the service goes, its data stays on the node; a new incarnation finds it there.
    const volume = (await node.docker.getVolume(`airloft-${group.metadata.name}_cache-data`).inspect()) as {
      Mountpoint: string;
    };
    await until(() => provider.finalizeService(cache, group), Boolean, "service removed");
    assert.notDeepEqual(readdirSync(volume.Mountpoint), []);
    cache = { ...cache, metadata: meta("cache"), status: { node: up.node } };
    const reborn = await until(pass, (o) => o.converged, "redis back");
    assert.equal(reborn.node, up.node);
    assert.equal(await cli(await containerOf(), "GET", "kept"), "across-loss");

    // Delete: once the service is gone, a job on the volume's node empties it.
    cache = { ...cache, spec: { ...cache.spec, storage: { deletionPolicy: "Delete" } } };
    await until(() => provider.finalizeService(cache, group), Boolean, "service and data deleted");
    assert.deepEqual(readdirSync(volume.Mountpoint), []);
    const names = async () =>
      (
        (await manager().listServices({ filters: { name: [`${group.metadata.name}_cache`] } })) as Array<{
          Spec: { Name: string };
        }>
      ).map((x) => x.Spec.Name);
    assert.deepEqual(await names(), [`${group.metadata.name}_cache-wipe`]);
    // The finished job goes with the garbage once the Service has left the store.
    assert.deepEqual(await provider.collectGarbage(group, new Set([group.metadata.uid ?? ""])), [
      `service:${group.metadata.name}/cache remove-service (owner gone)`,
    ]);
    assert.deepEqual(await names(), []);
  });

  it("loses a node: its tasks move to the others, the status names it, then Ready; its return duplicates nothing", async () => {
    const web = app("spread", { image: SWARM_TEST_IMAGE, replicas: 6, command: ["sh", "-c", "exec sleep 3600"] });
    await converged(web);
    const lost = swarm.nodes[2];
    assert.ok(lost);
    await loseNode(lost);
    try {
      const degraded = await until(
        () => provider.reconcileApp(web, group),
        (o) => !o.converged && (o.problems ?? []).some((p) => p.message.includes(lost.netns)),
        "degraded replicas naming the lost node",
      );
      assert.ok(degraded.readyReplicas < 6);
      const back = await until(
        () => provider.reconcileApp(web, group),
        (o: AppOutcome) => o.converged,
        "ready again on the other nodes",
      );
      assert.equal(back.readyReplicas, 6);
      assert.ok(back.replicas.every((r) => r.node !== lost.netns));
    } finally {
      await returnNode(lost);
    }
    await until(
      async () => ((await manager().getNode(lost.nodeId).inspect()) as { Status: { State: string } }).Status.State,
      (state) => state === "ready",
      "the node back in the swarm",
    );
    // The returned node's old containers stop; the app keeps exactly six replicas.
    await until(
      () => runningContainers(lost.docker, `${group.metadata.name}_spread`),
      (n) => n === 0,
      "the returned node's old containers gone",
    );
    const after = await provider.reconcileApp(web, group);
    assert.equal(after.converged, true);
    assert.deepEqual(after.operations, []);
    assert.equal(await liveTasks(`${group.metadata.name}_spread`), 6);
    assert.ok(await provider.finalizeApp(web, group));
  });

  async function liveTasks(service: string): Promise<number> {
    const tasks = (await manager().listTasks({
      filters: { service: [service], "desired-state": ["running"] },
    })) as unknown[];
    return tasks.length;
  }
});

async function runningContainers(docker: Docker, service: string): Promise<number> {
  const containers = await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${service}`] } });
  return containers.length;
}

/** redis-cli inside the service's container, on the node that runs it. */
function redisCli(docker: Docker, container: string, args: string[]): Promise<string> {
  const cmd = ["sh", "-c", 'redis-cli --no-auth-warning -a "$REDIS_PASSWORD" "$@"', "redis-cli", ...args];
  return execOutput(docker, container, cmd);
}
