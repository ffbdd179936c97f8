import { strict as assert } from "node:assert";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { stringify } from "yaml";
import { caddyConfig } from "../../src/providers/docker/edge/config.js";
import type { EdgeRoute } from "../../src/providers/docker/edge/routes.js";
import type { AcmeSettings } from "../../src/providers/docker/edge/tls-config.js";
import type { App } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { freePort } from "../../support/ports.js";
import { airloft } from "../support/cli.js";
import { commandMissing, requireComponent, requireEngine } from "../support/e2e.js";
import { caddyImage, EDGE_IMAGE } from "../support/edge-image.js";
import { appObject, groupObject } from "../support/manifests.js";

/** The certificate the server on 127.0.0.1:port presents for the SNI name: its subject CN and serial. */
function served(port: number, servername: string): Promise<{ cn: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const peer = socket.getPeerCertificate();
      socket.end();
      resolve({ cn: String(peer.subject?.CN), serial: peer.serialNumber });
    });
    socket.setTimeout(5000, () => socket.destroy(new Error("timeout")));
    socket.on("error", reject);
  });
}

/** The subject CN of the certificate presented for the SNI name. */
const presented = async (port: number, servername: string): Promise<string> => (await served(port, servername)).cn;

/**
 * What a TLS client gets for the SNI name, several times over: never `forbidden`'s certificate
 * (by CN and serial). A failed handshake (no certificate yet) is what a pending host should get.
 */
async function neverServed(port: number, servername: string, forbidden: { cn: string; serial: string }) {
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) {
    const got = await served(port, servername).catch((err: Error) => ({ cn: `(${err.message})`, serial: "" }));
    assert.notEqual(got.cn, forbidden.cn, `${servername} was served ${forbidden.cn}'s certificate`);
    assert.notEqual(got.serial, forbidden.serial, `${servername} was served ${forbidden.cn}'s certificate`);
    seen.push(got.cn);
  }
  return seen;
}

/**
 * Certificates on the edge as both edges build its config, run by the real Caddy (Debian's
 * binary) on 127.0.0.1; no engine. Two apps' Secret certificates that both cover the other's host
 * (wildcards): each host gets its own app's. A tenant's wildcard covering another tenant's ACME
 * host, whose certificate is pending (a directory that never answers): never served for it.
 */
describe("edge TLS: a certificate serves its own hosts only", function () {
  this.timeout(60_000);
  let dir: string;
  let caddy: ChildProcess | undefined;
  const cert = (tenant: string) => readFileSync(join(dir, `${tenant}.crt`), "utf8");

  before(function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    requireComponent(this, "openssl", commandMissing("openssl", "apt-get install openssl"));
    dir = mkdtempSync(join(tmpdir(), "airloft-tls-policy-"));
    for (const tenant of ["a", "b"])
      execFileSync(
        "openssl",
        [
          ...`req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 -subj /CN=Tenant-${tenant}`.split(
            " ",
          ),
          ...`-keyout ${tenant}.key -out ${tenant}.crt -addext subjectAltName=DNS:*.x.localhost`.split(" "),
        ],
        { cwd: dir, stdio: "ignore" },
      );
  });

  afterEach(() => {
    caddy?.kill();
    caddy = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const route = (tenant: string, group: string, tls?: EdgeRoute["tls"]): EdgeRoute => ({
    provider: "docker",
    group,
    app: `web-${tenant}`,
    uid: `u-${tenant}`,
    engine: undefined,
    network: `airloft-${group}`,
    port: 8080,
    hosts: [`${tenant}.x.localhost`],
    ready: [],
    tls: tls ?? { mode: "secret", certificate: cert(tenant), key: readFileSync(join(dir, `${tenant}.key`), "utf8") },
  });
  type Servers = { http: { servers: { edge_tls: Record<string, unknown> } } };
  const configOf = (routes: EdgeRoute[], acme?: AcmeSettings) =>
    caddyConfig({ routes, upstreams: new Map(), blocked: [], gateways: [], ...(acme ? { acme } : {}) });

  /** Runs Caddy with the config (its ports and sockets moved to this test's); the HTTPS port. */
  async function run(config: Record<string, unknown>, name: string): Promise<number> {
    const [https, http, admin] = [await freePort(), await freePort(), await freePort()];
    const text = JSON.stringify(config)
      .replaceAll('"127.0.0.1:2019"', `"127.0.0.1:${admin}"`)
      .replaceAll('":80"', `"127.0.0.1:${http}"`)
      .replaceAll('":443"', `"127.0.0.1:${https}"`)
      .replaceAll("/tmp/airloft-", `${dir}/${name}-`);
    writeFileSync(join(dir, `${name}.json`), text);
    const env = {
      ...process.env,
      XDG_CONFIG_HOME: join(dir, `${name}-config`),
      XDG_DATA_HOME: join(dir, `${name}-data`),
    };
    caddy = spawn("caddy", ["run", "--config", join(dir, `${name}.json`)], { env, stdio: "ignore" });
    // Listening is enough: a host without a certificate fails its handshake.
    for (let i = 0; ; i++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const socket = netConnect(https, "127.0.0.1", () => {
            socket.end();
            resolve();
          }).on("error", reject);
        });
        return https;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  it("gives each host its own app's certificate, where the other's covers it too", async () => {
    const config = configOf([route("a", "g"), route("b", "g")]);
    const port = await run(config, "policy");
    for (let i = 0; i < 5; i++) {
      assert.equal(await presented(port, "a.x.localhost"), "Tenant-a");
      assert.equal(await presented(port, "b.x.localhost"), "Tenant-b");
    }
  });

  it("without the per-route connection policies (the config before them), b's host got a's certificate", async () => {
    const config = configOf([route("a", "g"), route("b", "g")]);
    (config.apps as Servers).http.servers.edge_tls.tls_connection_policies = [{}];
    const port = await run(config, "none");
    assert.equal(await presented(port, "b.x.localhost"), "Tenant-a");
  });

  /** Tenant a's wildcard and tenant b's ACME host, from a directory that refuses every connection. */
  const acmeConfig = async () =>
    configOf([route("a", "ga"), route("b", "gb", { mode: "acme" })], {
      directory: `https://127.0.0.1:${await freePort()}/directory`,
    });

  it("never serves a tenant's wildcard for another tenant's ACME host while its certificate is pending", async () => {
    const a = new X509Certificate(cert("a"));
    const port = await run(await acmeConfig(), "acme");
    const seen = await neverServed(port, "b.x.localhost", { cn: "Tenant-a", serial: a.serialNumber });
    // No certificate at all yet: the handshake fails rather than serve someone else's.
    assert.ok(
      seen.every((s) => s.startsWith("(")),
      seen.join(", "),
    );
    // a's certificate covers another group's host, so it is not loaded at all: a's host has none either.
    await neverServed(port, "a.x.localhost", { cn: "Tenant-a", serial: a.serialNumber });
  });

  it("with the wildcard loaded (the config before the fix), b's pending ACME host got a's certificate", async () => {
    const config = await acmeConfig();
    const a = route("a", "ga");
    assert.ok(a.tls?.mode === "secret");
    (config.apps as { tls: Record<string, unknown> }).tls.certificates = {
      load_pem: [{ certificate: a.tls.certificate, key: a.tls.key, tags: [a.uid] }],
    };
    (config.apps as Servers).http.servers.edge_tls.tls_connection_policies = [
      { match: { sni: a.hosts }, certificate_selection: { any_tag: [a.uid] } },
      {},
    ];
    const port = await run(config, "leak");
    const got = await served(port, "b.x.localhost");
    assert.deepEqual(got, { cn: "Tenant-a", serial: new X509Certificate(cert("a")).serialNumber });
  });
});

/**
 * The same through AirLoft on the real engine: the edge container's Caddy, apps of two groups,
 * the CLI. Tenant a's wildcard Secret certificate serves its host until tenant b routes a host
 * under it with ACME, from a directory that never answers: from that push on, a's certificate
 * is not loaded (a's app says why) and b's host never gets it.
 */
describe("edge TLS on the engine: a tenant's wildcard and another tenant's pending ACME host", () => {
  let engine: TestEngine;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let httpsPort: number;
  const cli = (...args: string[]) => airloft(["--state", join(dir, "state.json"), ...args], { env, cwd: dir });
  const write = (key: string, doc: unknown): void => writeFileSync(join(dir, "m", `${key}.yaml`), stringify(doc));
  const apply = (timeout: string) => cli("apply", "-f", join(dir, "m"), "--timeout", timeout);
  const readyOf = async (ref: string) => {
    const r = await cli("get", `app/${ref}`, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as App).status?.conditions?.find((c) => c.type === "Ready");
  };
  const web = (group: string, domain: string, tls?: { secret: string }) =>
    appObject(group, "web", {
      image: TEST_IMAGE,
      command: ["sh", "-c", `echo "${group}" > /www/index.html; exec httpd -f -p "$PORT" -h /www`],
      port: 8080,
      healthCheck: { http: { path: "/" }, intervalSeconds: 1 },
      expose: { domain, ...(tls ? { tls } : {}) },
    });

  before(async function () {
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    requireComponent(this, "openssl", commandMissing("openssl", "apt-get install openssl"));
    engine = await requireEngine(this);
    this.timeout(180_000);
    await caddyImage(engine.host);
    dir = mkdtempSync(join(tmpdir(), "airloft-tls-policy-engine-"));
    mkdirSync(join(dir, "m"));
    execFileSync(
      "openssl",
      [
        ..."req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 -subj /CN=Tenant-a".split(" "),
        ..."-keyout a.key -out a.crt -addext subjectAltName=DNS:*.policy.test".split(" "),
      ],
      { cwd: dir, stdio: "ignore" },
    );
    httpsPort = await freePort();
    env = {
      DOCKER_HOST: engine.host,
      CI: "",
      AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
      AIRLOFT_EDGE_HTTP_PORT: String(await freePort()),
      AIRLOFT_EDGE_HTTPS_PORT: String(httpsPort),
      AIRLOFT_EDGE_DRAIN_SECONDS: "0",
      // Inside the edge container: nothing listens there, so no certificate is ever issued.
      AIRLOFT_ACME_DIRECTORY: "https://127.0.0.1:9/directory",
    };
  });

  after(async function () {
    this.timeout(120_000);
    if (!dir) return;
    await cli("delete", "-f", join(dir, "m"), "--timeout", "60s").catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("b's host never gets a's certificate, and a's app says why it lost it", async function () {
    this.timeout(240_000);
    const a = { cn: "Tenant-a", serial: new X509Certificate(readFileSync(join(dir, "a.crt"))).serialNumber };
    write("ta", groupObject("ta", "docker"));
    write("ta-wild", {
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Secret",
      metadata: { name: "wild", group: "ta" },
      stringData: {
        "tls.crt": readFileSync(join(dir, "a.crt"), "utf8"),
        "tls.key": readFileSync(join(dir, "a.key"), "utf8"),
      },
    });
    write("ta-web", web("ta", "a.policy.test", { secret: "wild" }));
    let r = await apply("90s");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // Loaded and served for its own host.
    assert.deepEqual(await served(httpsPort, "a.policy.test"), a);

    // A host under the wildcard, routed later by another group, with ACME that never issues.
    write("tb", groupObject("tb", "docker"));
    write("tb-web", web("tb", "b.policy.test"));
    r = await apply("20s");
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match((await readyOf("tb/web"))?.reason ?? "", /^Certificate(Pending|Failed)$/);
    await neverServed(httpsPort, "b.policy.test", a);
    await neverServed(httpsPort, "a.policy.test", a);
    const lost = await readyOf("ta/web");
    assert.equal(lost?.reason, "CertificateFailed", JSON.stringify(lost));
    assert.match(lost?.message ?? "", /name \*\.policy\.test covers a host another group routes on the edge/);
  });
});
