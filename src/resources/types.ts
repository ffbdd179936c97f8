export const API_VERSION = "airloft.dev/v1alpha1";

export type ConditionStatus = "True" | "False" | "Unknown";
/**
 * Scheduled: whether an app's last due job run could start (QuotaExceeded when not).
 * ScalingLimited: the autoscaler could not scale to what it recommends (min, max, quota).
 * ScalingActive: whether the autoscaler could read the app's figures (False: why not).
 */
export type ConditionType = "Ready" | "Reconciling" | "Stalled" | "Scheduled" | "ScalingLimited" | "ScalingActive";

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration: number;
}

export interface ObjectMeta {
  name: string;
  group?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  // Set by the store only.
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
}

export interface BaseStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface ResourceQuantities {
  /** CPUs: a number (0.5) or millicores ("500m"). */
  cpu?: number | string;
  /** Bytes: a number or a quantity ("256Mi", "1Gi"). */
  memory?: number | string;
}

export interface GroupSpec {
  provider: "docker" | "aws" | "swarm";
  /** A Docker Swarm cluster, through its manager: an overlay network per group, a Swarm service per app. */
  swarm?: {
    host?: string;
    network?: { name?: string; subnet?: string };
    /** dnsrr (default): tasks by DNS round robin; vip needs IPVS in the nodes' kernels. */
    endpointMode?: "dnsrr" | "vip";
    /** A registry every node reaches (host:port): builds are pushed there, its images run by digest. */
    registry?: string;
    /** The registry's credentials, from a Secret of the group: the build's push and every node's pull. */
    registryAuth?: { secret: string; usernameKey: string; passwordKey: string };
    /** The swarm's edge proxy (a Caddy service on the manager): an app `web` is served at `web.<domain>`. */
    edge?: { domain?: string };
  };
  docker?: {
    host?: string;
    network?: { name?: string; subnet?: string };
    /** The engine's edge proxy: an app `web` is served at `web.<domain>` (`*.localhost` needs no DNS). */
    edge?: { domain?: string };
  };
  aws?: {
    region?: string;
    vpc?: { id?: string; create?: { cidr: string } };
    domain?: string;
    hostedZoneId?: string;
    certificateArn?: string;
    /** Pinned (default): the AMI resolved first stays until an app names one; FollowLatest: each release rolls. */
    amiPolicy?: "Pinned" | "FollowLatest";
  };
}

export interface HealthCheck {
  /** Probed by AirLoft on the app's port, as a load balancer would. */
  http?: { path: string };
  command?: string[];
  intervalSeconds?: number;
  timeoutSeconds?: number;
  retries?: number;
  startPeriodSeconds?: number;
}

/** How a new revision replaces the old one (src/releases/). */
export interface RolloutStrategy {
  type?: "RollingUpdate" | "Recreate";
  /** Replicas above the count while rolling, a number or a percentage (Kubernetes' meaning). */
  maxSurge?: number | string;
  /** Replicas below the count while rolling, a number or a percentage. */
  maxUnavailable?: number | string;
  /** Seconds without progress before the rollout is failed (600). */
  progressDeadlineSeconds?: number;
  /** Restore the last good revision when a rollout fails. */
  autoRollback?: boolean;
}

export interface AppSpec {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  replicas?: number;
  port?: number;
  publish?: { hostIP?: string };
  env?: Record<string, EnvValue>;
  /** Every key of each Secret as a variable; `env` wins over them. */
  envFrom?: Array<{ secret: string; prefix?: string }>;
  /** Secret keys as read-only files (Docker: from a memory-backed folder, never the disk). */
  files?: Array<{ secret: string; key: string; path: string }>;
  /** A Secret with registry, username and password: the credentials of this image's pulls. */
  imagePullSecret?: string;
  services?: Array<{ name: string; prefix?: string }>;
  resources?: ResourceQuantities;
  restart?: "always" | "on-failure" | "unless-stopped" | "no";
  healthCheck?: HealthCheck;
  /** tls (Docker edge): auto (ACME; the default for a domain outside *.localhost), off, or a Secret's tls.crt/tls.key. */
  expose?: { public?: boolean; domain?: string; tls?: "auto" | "off" | { secret: string } };
  strategy?: RolloutStrategy;
  /** Revisions kept for `rollout history` and `undo` (10 by default). */
  revisionHistoryLimit?: number;
  /** Runs once per new revision, in its image, before any new replica starts (a migration). */
  release?: { command: string[] };
  /** Swarm: where replicas may run, as Swarm constraints ("node.role==worker", "node.labels.zone==a"). */
  placement?: { constraints?: string[] };
  /** Source code for the node, python and java runtimes (AWS): a git URL or a tar.gz over https. */
  source?: { url: string; ref?: string };
  runtime?: "docker" | "node" | "python" | "java";
  /** AWS: the EC2 instance type and image; the AMI defaults to the newest Amazon Linux. */
  instanceType?: string;
  ami?: string;
  /** Scheduled runs of a command with the app's image, env, secrets and bindings (src/jobs/). */
  jobs?: JobSpec[];
  /** Replicas decided from CPU use or request rate (Docker); spec.replicas is then not set. */
  autoscale?: AutoscaleSpec;
}

export interface JobSpec {
  name: string;
  /** Cron: five fields, or six with seconds first. */
  schedule: string;
  command: string[];
  timeZone?: string;
  concurrencyPolicy?: "Allow" | "Forbid" | "Replace";
  timeoutSeconds?: number;
  historyLimit?: number;
  startingDeadlineSeconds?: number;
}

/** One run of a job, as recorded in the app's status. */
export interface RunRecord {
  name: string;
  scheduleTime: string;
  startTime?: string;
  endTime?: string;
  exitCode?: number;
  /** Why it ended other than by itself: DeadlineExceeded, Replaced. */
  reason?: string;
  /** The last lines of its output, secret values shown as ***. */
  lastLines?: string[];
}

export interface JobStatus {
  lastScheduleTime?: string;
  /** Names of the runs still running. */
  active: string[];
  /** Newest first, at most historyLimit finished ones. */
  runs: RunRecord[];
}

export interface AutoscaleSpec {
  min?: number;
  max: number;
  /** Percent of the app's CPU limit (of one core without a limit), averaged over its replicas. */
  targetCPUUtilization?: number;
  /** Requests per second per replica, measured at the edge. */
  targetRequestsPerSecond?: number;
  scaleDownStabilizationSeconds?: number;
  scaleUpStabilizationSeconds?: number;
}

export interface AutoscaleStatus {
  currentReplicas: number;
  desiredReplicas: number;
  /** Percent of the CPU limit; absent before two stats passes. */
  currentCPUUtilization?: number;
  currentRequestsPerSecond?: number;
  lastScaleTime?: string;
}

export interface ServiceSpec {
  template: "redis" | "postgres" | "mongo" | "kafka";
  version?: string;
  image?: string;
  imagePullSecret?: string;
  resources?: ResourceQuantities;
  storage?: { size?: string; deletionPolicy?: "Retain" | "Delete" };
}

/**
 * A Secret as stored and shown: its key names with a keyed hash of each value. The values are
 * given as `data` (base64) or `stringData` on input and kept only sealed (src/secrets/).
 */
export interface SecretSpec {
  keys?: Record<string, string>;
}

/** A value of an app's env: plain text, or a key of a Secret of the app's group. */
export type EnvValue = string | { secret: string; key: string };

export interface QuotaSpec {
  hard: {
    apps?: number;
    replicas?: number;
    services?: number;
    cpu?: number | string;
    memory?: number | string;
  };
}

/** A key of a Secret of the same group. */
export interface SecretKeyRef {
  secret: string;
  key: string;
}

/** Notifications of a group's objects to a webhook (src/notifications/), after Flux's Alert. */
export interface AlertSpec {
  /** The webhook: a plain http(s) URL, or one kept in a Secret (it often carries a token). */
  url?: string;
  urlFrom?: SecretKeyRef;
  format?: "generic" | "slack";
  /** Event names or reasons to send; the failures by default (src/notifications/events.ts). */
  events?: string[];
  /** Only objects of these kinds, or with these names. */
  kinds?: string[];
  names?: string[];
  /** The HMAC key of the X-Airloft-Signature header. */
  signingKeyFrom?: SecretKeyRef;
  suspend?: boolean;
}

export interface AlertStatus extends BaseStatus {
  lastDelivery?: {
    time: string;
    event: string;
    object: string;
    result: "Succeeded" | "Failed";
    attempts: number;
    message: string;
  };
  delivered?: number;
  failures?: number;
}

export interface ReplicaStatus {
  replica: number;
  containerId: string;
  name: string;
  state: string;
  ready: boolean;
  /** Target health in the load balancer (AWS). */
  health?: string;
  endpoint?: string;
  configHash: string;
  /** Restarts after exits and liveness replacements (Docker). */
  restarts?: number;
  /** The last exit code of a replica that exited (Docker). */
  exitCode?: number;
  /** The node a replica runs on (Swarm). */
  node?: string;
  /** Why the replica failed, as the engine says (Swarm). */
  error?: string;
}

export interface AppStatus extends BaseStatus {
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  image?: string;
  instances?: ReplicaStatus[];
  endpoints?: string[];
  /** The app's address through the edge proxy (Docker) or load balancer; undefined clears it. */
  url?: string | undefined;
  /** The certificate the Docker edge serves for the app's host; undefined clears it. */
  tls?: CertificateStatus | undefined;
  /** Each job's runs, by job name. */
  jobs?: Record<string, JobStatus>;
  /** What the autoscaler measured and decided last. */
  autoscale?: AutoscaleStatus;
}

export interface CertificateStatus {
  names: string[];
  issuer: string;
  notAfter: string;
  /** acme: obtained and renewed by the edge; secret: the app's Secret. */
  source: "acme" | "secret";
}

export interface ServiceStatus extends BaseStatus {
  address?: string;
  /** Where bound apps connect: the name on the group network (Docker) or an instance address (AWS). */
  host?: string;
  variables?: string[];
  volume?: string;
  /** The node the service's volume lives on, chosen once (Swarm). */
  node?: string;
  image?: string;
  instances?: ReplicaStatus[];
}

export interface GroupStatus extends BaseStatus {
  provider?: string;
  network?: { name: string; id: string };
  engine?: string;
  aws?: AwsGroupStatus;
}

export interface AwsGroupStatus {
  region: string;
  vpcId?: string;
  subnetIds?: string[];
  securityGroups?: { loadBalancer?: string; instances?: string; services?: string };
  loadBalancer?: { arn: string; dnsName: string };
  hostedZoneId?: string;
  /** The Amazon Linux 2023 image the group's apps and services run, resolved once and kept. */
  ami?: string;
}

interface ResourceOf<K extends string, S, St extends BaseStatus> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: St;
}

export type Group = ResourceOf<"Group", GroupSpec, GroupStatus>;
export type App = ResourceOf<"App", AppSpec, AppStatus>;
export type Service = ResourceOf<"Service", ServiceSpec, ServiceStatus>;
export type Secret = ResourceOf<"Secret", SecretSpec, BaseStatus>;
export type Quota = ResourceOf<"Quota", QuotaSpec, BaseStatus & { used?: Record<string, number> }>;
export type Alert = ResourceOf<"Alert", AlertSpec, AlertStatus>;

export type Resource = Group | App | Service | Quota | Secret | Alert;
export type Kind = Resource["kind"];
export type ResourceOfKind<K extends Kind> = Extract<Resource, { kind: K }>;

export interface StoredEvent {
  time: string;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}
