import { RunInstancesCommand, TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import { DeregisterTargetsCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { AwsClients } from "./clients.js";
import { runClientToken, toTags } from "./names.js";
import { type ObservedInstance, observedInstance } from "./observe.js";
import type { InstanceOp } from "./plan.js";

/** How every instance of one app or service is launched; the replica picks the subnet. */
export interface LaunchTemplate {
  readonly uid: string;
  readonly configHash: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly userData: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupId: string;
  readonly tags: (replica: number) => Record<string, string>;
  readonly port: number | undefined;
}

/**
 * Runs an instance plan: launches one call per replica (tags applied at launch, so a crash after
 * the call still leaves an instance the next observation adopts), then targets and terminations
 * in one batched call each.
 */
export async function executeInstanceOps(
  clients: AwsClients,
  ops: readonly InstanceOp[],
  targets: { launch?: LaunchTemplate; targetGroupArn?: string | undefined; port?: number | undefined },
): Promise<{ launched: ObservedInstance[]; terminated: string[] }> {
  const { launch, targetGroupArn, port } = targets;
  const launched: ObservedInstance[] = [];
  const terminated: string[] = [];
  for (const op of ops) {
    switch (op.op) {
      case "run": {
        if (!launch) throw new Error("a launch needs a launch template");
        const tags = toTags(launch.tags(op.replica));
        const out = await clients.ec2.send(
          new RunInstancesCommand({
            ImageId: launch.imageId,
            InstanceType: launch.instanceType as never,
            MinCount: 1,
            MaxCount: 1,
            ClientToken: runClientToken(launch.uid, launch.configHash, op.replica),
            SubnetId: launch.subnetIds[op.replica % launch.subnetIds.length],
            SecurityGroupIds: [launch.securityGroupId],
            UserData: Buffer.from(launch.userData).toString("base64"),
            MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled" },
            TagSpecifications: [
              { ResourceType: "instance", Tags: tags },
              { ResourceType: "volume", Tags: tags },
            ],
          }),
        );
        launched.push(...(out.Instances ?? []).flatMap(observedInstance));
        break;
      }
      case "register":
        if (targetGroupArn)
          await clients.elb.send(
            new RegisterTargetsCommand({
              TargetGroupArn: targetGroupArn,
              Targets: op.ids.map((Id) => ({ Id, ...(port ? { Port: port } : {}) })),
            }),
          );
        break;
      case "deregister":
        if (targetGroupArn)
          await clients.elb.send(
            new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: op.ids.map((Id) => ({ Id })) }),
          );
        break;
      case "terminate":
        await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [...op.ids] }));
        terminated.push(...op.ids);
        break;
    }
  }
  return { launched, terminated };
}
