import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { App } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { edgeGet, loadUntil } from "../../support/http-load.js";
import { freePort } from "../../support/ports.js";
import { airloft } from "../support/cli.js";
import { commandMissing, requireComponent, requireEngine } from "../support/e2e.js";
import { caddyImage, EDGE_IMAGE } from "../support/edge-image.js";

/** An app that says its VERSION; sh as PID 1 traps SIGTERM, so a stop takes no stop timeout. */
function app(group: string, name: string, version: string, replicas = 1, extra: Partial<App["spec"]> = {}) {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group },
    spec: {
      image: TEST_IMAGE,
      command: [
        "sh",
        "-c",
        'trap "exit 0" TERM; echo "$VERSION $HOSTNAME" > /www/index.html; httpd -f -p "$PORT" -h /www & wait',
      ],
      replicas,
      port: 8080,
      env: { VERSION: version },
      healthCheck: { http: { path: "/" }, intervalSeconds: 1 },
      ...extra,
    },
  };
}

function group(name: string) {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name },
    spec: { provider: "docker", docker: { edge: { domain: `${name}.localhost` } } },
  };
}

describe("the edge proxy on a real Docker engine", () => {
  let engine: TestEngine;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let port: number;

  const cli = (...args: string[]) => airloft(["--state", join(dir, "state.json"), ...args], { env, cwd: dir });
  const write = (key: string, doc: unknown): void => {
    writeFileSync(join(dir, "m", `${key}.yaml`), stringify(doc));
  };
  const apply = async (): Promise<string> => {
    const r = await cli("apply", "-f", join(dir, "m"), "--prune", "-v");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const getApp = async (ref: string): Promise<App> => {
    const r = await cli("get", `app/${ref}`, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as App;
  };
  const edgeContainer = async () =>
    (await engine.docker.listContainers({ all: true, filters: { label: ["airloft.dev/kind=Edge"] } }))[0];

  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    engine = await requireEngine(this);
    this.timeout(180_000);
    await caddyImage(engine.host);
    dir = mkdtempSync(join(tmpdir(), "airloft-edge-"));
    mkdirSync(join(dir, "m"));
    port = await freePort();
    env = {
      DOCKER_HOST: engine.host,
      CI: "",
      AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
      AIRLOFT_EDGE_HTTP_PORT: String(port),
      AIRLOFT_EDGE_HTTPS_PORT: String(await freePort()),
      AIRLOFT_EDGE_DRAIN_SECONDS: "1",
    };
  });

  after(async () => {
    if (dir) {
      await cli("delete", "-f", join(dir, "m"), "--timeout", "60s").catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("routes two groups' three apps by host name, and status.url is the app's address", async function () {
    this.timeout(240_000);
    write("alpha", group("alpha"));
    write("beta", group("beta"));
    write("alpha-web", app("alpha", "web", "v1", 3));
    write("alpha-api", app("alpha", "api", "api1"));
    write("beta-web", app("beta", "web", "beta1"));
    await apply();
    assert.match((await edgeGet(port, "web.alpha.localhost")).body, /^v1 /);
    assert.match((await edgeGet(port, "api.alpha.localhost")).body, /^api1 /);
    assert.match((await edgeGet(port, "web.beta.localhost")).body, /^beta1 /);
    assert.equal((await edgeGet(port, "nothing.localhost")).status, 404);
    assert.equal((await getApp("alpha/web")).status?.url, `http://web.alpha.localhost:${port}/`);
    const edge = await edgeContainer();
    assert.ok(edge, "an edge container runs");
    assert.equal(edge.Labels["airloft.dev/instance"] !== undefined, true);
    assert.deepEqual(Object.keys(edge.NetworkSettings.Networks).sort().slice(0, 2), ["airloft-alpha", "airloft-beta"]);
  });

  it("gives a host to the older claim; the other app gets HostConflict and routes nothing", async function () {
    this.timeout(120_000);
    write("beta-steal", app("beta", "steal", "stolen", 1, { expose: { domain: "web.alpha.localhost" } }));
    // Not ready, and said so: apply does not wait for a host that another app holds.
    const r = await cli("apply", "-f", join(dir, "m"), "--prune");
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const steal = await getApp("beta/steal");
    const ready = steal.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.reason, "HostConflict", JSON.stringify(steal.status));
    assert.match(ready?.message ?? "", /web\.alpha\.localhost/);
    assert.doesNotMatch(ready?.message ?? "", /alpha\/web|group alpha/);
    assert.match((await edgeGet(port, "web.alpha.localhost")).body, /^v1 /);
    rmSync(join(dir, "m", "beta-steal.yaml"));
    await apply();
  });

  it("a tenant's container on its group network reaches neither the admin API nor another group's app", async function () {
    this.timeout(120_000);
    const edge = await edgeContainer();
    const ip = edge?.NetworkSettings.Networks["airloft-beta"]?.IPAddress;
    assert.ok(ip, "the edge is on beta's network");
    const load = '{"apps":{"http":{"servers":{"x":{"listen":[":80"]}}}}}';
    const script = [
      `printf 'POST /load HTTP/1.0\\r\\nHost: 127.0.0.1:2019\\r\\nContent-Type: application/json\\r\\nContent-Length: ${load.length}\\r\\n\\r\\n%s' '${load}' | nc -w 3 ${ip} 2019; echo "admin:$?"`,
      `printf 'GET / HTTP/1.0\\r\\nHost: web.alpha.localhost\\r\\n\\r\\n' | nc -w 3 ${ip} 80; echo "proxy:$?"`,
    ].join("; ");
    const tenant = await engine.docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ["sh", "-c", script],
      HostConfig: { NetworkMode: "airloft-beta" },
    });
    try {
      await tenant.start();
      await tenant.wait();
      const out = (await tenant.logs({ stdout: true, stderr: true })).toString();
      assert.doesNotMatch(out, /HTTP\/1\.[01] 200/, out);
      assert.match(out, /HTTP\/1\.[01] 403/, out);
      assert.doesNotMatch(out, /^v1 /m, out);
    } finally {
      await tenant.remove({ force: true });
    }
    assert.match((await edgeGet(port, "web.alpha.localhost")).body, /^v1 /, "the config is unchanged");
  });

  it("rolls out a new version of a three-replica app under load with no failed request", async function () {
    this.timeout(300_000);
    // A new image, as a release brings: two tags of the test image.
    await engine.docker.getImage(TEST_IMAGE).tag({ repo: "airloft-test/web", tag: "v2" });
    write("alpha-web", app("alpha", "web", "v2", 3, { image: "airloft-test/web:v2" }));
    const t0 = Math.round(performance.now());
    const applied = apply();
    const load = await loadUntil(port, "web.alpha.localhost", applied);
    const out = await applied;
    assert.equal(
      load.failed,
      0,
      `${load.failed} of ${load.requests} failed (from ${t0}ms): ${load.failures.join("; ")}\n${out}`,
    );
    assert.ok(load.requests > 100, `only ${load.requests} requests`);
    assert.ok((load.bodies.get("v2") ?? 0) > 0, "the new version answered during the run");
    for (let i = 0; i < 6; i++) assert.match((await edgeGet(port, "web.alpha.localhost")).body, /^v2 /);
    process.stdout.write(
      `      rollout: ${load.requests} requests, ${load.failed} failed, ${load.retried} sent again\n`,
    );
  });

  it("scales the app down under load with no failed request", async function () {
    this.timeout(300_000);
    write("alpha-web", app("alpha", "web", "v2", 1, { image: "airloft-test/web:v2" }));
    const applied = apply();
    const load = await loadUntil(port, "web.alpha.localhost", applied);
    await applied;
    assert.equal(load.failed, 0, `${load.failed} of ${load.requests} failed: ${load.failures.join("; ")}`);
    process.stdout.write(
      `      scale-down: ${load.requests} requests, ${load.failed} failed, ${load.retried} sent again after a closed connection\n`,
    );
  });

  it("repairs the edge: a config changed by hand, then the container removed by hand", async function () {
    this.timeout(180_000);
    const edge = await edgeContainer();
    assert.ok(edge);
    const exec = await engine.docker.getContainer(edge.Id).exec({
      Cmd: [
        "sh",
        "-c",
        `echo '{"admin":{"listen":"127.0.0.1:2019"}}' > /tmp/x.json && wget -q -O - --header 'Content-Type: application/json' --post-file /tmp/x.json http://127.0.0.1:2019/load`,
      ],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    await new Promise((r) => stream.on("end", r).resume());
    await assert.rejects(edgeGet(port, "web.alpha.localhost"));
    await apply();
    assert.match((await edgeGet(port, "web.alpha.localhost")).body, /^v2 /);

    await engine.docker.getContainer(edge.Id).remove({ force: true });
    await apply();
    assert.match((await edgeGet(port, "web.alpha.localhost")).body, /^v2 /);
    assert.match((await edgeGet(port, "web.beta.localhost")).body, /^beta1 /);
  });

  it("a second installation on the engine: its own edge, and a lone app's rollout drains too", async function () {
    this.timeout(240_000);
    // One app in its own state file: no other app's reconcile tells the edge the routes first.
    const other = join(dir, "other");
    mkdirSync(join(other, "m"), { recursive: true });
    const otherPort = await freePort();
    const otherEnv = {
      ...env,
      AIRLOFT_EDGE_HTTP_PORT: String(otherPort),
      AIRLOFT_EDGE_HTTPS_PORT: String(await freePort()),
    };
    const otherCli = (...args: string[]) =>
      airloft(["--state", join(other, "state.json"), ...args], { env: otherEnv, cwd: other });
    const put = (version: string) =>
      writeFileSync(
        join(other, "m", "all.yaml"),
        [group("gamma"), app("gamma", "solo", version, 2)].map((d) => stringify(d)).join("---\n"),
      );
    put("g1");
    assert.equal((await otherCli("apply", "-f", join(other, "m"))).code, 0);
    assert.match((await edgeGet(otherPort, "solo.gamma.localhost")).body, /^g1 /);
    assert.equal((await engine.docker.listContainers({ filters: { label: ["airloft.dev/kind=Edge"] } })).length, 2);
    put("g2");
    const applied = otherCli("apply", "-f", join(other, "m"));
    const load = await loadUntil(otherPort, "solo.gamma.localhost", applied);
    assert.equal((await applied).code, 0);
    assert.equal(load.failed, 0, `${load.failed} of ${load.requests} failed: ${load.failures.join("; ")}`);
    assert.equal((await otherCli("delete", "-f", join(other, "m"), "--timeout", "120s")).code, 0);
    assert.equal((await engine.docker.listContainers({ filters: { label: ["airloft.dev/kind=Edge"] } })).length, 1);
  });

  it("a deleted app leaves the edge; the last one takes the edge away", async function () {
    this.timeout(180_000);
    rmSync(join(dir, "m", "alpha-api.yaml"));
    await apply();
    assert.equal((await edgeGet(port, "api.alpha.localhost")).status, 404);
    const r = await cli("delete", "-f", join(dir, "m"), "--timeout", "120s");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await edgeContainer(), undefined);
  });
});
