import type Docker from "dockerode";
import type { AppOutcome } from "../../types.js";
import { recentLogs, storedCertificates } from "./admin.js";
import type { EdgeRoute } from "./routes.js";
import { certificateFacts, lastAcmeError, newestCertificateFor } from "./tls.js";

export type TlsOutcome = NonNullable<AppOutcome["tls"]>;

/**
 * The certificate the edge serves for a route, read from Caddy's storage inside the edge
 * container (through the engine, so it works wherever the engine is), else why there is none:
 * the last ACME error Caddy logged for the host, or pending. A Secret's pair was checked when
 * the route was made.
 */
export async function tlsOutcome(
  docker: Docker,
  edgeId: string | undefined,
  route: EdgeRoute,
  directory: string,
): Promise<TlsOutcome | undefined> {
  const tls = route.tls;
  if (!tls) return undefined;
  if (tls.mode === "secret")
    return tls.facts
      ? { certificate: tls.facts }
      : { problem: { reason: "CertificateFailed", message: tls.error ?? "unusable certificate" } };
  const pending = (host: string): TlsOutcome => ({
    problem: { reason: "CertificatePending", message: `waiting for a certificate for ${host} from ${directory}` },
  });
  let facts: TlsOutcome["certificate"];
  for (const host of route.hosts) {
    if (!edgeId) return pending(host);
    const cert = newestCertificateFor(await storedCertificates(docker, edgeId, host), host);
    if (!cert) {
      const error = lastAcmeError(await recentLogs(docker, edgeId), host);
      return error ? { problem: { reason: "CertificateFailed", message: `${host}: ${error}` } } : pending(host);
    }
    facts ??= certificateFacts(cert, "acme");
  }
  return facts ? { certificate: facts } : undefined;
}
