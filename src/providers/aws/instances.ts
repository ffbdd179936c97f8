import {
  RunInstancesCommand,
  type RunInstancesCommandOutput,
  StartInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { DeregisterTargetsCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ProviderUnavailableError } from "../../errors.js";
import type { AwsClients } from "./clients.js";
import { errorCode } from "./errors.js";
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
  /** The group's secrets profile, when the instance fetches secrets at boot. */
  readonly instanceProfile?: string | undefined;
}

/**
 * Runs an instance plan: launches one call per replica (tags applied at launch, so a crash after
 * the call still leaves an instance the next observation adopts), then targets and terminations
 * in one batched call each.
 */
export async function executeInstanceOps(
  clients: AwsClients,
  ops: readonly InstanceOp[],
  targets: {
    launch?: LaunchTemplate;
    targetGroupArn?: string | undefined;
    port?: number | undefined;
    attempts: LaunchAttempts;
  },
): Promise<{ launched: ObservedInstance[]; terminated: string[] }> {
  const { launch, targetGroupArn, port, attempts } = targets;
  const launched: ObservedInstance[] = [];
  const terminated: string[] = [];
  for (const op of ops) {
    switch (op.op) {
      case "run": {
        if (!launch) throw new Error("a launch needs a launch template");
        launched.push(await launchReplica(clients, launch, op.replica, attempts));
        break;
      }
      case "start":
        await clients.ec2.send(new StartInstancesCommand({ InstanceIds: [...op.ids] }));
        break;
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

/** The launch attempt last used per "uid|config|replica", so a relaunch starts at the next token. */
export type LaunchAttempts = Map<string, number>;

/** Tokens a launch walks through before it gives up: a relaunch needs one more per earlier instance. */
const MAX_ATTEMPTS = 16;

/**
 * One replica's launch. A token already bound to an instance that is gone (IdempotentInstanceTerminated),
 * that was launched with other parameters (IdempotentParameterMismatch), or whose instance is no
 * longer pending or running (AWS answers with that old instance) is passed over for the next attempt.
 */
async function launchReplica(
  clients: AwsClients,
  launch: LaunchTemplate,
  replica: number,
  attempts: LaunchAttempts,
): Promise<ObservedInstance> {
  const key = `${launch.uid}|${launch.configHash}|${replica}`;
  const first = attempts.get(key) ?? 0;
  for (let attempt = first; attempt < first + MAX_ATTEMPTS; attempt++) {
    const out = await runInstance(clients, launch, replica, attempt).catch((err: unknown) => {
      if (TOKEN_TAKEN.has(errorCode(err))) return undefined;
      throw profileNotYetVisible(err) ?? err;
    });
    const instance = (out?.Instances ?? []).flatMap(observedInstance)[0];
    if (instance && (instance.state === "pending" || instance.state === "running")) {
      // A hint, not a record: bounded, and a forgotten one costs a few refused tokens.
      if (attempts.size >= 10_000) attempts.clear();
      attempts.set(key, attempt);
      return instance;
    }
  }
  throw new Error(`replica ${replica} of ${launch.uid}: ${MAX_ATTEMPTS} launch tokens in a row were already used`);
}

/**
 * A new instance profile takes seconds to reach EC2 (IAM is eventually consistent): EC2 calls it
 * invalid meanwhile, which is a wait, not a wrong configuration.
 */
export function profileNotYetVisible(err: unknown): ProviderUnavailableError | undefined {
  const cause = (err as { cause?: unknown }).cause ?? err;
  if (errorCode(cause) !== "InvalidParameterValue" || !/iamInstanceProfile|instance profile/i.test(String(cause)))
    return undefined;
  return new ProviderUnavailableError(
    "WaitingForInstanceProfile",
    "the group's instance profile is not visible to EC2 yet",
    {
      cause: err,
    },
  );
}

const TOKEN_TAKEN = new Set(["IdempotentInstanceTerminated", "IdempotentParameterMismatch"]);

function runInstance(
  clients: AwsClients,
  launch: LaunchTemplate,
  replica: number,
  attempt: number,
): Promise<RunInstancesCommandOutput> {
  const tags = toTags(launch.tags(replica));
  return clients.ec2.send(
    new RunInstancesCommand({
      ImageId: launch.imageId,
      InstanceType: launch.instanceType as never,
      MinCount: 1,
      MaxCount: 1,
      ClientToken: runClientToken(launch.uid, launch.configHash, replica, attempt),
      SubnetId: launch.subnetIds[replica % launch.subnetIds.length],
      SecurityGroupIds: [launch.securityGroupId],
      UserData: Buffer.from(launch.userData).toString("base64"),
      MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled" },
      ...(launch.instanceProfile ? { IamInstanceProfile: { Name: launch.instanceProfile } } : {}),
      TagSpecifications: [
        { ResourceType: "instance", Tags: tags },
        { ResourceType: "volume", Tags: tags },
      ],
    }),
  );
}
