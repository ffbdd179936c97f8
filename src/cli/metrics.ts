import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log.js";
import { MetricsApi } from "../metrics/api.js";
import { Metrics } from "../metrics/metrics.js";
import { observeNotifications } from "../notifications/metrics.js";
import { ApiError, sendError } from "../server/http.js";
import type { Store } from "../store/store.js";
import { parseDuration } from "../util/duration.js";
import { UsageError } from "./context.js";
import type { LoopHost } from "./host.js";

export interface MetricsFlags {
  readonly metricsTokenFile?: string;
  readonly statsInterval?: string;
  readonly statsConcurrency?: string;
}

/** A scraper's token is a secret like a password: long enough not to be guessed. */
const MIN_TOKEN_LENGTH = 16;

/** The loop's metrics, with the stats pass started. */
export function startMetrics(host: LoopHost, store: Store, log: Logger, flags: MetricsFlags): Metrics {
  const intervalMs = parseDuration(flags.statsInterval ?? "15s");
  if (!(intervalMs >= 1000)) throw new UsageError(`--stats-interval must be 1s or more, got ${flags.statsInterval}`);
  const concurrency = Number(flags.statsConcurrency ?? 16);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    throw new UsageError(`--stats-concurrency must be a whole number from 1 to 256, got ${flags.statsConcurrency}`);
  const metrics = new Metrics({
    manager: host.loop.manager,
    store,
    providers: host.loop.providers,
    log,
    usageIntervalMs: intervalMs,
    statsConcurrency: concurrency,
  });
  observeNotifications(metrics.loop, host.notifier);
  metrics.start();
  return metrics;
}

/** The token in --metrics-token-file (its first line), never echoed in an error. */
export function readMetricsToken(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let token: string;
  try {
    token = readFileSync(file, "utf8").split("\n")[0]?.trim() ?? "";
  } catch (err) {
    throw new UsageError(
      `--metrics-token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))
    throw new UsageError(
      `--metrics-token-file: the token in ${file} must be at least ${MIN_TOKEN_LENGTH} characters, without spaces`,
    );
  return token;
}

/** "HOST:PORT", or a bare port on 127.0.0.1. */
export function parseMetricsAddress(value: string): { host: string; port: number } {
  const bare = /^\d+$/.test(value);
  const at = value.lastIndexOf(":");
  const host = bare ? "127.0.0.1" : value.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  const portText = bare ? value : value.slice(at + 1);
  const port = Number(portText);
  if ((!bare && at <= 0) || !/^\d+$/.test(portText) || port > 65535)
    throw new UsageError(`--metrics-address must be HOST:PORT or a port, got ${value}`);
  return { host, port };
}

/**
 * /metrics alone on its own address, for `airloft controller`. Without a token it is open, so it
 * may listen on a loopback address only.
 */
export async function listenMetrics(
  metrics: Metrics,
  address: string,
  token: string | undefined,
): Promise<{ url: string; close: () => Promise<void> }> {
  const { host, port } = parseMetricsAddress(address);
  if (!token && !isLoopback(host))
    throw new UsageError(`--metrics-address ${address} is beyond this machine: give --metrics-token-file too`);
  const api = new MetricsApi(metrics, token ? { token } : { open: true });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const answer =
      path === "/metrics"
        ? api.scrape(req, res)
        : Promise.reject(new ApiError(404, "NotFound", "only /metrics is here"));
    answer.catch((err: unknown) => sendError(res, err));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const bound = server.address() as AddressInfo;
  const url = `http://${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}/metrics`;
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
