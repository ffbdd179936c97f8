import type { Rule } from "@aws-sdk/client-elastic-load-balancing-v2";
import {
  type Change,
  ChangeResourceRecordSetsCommand,
  ChangeTagsForResourceCommand,
  CreateHostedZoneCommand,
  type ResourceRecordSet,
} from "@aws-sdk/client-route-53";
import { ProviderUnavailableError } from "../../errors.js";
import type { HealthCheck } from "../../resources/types.js";
import type { AwsClients } from "./clients.js";
import { errorCode } from "./errors.js";
import { findZone } from "./lookups.js";
import { digest, toTags } from "./names.js";
import type { ObservedListener, ObservedLoadBalancer, TargetHealth } from "./observe.js";
import type { HealthCheckSettings } from "./plan-routing.js";

/** The load balancer's health check for an app, from its spec (an HTTP path, "/" by default). */
export function targetHealthCheck(check: HealthCheck | undefined): HealthCheckSettings {
  const interval = Math.min(300, Math.max(5, check?.intervalSeconds ?? 15));
  return {
    path: check?.http?.path ?? "/",
    interval,
    // AWS takes 2-120 s, and less than the interval.
    timeout: Math.min(120, interval - 1, Math.max(2, check?.timeoutSeconds ?? 5)),
    unhealthy: Math.min(10, Math.max(2, check?.retries ?? 3)),
  };
}

/**
 * A rule's conditions for a route: a host ("web.example.com"), or for an app without a domain the
 * load balancer's own name and a path under it ("lb-dns/web": /web and /web/*). The host keeps a
 * path route from catching requests meant for the hosts of other apps.
 */
export function routeConditions(route: string) {
  const slash = route.indexOf("/");
  const host = { Field: "host-header", HostHeaderConfig: { Values: [slash < 0 ? route : route.slice(0, slash)] } };
  if (slash < 0) return [host];
  const path = route.slice(slash);
  return [host, { Field: "path-pattern", PathPatternConfig: { Values: [path, `${path}/*`] } }];
}

/** The route of an app without a domain: a path named after it on the load balancer's address. */
export function pathRoute(lb: ObservedLoadBalancer, app: string): string {
  return `${lb.dnsName.toLowerCase()}/${app}`;
}

/** The lowest priority no rule of the listener holds. */
export function freePriority(rules: readonly Rule[]): number {
  const used = new Set(rules.map((r) => Number(r.Priority)).filter(Number.isFinite));
  let p = 1;
  while (used.has(p)) p++;
  return p;
}

function fqdn(name: string): string {
  return name.endsWith(".") ? name : `${name}.`;
}

export function aliasRecord(host: string, lb: ObservedLoadBalancer): ResourceRecordSet {
  return {
    Name: fqdn(host),
    Type: "A",
    AliasTarget: { HostedZoneId: lb.zoneId, DNSName: fqdn(lb.dnsName), EvaluateTargetHealth: true },
  };
}

/** An A record for `host` that already aliases this load balancer. */
export function findRecord(records: readonly ResourceRecordSet[], host: string): ResourceRecordSet | undefined {
  return records.find((r) => r.Type === "A" && r.Name?.toLowerCase() === fqdn(host).toLowerCase());
}

interface PendingChange {
  readonly change: Change;
  readonly waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
}

/** Route 53's limits on one ChangeResourceRecordSets: 1,000 changes, 32,000 characters of values. */
export const BATCH_LIMITS = { changes: 1000, characters: 32_000 };

/** Changes in order, cut into batches within Route 53's limits (a change's size counted generously). */
export function batchesOf<T extends { change: Change }>(entries: readonly T[], limits = BATCH_LIMITS): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const entry of entries) {
    const length = JSON.stringify(entry.change.ResourceRecordSet ?? {}).length;
    if (current.length > 0 && (current.length >= limits.changes || size + length > limits.characters)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Collects record changes for a short window and sends them as one ChangeResourceRecordSets per
 * zone: a pass over many apps makes one call per zone, not one per app. A batch that AWS refuses
 * for its content is sent again change by change, so one bad record stalls one app, not all.
 */
export class RecordBatcher {
  private readonly pending = new Map<string, { changes: Map<string, PendingChange>; timer: NodeJS.Timeout }>();

  constructor(
    private readonly clients: (zoneId: string) => AwsClients,
    private readonly windowMs = 25,
  ) {}

  change(zoneId: string, change: Change): Promise<void> {
    let batch = this.pending.get(zoneId);
    if (!batch) {
      const timer = setTimeout(() => void this.flush(zoneId), this.windowMs);
      batch = { changes: new Map(), timer };
      this.pending.set(zoneId, batch);
    }
    const key = `${change.ResourceRecordSet?.Name}|${change.ResourceRecordSet?.Type}`;
    // A later change of the same record replaces the earlier one; both callers wait for it.
    const entry: PendingChange = { change, waiters: batch.changes.get(key)?.waiters ?? [] };
    batch.changes.set(key, entry);
    return new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
  }

  private async flush(zoneId: string): Promise<void> {
    const batch = this.pending.get(zoneId);
    if (!batch) return;
    this.pending.delete(zoneId);
    for (const entries of batchesOf([...batch.changes.values()])) await this.send(zoneId, entries);
  }

  private async send(zoneId: string, entries: readonly PendingChange[]): Promise<void> {
    try {
      await this.clients(zoneId).route53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { Comment: "AirLoft", Changes: entries.map((e) => e.change) },
        }),
      );
      for (const e of entries) for (const w of e.waiters) w.resolve();
    } catch (err) {
      // Throttling or an outage hits every change alike: the controllers retry with backoff.
      if (entries.length > 1 && !(err instanceof ProviderUnavailableError)) {
        for (const e of entries) await this.send(zoneId, [e]);
        return;
      }
      for (const e of entries) for (const w of e.waiters) w.reject(err);
    }
  }
}

/** The caller reference of the zone this installation makes for a group: it marks the zone as made here, tagged or not. */
export function zoneCallerReference(callerKey: string, domain: string): string {
  return digest("zone", callerKey, domain).slice(0, 64);
}

/** Creates the group's hosted zone; the caller reference makes a retried create the same zone. */
export async function createZone(
  clients: AwsClients,
  domain: string,
  callerKey: string,
  tags: Record<string, string>,
): Promise<string> {
  const CallerReference = zoneCallerReference(callerKey, domain);
  // A create whose answer was lost made the zone already: adopt the one with this reference and tag it.
  const created = await clients.route53
    .send(
      new CreateHostedZoneCommand({
        Name: domain,
        CallerReference,
        HostedZoneConfig: { Comment: `AirLoft ${tags["airloft.dev/group"] ?? ""}` },
      }),
    )
    .then(
      (out) => out.HostedZone?.Id,
      async (err: unknown) => {
        if (!/^HostedZoneAlreadyExists/.test(errorCode(err))) throw err;
        const id = await findZone(clients, domain, CallerReference);
        if (!id) throw err;
        return id;
      },
    );
  const id = (created ?? "").replace(/^\/hostedzone\//, "");
  await clients.route53.send(
    new ChangeTagsForResourceCommand({ ResourceType: "hostedzone", ResourceId: id, AddTags: toTags(tags) }),
  );
  return id;
}

/** Why an app's targets get no traffic: the load balancer's rule limit, or no rule forwarding to them. */
export function routingWait(
  listeners: readonly ObservedListener[],
  ruleWantedOn: readonly string[],
  health: TargetHealth | undefined,
) {
  const refused = listeners.find((l) => l.ruleLimit !== undefined && ruleWantedOn.includes(l.arn))?.ruleLimit;
  if (refused !== undefined) {
    const message = `the load balancer refused this app's listener rule (${refused}): its targets get no traffic until a rule is free; remove an app of this group, raise the rules-per-load-balancer quota, or move the app to another group`;
    return { reason: "RuleLimitReached", message };
  }
  const unused = [...(health?.values() ?? [])].filter((state) => state === "unused").length;
  if (unused === 0) return undefined;
  const message = `${unused} of its targets are unused: no listener rule of the load balancer forwards to its target group`;
  return { reason: "TargetsUnused", message };
}
