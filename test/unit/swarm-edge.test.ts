import { strict as assert } from "node:assert";
import { ValidationErrors } from "../../src/errors.js";
import { caddyConfig } from "../../src/providers/docker/edge/config.js";
import { edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import { SWARM_FLAVOUR } from "../../src/providers/swarm/edge.js";
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

describe("swarm edge (pure)", () => {
  it("routes a swarm group's apps under spec.swarm.edge.domain on its overlay, TLS as on Docker, hosts claimed across providers", () => {
    const { routes, conflicts } = edgeRoutes([
      group("acme", "swarm", "acme.test"),
      group("old", "docker", "old.test"),
      app("acme", "web", { expose: { domain: "shop.old.test" } }),
      app("acme", "api", { expose: { tls: "auto" } }),
    ]);
    assert.deepEqual(
      routes.map((r) => [r.provider, r.app, r.network, r.hosts, r.tls]),
      [["swarm", "api", "airloft-acme", ["api.acme.test"], { mode: "acme" }]],
    );
    assert.deepEqual(
      conflicts.map((c) => c.message),
      ["host shop.old.test is under a domain another group set earlier"],
    );
  });

  it("reuses the Docker edge with tasks.SERVICE upstreams and no gateway exempt on an overlay", () => {
    const [route] = edgeRoutes([group("acme", "swarm", "acme.test"), app("acme", "web")]).routes;
    assert.ok(route);
    assert.equal(SWARM_FLAVOUR.provider, "swarm");
    assert.equal(SWARM_FLAVOUR.resolved?.(route), "tasks.acme_web");
    assert.equal(SWARM_FLAVOUR.gatewaysPass, false);
    const text = JSON.stringify(
      caddyConfig({
        routes: [route],
        upstreams: new Map(),
        resolved: new Map([[route.uid, SWARM_FLAVOUR.resolved?.(route) ?? ""]]),
        blocked: ["10.0.1.0/24"],
        gateways: [],
      }),
    );
    assert.match(text, /"dynamic_upstreams":\{"source":"a","name":"tasks\.acme_web","port":"8080","refresh":"1s"\}/);
    assert.match(text, /"remote_ip":\{"ranges":\["10\.0\.1\.0\/24"\]\}/);
    assert.doesNotMatch(text, /"not":/);
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
