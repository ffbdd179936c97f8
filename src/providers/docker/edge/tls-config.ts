import type { EdgeRoute } from "./routes.js";
import { withoutForeignCoverage } from "./tls-coverage.js";

/** Where the edge gets certificates: an installation setting. */
export interface AcmeSettings {
  readonly directory: string;
  readonly email?: string;
  /** A CA root to trust for the directory's own HTTPS, as a path inside the edge container. */
  readonly caRootFile?: string;
}

type Json = Record<string, unknown>;

/** Port 80's answer for a TLS host: a permanent redirect to the same URL over HTTPS. */
export function redirectRoute(route: EdgeRoute, httpsPort: number): Json {
  const port = httpsPort === 443 ? "" : `:${httpsPort}`;
  return {
    match: [{ host: [...route.hosts].sort() }],
    handle: [
      {
        handler: "static_response",
        status_code: 308,
        headers: { Location: [`https://{http.request.host}${port}{http.request.uri}`] },
      },
    ],
    terminal: true,
  };
}

/**
 * The HTTPS server and Caddy's tls app for the TLS routes (sorted already), or nothing. Caddy's
 * own automatic HTTPS manages the ACME hosts (HTTP-01 is answered on port 80, before any route);
 * a Secret's pair is loaded as PEM, and its hosts are left out of certificate management. A
 * pair that covers another group's host is never loaded (tls-coverage.ts): Caddy would serve it
 * for that host while the host's own certificate is pending.
 */
export function tlsParts(
  routes: readonly EdgeRoute[],
  site: (route: EdgeRoute) => Json,
  guard: readonly Json[],
  fallback: Json,
  acme: AcmeSettings | undefined,
): { servers: Json; apps: Json } {
  const tlsRoutes = withoutForeignCoverage(routes).filter((r) => r.tls);
  if (tlsRoutes.length === 0) return { servers: {}, apps: {} };
  const acmeHosts = tlsRoutes.flatMap((r) => (r.tls?.mode === "acme" ? r.hosts : [])).sort();
  const ownHosts = tlsRoutes.flatMap((r) => (r.tls?.mode === "secret" ? r.hosts : [])).sort();
  const pems = tlsRoutes.flatMap((r) =>
    r.tls?.mode === "secret" && r.tls.certificate && r.tls.key
      ? [{ certificate: r.tls.certificate, key: r.tls.key, tags: [r.uid] }]
      : [],
  );
  // A Secret route's hosts are served with its own certificate only, never another tenant's
  // (a wildcard one, say) that also covers them.
  const own = tlsRoutes.flatMap((r) =>
    r.tls?.mode === "secret" && r.tls.certificate && r.tls.key
      ? [{ match: { sni: [...r.hosts].sort() }, certificate_selection: { any_tag: [r.uid] } }]
      : [],
  );
  const issuer: Json = {
    module: "acme",
    ...(acme ? { ca: acme.directory } : {}),
    ...(acme?.email ? { email: acme.email } : {}),
    ...(acme?.caRootFile ? { trusted_roots_pem_files: [acme.caRootFile] } : {}),
    // HTTP-01 only: the published HTTPS port may not be 443, where TLS-ALPN-01 is checked.
    challenges: { "tls-alpn": { disabled: true } },
  };
  return {
    servers: {
      edge_tls: {
        listen: [":443"],
        automatic_https: { disable_redirects: true, ...(ownHosts.length > 0 ? { skip_certificates: ownHosts } : {}) },
        tls_connection_policies: [...own, {}],
        routes: [...guard, ...tlsRoutes.map(site), fallback],
      },
    },
    apps: {
      tls: {
        ...(pems.length > 0 ? { certificates: { load_pem: pems } } : {}),
        ...(acmeHosts.length > 0 ? { automation: { policies: [{ subjects: acmeHosts, issuers: [issuer] }] } } : {}),
      },
    },
  };
}
