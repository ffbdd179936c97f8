import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { edgeFlags } from "../../src/cli/edge-flags.js";
import { caddyConfig } from "../../src/providers/docker/edge/config.js";
import { type EdgeRoute, edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import { edgeSettings, LETS_ENCRYPT } from "../../src/providers/docker/edge/settings.js";
import { lastAcmeError, newestCertificateFor, userCertificate } from "../../src/providers/docker/edge/tls.js";
import type { App, Group } from "../../src/resources/types.js";

const group = (name: string): Group => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name, uid: `g-${name}`, creationTimestamp: "2026-01-01T00:00:00Z" },
  spec: { provider: "docker", docker: { edge: { domain: `${name}.localhost` } } },
});

const app = (g: string, name: string, expose: App["spec"]["expose"] = {}): App => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name, group: g, uid: `u-${g}-${name}`, creationTimestamp: "2026-01-02T00:00:00Z" },
  spec: { image: "x", port: 8080, expose },
});

describe("edge TLS (pure)", () => {
  let dir: string;
  const pem = (name: string) => readFileSync(join(dir, name));

  before(function () {
    this.timeout(30_000);
    dir = mkdtempSync(join(tmpdir(), "airloft-tls-unit-"));
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7"];
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    openssl(
      "req",
      "-x509",
      ...ec,
      "-subj",
      "/CN=Own CA",
      "-keyout",
      "a.key",
      "-out",
      "a.crt",
      "-addext",
      "subjectAltName=DNS:own.example.test,DNS:*.own.example.test",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    );
    openssl("req", "-x509", ...ec, "-subj", "/CN=Other", "-keyout", "b.key", "-out", "b.crt");
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("TLS is automatic for a real domain, off for *.localhost or when asked, a Secret's pair when named", () => {
    const asked: string[] = [];
    const { routes } = edgeRoutes(
      [
        group("acme"),
        app("acme", "web"),
        app("acme", "shop", { domain: "shop.example.test" }),
        app("acme", "plain", { domain: "plain.example.test", tls: "off" }),
        app("acme", "own", { domain: "x.own.example.test", tls: { secret: "own-cert" } }),
      ],
      (g, name) => {
        asked.push(`${g}/${name}`);
        return { "tls.crt": pem("a.crt"), "tls.key": pem("a.key") };
      },
    );
    const mode = Object.fromEntries(routes.map((r) => [r.app, r.tls?.mode ?? "off"]));
    assert.deepEqual(mode, { web: "off", shop: "acme", plain: "off", own: "secret" });
    // Only the app's own group is ever asked.
    assert.deepEqual(asked, ["acme/own-cert"]);
    const own = routes.find((r) => r.app === "own")?.tls;
    assert.ok(own?.mode === "secret" && own.facts);
    assert.deepEqual(own.facts.names, ["own.example.test", "*.own.example.test"]);
    assert.match(own.facts.issuer, /Own CA/);
  });

  it("says what is wrong with a Secret's pair, never quoting it", () => {
    const check = (values: Record<string, Buffer> | undefined, hosts = ["own.example.test"]) => {
      const tls = userCertificate("c", hosts, values);
      assert.ok(tls.mode === "secret" && !tls.key && !tls.certificate);
      return tls.error;
    };
    assert.equal(check(undefined), "secret c not found in the app's group");
    assert.equal(check({ "tls.crt": pem("a.crt") }), "secret c needs the keys tls.crt and tls.key");
    const junk = Buffer.from("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n");
    assert.equal(check({ "tls.crt": junk, "tls.key": junk }), "tls.crt of secret c is not a PEM certificate");
    assert.equal(
      check({ "tls.crt": pem("a.crt"), "tls.key": junk }),
      "tls.key of secret c is not an unencrypted PEM private key",
    );
    assert.equal(
      check({ "tls.crt": pem("a.crt"), "tls.key": pem("b.key") }),
      "tls.key of secret c does not match its tls.crt",
    );
    assert.equal(
      check({ "tls.crt": pem("a.crt"), "tls.key": pem("a.key") }, ["own.example.test", "other.example.test"]),
      "the certificate in secret c does not cover other.example.test",
    );
  });

  it("makes an HTTPS server, redirects and Caddy's tls app only for TLS routes", () => {
    const base = { upstreams: new Map([["u1", ["10.0.0.2:8080"]]]), blocked: ["10.0.0.0/24"], gateways: ["10.0.0.1"] };
    const route = (app: string, host: string, tls?: EdgeRoute["tls"]): EdgeRoute => ({
      provider: "docker",
      group: "g",
      app,
      uid: app === "shop" ? "u1" : `u-${app}`,
      engine: undefined,
      network: "airloft-g",
      port: 8080,
      hosts: [host],
      ready: [],
      ...(tls ? { tls } : {}),
    });
    const plain = caddyConfig({ ...base, routes: [route("web", "web.g.localhost")] });
    // The front server and each app's own (its request metrics): no HTTPS server without a TLS route.
    assert.deepEqual(Object.keys((plain.apps as { http: { servers: object } }).http.servers), [
      "edge",
      "airloft_app_g_web",
    ]);
    assert.equal((plain.apps as { tls?: unknown }).tls, undefined);
    assert.deepEqual(plain.admin, { listen: "127.0.0.1:2019" });

    const key = pem("a.key").toString();
    const config = caddyConfig({
      ...base,
      acme: { directory: "https://acme.test/dir", caRootFile: "/config/ca.pem" },
      httpsPort: 8443,
      routes: [
        route("web", "web.g.localhost"),
        route("shop", "shop.example.test", { mode: "acme" }),
        route("own", "own.example.test", { mode: "secret", certificate: pem("a.crt").toString(), key }),
        route("bad", "bad.example.test", { mode: "secret", error: "no" }),
      ],
    }) as {
      admin: unknown;
      apps: {
        http: { servers: Record<string, { routes: Array<Record<string, unknown>> } & Record<string, unknown>> };
        tls: Record<string, unknown>;
      };
    };
    const { edge, edge_tls } = config.apps.http.servers;
    assert.ok(edge && edge_tls);
    const byHost = (routes: Array<Record<string, unknown>>, host: string) =>
      routes.find((r) => JSON.stringify(r.match ?? "").includes(host));
    assert.deepEqual(byHost(edge.routes, "shop.example.test")?.handle, [
      {
        handler: "static_response",
        status_code: 308,
        headers: { Location: ["https://{http.request.host}:8443{http.request.uri}"] },
      },
    ]);
    assert.equal(
      (byHost(edge_tls.routes, "shop.example.test")?.handle as Array<{ handler: string }>)[0]?.handler,
      "reverse_proxy",
    );
    assert.equal(byHost(edge_tls.routes, "web.g.localhost"), undefined);
    assert.ok(byHost(edge_tls.routes, "shop.example.test"));
    // The group networks are refused on HTTPS too.
    assert.deepEqual(edge_tls.routes[0], edge.routes[0]);
    assert.deepEqual(edge_tls.listen, [":443"]);
    assert.deepEqual(edge_tls.automatic_https, {
      disable_redirects: true,
      skip_certificates: ["bad.example.test", "own.example.test"],
    });
    assert.deepEqual(config.apps.tls, {
      certificates: { load_pem: [{ certificate: pem("a.crt").toString(), key, tags: ["u-own"] }] },
      automation: {
        policies: [
          {
            subjects: ["shop.example.test"],
            issuers: [
              {
                module: "acme",
                ca: "https://acme.test/dir",
                trusted_roots_pem_files: ["/config/ca.pem"],
                challenges: { "tls-alpn": { disabled: true } },
              },
            ],
          },
        ],
      },
    });
    // A config holding a user's key is not saved to disk by Caddy.
    assert.deepEqual(config.admin, { listen: "127.0.0.1:2019", config: { persist: false } });
  });

  it("finds the newest leaf for a host in Caddy's storage, and the last ACME error in its log", () => {
    const chain = `${pem("b.crt")}${pem("a.crt")}`;
    assert.match(newestCertificateFor(chain, "own.example.test")?.issuer ?? "", /Own CA/);
    assert.equal(newestCertificateFor(chain, "elsewhere.test"), undefined);
    const line = (o: object) => `\u0002\u0000\u0000\u0000\u0000\u0000\u0001\u0000${JSON.stringify(o)}`;
    const failed = line({
      level: "error",
      logger: "tls.obtain",
      msg: "could not get certificate from issuer",
      identifier: "a.test",
      error: "[a.test] urn:ietf:params:acme:error:connection",
    });
    const retry = line({ level: "error", logger: "tls.obtain", msg: "will retry", error: "[a.test] Obtain" });
    const other = line({ level: "error", logger: "tls.obtain", identifier: "b.test", error: "b only" });
    const ok = line({
      level: "info",
      logger: "tls.obtain",
      msg: "certificate obtained successfully",
      identifier: "a.test",
    });
    assert.equal(
      lastAcmeError([failed, retry, other].join("\n"), "a.test"),
      "[a.test] urn:ietf:params:acme:error:connection",
    );
    assert.equal(lastAcmeError([failed, ok].join("\n"), "a.test"), undefined);
    assert.equal(lastAcmeError("not json a.test\n{broken a.test", "a.test"), undefined);
  });

  it("takes the ACME directory and CA root from the environment, and refuses bad ones", () => {
    assert.equal(edgeSettings({}).acme.directory, LETS_ENCRYPT);
    assert.throws(() => edgeSettings({ AIRLOFT_ACME_DIRECTORY: "http://acme.test/dir" }), /must be an https URL/);
    assert.throws(() => edgeSettings({ AIRLOFT_ACME_CA_ROOT: join(dir, "missing.pem") }), /cannot read/);
    writeFileSync(join(dir, "empty.pem"), "nothing");
    assert.throws(() => edgeSettings({ AIRLOFT_ACME_CA_ROOT: join(dir, "empty.pem") }), /no PEM certificate/);
    const settings = edgeSettings({
      AIRLOFT_ACME_DIRECTORY: "https://acme.test/dir",
      AIRLOFT_ACME_CA_ROOT: join(dir, "a.crt"),
    });
    assert.equal(settings.acme.directory, "https://acme.test/dir");
    assert.match(settings.acme.caRoot ?? "", /BEGIN CERTIFICATE/);
  });

  it("takes the edge's settings as flags of controller and serve too, a flag winning over its variable", async () => {
    const saved = { port: process.env.AIRLOFT_EDGE_HTTP_PORT, acme: process.env.AIRLOFT_ACME_DIRECTORY };
    process.env.AIRLOFT_EDGE_HTTP_PORT = "8081";
    try {
      let seen: number | undefined;
      const cmd = edgeFlags(new Command("controller")).action(() => {
        seen = edgeSettings(process.env).httpPort;
      });
      await cmd.parseAsync(["--edge-http-port", "8088", "--acme-directory", "https://acme.test/dir"], { from: "user" });
      assert.equal(seen, 8088);
      assert.equal(edgeSettings(process.env).acme.directory, "https://acme.test/dir");
    } finally {
      for (const [name, value] of [
        ["AIRLOFT_EDGE_HTTP_PORT", saved.port],
        ["AIRLOFT_ACME_DIRECTORY", saved.acme],
      ] as const)
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
    }
  });
});
