import { strict as assert } from "node:assert";
import { LABEL } from "../../src/providers/ownership.js";
import { getCondition } from "../../src/resources/conditions.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { Resource } from "../../src/resources/types.js";
import { engineOutage, TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { chaosKills, chaosRandom, sleep } from "../support/chaos.js";
import { ChaosDriver, chaosApp } from "../support/chaos-driver.js";
import { requireEngine } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

const GROUP = "chaos";
const groupManifest = `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: ${GROUP}\nspec:\n  provider: docker\n`;
const appManifest = (name: string, replicas: number, version: number): string =>
  chaosApp(
    GROUP,
    name,
    `  image: ${TEST_IMAGE}
  command: ["sh", "-c", "echo $VERSION > /www/index.html && exec httpd -f -p $PORT -h /www"]
  replicas: ${replicas}
  port: 8080
  env:
    VERSION: "${version}"
`,
  );

/**
 * Crash anywhere, on the real engine: `airloft serve` is killed with SIGKILL at random moments
 * while it creates, scales, rolls and deletes containers, then started again. At the end: exactly
 * the desired containers per app, nothing labelled that no object owns, and every acknowledged
 * change in the state file.
 */
describe("chaos on Docker: SIGKILL of the controller at random moments (real engine)", function () {
  this.timeout(1_800_000);
  let engine: TestEngine;
  let server: ServeProcess;

  before(async function () {
    engine = await requireEngine(this);
    server = new ServeProcess({ DOCKER_HOST: engine.host });
    await server.start();
  });

  after(async function () {
    this.timeout(120_000);
    if (server?.url) await server.deleteGroups([GROUP]).catch(() => undefined);
    await server?.stop();
    server?.remove();
  });

  const kills = chaosKills(6);
  it(`converges after ${kills} kills with no duplicate, no leak and no lost write`, async () => {
    const random = chaosRandom("docker kills");
    const driver = new ChaosDriver(server, GROUP, appManifest, random);
    await driver.setUp(groupManifest, 4);
    const log: string[] = [];
    for (let i = 0; i < kills; i++) {
      log.push(await driver.change());
      if (random() < 0.5) log.push(await driver.change());
      // Kill while the loop works on it: at once, or after it had time to create or remove some.
      await driver.killAfter(random() * 1500);
      await driver.checkStateFile();
    }
    await driver.restoreAll(120_000);
    await driver.killAfter(random() * 1500);
    await driver.converged(180_000);
    const state = await driver.checkStateFile();
    const owned = await engine.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.instance}=${state.instanceId}`] },
    });
    // Exactly the desired replicas per app: running, one per replica number, all at the current config.
    for (const [name, want] of driver.expected) {
      const mine = owned.filter((c) => c.Labels[LABEL.kind] === "App" && c.Labels[LABEL.name] === name);
      const replicas = want.deleted ? 0 : want.replicas;
      assert.equal(
        mine.length,
        replicas,
        `${name}: ${mine.length} containers for ${replicas} replicas (${log.join(", ")})`,
      );
      assert.deepEqual(
        mine.map((c) => c.Labels[LABEL.replica]).sort(),
        Array.from({ length: replicas }, (_, r) => String(r)),
        `${name}: replica numbers`,
      );
      assert.ok(
        mine.every((c) => c.State === "running"),
        `${name}: ${mine.map((c) => c.State).join(",")}`,
      );
      assert.equal(
        new Set(mine.map((c) => c.Labels[LABEL.configHash])).size <= 1,
        true,
        `${name}: mixed configurations`,
      );
    }
    // Nothing labelled for an object the state file does not hold.
    const uids = ChaosDriver.uids(state);
    const leakedContainers = owned.filter((c) => !uids.has(c.Labels[LABEL.uid] ?? ""));
    const networks = await engine.docker.listNetworks({
      filters: { label: [`${LABEL.instance}=${state.instanceId}`] },
    });
    const volumes =
      (await engine.docker.listVolumes({ filters: { label: [`${LABEL.instance}=${state.instanceId}`] } })).Volumes ??
      [];
    assert.deepEqual(
      leakedContainers.map((c) => c.Names[0]),
      [],
    );
    assert.deepEqual(
      networks.filter((n) => !uids.has(n.Labels?.[LABEL.uid] ?? "")).map((n) => n.Name),
      [],
    );
    assert.deepEqual(
      volumes.filter((v) => !uids.has(v.Labels?.[LABEL.uid] ?? "")).map((v) => v.Name),
      [],
    );
    process.stdout.write(
      `      ${driver.kills} kills survived across ${driver.changes} changes; ${owned.length} containers, all owned and as desired\n`,
    );

    // Killed during the deletion of the whole group: once gone, nothing of it is left.
    await driver.deleteGroupUnderKill(random() * 1500);
    const filter = { filters: { label: [`${LABEL.instance}=${state.instanceId}`] } };
    assert.deepEqual(
      (await engine.docker.listContainers({ all: true, ...filter })).map((c) => c.Names[0]),
      [],
    );
    assert.deepEqual(
      (await engine.docker.listNetworks(filter)).map((n) => n.Name),
      [],
    );
    assert.deepEqual(
      ((await engine.docker.listVolumes(filter)).Volumes ?? []).map((v) => v.Name),
      [],
    );
  });

  it("rides out an engine outage: says so in the conditions, keeps running, and converges when it is back", async () => {
    const random = chaosRandom("engine outage");
    const driver = new ChaosDriver(server, GROUP, appManifest, random);
    await driver.setUp(groupManifest, 2);
    await driver.converged(120_000);
    const token = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    // The engine stops while the loop works on a change, and another change comes during the outage.
    await driver.change();
    const reasons = await engineOutage(async () => {
      await driver.change();
      const seen = new Set<string>();
      for (let i = 0; i < 240 && !seen.has("EngineUnreachable"); i++) {
        const list = await server.api("GET", `${API_PREFIX}/groups/${GROUP}/apps`, token);
        for (const o of (list.json as { items: Resource[] }).items)
          seen.add(getCondition(o.status, "Ready")?.reason ?? "");
        const group = await server.api("GET", `${API_PREFIX}/groups/${GROUP}`, token);
        seen.add(getCondition((group.json as Resource).status, "Ready")?.reason ?? "");
        await sleep(250);
      }
      assert.equal((await server.api("GET", "/healthz", token)).status, 200, "the server still answers");
      return seen;
    });
    assert.ok(reasons.has("EngineUnreachable"), `conditions seen: ${[...reasons].join(", ")}`);
    await driver.converged(180_000);
    const state = await driver.checkStateFile();
    for (const [name, want] of driver.expected) {
      const mine = await engine.docker.listContainers({
        filters: { label: [`${LABEL.instance}=${state.instanceId}`, `${LABEL.name}=${name}`, `${LABEL.kind}=App`] },
      });
      assert.equal(mine.length, want.deleted ? 0 : want.replicas, `${name} after the outage`);
    }
  });
});
