import { strict as assert } from "node:assert";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { caddyConfig } from "../../src/providers/docker/edge/config.js";
import type { EdgeRoute } from "../../src/providers/docker/edge/routes.js";
import { freePort } from "../../support/ports.js";
import { commandMissing, requireComponent } from "../support/e2e.js";

/** The subject CN of the certificate the server on 127.0.0.1:port presents for the SNI name. */
function presented(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(cn));
    });
    socket.setTimeout(5000, () => socket.destroy(new Error("timeout")));
    socket.on("error", reject);
  });
}

/**
 * Two tenants' Secret certificates that both cover the other's host (wildcards): each host is
 * served with its own tenant's certificate only. The edge's config as both edges build it, run by
 * the real Caddy (Debian's binary) on 127.0.0.1; no engine.
 */
describe("edge TLS: a tenant's certificate serves its own hosts only", function () {
  this.timeout(60_000);
  let dir: string;
  let caddy: ChildProcess | undefined;

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

  const route = (tenant: string): EdgeRoute => ({
    provider: "docker",
    group: `g${tenant}`,
    app: "web",
    uid: `u-${tenant}`,
    engine: undefined,
    network: `airloft-g${tenant}`,
    port: 8080,
    hosts: [`${tenant}.x.localhost`],
    ready: [],
    tls: {
      mode: "secret",
      certificate: readFileSync(join(dir, `${tenant}.crt`), "utf8"),
      key: readFileSync(join(dir, `${tenant}.key`), "utf8"),
    },
  });

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
    for (let i = 0; ; i++) {
      try {
        await presented(https, "a.x.localhost");
        return https;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  it("gives each host its own tenant's certificate, where the other's covers it too", async () => {
    const config = caddyConfig({ routes: [route("a"), route("b")], upstreams: new Map(), blocked: [], gateways: [] });
    const port = await run(config, "policy");
    for (let i = 0; i < 5; i++) {
      assert.equal(await presented(port, "a.x.localhost"), "Tenant-a");
      assert.equal(await presented(port, "b.x.localhost"), "Tenant-b");
    }
  });

  it("without the per-route connection policies (the config before them), b's host got a's certificate", async () => {
    const config = caddyConfig({ routes: [route("a"), route("b")], upstreams: new Map(), blocked: [], gateways: [] });
    const servers = (config.apps as { http: { servers: { edge_tls: Record<string, unknown> } } }).http.servers;
    servers.edge_tls.tls_connection_policies = [{}];
    const port = await run(config, "none");
    assert.equal(await presented(port, "b.x.localhost"), "Tenant-a");
  });
});
