import { createHash } from "node:crypto";
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  type IAMClient,
  PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import {
  DeleteParametersCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";

/**
 * Secrets on AWS, kept out of user data: each value is an SSM SecureString under a path of its
 * installation and group, and the group's instances get a role (through an instance profile) that
 * may only call ssm:GetParameters below that path, to fetch the values at boot.
 *
 * These are the parts, tested on moto; the launch path does not use them yet (see the README).
 */

/** "/airloft/INSTANCE/GROUP/": the path of one installation's group (names are DNS labels, no "/"). */
export function parameterPath(instance: string, group: string): string {
  return `/airloft/${instance}/${group}/`;
}

/** A Secret key's parameter: PATH/SECRET/KEY. */
export function parameterName(instance: string, group: string, secret: string, key: string): string {
  return `${parameterPath(instance, group)}${secret}/${key}`;
}

/** Writes values as SecureString parameters (overwriting), and removes the path's others. */
export async function syncParameters(
  ssm: SSMClient,
  instance: string,
  group: string,
  values: ReadonlyMap<string, string>,
): Promise<void> {
  for (const [name, value] of values)
    await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", Overwrite: true }));
  const stale: string[] = [];
  let token: string | undefined;
  do {
    const page = await ssm.send(
      new GetParametersByPathCommand({ Path: parameterPath(instance, group), Recursive: true, NextToken: token }),
    );
    for (const p of page.Parameters ?? []) if (p.Name && !values.has(p.Name)) stale.push(p.Name);
    token = page.NextToken;
  } while (token);
  for (let i = 0; i < stale.length; i += 10)
    await ssm.send(new DeleteParametersCommand({ Names: stale.slice(i, i + 10) }));
}

/** The role and instance profile of a group's instances: names within IAM's 64 characters, one per installation and group. */
export function secretsRoleName(instance: string, group: string): string {
  return `airloft-secrets-${createHash("sha256").update(`${instance}/${group}`).digest("hex").slice(0, 24)}`;
}

/** The only thing the role may do: read its own group's parameters. */
export function secretsPolicy(region: string, instance: string, group: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Action: ["ssm:GetParameters"],
        Resource: [`arn:aws:ssm:${region}:*:parameter${parameterPath(instance, group)}*`],
      },
    ],
  });
}

const EC2_TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

/** Makes the role, its one policy and its instance profile; what exists already is kept (a retry after a crash). */
export async function ensureSecretsRole(
  iam: IAMClient,
  region: string,
  instance: string,
  group: string,
): Promise<{ readonly roleName: string; readonly profileName: string }> {
  const name = secretsRoleName(instance, group);
  const tags = [
    { Key: "airloft.dev/instance", Value: instance },
    { Key: "airloft.dev/group", Value: group },
  ];
  await existing(iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: EC2_TRUST, Tags: tags })));
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: name,
      PolicyName: "airloft-secrets-read",
      PolicyDocument: secretsPolicy(region, instance, group),
    }),
  );
  await existing(iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Tags: tags })));
  await existing(iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name })));
  return { roleName: name, profileName: name };
}

async function existing(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== "EntityAlreadyExistsException" && name !== "LimitExceededException") throw err;
  }
}

/**
 * The user-data lines that fetch the values at boot into an env file readable by root only: the
 * script holds parameter names, never a value. Names are built from DNS labels and key names
 * ([-._a-zA-Z0-9]), which need no shell quoting; they are checked all the same.
 */
export function bootFetchLines(region: string, names: ReadonlyMap<string, string>, envFile: string): string[] {
  const safe = /^[-._/a-zA-Z0-9]+$/;
  const lines = [`umask 077`, `: > ${envFile}`];
  for (const [variable, name] of names) {
    if (!safe.test(name) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable) || !safe.test(envFile))
      throw new Error(`not a safe parameter or variable name: ${variable} ${name}`);
    lines.push(
      `printf '%s=%s\\n' ${variable} "$(aws ssm get-parameters --region ${region} --with-decryption --names ${name} --query 'Parameters[0].Value' --output text)" >> ${envFile}`,
    );
  }
  return lines;
}
