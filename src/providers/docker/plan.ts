import { formatOperation } from "../converge.js";
import { RollingBudget, rolloutPace } from "../pace.js";
import type { DesiredApp } from "./desired.js";
import { containerCreateOptions, legacyVolumeName, volumeName } from "./desired.js";
import type { ObservedContainer, ObservedNetwork, ObservedVolume } from "./observe.js";
import { NO_RECOVERY, type RecoveryAction } from "./recovery.js";

/** One step of a plan, with its cause; the executor makes no decisions of its own. */
export type Operation =
  | {
      readonly op: "create-network";
      readonly target: string;
      readonly cause: string;
      readonly name: string;
      readonly labels: Record<string, string>;
      readonly subnet: string | undefined;
      /** overlay (attachable) for a Swarm group; a bridge otherwise. */
      readonly driver?: "overlay";
    }
  | { readonly op: "remove-network"; readonly target: string; readonly cause: string; readonly id: string }
  | {
      readonly op: "create-volume";
      readonly target: string;
      readonly cause: string;
      readonly name: string;
      readonly labels: Record<string, string>;
    }
  | { readonly op: "remove-volume"; readonly target: string; readonly cause: string; readonly name: string }
  | {
      readonly op: "create";
      readonly target: string;
      readonly cause: string;
      readonly replica: number;
      readonly options: Record<string, unknown>;
    }
  | { readonly op: "start"; readonly target: string; readonly cause: string; readonly id: string }
  /** "no" while AirLoft paces a crash loop's restarts; the app's own once it runs again. */
  | {
      readonly op: "restart-policy";
      readonly target: string;
      readonly cause: string;
      readonly id: string;
      readonly policy: string;
    }
  | {
      readonly op: "remove";
      readonly target: string;
      readonly cause: string;
      readonly id: string;
      /** Out of the edge's upstreams first, drained, then stopped with SIGTERM and its stop timeout. */
      readonly graceful?: true;
    };

export interface AppPlan {
  readonly operations: readonly Operation[];
  /** Replicas at the desired config and ready. */
  readonly readyReplicas: number;
  /** Replicas at the desired config, ready or not. */
  readonly updatedReplicas: number;
  /** Nothing to do and every desired replica ready. */
  readonly converged: boolean;
}

/** "app:acme/web:1 create (config changed)": the stable form tests and `diff` print. */
export function describeOperation(op: Operation): string {
  return formatOperation(op.target, op.op, undefined, op.cause);
}

/** Is this container serving? `probe` holds AirLoft's own HTTP check results by container id. */
export function isReady(
  c: ObservedContainer,
  desired: Pick<DesiredApp, "httpCheck" | "template">,
  probe: ReadonlyMap<string, boolean>,
): boolean {
  if (c.state !== "running") return false;
  if (desired.template.healthCheck) return c.health === "healthy";
  if (desired.httpCheck) return probe.get(c.id) === true;
  return true;
}

/**
 * The pure planner: desired app against the containers observed for it. Per replica: create what
 * is missing, start what was stopped, and replace a container whose config hash changed only once
 * its successor is ready (RollingUpdate), or at once (Recreate). Replicas past the count, older
 * incarnations (another uid) and unlabelled replicas are removed.
 */
export function planApp(
  desired: DesiredApp,
  observed: readonly ObservedContainer[],
  probe: ReadonlyMap<string, boolean>,
  recovery: ReadonlyMap<string, RecoveryAction> = NO_RECOVERY.actions,
): AppPlan {
  const ops: Operation[] = [];
  const target = (replica: number | string): string =>
    `${desired.kind.toLowerCase()}:${desired.group}/${desired.name}:${replica}`;
  const mine = observed.filter(
    (c) => c.owner.kind === desired.kind && c.owner.group === desired.group && c.owner.name === desired.name,
  );
  let readyReplicas = 0;
  let updatedReplicas = 0;

  for (const c of mine) {
    if (c.owner.uid !== desired.uid)
      ops.push({
        op: "remove",
        target: target(c.owner.replica ?? "?"),
        cause: "belongs to a deleted incarnation",
        id: c.id,
      });
    else if (c.owner.replica === undefined)
      ops.push({ op: "remove", target: target("?"), cause: "no replica label", id: c.id });
    else if (c.owner.replica >= desired.replicas)
      ops.push({ op: "remove", target: target(c.owner.replica), cause: "scaled down", id: c.id, graceful: true });
  }
  const current = mine.filter(
    (c) => c.owner.uid === desired.uid && c.owner.replica !== undefined && c.owner.replica < desired.replicas,
  );

  // An exited old replica (a failed revision's) serves nothing: its replica is filled like a
  // missing one, and that successor counts as live from now, so no surge goes past it. An old one
  // that runs counts as available though not ready: its check may pass at any moment (a first
  // check, or a look older than the check), so it only ever goes within maxUnavailable.
  const serving = (c: ObservedContainer): boolean => !["dead", "removing", "exited"].includes(c.state);
  const ready = (c: ObservedContainer): boolean => isReady(c, desired, probe);
  const oldServing = (c: ObservedContainer): boolean => serving(c) && c.owner.configHash !== desired.configHash;
  const withServing = new Set(current.filter(serving).map((c) => c.owner.replica));
  const budget = new RollingBudget(desired.replicas, desired.pace ?? rolloutPace(undefined, desired.replicas), {
    live: current.filter(serving).length + desired.replicas - withServing.size,
    available: new Set(current.filter((c) => ready(c) || oldServing(c)).map((c) => c.owner.replica)).size,
  });
  // Kubernetes' order: replicas whose old container is not ready spend the budget first. Each
  // replica's operations are kept apart and listed by replica, so a plan reads the same.
  const oldReady = new Set(current.filter((c) => oldServing(c) && ready(c)).map((c) => c.owner.replica));
  const order = [...Array(desired.replicas).keys()].sort((a, b) => Number(oldReady.has(a)) - Number(oldReady.has(b)));
  const byReplica = new Map<number, Operation[]>();
  for (const replica of order) {
    const steps: Operation[] = [];
    byReplica.set(replica, steps);
    const all = current.filter((c) => c.owner.replica === replica);
    const updated = all.filter(
      (c) => c.owner.configHash === desired.configHash && c.state !== "dead" && c.state !== "removing",
    );
    const outdated = all.filter((c) => !updated.includes(c));
    const [keep, ...extra] = updated;
    for (const c of extra) steps.push({ op: "remove", target: target(replica), cause: "duplicate", id: c.id });

    if (!keep) {
      if (desired.holdCreates) continue;
      const cause = outdated.some((c) => c.state === "dead" || c.state === "removing")
        ? "dead"
        : outdated.length > 0
          ? "config changed"
          : "missing";
      const old = outdated.filter(serving);
      if (desired.strategy === "Recreate")
        for (const c of outdated)
          steps.push({ op: "remove", target: target(replica), cause: "recreate", id: c.id, graceful: true });
      else if (old.length > 0) {
        // maxSurge and maxUnavailable: beside the old one, in its place, or not yet.
        const way = budget.take();
        if (way === "wait") continue;
        if (way === "in-place")
          for (const c of old)
            steps.push({ op: "remove", target: target(replica), cause: "rolling", id: c.id, graceful: true });
      }
      steps.push({
        op: "create",
        target: target(replica),
        cause,
        replica,
        options: containerCreateOptions(desired, replica),
      });
      continue;
    }
    updatedReplicas++;
    const action = recovery.get(keep.id);
    if (action?.kind === "replace") {
      steps.push({ op: "remove", target: target(replica), cause: action.cause, id: keep.id });
      steps.push({
        op: "create",
        target: target(replica),
        cause: "liveness failed",
        replica,
        options: containerCreateOptions(desired, replica),
      });
      continue;
    }
    if (action?.kind === "restart-policy")
      steps.push({
        op: "restart-policy",
        target: target(replica),
        cause: action.cause,
        id: keep.id,
        policy: action.policy,
      });
    if (keep.state === "created" || keep.state === "exited") {
      if (action?.kind !== "wait")
        steps.push({
          op: "start",
          target: target(replica),
          cause: action?.kind === "start" ? action.cause : "stopped",
          id: keep.id,
        });
      continue;
    }
    const keepReady = ready(keep);
    if (keepReady) readyReplicas++;
    // The old replica serves until its successor is ready (or at once when there is no check).
    if (keepReady || desired.strategy === "Recreate") {
      for (const c of outdated)
        steps.push({ op: "remove", target: target(replica), cause: "replaced", id: c.id, graceful: true });
    }
  }
  for (let replica = 0; replica < desired.replicas; replica++) ops.push(...(byReplica.get(replica) ?? []));
  return {
    operations: ops,
    readyReplicas,
    updatedReplicas,
    converged: ops.length === 0 && readyReplicas === desired.replicas,
  };
}

export interface DesiredNetwork {
  readonly group: string;
  readonly uid: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly subnet: string | undefined;
  readonly driver?: "overlay";
}

/** The group's network: create it when no network carries the group's uid; drop stale ones. */
export function planNetwork(desired: DesiredNetwork, observed: readonly ObservedNetwork[]): Operation[] {
  const mine = observed.filter((n) => n.owner.kind === "Group" && n.owner.name === desired.group);
  const ops: Operation[] = [];
  const current = mine.find((n) => n.owner.uid === desired.uid && n.name === desired.name);
  if (!current)
    ops.push({
      op: "create-network",
      target: `group:${desired.group}`,
      cause: "missing",
      name: desired.name,
      labels: desired.labels,
      subnet: desired.subnet,
      ...(desired.driver ? { driver: desired.driver } : {}),
    });
  for (const n of mine) {
    if (n !== current)
      ops.push({
        op: "remove-network",
        target: `group:${desired.group}`,
        cause: n.owner.uid === desired.uid ? "renamed" : "belongs to a deleted incarnation",
        id: n.id,
      });
  }
  return ops;
}

/** Who a volume must belong to: a Service's name in a group of one installation, whatever its uid. */
export interface VolumeOwner {
  readonly instance: string;
  readonly group: string;
  readonly kind: string;
  readonly name: string;
}

/**
 * Does this volume's labels say it is the owner's? The uid is left out: a Service deleted with
 * Retain and applied again has a new uid, and must find its data.
 */
export function ownsVolume(owner: VolumeOwner, volume: ObservedVolume): boolean {
  return (
    volume.owner.instance === owner.instance &&
    volume.owner.group === owner.group &&
    volume.owner.kind === owner.kind &&
    volume.owner.name === owner.name
  );
}

/**
 * The volume a service's data is on: the one of the current name if the service owns it, else
 * one it owns under the name volumes had before names were qualified (an existing installation
 * keeps its data), else the current name, to be created. A volume of either name that the
 * labels give to someone else is never chosen.
 */
export function resolveServiceVolume(owner: VolumeOwner, observed: readonly ObservedVolume[]): string {
  const current = volumeName(owner.group, owner.name);
  const mine = observed.filter((v) => ownsVolume(owner, v));
  if (mine.some((v) => v.name === current)) return current;
  const legacy = legacyVolumeName(owner.group, owner.name);
  return mine.some((v) => v.name === legacy) ? legacy : current;
}

/**
 * Volumes a desired container mounts that the engine does not have as the owner's yet. A name
 * held by a volume that is not the owner's is still planned: the executor creates, finds the
 * other volume and fails with NameConflict instead of mounting someone else's data.
 */
export function planVolumes(
  desired: DesiredApp,
  observed: readonly ObservedVolume[],
  labels: Record<string, string>,
): Operation[] {
  const owner: VolumeOwner = {
    instance: desired.instance,
    group: desired.group,
    kind: desired.kind,
    name: desired.name,
  };
  return desired.template.volumes
    .filter((v) => !observed.some((o) => o.name === v.name && ownsVolume(owner, o)))
    .map((v) => ({
      op: "create-volume",
      target: `${desired.kind.toLowerCase()}:${desired.group}/${desired.name}`,
      cause: "missing",
      name: v.name,
      labels,
    }));
}

/** deletionPolicy Delete: the volumes whose labels give them to this service, and no other. */
export function planVolumeRemoval(owner: VolumeOwner, observed: readonly ObservedVolume[], cause: string): Operation[] {
  return observed
    .filter((v) => ownsVolume(owner, v))
    .map((v) => ({
      op: "remove-volume",
      target: `${owner.kind.toLowerCase()}:${owner.group}/${owner.name}`,
      cause,
      name: v.name,
    }));
}

/**
 * Everything this installation labelled whose owner no longer exists in the store: removed on
 * resync. Containers go before networks, since a network with endpoints cannot be removed.
 */
export function planGarbage(
  live: ReadonlySet<string>,
  containers: readonly ObservedContainer[],
  networks: readonly ObservedNetwork[],
): Operation[] {
  const ops: Operation[] = [];
  // The edge belongs to the engine, not to a store object: its own sync keeps or removes it.
  for (const c of containers) {
    if (c.owner.kind !== "Edge" && !live.has(c.owner.uid))
      ops.push({
        op: "remove",
        target: `${c.owner.kind.toLowerCase()}:${c.owner.group}/${c.owner.name}:${c.owner.replica ?? "?"}`,
        cause: "owner gone",
        id: c.id,
      });
  }
  for (const n of networks) {
    if (n.owner.kind !== "Edge" && !live.has(n.owner.uid))
      ops.push({ op: "remove-network", target: `group:${n.owner.group}`, cause: "owner gone", id: n.id });
  }
  return ops;
}
