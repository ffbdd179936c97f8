import { basename, resolve, sep } from "node:path";
import { type FSWatcher, watch } from "chokidar";
import { MANIFEST_FILE as MANIFEST } from "../resources/loader.js";
import { type Clock, systemClock, type Timer } from "../util/clock.js";

/** Editors' swap, backup and temp files, which must never trigger an apply. */
const EDITOR_TEMP = /(^\.|~$|\.swp$|\.swx$|\.tmp$|\.bak$|^#.*#$|^4913$|\.kate-swp$|___jb_(tmp|old)___$)/;

export interface FolderWatcherOptions {
  /** Quiet time after the last event before a sync: a burst of writes becomes one sync. */
  readonly debounceMs?: number;
  /** A sync happens at the latest this long after the first event of a burst. */
  readonly maxWaitMs?: number;
  /** Paths never to react to (AirLoft's own state file, say). */
  readonly ignorePaths?: readonly string[];
  readonly clock?: Clock;
  /** Poll instead of using inotify (network file systems); the benchmark's polling baseline. */
  readonly pollIntervalMs?: number;
}

/** True for what a watched folder ignores: dot-files and dot-folders (.git), editor temp files. */
export function isIgnoredPath(root: string, path: string, ignorePaths: readonly string[] = []): boolean {
  const abs = resolve(path);
  if (ignorePaths.some((p) => abs === p || abs.startsWith(`${p}.`))) return true;
  const rel = abs === root ? "" : abs.slice(root.length + 1);
  return rel.split(sep).some((segment) => segment !== "" && EDITOR_TEMP.test(segment));
}

/**
 * Watches a folder with chokidar and calls `onBurst` once per burst of changes, after the folder
 * has been quiet for `debounceMs`: an editor's atomic save (temp file, rename) or a `git pull`
 * touching many files gives one call, with the final content on disk.
 */
export class FolderWatcher {
  private watcher: FSWatcher | undefined;
  private timer: Timer | undefined;
  private firstEventAt: number | undefined;
  private running: Promise<void> | undefined;
  private pending = false;
  readonly root: string;
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;
  private readonly clock: Clock;
  private readonly ignorePaths: readonly string[];
  private readonly pollIntervalMs: number | undefined;
  /** When the first event of the burst being synced arrived, for latency figures. */
  burstStartedAt: number | undefined;

  constructor(
    root: string,
    private readonly onBurst: (changedPaths: readonly string[]) => Promise<void>,
    options: FolderWatcherOptions = {},
  ) {
    this.root = resolve(root);
    this.debounceMs = options.debounceMs ?? 100;
    this.maxWaitMs = options.maxWaitMs ?? 1000;
    this.clock = options.clock ?? systemClock;
    this.ignorePaths = (options.ignorePaths ?? []).map((p) => resolve(p));
    this.pollIntervalMs = options.pollIntervalMs;
  }

  private changed = new Set<string>();

  /** Resolves once the initial scan is done; events before that are the initial sync's job. */
  start(): Promise<void> {
    return new Promise((resolveReady, reject) => {
      this.watcher = watch(this.root, {
        ignoreInitial: true,
        atomic: true,
        ...(this.pollIntervalMs !== undefined ? { usePolling: true, interval: this.pollIntervalMs } : {}),
        ignored: (path, stats) =>
          isIgnoredPath(this.root, path, this.ignorePaths) ||
          (stats?.isFile() === true && !MANIFEST.test(basename(path))),
      });
      this.watcher.on("all", (_event, path) => this.event(path));
      this.watcher.once("ready", () => resolveReady());
      this.watcher.once("error", reject);
    });
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    await this.watcher?.close();
    await this.running;
  }

  private event(path: string): void {
    this.changed.add(path);
    const now = this.clock.now();
    this.firstEventAt ??= now;
    this.timer?.cancel();
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstEventAt + this.maxWaitMs - now));
    this.timer = this.clock.schedule(wait, () => this.flush());
  }

  private flush(): void {
    this.timer = undefined;
    if (this.running) {
      this.pending = true; // one more sync after the current one: it reads the final content
      return;
    }
    const paths = [...this.changed];
    this.changed.clear();
    this.burstStartedAt = this.firstEventAt;
    this.firstEventAt = undefined;
    this.running = this.onBurst(paths).finally(() => {
      this.running = undefined;
      if (this.pending) {
        this.pending = false;
        this.flush();
      }
    });
  }
}
