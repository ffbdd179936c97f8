import { createProgress, type Progress } from "../controllers/context.js";
import { Manager, type ManagerOptions } from "../controllers/manager.js";
import { runStarts } from "../jobs/run-starts.js";
import { engineRuns } from "../jobs/running-runs.js";
import { JobScheduler } from "../jobs/scheduler.js";
import type { Logger } from "../log.js";
import { ALERT_WATCHES, AlertController } from "../notifications/alert-controller.js";
import { ProviderRegistry } from "../providers/registry.js";
import type { Store } from "../store/store.js";

export interface EmbeddedLoop {
  readonly manager: Manager;
  readonly providers: ProviderRegistry;
  stop(): Promise<void>;
}

/** Starts the controllers inside this process, on the given store (the embedded default). */
export function startEmbedded(
  store: Store,
  log: Logger,
  onProgress: (p: Progress) => void,
  options: ManagerOptions = {},
  providers = new ProviderRegistry({ instanceId: store.instanceId }),
): EmbeddedLoop {
  const progress = createProgress();
  progress.on("progress", onProgress);
  const ctx = { store, providers, log, progress, runs: engineRuns(providers) };
  // The loop as the CLI runs it: the kinds' controllers, Alerts, and apps' scheduled jobs.
  const manager = new Manager(ctx, {
    extra: [{ controller: new AlertController(ctx), watches: ALERT_WATCHES }],
    background: [new JobScheduler(ctx, options.clock ? { clock: options.clock } : {})],
    ...options,
  });
  // A one-off run started through this registry (the API, the CLI) is counted by its group's quota at once.
  const recount = (group: string) => {
    for (const key of store.keysOf(group, "Quota")) manager.enqueue(key);
  };
  runStarts(providers).on("started", recount);
  manager.start();
  const stop = async () => {
    runStarts(providers).off("started", recount);
    await manager.stop();
  };
  return { manager, providers, stop };
}
