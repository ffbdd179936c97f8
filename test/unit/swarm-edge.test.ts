import { strict as assert } from "node:assert";
import { ValidationErrors } from "../../src/errors.js";
import { edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import { edgeSettings } from "../../src/providers/docker/edge/settings.js";
import {
  type ConfigRef,
  desiredSwarmEdge,
  edgeConfigChoice,
  servingEdgeTask,
  swarmEdgeConfig,
  unusedEdgeConfigs,
} from "../../src/providers/swarm/edge-spec.js";
import type { ObservedService, ObservedTask, SwarmSnapshot } from "../../src/providers/swarm/observe.js";
import type { SwarmOperation } from "../../src/providers/swarm/plan.js";
import { loadTexts } from "../../src/resources/loader.js";
import type { App, Group } from "../../src/resources/types.js";

const at = (day: number) => `2026-01-0${day}T00:00:00Z`;

function group(name: string, provider: "docker" | "swarm", domain: string, day = 1): Group {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name, uid: `g-${name}`, creationTimestamp: at(day) },
    spec: { provider, [provider]: { edge: { domain } } },
  };
}

function app(g: string, name: string, over: Partial<App["spec"]> = {}, day = 3): App {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group: g, uid: `u-${g}-${name}`, creationTimestamp: at(day) },
    spec: { image: "x", port: 8080, ...over },
  };
}

const snapshot = (services: Partial<ObservedService>[] = []): SwarmSnapshot => ({
  address: "unix:///m.sock",
  services: services as ObservedService[],
  tasks: [],
  nodes: [],
  secrets: [],
  networks: [
    {
      id: "n1",
      name: "airloft-acme",
      owner: {
        instance: "i1",
        group: "acme",
        kind: "Group",
        name: "acme",
        uid: "g-acme",
        configHash: undefined,
        replica: undefined,
      },
      subnets: ["10.0.1.0/24"],
      gateways: ["10.0.1.1"],
    },
  ],
});

describe("swarm edge (pure)", () => {
  it("routes a swarm group's apps under spec.swarm.edge.domain on its overlay, plain HTTP, hosts claimed across providers", () => {
    const { routes, conflicts } = edgeRoutes([
      group("acme", "swarm", "acme.test"),
      group("old", "docker", "old.test"),
      app("acme", "web", { expose: { domain: "shop.old.test" } }),
      app("acme", "api", { expose: { tls: "auto" } }),
    ]);
    assert.deepEqual(
      routes.map((r) => [r.provider, r.app, r.network, r.hosts, r.tls]),
      [["swarm", "api", "airloft-acme", ["api.acme.test"], undefined]],
    );
    assert.deepEqual(
      conflicts.map((c) => c.message),
      ["host shop.old.test is under a domain another group set earlier"],
    );
  });

  it("builds Caddy's config with tasks.SERVICE upstreams and the overlays refused; its name follows its content", () => {
    const routes = edgeRoutes([group("acme", "swarm", "acme.test"), app("acme", "web")]).routes;
    const config = swarmEdgeConfig("i1", routes, snapshot());
    const json = JSON.parse(config.data.toString()) as { apps: { http: { servers: Record<string, unknown> } } };
    const text = JSON.stringify(json);
    assert.match(text, /"dynamic_upstreams":\{"source":"a","name":"tasks\.acme_web","port":"8080","refresh":"1s"\}/);
    assert.match(text, /"remote_ip":\{"ranges":\["10\.0\.1\.0\/24"\]\}/);
    assert.doesNotMatch(text, /"not":/, "no gateway is exempt on an overlay");
    assert.match(config.name, /^airloft_edge_i1_[0-9a-f]{12}$/);
    assert.equal(config.labels["airloft.dev/kind"], "Edge");
    const again = swarmEdgeConfig("i1", routes, snapshot());
    assert.equal(again.name, config.name);
    const moved = edgeRoutes([group("acme", "swarm", "acme.test"), app("acme", "web", { port: 9090 })]).routes;
    assert.notEqual(swarmEdgeConfig("i1", moved, snapshot()).name, config.name);
  });

  it("runs one Caddy task pinned to the manager, its port published in host mode, stop-first, on the routed overlays", () => {
    const settings = edgeSettings({ AIRLOFT_EDGE_IMAGE: "local/caddy:2", AIRLOFT_EDGE_HTTP_PORT: "18080" });
    const desired = desiredSwarmEdge({
      instance: "i1",
      settings,
      networks: ["airloft-b", "airloft-a", "airloft-b"],
      config: { id: "cfg1", name: "airloft_edge_i1_abc" },
      node: "node1",
    });
    const spec = desired.spec as {
      TaskTemplate: { ContainerSpec: Record<string, unknown>; Placement: unknown; Networks: unknown };
      EndpointSpec: unknown;
      UpdateConfig: { Order: string };
    };
    assert.equal(desired.kind, "Edge");
    assert.equal(desired.serviceName, "airloft_edge_i1");
    assert.deepEqual(spec.TaskTemplate.Placement, { Constraints: ["node.id==node1"] });
    assert.deepEqual(spec.TaskTemplate.Networks, [{ Target: "airloft-a" }, { Target: "airloft-b" }]);
    assert.deepEqual(spec.EndpointSpec, {
      Mode: "dnsrr",
      Ports: [{ Protocol: "tcp", TargetPort: 80, PublishedPort: 18080, PublishMode: "host" }],
    });
    assert.equal(spec.UpdateConfig.Order, "stop-first");
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Command, ["caddy", "run", "--config", "/etc/airloft/edge.json"]);
    const other = desiredSwarmEdge({
      instance: "i1",
      settings,
      networks: ["airloft-a"],
      config: { id: "cfg2", name: "airloft_edge_i1_def" },
      node: "node1",
    });
    assert.notEqual(other.configHash, desired.configHash, "a new config rolls the service");
  });

  it("removes only this installation's edge configs that no spec or previous spec names", () => {
    const config = (name: string, instance = "i1") => ({
      id: `id-${name}`,
      name,
      labels: { "airloft.dev/instance": instance, "airloft.dev/kind": "Edge" },
    });
    const unused = unusedEdgeConfigs(
      "i1",
      [config("now"), config("previous"), config("old"), config("theirs", "i2")],
      "now",
      [{ configNames: ["previous"] } as unknown as ObservedService],
    );
    assert.deepEqual(
      unused.map((c) => c.name),
      ["old"],
    );
  });

  it("loads a route change into the serving Caddy live, the spec keeping its config, unless the task is made anew anyway", () => {
    const kept = { id: "c1", name: "airloft_edge_i1_old" };
    const wanted = { id: "c2", name: "airloft_edge_i1_new" };
    const roll = (cause: string): SwarmOperation => ({ op: "remove-service", target: "edge", cause, id: "s1" });
    // Only the config differs from the service as it runs: a spec naming the kept config plans nothing.
    const configOnly = (c: ConfigRef) => (c.name === kept.name ? [] : [roll("config")]);
    assert.deepEqual(edgeConfigChoice({ wanted, kept, serving: "ctr1", plan: configOnly }), {
      config: kept,
      operations: [],
      live: "ctr1",
    });
    // A new overlay to join changes the spec whatever config it names: it takes the wanted one, no live load.
    const networkToo = (c: ConfigRef) => [roll(`network, ${c.name}`)];
    assert.deepEqual(edgeConfigChoice({ wanted, kept, serving: "ctr1", plan: networkToo }), {
      config: wanted,
      operations: [roll(`network, ${wanted.name}`)],
      live: undefined,
    });
    // No task serves (stopped, restarting, being placed): the spec takes the wanted config now, nothing is dropped.
    assert.deepEqual(edgeConfigChoice({ wanted, kept, serving: undefined, plan: configOnly }), {
      config: wanted,
      operations: [roll("config")],
      live: undefined,
    });
    // No service yet: made with the wanted config.
    const create = edgeConfigChoice({ wanted, kept: undefined, serving: undefined, plan: () => [roll("missing")] });
    assert.equal(create.config, wanted);
    assert.equal(create.live, undefined);
    // The spec names the wanted config already: the serving Caddy is checked (a task Swarm restarted has the spec's).
    const current = edgeConfigChoice({ wanted, kept: wanted, serving: "ctr2", plan: () => [] });
    assert.deepEqual(current, { config: wanted, operations: [], live: "ctr2" });
  });

  it("finds the edge's serving task: running, meant to run, on the manager", () => {
    const task = (over: Partial<ObservedTask>): ObservedTask => ({
      id: "t",
      serviceId: "s1",
      slot: 1,
      nodeId: "m1",
      state: "running",
      desiredState: "running",
      error: undefined,
      containerId: "ctr",
      configHash: undefined,
      createdAt: "",
      ...over,
    });
    const at = (tasks: ObservedTask[]) => servingEdgeTask({ ...snapshot(), tasks }, "s1", "m1");
    assert.equal(at([task({ state: "shutdown", containerId: "old" }), task({ containerId: "new" })]), "new");
    assert.equal(at([task({ desiredState: "shutdown" })]), undefined, "being stopped");
    assert.equal(at([task({ state: "starting" })]), undefined);
    assert.equal(at([task({ nodeId: "w1" })]), undefined, "another node's container is out of reach");
    assert.equal(at([task({ serviceId: "s2" })]), undefined);
  });

  it("names file:line:column and field for a malformed or oversized spec.swarm.edge.domain", () => {
    const content = (domain: string) =>
      `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: acme\nspec:\n  provider: swarm\n  swarm:\n    edge:\n      domain: "${domain}"\n      extra: 1\n`;
    for (const domain of [
      "Bad_Domain.test",
      `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(30)}`,
    ]) {
      let messages: string[] = [];
      try {
        loadTexts([{ name: "m.yaml", content: content(domain), baseDir: "/nonexistent" }]);
      } catch (err) {
        if (!(err instanceof ValidationErrors)) throw err;
        messages = err.errors.map((e) => e.message);
      }
      assert.ok(
        messages.some((m) => /^m\.yaml:9:\d+ spec\.swarm\.edge\.domain/.test(m)),
        messages.join("\n"),
      );
      assert.ok(
        messages.some((m) => /^m\.yaml:(8|10):\d+ spec\.swarm\.edge/.test(m)),
        messages.join("\n"),
      );
    }
  });
});
