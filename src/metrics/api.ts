import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, Gauge, Histogram } from "prom-client";
import { assertCanSeeGroup } from "../server/access.js";
import { ApiError, COMMON_HEADERS, methodNotAllowed, sendJson } from "../server/http.js";
import type { ServerMetrics } from "../server/server.js";
import type { Principal } from "../server/tokens.js";
import type { Metrics } from "./metrics.js";
import { methodLabel, routeTemplate } from "./routes.js";

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface MetricsApiOptions {
  /** The scraper's token; without one, /metrics refuses everyone unless `open`. */
  readonly token?: string;
  /** No token needed: for a listener on a loopback address (`airloft controller`). */
  readonly open?: boolean;
  /** Open watch streams now. */
  readonly watchClients?: () => number;
}

/**
 * Metrics over HTTP: request series by route template (never the raw path), /metrics for a
 * scraper holding the metrics token, and GET .../groups/G/metrics for a group's own series
 * (Prometheus text, or ?format=json for `airloft top`).
 */
export class MetricsApi implements ServerMetrics {
  private readonly requests: Counter<"method" | "route" | "status">;
  private readonly latency: Histogram<"method" | "route">;
  private readonly tokenHash: Buffer | undefined;
  private readonly open: boolean;

  constructor(
    private readonly metrics: Metrics,
    options: MetricsApiOptions = {},
  ) {
    const registers = [metrics.loop];
    this.requests = new Counter({
      name: "airloft_api_requests_total",
      help: "API requests by method, route template and status code.",
      labelNames: ["method", "route", "status"] as const,
      registers,
    });
    this.latency = new Histogram({
      name: "airloft_api_request_duration_seconds",
      help: "API request latency by method and route template (a watch stream counts until it ends).",
      labelNames: ["method", "route"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const { watchClients } = options;
    if (watchClients)
      new Gauge({
        name: "airloft_watch_clients",
        help: "Open watch streams.",
        registers,
        collect() {
          this.set(watchClients());
        },
      });
    this.tokenHash = options.token ? digest(options.token) : undefined;
    this.open = options.open === true && !options.token;
  }

  requestDone(method: string | undefined, path: string, status: number, seconds: number): void {
    const route = routeTemplate(path);
    const m = methodLabel(method);
    this.requests.inc({ method: m, route, status: String(status) });
    this.latency.observe({ method: m, route }, seconds);
  }

  async scrape(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed(req.method);
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    // Hashed first, so that the comparison takes the same time whatever the length given.
    const allowed = this.open || (this.tokenHash && match?.[1] && timingSafeEqual(digest(match[1]), this.tokenHash));
    if (!allowed)
      throw new ApiError(
        401,
        "Unauthorized",
        this.tokenHash
          ? "/metrics needs the metrics token: Authorization: Bearer TOKEN"
          : "/metrics is closed: start the server with --metrics-token-file",
        { "www-authenticate": 'Bearer realm="airloft-metrics"' },
      );
    this.sendText(res, await this.metrics.text());
  }

  async handle(
    call: { req: IncomingMessage; res: ServerResponse; principal: Principal; query?: URLSearchParams },
    segments: string[],
  ): Promise<boolean> {
    const [first, group, last] = segments;
    if (segments.length !== 3 || first !== "groups" || last !== "metrics" || group === undefined) return false;
    if (call.req.method !== "GET") throw methodNotAllowed(call.req.method);
    assertCanSeeGroup(call.principal, group);
    if (call.query?.get("format") === "json") sendJson(call.res, 200, this.metrics.sampler.groupUsage(group));
    else this.sendText(call.res, await this.metrics.groupText(group));
    return true;
  }

  private sendText(res: ServerResponse, text: string): void {
    res.writeHead(200, { ...COMMON_HEADERS, "content-type": this.metrics.contentType });
    res.end(text);
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
