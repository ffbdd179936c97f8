import type { ScalingFigures } from "../providers/types.js";
import { parseCpu } from "../resources/quantity.js";
import { replicasOf } from "../resources/replicas.js";
import type { App, ReplicaStatus } from "../resources/types.js";
import type { Measured } from "./hpa.js";

/** One replica's CPU in cores, as a stats pass saw it. */
export interface ReplicaCpu {
  readonly uid: string;
  readonly replica: string;
  readonly cpuCores: number | undefined;
}

/**
 * An app's figures from one pass, replica by replica of those it runs at (not those on their way
 * out): a replica not ready yet (or not there) is counted apart, as is a ready one without a
 * figure, so that the HPA's rule for them applies (hpa.ts, cpuProposal).
 * `utilization` gives a replica's CPU in percent of what one replica may use, if known.
 */
export function measureReplicas(
  app: App,
  utilization: (replica: number, instance: ReplicaStatus | undefined) => number | undefined,
  requestsPerSecond: number | undefined,
): Measured {
  const current = replicasOf(app);
  let sum = 0;
  let counted = 0;
  let missing = 0;
  let unready = 0;
  for (let replica = 0; replica < current; replica++) {
    const instances = (app.status?.instances ?? []).filter((i) => i.replica === replica);
    const instance = instances.find((i) => i.ready) ?? instances[0];
    const figure = utilization(replica, instance);
    if (!instance?.ready) unready++;
    else if (figure === undefined) missing++;
    else {
      sum += figure;
      counted++;
    }
  }
  return {
    currentReplicas: current,
    ...(counted > 0 ? { cpuUtilization: sum / counted, cpuReplicas: counted } : {}),
    ...(missing > 0 ? { cpuMissing: missing } : {}),
    ...(unready > 0 ? { cpuUnready: unready } : {}),
    ...(requestsPerSecond !== undefined ? { requestsPerSecond } : {}),
  };
}

/** A Docker app's figures: the engine's stats, in percent of the app's CPU limit (one core without one). */
export function measure(app: App, cpu: readonly ReplicaCpu[], requestsPerSecond: number | undefined): Measured {
  const limit = app.spec.resources?.cpu !== undefined ? parseCpu(app.spec.resources.cpu) : 1;
  const cores = new Map(cpu.map((f) => [Number(f.replica), f.cpuCores]));
  return measureReplicas(
    app,
    (replica) => {
      const used = cores.get(replica);
      return used === undefined || limit <= 0 ? undefined : (used / limit) * 100;
    },
    requestsPerSecond,
  );
}

/**
 * An app's figures from its provider's monitoring (AWS: CloudWatch): each instance's CPU in
 * percent of its machine, and the request rate per target times the ready targets.
 */
export function measureMonitored(app: App, figures: ScalingFigures | undefined): Measured {
  const perTarget = figures?.requestsPerSecondPerReplica;
  const ready = (app.status?.instances ?? []).filter((i) => i.ready).length;
  return measureReplicas(
    app,
    (_, instance) => (instance ? figures?.cpuPercent.get(instance.containerId) : undefined),
    perTarget === undefined ? undefined : perTarget * Math.max(1, ready),
  );
}
