import { strict as assert } from "node:assert";
import { ValidationErrors } from "../../src/errors.js";
import { desiredApp } from "../../src/providers/docker/desired.js";
import { parseOwnedLabels } from "../../src/providers/ownership.js";
import { desiredSwarmService, serviceName, swarmSettings } from "../../src/providers/swarm/desired.js";
import type { ObservedService, ObservedTask, SwarmSnapshot } from "../../src/providers/swarm/observe.js";
import { chooseNode, planSwarmService } from "../../src/providers/swarm/plan.js";
import { loadTexts } from "../../src/resources/loader.js";
import { API_VERSION, type App, type Group } from "../../src/resources/types.js";
import { observedService } from "../support/swarm-service.js";

const group: Group = {
  apiVersion: API_VERSION,
  kind: "Group",
  metadata: { name: "acme", uid: "g-1" },
  spec: { provider: "swarm" },
};

function desired(spec: Partial<App["spec"]> = {}, uid = "a-1") {
  const app: App = {
    apiVersion: API_VERSION,
    kind: "App",
    metadata: { name: "web", uid, group: "acme" },
    spec: { image: "example/web:1", replicas: 3, ...spec },
  };
  const image = { ref: app.spec.image ?? "", id: app.spec.image ?? "" };
  return desiredSwarmService(desiredApp(app, group, "inst", image), swarmSettings(group), {
    constraints: app.spec.placement?.constraints ?? [],
  });
}

const NODES: SwarmSnapshot["nodes"] = [
  { id: "n1", name: "alsw1", state: "ready", availability: "active" },
  { id: "n2", name: "alsw2", state: "ready", availability: "active" },
  { id: "n3", name: "alsw3", state: "down", availability: "active" },
];

function observed(d: ReturnType<typeof desired>, over: Partial<ObservedService> = {}): ObservedService {
  const labels = d.spec.Labels as Record<string, string>;
  return observedService({ name: d.serviceName, labels, version: 7, replicas: d.replicas, image: d.image, ...over });
}

function task(slot: number, node: string, over: Partial<ObservedTask> = {}): ObservedTask {
  return {
    id: `t${slot}-${node}`,
    serviceId: "s1",
    slot,
    nodeId: node,
    state: "running",
    desiredState: "running",
    error: undefined,
    containerId: `c${slot}`,
    configHash: undefined,
    createdAt: `2026-11-30T00:00:0${slot}Z`,
    ...over,
  };
}

const snapshot = (over: Partial<SwarmSnapshot>): SwarmSnapshot => ({
  address: "unix:///x",
  services: [],
  tasks: [],
  networks: [],
  nodes: NODES,
  secrets: [],
  ...over,
});

describe("swarm planner", () => {
  it("names services group_name, so tenants acme/prod-db and acme-prod/db never share one", () => {
    assert.equal(serviceName("acme", "prod-db"), "acme_prod-db");
    assert.notEqual(serviceName("acme", "prod-db"), serviceName("acme-prod", "db"));
    const long = serviceName("a".repeat(40), "b".repeat(40));
    assert.ok(long.length <= 63);
    assert.notEqual(long, serviceName("a".repeat(40), `${"b".repeat(39)}c`));
  });

  it("creates a missing service with start-first updates rolled back on failure, dnsrr and the placement", () => {
    const d = desired({ placement: { constraints: ["node.role==worker"] } });
    const plan = planSwarmService(d, snapshot({}));
    assert.deepEqual(
      plan.operations.map((o) => `${o.target} ${o.op} (${o.cause})`),
      ["app:acme/web create-service (missing)"],
    );
    const spec = d.spec as {
      UpdateConfig: { Order: string; FailureAction: string };
      EndpointSpec: { Mode: string };
      TaskTemplate: { Placement: { Constraints: string[] }; Networks: Array<{ Aliases: string[] }> };
    };
    assert.equal(spec.UpdateConfig.Order, "start-first");
    assert.equal(spec.UpdateConfig.FailureAction, "rollback");
    assert.equal(spec.EndpointSpec.Mode, "dnsrr");
    assert.deepEqual(spec.TaskTemplate.Placement.Constraints, ["node.role==worker"]);
    assert.deepEqual(spec.TaskTemplate.Networks[0]?.Aliases, ["web"]);
  });

  it("keeps secret values out of the config hash and the labels", () => {
    const app: App = {
      apiVersion: API_VERSION,
      kind: "App",
      metadata: { name: "web", uid: "a-1", group: "acme" },
      spec: { image: "example/web:1" },
    };
    const secrets = { env: { TOKEN: "s3cret-value" }, mounts: [], digest: "d1" };
    const d = desiredSwarmService(
      desiredApp(app, group, "inst", { ref: "x", id: "x" }, {}, secrets),
      swarmSettings(group),
    );
    assert.ok(!JSON.stringify(d.spec.Labels).includes("s3cret"));
    assert.ok(JSON.stringify(d.spec).includes("TOKEN=s3cret-value"), "the value goes to the service's env");
  });

  it("scales by one update, one line per replica that comes or goes; a second pass plans nothing", () => {
    const d = desired();
    const plan = planSwarmService(d, snapshot({ services: [observed(d, { replicas: 1 })] }));
    assert.deepEqual(
      plan.operations.map((o) => `${o.target} ${o.op} (${o.cause})`),
      ["app:acme/web:1 update-service (scale up 1 -> 3)", "app:acme/web:2 update-service (scale up 1 -> 3)"],
    );
    const tasks = [1, 2, 3].map((slot) => task(slot, slot === 3 ? "n2" : "n1", { configHash: d.configHash }));
    const steady = planSwarmService(d, snapshot({ services: [observed(d)], tasks }));
    assert.deepEqual(steady.operations, []);
    assert.equal(steady.converged, true);
    assert.deepEqual(
      steady.replicas.map((r) => `${r.replica} ${r.node}`),
      ["0 alsw1", "1 alsw1", "2 alsw2"],
    );
  });

  it("names the lost node of a degraded replica until its task runs elsewhere", () => {
    const d = desired();
    const tasks = [
      task(1, "n1", { configHash: d.configHash }),
      task(2, "n2", { configHash: d.configHash }),
      task(3, "n3", { configHash: d.configHash, desiredState: "shutdown" }),
      task(3, "n1", { id: "t3-new", state: "starting", configHash: d.configHash, createdAt: "2026-11-30T00:01:00Z" }),
    ];
    const plan = planSwarmService(d, snapshot({ services: [observed(d)], tasks }));
    assert.equal(plan.converged, false);
    assert.equal(plan.readyReplicas, 2);
    assert.deepEqual(
      plan.problems.map((p) => `${p.reason} ${p.message}`),
      ["NodeDown web-2: node alsw3 lost; rescheduled"],
    );
  });

  it("leaves a rolled-back configuration alone and says so, until the configuration changes again", () => {
    const old = desired({ image: "example/web:1" });
    const bad = desired({ image: "example/web:broken" });
    const service = observed(old, { updateState: "rollback_completed", updateMessage: "update rolled back" });
    const failed = task(1, "n1", { state: "rejected", desiredState: "shutdown", configHash: bad.configHash });
    const plan = planSwarmService(bad, snapshot({ services: [service], tasks: [failed] }));
    assert.deepEqual(plan.operations, []);
    assert.equal(plan.waiting?.reason, "RolledBack");
    assert.ok(plan.problems.some((p) => p.reason === "RolledBack"));
    const fixed = desired({ image: "example/web:2" });
    assert.deepEqual(
      planSwarmService(fixed, snapshot({ services: [service], tasks: [failed] })).operations.map((o) => o.op),
      ["update-service"],
    );
  });

  it("replaces an older incarnation's service, and never touches one whose labels are another owner's", () => {
    const d = desired({}, "a-2");
    const older = observed(desired({}, "a-1"));
    assert.deepEqual(
      planSwarmService(d, snapshot({ services: [older] })).operations.map((o) => `${o.op} (${o.cause})`),
      ["remove-service (belongs to a deleted incarnation)", "create-service (missing)"],
    );
    const foreign = observed(d, { labels: {}, owner: undefined, id: "other" });
    const plan = planSwarmService(d, snapshot({ services: [foreign] }));
    assert.deepEqual(plan.operations, []);
    assert.equal(plan.waiting?.reason, "NameConflict");
  });

  it("pins a service's data to a ready node with the fewest tasks", () => {
    const tasks = [task(1, "n1")];
    assert.equal(chooseNode(snapshot({ tasks })), "n2");
    assert.equal(chooseNode(snapshot({ nodes: [] })), undefined);
  });
});

describe("swarm manifests", () => {
  const load = (content: string) => loadTexts([{ name: "m.yaml", content, baseDir: "/nonexistent" }]);
  const errors = (content: string) => {
    try {
      load(content);
    } catch (err) {
      if (err instanceof ValidationErrors) return err.errors.map((e) => e.message);
      throw err;
    }
    assert.fail("expected a validation error");
  };

  it("takes provider swarm with a manager address and an endpoint mode", () => {
    const [group] = load(
      "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: acme\nspec:\n  provider: swarm\n  swarm:\n    host: tcp://10.231.0.1:2375\n    endpointMode: vip\n",
    );
    assert.equal(group?.object.kind, "Group");
  });

  it("names file:line:column and field for a bad address, mode, registry, registry credentials or constraint", () => {
    const bad = errors(
      "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: acme\nspec:\n  provider: swarm\n  swarm:\n    host: http://x\n    endpointMode: ipvs\n    registry: http://10.0.0.1:5000/x\n    registryAuth: {secret: Bad_Name, usernameKey: USER}\n",
    );
    const fields: Array<[number, string]> = [
      [11, "registryAuth"],
      [10, "registry"],
      [8, "host"],
      [9, "endpointMode"],
    ];
    for (const [line, field] of fields)
      assert.ok(
        bad.some((m) => new RegExp(`^m\\.yaml:${line}:\\d+ spec\\.swarm\\.${field}`).test(m)),
        bad.join("\n"),
      );
    const app = errors(
      `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: web\n  group: acme\nspec:\n  image: x\n  placement:\n    constraints: ["node.role==worker\\nx", "${"a".repeat(300)}==b"]\n`,
    );
    assert.ok(
      app.some((m) => /^m\.yaml:9:\d+ spec\.placement\.constraints\[0\]/.test(m)),
      app.join("\n"),
    );
    assert.ok(
      app.some((m) => /spec\.placement\.constraints\[1\]/.test(m)),
      app.join("\n"),
    );
  });
});
