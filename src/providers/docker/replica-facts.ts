import type { ReplicaStatus } from "../../resources/types.js";
import { readCrashFacts } from "./crash-facts.js";
import type { DesiredApp } from "./desired.js";
import type { ObservedContainer } from "./observe.js";
import { isReady } from "./plan.js";
import { type ProbeResult, probeContainers, publishedEndpoint } from "./probe.js";
import { enginePolicy, planRecovery, type Recovery, type ReplicaFacts } from "./recovery.js";
import type { LivenessCheck, ReplicaHealth } from "./replica-health.js";

/** The name people know a replica by: "web-1". */
export function replicaName(desired: Pick<DesiredApp, "name">, c: ObservedContainer): string {
  return `${desired.name}-${c.owner.replica ?? "?"}`;
}

/** The key of a replica's restart history: one incarnation, one replica, one config. */
export function replicaKey(desired: Pick<DesiredApp, "uid" | "configHash">, replica: number): string {
  return `${desired.uid}/${replica}/${desired.configHash}`;
}

/** The containers at the desired config that the recovery rules look at. */
export function currentContainers(desired: DesiredApp, containers: readonly ObservedContainer[]): ObservedContainer[] {
  return containers.filter(
    (c) =>
      c.owner.uid === desired.uid &&
      c.owner.configHash === desired.configHash &&
      c.owner.replica !== undefined &&
      c.owner.replica < desired.replicas,
  );
}

/**
 * Checks an app's containers and gathers what recovery needs: AirLoft's HTTP check of each
 * (readiness), liveness counted by `health`, and for the containers that exited or fail their
 * command check, the engine's facts (exit code, restarts, last log lines).
 */
export async function observeReplicaFacts(
  address: string,
  desired: DesiredApp,
  containers: readonly ObservedContainer[],
  health: ReplicaHealth,
): Promise<{ probe: Map<string, boolean>; facts: Map<string, ReplicaFacts> }> {
  const current = currentContainers(desired, containers);
  const name = (c: ObservedContainer) => replicaName(desired, c);
  const probes: Map<string, ProbeResult> = desired.httpCheck
    ? await probeContainers(containers, desired.httpCheck, name)
    : new Map();
  const troubled = current.filter((c) => c.state === "exited" || c.state === "restarting" || c.health === "unhealthy");
  const crashes = await readCrashFacts(
    address,
    troubled.map((c) => c.id),
    desired.template.env,
  );
  const check = livenessCheck(desired);
  const facts = new Map<string, ReplicaFacts>();
  for (const c of current) {
    const probe = probes.get(c.id);
    const liveness =
      c.state !== "running" || !check
        ? undefined
        : desired.httpCheck && probe
          ? health.recordProbe(c.id, probe, check)
          : health.recordEngineHealth(c.id, c.health, check);
    const crash = crashes.get(c.id);
    // Held by an earlier run of AirLoft: the engine's "no" where the app asks for restarts.
    if (crash && crash.restartPolicy === "no" && enginePolicy(desired.template.restart) !== "no")
      health.setHeld(c.id, true);
    facts.set(c.id, {
      held: health.isHeld(c.id),
      replica: name(c),
      restarts: health.restartsOf(replicaKey(desired, c.owner.replica ?? 0)),
      ...(probe ? { probe } : {}),
      ...(liveness ? { liveness } : {}),
      ...(crash ? { crash } : {}),
    });
  }
  return { probe: new Map([...probes].map(([id, r]) => [id, r.ok])), facts };
}

/** The timing liveness uses: the app's health check, HTTP or command. */
function livenessCheck(desired: DesiredApp): LivenessCheck | undefined {
  if (desired.httpCheck) return desired.httpCheck;
  const hc = desired.template.healthCheck;
  return hc
    ? { intervalMs: hc.intervalNs / 1e6, retries: hc.retries, startPeriodMs: hc.startPeriodNs / 1e6 }
    : undefined;
}

/** Recovery for the containers observed, with readiness as the planner sees it. */
export function recoveryFor(
  desired: DesiredApp,
  containers: readonly ObservedContainer[],
  facts: ReadonlyMap<string, ReplicaFacts>,
  isReady: (c: ObservedContainer) => boolean,
  now: number,
): Recovery {
  return planRecovery(desired, currentContainers(desired, containers), facts, isReady, now);
}

/** The replica number an operation's target ends with ("app:acme/web:1"), if it is a desired one. */
export function replicaOfTarget(target: string, replicas: number): number | undefined {
  const replica = Number(target.slice(target.lastIndexOf(":") + 1));
  return Number.isInteger(replica) && replica >= 0 && replica < replicas ? replica : undefined;
}

/** The replicas as status shows them: state, readiness, endpoint, and restarts where there were some. */
export function replicaStatuses(
  containers: readonly ObservedContainer[],
  desired: DesiredApp,
  probe: ReadonlyMap<string, boolean>,
  facts: ReadonlyMap<string, ReplicaFacts>,
): ReplicaStatus[] {
  return containers
    .filter((c) => c.owner.uid === desired.uid && c.owner.replica !== undefined)
    .sort((a, b) => (a.owner.replica ?? 0) - (b.owner.replica ?? 0) || a.name.localeCompare(b.name))
    .map((c) => {
      const endpoint = publishedEndpoint(c, desired.template.port);
      const f = facts.get(c.id);
      const restarts = (f?.crash?.engineRestarts ?? 0) + (f?.restarts.restarts ?? 0);
      return {
        replica: c.owner.replica ?? 0,
        containerId: c.id.slice(0, 12),
        name: c.name,
        state: c.health && c.state === "running" ? `${c.state} (${c.health})` : c.state,
        ready: isReady(c, desired, probe),
        configHash: c.owner.configHash ?? "",
        ...(endpoint ? { endpoint: `${endpoint.host}:${endpoint.port}` } : {}),
        ...(restarts > 0 ? { restarts } : {}),
        ...(f?.crash && c.state !== "running" ? { exitCode: f.crash.exitCode } : {}),
      };
    });
}
