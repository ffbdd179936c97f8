import { errorMessage } from "../../errors.js";
import { createLogger, type Logger } from "../../log.js";
import { parseAllowList } from "../../notifications/address-policy.js";
import type { Store } from "../../store/store.js";
import { parseDuration } from "../../util/duration.js";
import { threadLoad } from "../../util/thread-load.js";
import { threadShare } from "../../util/thread-share.js";
import { type GlobalOptions, openStore, UsageError } from "../context.js";
import { LoopHost } from "../host.js";
import { listenMetrics, type MetricsFlags, parseMetricsAddress, readMetricsToken, startMetrics } from "../metrics.js";

export interface ControllerOptions extends GlobalOptions, MetricsFlags {
  readonly resync?: string;
  readonly workers?: string;
  /** `controller` only: serve /metrics on HOST:PORT (or a port on 127.0.0.1). */
  readonly metricsAddress?: string;
  /** "text" (the default) or "json": one JSON object a line, for a log system. */
  readonly logFormat?: string;
  /** CIDRs webhooks may reach although private or loopback (or $AIRLOFT_NOTIFY_ALLOW_CIDR). */
  readonly notifyAllowCidr?: string;
}

/**
 * Runs a LoopHost until SIGINT or SIGTERM, then stops gracefully: in-flight reconciles stop at
 * their provider's next step and the store is flushed. `setup` adds what the command needs (watched folders, the API) and
 * may return a teardown, run first on the way out.
 */
export async function runHost(
  options: ControllerOptions,
  command: string,
  setup: (host: LoopHost, store: Store, log: Logger) => Promise<void | (() => Promise<void>)>,
): Promise<number> {
  const format = options.logFormat ?? "text";
  if (format !== "text" && format !== "json") throw new UsageError(`--log-format is text or json, not ${format}`);
  const log = createLogger({ level: process.env.AIRLOFT_LOG_LEVEL ?? "info", json: format === "json" });
  const allowCidrs = notifyAllowList(options.notifyAllowCidr ?? process.env.AIRLOFT_NOTIFY_ALLOW_CIDR);
  // A long-running writer: its compactions give way while requests and reconciles keep the thread busy.
  const store = await openStore(options, { write: true, command, background: threadLoad });
  // Its sliced work gives way to accepting and reading requests (see ThreadShare).
  threadShare.enable();
  const host = new LoopHost(store, log, {
    resyncMs: parseDuration(options.resync ?? "30s"),
    workers: Number(options.workers ?? 4),
    notify: { allowCidrs },
  });
  let teardown: (() => Promise<void>) | undefined;
  try {
    await host.listen();
    teardown = (await setup(host, store, log)) ?? undefined;
    // The loop's own timers do not hold the process open (so `apply` can exit); this one does.
    const keepAlive = setInterval(() => undefined, 60_000);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    clearInterval(keepAlive);
    log.info("stopping: cancelling in-flight reconciles at their next step");
  } finally {
    if (teardown) await teardown();
    await host.stop();
    await store.close();
  }
  return 0;
}

/** The --notify-allow-cidr list, checked before anything starts. */
function notifyAllowList(value: string | undefined): string[] {
  try {
    return parseAllowList(value);
  } catch (err) {
    throw new UsageError(`--notify-allow-cidr: ${errorMessage(err)}`);
  }
}

/** The loop in the foreground until interrupted. */
export function controllerCommand(options: ControllerOptions): Promise<number> {
  const { metricsAddress } = options;
  if (metricsAddress !== undefined) parseMetricsAddress(metricsAddress);
  const token = readMetricsToken(options.metricsTokenFile);
  return runHost(options, "airloft controller", async (host, store, log) => {
    log.info(`controller running on ${store.path}; Ctrl-C stops it`);
    if (metricsAddress === undefined) return;
    const metrics = startMetrics(host, store, log, options);
    const listener = await listenMetrics(metrics, metricsAddress, token).catch((err: unknown) => {
      metrics.stop();
      throw err;
    });
    process.stdout.write(`serving metrics at ${listener.url}\n`);
    return async () => {
      await listener.close();
      metrics.stop();
    };
  });
}
