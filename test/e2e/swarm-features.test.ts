import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import type { AppOutcome } from "../../src/providers/types.js";
import type { App } from "../../src/resources/types.js";
import type { ResolvedSecrets } from "../../src/secrets/references.js";
import { BRIDGE_ADDRESS, SWARM_TEST_IMAGE } from "../../support/swarm.js";
import { execOutput } from "../support/container-exec.js";
import { TestRegistry } from "../support/registry.js";
import { swarmGroupSuite, until } from "../support/swarm-group.js";

const SLEEP = ["sh", "-c", "exec sleep 3600"];
const hash = (v: string) => createHash("sha256").update(`key:${v}`).digest("hex").slice(0, 16);

/** What the app controller passes for env API_TOKEN and a file /etc/app/key (hashes stand for keyed hashes). */
function resolved(token: string, key: string): ResolvedSecrets {
  return {
    env: { API_TOKEN: token },
    files: [{ name: "creds_KEY", path: "/etc/app/key", value: Buffer.from(key) }],
    digest: hash(token + key),
    hashes: { "env/API_TOKEN": hash(token), "file/creds_KEY": hash(key) },
    missing: [],
  };
}

/** Secrets, registry and digests, HTTP checks on the real three-node swarm (support/swarm.ts). */
describe("swarm provider: secrets, registry, HTTP checks", function () {
  this.timeout(240_000);
  const suite = swarmGroupSuite();
  const manager = () => suite.swarm.nodes[0]?.docker as Docker;
  const nodeOf = (name: string | undefined) => suite.swarm.nodes.find((n) => n.netns === name)?.docker as Docker;
  const reconcile = (app: App, secrets?: ResolvedSecrets) =>
    until(
      () => suite.provider.reconcileApp(app, suite.group, secrets ? { secrets } : {}),
      (o) => o.converged,
      `${app.metadata.name} converged`,
    );
  /** The environment of each replica's main process (as the wrapper exported it) and its file. */
  const seen = (o: AppOutcome) =>
    Promise.all(
      o.replicas.map((r) =>
        execOutput(nodeOf(r.node), r.containerId, ["sh", "-c", "tr '\\0' '\\n' < /proc/1/environ; cat /etc/app/key"]),
      ),
    );
  const ownSecrets = async (uid: string) =>
    (
      (await manager().listSecrets({ filters: { label: [`airloft.dev/uid=${uid}`] } })) as Array<{
        Spec: { Name: string };
      }>
    )
      .map((s) => s.Spec.Name)
      .sort();

  it("gives an app its secret variables and files as Swarm secrets: in the tasks, never in service inspect; a change rolls, old ones go", async () => {
    const web = suite.app("secretive", {
      image: SWARM_TEST_IMAGE,
      replicas: 2,
      command: SLEEP,
      env: { PLAIN: "shown" },
    });
    const uid = web.metadata.uid ?? "";
    const first = await reconcile(web, resolved("token-one-5d1f8a", "key-one-77c2e9"));
    for (const out of await seen(first)) {
      assert.match(out, /^API_TOKEN=token-one-5d1f8a$/m);
      assert.match(out, /^PLAIN=shown$/m);
      assert.match(out, /key-one-77c2e9$/);
    }
    const name = `${suite.group.metadata.name}_secretive`;
    const inspect = JSON.stringify(await manager().getService(name).inspect());
    assert.doesNotMatch(inspect, /token-one|key-one/);
    assert.match(inspect, /PLAIN=shown/);
    assert.doesNotMatch(JSON.stringify(await manager().listSecrets()), /token-one|key-one/);
    const initial = await ownSecrets(uid);
    assert.equal(initial.length, 2, "the env file and the file");

    const second = await reconcile(web, resolved("token-two-0b93c1", "key-one-77c2e9"));
    for (const out of await seen(second)) assert.match(out, /^API_TOKEN=token-two-0b93c1$/m);
    const third = await reconcile(web, resolved("token-three-e41a", "key-one-77c2e9"));
    for (const out of await seen(third)) assert.match(out, /^API_TOKEN=token-three-e41a$/m);
    // The first env file is named by neither the spec nor the previous one: it goes; the file, unchanged, stays.
    const after = await until(
      async () => {
        await suite.provider.reconcileApp(web, suite.group, {
          secrets: resolved("token-three-e41a", "key-one-77c2e9"),
        });
        return ownSecrets(uid);
      },
      (names) => names.length === 3,
      "the unused env file removed",
    );
    assert.equal(after.filter((n) => initial.includes(n)).length, 1, "the unchanged file's secret is kept");

    assert.ok(
      await until(
        () => suite.provider.finalizeApp(web, suite.group),
        (gone) => gone,
        "app removed",
      ),
    );
    await until(
      async () => {
        await suite.provider.finalizeApp(web, suite.group);
        return ownSecrets(uid);
      },
      (names) => names.length === 0,
      "its secrets removed",
    );
  });

  it("runs an HTTP health check in the task: a good path is ready, a missing one turns unhealthy", async () => {
    const serve = (path: string): App["spec"] => ({
      image: SWARM_TEST_IMAGE,
      port: 8080,
      command: ["sh", "-c", "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"],
      healthCheck: { http: { path }, intervalSeconds: 1, timeoutSeconds: 2, retries: 2 },
    });
    const good = await reconcile(suite.app("checked", serve("/healthz")));
    const replica = good.replicas[0];
    const health = async (docker: Docker, id: string) =>
      ((await docker.getContainer(id).inspect()) as { State: { Health?: { Status: string } } }).State.Health?.Status;
    assert.equal(await health(nodeOf(replica?.node), replica?.containerId ?? ""), "healthy");

    const bad = suite.app("unchecked", serve("/missing"));
    const seenUnhealthy = await until(
      async () => {
        const o = await suite.provider.reconcileApp(bad, suite.group);
        const r = o.replicas[0];
        const status = r ? await health(nodeOf(r.node), r.containerId).catch(() => undefined) : undefined;
        return { o, status };
      },
      // Swarm replaces an unhealthy task; its error says why.
      ({ o, status }) => status === "unhealthy" || /unhealthy/.test(JSON.stringify(o.problems ?? [])),
      "the missing path's replica unhealthy",
    );
    assert.equal(seenUnhealthy.o.readyReplicas, 0);
    assert.equal(seenUnhealthy.o.converged, false);
  });

  describe("with a registry on the bridge", () => {
    let registry: TestRegistry;
    let context: string;
    before(async () => {
      registry = await TestRegistry.start(undefined, undefined, BRIDGE_ADDRESS);
      context = mkdtempSync(join(tmpdir(), "airloft-swarm-build-"));
      writeFileSync(join(context, "Dockerfile"), `FROM ${SWARM_TEST_IMAGE}\nCOPY hello.txt /hello.txt\n`);
      writeFileSync(join(context, "hello.txt"), "built-on-the-manager\n");
    });
    after(async () => {
      await registry?.stop();
      if (context) rmSync(context, { recursive: true, force: true });
    });

    it("builds on the manager, pushes to spec.swarm.registry, and every node runs the image by digest", async () => {
      const group = {
        ...suite.group,
        spec: { ...suite.group.spec, swarm: { ...suite.group.spec.swarm, registry: registry.address } },
      };
      const built = suite.app("built", { build: { context }, replicas: 3, command: SLEEP });
      const outcome = await until(
        () => suite.provider.reconcileApp(built, group),
        (o) => o.converged,
        "built app converged",
      );
      assert.match(
        outcome.image ?? "",
        new RegExp(`^${registry.address.replaceAll(".", "\\.")}/airloft-build/.+@sha256:[0-9a-f]{64}$`),
      );
      assert.equal(new Set(outcome.replicas.map((r) => r.node)).size, 3, "on all three nodes");
      for (const r of outcome.replicas)
        assert.equal(await execOutput(nodeOf(r.node), r.containerId, ["cat", "/hello.txt"]), "built-on-the-manager");
      const spec = (await manager().getService(`${group.metadata.name}_built`).inspect()) as {
        Spec: { TaskTemplate: { ContainerSpec: { Image: string } } };
      };
      assert.equal(spec.Spec.TaskTemplate.ContainerSpec.Image, outcome.image);
      assert.deepEqual(await suite.provider.planApp(built, group), []);
      assert.ok(
        await until(
          () => suite.provider.finalizeApp(built, group),
          (gone) => gone,
          "removed",
        ),
      );
    });
  });

  it("pushes and pulls with the registry's credentials, sent with the service; refused without them", async () => {
    const secured = await TestRegistry.start("builder", "pw-swarm-4d2e", BRIDGE_ADDRESS);
    const context = mkdtempSync(join(tmpdir(), "airloft-swarm-build-"));
    try {
      writeFileSync(join(context, "Dockerfile"), `FROM ${SWARM_TEST_IMAGE}\nCOPY hello.txt /hello.txt\n`);
      writeFileSync(join(context, "hello.txt"), "pulled-with-credentials\n");
      const swarm = { ...suite.group.spec.swarm, registry: secured.address };
      const group = { ...suite.group, spec: { ...suite.group.spec, swarm } };
      const built = suite.app("private", { build: { context }, replicas: 3, command: SLEEP });
      await assert.rejects(suite.provider.reconcileApp(built, group), /push|unauthorized|authentication|denied/i);
      const pull = { registry: secured.address, username: "builder", password: "pw-swarm-4d2e" };
      const secrets: ResolvedSecrets = { env: {}, files: [], pull, digest: "reg-1", missing: [] };
      const outcome = await until(
        () => suite.provider.reconcileApp(built, group, { secrets }),
        (o) => o.converged,
        "private app converged",
      );
      assert.equal(new Set(outcome.replicas.map((r) => r.node)).size, 3, "every node pulled it");
      for (const r of outcome.replicas)
        assert.equal(await execOutput(nodeOf(r.node), r.containerId, ["cat", "/hello.txt"]), "pulled-with-credentials");
      assert.doesNotMatch(
        JSON.stringify(await manager().getService(`${group.metadata.name}_private`).inspect()),
        /pw-swarm/,
      );
      assert.ok(
        await until(
          () => suite.provider.finalizeApp(built, group),
          (gone) => gone,
          "removed",
        ),
      );
    } finally {
      await secured.stop();
      rmSync(context, { recursive: true, force: true });
    }
  });
});
