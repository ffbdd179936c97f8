import { errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { type ConditionInput, setCondition } from "../resources/conditions.js";
import { keyOf, objectKey } from "../resources/kinds.js";
import { parseCpu } from "../resources/quantity.js";
import { replicasOf } from "../resources/replicas.js";
import type { App, AppStatus, AutoscaleStatus } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { type Decision, decide, type Measured, pruneHistory, type Recommendation } from "./hpa.js";
import { quotaRoom } from "./quota-room.js";

/** One replica's CPU in cores, as a stats pass saw it. */
export interface ReplicaCpu {
  readonly uid: string;
  readonly replica: string;
  readonly cpuCores: number | undefined;
}

export interface AutoscalerDeps {
  readonly store: Store;
  /** Queues the app's reconcile, which scales it through the rollout path (the edge drains). */
  readonly enqueue: (key: string) => void;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * After each stats pass: for every Docker app with spec.autoscale, measure, decide as the HPA
 * does, and write the decision to status.autoscale; the app's reconcile then runs at that count.
 * The recommendation history for the windows lives in this process: after a restart the
 * scale-down window starts afresh (a scale-down waits a full window again, never less).
 */
export class Autoscaler {
  private readonly history = new Map<string, Recommendation[]>();
  private readonly now: () => number;

  constructor(private readonly deps: AutoscalerDeps) {
    this.now = deps.now ?? Date.now;
  }

  async pass(
    cpu: readonly ReplicaCpu[],
    requestRate: (group: string, app: string) => number | undefined,
  ): Promise<void> {
    const byUid = new Map<string, ReplicaCpu[]>();
    for (const f of cpu) byUid.set(f.uid, [...(byUid.get(f.uid) ?? []), f]);
    const apps = this.deps.store.view({ kind: "App" }) as App[];
    const live = new Set<string>();
    for (const app of apps) {
      const uid = app.metadata.uid ?? "";
      if (!app.spec.autoscale || app.metadata.deletionTimestamp || !this.onDocker(app)) continue;
      live.add(uid);
      try {
        await this.scale(
          app,
          measure(app, byUid.get(uid) ?? [], requestRate(app.metadata.group ?? "", app.metadata.name)),
        );
      } catch (err) {
        this.deps.log.warn(`autoscale: ${keyOf(app)}: ${errorMessage(err)}`);
      }
    }
    for (const uid of this.history.keys()) if (!live.has(uid)) this.history.delete(uid);
  }

  private onDocker(app: App): boolean {
    const group = this.deps.store.peek(objectKey("Group", "", app.metadata.group ?? ""));
    return group?.kind === "Group" && group.spec.provider === "docker";
  }

  private async scale(app: App, m: Measured): Promise<void> {
    const spec = app.spec.autoscale;
    if (!spec) return;
    const uid = app.metadata.uid ?? "";
    const now = this.now();
    const history = pruneHistory(spec, this.history.get(uid) ?? [], now);
    const groupObjects = this.deps.store.view({ group: app.metadata.group ?? "" });
    const decision = decide(spec, m, history, now, quotaRoom(app, groupObjects));
    this.history.set(uid, [...history, decision.recommendation]);
    const key = keyOf(app);
    const scaled = decision.desiredReplicas !== m.currentReplicas;
    const wasQuota = app.status?.conditions?.find((c) => c.type === "ScalingLimited")?.reason === "QuotaExceeded";
    const figures = describe(app, m);
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
    await this.deps.store.updateStatus<AppStatus>(key, (s) =>
      setCondition({ ...s, autoscale: status }, limitCondition(decision, figures), app.metadata.generation ?? 0),
    );
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

/** The app's figures from a pass: CPU of its wanted replicas only (not those on their way out). */
export function measure(app: App, cpu: readonly ReplicaCpu[], requestsPerSecond: number | undefined): Measured {
  const current = replicasOf(app);
  const limit = app.spec.resources?.cpu !== undefined ? parseCpu(app.spec.resources.cpu) : 1;
  const cores = cpu.filter((f) => Number(f.replica) < current && f.cpuCores !== undefined).map((f) => f.cpuCores ?? 0);
  return {
    currentReplicas: current,
    ...(cores.length > 0 && limit > 0
      ? { cpuUtilization: (cores.reduce((a, b) => a + b, 0) / cores.length / limit) * 100, cpuReplicas: cores.length }
      : {}),
    ...(requestsPerSecond !== undefined ? { requestsPerSecond } : {}),
  };
}

/** "cpu 240% (target 50%), 12.5 req/s (target 5 per replica)": the measured values, for events. */
function describe(app: App, m: Measured): string {
  const spec = app.spec.autoscale;
  const parts: string[] = [];
  if (spec?.targetCPUUtilization !== undefined)
    parts.push(
      `cpu ${m.cpuUtilization === undefined ? "unknown" : `${Math.round(m.cpuUtilization)}%`} of the limit (target ${spec.targetCPUUtilization}%)`,
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
