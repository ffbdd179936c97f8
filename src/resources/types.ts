export const API_VERSION = "airloft.dev/v1alpha1";

export type ConditionStatus = "True" | "False" | "Unknown";
export type ConditionType = "Ready" | "Reconciling" | "Stalled";

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
  provider: "docker" | "aws";
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
  expose?: { public?: boolean; domain?: string };
  strategy?: RolloutStrategy;
  /** Revisions kept for `rollout history` and `undo` (10 by default). */
  revisionHistoryLimit?: number;
  /** Runs once per new revision, in its image, before any new replica starts (a migration). */
  release?: { command: string[] };
  /** Source code for the node, python and java runtimes (AWS): a git URL or a tar.gz over https. */
  source?: { url: string; ref?: string };
  runtime?: "docker" | "node" | "python" | "java";
  /** AWS: the EC2 instance type and image; the AMI defaults to the newest Amazon Linux. */
  instanceType?: string;
  ami?: string;
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
}

export interface AppStatus extends BaseStatus {
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  image?: string;
  instances?: ReplicaStatus[];
  endpoints?: string[];
  /** The app's address through the edge proxy (Docker) or load balancer. */
  url?: string;
}

export interface ServiceStatus extends BaseStatus {
  address?: string;
  /** Where bound apps connect: the name on the group network (Docker) or an instance address (AWS). */
  host?: string;
  variables?: string[];
  volume?: string;
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

export type Resource = Group | App | Service | Quota | Secret;
export type Kind = Resource["kind"];
export type ResourceOfKind<K extends Kind> = Extract<Resource, { kind: K }>;

export interface StoredEvent {
  time: string;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}
