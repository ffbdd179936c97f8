import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import type { Group } from "../../src/resources/types.js";
import { SWARM_TEST_IMAGE } from "../../support/swarm.js";
import { execOutput } from "../support/container-exec.js";
import { commandMissing, requireComponent } from "../support/e2e.js";
import { caddyImage, EDGE_IMAGE } from "../support/edge-image.js";
import { fetchOnce } from "../support/fetch-once.js";
import { edgeContainer, swarmGroupSuite, until } from "../support/swarm-group.js";

const run = promisify(execFile);
/** Not the other Swarm edge suites' ports. */
const HTTP_PORT = 18_485;
const HTTPS_PORT = 18_486;
const HOST = "own.swtls.test";
const SERVE = ["sh", "-c", 'mkdir -p /www && echo "$HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www'];

/** TLS on the Swarm edge (the Docker edge's, on the manager): a user's certificate from a Secret. */
describe("swarm edge: TLS from a Secret", function () {
  this.timeout(300_000);
  const suite = swarmGroupSuite(() => ({
    AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
    AIRLOFT_EDGE_HTTP_PORT: String(HTTP_PORT),
    AIRLOFT_EDGE_HTTPS_PORT: String(HTTPS_PORT),
  }));
  const manager = () => suite.swarm.nodes[0]?.docker as Docker;
  let dir = "";

  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    requireComponent(this, "openssl", commandMissing("openssl", "apt-get install openssl"));
    await caddyImage(suite.swarm.host);
    dir = mkdtempSync(join(tmpdir(), "airloft-swtls-"));
    await run(
      "openssl",
      [
        ...`req -x509 -days 7 -subj /CN=${HOST} -keyout own.key -out own.crt -nodes`.split(" "),
        ...["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-addext", `subjectAltName=DNS:${HOST}`],
      ],
      { cwd: dir },
    );
  });

  after(async () => {
    await suite.provider?.edge.sync(suite.swarm.host, []).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves the Secret's certificate on the manager's HTTPS port, redirects plain HTTP, counts the requests, and keeps the key out of Caddy's saved config", async () => {
    const crt = readFileSync(join(dir, "own.crt"));
    const key = readFileSync(join(dir, "own.key"));
    const group: Group = {
      ...suite.group,
      spec: { ...suite.group.spec, swarm: { ...suite.group.spec.swarm, edge: { domain: "swtls.localhost" } } },
    };
    const app = suite.app("own", {
      image: SWARM_TEST_IMAGE,
      port: 8080,
      command: SERVE,
      expose: { domain: HOST, tls: { secret: "own-cert" } },
    });
    const secrets = (g: string, name: string) =>
      g === group.metadata.name && name === "own-cert" ? { "tls.crt": crt, "tls.key": key } : undefined;
    const { routes } = edgeRoutes([group, app], secrets);
    const outcome = await until(
      () => suite.provider.reconcileApp(app, group, { edgeRoutes: routes }),
      (o) => o.converged,
      "own converged",
    );
    assert.equal(outcome.url, `https://${HOST}:${HTTPS_PORT}/`);
    assert.equal(outcome.tls?.certificate?.source, "secret");
    assert.deepEqual(outcome.tls?.certificate?.names, [HOST]);
    const host = suite.swarm.nodes[0]?.ip;
    const answer = await until(
      () =>
        fetchOnce(httpsRequest, {
          host,
          port: HTTPS_PORT,
          servername: HOST,
          ca: crt,
          path: "/",
          headers: { Host: HOST },
        }).catch((err: unknown) => ({ status: 0, headers: {}, body: String(err) })),
      (r) => r.status === 200,
      "own answered over HTTPS",
      60,
    );
    assert.equal(answer.body.trim(), outcome.replicas[0]?.containerId);
    // The check is real: a client trusting another root refuses the edge's certificate.
    await assert.rejects(
      fetchOnce(httpsRequest, { host, port: HTTPS_PORT, servername: HOST, path: "/", headers: { Host: HOST } }),
    );
    const plain = await fetchOnce(httpRequest, { host, port: HTTP_PORT, path: "/a?b=1", headers: { Host: HOST } });
    assert.equal(plain.status, 308);
    assert.equal(plain.headers.location, `https://${HOST}:${HTTPS_PORT}/a?b=1`);
    // Request metrics come from the same Caddy, by the app's own server.
    const traffic = (await suite.provider.traffic([group])).find((t) => t.app === "own");
    assert.ok((traffic?.requests["2xx"] ?? 0) >= 1, JSON.stringify(traffic));
    const edge = await edgeContainer(manager(), suite.provider.instanceId);
    assert.ok(edge, "the edge runs");
    const saved = await execOutput(manager(), edge.id, ["sh", "-c", "cat /config/caddy/autosave.json 2>&1; true"]);
    const body = key.toString().split("\n")[1] ?? "";
    assert.ok(body.length > 20);
    assert.ok(!saved.includes(body) && !saved.includes("PRIVATE KEY"), saved.slice(0, 2000));
    assert.ok(await until(() => suite.provider.finalizeApp(app, group, { edgeRoutes: [] }), Boolean, "own removed"));
  });
});
