import { createPrivateKey, X509Certificate } from "node:crypto";
import type { App, CertificateStatus } from "../../../resources/types.js";

/**
 * How the edge serves an app's hosts over HTTPS: a certificate Caddy obtains and renews over
 * ACME, or the pair from one of the group's Secrets. A Secret that cannot serve carries its
 * error (never its content) and no pair, so Caddy neither serves nor requests a certificate.
 */
export type EdgeTls =
  | { readonly mode: "acme" }
  | {
      readonly mode: "secret";
      readonly certificate?: string;
      readonly key?: string;
      readonly facts?: CertificateStatus;
      /** The names Caddy finds the certificate under, read once with the pair (tls-coverage.ts). */
      readonly names?: readonly string[];
      readonly error?: string;
    };

/** Names no public CA certifies, and which need no DNS on one machine. */
export function isLocalHost(host: string): boolean {
  return host === "localhost" || host.endsWith(".localhost");
}

/**
 * The app's TLS on the edge: its spec's choice, else ACME once a host is a real domain.
 * `secretValues` reads a Secret of the app's own group only: no other group's is reachable.
 */
export function edgeTlsOf(
  app: App,
  hosts: readonly string[],
  secretValues: (name: string) => Readonly<Record<string, Buffer>> | undefined,
): EdgeTls | undefined {
  const tls = app.spec.expose?.tls;
  if (tls === "off" || hosts.length === 0) return undefined;
  if (tls === undefined && hosts.every(isLocalHost)) return undefined;
  if (tls === undefined || tls === "auto") return { mode: "acme" };
  return userCertificate(tls.secret, hosts, secretValues(tls.secret));
}

/** A Secret's tls.crt and tls.key, checked: PEM, a matching pair, covering every host. */
export function userCertificate(
  secret: string,
  hosts: readonly string[],
  values: Readonly<Record<string, Buffer>> | undefined,
): EdgeTls {
  const fail = (error: string): EdgeTls => ({ mode: "secret", error });
  if (!values) return fail(`secret ${secret} not found in the app's group`);
  const crt = values["tls.crt"];
  const key = values["tls.key"];
  if (!crt || !key) return fail(`secret ${secret} needs the keys tls.crt and tls.key`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(crt);
  } catch {
    return fail(`tls.crt of secret ${secret} is not a PEM certificate`);
  }
  try {
    // The parser's message is left out: it could quote what it failed to read.
    if (!cert.checkPrivateKey(createPrivateKey(key)))
      return fail(`tls.key of secret ${secret} does not match its tls.crt`);
  } catch {
    return fail(`tls.key of secret ${secret} is not an unencrypted PEM private key`);
  }
  const uncovered = hosts.filter((h) => !cert.checkHost(h));
  if (uncovered.length > 0) return fail(`the certificate in secret ${secret} does not cover ${uncovered.join(", ")}`);
  return {
    mode: "secret",
    certificate: crt.toString("utf8"),
    key: key.toString("utf8"),
    facts: certificateFacts(cert, "secret"),
    names: caddyNames(cert),
  };
}

/** What status shows of a certificate: its names, issuer and expiry; nothing secret. */
export function certificateFacts(cert: X509Certificate, source: CertificateStatus["source"]): CertificateStatus {
  const names = (cert.subjectAltName ?? "")
    .split(/,\s*/)
    .filter((n) => n.startsWith("DNS:"))
    .map((n) => n.slice(4));
  return {
    names,
    issuer: cert.issuer.split("\n").join(", "),
    notAfter: new Date(cert.validTo).toISOString(),
    source,
  };
}

/** The newest leaf certificate for the host among PEM text (Caddy's storage). */
export function newestCertificateFor(pem: string, host: string): X509Certificate | undefined {
  let best: X509Certificate | undefined;
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch {
      continue;
    }
    if (cert.ca || !cert.checkHost(host)) continue;
    if (!best || Date.parse(cert.validTo) > Date.parse(best.validTo)) best = cert;
  }
  return best;
}

const MAX_ERROR = 400;

/**
 * The last ACME failure Caddy logged for the host, unless a success came after it: Caddy logs
 * JSON lines (logger tls.obtain) and keeps retrying on its own.
 */
export function lastAcmeError(logs: string, host: string): string | undefined {
  let error: string | undefined;
  for (const line of logs.split("\n")) {
    const start = line.indexOf("{");
    if (start < 0 || !line.includes(host)) continue;
    let entry: { logger?: string; level?: string; msg?: string; identifier?: string; error?: string };
    try {
      entry = JSON.parse(line.slice(start)) as typeof entry;
    } catch {
      continue;
    }
    if (entry.logger !== "tls.obtain" || entry.identifier !== host) continue;
    if (entry.level === "error" && entry.error) error = entry.error.slice(0, MAX_ERROR);
    else if (entry.msg === "certificate obtained successfully") error = undefined;
  }
  return error;
}

/**
 * The names Caddy 2.6 (certmagic 0.17) indexes a loaded certificate under: its subject's common
 * name as well as every subject alternative name, lower-cased. The common name counts although
 * TLS clients ignore it beside SANs: Caddy still picks the certificate for it.
 */
export function caddyNames(cert: X509Certificate): string[] {
  const names = new Set<string>();
  // Node prints one RDN a line, the values of a multi-valued one joined by " + ".
  for (const line of cert.subject.split("\n"))
    for (const part of line.split(" + ")) if (part.startsWith("CN=")) names.add(part.slice(3).toLowerCase());
  for (const entry of (cert.subjectAltName ?? "").split(", ")) {
    const value = entry.slice(entry.indexOf(":") + 1);
    // Node quotes a value holding a quote, comma, colon or control character: never a host name.
    if (!value.startsWith('"')) names.add(value.toLowerCase());
  }
  return [...names];
}
