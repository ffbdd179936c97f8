import { type Agent, type ClientRequest, request } from "node:http";
import { performance } from "node:perf_hooks";

export interface SendOptions {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** The loopback address to send from (127.0.0.x), as another client would. */
  readonly localAddress?: string;
  /** Default: a new connection per request. */
  readonly agent?: Agent;
  readonly timeoutMs?: number;
}

export interface Sent {
  /** 0 when the request failed or timed out. */
  readonly status: number;
  readonly ms: number;
  readonly body: string;
  readonly error?: string;
  /** Whether it went on a connection opened for it (not one kept alive): a slow first byte there may be the accept's wait. */
  readonly newConnection?: boolean;
  /** For a new connection: milliseconds from the call until it was connected. */
  readonly connectMs?: number;
  /** The connection's local port and the wall-clock time of the call, to find it in a server-side trace. */
  readonly port?: number;
  readonly sentAt?: number;
}

/**
 * One HTTP request on node:http (no fetch: a source address and a fresh connection per request
 * must be possible), with its latency from the call to the last byte of the answer, or 0 and
 * the time limit when it took longer. The answer
 * is kept only when `keepBody`; `inFlight` lets a caller cut what is still open.
 */
export function send(
  base: string,
  options: SendOptions,
  keepBody = false,
  inFlight?: Set<ClientRequest>,
): Promise<Sent> {
  const url = new URL(options.path, base);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    let connectMs: number | undefined;
    let port: number | undefined;
    const sentAt = Date.now();
    const done = (status: number, error?: string): void => {
      if (settled) return;
      settled = true;
      inFlight?.delete(req);
      resolve({
        status,
        ms: performance.now() - t0,
        body: Buffer.concat(chunks).toString("utf8"),
        ...(error ? { error } : {}),
        ...(options.agent && port !== undefined ? { newConnection: !req.reusedSocket } : {}),
        ...(connectMs !== undefined ? { connectMs } : {}),
        ...(port !== undefined ? { port, sentAt } : {}),
      });
    };
    const body =
      options.body === undefined ? undefined : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: options.method ?? "GET",
        headers: { ...options.headers, ...(body ? { "content-length": String(body.length) } : {}) },
        agent: options.agent ?? false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        res.on("data", (chunk: Buffer) => {
          if (keepBody) chunks.push(chunk);
        });
        res.on("end", () => done(res.statusCode ?? 0));
        res.on("error", (err) => done(0, err.message));
        res.on("aborted", () => done(0, "aborted"));
      },
    );
    inFlight?.add(req);
    // A deadline from the call, not an idle timeout: a connection the server never accepts (its
    // accept queue full) would otherwise wait for TCP to give up, minutes later.
    const deadline = setTimeout(() => {
      done(0, "timeout");
      req.destroy();
    }, options.timeoutMs ?? 30_000);
    req.once("close", () => clearTimeout(deadline));
    req.once("socket", (socket) => {
      if (!socket.connecting) port = socket.localPort;
      else
        socket.once("connect", () => {
          connectMs = Math.round(performance.now() - t0);
          port = socket.localPort;
        });
    });
    req.on("error", (err) => done(0, err.message));
    req.on("close", () => done(0, "closed before the answer ended"));
    req.end(body);
  });
}
