import { parseDuration } from "../../util/duration.js";
import { createLogger } from "../../log.js";
import { openStore, type GlobalOptions } from "../context.js";
import { startEmbedded } from "../embedded.js";

export interface ControllerOptions extends GlobalOptions {
  readonly resync?: string;
  readonly workers?: string;
}

/** The loop in the foreground until SIGINT or SIGTERM, then a graceful stop. */
export async function controllerCommand(options: ControllerOptions): Promise<number> {
  const log = createLogger({ level: process.env.AIRLOFT_LOG_LEVEL ?? "info" });
  const store = await openStore(options, { write: true, command: "airloft controller" });
  const loop = startEmbedded(store, log, () => undefined, {
    resyncMs: parseDuration(options.resync ?? "30s"),
    workers: Number(options.workers ?? 4),
  });
  log.info(`controller running on ${store.path}; Ctrl-C stops it`);
  // The loop's own timers do not hold the process open (so `apply` can exit); this one does.
  const keepAlive = setInterval(() => undefined, 60_000);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  clearInterval(keepAlive);
  log.info("stopping: finishing in-flight reconciles");
  await loop.stop();
  await store.close();
  return 0;
}
