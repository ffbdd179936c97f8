import type { EventEmitter } from "node:events";
import { createProgress, type Progress } from "../controllers/context.js";
import { Manager, type ManagerOptions } from "../controllers/manager.js";
import type { Logger } from "../log.js";
import { ProviderRegistry } from "../providers/registry.js";
import type { Store } from "../store/store.js";

export interface EmbeddedLoop {
  readonly manager: Manager;
  readonly providers: ProviderRegistry;
  stop(): Promise<void>;
}

/** Starts the controllers inside this process, on the given store (the embedded default). */
export function startEmbedded(store: Store, log: Logger, onProgress: (p: Progress) => void, options: ManagerOptions = {}, providers = new ProviderRegistry({ instanceId: store.instanceId })): EmbeddedLoop {
  const progress = createProgress();
  progress.on("progress", onProgress);
  const manager = new Manager({ store, providers, log, progress }, options);
  manager.start();
  return { manager, providers, stop: () => manager.stop() };
}

export type WaitVerdict = "done" | "timeout" | "interrupted";

/**
 * Resolves once `settled()` holds, checked after every store change and every event of
 * `alsoOn` (a reconcile that changed nothing writes nothing), or when the timeout passes, or on
 * Ctrl-C.
 */
export function waitUntil(store: Store, settled: () => boolean, timeoutMs: number, alsoOn?: { emitter: EventEmitter; events: readonly string[] }): Promise<WaitVerdict> {
  return new Promise((resolve) => {
    const finish = (verdict: WaitVerdict): void => {
      clearTimeout(timer);
      clearInterval(poll);
      store.events.off("change", check);
      for (const event of alsoOn?.events ?? []) alsoOn?.emitter.off(event, check);
      process.off("SIGINT", interrupt);
      process.off("SIGTERM", interrupt);
      resolve(verdict);
    };
    const check = (): void => {
      if (settled()) finish("done");
    };
    const interrupt = (): void => finish("interrupted");
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    const poll = setInterval(check, 1000);
    store.events.on("change", check);
    for (const event of alsoOn?.events ?? []) alsoOn?.emitter.on(event, check);
    process.once("SIGINT", interrupt);
    process.once("SIGTERM", interrupt);
    check();
  });
}
