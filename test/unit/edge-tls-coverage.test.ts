import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { caddyConfig } from "../../src/providers/docker/edge/config.js";
import { type EdgeRoute, edgeRoutes } from "../../src/providers/docker/edge/routes.js";
import { caddyNames, userCertificate } from "../../src/providers/docker/edge/tls.js";
import { lookupNames, withoutForeignCoverage } from "../../src/providers/docker/edge/tls-coverage.js";
import type { App, Group } from "../../src/resources/types.js";

const group = (name: string, created: string): Group => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name, uid: `g-${name}`, creationTimestamp: created },
  spec: { provider: "docker" },
});

const app = (g: string, name: string, expose: NonNullable<App["spec"]["expose"]>, created: string): App => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name, group: g, uid: `u-${g}-${name}`, creationTimestamp: created },
  spec: { image: "x", port: 8080, expose },
});

type TlsConfig = {
  apps: {
    http: { servers: { edge_tls: { tls_connection_policies: unknown[] } } };
    tls: { certificates?: { load_pem: Array<{ tags: string[] }> }; automation?: unknown };
  };
};

/**
 * A tenant's Secret certificate that covers another tenant's host (a wildcard, a SAN, its common
 * name, Caddy's `*.*.*`) is never loaded into the edge's Caddy: there it would be served for that
 * host while the host's own ACME certificate is pending.
 */
describe("edge TLS: no certificate covering another group's host (pure)", () => {
  let dir: string;
  /** A self-signed pair with the subject and SANs given; its PEM texts. */
  const pair = (file: string, subject: string, sans: string): { certificate: string; key: string } => {
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7"],
        ...["-multivalue-rdn", "-subj", subject, "-keyout", `${file}.key`, "-out", `${file}.crt`],
        ...["-addext", `subjectAltName=${sans}`],
      ],
      { cwd: dir, stdio: "ignore" },
    );
    return {
      certificate: readFileSync(join(dir, `${file}.crt`), "utf8"),
      key: readFileSync(join(dir, `${file}.key`), "utf8"),
    };
  };

  before(function () {
    this.timeout(30_000);
    dir = mkdtempSync(join(tmpdir(), "airloft-tls-coverage-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const route = (g: string, host: string, tls?: EdgeRoute["tls"]): EdgeRoute => ({
    provider: "docker",
    group: g,
    app: "web",
    uid: `u-${g}-${host}`,
    engine: undefined,
    network: `airloft-${g}`,
    port: 8080,
    hosts: [host],
    ready: [],
    ...(tls ? { tls } : {}),
  });

  it("reads the names Caddy indexes a certificate under, and the names it looks a host up by", () => {
    const { certificate } = pair(
      "names",
      "/O=x+CN=B.Example.test/OU=u",
      "DNS:a.example.test,DNS:*.*.test,IP:10.0.0.1,email:x@y.test",
    );
    assert.deepEqual(caddyNames(new X509Certificate(certificate)).sort(), [
      "*.*.test",
      "10.0.0.1",
      "a.example.test",
      "b.example.test",
      "x@y.test",
    ]);
    assert.deepEqual(lookupNames("B.example.test"), ["b.example.test", "*.example.test", "*.*.test", "*.*.*"]);
  });

  it("reads a certificate's names once, with its pair, and only parses a route made without them", () => {
    const wildcard = pair("wild-once", "/CN=Tenant-a", "DNS:a.example.test,DNS:*.example.test");
    const checked = userCertificate("wild", ["a.example.test"], {
      "tls.crt": Buffer.from(wildcard.certificate),
      "tls.key": Buffer.from(wildcard.key),
    });
    assert.deepEqual(checked.mode === "secret" && [...(checked.names ?? [])].sort(), [
      "*.example.test",
      "a.example.test",
      "tenant-a",
    ]);
    const b = route("gb", "b.example.test", { mode: "acme" });
    // The names carried decide, not the PEM (here unreadable): it is not parsed again.
    const carried = route("ga", "a.example.test", {
      mode: "secret",
      ...wildcard,
      certificate: "unread",
      names: ["*.example.test"],
    });
    assert.match(JSON.stringify(withoutForeignCoverage([carried, b])[0]?.tls), /covers a host another group routes/);
    const without = route("ga", "a.example.test", { mode: "secret", ...wildcard, certificate: "unread" });
    assert.match(JSON.stringify(withoutForeignCoverage([without, b])[0]?.tls), /not a PEM certificate/);
  });

  it("leaves a tenant's wildcard out of the config where it covers another group's ACME host", () => {
    const wildcard = pair("wild", "/CN=Tenant-a", "DNS:a.example.test,DNS:*.example.test");
    const a = route("ga", "a.example.test", { mode: "secret", ...wildcard });
    const b = route("gb", "b.example.test", { mode: "acme" });
    const config = caddyConfig({ routes: [a, b], upstreams: new Map(), blocked: [], gateways: [] }) as TlsConfig;
    assert.equal(config.apps.tls.certificates, undefined);
    // Nor a connection policy selecting it: only the catch-all, for b's ACME certificate.
    assert.deepEqual(config.apps.http.servers.edge_tls.tls_connection_policies, [{}]);
    assert.ok(config.apps.tls.automation);

    // The same certificate with b's host in the same group (one tenant): loaded, with its policy.
    const own = caddyConfig({
      routes: [a, { ...b, group: "ga" }],
      upstreams: new Map(),
      blocked: [],
      gateways: [],
    }) as TlsConfig;
    assert.deepEqual(
      own.apps.tls.certificates?.load_pem.map((p) => p.tags),
      [[a.uid]],
    );
    assert.equal(own.apps.http.servers.edge_tls.tls_connection_policies.length, 2);
  });

  it("refuses by any name Caddy matches: a SAN, the common name, `*.*.*`, a plain HTTP host too", () => {
    const b = route("gb", "b.example.test", { mode: "acme" });
    const cases: Array<[string, string, string]> = [
      ["san", "/CN=Tenant-a", "DNS:a.example.test,DNS:b.example.test"],
      ["cn", "/CN=b.example.test", "DNS:a.example.test"],
      ["stars", "/CN=Tenant-a", "DNS:a.example.test,DNS:*.*.*"],
      ["upper", "/CN=Tenant-a", "DNS:a.example.test,DNS:*.EXAMPLE.test"],
    ];
    for (const [file, subject, sans] of cases) {
      const a = route("ga", "a.example.test", { mode: "secret", ...pair(file, subject, sans) });
      for (const other of [b, route("gb", "b.example.test")]) {
        const [kept] = withoutForeignCoverage([a, other]);
        assert.ok(kept?.tls?.mode === "secret", file);
        assert.equal(kept.tls.certificate, undefined, file);
        assert.equal(kept.tls.key, undefined, file);
        // The message names the certificate's own name (a wildcard), not the other group's app.
        assert.match(kept.tls.error ?? "", /covers a host another group routes/, file);
        assert.doesNotMatch(kept.tls.error ?? "", /gb|web/, file);
      }
    }
    // A certificate whose names cover no other group's host is kept as it was.
    const exact = route("ga", "a.example.test", { mode: "secret", ...pair("exact", "/CN=a", "DNS:a.example.test") });
    assert.deepEqual(withoutForeignCoverage([exact, b]), [exact, b]);
    // Nor does a host on another edge (another engine, or the swarm's) refuse it: that Caddy never holds it.
    const wide = route("ga", "a.example.test", { mode: "secret", ...pair("wide", "/CN=x", "DNS:*.example.test") });
    const elsewhere = [
      { ...b, engine: "tcp://10.0.0.2:2375" },
      { ...b, provider: "swarm" as const },
    ];
    for (const other of elsewhere) assert.deepEqual(withoutForeignCoverage([wide, other]), [wide, other]);
  });

  it("refuses an older tenant's certificate once another group routes a host under it later, with its status", () => {
    const wildcard = pair("later", "/CN=Tenant-a", "DNS:a.example.test,DNS:*.example.test");
    const objects = [
      group("ga", "2026-01-01T00:00:00Z"),
      group("gb", "2026-01-01T00:00:01Z"),
      app("ga", "web", { domain: "a.example.test", tls: { secret: "wild" } }, "2026-01-02T00:00:00Z"),
    ];
    const values = (g: string) =>
      g === "ga" ? { "tls.crt": Buffer.from(wildcard.certificate), "tls.key": Buffer.from(wildcard.key) } : undefined;
    const before = edgeRoutes(objects, values).routes;
    assert.ok(before[0]?.tls?.mode === "secret" && before[0].tls.key);
    const later = app("gb", "web", { domain: "b.example.test" }, "2026-01-03T00:00:00Z");
    const after = edgeRoutes([...objects, later], values).routes;
    const a = after.find((r) => r.group === "ga");
    assert.ok(a?.tls?.mode === "secret" && !a.tls.key && !a.tls.facts);
    assert.match(a.tls.error ?? "", /name \*\.example\.test covers a host another group routes/);
    assert.deepEqual(after.find((r) => r.group === "gb")?.tls, { mode: "acme" });
  });
});
