import type { ResourceRecordSet } from "@aws-sdk/client-route-53";
import type { Group } from "../../resources/types.js";
import { SnapshotCache } from "../snapshot-cache.js";
import type { ApiFamily, AwsClients } from "./clients.js";
import { CallCounter, createClients, createLimiters, DEFAULT_RATES } from "./clients.js";
import type { LaunchAttempts } from "./instances.js";
import { KeyedLock } from "./keyed-lock.js";
import { availabilityZones, defaultAmi, describeForeignVpc, findZone, listRecords } from "./lookups.js";
import type { AwsSnapshot, TargetHealth } from "./observe.js";
import { describeTargetHealth, takeSnapshot } from "./observe.js";
import { RecordBatcher } from "./routing.js";
import { listParameters } from "./secret-parameters.js";
import { ensureSecretsRole, secretsRoleName, secretsRoleReady } from "./secrets-role.js";
import { awsRegion } from "./settings.js";
import { describeDataVolumes, type ObservedVolume } from "./volumes.js";

export interface AwsProviderOptions {
  readonly instanceId: string;
  readonly env?: NodeJS.ProcessEnv;
  /** How long one snapshot serves a pass; changes made here invalidate it at once. */
  readonly snapshotMaxAgeMs?: number;
  /**
   * Target health and DNS records of converged apps are read this often (5 min by default);
   * AirLoft's own changes, and an app still waiting for health, read them again at once.
   */
  readonly slowMaxAgeMs?: number;
  /** Per family; a family left out keeps its default. */
  readonly rates?: Readonly<Partial<Record<ApiFamily, { perSecond: number; burst: number }>>>;
  readonly maxAttempts?: number;
}

/**
 * What the AWS provider's observers and executors share: clients per region (one rate limit and
 * call counter for all), and the caches that let a pass observe once. Executors fold their own
 * changes into the caches (read-your-writes), so the next observation needs no new call.
 */
export class AwsContext {
  readonly calls = new CallCounter();
  readonly instanceId: string;
  readonly env: NodeJS.ProcessEnv;
  readonly snapshots: SnapshotCache<AwsSnapshot>;
  /** Keyed by target group ARN, which names its region. */
  readonly targetHealth: SnapshotCache<TargetHealth>;
  readonly records: SnapshotCache<ResourceRecordSet[]>;
  /**
   * Slow-changing facts, read again after minutes: zones and the default AMI by region, a foreign
   * VPC by "region|id", a zone id by domain.
   */
  readonly zones: SnapshotCache<string[]>;
  readonly amis: SnapshotCache<string>;
  readonly foreignVpcs: SnapshotCache<{ vpcId: string; subnetIds: string[] }>;
  readonly zoneIds: SnapshotCache<string | null>;
  readonly batcher: RecordBatcher;
  /** Services' data volumes by region, read only by services. */
  readonly volumes: SnapshotCache<ObservedVolume[]>;
  /**
   * A group's secret parameters with their hashes, by "region|path", and its instance role (made
   * once seen missing), by "region|group": read again after minutes, AirLoft's writes folded in.
   */
  readonly parameters: SnapshotCache<Map<string, string>>;
  readonly roles: SnapshotCache<string>;
  /** Hosted zones known to carry their tags (or not made here): not asked again (ownZoneUntagged). */
  readonly zonesTagged = new Set<string>();
  /** Rule priorities are per listener: creates on one listener take turns. */
  readonly listenerLock = new KeyedLock();
  /** The last launch attempt per replica, so that a relaunch does not walk past every used token again. */
  readonly launchAttempts: LaunchAttempts = new Map();
  private readonly clientsByRegion = new Map<string, AwsClients>();
  private readonly limiters;

  constructor(private readonly options: AwsProviderOptions) {
    this.instanceId = options.instanceId;
    this.env = options.env ?? process.env;
    this.limiters = createLimiters({ ...DEFAULT_RATES, ...options.rates });
    const slow = options.slowMaxAgeMs ?? 300_000;
    const minutes = 10 * 60_000;
    const snapshotAge = options.snapshotMaxAgeMs ?? 10_000;
    this.snapshots = new SnapshotCache((region) => takeSnapshot(this.clients(region), this.instanceId), snapshotAge);
    const regionOf = (arn: string) => arn.split(":")[3] ?? this.region();
    this.volumes = new SnapshotCache(
      (region) => describeDataVolumes(this.clients(region), this.instanceId),
      snapshotAge,
    );
    this.targetHealth = new SnapshotCache((arn) => describeTargetHealth(this.clients(regionOf(arn)), arn), slow);
    this.records = new SnapshotCache((zoneId) => listRecords(this.clients(this.region()), zoneId), slow);
    this.zones = new SnapshotCache((region) => availabilityZones(this.clients(region)), minutes);
    this.amis = new SnapshotCache((region) => defaultAmi(this.clients(region)), minutes);
    this.foreignVpcs = new SnapshotCache((key) => {
      const [region = "", id = "default"] = key.split("|");
      return describeForeignVpc(this.clients(region), id);
    }, minutes);
    const zoneOf = async (domain: string) => (await findZone(this.clients(this.region()), domain)) ?? null;
    this.zoneIds = new SnapshotCache(zoneOf, minutes);
    this.parameters = new SnapshotCache((key) => {
      const [region = "", path = ""] = key.split("|");
      return listParameters(this.clients(region).ssm, path);
    }, minutes);
    this.roles = new SnapshotCache(async (key) => {
      const [region = "", group = ""] = key.split("|");
      const { iam } = this.clients(region);
      const name = secretsRoleName(this.instanceId, group);
      return (await secretsRoleReady(iam, name)) ? name : ensureSecretsRole(iam, region, this.instanceId, group);
    }, minutes);
    // A longer window than a reconcile takes, so that the apps of a pass share a change batch.
    this.batcher = new RecordBatcher(() => this.clients(this.region()), 200);
  }

  region(group?: Group): string {
    return awsRegion(group, this.env);
  }

  clients(region: string): AwsClients {
    let clients = this.clientsByRegion.get(region);
    if (!clients) {
      const { maxAttempts } = this.options;
      const limits = { counter: this.calls, limiters: this.limiters, ...(maxAttempts ? { maxAttempts } : {}) };
      clients = createClients({ region, env: this.env, ...limits });
      this.clientsByRegion.set(region, clients);
    }
    return clients;
  }
}
