/**
 * The well-behaved tenant of bench/abuse.ts, in a process of its own so that the attacker's
 * work (building megabytes of manifests) never delays its clock: requests at a steady rate,
 * sent on schedule whether or not earlier ones have answered (an open loop: a slow server
 * does not lower the load and hide its own slowness), each one's latency recorded. Logins, if
 * configured, are probed on their own schedule and reported apart (hashing is slow on purpose).
 *
 * Protocol: argv[2] is a SteadyConfig as JSON; prints "ready", starts on a line "go" on stdin,
 * prints "result " and a SteadyResult as JSON when done.
 */
import { Agent } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { type Sent, send } from "./send.js";

/** `{n}` in a path or body is the request's number, `{k}` that number modulo `keys`. */
export interface SteadyRequest {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export interface LoginProbe {
  readonly name: string;
  readonly body: string;
  readonly everyMs: number;
}

export interface SteadyConfig {
  readonly url: string;
  readonly perSecond: number;
  readonly seconds: number;
  readonly keys: number;
  /** Sent in turn. */
  readonly requests: readonly SteadyRequest[];
  readonly logins: readonly LoginProbe[];
  readonly timeoutMs: number;
}

export interface Sample {
  readonly name: string;
  /** Milliseconds after the start. */
  readonly at: number;
  readonly ms: number;
  readonly status: number;
  /** Why there was no answer (status 0): refused, cut, timed out. */
  readonly error?: string;
  readonly newConnection?: boolean;
  readonly connectMs?: number;
  readonly port?: number;
  readonly sentAt?: number;
}

export interface SteadyResult {
  readonly samples: readonly Sample[];
  readonly logins: readonly Sample[];
  /** This process's own event-loop delay, the largest of each second (ms): a late answer may be the client's. */
  readonly ownLagMs: readonly number[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/**
 * An idle connection is dropped this long after its last use: a second before the server's
 * announced keep-alive timeout (Node's default, "Keep-Alive: timeout=5"), as fetch (undici) does.
 * Node's Agent ignores the hint, and a request sent on a connection the server is closing that
 * moment is reset, a client's race that would be counted against the server.
 */
const IDLE_SOCKET_MS = 4000;
const fill = (text: string, n: number, keys: number): string =>
  text.replaceAll("{n}", String(n)).replaceAll("{k}", String(n % keys));

async function run(config: SteadyConfig): Promise<SteadyResult> {
  const agent = new Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });
  const samples: Sample[] = [];
  const logins: Sample[] = [];
  const pending: Array<Promise<void>> = [];
  const t0 = performance.now();
  const end = t0 + config.seconds * 1000;
  const ownLagMs: number[] = [];
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const lagTimer = setInterval(() => {
    ownLagMs.push(Math.round(lag.max / 1e6));
    lag.reset();
  }, 1000);
  const record = (into: Sample[], name: string, at: number, sent: Sent): void => {
    into.push({
      name,
      at: Math.round(at - t0),
      ms: Math.round(sent.ms * 10) / 10,
      status: sent.status,
      ...(sent.error ? { error: sent.error } : {}),
      ...(sent.newConnection ? { newConnection: true } : {}),
      ...(sent.connectMs !== undefined ? { connectMs: sent.connectMs } : {}),
      ...(sent.port !== undefined ? { port: sent.port, sentAt: sent.sentAt } : {}),
    });
  };
  for (const probe of config.logins) {
    pending.push(
      (async () => {
        for (let next = t0 + probe.everyMs / 2; next < end; next += probe.everyMs) {
          await sleep(next - performance.now());
          const at = performance.now();
          record(
            logins,
            probe.name,
            at,
            await send(config.url, {
              method: "POST",
              path: "/api/tokens",
              headers: { "content-type": "application/json" },
              body: probe.body,
              timeoutMs: config.timeoutMs,
            }),
          );
        }
      })(),
    );
  }
  const interval = 1000 / config.perSecond;
  for (let n = 0; ; n++) {
    const due = t0 + n * interval;
    if (due >= end) break;
    await sleep(due - performance.now());
    const template = config.requests[n % config.requests.length];
    if (!template) throw new Error("no requests configured");
    const i = Math.floor(n / config.requests.length);
    const at = performance.now();
    pending.push(
      send(config.url, {
        method: template.method,
        path: fill(template.path, i, config.keys),
        headers: template.headers,
        ...(template.body === undefined ? {} : { body: fill(template.body, i, config.keys) }),
        agent,
        timeoutMs: config.timeoutMs,
      }).then((sent) => record(samples, template.name, at, sent)),
    );
  }
  await Promise.all(pending);
  clearInterval(lagTimer);
  lag.disable();
  agent.destroy();
  return { samples, logins, ownLagMs };
}

const config = JSON.parse(process.argv[2] ?? "") as SteadyConfig;
process.stdout.write("ready\n");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() !== "go") continue;
  const result = await run(config);
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  break;
}
lines.close();
