import { errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import type { InfraProvider, ScalingFigures } from "../providers/types.js";
import { type ConditionInput, setCondition } from "../resources/conditions.js";
import { keyOf, objectKey } from "../resources/kinds.js";
import type { App, AppStatus, AutoscaleStatus, Group } from "../resources/types.js";
import { byCodeUnit } from "../store/kind-index.js";
import type { Store } from "../store/store.js";
import { type Decision, decide, type Measured, pruneHistory, type Recommendation } from "./hpa.js";
import { measure, measureMonitored, type ReplicaCpu } from "./measure.js";
import { quotaRoom } from "./quota-room.js";

export type { ReplicaCpu } from "./measure.js";
export { measure } from "./measure.js";

/** After a failed read of a provider's monitoring, the next waits this long, doubling to MAX. */
const RETRY_FIRST_MS = 15_000;
const RETRY_MAX_MS = 5 * 60_000;

export interface AutoscalerDeps {
  readonly store: Store;
  /** Queues the app's reconcile, which scales it through the rollout path (the edge drains). */
  readonly enqueue: (key: string) => void;
  readonly log: Logger;
  /** The provider of a group whose figures come from its own monitoring (AWS). */
  readonly providers?: { for(group: Group): Promise<InfraProvider> };
  readonly now?: () => number;
  /**
   * How long one group's monitoring read may take before it counts as failed (20 s). The AWS
   * clients bound each attempt, but a read is several calls, each retried after a timeout, and
   * the stats loop waits for this pass: so the read as a whole is bounded here.
   */
  readonly monitorTimeoutMs?: number;
}

const MONITOR_TIMEOUT_MS = 20_000;

/**
 * After each stats pass: for every autoscaled app, measure (Docker: the engine's stats and the
 * edge; AWS: CloudWatch, one read per group), decide as the HPA does, and write the decision to
 * status.autoscale; the app's reconcile then runs at that count. The recommendations the windows
 * look back on are kept in the state file, so a restart inside the window does not scale down early.
 */
export class Autoscaler {
  private readonly now: () => number;
  /** Groups whose monitoring failed: how often in a row, and when to read again. */
  private readonly backoff = new Map<string, { failures: number; until: number }>();

  constructor(private readonly deps: AutoscalerDeps) {
    this.now = deps.now ?? Date.now;
  }

  private get history() {
    return this.deps.store.stateMap<Recommendation[]>("autoscale");
  }

  async pass(
    cpu: readonly ReplicaCpu[],
    requestRate: (group: string, app: string) => number | undefined,
  ): Promise<void> {
    const byUid = new Map<string, ReplicaCpu[]>();
    for (const f of cpu) byUid.set(f.uid, [...(byUid.get(f.uid) ?? []), f]);
    const byGroup = new Map<string, App[]>();
    // The autoscaled apps only, from an index kept as specs change, in key order: viewing all
    // 20,000 apps each pass took 42 to 113 ms of the server's thread under the abuse benchmark.
    const { store } = this.deps;
    const autoscaled = store.selection("App.autoscale", "App", (a) => !!(a as App).spec.autoscale);
    for (const key of [...autoscaled].sort(byCodeUnit)) {
      const app = store.peek(key) as App | undefined;
      if (!app || app.metadata.deletionTimestamp) continue;
      const group = app.metadata.group ?? "";
      byGroup.set(group, [...(byGroup.get(group) ?? []), app]);
    }
    const live = new Set<string>();
    // Every AWS group's read at once, bounded in time, and Docker groups first: a slow region
    // delays no other group's scaling, and the pass is no longer than one read.
    const groups = [...byGroup]
      .map(([name, apps]) => ({ group: this.deps.store.peek(objectKey("Group", "", name)), name, apps }))
      .filter((g): g is { group: Group; name: string; apps: App[] } => g.group?.kind === "Group")
      .sort((a, b) => Number(a.group.spec.provider === "aws") - Number(b.group.spec.provider === "aws"));
    const reads = new Map(
      groups.filter((g) => g.group.spec.provider === "aws").map((g) => [g.name, this.monitored(g.group, g.apps)]),
    );
    for (const { group, name, apps } of groups) {
      const provider = group.spec.provider;
      if (provider !== "docker" && provider !== "aws") continue;
      for (const app of apps) live.add(app.metadata.uid ?? "");
      const monitored = await reads.get(name);
      if (monitored instanceof Error) continue;
      for (const app of apps) {
        const uid = app.metadata.uid ?? "";
        const m = monitored
          ? measureMonitored(app, monitored.get(uid))
          : measure(app, byUid.get(uid) ?? [], requestRate(name, app.metadata.name));
        // What CPU percent is of: the app's limit on Docker, the instance's vCPUs on AWS.
        const of = monitored ? "of the instance" : "of the limit";
        await this.scale(app, m, of).catch((err: unknown) =>
          this.deps.log.warn(`autoscale: ${keyOf(app)}: ${errorMessage(err)}`),
        );
      }
    }
    for (const uid of this.history.keys()) if (!live.has(uid)) this.remember(uid, undefined);
    for (const name of this.backoff.keys()) if (!byGroup.has(name)) this.backoff.delete(name);
  }

  /**
   * A group's figures from its provider's monitoring. A failed read scales nothing (what runs
   * stays) and says why in each app's ScalingActive condition; reads are tried again with backoff.
   */
  private async monitored(group: Group, apps: readonly App[]): Promise<ReadonlyMap<string, ScalingFigures> | Error> {
    const name = group.metadata.name;
    const failed = this.backoff.get(name);
    if (failed && this.now() < failed.until) return new Error("backing off");
    try {
      const provider = await this.deps.providers?.for(group);
      if (!provider?.scalingFigures) throw new Error(`provider ${group.spec.provider} has no monitoring to read`);
      const timeoutMs = this.deps.monitorTimeoutMs ?? MONITOR_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      });
      const figures = await Promise.race([provider.scalingFigures(group, apps), late]).finally(() =>
        clearTimeout(timer),
      );
      this.backoff.delete(name);
      return figures;
    } catch (err) {
      const failures = (failed?.failures ?? 0) + 1;
      const waitMs = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (failures - 1));
      this.backoff.set(name, { failures, until: this.now() + waitMs });
      const message = `could not read the figures: ${errorMessage(err)}; trying again in ${Math.round(waitMs / 1000)} s`;
      this.deps.log.warn(`autoscale: group ${group.metadata.name}: ${message}`);
      for (const app of apps)
        await this.deps.store
          .updateStatus<AppStatus>(keyOf(app), (s) =>
            setCondition(
              s,
              { type: "ScalingActive", status: "False", reason: "FailedGetMetrics", message },
              app.metadata.generation ?? 0,
            ),
          )
          .catch(() => undefined);
      return err instanceof Error ? err : new Error(message);
    }
  }

  /** Keeps an app's history in the state file; written with the next write, as status is. */
  private remember(uid: string, history: Recommendation[] | undefined): void {
    const written = history ? this.history.set(uid, history) : this.history.delete(uid);
    written.catch((err: unknown) => this.deps.log.warn(`autoscale: history not written: ${errorMessage(err)}`));
  }

  private async scale(app: App, m: Measured, cpuOf: string): Promise<void> {
    const spec = app.spec.autoscale;
    if (!spec) return;
    const uid = app.metadata.uid ?? "";
    const now = this.now();
    const history = pruneHistory(spec, this.history.get(uid) ?? [], now);
    const groupObjects = this.deps.store.view({ group: app.metadata.group ?? "" });
    const decision = decide(spec, m, history, now, quotaRoom(app, groupObjects));
    this.remember(uid, pruneHistory(spec, [...history, decision.recommendation], now));
    const key = keyOf(app);
    const scaled = decision.desiredReplicas !== m.currentReplicas;
    const wasQuota = app.status?.conditions?.find((c) => c.type === "ScalingLimited")?.reason === "QuotaExceeded";
    const figures = describe(app, m, cpuOf);
    const status: AutoscaleStatus = {
      currentReplicas: m.currentReplicas,
      desiredReplicas: decision.desiredReplicas,
      ...(m.cpuUtilization !== undefined ? { currentCPUUtilization: Math.round(m.cpuUtilization) } : {}),
      ...(m.requestsPerSecond !== undefined
        ? { currentRequestsPerSecond: Math.round(m.requestsPerSecond * 100) / 100 }
        : {}),
      ...(scaled
        ? { lastScaleTime: new Date(now).toISOString() }
        : app.status?.autoscale?.lastScaleTime
          ? { lastScaleTime: app.status.autoscale.lastScaleTime }
          : {}),
    };
    const generation = app.metadata.generation ?? 0;
    await this.deps.store.updateStatus<AppStatus>(key, (s) => {
      const limited = setCondition({ ...s, autoscale: status }, limitCondition(decision, figures), generation);
      // Shown once a read failed; back to True when figures come again.
      return s.conditions?.some((c) => c.type === "ScalingActive" && c.status === "False")
        ? setCondition(
            limited,
            { type: "ScalingActive", status: "True", reason: "ValidMetricFound", message: figures },
            generation,
          )
        : limited;
    });
    if (scaled)
      await this.deps.store.recordEvent(key, {
        type: "Normal",
        reason: "Scaled",
        message: `scaled from ${m.currentReplicas} to ${decision.desiredReplicas} replicas: ${figures}${decision.limitedBy ? ` (${decision.limitedBy})` : ""}`,
      });
    if (decision.limitedBy === "QuotaExceeded" && !wasQuota)
      await this.deps.store.recordEvent(key, {
        type: "Warning",
        reason: "QuotaExceeded",
        message: `the group's quota holds the app at ${decision.desiredReplicas} replicas (recommended ${decision.recommendation.replicas}): ${figures}`,
      });
    if (scaled) this.deps.enqueue(key);
  }
}

/** "cpu 240% (target 50%), 12.5 req/s (target 5 per replica)": the measured values, for events. */
function describe(app: App, m: Measured, cpuOf: string): string {
  const spec = app.spec.autoscale;
  const parts: string[] = [];
  if (spec?.targetCPUUtilization !== undefined)
    parts.push(
      `cpu ${m.cpuUtilization === undefined ? "unknown" : `${Math.round(m.cpuUtilization)}%`} ${cpuOf} (target ${spec.targetCPUUtilization}%)`,
    );
  if (spec?.targetRequestsPerSecond !== undefined)
    parts.push(
      `${m.requestsPerSecond === undefined ? "unknown" : Math.round(m.requestsPerSecond * 100) / 100} req/s (target ${spec.targetRequestsPerSecond} per replica)`,
    );
  return parts.join(", ");
}

function limitCondition(decision: Decision, figures: string): ConditionInput {
  const { limitedBy, desiredReplicas } = decision;
  if (!limitedBy)
    return {
      type: "ScalingLimited" as const,
      status: "False" as const,
      reason: "DesiredWithinRange",
      message: `${desiredReplicas} replicas: ${figures}`,
    };
  const why =
    limitedBy === "QuotaExceeded"
      ? `the group's quota leaves room for ${desiredReplicas} replicas`
      : `the recommendation is beyond ${limitedBy === "TooManyReplicas" ? "max" : "min"}`;
  return {
    type: "ScalingLimited",
    status: "True" as const,
    reason: limitedBy,
    message: `${why} (recommended ${decision.recommendation.replicas}): ${figures}`,
  };
}
