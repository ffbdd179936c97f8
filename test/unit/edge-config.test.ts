import { strict as assert } from "node:assert";
import { appServerName, caddyConfig, dialsOf } from "../../src/providers/docker/edge/config.js";
import { DockerEdge } from "../../src/providers/docker/edge/edge.js";
import { edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import { edgeNames, edgeSettings, planEdge } from "../../src/providers/docker/edge/settings.js";
import type { ObservedContainer } from "../../src/providers/docker/observe.js";
import { describeOperation } from "../../src/providers/docker/plan.js";
import { loadFile } from "../../src/resources/loader.js";
import type { App, Group, Resource } from "../../src/resources/types.js";

function group(name: string, domain: string | undefined, created = "2026-01-01T00:00:00Z"): Group {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name, uid: `g-${name}`, creationTimestamp: created },
    spec: { provider: "docker", ...(domain ? { docker: { edge: { domain } } } : {}) },
  };
}

function app(g: string, name: string, over: Partial<App["spec"]> = {}, created = "2026-01-02T00:00:00Z"): App {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group: g, uid: `u-${g}-${name}`, creationTimestamp: created },
    spec: { image: "x", port: 8080, ...over },
    status: {
      instances: [
        { replica: 0, containerId: "aaaaaaaaaaaa", name: "c0", state: "running", ready: true, configHash: "h" },
        { replica: 1, containerId: "bbbbbbbbbbbb", name: "c1", state: "running", ready: false, configHash: "h" },
      ],
    },
  };
}

/** Installation "inst"'s running edge container of that flavour (its name label). */
function runningEdge(id: string, edgeName: string, configHash: string | undefined): ObservedContainer {
  return {
    id,
    name: edgeNames("inst").container,
    state: "running",
    health: undefined,
    imageId: "i",
    ports: [],
    networks: {},
    owner: {
      instance: "inst",
      group: "",
      kind: "Edge",
      name: edgeName,
      uid: "edge-inst",
      configHash,
      replica: undefined,
    },
  };
}

describe("edge routes and config (pure)", () => {
  it("routes an app at its name under the group's domain, or at its own domain", () => {
    const { routes, conflicts } = edgeRoutes([
      group("acme", "acme.localhost"),
      app("acme", "web"),
      app("acme", "shop", { expose: { domain: "shop.example.org" } }),
      app("acme", "worker", { port: undefined as never }),
      app("acme", "hidden", { expose: { public: false } }),
    ]);
    assert.deepEqual(conflicts, []);
    assert.deepEqual(
      routes.map((r) => [r.app, r.hosts, r.network, r.ready]),
      [
        ["shop", ["shop.example.org"], "airloft-acme", ["aaaaaaaaaaaa"]],
        ["web", ["web.acme.localhost"], "airloft-acme", ["aaaaaaaaaaaa"]],
      ],
    );
  });

  it("gives a host to the older claim and a HostConflict, naming no other tenant, to the newer", () => {
    const objects: Resource[] = [
      group("alpha", "alpha.localhost"),
      group("beta", "beta.localhost", "2026-01-03T00:00:00Z"),
      app("beta", "one", { expose: { domain: "shared.example.org" } }, "2026-01-05T00:00:00Z"),
      app("alpha", "two", { expose: { domain: "shared.example.org" } }, "2026-01-04T00:00:00Z"),
      // A host under another group's domain is that group's, whoever asks first.
      app("beta", "steal", { expose: { domain: "web.alpha.localhost" } }, "2026-01-01T00:00:00Z"),
      app("alpha", "web", {}, "2026-01-09T00:00:00Z"),
    ];
    const { routes, conflicts } = edgeRoutes(objects);
    assert.deepEqual(
      routes.map((r) => `${r.group}/${r.app} ${r.hosts.join(",")}`),
      ["alpha/two shared.example.org", "alpha/web web.alpha.localhost"],
    );
    assert.deepEqual(
      conflicts.map((c) => [c.uid, c.host]),
      [
        ["u-beta-steal", "web.alpha.localhost"],
        ["u-beta-one", "shared.example.org"],
      ],
    );
    for (const c of conflicts) assert.doesNotMatch(c.message, /alpha/.test(c.host) ? /group alpha|two/ : /alpha|two/);
    // The same answer whatever order the store lists objects in.
    assert.deepEqual(edgeRoutes([...objects].reverse()), { routes, conflicts });
  });

  it("a group that sets a domain another group set earlier routes nothing under it", () => {
    const { routes, conflicts } = edgeRoutes([
      group("first", "shared.localhost"),
      group("second", "shared.localhost", "2026-01-05T00:00:00Z"),
      app("second", "web", {}, "2026-01-01T00:00:00Z"),
    ]);
    assert.deepEqual(routes, []);
    assert.equal(conflicts[0]?.host, "web.shared.localhost");
  });

  it("leaves deleting apps and other providers' groups out", () => {
    const aws: Group = { ...group("cloud", "cloud.localhost"), spec: { provider: "aws" } };
    const gone = app("acme", "gone");
    gone.metadata.deletionTimestamp = "2026-02-01T00:00:00Z";
    const { routes } = edgeRoutes([group("acme", "acme.localhost"), aws, app("cloud", "web"), gone]);
    assert.deepEqual(routes, []);
  });

  it("makes Caddy's config from routes and upstreams: sorted, blocking the group networks but their gateways", () => {
    const { routes } = edgeRoutes([group("acme", "acme.localhost"), app("acme", "web"), app("acme", "api")]);
    const upstreams = new Map([
      ["u-acme-web", ["10.0.0.3:8080", "10.0.0.2:8080"]],
      ["u-acme-api", []],
    ]);
    const config = caddyConfig({ routes, upstreams, blocked: ["10.0.0.0/24"], gateways: ["10.0.0.1"] });
    const again = caddyConfig({
      routes: [...routes].reverse(),
      upstreams,
      blocked: ["10.0.0.0/24"],
      gateways: ["10.0.0.1"],
    });
    assert.equal(JSON.stringify(config), JSON.stringify(again));
    const server = (config as { apps: { http: { servers: { edge: { routes: unknown[]; listen: string[] } } } } }).apps
      .http.servers.edge;
    assert.deepEqual(server.listen, [":80"]);
    assert.deepEqual(server.routes[0], {
      match: [{ remote_ip: { ranges: ["10.0.0.0/24"] }, not: [{ remote_ip: { ranges: ["10.0.0.1"] } }] }],
      handle: [{ handler: "static_response", status_code: 403, body: "forbidden\n" }],
      terminal: true,
    });
    // Each app has its own server (its requests counted apart), behind a socket the front proxies to.
    const servers = (config as { apps: { http: { servers: Record<string, { listen: string[]; routes: unknown[] }> } } })
      .apps.http.servers;
    const api = servers[appServerName("acme", "api")];
    assert.deepEqual((server.routes[1] as { handle: Array<{ upstreams: unknown }> }).handle[0]?.upstreams, [
      { dial: `unix/${api?.listen[0]?.slice("unix/".length)}` },
    ]);
    // api has no ready replica: a clear 503, not a proxy with nowhere to go.
    assert.deepEqual((api?.routes[0] as { handle: unknown[] }).handle, [
      { handler: "static_response", status_code: 503, body: "no ready replica\n" },
    ]);
    assert.deepEqual(Object.keys(servers).sort(), ["airloft_app_acme_api", "airloft_app_acme_web", "edge"]);
    assert.deepEqual([...dialsOf(config)], ["10.0.0.2:8080", "10.0.0.3:8080"]);
    assert.deepEqual((config as { admin: unknown }).admin, { listen: "127.0.0.1:2019" });
  });

  it("plans the edge container: created when wanted, recreated on new settings, removed when no app is routed", () => {
    const settings = edgeSettings({ AIRLOFT_EDGE_HTTP_PORT: "8081", AIRLOFT_EDGE_IMAGE: "caddy:2" });
    assert.equal(settings.httpsPort, 443);
    assert.throws(() => edgeSettings({ AIRLOFT_EDGE_HTTP_PORT: "http" }), /AIRLOFT_EDGE_HTTP_PORT must be a port/);
    const created = planEdge("inst", settings, true, [], []);
    assert.deepEqual(created.map(describeOperation), [
      "edge create-volume (missing)",
      "edge create-network (missing)",
      "edge create (missing)",
    ]);
    const options = (created[2] as { options: Record<string, unknown> }).options;
    assert.deepEqual((options.HostConfig as { Mounts: unknown }).Mounts, [
      { Type: "volume", Source: edgeNames("inst").data, Target: "/data" },
    ]);
    assert.equal(options.name, edgeNames("inst").container);
    assert.match(String(options.name), /_/, "a name no DNS-label group or app can take");
    const labels = options.Labels as Record<string, string>;
    const running = runningEdge("e1", "edge", labels["airloft.dev/config-hash"]);
    const network = {
      id: "n1",
      name: edgeNames("inst").network,
      subnets: [],
      gateways: [],
      owner: { ...running.owner, configHash: undefined },
    };
    // Its certificates' volume stays when the edge is made again, and goes with it.
    const data = { name: edgeNames("inst").data, owner: { ...running.owner, configHash: undefined } };
    assert.deepEqual(planEdge("inst", settings, true, [running], [network], [data]), []);
    const moved = edgeSettings({ AIRLOFT_EDGE_HTTP_PORT: "8082", AIRLOFT_EDGE_IMAGE: "caddy:2" });
    assert.deepEqual(planEdge("inst", moved, true, [running], [network], [data]).map(describeOperation), [
      "edge remove (settings changed)",
      "edge create (settings changed)",
    ]);
    assert.deepEqual(planEdge("inst", settings, false, [running], [network], [data]).map(describeOperation), [
      "edge remove (no routed app)",
      "edge remove-network (no routed app)",
      "edge remove-volume (no routed app)",
    ]);
    // Another installation's edge is not this one's to touch.
    assert.deepEqual(planEdge("other", settings, false, [running], [network]), []);
  });

  it("one engine, one edge: the Swarm groups' edge is never planned away by the Docker groups', and a second flavour is refused", async () => {
    const settings = edgeSettings({ AIRLOFT_EDGE_HTTP_PORT: "8081", AIRLOFT_EDGE_IMAGE: "caddy:2" });
    const swarmEdge = runningEdge("s1", "swarm-edge", "h");
    // The Docker flavour's plan with no routes of its own leaves the other flavour's container alone.
    assert.deepEqual(planEdge("inst", settings, false, [swarmEdge], []), []);
    const executed: string[] = [];
    const edge = new DockerEdge({
      instance: "inst",
      settings,
      snapshots: {
        get: async () => ({ containers: [swarmEdge], networks: [], volumes: [], images: [] }),
        invalidate: () => undefined,
      } as unknown as ConstructorParameters<typeof DockerEdge>[0]["snapshots"],
      resolve: () => "unix:///engine.sock",
      ensureImage: async () => undefined,
      execute: async (_address, ops) => {
        executed.push(...ops.map(describeOperation));
      },
    });
    const [route] = edgeRoutes([group("acme", "acme.localhost"), app("acme", "web")], () => undefined).routes;
    assert.ok(route);
    // No Docker route on that engine: nothing done.
    assert.equal((await edge.sync("unix:///engine.sock", [])).size, 0);
    // A Docker route there: a clear refusal, and nothing removed or made.
    await assert.rejects(edge.sync("unix:///engine.sock", [route]), /already runs the Swarm groups' edge/);
    assert.deepEqual(executed, []);
  });

  it("refuses a malformed or oversized group domain with its file, line, column and field", () => {
    for (const domain of [
      "localhost",
      "*.acme.localhost",
      "ACME.localhost",
      "a..b",
      `${"a".repeat(200)}.localhost`,
      "x y.z",
    ]) {
      const text = `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: g}\nspec:\n  provider: docker\n  docker:\n    edge:\n      domain: "${domain}"\n`;
      const { errors } = loadFile(text, "group.yaml", "/tmp");
      assert.equal(errors.length, 1, domain);
      assert.match(errors[0]?.message ?? "", /^group\.yaml:8:\d+ .*spec\.docker\.edge\.domain/, domain);
    }
    const ok = loadFile(
      "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: g}\nspec: {provider: docker, docker: {edge: {domain: demo.localhost}}}\n",
      "group.yaml",
      "/tmp",
    );
    assert.deepEqual(ok.errors, []);
  });
});
