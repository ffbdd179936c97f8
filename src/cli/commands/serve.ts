import { isIP } from "node:net";
import { dirname, join, resolve } from "node:path";
import { MetricsApi } from "../../metrics/api.js";
import { boundHeapGrowth, favourMemory } from "../../server/heap-growth.js";
import { DEFAULT_LIMITS } from "../../server/limits.js";
import { ApiServer } from "../../server/server.js";
import { audienceOf, loadSigningKey, TokenService } from "../../server/tokens.js";
import { parseDuration } from "../../util/duration.js";
import { writePrivateFile } from "../../util/private-file.js";
import { statePath, UsageError } from "../context.js";
import type { ControlRequest } from "../control.js";
import { readMetricsToken, startMetrics } from "../metrics.js";
import { type ControllerOptions, runHost } from "./controller.js";
import { watchFolder } from "./watch.js";

export interface ServeOptions extends ControllerOptions {
  readonly port?: string;
  readonly host?: string;
  readonly watch?: string;
  readonly interval?: string;
  readonly buildRoot?: string;
  readonly publishAddresses?: string;
  readonly tokenTtl?: string;
  readonly maxBody?: string;
  readonly maxWatchesPerTenant?: string;
  readonly maxLogStreamsPerTenant?: string;
  readonly maxObjectsPerGroup?: string;
  readonly maxObjectSize?: string;
  readonly changesPerSecondPerTenant?: string;
}

/**
 * The API server and the controllers in one process, the only writer of the state file. The
 * signing key is AIRLOFT_JWT_SECRET or a key file made next to the state file. The first start
 * makes an admin account: its password is AIRLOFT_ADMIN_PASSWORD, or a generated one written to a
 * file only the owner can read (never to the log).
 */
export function serveCommand(options: ServeOptions): Promise<number> {
  boundHeapGrowth();
  favourMemory();
  const port = Number(options.port ?? process.env.AIRLOFT_PORT ?? 3600);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be a port number, got ${options.port}`);
  const ttlSeconds = Math.round(parseDuration(options.tokenTtl ?? "1h") / 1000);
  const maxBody = Number(options.maxBody ?? 1024 * 1024);
  // NaN would compare false with every size: an unparsable limit must not mean no limit.
  if (!Number.isInteger(maxBody) || maxBody <= 0)
    throw new UsageError(`--max-body must be a number of bytes, got ${options.maxBody}`);
  if (ttlSeconds <= 0) throw new UsageError(`--token-ttl must be longer than a second, got ${options.tokenTtl}`);
  const maxObjectsPerGroup = positiveInteger(
    "--max-objects-per-group",
    options.maxObjectsPerGroup,
    DEFAULT_LIMITS.maxObjectsPerGroup,
  );
  const limits = {
    maxWatchesPerAccount: positiveInteger(
      "--max-watches-per-tenant",
      options.maxWatchesPerTenant,
      DEFAULT_LIMITS.maxWatchesPerAccount,
    ),
    maxLogStreamsPerAccount: positiveInteger(
      "--max-log-streams-per-tenant",
      options.maxLogStreamsPerTenant,
      DEFAULT_LIMITS.maxLogStreamsPerAccount,
    ),
    maxObjectsPerGroup,
    maxObjectBytes: positiveInteger("--max-object-size", options.maxObjectSize, DEFAULT_LIMITS.maxObjectBytes),
    writeChangesPerSecond: positiveInteger(
      "--changes-per-second-per-tenant",
      options.changesPerSecondPerTenant,
      DEFAULT_LIMITS.writeChangesPerSecond,
    ),
    // A whole group applied at once fits.
    writeChangesBurst: maxObjectsPerGroup,
  };
  const publishAddresses = (options.publishAddresses ?? "127.0.0.1")
    .split(",")
    .map((a) => a.trim())
    .filter((a) => a !== "");
  const badAddress = publishAddresses.find((a) => isIP(a) === 0);
  if (badAddress !== undefined || publishAddresses.length === 0)
    throw new UsageError(`--publish-addresses must list IP addresses, got ${options.publishAddresses}`);
  const metricsToken = readMetricsToken(options.metricsTokenFile);
  return runHost(options, "airloft serve", async (host, store, log) => {
    const stateDir = dirname(statePath(options));
    const tokens = new TokenService(
      loadSigningKey(join(stateDir, "jwt.key")),
      audienceOf(store.instanceId),
      ttlSeconds,
    );
    const loop = { providers: host.loop.providers, control: (req: ControlRequest) => host.control(req) };
    const metrics = startMetrics(host, store, log, options);
    const watchClients = () => server.watches.count;
    const server: ApiServer = new ApiServer({
      store,
      tokens,
      log,
      maxBodyBytes: maxBody,
      limits,
      tenantRules: { publishAddresses },
      loop,
      metrics: new MetricsApi(metrics, { watchClients, ...(metricsToken ? { token: metricsToken } : {}) }),
      ...(options.buildRoot ? { buildRoot: resolve(options.buildRoot) } : {}),
    });
    const first = await server.accounts.bootstrap();
    if (first) {
      const file = join(stateDir, "initial-admin-password");
      writePrivateFile(file, `${first.password}\n`);
      process.stdout.write(
        `created the admin account "${first.name}"; its password is in ${file} (readable by you only): log in, change it, delete the file\n`,
      );
    }
    const url = await server.listen(port, options.host ?? "127.0.0.1");
    process.stdout.write(`serving the AirLoft API and status page at ${url}\n`);
    if (options.watch) await watchFolder(host, log, options.watch, options);
    return async () => {
      await server.close();
      metrics.stop();
    };
  });
}

/** A flag's whole positive number: an unparsable limit must not mean no limit. */
function positiveInteger(flag: string, value: string | undefined, fallback: number): number {
  const n = Number(value ?? fallback);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a whole number above 0, got ${value}`);
  return n;
}
