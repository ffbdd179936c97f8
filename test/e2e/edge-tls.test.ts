import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { App } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { edgeGet } from "../../support/http-load.js";
import { freePort } from "../../support/ports.js";
import { airloft } from "../support/cli.js";
import { commandMissing, requireComponent, requireEngine } from "../support/e2e.js";
import { caddyImage, EDGE_IMAGE } from "../support/edge-image.js";
import { fetchOnce } from "../support/fetch-once.js";
import {
  edgeNetworkOf,
  pebbleCertificate,
  pebbleEnv,
  pebbleImage,
  startPebble as startPebbleOn,
} from "../support/pebble.js";

const run = promisify(execFile);

function app(group: string, name: string, expose: Record<string, unknown>) {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group },
    spec: {
      image: TEST_IMAGE,
      command: ["sh", "-c", `echo "${name} $HOSTNAME" > /www/index.html; exec httpd -f -p "$PORT" -h /www`],
      port: 8080,
      healthCheck: { http: { path: "/" }, intervalSeconds: 1 },
      expose,
    },
  };
}

const group = (name: string) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name },
  spec: { provider: "docker" },
});

const secret = (group: string, name: string, data: Record<string, string>) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Secret",
  metadata: { name, group },
  stringData: data,
});

describe("TLS on the edge: certificates from pebble over ACME, and from a Secret", () => {
  let engine: TestEngine;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let httpPort: number;
  let httpsPort: number;
  let pebbleId: string | undefined;
  const pebbleName = `airloft-pebble-${randomBytes(3).toString("hex")}`;

  const cli = (...args: string[]) => airloft(["--state", join(dir, "state.json"), ...args], { env, cwd: dir });
  const write = (key: string, doc: unknown): void => writeFileSync(join(dir, "m", `${key}.yaml`), stringify(doc));
  const apply = () => cli("apply", "-f", join(dir, "m"), "--prune", "--timeout", "90s");
  const getApp = async (ref: string): Promise<App> => {
    const r = await cli("get", `app/${ref}`, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as App;
  };
  const readyOf = async (ref: string) => (await getApp(ref)).status?.conditions?.find((c) => c.type === "Ready");
  const openssl = (...args: string[]) => run("openssl", args, { cwd: dir });
  const https = (host: string, ca: string, path = "/") =>
    fetchOnce(httpsRequest, { port: httpsPort, servername: host, ca, path, headers: { Host: host } });
  const edge = async () =>
    (await engine.docker.listContainers({ all: true, filters: { label: ["airloft.dev/kind=Edge"] } }))[0];

  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    requireComponent(this, "pebble", commandMissing("pebble", "apt-get install pebble"));
    requireComponent(this, "openssl", commandMissing("openssl", "apt-get install openssl"));
    engine = await requireEngine(this);
    this.timeout(180_000);
    await caddyImage(engine.host);
    await pebbleImage(engine.host);
    dir = mkdtempSync(join(tmpdir(), "airloft-tls-"));
    mkdirSync(join(dir, "m"));
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await pebbleCertificate(dir, pebbleName, "127.0.0.1");
    // A user's own CA and a certificate it signed for own.shop.test.
    await openssl(..."req -x509 -days 7 -subj /CN=AirLoft-Test-CA -keyout ca.key -out ca.crt".split(" "), ...ec);
    await openssl(..."req -new -subj /CN=own.shop.test -keyout own.key -out own.csr".split(" "), ...ec);
    writeFileSync(join(dir, "own.ext"), "subjectAltName=DNS:own.shop.test\n");
    await openssl(
      ..."x509 -req -days 7 -in own.csr -CA ca.crt -CAkey ca.key -CAcreateserial -extfile own.ext -out own.crt".split(
        " ",
      ),
    );
    [httpPort, httpsPort] = [await freePort(), await freePort()];
    env = {
      DOCKER_HOST: engine.host,
      CI: "",
      AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
      AIRLOFT_EDGE_HTTP_PORT: String(httpPort),
      AIRLOFT_EDGE_HTTPS_PORT: String(httpsPort),
      AIRLOFT_EDGE_DRAIN_SECONDS: "0",
      ...pebbleEnv(dir, pebbleName),
    };
  });

  after(async function () {
    this.timeout(120_000);
    if (pebbleId) await engine.docker.getContainer(pebbleId).remove({ force: true });
    if (dir) {
      await cli("delete", "-f", join(dir, "m"), "--timeout", "60s").catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** pebble on the edge's own network, its management API on 127.0.0.1. */
  async function startPebble(): Promise<string> {
    const found = await edge();
    assert.ok(found, "the edge runs");
    const addresses = Object.fromEntries(
      Object.entries(found.NetworkSettings.Networks).map(([n, v]) => [n, v.IPAddress ?? ""]),
    );
    const started = await startPebbleOn(engine.docker, {
      name: pebbleName,
      ...edgeNetworkOf(addresses),
      dir,
      management: { ip: "127.0.0.1", port: await freePort() },
    });
    pebbleId = started.id;
    return started.root;
  }

  it("obtains a certificate from pebble over HTTP-01 answered by the edge, verified against pebble's root", async function () {
    this.timeout(240_000);
    write("shop", group("shop"));
    // tls off first: the edge and its network exist, and pebble joins that network.
    write("shop-web", app("shop", "web", { domain: "web.shop.test", tls: "off" }));
    let r = await apply();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match((await edgeGet(httpPort, "web.shop.test")).body, /^web /);
    const root = await startPebble();

    // A real domain: TLS is automatic.
    write("shop-web", app("shop", "web", { domain: "web.shop.test" }));
    r = await apply();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const status = (await getApp("shop/web")).status;
    assert.equal(status?.url, `https://web.shop.test:${httpsPort}/`);
    assert.deepEqual(status?.tls?.names, ["web.shop.test"]);
    assert.match(status?.tls?.issuer ?? "", /Pebble/);
    assert.equal(status?.tls?.source, "acme");
    assert.ok(Date.parse(status?.tls?.notAfter ?? "") > Date.now(), JSON.stringify(status?.tls));

    const answer = await https("web.shop.test", root);
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^web /);
    // The check is real: another root does not verify the edge's certificate.
    await assert.rejects(
      https("web.shop.test", readFileSync(join(dir, "ca.crt"), "utf8")),
      /self.signed|issuer|verify/i,
    );

    const plain = await fetchOnce(httpRequest, { port: httpPort, path: "/a?b=1", headers: { Host: "web.shop.test" } });
    assert.equal(plain.status, 308);
    assert.equal(plain.headers.location, `https://web.shop.test:${httpsPort}/a?b=1`);
  });

  it("serves a user's certificate from a Secret of the group; its key shows nowhere", async function () {
    this.timeout(180_000);
    const key = readFileSync(join(dir, "own.key"), "utf8");
    write(
      "own-cert",
      secret("shop", "own-cert", { "tls.crt": readFileSync(join(dir, "own.crt"), "utf8"), "tls.key": key }),
    );
    write("shop-own", app("shop", "own", { domain: "own.shop.test", tls: { secret: "own-cert" } }));
    const r = await apply();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const answer = await https("own.shop.test", readFileSync(join(dir, "ca.crt"), "utf8"));
    assert.match(answer.body, /^own /);
    const status = (await getApp("shop/own")).status;
    assert.deepEqual(status?.tls?.names, ["own.shop.test"]);
    assert.match(status?.tls?.issuer ?? "", /AirLoft-Test-CA/);
    assert.equal(status?.tls?.source, "secret");

    const body = key.split("\n")[1] ?? "";
    assert.ok(body.length > 20);
    const outputs = [
      r.stdout + r.stderr,
      (await cli("get", "app/shop/own", "-o", "yaml")).stdout,
      (await cli("get", "secret/shop/own-cert", "-o", "yaml")).stdout,
      (await cli("describe", "app/shop/own")).stdout,
    ];
    const found = await edge();
    assert.ok(found);
    outputs.push(JSON.stringify(found.Labels));
    const inEdge = await engine.docker.getContainer(found.Id).exec({
      Cmd: ["sh", "-c", "cat /config/caddy/autosave.json /tmp/airloft-edge.json 2>&1"],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await inEdge.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    await new Promise((done) => stream.on("data", (c: Buffer) => chunks.push(c)).on("end", done));
    outputs.push(Buffer.concat(chunks).toString());
    for (const out of outputs) assert.ok(!out.includes(body) && !out.includes("PRIVATE KEY"), out.slice(0, 2000));
  });

  it("refuses what another tenant tries: its TLS host, its Secret; a malformed certificate is a clear condition", async function () {
    this.timeout(180_000);
    write("rival", group("rival"));
    write("rival-steal", app("rival", "steal", { domain: "own.shop.test", tls: { secret: "own-cert" } }));
    write("rival-borrow", app("rival", "borrow", { domain: "borrow.rival.test", tls: { secret: "own-cert" } }));
    write("bad-cert", secret("shop", "bad-cert", { "tls.crt": "not a certificate", "tls.key": "nor a key" }));
    write("shop-bad", app("shop", "bad", { domain: "bad.shop.test", tls: { secret: "bad-cert" } }));
    const r = await apply();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal((await readyOf("rival/steal"))?.reason, "HostConflict");
    const borrow = await readyOf("rival/borrow");
    assert.equal(borrow?.reason, "CertificateFailed");
    assert.match(borrow?.message ?? "", /secret own-cert not found in the app's group/);
    const bad = await readyOf("shop/bad");
    assert.equal(bad?.reason, "CertificateFailed");
    assert.match(bad?.message ?? "", /tls\.crt of secret bad-cert is not a PEM certificate/);
    // The rest keeps serving.
    assert.match((await https("own.shop.test", readFileSync(join(dir, "ca.crt"), "utf8"))).body, /^own /);
    assert.equal((await edgeGet(httpPort, "web.shop.test")).status, 308);
    assert.ok(!JSON.stringify(await getApp("rival/borrow")).includes("PRIVATE KEY"));
  });

  it("the last domain removed: the app's route goes, and the edge with it", async function () {
    this.timeout(180_000);
    // pebble leaves the edge's network first: a network with a container on it cannot be removed.
    if (pebbleId) await engine.docker.getContainer(pebbleId).remove({ force: true });
    pebbleId = undefined;
    for (const f of ["rival", "rival-steal", "rival-borrow", "bad-cert", "shop-bad", "own-cert", "shop-own"])
      rmSync(join(dir, "m", `${f}.yaml`));
    write("shop-web", app("shop", "web", {}));
    const r = await apply();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const status = (await getApp("shop/web")).status;
    assert.equal(status?.url, undefined);
    assert.equal(status?.tls, undefined);
    assert.equal(await edge(), undefined, "no app is routed: the edge is gone");
  });
});
