import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import type Docker from "dockerode";
import { edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import type { AppOutcome } from "../../src/providers/types.js";
import type { App } from "../../src/resources/types.js";
import { SWARM_TEST_IMAGE, type TestSwarm } from "../../support/swarm.js";
import { commandMissing, requireComponent, requireSwarm } from "../support/e2e.js";
import { caddyImage, EDGE_IMAGE } from "../support/edge-image.js";
import { fetchOnce } from "../support/fetch-once.js";
import { edgeNetworkOf, pebbleCertificate, pebbleEnv, pebbleImage, startPebble } from "../support/pebble.js";
import { edgeContainer, swarmGroupSuite, until } from "../support/swarm-group.js";

/** Not the other Swarm edge suites' ports; published in the manager's own network namespace. */
const HTTP_PORT = 18_487;
const HTTPS_PORT = 18_488;
const PEBBLE_MANAGEMENT = 18_489;
const HOST = "web.swacme.test";
const PEBBLE = "airloft-swacme-pebble";
/** Each replica answers with its hostname (the task's container id). */
const SERVE = ["sh", "-c", 'mkdir -p /www && echo "$HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www'];

/** ACME on the Swarm edge (the Docker edge, on the manager): a certificate from pebble over HTTP-01. */
describe("swarm edge: a certificate over ACME from pebble", function () {
  this.timeout(300_000);
  let swarm: TestSwarm;
  let dir = "";

  // Before the provider starts: it reads pebble's HTTPS root from the file at once.
  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    requireComponent(this, "pebble", commandMissing("pebble", "apt-get install pebble"));
    requireComponent(this, "openssl", commandMissing("openssl", "apt-get install openssl"));
    swarm = await requireSwarm(this);
    dir = mkdtempSync(join(tmpdir(), "airloft-swacme-"));
    await pebbleCertificate(dir, PEBBLE, swarm.nodes[0]?.ip ?? "");
    // Made on the manager, where the edge and pebble run: no registry is involved.
    await caddyImage(swarm.host);
    await pebbleImage(swarm.host);
  });

  const suite = swarmGroupSuite(() => ({
    AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
    AIRLOFT_EDGE_HTTP_PORT: String(HTTP_PORT),
    AIRLOFT_EDGE_HTTPS_PORT: String(HTTPS_PORT),
    ...pebbleEnv(dir, PEBBLE),
  }));
  const manager = () => swarm.nodes[0]?.docker as Docker;
  const managerIp = () => swarm.nodes[0]?.ip ?? "";
  let root = "";
  let web: App;

  after(async () => {
    // pebble leaves the edge's network first: a network with a container on it cannot be removed.
    await manager()
      ?.getContainer(PEBBLE)
      .remove({ force: true })
      .catch(() => undefined);
    await suite.provider?.edge.sync(swarm.host, []).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const app = (tls: "off" | "auto") =>
    suite.app("web", {
      image: SWARM_TEST_IMAGE,
      replicas: 2,
      port: 8080,
      command: SERVE,
      // On the workers only: every answer comes from a node other than the edge's.
      placement: { constraints: ["node.role==worker"] },
      expose: { domain: HOST, tls },
    });
  const reconcile = (done: (o: AppOutcome) => boolean, what: string) =>
    until(
      () => suite.provider.reconcileApp(web, suite.group, { edgeRoutes: edgeRoutes([suite.group, web]).routes }),
      done,
      what,
    );
  const https = (ca: string) =>
    fetchOnce(httpsRequest, {
      host: managerIp(),
      port: HTTPS_PORT,
      servername: HOST,
      ca,
      path: "/",
      headers: { Host: HOST },
    });

  /** The serial of the certificate the edge serves for HOST, verified against pebble's root. */
  const servedSerial = () =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: managerIp(), port: HTTPS_PORT, servername: HOST, ca: root }, () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.end();
      });
      socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
      socket.on("error", reject);
    });
  /** Certificates pebble issued: it logs one line for each. */
  const issued = async () =>
    ((await manager().getContainer(PEBBLE).logs({ stdout: true, stderr: true })) as Buffer)
      .toString()
      .split("\n")
      .filter((l) => /Issued certificate serial/i.test(l)).length;

  it("gets a certificate from pebble over HTTP-01 and serves a replica on another node over HTTPS, verified against pebble's root", async () => {
    // tls off first: the edge and its network exist, and pebble joins that network.
    web = app("off");
    await reconcile((o) => o.converged, "web converged without TLS");
    const edge = await edgeContainer(manager(), suite.provider.instanceId);
    assert.ok(edge, "the edge runs");
    root = (
      await startPebble(manager(), {
        name: PEBBLE,
        ...edgeNetworkOf(edge.networks),
        dir,
        management: { ip: managerIp(), port: PEBBLE_MANAGEMENT },
      })
    ).root;

    web = { ...web, spec: app("auto").spec };
    const outcome = await reconcile((o) => o.converged && o.tls?.certificate !== undefined, "a certificate");
    assert.equal(outcome.url, `https://${HOST}:${HTTPS_PORT}/`);
    const cert = outcome.tls?.certificate;
    assert.equal(cert?.source, "acme");
    assert.deepEqual(cert?.names, [HOST]);
    assert.match(cert?.issuer ?? "", /Pebble/);
    assert.ok(Date.parse(cert?.notAfter ?? "") > Date.now(), JSON.stringify(cert));

    const manager0 = swarm.nodes[0]?.netns;
    assert.equal(outcome.replicas.length, 2);
    assert.ok(
      outcome.replicas.every((r) => r.node && r.node !== manager0),
      JSON.stringify(outcome.replicas.map((r) => r.node)),
    );
    const answer = await https(root);
    assert.equal(answer.status, 200);
    assert.ok(
      outcome.replicas.some((r) => r.containerId === answer.body.trim()),
      `${answer.body} is one of ${JSON.stringify(outcome.replicas)}`,
    );
    // The check is real: pebble's own HTTPS certificate is no root of what it issued.
    await assert.rejects(https(readFileSync(join(dir, "pebble.crt"), "utf8")), /self.signed|issuer|verify/i);
    const plain = await fetchOnce(httpRequest, {
      host: managerIp(),
      port: HTTP_PORT,
      path: "/a?b=1",
      headers: { Host: HOST },
    });
    assert.equal(plain.status, 308);
    assert.equal(plain.headers.location, `https://${HOST}:${HTTPS_PORT}/a?b=1`);
  });

  it("keeps the certificate when the edge container is lost: the one made again serves it from the data volume, with no new order", async () => {
    const before = await servedSerial();
    assert.equal(await issued(), 1, "one certificate issued so far");
    const lost = await edgeContainer(manager(), suite.provider.instanceId);
    assert.ok(lost, "the edge runs");
    await manager().getContainer(lost.id).remove({ force: true });
    // The next passes make the edge again (a new container on the same volume) and push its config.
    const outcome = await reconcile(
      (o) => o.converged && o.tls?.certificate !== undefined,
      "the certificate served again",
    );
    const made = await edgeContainer(manager(), suite.provider.instanceId);
    assert.ok(made && made.id !== lost.id, "a new edge container");
    const answer = await until(
      () => https(root).catch((err: unknown) => ({ status: 0, headers: {}, body: String(err) })),
      (r) => r.status === 200,
      "web answered over HTTPS again",
      60,
    );
    assert.ok(
      outcome.replicas.some((r) => r.containerId === answer.body.trim()),
      answer.body,
    );
    assert.equal(await servedSerial(), before, "the same certificate");
    assert.equal(await issued(), 1, "no new order: pebble issued nothing more");
    console.log(`      served serial ${before} before and after; pebble issued 1 certificate`);
  });
});
