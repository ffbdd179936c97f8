import { AuthorizeSecurityGroupIngressCommand, type IpPermission } from "@aws-sdk/client-ec2";
import {
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
  type Rule,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { ChangeTagsForResourceCommand } from "@aws-sdk/client-route-53";
import type { Group } from "../../resources/types.js";
import type { AwsContext } from "./context.js";
import { classifyAwsError, errorCode } from "./errors.js";
import { executeInstanceOps, type LaunchTemplate } from "./instances.js";
import { toTags } from "./names.js";
import { executeGroupOp, groupTags } from "./network.js";
import { allRules, observedTargetGroup, patch } from "./observe.js";
import type { GroupOp } from "./plan.js";
import type { OwnerOp, RoutingOp } from "./plan-routing.js";
import { createZone, findRecord, freePriority, routeConditions } from "./routing.js";
import { executeVolumeOp } from "./volumes.js";

/** How long a deregistered target keeps its in-flight requests before its instance may go. */
export const DEREGISTRATION_DELAY_S = 30;

/** Where one owner's operations run: its region, launch template, target group and hosted zone. */
export interface OwnerPlace {
  readonly region: string;
  readonly launch?: LaunchTemplate;
  readonly targetGroupArn: string | undefined;
  readonly zoneId: string | undefined;
}

/**
 * Runs one operation of an app's or service's plan and folds what it did into the caches, so the
 * next observation sees it without a new call. Nothing is decided here but a new rule's priority,
 * which must be picked from the listener's rules as they are at that moment.
 */
export async function runOwnerOp(ctx: AwsContext, place: OwnerPlace, op: OwnerOp): Promise<void> {
  switch (op.op) {
    case "run":
    case "start":
    case "register":
    case "deregister":
    case "terminate": {
      const { launch, targetGroupArn } = place;
      const targets = {
        ...(launch ? { launch, port: launch.port } : {}),
        targetGroupArn,
        attempts: ctx.launchAttempts,
      };
      const done = await executeInstanceOps(ctx.clients(place.region), [op], targets);
      ctx.snapshots.patch(place.region, patch.instances(done.launched, done.terminated));
      if (op.op === "start") ctx.snapshots.invalidate(place.region);
      if (targetGroupArn && op.op !== "run") ctx.targetHealth.invalidate(targetGroupArn);
      return;
    }
    case "create-volume":
    case "attach-volume":
    case "delete-volume": {
      const changed = await executeVolumeOp(ctx.clients(place.region), op);
      ctx.volumes.patch(place.region, (volumes) => [...volumes.filter((v) => !changed.includes(v)), ...changed]);
      // Attachments and deletions change state over seconds: the next look reads them afresh.
      if (op.op !== "create-volume") ctx.volumes.invalidate(place.region);
      return;
    }
    default:
      await runRoutingOp(ctx, place, op);
  }
}

async function runRoutingOp(ctx: AwsContext, place: OwnerPlace, op: RoutingOp): Promise<void> {
  const { region, zoneId } = place;
  const { elb, ec2 } = ctx.clients(region);
  switch (op.op) {
    case "create-target-group": {
      const { spec } = op;
      const out = await elb.send(
        new CreateTargetGroupCommand({
          Name: spec.name,
          Protocol: "HTTP",
          Port: spec.port,
          VpcId: spec.vpcId,
          TargetType: "instance",
          HealthCheckProtocol: "HTTP",
          HealthCheckPath: spec.check.path,
          HealthCheckIntervalSeconds: spec.check.interval,
          HealthCheckTimeoutSeconds: spec.check.timeout,
          HealthyThresholdCount: 2,
          UnhealthyThresholdCount: spec.check.unhealthy,
          Tags: toTags(spec.tags),
        }),
      );
      const created = out.TargetGroups?.[0];
      if (!created) throw new Error(`CreateTargetGroup ${spec.name} returned no target group`);
      // AWS drains for 300 s by default: a rollout would wait five minutes per replica.
      const attributes = [{ Key: "deregistration_delay.timeout_seconds", Value: String(DEREGISTRATION_DELAY_S) }];
      await elb.send(
        new ModifyTargetGroupAttributesCommand({ TargetGroupArn: created.TargetGroupArn, Attributes: attributes }),
      );
      const tg = observedTargetGroup(created);
      ctx.snapshots.patch(region, patch.targetGroup(tg));
      // A new target group has no targets: no need to ask for their health.
      ctx.targetHealth.seed(tg.arn, new Map());
      return;
    }
    case "modify-target-group": {
      const out = await elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: op.arn, HealthCheckPath: op.path }));
      const changed = out.TargetGroups?.[0];
      if (changed) ctx.snapshots.patch(region, patch.targetGroup(observedTargetGroup(changed)));
      else ctx.snapshots.invalidate(region);
      return;
    }
    case "delete-target-group":
      await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: op.arn })).catch(ignore("not-found"));
      ctx.snapshots.patch(region, patch.targetGroupRemoved(op.arn));
      ctx.targetHealth.invalidate(op.arn);
      return;
    case "allow-port": {
      const permission: IpPermission = {
        IpProtocol: "tcp",
        FromPort: op.port,
        ToPort: op.port,
        UserIdGroupPairs: [{ GroupId: op.fromGroupId, Description: `AirLoft: ${op.what}` }],
      };
      const authorize = { GroupId: op.securityGroupId, IpPermissions: [permission] };
      await ec2.send(new AuthorizeSecurityGroupIngressCommand(authorize)).catch(ignore("conflict"));
      ctx.snapshots.patch(region, patch.ingress(op.securityGroupId, permission));
      return;
    }
    case "create-rule":
      // Priorities are per listener: creates on one listener take turns, each picking from the
      // rules of the snapshot, which every create of this process patches. A priority taken
      // elsewhere meanwhile (PriorityInUse) sends the next attempt to a fresh read.
      await ctx.listenerLock.run(op.listenerArn, async () => {
        const listener = (await ctx.snapshots.get(region)).loadBalancers
          .flatMap((lb) => lb.listeners)
          .find((l) => l.arn === op.listenerArn);
        const rules = listener?.rules ?? (await allRules(ctx.clients(region), op.listenerArn));
        const out = await elb
          .send(
            new CreateRuleCommand({
              ListenerArn: op.listenerArn,
              Priority: freePriority(rules),
              Conditions: routeConditions(op.host),
              Actions: [{ Type: "forward", TargetGroupArn: op.targetGroupArn }],
              Tags: toTags(op.tags),
            }),
          )
          .catch((err: unknown) => {
            // The load balancer is full (100 rules by default): this app waits for a free rule,
            // the rest of its plan (instances, records) and the other apps go on. The refusal
            // is part of what was observed of the listener; its rules did not change.
            // The clients hand on AWS's error as the cause of the controller's.
            const aws = (err as { cause?: unknown }).cause ?? err;
            if (errorCode(aws).startsWith("TooManyRules")) {
              const words = `${errorCode(aws)}: ${(aws as Error).message}`;
              ctx.snapshots.patch(region, patch.ruleLimit(op.listenerArn, words));
              return undefined;
            }
            ctx.snapshots.invalidate(region);
            throw err;
          });
        if (!out) return;
        ctx.snapshots.patch(
          region,
          patch.rules(op.listenerArn, () => [...rules, ...(out.Rules ?? [])]),
        );
      });
      return;
    case "modify-rule": {
      const out = await elb.send(new ModifyRuleCommand({ RuleArn: op.ruleArn, Conditions: routeConditions(op.host) }));
      const others = (rules: readonly Rule[]) => rules.filter((r) => r.RuleArn !== op.ruleArn);
      ctx.snapshots.patch(
        region,
        patch.rules(op.listenerArn, (rules) => [...others(rules), ...(out.Rules ?? [])]),
      );
      return;
    }
    case "delete-rule": {
      await elb.send(new DeleteRuleCommand({ RuleArn: op.ruleArn })).catch(ignore("not-found"));
      const gone = (rules: readonly Rule[]) => rules.filter((r) => r.RuleArn !== op.ruleArn);
      ctx.snapshots.patch(region, patch.rules(op.listenerArn, gone));
      return;
    }
    case "upsert-record":
    case "delete-record": {
      if (!zoneId) throw new Error(`${op.op} ${op.host} needs the group's hosted zone`);
      const action = op.op === "upsert-record" ? "UPSERT" : "DELETE";
      await ctx.batcher.change(zoneId, { Action: action, ResourceRecordSet: op.record });
      // Read-your-writes: the zone's records are not listed again for every app.
      const { host, record } = op;
      const kept = (records: readonly (typeof record)[]) => records.filter((r) => r !== findRecord(records, host));
      ctx.records.patch(zoneId, (records) => (action === "UPSERT" ? [...kept(records), record] : kept(records)));
      return;
    }
  }
}

/** Runs one step of a group's plan: its network, load balancer and hosted zone. */
export async function runGroupOp(ctx: AwsContext, group: Group, op: GroupOp): Promise<void> {
  const region = ctx.region(group);
  const clients = ctx.clients(region);
  try {
    if (op.op === "create-hosted-zone") {
      const callerKey = `${ctx.instanceId}/${group.metadata.uid ?? ""}`;
      const id = await createZone(clients, op.domain, callerKey, groupTags(group, ctx.instanceId, "zone"));
      ctx.zoneIds.seed(op.domain, id);
      ctx.zonesTagged.add(id);
      return;
    }
    if (op.op === "tag-hosted-zone") {
      const tags = toTags(groupTags(group, ctx.instanceId, "zone"));
      await clients.route53.send(
        new ChangeTagsForResourceCommand({ ResourceType: "hostedzone", ResourceId: op.id, AddTags: tags }),
      );
      ctx.zonesTagged.add(op.id);
      return;
    }
    await executeGroupOp(clients, group, ctx.instanceId, op);
    if (op.op === "delete-hosted-zone") ctx.zoneIds.seed(op.domain, null);
  } finally {
    ctx.snapshots.invalidate(region);
  }
}

function ignore(kind: ReturnType<typeof classifyAwsError>): (err: unknown) => void {
  return (err) => {
    if (classifyAwsError(err) !== kind) throw err;
  };
}
