import type { ReplicaProblem } from "../types.js";
import type { CrashFacts } from "./crash-facts.js";
import type { DesiredApp } from "./desired.js";
import type { ObservedContainer } from "./observe.js";
import type { ProbeResult } from "./probe.js";
import { CRASH_BACKOFF, type LivenessState, type RestartHistory, restartDelayMs } from "./replica-health.js";

/** What the planner does with one container beyond the rollout rules. */
export type RecoveryAction =
  /** An exited container in back-off: left alone until `at`. */
  | { readonly kind: "wait"; readonly at: number }
  | { readonly kind: "start"; readonly cause: string }
  /** "no" to take a crash loop's restarts over from the engine; the app's own to hand them back. */
  | { readonly kind: "restart-policy"; readonly cause: string; readonly policy: string }
  /** Liveness failed: replace the container. */
  | { readonly kind: "replace"; readonly cause: string };

/** Everything known of one replica's container beyond the snapshot. */
export interface ReplicaFacts {
  /** "web-1". */
  readonly replica: string;
  readonly crash?: CrashFacts;
  readonly probe?: ProbeResult;
  readonly liveness?: LivenessState;
  readonly restarts: RestartHistory;
  /** Its restart policy is "no" because AirLoft took its restarts over. */
  readonly held?: boolean;
}

export interface Recovery {
  readonly actions: ReadonlyMap<string, RecoveryAction>;
  readonly problems: readonly ReplicaProblem[];
}

export const NO_RECOVERY: Recovery = { actions: new Map(), problems: [] };

/** Docker names "no restart" both "" and "no". */
export function enginePolicy(restart: string): string {
  return restart === "" ? "no" : restart;
}

/**
 * The pure part of liveness and crash loops, on one app's containers at the desired config:
 * - an exited container is started again once its back-off is over (10 s doubling to 5 min,
 *   counted from when it exited); one the engine keeps restarting is held (policy "no") so
 *   that AirLoft's back-off, not the engine's, paces it, and given its own policy back once
 *   it runs and is ready 10 s after AirLoft's last restart (the engine restarts it again
 *   while AirLoft is not running, after a reboot for one);
 * - a running replica whose liveness failed is replaced, one at a time: only while no other
 *   replica is starting (running, not yet ready, liveness not failed) and none is missing, and
 *   the one failing longest first;
 * - every replica that is not ready says why, for the Ready condition.
 */
export function planRecovery(
  desired: Pick<DesiredApp, "kind" | "replicas" | "template">,
  current: readonly ObservedContainer[],
  facts: ReadonlyMap<string, ReplicaFacts>,
  isReady: (c: ObservedContainer) => boolean,
  now: number,
): Recovery {
  const actions = new Map<string, RecoveryAction>();
  const problems: ReplicaProblem[] = [];
  const policy = enginePolicy(desired.template.restart);
  for (const c of current) {
    const f = facts.get(c.id);
    if (!f) continue;
    const { crash } = f;
    const total = (crash?.engineRestarts ?? 0) + f.restarts.restarts;
    // Seen between two of the engine's restarts, a looping container is "exited": held all the same.
    const engineLoops = c.state === "restarting" || (c.state === "exited" && (crash?.engineRestarts ?? 0) > 0);
    if (engineLoops && crash && crash.restartPolicy !== "no") {
      const cause = `crash loop: exited with code ${crash.exitCode}; AirLoft paces the restarts`;
      actions.set(c.id, { kind: "restart-policy", cause, policy: "no" });
      problems.push(crashProblem(f.replica, crash, total, "restarting"));
    } else if (c.state === "exited" && crash) {
      const delay = restartDelayMs(f.restarts.restarts);
      const at = crash.finishedAt + delay;
      const cause = `exited with code ${crash.exitCode}, back-off ${seconds(delay)}`;
      actions.set(c.id, now >= at ? { kind: "start", cause } : { kind: "wait", at });
      problems.push(crashProblem(f.replica, crash, total, `back-off ${seconds(delay)}`));
    } else if (c.state === "running" && isReady(c) && f.held && policy !== "no" && stable(f.restarts, now)) {
      actions.set(c.id, { kind: "restart-policy", cause: "running again", policy });
    } else if (c.state === "running" && !isReady(c)) {
      const reason = f.probe?.reason ?? checkReason(c, f);
      if (reason)
        problems.push({
          replica: f.replica,
          reason: "Unhealthy",
          message:
            f.liveness && f.liveness.failures > 1 ? `${reason} (${f.liveness.failures} checks in a row)` : reason,
        });
    }
  }
  const replacement = desired.kind === "App" ? chooseReplacement(desired.replicas, current, facts, isReady) : undefined;
  if (replacement) {
    const { id, liveness } = replacement;
    actions.set(id, { kind: "replace", cause: `liveness: ${liveness.reason}, ${liveness.failures} checks in a row` });
  }
  return { actions, problems };
}

/** Long enough since AirLoft's last restart to give the engine its restarts back. */
function stable(restarts: RestartHistory, now: number): boolean {
  return restarts.lastAt === undefined || now - restarts.lastAt >= CRASH_BACKOFF.initialMs;
}

/** At most one replica whose liveness failed, and none while another replica is on its way up. */
function chooseReplacement(
  replicas: number,
  current: readonly ObservedContainer[],
  facts: ReadonlyMap<string, ReplicaFacts>,
  isReady: (c: ObservedContainer) => boolean,
): { id: string; liveness: LivenessState } | undefined {
  const present = new Set(current.map((c) => c.owner.replica));
  for (let r = 0; r < replicas; r++) if (!present.has(r)) return undefined;
  const failed: Array<{ id: string; liveness: LivenessState }> = [];
  for (const c of current) {
    const liveness = facts.get(c.id)?.liveness;
    if (c.state === "running" && liveness?.failed) failed.push({ id: c.id, liveness });
    else if (c.state === "running" && !isReady(c)) return undefined;
  }
  return failed.sort((a, b) => a.liveness.since - b.liveness.since)[0];
}

/** A command check's failure by its exit code only: its output may hold what it was given. */
function checkReason(c: ObservedContainer, f: ReplicaFacts): string | undefined {
  if (c.health !== "unhealthy") return undefined;
  const code = f.crash?.checkExitCode;
  return `health check command on ${f.replica}: ${code !== undefined ? `exit code ${code}` : "unhealthy"}`;
}

/** "web-0 exited with code 3, restarted 4 times, back-off 40s; last log: starting | boom". */
export function crashProblem(replica: string, crash: CrashFacts, restarts: number, now: string): ReplicaProblem {
  const log = crash.logLines.length > 0 ? `; last log: ${crash.logLines.join(" | ")}` : "";
  return {
    replica,
    reason: restarts > 0 || now === "restarting" ? "CrashLoopBackOff" : "ContainerExited",
    message: `${replica} exited with code ${crash.exitCode}, restarted ${restarts} time${restarts === 1 ? "" : "s"}, ${now}${log}`,
  };
}

function seconds(ms: number): string {
  return ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}
