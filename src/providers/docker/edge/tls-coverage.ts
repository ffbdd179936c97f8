import { X509Certificate } from "node:crypto";
import { caddyNames, type EdgeTls } from "./tls.js";

/** What the refusal reads of a route (routes.ts EdgeRoute): whose it is, on which edge, its hosts and TLS. */
export interface CoveredRoute {
  readonly provider: string;
  readonly group: string;
  readonly engine: string | undefined;
  readonly hosts: readonly string[];
  readonly tls?: EdgeTls;
}

/**
 * The names under which Caddy finds a certificate for a TLS server name: the name itself, then
 * with its labels turned into `*` from the left one by one (`*.b.test`, `*.*.test`, `*.*.*`), as
 * certmagic's cache lookup does. A certificate covers the host when one of its names is among them.
 */
export function lookupNames(host: string): string[] {
  const labels = host.toLowerCase().split(".");
  const names = [labels.join(".")];
  for (let i = 0; i < labels.length; i++) {
    labels[i] = "*";
    names.push(labels.join("."));
  }
  return names;
}

/**
 * The routes with every Secret certificate that covers (in Caddy's lookup) a host of another
 * group's route refused: its pair is left out, so Caddy never loads it and can never serve it for
 * that host, whatever the other route's TLS (its ACME certificate pending or failing, plain HTTP).
 * Caddy 2.6's certificate_selection can only require properties (serial, organization, key
 * algorithm, tags), and a managed certificate has no tag, so no connection policy can keep a
 * loaded tenant certificate away from an ACME host. Decided on every config from all routes, a
 * host routed later refuses the certificate in the same push that routes it. A group's own hosts
 * may share a certificate; a group that owns a default domain keeps other groups out of it. Only
 * hosts on the same edge count: another engine's Caddy never holds the certificate.
 */
export function withoutForeignCoverage<R extends CoveredRoute>(routes: readonly R[]): R[] {
  const byName = new Map<string, R[]>();
  const refused = new Map<R, string>();
  for (const route of routes) {
    if (route.tls?.mode !== "secret" || !route.tls.certificate) continue;
    const names = route.tls.names ?? namesOf(route.tls.certificate);
    if (!names) {
      // Checked when the route was made; whatever else comes here is not loaded unread.
      refused.set(route, "the certificate is not a PEM certificate");
      continue;
    }
    for (const name of names) {
      const owners = byName.get(name) ?? [];
      owners.push(route);
      byName.set(name, owners);
    }
  }
  for (const route of routes)
    for (const host of route.hosts)
      for (const name of lookupNames(host))
        for (const owner of byName.get(name) ?? [])
          if (owner.group !== route.group && sameEdge(owner, route) && !refused.has(owner))
            // The other group's host is not named: only the certificate's own name is.
            refused.set(
              owner,
              `the certificate's name ${name} covers a host another group routes on the edge: a certificate may cover its own group's hosts only`,
            );
  if (refused.size === 0) return [...routes];
  return routes.map((route) => {
    const error = refused.get(route);
    return error === undefined ? route : { ...route, tls: { mode: "secret", error } };
  });
}

/** A certificate's Caddy names, for a route made without them (read when its pair was checked otherwise). */
function namesOf(pem: string): string[] | undefined {
  try {
    return caddyNames(new X509Certificate(pem));
  } catch {
    return undefined;
  }
}

/** Whether two routes are served by one edge: the same provider's, on the same engine. */
function sameEdge(a: CoveredRoute, b: CoveredRoute): boolean {
  return a.provider === b.provider && a.engine === b.engine;
}
