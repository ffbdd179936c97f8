import type { Server } from "node:net";
import { basename, dirname, resolve } from "node:path";
import type { Progress } from "../controllers/context.js";
import { setSuspended } from "../controllers/suspension.js";
import { errorMessage } from "../errors.js";
import { getSource, saveSource } from "../gitops/sources.js";
import { SourceSync, type SyncResult } from "../gitops/sync.js";
import { FolderWatcher, isIgnoredPath } from "../gitops/watcher.js";
import type { Logger } from "../log.js";
import { Notifier, type NotifierOptions } from "../notifications/notifier.js";
import type { ProviderRegistry } from "../providers/registry.js";
import { recordApplied } from "../releases/revisions.js";
import { parseKey } from "../resources/kinds.js";
import type { Store } from "../store/store.js";
import { type ControlRequest, type ControlResponse, controlDone, controlSocketPath, serveControl } from "./control.js";
import { type EmbeddedLoop, startEmbedded } from "./embedded.js";

interface WatchedSource {
  readonly sync: SourceSync;
  readonly watcher: FolderWatcher;
  resync: NodeJS.Timeout | undefined;
}

/**
 * The long-running process (`controller`, `watch`): the store's only writer, the controllers,
 * any watched folders, and the control socket through which other commands reach it.
 */
export class LoopHost {
  readonly loop: EmbeddedLoop;
  /** Alerts' webhooks, fed by what the store records. */
  readonly notifier: Notifier;
  private readonly sources = new Map<string, WatchedSource>();
  private socket: Server | undefined;
  private readonly debounceMs: number | undefined;
  /** Told of every sync, for the command's output and for benchmarks. */
  onSync: (name: string, result: SyncResult, startedAt: number | undefined) => void = () => undefined;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    options: {
      resyncMs: number;
      workers: number;
      onProgress?: (p: Progress) => void;
      providers?: ProviderRegistry;
      debounceMs?: number;
      notify?: NotifierOptions;
    },
  ) {
    this.loop = startEmbedded(
      store,
      log,
      options.onProgress ?? (() => undefined),
      { resyncMs: options.resyncMs, workers: options.workers },
      options.providers,
    );
    this.debounceMs = options.debounceMs;
    this.notifier = new Notifier(store, log, options.notify);
    this.notifier.start();
  }

  async listen(): Promise<void> {
    this.socket = await serveControl(controlSocketPath(this.store.path), (req) => this.control(req));
  }

  /** Syncs the folder now, then on every burst of changes and every `intervalMs`. */
  async watch(dir: string, options: { name?: string; intervalMs: number }): Promise<SyncResult> {
    const root = resolve(dir);
    const name = options.name ?? basename(root);
    const ignorePaths = [this.store.path, dirname(this.store.path)];
    const sync = new SourceSync(this.store, name, [root], "watch", {
      recursive: true,
      cwd: root,
      isIgnored: (p) => isIgnoredPath(root, p, ignorePaths),
      onApplied: (changes, by) => recordApplied(this.store, changes, by),
    });
    const watched: WatchedSource = {
      sync,
      watcher: new FolderWatcher(
        root,
        async () => {
          await this.runSync(name, watched.watcher.burstStartedAt);
        },
        { ignorePaths, ...(this.debounceMs !== undefined ? { debounceMs: this.debounceMs } : {}) },
      ),
      resync: undefined,
    };
    this.sources.set(name, watched);
    await watched.watcher.start();
    watched.resync = setInterval(() => {
      void this.runSync(name, undefined).then(() => this.loop.manager.enqueueAll());
    }, options.intervalMs);
    const first = await sync.sync();
    this.onSync(name, first, undefined);
    return first;
  }

  async stop(): Promise<void> {
    for (const s of this.sources.values()) {
      clearInterval(s.resync);
      await s.watcher.stop();
    }
    await new Promise<void>((r) => (this.socket ? this.socket.close(() => r()) : r()));
    await this.notifier.stop();
    await this.loop.stop();
  }

  private async runSync(name: string, startedAt: number | undefined): Promise<void> {
    const source = this.sources.get(name);
    if (!source || getSource(this.store, name)?.suspended) return;
    try {
      this.onSync(name, await source.sync.sync(), startedAt);
    } catch (err) {
      this.log.error(`source ${name}: sync failed: ${errorMessage(err)}`);
    }
  }

  /** suspend, resume or reconcile an object or a source: for the control socket and the API. */
  async control(req: ControlRequest): Promise<ControlResponse> {
    if (req.target.startsWith("source/")) {
      const name = req.target.slice("source/".length);
      const record = getSource(this.store, name);
      if (!record) return { ok: false, message: `source ${name} not found` };
      if (req.op === "reconcile") {
        await this.runSync(name, undefined);
        return { ok: true, message: controlDone(req.op, req.target) };
      }
      await saveSource(this.store, { ...record, suspended: req.op === "suspend" });
      if (req.op === "resume") await this.runSync(name, undefined);
      return { ok: true, message: controlDone(req.op, req.target) };
    }
    parseKey(req.target); // throws on a malformed key
    if (!this.store.get(req.target)) return { ok: false, message: `${req.target} not found` };
    if (req.op !== "reconcile") await setSuspended(this.store, req.target, req.op === "suspend");
    if (req.op !== "suspend") this.loop.manager.enqueue(req.target);
    return { ok: true, message: controlDone(req.op, req.target) };
  }
}
