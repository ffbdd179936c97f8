import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import { performance } from "node:perf_hooks";
import { errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { API_PREFIX } from "../resources/kinds.js";
import type { Store } from "../store/store.js";
import { addListeners, closeListeners, EXTRA_LISTENERS } from "./accept-fanout.js";
import { Accounts, ForbiddenError } from "./accounts.js";
import { AuthApi, type LoginLimits } from "./auth-api.js";
import { ControlApi, type LoopAccess } from "./control-api.js";
import { ApiError, methodNotAllowed, sendError, sendJson, toErrorBody } from "./http.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import { LoginLimiter } from "./login-limiter.js";
import { LogsApi } from "./logs-api.js";
import { ResourcesApi } from "./resources-api.js";
import { RolloutApi } from "./rollout-api.js";
import { RunsApi } from "./runs-api.js";
import { serveStatic } from "./static.js";
import { DEFAULT_TENANT_RULES, type TenantRules } from "./tenant-rules.js";
import type { Principal, TokenService } from "./tokens.js";
import { WatchHub } from "./watch-hub.js";
import { WatchStreams } from "./watch-stream.js";

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError(400, "BadRequest", `malformed path segment ${JSON.stringify(segment)}`);
  }
}

export interface ApiServerOptions {
  readonly store: Store;
  readonly tokens: TokenService;
  readonly log: Logger;
  readonly maxBodyBytes?: number;
  readonly buildRoot?: string;
  readonly limiter?: LoginLimiter;
  /** Watches, objects and memory per tenant; DEFAULT_LIMITS for what is not given. */
  readonly limits?: Partial<ServerLimits>;
  /** What tenants' manifests may ask for (the addresses they may publish on). */
  readonly tenantRules?: TenantRules;
  /** Login attempts per minute (see AuthApi). */
  readonly loginLimits?: Partial<LoginLimits>;
  /** The controllers running with the API, for diff, suspend, resume and reconcile. */
  readonly loop?: LoopAccess;
  /** Request metrics, /metrics for a scraper and a group's own metrics (src/metrics). */
  readonly metrics?: ServerMetrics;
  /** Duplicates of the listening descriptor, so that a turn of the loop accepts more than one connection (accept-fanout.ts). */
  readonly extraListeners?: number;
}

/** What the server asks of metrics: it tells each request, and hands over their paths. */
export interface ServerMetrics {
  requestDone(method: string | undefined, path: string, status: number, seconds: number): void;
  /** GET /metrics, which checks its own token. */
  scrape(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** An authenticated API path below API_PREFIX; false when it is not a metrics path. */
  handle(
    call: { req: IncomingMessage; res: ServerResponse; principal: Principal },
    segments: string[],
  ): Promise<boolean>;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** The whole request must arrive within this; watch streams are answers, not requests, so they are not cut. */
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The HTTP API in front of the store: logins and accounts under /api, resources under
 * /apis/airloft.dev/v1alpha1, the status page at /. Every API call but login needs a bearer token.
 */
export class ApiServer {
  readonly accounts: Accounts;
  private readonly http: Server;
  /** More descriptors of the listening socket (accept-fanout.ts), closed with it. */
  private extraListeners: NetServer[] = [];
  private listening: Promise<string> | undefined;
  readonly hub: WatchHub;
  private readonly auth: AuthApi;
  private readonly resources: ResourcesApi;
  private readonly control: ControlApi;
  private readonly rollouts: RolloutApi;
  readonly watches: WatchStreams;
  readonly logs: LogsApi;
  private readonly runs: RunsApi;

  constructor(private readonly options: ApiServerOptions) {
    this.accounts = new Accounts(options.store);
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.hub = new WatchHub(options.store, limits.watchHistoryEvents, limits.watchHistoryBytes);
    this.watches = new WatchStreams({
      hub: this.hub,
      accounts: this.accounts,
      limits,
      refusal: (principal) => this.accounts.refusal(principal),
    });
    this.auth = new AuthApi({
      accounts: this.accounts,
      tokens: options.tokens,
      limiter: options.limiter ?? new LoginLimiter(),
      ...(options.loginLimits ? { limits: options.loginLimits } : {}),
    });
    this.resources = new ResourcesApi({
      store: options.store,
      hub: this.hub,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      buildRoot: options.buildRoot,
      tenantRules: options.tenantRules ?? DEFAULT_TENANT_RULES,
      watches: this.watches,
      limits,
    });
    this.control = new ControlApi({ store: options.store, manifests: this.resources, loop: options.loop });
    this.rollouts = new RolloutApi(options.store, this.resources.changes);
    this.logs = new LogsApi({
      store: options.store,
      loop: options.loop,
      limits,
      refusal: (principal) => this.accounts.refusal(principal),
    });
    this.runs = new RunsApi({ store: options.store, loop: options.loop, logs: this.logs });
    this.http = createServer(
      { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS },
      (req, res) => void this.dispatch(req, res),
    );
  }

  listen(port: number, host: string): Promise<string> {
    this.listening = this.listenAll(port, host);
    return this.listening;
  }

  private async listenAll(port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, host, () => resolve());
    });
    const address = this.http.address() as AddressInfo;
    this.extraListeners = await addListeners(this.http, this.options.extraListeners ?? EXTRA_LISTENERS, (message) =>
      this.options.log.warn(message),
    );
    return `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  }

  /** Stops taking requests, ends watch streams, and waits for requests in flight (at most 10 s). */
  async close(): Promise<void> {
    await this.listening?.catch(() => undefined); // its extra descriptors, if any, are closed here
    // Each server waits for the connections it accepted: the extra ones took most of them.
    const closed = Promise.all([
      closeListeners(this.extraListeners),
      new Promise<void>((resolve) => this.http.close(() => resolve())),
    ]);
    this.watches.close();
    this.logs.close();
    this.http.closeIdleConnections();
    const grace = setTimeout(() => this.http.closeAllConnections(), SHUTDOWN_GRACE_MS);
    await closed;
    clearTimeout(grace);
    this.hub.close();
    this.accounts.close();
    await this.resources.close();
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://localhost");
    // Paths and status only: never headers (tokens), queries or bodies (manifests carry env values).
    res.once("finish", () => {
      const ms = performance.now() - started;
      this.options.log.info(`${req.method} ${url.pathname} ${res.statusCode} ${Math.round(ms)}ms`);
      this.options.metrics?.requestDone(req.method, url.pathname, res.statusCode, ms / 1000);
    });
    try {
      await this.route(req, res, url);
    } catch (err) {
      sendError(res, err);
      if (toErrorBody(err).status >= 500) this.options.log.error(`${req.method} ${url.pathname}: ${errorMessage(err)}`);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (path === "/healthz") return sendJson(res, 200, { ok: true });
    if (path === "/metrics" && this.options.metrics) return this.options.metrics.scrape(req, res);
    if (path === "/api/tokens") return this.auth.login(req, res);
    if (!path.startsWith("/api/") && !path.startsWith("/apis/")) {
      if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed(req.method);
      if (serveStatic(path, res)) return;
      throw new ApiError(404, "NotFound", `no page at ${path}`);
    }
    const principal = await this.authenticate(req);
    this.resources.noteRequest(principal);
    const segments = (prefix: string): string[] =>
      path
        .slice(prefix.length)
        .split("/")
        .filter((s) => s !== "")
        .map(decodeSegment);
    if (path === "/api/whoami") return this.auth.whoami(res, principal);
    if (path === "/api/accounts" || path.startsWith("/api/accounts/")) {
      await this.auth.accounts(req, res, principal, segments("/api/accounts"));
      // A lock or a new password ends the account's open watch and log streams now, not at the next check.
      this.logs.recheck();
      return this.watches.recheck();
    }
    const call = { req, res, principal, query: url.searchParams };
    if (path.startsWith(`${API_PREFIX}/`)) {
      const below = segments(API_PREFIX);
      if (
        (await this.runs.handle(call, below)) ||
        (await this.logs.handle(call, below)) ||
        (await this.rollouts.handle(call, below)) ||
        (await this.resources.handle(call, below)) ||
        (await this.control.handle(call, below)) ||
        (await this.options.metrics?.handle(call, below))
      )
        return;
    }
    throw new ApiError(404, "NotFound", `no API at ${path}`);
  }

  /** The bearer token's principal, if the token verifies and its account may act now. */
  private async authenticate(req: IncomingMessage): Promise<Principal> {
    const header = req.headers.authorization ?? "";
    const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(header);
    if (!match?.[1])
      throw new ApiError(
        401,
        "Unauthorized",
        header ? "the Authorization header must be: Bearer TOKEN" : "log in first: no bearer token",
        { "www-authenticate": 'Bearer realm="airloft"' },
      );
    const principal = await this.options.tokens.verify(match[1]);
    const refusal = this.accounts.refusal(principal);
    if (refusal) throw new ForbiddenError(refusal);
    return principal;
  }
}
