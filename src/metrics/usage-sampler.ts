import { errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { InfraProvider, ReplicaPlacement, ReplicaUsage } from "../providers/types.js";
import type { Group } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { type Clock, systemClock, type Timer } from "../util/clock.js";
import { EdgeTraffic } from "./edge-traffic.js";

/** One replica's figures from the last pass; cpuCores needs two passes of the same replica. */
export interface ReplicaFigures extends ReplicaUsage {
  /** CPU in use, in cores (0.5 is half a core), between the last two passes. */
  readonly cpuCores: number | undefined;
}

/** A group's replicas as a stats pass saw them: what `airloft top` shows, local or through the API. */
export interface GroupUsage {
  /** When the pass ended (ISO time), null before the first. */
  readonly sampledAt: string | null;
  readonly replicas: ReadonlyArray<{
    readonly kind: string;
    readonly name: string;
    readonly replica: string;
    readonly cpuCores: number | null;
    /** null where the replica's figures cannot be read (a Swarm task on another node than the manager). */
    readonly memoryBytes: number | null;
    readonly restarts: number;
    /** Where the provider places replicas on machines (Swarm): the node and the task's state. */
    readonly node?: string;
    readonly state?: string;
  }>;
  /** Each app's request rate at the edge between the last two passes, where it has an edge. */
  readonly apps?: ReadonlyArray<{ readonly name: string; readonly requestsPerSecond: number }>;
}

export interface UsageSamplerOptions {
  readonly store: Store;
  readonly providers: ProviderRegistry;
  readonly log: Logger;
  /** One stats pass this often (15 s by default). */
  readonly intervalMs?: number;
  /**
   * Engine calls at once during a pass (16 by default). A one-shot stats read waits for the
   * engine's next collection tick (once a second), and concurrent reads share a tick: a pass
   * takes about containers / concurrency seconds.
   */
  readonly concurrency?: number;
  readonly clock?: Clock;
  /** Called after each pass that read figures (the autoscaler decides from them). */
  readonly onPass?: () => Promise<void>;
}

/**
 * Reads every running replica's resource use once per interval and keeps the last pass: scrapes,
 * the API and `top` read this cache, so no request ever costs a stats call. Passes never overlap
 * (the next is scheduled when one ends), and what a pass no longer sees is dropped.
 */
export class UsageSampler {
  private figures: readonly ReplicaFigures[] = [];
  private placements: readonly ReplicaPlacement[] = [];
  /** The edge's request counters, read in the same pass. */
  readonly traffic = new EdgeTraffic();
  private timer: Timer | undefined;
  private stopped = false;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  /** Completed passes, and when the last ended (ms since the epoch) and how long it took. */
  passes = 0;
  lastPassAt: number | undefined;
  lastPassMs: number | undefined;

  constructor(private readonly options: UsageSamplerOptions) {
    this.clock = options.clock ?? systemClock;
    this.intervalMs = options.intervalMs ?? 15_000;
  }

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** The last pass's figures. */
  latest(): readonly ReplicaFigures[] {
    return this.figures;
  }

  /** The last pass's figures of one group. */
  groupUsage(group: string): GroupUsage {
    return {
      sampledAt: this.lastPassAt === undefined ? null : new Date(this.lastPassAt).toISOString(),
      replicas: withPlacements(
        this.figures.filter((f) => f.group === group),
        this.placements.filter((p) => p.group === group),
      ),
      apps: this.traffic.latest().flatMap((t) => {
        const rate = t.group === group ? this.traffic.rateOf(t.group, t.app) : undefined;
        return rate === undefined ? [] : [{ name: t.app, requestsPerSecond: rate }];
      }),
    };
  }

  /** One pass now; what start() repeats. */
  async pass(): Promise<void> {
    const started = this.clock.now();
    const groups = this.options.store.view({ kind: "Group" }) as Group[];
    const byProvider = new Map<InfraProvider, Group[]>();
    for (const group of groups) {
      if (group.metadata.deletionTimestamp) continue;
      // A group whose provider cannot load has no figures; its own reconcile says why.
      const provider = await Promise.resolve()
        .then(() => this.options.providers.for(group))
        .catch(() => undefined);
      if (provider?.usage) byProvider.set(provider, [...(byProvider.get(provider) ?? []), group]);
    }
    const concurrency = this.options.concurrency ?? 16;
    const [read, traffic] = await Promise.all([
      Promise.all([...byProvider].map(([provider, list]) => provider.usage?.(list, concurrency))),
      Promise.all([...byProvider].map(([provider, list]) => provider.traffic?.(list).catch(() => []) ?? [])),
    ]);
    this.traffic.update(traffic.flat());
    this.placements = read.flatMap((r) => r?.placements ?? []);
    const previous = new Map(this.figures.map((f) => [replicaKey(f), f]));
    this.figures = read
      .flatMap((r) => r?.figures ?? [])
      .map((usage) => ({ ...usage, cpuCores: cpuCores(previous.get(replicaKey(usage)), usage) }));
    this.passes++;
    this.lastPassAt = this.clock.now();
    this.lastPassMs = this.lastPassAt - started;
    await this.options.onPass?.();
  }

  private async loop(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.pass();
    } catch (err) {
      this.options.log.warn(`metrics: the stats pass failed: ${errorMessage(err)}`);
    }
    if (!this.stopped) this.timer = this.clock.schedule(this.intervalMs, () => void this.loop());
  }
}

function replicaKey(u: Pick<ReplicaUsage, "uid" | "replica">): string {
  return `${u.uid}/${u.replica}`;
}

/**
 * Where the provider places replicas (Swarm), each in its order with its figures where measured
 * (none: null, not zero, so nothing mistakes it for idle); then the measured replicas it does not place.
 */
function withPlacements(figures: readonly ReplicaFigures[], placements: readonly ReplicaPlacement[]) {
  const measured = new Map(figures.map((f) => [replicaKey(f), f]));
  const placed = new Set(placements.map(replicaKey));
  const row = (who: Pick<ReplicaUsage, "kind" | "name" | "replica" | "restarts">, f: ReplicaFigures | undefined) => ({
    kind: who.kind,
    name: who.name,
    replica: who.replica,
    cpuCores: f?.cpuCores ?? null,
    memoryBytes: f ? f.memoryBytes : null,
    restarts: f ? f.restarts : who.restarts,
  });
  return [
    ...placements.map((p) => ({ ...row(p, measured.get(replicaKey(p))), node: p.node, state: p.state })),
    ...figures.filter((f) => !placed.has(replicaKey(f))).map((f) => row(f, f)),
  ];
}

/** Cores between two reads of one replica; none when its counter went back (a new container). */
function cpuCores(before: ReplicaUsage | undefined, now: ReplicaUsage): number | undefined {
  if (!before || now.readAt <= before.readAt || now.cpuSeconds < before.cpuSeconds) return undefined;
  return (now.cpuSeconds - before.cpuSeconds) / ((now.readAt - before.readAt) / 1000);
}
