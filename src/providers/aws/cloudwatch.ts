import { GetMetricDataCommand, type MetricDataQuery, type MetricDataResult } from "@aws-sdk/client-cloudwatch";
import { DescribeTargetGroupsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { App } from "../../resources/types.js";
import type { ScalingFigures } from "../types.js";
import type { AwsClients } from "./clients.js";
import { targetGroupName } from "./names.js";

/** EC2's detailed monitoring and the load balancer's metrics come in one-minute datapoints. */
export const METRIC_PERIOD_S = 60;
/** Basic EC2 monitoring publishes every 5 minutes: the last datapoint within this is the figure. */
const LOOKBACK_MS = 10 * 60_000;
/** GetMetricData takes at most 500 queries a call. */
const MAX_QUERIES = 500;
/** A target group's ARN is looked up again after this (a group made again has a new one). */
const ARN_MAX_AGE_MS = 10 * 60_000;
/** A target group not made yet is looked for again after this: not on every pass (a listing of the region). */
const ARN_MISS_AGE_MS = 60_000;
/**
 * A group's figures serve this long while its instances stay the same: CloudWatch has at most one
 * new datapoint a minute, and bills per metric read (a read every 15 s pass would cost 4 times more).
 */
export const FIGURES_MAX_AGE_MS = METRIC_PERIOD_S * 1000;

/** What to read for one app: its instances, and its target group where it scales on requests. */
export interface ScalingTarget {
  readonly uid: string;
  readonly instanceIds: readonly string[];
  /** "targetgroup/NAME/ID", the dimension ELB publishes under; undefined when not wanted or not found. */
  readonly targetGroup?: string | undefined;
}

/**
 * The queries for one group's autoscaled apps: each instance's `AWS/EC2 CPUUtilization`
 * (average) and each target group's `AWS/ApplicationELB RequestCountPerTarget` (sum a minute).
 * Ids are positional (CloudWatch wants [a-z][a-zA-Z0-9_]*), so no user text goes into them.
 */
export function scalingQueries(targets: readonly ScalingTarget[]): MetricDataQuery[] {
  const queries: MetricDataQuery[] = [];
  targets.forEach((t, a) => {
    t.instanceIds.forEach((id, i) => {
      queries.push(metricQuery(`c${a}_${i}`, "AWS/EC2", "CPUUtilization", "InstanceId", id, "Average"));
    });
    if (t.targetGroup)
      queries.push(
        metricQuery(`r${a}`, "AWS/ApplicationELB", "RequestCountPerTarget", "TargetGroup", t.targetGroup, "Sum"),
      );
  });
  return queries;
}

function metricQuery(id: string, namespace: string, metric: string, dimension: string, value: string, stat: string) {
  return {
    Id: id,
    MetricStat: {
      Metric: { Namespace: namespace, MetricName: metric, Dimensions: [{ Name: dimension, Value: value }] },
      Period: METRIC_PERIOD_S,
      Stat: stat,
    },
    ReturnData: true,
  };
}

/** Each app's figures from the answers: the newest datapoint of each query; no datapoint, no figure. */
export function scalingFigures(
  targets: readonly ScalingTarget[],
  results: readonly MetricDataResult[],
): Map<string, ScalingFigures> {
  const newest = new Map<string, number>();
  for (const r of results) {
    let at = Number.NEGATIVE_INFINITY;
    (r.Values ?? []).forEach((v, i) => {
      const t = r.Timestamps?.[i]?.getTime() ?? Number.NEGATIVE_INFINITY;
      if (r.Id && Number.isFinite(v) && t >= at) {
        at = t;
        newest.set(r.Id, v);
      }
    });
  }
  const figures = new Map<string, ScalingFigures>();
  targets.forEach((t, a) => {
    const cpuPercent = new Map<string, number>();
    t.instanceIds.forEach((id, i) => {
      const v = newest.get(`c${a}_${i}`);
      if (v !== undefined) cpuPercent.set(id, v);
    });
    const requests = newest.get(`r${a}`);
    figures.set(t.uid, {
      cpuPercent,
      ...(requests !== undefined ? { requestsPerSecondPerReplica: requests / METRIC_PERIOD_S } : {}),
    });
  });
  return figures;
}

/** "arn:aws:elasticloadbalancing:R:A:targetgroup/N/I" -> "targetgroup/N/I". */
export function targetGroupDimension(arn: string): string | undefined {
  const at = arn.indexOf(":targetgroup/");
  return at < 0 ? undefined : arn.slice(at + 1);
}

/**
 * Reads autoscaled apps' figures from CloudWatch: one GetMetricData call per group for all its
 * apps' instances and target groups (more only past 500 queries), at most once a minute while the
 * instances stay the same (a new instance is read at once). Target group ARNs are kept for
 * minutes, so a steady read makes no ELB call.
 */
export class CloudWatchFigures {
  private readonly arns = new Map<string, { arn: string | undefined; until: number }>();
  private readonly lastRead = new Map<string, { at: number; asked: string; figures: Map<string, ScalingFigures> }>();

  constructor(
    private readonly instanceId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** `key` names the group: its last read serves while fresh and for the same instances. */
  async read(clients: AwsClients, key: string, apps: readonly App[]): Promise<Map<string, ScalingFigures>> {
    const wantRequests = apps.filter((a) => a.spec.autoscale?.targetRequestsPerSecond !== undefined);
    const arns = await this.targetGroupArns(
      clients,
      wantRequests.map((a) => targetGroupName(this.instanceId, a.metadata.uid ?? "")),
    );
    const targets: ScalingTarget[] = apps.map((app) => {
      const name = targetGroupName(this.instanceId, app.metadata.uid ?? "");
      const arn = app.spec.autoscale?.targetRequestsPerSecond !== undefined ? arns.get(name) : undefined;
      return {
        uid: app.metadata.uid ?? "",
        instanceIds: (app.status?.instances ?? []).map((i) => i.containerId).filter((id) => id.startsWith("i-")),
        targetGroup: arn ? targetGroupDimension(arn) : undefined,
      };
    });
    const asked = JSON.stringify(targets);
    const last = this.lastRead.get(key);
    if (last && last.asked === asked && this.now() - last.at < FIGURES_MAX_AGE_MS) return last.figures;
    for (const [k, r] of this.lastRead) if (this.now() - r.at >= FIGURES_MAX_AGE_MS) this.lastRead.delete(k);
    const queries = scalingQueries(targets);
    const end = new Date(this.now());
    const start = new Date(end.getTime() - LOOKBACK_MS);
    const results: MetricDataResult[] = [];
    for (let i = 0; i < queries.length; i += MAX_QUERIES) {
      let token: string | undefined;
      do {
        const out = await clients.cloudwatch.send(
          new GetMetricDataCommand({
            MetricDataQueries: queries.slice(i, i + MAX_QUERIES),
            StartTime: start,
            EndTime: end,
            ScanBy: "TimestampDescending",
            ...(token ? { NextToken: token } : {}),
          }),
        );
        results.push(...(out.MetricDataResults ?? []));
        token = out.NextToken;
      } while (token);
    }
    const figures = scalingFigures(targets, results);
    this.lastRead.set(key, { at: end.getTime(), asked, figures });
    return figures;
  }

  /** Target group ARNs by name: those not known (or known too long) in one DescribeTargetGroups. */
  private async targetGroupArns(clients: AwsClients, names: readonly string[]): Promise<Map<string, string>> {
    const now = this.now();
    // Entries past their age go (deleted apps' too): those still wanted are read again.
    for (const [n, known] of this.arns) if (now >= known.until) this.arns.delete(n);
    const stale = names.filter((n) => !this.arns.has(n));
    if (stale.length > 0) {
      // Names one by one would fail all for one missing; a listing of the installation's does not.
      const found = new Map<string, string>();
      let marker: string | undefined;
      do {
        const out = await clients.elb.send(new DescribeTargetGroupsCommand({ ...(marker ? { Marker: marker } : {}) }));
        for (const tg of out.TargetGroups ?? [])
          if (tg.TargetGroupName && tg.TargetGroupArn) found.set(tg.TargetGroupName, tg.TargetGroupArn);
        marker = out.NextMarker;
      } while (marker);
      for (const n of stale)
        this.arns.set(n, { arn: found.get(n), until: now + (found.has(n) ? ARN_MAX_AGE_MS : ARN_MISS_AGE_MS) });
    }
    const arns = new Map<string, string>();
    for (const n of names) {
      const arn = this.arns.get(n)?.arn;
      if (arn) arns.set(n, arn);
    }
    return arns;
  }
}
