import { createHash } from "node:crypto";
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetInstanceProfileCommand,
  type IAMClient,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
} from "@aws-sdk/client-iam";
import { LABEL } from "../ownership.js";
import { errorCode } from "./errors.js";
import { parameterPath } from "./secret-parameters.js";

/**
 * The role (and instance profile, by the same name) of a group's instances that read secrets: it
 * may read its own group's parameters and nothing else. Everything AirLoft makes in IAM is under
 * the path "/airloft/", which is what `airloft aws policy` lets it pass to EC2.
 */
export const ROLE_PATH = "/airloft/";
export const ROLE_POLICY_NAME = "airloft-secrets-read";

/** One per installation and group, within IAM's 64 characters. */
export function secretsRoleName(instance: string, group: string): string {
  return `airloft-secrets-${createHash("sha256").update(`${instance}/${group}`).digest("hex").slice(0, 24)}`;
}

/**
 * The only things the role may do: read (and decrypt) its own group's parameters. Decryption is
 * held to SSM's use of the key for a parameter under the same path.
 */
export function secretsPolicy(region: string, instance: string, group: string): string {
  const parameters = `arn:aws:ssm:${region}:*:parameter${parameterPath(instance, group)}`;
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Action: ["ssm:GetParameters", "ssm:GetParametersByPath"],
        Resource: [`${parameters}*`],
      },
      {
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: `arn:aws:kms:${region}:*:key/*`,
        Condition: {
          StringEquals: { "kms:ViaService": `ssm.${region}.amazonaws.com` },
          StringLike: { "kms:EncryptionContext:PARAMETER_ARN": `${parameters}*` },
        },
      },
    ],
  });
}

const EC2_TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

/** Whether the profile is complete: it exists with its role (the last step of ensureSecretsRole). */
export async function secretsRoleReady(iam: IAMClient, name: string): Promise<boolean> {
  try {
    const out = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
    return (out.InstanceProfile?.Roles ?? []).some((r) => r.RoleName === name);
  } catch (err) {
    if (errorCode(err).replace(/Exception$/, "") === "NoSuchEntity") return false;
    throw err;
  }
}

/**
 * Makes the role, its one policy and its instance profile, in that order, each tagged in the call
 * that creates it (no window where it exists untagged). What a crashed earlier run made is kept:
 * the steps are repeated, and the profile holding its role says all were done.
 */
export async function ensureSecretsRole(
  iam: IAMClient,
  region: string,
  instance: string,
  group: string,
): Promise<string> {
  const name = secretsRoleName(instance, group);
  const tags = [
    { Key: LABEL.instance, Value: instance },
    { Key: LABEL.group, Value: group },
  ];
  await tolerate(
    iam.send(
      new CreateRoleCommand({ RoleName: name, Path: ROLE_PATH, AssumeRolePolicyDocument: EC2_TRUST, Tags: tags }),
    ),
    "EntityAlreadyExists",
  );
  const policy = secretsPolicy(region, instance, group);
  await iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: ROLE_POLICY_NAME, PolicyDocument: policy }));
  await tolerate(
    iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Path: ROLE_PATH, Tags: tags })),
    "EntityAlreadyExists",
  );
  // A profile holds one role: LimitExceeded means it holds it already.
  await tolerate(
    iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name })),
    "LimitExceeded",
  );
  return name;
}

/** Removes the profile and the role (in the order IAM requires); what is gone already is skipped. */
export async function deleteSecretsRole(iam: IAMClient, instance: string, group: string): Promise<void> {
  const name = secretsRoleName(instance, group);
  const gone = "NoSuchEntity";
  await tolerate(
    iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: name, RoleName: name })),
    gone,
  );
  await tolerate(iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: name })), gone);
  await tolerate(iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: ROLE_POLICY_NAME })), gone);
  await tolerate(iam.send(new DeleteRoleCommand({ RoleName: name })), gone);
}

async function tolerate(call: Promise<unknown>, code: string): Promise<void> {
  try {
    await call;
  } catch (err) {
    // IAM's codes reach here with or without the SDK's "Exception" suffix.
    if (errorCode(err).replace(/Exception$/, "") !== code) throw err;
  }
}
