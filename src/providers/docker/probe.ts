import { request } from "node:http";
import { oneLine } from "../../util/safe-log-lines.js";
import type { ObservedContainer } from "./observe.js";

/** One check's answer: `reason` says why it failed, in the words a condition message shows. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly reason?: string;
}

export interface HttpProbeTarget {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly timeoutMs: number;
  /** The replica as people name it ("web-1"), for the message. */
  readonly replica: string;
}

/** Node's codes for the failures people recognise; anything else keeps Node's own words. */
const NETWORK_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  EHOSTUNREACH: "host unreachable",
};

/** An error as a short reason: a parse error is the app's fault, a network error the connection's. */
export function probeErrorReason(err: NodeJS.ErrnoException): string {
  const code = err.code ?? "";
  if (code.startsWith("HPE_")) return `invalid HTTP response: ${oneLine(err.message, 80)}`;
  return NETWORK_ERRORS[code] ?? oneLine(err.message, 80);
}

/** One HTTP GET with a timeout; any 2xx or 3xx answer is healthy. */
export function httpProbe(target: HttpProbeTarget): Promise<ProbeResult> {
  const what = `GET ${oneLine(target.path, 64)} on ${target.replica}`;
  return new Promise((resolve) => {
    let timedOut = false;
    const req = request(
      {
        host: target.host,
        port: target.port,
        path: target.path,
        method: "GET",
        timeout: target.timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 400 ? { ok: true } : { ok: false, reason: `${what}: ${status}` });
      },
    );
    req.on("timeout", () => {
      timedOut = true;
      req.destroy();
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      const reason = timedOut ? `timeout after ${formatSeconds(target.timeoutMs)}` : probeErrorReason(err);
      resolve({ ok: false, reason: `${what}: ${reason}` });
    });
    req.end();
  });
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))}s`;
}

/** The host:port where a replica's container port is published, if it is. */
export function publishedEndpoint(
  c: ObservedContainer,
  port: number | undefined,
): { host: string; port: number } | undefined {
  if (!port) return undefined;
  const binding = c.ports.find((p) => p.privatePort === port && p.publicPort);
  if (!binding?.publicPort) return undefined;
  const host = !binding.ip || binding.ip === "0.0.0.0" || binding.ip === "::" ? "127.0.0.1" : binding.ip;
  return { host, port: binding.publicPort };
}

/** Probes every running container of the app through its published port, in parallel. */
export async function probeContainers(
  containers: readonly ObservedContainer[],
  check: { readonly path: string; readonly port: number; readonly timeoutMs: number },
  replicaName: (c: ObservedContainer) => string,
): Promise<Map<string, ProbeResult>> {
  const results = await Promise.all(
    containers.map(async (c): Promise<readonly [string, ProbeResult]> => {
      if (c.state !== "running") return [c.id, { ok: false, reason: `${replicaName(c)} is ${c.state}` }];
      const endpoint = publishedEndpoint(c, check.port);
      if (!endpoint) return [c.id, { ok: false, reason: `${replicaName(c)}: port ${check.port} is not published` }];
      return [
        c.id,
        await httpProbe({ ...endpoint, path: check.path, timeoutMs: check.timeoutMs, replica: replicaName(c) }),
      ];
    }),
  );
  return new Map(results);
}
