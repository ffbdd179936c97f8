/**
 * Shares one snapshot per key (an engine, a region) between the reconciles of a pass: concurrent
 * callers wait for the same list calls, and a snapshot serves until it is `maxAgeMs` old or
 * something in this process changed what it describes. A read already running when a change
 * lands is not cached, so no caller acts on a picture older than its own last write.
 */
export class SnapshotCache<T> {
  private readonly entries = new Map<string, { snapshot: Promise<T>; epoch: number; at: number }>();
  private readonly epochs = new Map<string, number>();

  constructor(
    private readonly take: (key: string) => Promise<T>,
    private readonly maxAgeMs = 1000,
  ) {}

  get(key: string): Promise<T> {
    const epoch = this.epochs.get(key) ?? 0;
    const entry = this.entries.get(key);
    if (entry && entry.epoch === epoch && Date.now() - entry.at < this.maxAgeMs) return entry.snapshot;
    const snapshot = this.take(key);
    const fresh = { snapshot, epoch, at: Date.now() };
    this.entries.set(key, fresh);
    snapshot.catch(() => {
      if (this.entries.get(key) === fresh) this.entries.delete(key);
    });
    return snapshot;
  }

  /** Records what this process knows without asking (an empty target group, say). */
  seed(key: string, value: T): void {
    this.entries.set(key, { snapshot: Promise.resolve(value), epoch: this.epochs.get(key) ?? 0, at: Date.now() });
  }

  /** Folds a change this process made into the cached snapshot (or the read in flight) instead of dropping it. */
  patch(key: string, change: (snapshot: T) => T): void {
    const entry = this.entries.get(key);
    if (entry) entry.snapshot = entry.snapshot.then(change);
  }

  /** Called after every change this process makes that cannot be patched in. */
  invalidate(key: string): void {
    this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1);
    this.entries.delete(key);
  }
}
