import { strict as assert } from "node:assert";
import { stringify } from "yaml";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { App, StoredEvent } from "../../src/resources/types.js";
import { TEST_IMAGE } from "../../support/engine.js";
import { loadUntil } from "../../support/http-load.js";
import { freePort } from "../../support/ports.js";
import { AppWaiter } from "../support/app-waiter.js";
import { commandMissing, requireComponent, requireEngine } from "../support/e2e.js";
import { caddyImage, EDGE_IMAGE } from "../support/edge-image.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

const GROUP = "scale";

/** A CGI that burns CPU for each request: busybox httpd runs /www/cgi-bin/burn per request. */
const BURN_APP = [
  "mkdir -p /www/cgi-bin",
  "echo '#!/bin/sh' > /www/cgi-bin/burn",
  "echo 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done' >> /www/cgi-bin/burn",
  "echo 'echo Content-Type: text/plain; echo; echo burnt' >> /www/cgi-bin/burn",
  "chmod +x /www/cgi-bin/burn",
  "echo ok > /www/index.html",
  'trap "exit 0" TERM; httpd -f -p "$PORT" -h /www & wait',
].join("; ");

function manifests(): string {
  const app = (name: string, command: string, autoscale: Record<string, number>, cpu: string) => ({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group: GROUP },
    spec: {
      image: TEST_IMAGE,
      command: ["sh", "-c", command],
      port: 8080,
      resources: { cpu, memory: "64Mi" },
      healthCheck: { http: { path: "/" }, intervalSeconds: 1 },
      autoscale,
    },
  });
  return [
    {
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Group",
      metadata: { name: GROUP },
      spec: { provider: "docker", docker: { edge: { domain: `${GROUP}.localhost` } } },
    },
    // Room for 4 replicas in all: the busy app may take 3 while the static one keeps 1.
    {
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Quota",
      metadata: { name: "q", group: GROUP },
      spec: { hard: { replicas: 4 } },
    },
    app("burn", BURN_APP, { min: 1, max: 6, targetCPUUtilization: 50, scaleDownStabilizationSeconds: 5 }, "100m"),
    app(
      "static",
      'echo ok > /www/index.html; trap "exit 0" TERM; httpd -f -p "$PORT" -h /www & wait',
      { min: 1, max: 3, targetRequestsPerSecond: 2, scaleDownStabilizationSeconds: 5 },
      "250m",
    ),
  ]
    .map((d) => stringify(d))
    .join("---\n");
}

describe("autoscale on a real engine: CPU and request rate through the edge, under the quota", function () {
  this.timeout(600_000);
  let server: ServeProcess;
  let admin: string;
  let port: number;

  let apps: AppWaiter;
  const until = (name: string, check: (app: App) => boolean, what: string) => apps.until(name, check, what);
  const events = (name: string): Promise<StoredEvent[]> => apps.events(name);

  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    const engine = await requireEngine(this);
    await caddyImage(engine.host);
    port = await freePort();
    server = new ServeProcess({
      DOCKER_HOST: engine.host,
      AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
      AIRLOFT_EDGE_HTTP_PORT: String(port),
      AIRLOFT_EDGE_HTTPS_PORT: String(await freePort()),
      AIRLOFT_EDGE_DRAIN_SECONDS: "1",
    });
    await server.start(["--stats-interval", "1s"]);
    admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    apps = new AppWaiter(server, admin, GROUP);
    const applied = await server.api("POST", `${API_PREFIX}/apply`, admin, manifests());
    assert.equal(applied.status, 200, JSON.stringify(applied.json));
    await until("burn", (a) => a.status?.readyReplicas === 1, "ready replica");
    await until("static", (a) => a.status?.readyReplicas === 1, "ready replica");
  });

  after(async function () {
    this.timeout(180_000);
    if (server?.url) await server.deleteGroups([GROUP]);
    await server?.stop();
    server?.remove();
  });

  it("scales a CPU-burning app from 1 to 3 under load, held there by the quota, and back to 1 after the window", async () => {
    let stop: () => void = () => undefined;
    const load = loadUntil(port, "burn.scale.localhost", new Promise<void>((r) => (stop = r)), 6, "/cgi-bin/burn");
    try {
      const scaled = await until("burn", (a) => (a.status?.autoscale?.desiredReplicas ?? 0) >= 3, "scale-up to 3");
      assert.ok((scaled.status?.autoscale?.currentCPUUtilization ?? 0) > 50, JSON.stringify(scaled.status?.autoscale));
      const capped = await until(
        "burn",
        (a) => a.status?.conditions?.some((c) => c.type === "ScalingLimited" && c.reason === "QuotaExceeded") === true,
        "QuotaExceeded",
      );
      assert.equal(capped.status?.autoscale?.desiredReplicas, 3, "the quota leaves 3 of 4 replicas");
      await until("burn", (a) => a.status?.readyReplicas === 3, "3 ready replicas");
    } finally {
      stop();
    }
    const result = await load;
    assert.ok(result.requests > 0);
    const down = await until("burn", (a) => a.status?.autoscale?.desiredReplicas === 1, "scale-down to 1");
    assert.ok(down.status?.autoscale?.lastScaleTime);
    await until("burn", (a) => a.status?.instances?.length === 1, "one replica left");
    const log = await events("burn");
    assert.ok(
      log.some((e) => e.reason === "Scaled" && /scaled from 1 to \d+ replicas: cpu \d+% of the limit/.test(e.message)),
      JSON.stringify(log),
    );
    assert.ok(
      log.some((e) => e.reason === "QuotaExceeded"),
      JSON.stringify(log),
    );
  });

  it("scales on the request rate measured at the edge", async () => {
    let stop: () => void = () => undefined;
    const load = loadUntil(port, "static.scale.localhost", new Promise<void>((r) => (stop = r)), 2);
    try {
      const scaled = await until("static", (a) => (a.status?.autoscale?.desiredReplicas ?? 0) >= 2, "scale-up on rate");
      assert.ok((scaled.status?.autoscale?.currentRequestsPerSecond ?? 0) > 2, JSON.stringify(scaled.status));
    } finally {
      stop();
    }
    assert.equal((await load).failed, 0);
    await until("static", (a) => a.status?.autoscale?.desiredReplicas === 1, "scale-down to 1");
    const metrics = await fetch(`${server.url}${API_PREFIX}/groups/${GROUP}/metrics`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.match(await metrics.text(), /airloft_edge_requests_total\{group="scale",app="static",code="2xx"\} [1-9]/);
  });
});
