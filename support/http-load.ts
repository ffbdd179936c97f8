import { type RequestOptions, request } from "node:http";
import { performance } from "node:perf_hooks";
import { urlToHttpOptions } from "node:url";

/** One GET through the edge on 127.0.0.1:port with a Host header: *.localhost needs no DNS. */
export function edgeGet(port: number, host: string, path = "/"): Promise<{ status: number; body: string }> {
  return getOnce({ host: "127.0.0.1", port, path, headers: { Host: host }, timeout: 10_000 });
}

/** One GET on a new connection: status and body. */
export function getOnce(target: string | RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = typeof target === "string" ? { ...urlToHttpOptions(new URL(target)), timeout: 3000 } : target;
    const req = request({ ...options, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

export interface LoadResult {
  readonly requests: number;
  readonly failed: number;
  /** Requests sent again once because the connection closed before any answer (counted, never hidden). */
  readonly retried: number;
  /** The first few failures, for the assertion's message. */
  readonly failures: readonly string[];
  readonly bodies: ReadonlyMap<string, number>;
  /** Milliseconds of each request, in the order they finished. */
  readonly latencies: readonly number[];
  /** When (performance.now()) each answer's first word (the version) was first seen. */
  readonly firstSeen: ReadonlyMap<string, number>;
}

/**
 * Requests without pause from `concurrency` clients until `stop` resolves; every answer other
 * than a 200 (a refused connection, a 502) counts as failed. A new connection per request, as
 * many clients would make.
 */
export async function loadUntil(
  port: number | readonly number[],
  host: string,
  stop: Promise<unknown>,
  concurrency = 4,
  path = "/",
): Promise<LoadResult> {
  const ports = typeof port === "number" ? [port] : port;
  let done = false;
  // Ends on a failed `stop` as well; the caller sees that failure where it awaits `stop`.
  const end = () => {
    done = true;
  };
  stop.then(end, end);
  let requests = 0;
  let failed = 0;
  let retried = 0;
  const failures: string[] = [];
  const bodies = new Map<string, number>();
  const latencies: number[] = [];
  const firstSeen = new Map<string, number>();
  const client = async (): Promise<void> => {
    while (!done) {
      const started = performance.now();
      const target = ports[requests++ % ports.length] as number;
      try {
        // A GET whose connection closed before any answer is sent again once, as browsers and
        // RFC 9110 (9.2.2) allow for idempotent requests; a second failure counts.
        const r = await edgeGet(target, host, path).catch((err: unknown) => {
          if (!/socket hang up|ECONNRESET/.test(String(err))) throw err;
          retried++;
          return edgeGet(target, host, path);
        });
        const key = r.body.split(" ")[0] ?? "";
        bodies.set(key, (bodies.get(key) ?? 0) + 1);
        if (!firstSeen.has(key)) firstSeen.set(key, performance.now());
        if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.trim()}`);
      } catch (err) {
        failed++;
        if (failures.length < 5) failures.push(`${Math.round(performance.now())}ms ${String(err)}`);
      }
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { requests, failed, retried, failures, bodies, latencies, firstSeen };
}
