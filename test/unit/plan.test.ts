import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  containerName,
  desiredApp,
  desiredService,
  legacyVolumeName,
  volumeName,
} from "../../src/providers/docker/desired.js";
import { buildTag } from "../../src/providers/docker/images.js";
import type { ObservedNetwork, ObservedVolume } from "../../src/providers/docker/observe.js";
import {
  describeOperation,
  planApp,
  planGarbage,
  planNetwork,
  planVolumeRemoval,
  planVolumes,
  resolveServiceVolume,
} from "../../src/providers/docker/plan.js";
import type { App, Group, Service } from "../../src/resources/types.js";
import { observedContainer, testApp, testGroup } from "../support/docker-objects.js";

const group = testGroup;
const app = testApp;

const desired = (spec: Partial<App["spec"]> = {}) =>
  desiredApp(app(spec), group, "inst", { ref: "busybox:1", id: "sha256:aaa" });

const container = observedContainer;

const ops = (plan: { operations: readonly Parameters<typeof describeOperation>[0][] }) =>
  plan.operations.map(describeOperation);
const noProbe = new Map<string, boolean>();

describe("docker planner", () => {
  it("creates every missing replica", () => {
    const plan = planApp(desired(), [], noProbe);
    assert.deepEqual(ops(plan), ["app:acme/web:0 create (missing)", "app:acme/web:1 create (missing)"]);
    assert.equal(plan.converged, false);
  });

  it("does nothing when every replica runs at the desired hash", () => {
    const d = desired();
    const plan = planApp(d, [container(0, d.configHash), container(1, d.configHash)], noProbe);
    assert.deepEqual(ops(plan), []);
    assert.equal(plan.readyReplicas, 2);
    assert.equal(plan.converged, true);
  });

  it("leaves replicas out of the config hash, so scaling touches only the extra replicas", () => {
    const d2 = desired({ replicas: 2 });
    const d3 = desired({ replicas: 3 });
    assert.equal(d2.configHash, d3.configHash);
    assert.deepEqual(ops(planApp(d3, [container(0, d2.configHash), container(1, d2.configHash)], noProbe)), [
      "app:acme/web:2 create (missing)",
    ]);
    const d1 = desired({ replicas: 1 });
    assert.deepEqual(ops(planApp(d1, [container(0, d2.configHash), container(1, d2.configHash)], noProbe)), [
      "app:acme/web:1 remove (scaled down)",
    ]);
  });

  it("changes the hash with env, image id, command or resources", () => {
    const base = desired().configHash;
    assert.notEqual(desired({ env: { A: "1" } }).configHash, base);
    assert.notEqual(desired({ command: ["sh"] }).configHash, base);
    assert.notEqual(desired({ resources: { memory: "64Mi" } }).configHash, base);
    assert.notEqual(desiredApp(app(), group, "inst", { ref: "busybox:1", id: "sha256:bbb" }).configHash, base);
  });

  it("rolls a changed config: new replica first, the old one removed once the new is ready", () => {
    const old = desired().configHash;
    const d = desired({ env: { A: "2" }, healthCheck: { http: { path: "/" } } });
    const first = planApp(d, [container(0, old), container(1, old)], noProbe);
    assert.deepEqual(ops(first), ["app:acme/web:0 create (config changed)", "app:acme/web:1 create (config changed)"]);

    const both = [container(0, old), container(1, old), container(0, d.configHash), container(1, d.configHash)];
    const notReady = planApp(
      d,
      both,
      new Map([
        [`c-0-${d.configHash}`, false],
        [`c-1-${d.configHash}`, true],
      ]),
    );
    assert.deepEqual(
      ops(notReady),
      ["app:acme/web:1 remove (replaced)"],
      "replica 0 keeps its old container until the new one is ready",
    );
    assert.equal(notReady.updatedReplicas, 2);
    assert.equal(notReady.readyReplicas, 1);
  });

  it("with Recreate, removes the old container at once", () => {
    const old = desired().configHash;
    const d = desired({ env: { A: "2" }, strategy: { type: "Recreate" } });
    assert.deepEqual(ops(planApp(d, [container(0, old)], noProbe)), [
      "app:acme/web:0 remove (recreate)",
      "app:acme/web:0 create (config changed)",
      "app:acme/web:1 create (missing)",
    ]);
  });

  it("starts a stopped replica and replaces a dead one", () => {
    const d = desired();
    const plan = planApp(
      d,
      [container(0, d.configHash, { state: "exited" }), container(1, d.configHash, { state: "dead" })],
      noProbe,
    );
    assert.deepEqual(ops(plan), ["app:acme/web:0 start (stopped)", "app:acme/web:1 create (dead)"]);
  });

  it("counts a command health check from Docker's own health status", () => {
    const d = desired({ healthCheck: { command: ["true"] } });
    const plan = planApp(
      d,
      [container(0, d.configHash, { health: "healthy" }), container(1, d.configHash, { health: "starting" })],
      noProbe,
    );
    assert.equal(plan.readyReplicas, 1);
    assert.equal(plan.converged, false);
  });

  it("removes a duplicate and containers of an earlier incarnation of the app", () => {
    const d = desired();
    const stranger = container(0, d.configHash, {
      id: "old-uid",
      owner: { ...container(0, d.configHash).owner, uid: "u-0" },
    });
    const plan = planApp(
      d,
      [container(0, d.configHash), container(0, d.configHash, { id: "dup" }), container(1, d.configHash), stranger],
      noProbe,
    );
    assert.deepEqual(ops(plan), [
      "app:acme/web:0 remove (belongs to a deleted incarnation)",
      "app:acme/web:0 remove (duplicate)",
    ]);
  });

  it("plans the group network, and garbage whose owner is gone", () => {
    const network: ObservedNetwork = {
      id: "n1",
      name: "airloft-acme",
      subnets: [],
      gateways: [],
      owner: {
        instance: "inst",
        group: "acme",
        kind: "Group",
        name: "acme",
        uid: "g-1",
        configHash: undefined,
        replica: undefined,
      },
    };
    const want = { group: "acme", uid: "g-1", name: "airloft-acme", labels: {}, subnet: undefined };
    assert.deepEqual(planNetwork(want, []).map(describeOperation), ["group:acme create-network (missing)"]);
    assert.deepEqual(planNetwork(want, [network]), []);
    const orphan = container(0, "h", { owner: { ...container(0, "h").owner, uid: "gone" } });
    assert.deepEqual(
      planGarbage(new Set(["g-1", "u-1"]), [container(1, "h"), orphan], [network]).map(describeOperation),
      ["app:acme/web:0 remove (owner gone)"],
    );
    assert.deepEqual(planGarbage(new Set(), [], [network]).map(describeOperation), [
      "group:acme remove-network (owner gone)",
    ]);
  });
});

describe("docker names and volume ownership across tenants", () => {
  // Group acme with service prod-db, and group acme-prod with service db: two tenants whose
  // names joined with "-" are the same.
  const owner = (group: string, name: string) => ({ instance: "inst", group, kind: "Service", name });
  const volume = (
    name: string,
    group: string,
    service: string,
    over: Partial<ObservedVolume["owner"]> = {},
  ): ObservedVolume => ({
    name,
    owner: {
      instance: "inst",
      group,
      kind: "Service",
      name: service,
      uid: `uid-${group}-${service}`,
      configHash: undefined,
      replica: undefined,
      ...over,
    },
  });
  const groupOf = (name: string): Group => ({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name, uid: `g-${name}` },
    spec: { provider: "docker" },
  });
  const service = (group: string, name: string): Service => ({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Service",
    metadata: { name, group, uid: `uid-${group}-${name}` },
    spec: { template: "redis" },
  });
  const desiredOf = (group: string, name: string, vol?: string) =>
    desiredService(
      service(group, name),
      groupOf(group),
      "inst",
      { ref: "redis:7", id: "sha256:r" },
      { password: "pw" },
      ...(vol ? [vol] : []),
    );

  it("names volumes, containers and built images so that two tenants never share one", () => {
    assert.equal(legacyVolumeName("acme", "prod-db"), legacyVolumeName("acme-prod", "db"), "the old names collide");
    assert.notEqual(volumeName("acme", "prod-db"), volumeName("acme-prod", "db"));
    assert.equal(volumeName("acme", "prod-db"), "airloft-acme_prod-db-data");
    const hash = { configHash: "0123456789ab" };
    assert.notEqual(
      containerName({ group: "acme", name: "prod-db", ...hash }, 0),
      containerName({ group: "acme-prod", name: "db", ...hash }, 0),
    );
    assert.equal(containerName({ group: "acme", name: "prod-db", ...hash }, 0), "airloft-acme_prod-db-0-01234567");

    const context = mkdtempSync(join(tmpdir(), "airloft-tag-"));
    try {
      writeFileSync(join(context, "Dockerfile"), "FROM scratch\n");
      const a = buildTag("acme", "prod-web", context, undefined).tag;
      const b = buildTag("acme-prod", "web", context, undefined).tag;
      assert.notEqual(a, b, "the same context in two tenants still builds two images");
      assert.match(a, /^airloft-build\/acme\/prod-web:[0-9a-f]{12}$/);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });

  it("mounts a volume only when its labels give it to the service, whatever its uid", () => {
    const theirs = volume(legacyVolumeName("acme", "prod-db"), "acme", "prod-db");
    // acme-prod/db must not take acme/prod-db's volume, although it has the old name acme-prod/db would have had.
    assert.equal(resolveServiceVolume(owner("acme-prod", "db"), [theirs]), "airloft-acme-prod_db-data");
    // acme/prod-db, installed before names were qualified, keeps its data on the old name.
    assert.equal(resolveServiceVolume(owner("acme", "prod-db"), [theirs]), "airloft-acme-prod-db-data");
    // A Service deleted with Retain and applied again has a new uid: it finds its data.
    const retained = volume(volumeName("acme", "cache"), "acme", "cache", { uid: "an-earlier-incarnation" });
    assert.equal(resolveServiceVolume(owner("acme", "cache"), [retained]), "airloft-acme_cache-data");
    // The current name wins over the old one when the service owns both.
    assert.equal(
      resolveServiceVolume(owner("acme", "cache"), [
        volume(legacyVolumeName("acme", "cache"), "acme", "cache"),
        retained,
      ]),
      "airloft-acme_cache-data",
    );
    // Another installation's volume is not ours, even with the same group and name.
    assert.equal(
      resolveServiceVolume(owner("acme", "prod-db"), [{ ...theirs, owner: { ...theirs.owner, instance: "other" } }]),
      "airloft-acme_prod-db-data",
    );

    const d = desiredOf("acme-prod", "db");
    assert.deepEqual(
      d.template.volumes.map((v) => v.name),
      ["airloft-acme-prod_db-data"],
    );
    assert.deepEqual(planVolumes(d, [theirs], {}).map(describeOperation), [
      "service:acme-prod/db create-volume (missing)",
    ]);
    // A volume of the desired name that is someone else's is still planned: the executor then fails with NameConflict.
    assert.deepEqual(
      planVolumes(d, [volume("airloft-acme-prod_db-data", "acme", "prod-db")], {}).map(describeOperation),
      ["service:acme-prod/db create-volume (missing)"],
    );
    assert.deepEqual(planVolumes(d, [volume("airloft-acme-prod_db-data", "acme-prod", "db", { uid: "old" })], {}), []);
    assert.equal(
      desiredOf("acme", "prod-db", legacyVolumeName("acme", "prod-db")).template.volumes[0]?.name,
      "airloft-acme-prod-db-data",
    );
  });

  it("deletionPolicy Delete removes the service's own volumes and never another tenant's", () => {
    const theirs = volume(legacyVolumeName("acme", "prod-db"), "acme", "prod-db");
    const mine = volume(volumeName("acme-prod", "db"), "acme-prod", "db");
    assert.deepEqual(
      planVolumeRemoval(owner("acme-prod", "db"), [theirs, mine], "deletionPolicy Delete").map(
        (o) => o.op === "remove-volume" && o.name,
      ),
      ["airloft-acme-prod_db-data"],
    );
    assert.deepEqual(
      planVolumeRemoval(owner("acme", "prod-db"), [theirs, mine], "deletionPolicy Delete").map(
        (o) => o.op === "remove-volume" && o.name,
      ),
      ["airloft-acme-prod-db-data"],
    );
  });
});
