import { DescribeTagsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { Group, ReplicaStatus } from "../../resources/types.js";
import { LABEL } from "../ownership.js";
import type { AwsContext } from "./context.js";
import { errorCode } from "./errors.js";
import { findZone, hostedZoneTags } from "./lookups.js";
import { namePrefix, tagRecord, targetGroupName } from "./names.js";
import { observedNetwork } from "./network.js";
import type { AwsSnapshot, ObservedInstance, TargetHealth } from "./observe.js";
import { describeInstances, patch } from "./observe.js";
import type { ObservedTeardown } from "./plan.js";
import type { GarbageView, ObservedOwner, ObservedRemoval } from "./plan-routing.js";
import { aliasRecord, findRecord, zoneCallerReference } from "./routing.js";
import { TASK_KINDS } from "./tasks.js";
import { findVolume } from "./volumes.js";

/** Observation of one app or service: what its plan is made from, and what its status reports. */
export interface OwnerObservation extends ObservedOwner {
  readonly snapshot: AwsSnapshot;
  readonly owned: readonly ObservedInstance[];
  readonly health: TargetHealth | undefined;
}

/** Where to look for one owner's parts. */
export interface OwnerKeys {
  readonly group: Group;
  readonly uid: string;
  /** Apps have a target group; services have none. */
  readonly registers: boolean;
  readonly securityGroupId: string | undefined;
  readonly host: string | undefined;
  readonly zoneId: string | undefined;
  /** A service's data volume: found by group and name, kept or deleted by its policy. */
  readonly volume?: { readonly name: string; readonly policy: "Retain" | "Delete" } | undefined;
}

/**
 * One owner's parts, from the region's shared snapshot (its pending or stopping instances read
 * again by id: one call instead of a new snapshot), its target group's health and its zone's records.
 */
export async function observeOwner(ctx: AwsContext, keys: OwnerKeys, options: { waiting: boolean; tasks?: boolean }) {
  const region = ctx.region(keys.group);
  const snapshot = options.waiting ? await refreshWaiting(ctx, region, keys.uid) : await ctx.snapshots.get(region);
  const tgName = targetGroupName(ctx.instanceId, keys.uid);
  const targetGroup = keys.registers ? snapshot.targetGroups.find((t) => t.name === tgName) : undefined;
  const health = targetGroup ? await ctx.targetHealth.get(targetGroup.arn) : undefined;
  const lb = observedNetwork(snapshot, keys.group, ctx.instanceId).lb;
  const records = keys.host && keys.zoneId && lb ? await ctx.records.get(keys.zoneId) : undefined;
  // Task instances (a release, a job run) are no replicas; a removal takes them too.
  const owned = snapshot.instances.filter(
    (i) => i.owner.uid === keys.uid && (options.tasks || !TASK_KINDS.has(i.owner.kind)),
  );
  const observation: OwnerObservation = {
    snapshot,
    owned,
    health,
    targetGroup,
    ingress: snapshot.securityGroups.find((s) => s.id === keys.securityGroupId)?.ingress ?? [],
    listeners: lb?.listeners ?? [],
    record: records && keys.host ? findRecord(records, keys.host) : undefined,
    instances: owned.map((i) => {
      const { replica, configHash } = i.owner;
      const { id, state, launchTime, zone } = i;
      return { id, replica, configHash, state, launchTime, zone, health: health?.get(i.id) };
    }),
    volume: keys.volume
      ? findVolume(
          await ctx.volumes.get(region),
          { group: keys.group.metadata.name, name: keys.volume.name },
          owned.find((i) => i.owner.replica === 0)?.id,
        )
      : undefined,
  };
  return observation;
}

/** For a removal: the same, and the alias this group's load balancer gives the host (only that record is removed). */
export async function observeRemoval(ctx: AwsContext, keys: OwnerKeys): Promise<OwnerObservation & ObservedRemoval> {
  const observed = await observeOwner(ctx, keys, { waiting: false, tasks: true });
  const lb = observedNetwork(observed.snapshot, keys.group, ctx.instanceId).lb;
  const lbRecord = keys.host && lb ? aliasRecord(keys.host, lb) : undefined;
  return { ...observed, host: keys.host, lbRecord, ...(keys.volume ? { volumePolicy: keys.volume.policy } : {}) };
}

/** The region's snapshot, with this owner's pending or stopping instances read again by id. */
async function refreshWaiting(ctx: AwsContext, region: string, uid: string): Promise<AwsSnapshot> {
  const snapshot = await ctx.snapshots.get(region);
  const waits = (i: ObservedInstance) => i.owner.uid === uid && (i.state === "pending" || i.state === "stopping");
  const waiting = snapshot.instances.filter(waits).map((i) => i.id);
  if (waiting.length === 0) return snapshot;
  // Just launched, an instance is not yet visible by id for a moment: it stays as the launch saw it.
  const fresh = await describeInstances(ctx.clients(region), waiting).catch((err: unknown) => {
    if (errorCode(err) === "InvalidInstanceID.NotFound") return undefined;
    throw err;
  });
  if (!fresh) return snapshot;
  ctx.snapshots.patch(
    region,
    patch.instances(
      fresh,
      waiting.filter((id) => !fresh.some((i) => i.id === id)),
    ),
  );
  return ctx.snapshots.get(region);
}

/**
 * What a group holds whose owner is not live. Target group names are hashes, so one of unknown
 * owner is asked for its tags before it counts as garbage.
 */
export async function observeGarbage(ctx: AwsContext, group: Group, liveUids: ReadonlySet<string>) {
  const region = ctx.region(group);
  const clients = ctx.clients(region);
  const snapshot = await ctx.snapshots.get(region);
  const name = group.metadata.name;
  const orphans = snapshot.instances
    .filter((i) => i.owner.group === name && !liveUids.has(i.owner.uid))
    .map((i) => ({ id: i.id, kind: i.owner.kind, name: i.owner.name }));
  const liveNames = new Set([...liveUids].map((uid) => targetGroupName(ctx.instanceId, uid)));
  const prefix = namePrefix(ctx.instanceId);
  const unknown = snapshot.targetGroups.filter((t) => t.name.startsWith(prefix) && !liveNames.has(t.name));
  const targetGroups: Array<{ arn: string; name: string }> = [];
  for (let i = 0; i < unknown.length; i += 20) {
    const batch = unknown.slice(i, i + 20);
    const out = await clients.elb.send(new DescribeTagsCommand({ ResourceArns: batch.map((t) => t.arn) }));
    const tags = out.TagDescriptions ?? [];
    for (const d of tags) {
      const owner = tagRecord(d.Tags);
      const ours = owner[LABEL.instance] === ctx.instanceId && owner[LABEL.group] === name;
      if (!ours || liveUids.has(owner[LABEL.uid] ?? "")) continue;
      targetGroups.push({ arn: d.ResourceArn ?? "", name: owner[LABEL.name] ?? "?" });
    }
  }
  const listeners = observedNetwork(snapshot, group, ctx.instanceId).lb?.listeners ?? [];
  const view: GarbageView = { group: name, orphans, targetGroups, listeners };
  return view;
}

/** A deleted group's parts; its hosted zone only when AirLoft created it for this group (its tags say so). */
export async function observeTeardown(ctx: AwsContext, group: Group): Promise<ObservedTeardown> {
  const region = ctx.region(group);
  const snapshot = await ctx.snapshots.get(region);
  const uid = group.metadata.uid ?? "";
  const network = observedNetwork(snapshot, group, ctx.instanceId);
  const instancesLeft = snapshot.instances.some((i) => i.owner.group === group.metadata.name);
  const domain = group.spec.aws?.domain?.toLowerCase();
  let zone: ObservedTeardown["zone"];
  // The zone goes last: its tags are read only once the network is on its way out.
  if (domain && !group.spec.aws?.hostedZoneId && !network.loadBalancer && !instancesLeft) {
    // Made here if its caller reference is this group's, even untagged: a kill between the create
    // and the tagging left such a zone, which the tags alone would never let go.
    const clients = ctx.clients(region);
    const made = await findZone(clients, domain, zoneCallerReference(`${ctx.instanceId}/${uid}`, domain));
    const id = made ?? (await ctx.zoneIds.get(domain));
    const tags = id && !made ? await hostedZoneTags(clients, id) : {};
    if (id && (made || (tags[LABEL.instance] === ctx.instanceId && tags[LABEL.uid] === uid))) zone = { id, domain };
  }
  return { network, vpcIds: snapshot.vpcs.filter((v) => v.owner.uid === uid).map((v) => v.id), instancesLeft, zone };
}

/**
 * Whether the group's zone was made here and never tagged (a kill between the create and its
 * tagging): its caller reference is this group's, its tags are not. Asked once per zone and process.
 */
export async function ownZoneUntagged(ctx: AwsContext, group: Group, domain: string, zoneId: string): Promise<boolean> {
  if (ctx.zonesTagged.has(zoneId)) return false;
  const clients = ctx.clients(ctx.region(group));
  const reference = zoneCallerReference(`${ctx.instanceId}/${group.metadata.uid ?? ""}`, domain);
  const made = await findZone(clients, domain, reference);
  const untagged = made === zoneId && (await hostedZoneTags(clients, zoneId))[LABEL.instance] !== ctx.instanceId;
  if (!untagged) ctx.zonesTagged.add(zoneId);
  return untagged;
}

/** Replicas for status: instance ids and states, target health, and which run an old configuration. */
export function replicaStatuses(observed: OwnerObservation, configHash: string, port: number): ReplicaStatus[] {
  const { health } = observed;
  return observed.owned
    .map((i): ReplicaStatus => {
      const state = health?.get(i.id);
      return {
        replica: i.owner.replica ?? -1,
        containerId: i.id,
        name: i.id,
        state: i.state,
        ready: i.state === "running" && (health === undefined || state === "healthy"),
        ...(state ? { health: state } : {}),
        ...(i.privateIp ? { endpoint: `${i.privateIp}:${port}` } : {}),
        configHash: i.owner.configHash ?? "",
      };
    })
    .sort((a, b) => a.replica - b.replica || a.containerId.localeCompare(b.containerId))
    .map((r) => (r.configHash === configHash ? r : { ...r, state: `${r.state} (old config)` }));
}
