import type { ServiceCredentials } from "../resources/templates.js";
import type { App, CertificateStatus, Group, GroupStatus, ReplicaStatus, Service } from "../resources/types.js";
import type { ResolvedSecrets } from "../secrets/references.js";
import type { TaskInstances } from "./aws/task-types.js";
import type { EdgeRoute } from "./docker/edge/routes.js";
import type { ReleaseState } from "./docker/release.js";

export interface ReconcileOptions {
  /** Each operation as it completes, in the stable form "app:acme/web:1 create (missing)". */
  readonly onOperation?: (description: string) => void;
  /**
   * Cancels the reconcile (shutdown, deletion, a deadline): checked before each observation and
   * each round of operations, never inside one, so no operation is left half done.
   */
  readonly signal?: AbortSignal;
  /** Every app routed through a Docker edge, from the store (apps and their finalizers on Docker). */
  readonly edgeRoutes?: readonly EdgeRoute[];
}

/** A service's options: the secrets it reads (its imagePullSecret). */
export interface ServiceReconcileOptions extends ReconcileOptions {
  readonly secrets?: ResolvedSecrets;
}

export interface AppReconcileOptions extends ReconcileOptions {
  /** Connection variables of the app's bound services. */
  readonly bindings?: Readonly<Record<string, string>>;
  /** What the app's secret references resolved to (values: never logged, labelled or hashed). */
  readonly secrets?: ResolvedSecrets;
  /** Over quota: create no replica numbered at or above this (existing ones stay). */
  readonly scaleUpLimit?: number;
  /** The current revision's release command already succeeded: it is not run again. */
  readonly releaseDone?: boolean;
  /** The revision the release belongs to: each revision's release is a task of its own. */
  readonly releaseRevision?: number;
}

/** Why one replica is not ready, in words for the Ready condition. */
export interface ReplicaProblem {
  /** "web-1". */
  readonly replica: string;
  /** CrashLoopBackOff, ContainerExited or Unhealthy. */
  readonly reason: string;
  readonly message: string;
}

export interface AppOutcome {
  readonly replicas: readonly ReplicaStatus[];
  readonly readyReplicas: number;
  readonly updatedReplicas: number;
  /** Nothing left to do and every desired replica ready. */
  readonly converged: boolean;
  /** What this pass did. */
  readonly operations: readonly string[];
  readonly image: string;
  /** What the image resolved to, where the provider knows (Docker): kept in the revision. */
  readonly imageId?: string;
  /** The release command of the desired config, where one is set and not yet recorded as done. */
  readonly release?: ReleaseState;
  /** The public address when a load balancer fronts the app (AWS), e.g. http://web.example.com. */
  readonly url?: string;
  /** Why the app is not ready beyond its replica counts (AWS: its targets get no traffic). */
  readonly waiting?: { readonly reason: string; readonly message: string };
  /** Why replicas are not ready, where the provider can tell. */
  readonly problems?: readonly ReplicaProblem[];
  /** The edge's certificate for the app (Docker), or why there is none yet (CertificatePending, CertificateFailed). */
  readonly tls?: { readonly certificate?: CertificateStatus; readonly problem?: { reason: string; message: string } };
}

export interface ServiceOutcome extends AppOutcome {
  readonly volume: string;
  /** Where bound apps reach the service; its name on the group network when unset (Docker). */
  readonly host?: string;
  /** The node its volume lives on (Swarm). */
  readonly node?: string;
}

/** An object's replicas as the infrastructure has them now, for `describe`: a titled table. */
export interface LiveReplicas {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

export interface LogOptions {
  readonly follow: boolean;
  /** The last lines of each replica only. */
  readonly tail?: number;
  /** Lines written at or after this time only (where the provider knows when a line was written). */
  readonly since?: Date;
  /** Ends the reading at once: engine streams are closed, nothing more is written. */
  readonly signal?: AbortSignal;
  /**
   * One line of one replica's output ("web-1"). A promise holds back the next lines until it
   * settles, down to the engine's stream: a slow reader slows the source instead of filling memory.
   */
  readonly write: (replica: string, line: string) => void | Promise<void>;
}

/** One running replica's resource use, as one stats pass read it (counters are cumulative). */
export interface ReplicaUsage {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly replica: string;
  /** CPU time used since the replica started, in seconds, and when it was read (ms since the epoch). */
  readonly cpuSeconds: number;
  readonly readAt: number;
  /** Memory in use, without the page cache the kernel can reclaim, as `docker stats` shows it. */
  readonly memoryBytes: number;
  readonly restarts: number;
}

/** Where a replica runs and in what state, as a cluster's manager tells it (Swarm), measured or not. */
export interface ReplicaPlacement {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly replica: string;
  readonly node: string;
  readonly state: string;
  readonly restarts: number;
}

/** A stats pass's reading of a provider's replicas. */
export interface UsageReading {
  readonly figures: readonly ReplicaUsage[];
  /**
   * Every replica's node and state, where the provider places replicas on machines whose figures
   * it cannot all read (Swarm: stats come from each node's engine). Read with the figures, from
   * the same listing.
   */
  readonly placements?: readonly ReplicaPlacement[];
}

/** One app's request counters at its front door (the edge proxy), as one read found them (cumulative). */
export interface AppTraffic {
  readonly group: string;
  readonly app: string;
  readonly readAt: number;
  /** Requests by status class: "2xx", "4xx", "5xx"... */
  readonly requests: Readonly<Record<string, number>>;
  /** Latency histogram: [upper bound in seconds, cumulative count], ascending, ending at Infinity. */
  readonly durationBuckets: ReadonlyArray<readonly [number, number]>;
  readonly durationSum: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** An autoscaled app's figures from the provider's own monitoring (AWS: CloudWatch). */
export interface ScalingFigures {
  /** CPU in percent of each replica's machine, by instance id; an instance left out had no datapoint. */
  readonly cpuPercent: ReadonlyMap<string, number>;
  /** Requests per second per registered target at the load balancer, where it had a datapoint. */
  readonly requestsPerSecondPerReplica?: number;
}

/**
 * What a controller and the CLI need of the infrastructure under a group. Every implementation
 * observes, plans with a pure function and executes the plan, through the one loop in
 * converge.ts; `plan*` show what a reconcile would do first (for diff), without doing it.
 */
export interface InfraProvider {
  readonly name: Group["spec"]["provider"];
  /** Where this provider talks to, for messages: an engine address, a region. */
  address(group: Group): string;
  reconcileGroup(group: Group, options?: ReconcileOptions): Promise<Partial<GroupStatus>>;
  /** Removes the group's own infrastructure; true once nothing of it remains. */
  finalizeGroup(group: Group, options?: ReconcileOptions): Promise<boolean>;
  reconcileApp(app: App, group: Group, options?: AppReconcileOptions): Promise<AppOutcome>;
  planGroup(group: Group): Promise<readonly string[]>;
  planApp(
    app: App,
    group: Group,
    bindings?: Readonly<Record<string, string>>,
    secrets?: ResolvedSecrets,
  ): Promise<readonly string[]>;
  planService(service: Service, group: Group, creds: ServiceCredentials): Promise<readonly string[]>;
  finalizeApp(app: App, group: Group, options?: ReconcileOptions): Promise<boolean>;
  /** A backing service from its template, with its data on a volume; ready when its check passes. */
  reconcileService(
    service: Service,
    group: Group,
    creds: ServiceCredentials,
    options?: ServiceReconcileOptions,
  ): Promise<ServiceOutcome>;
  /** Removes the service's container, and its data only when its deletionPolicy says Delete. */
  finalizeService(service: Service, group: Group, options?: ReconcileOptions): Promise<boolean>;
  /** Removes what this installation labelled whose owner uid is not live; returns what it removed. */
  collectGarbage(group: Group, liveUids: ReadonlySet<string>, options?: ReconcileOptions): Promise<readonly string[]>;
  /** An app's or service's replicas as the infrastructure has them now. */
  liveReplicas(obj: App | Service, group: Group): Promise<LiveReplicas>;
  /** The output of an app's or service's replicas; a clear error where the provider cannot read it. */
  logs(obj: App | Service, group: Group, options: LogOptions): Promise<void>;
  /** The running replicas' resource use in these groups, at most `concurrency` engine calls at once; where the provider can read it. */
  usage?(groups: readonly Group[], concurrency: number): Promise<UsageReading>;
  /** The apps' request counters at the front door, one read per engine or load balancer; where the provider has one. */
  traffic?(groups: readonly Group[]): Promise<readonly AppTraffic[]>;
  /** Autoscaled apps' figures by app uid, in one read for the group; where the provider has its own monitoring. */
  scalingFigures?(group: Group, apps: readonly App[]): Promise<ReadonlyMap<string, ScalingFigures>>;
  /** Where jobs and one-off runs run on instances of their own (AWS task instances), not as containers. */
  readonly tasks?: TaskInstances;
}
