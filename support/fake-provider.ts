import type {
  AppOutcome,
  AppReconcileOptions,
  InfraProvider,
  LiveReplicas,
  LogOptions,
  ReplicaUsage,
  ServiceOutcome,
  UsageReading,
} from "../src/providers/types.js";
import type { App, Group, GroupStatus, Service } from "../src/resources/types.js";

/**
 * A fake of the project's own InfraProvider interface: apps "run" in a map, and a test can make
 * the next calls fail. For controller and manager tests and the store and watch benchmarks; the real
 * providers are tested end to end.
 */
export class FakeProvider implements InfraProvider {
  readonly name = "docker" as const;
  readonly running = new Map<string, number>();
  readonly calls: string[] = [];
  /** The binding variables each app was last reconciled with. */
  readonly bindings = new Map<string, Record<string, string>>();
  /** The registry user each app was last reconciled with (its pull credentials). */
  readonly pullUsers = new Map<string, string>();
  readonly unreadyServices = new Set<string>();
  failWith: Error | undefined;
  /** Which calls fail with failWith (all by default), e.g. (c) => c.startsWith("app"). */
  failWhen: (call: string) => boolean = () => true;

  /** What usage() reports, as a stats pass would read it (metrics tests), and how often it was asked. */
  usageFigures: ReplicaUsage[] = [];
  usagePasses = 0;

  address(): string {
    return "fake://engine";
  }

  async usage(groups: readonly Group[]): Promise<UsageReading> {
    this.usagePasses++;
    const names = new Set(groups.map((g) => g.metadata.name));
    return { figures: this.usageFigures.filter((u) => names.has(u.group)) };
  }

  async reconcileGroup(group: Group): Promise<Partial<GroupStatus>> {
    this.call(`group ${group.metadata.name}`);
    return { provider: "docker", network: { name: `net-${group.metadata.name}`, id: "n1" } };
  }

  async finalizeGroup(group: Group): Promise<boolean> {
    this.call(`finalize group ${group.metadata.name}`);
    return true;
  }

  /** Each app reconcile waits this long, as a real provider's calls would (benchmarks). */
  latencyMs = 0;

  async reconcileApp(app: App, _group: Group, options: AppReconcileOptions = {}): Promise<AppOutcome> {
    this.call(`app ${app.metadata.name}`);
    // A real call given the signal (an AWS SDK send with abortSignal) ends when it aborts.
    if (this.latencyMs > 0) await abortableSleep(this.latencyMs, options.signal);
    // As the real providers' converge loop does between steps.
    options.signal?.throwIfAborted();
    this.bindings.set(app.metadata.name, { ...(options.bindings ?? {}) });
    if (options.secrets?.pull) this.pullUsers.set(app.metadata.name, options.secrets.pull.username);
    const want = Math.min(app.spec.replicas ?? 1, options.scaleUpLimit ?? Infinity);
    const have = this.running.get(app.metadata.name) ?? 0;
    const operations = Array.from(
      { length: Math.max(0, want - have) },
      (_, i) => `app:${app.metadata.group}/${app.metadata.name}:${have + i} create (missing)`,
    );
    for (const op of operations) options.onOperation?.(op);
    this.running.set(app.metadata.name, want);
    return {
      replicas: Array.from({ length: want }, (_, i) => ({
        replica: i,
        containerId: `c${i}`,
        name: `c${i}`,
        state: "running",
        ready: true,
        configHash: "h",
      })),
      readyReplicas: want,
      updatedReplicas: want,
      converged: true,
      operations,
      image: app.spec.image ?? "",
    };
  }

  async reconcileService(service: Service): Promise<ServiceOutcome> {
    this.call(`service ${service.metadata.name}`);
    const ready = !this.unreadyServices.has(service.metadata.name);
    return {
      replicas: [{ replica: 0, containerId: "s0", name: "s0", state: "running", ready, configHash: "h" }],
      readyReplicas: ready ? 1 : 0,
      updatedReplicas: 1,
      converged: ready,
      operations: [],
      image: "redis:7",
      volume: `vol-${service.metadata.name}`,
    };
  }

  async finalizeService(service: Service): Promise<boolean> {
    this.call(`finalize service ${service.metadata.name}`);
    return true;
  }

  async planGroup(): Promise<readonly string[]> {
    return [];
  }

  async planApp(): Promise<readonly string[]> {
    return [];
  }

  async planService(): Promise<readonly string[]> {
    return [];
  }

  async liveReplicas(obj: App | Service): Promise<LiveReplicas> {
    return {
      title: "Replicas (fake)",
      columns: ["REPLICA"],
      rows: Array.from({ length: this.running.get(obj.metadata.name) ?? 0 }, (_, i) => [String(i)]),
    };
  }

  async logs(_obj: App | Service, _group: Group, _options: LogOptions): Promise<void> {}

  async finalizeApp(app: App): Promise<boolean> {
    this.call(`finalize app ${app.metadata.name}`);
    this.running.delete(app.metadata.name);
    return true;
  }

  async collectGarbage(): Promise<readonly string[]> {
    return [];
  }

  private call(what: string): void {
    this.calls.push(what);
    if (this.failWith && this.failWhen(what)) throw this.failWith;
  }
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
