import { createHash } from "node:crypto";
import {
  DeleteParametersCommand,
  DescribeParametersCommand,
  PutParameterCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { TerminalError } from "../../errors.js";

/**
 * Secrets on AWS, kept out of user data: each value an app or service reads (its secret env and
 * files, and the passwords of services) is an SSM SecureString under its owner's folder in its
 * group's path, "/airloft/INSTANCE/GROUP/OWNER-UID/{env,file}/NAME". The group's instances may
 * read that path only (secrets-role.ts) and fetch their folder at boot (boot-secrets.ts).
 *
 * Whether a value changed is told by a hash in the parameter's description, never by reading the
 * value: a keyed hash for a Secret's value, a plain one only for generated (random) passwords.
 */

/** The segments of a path: installation and owner uids, a group name (a DNS label). */
const SEGMENT = /^[A-Za-z0-9_.-]{1,128}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function segment(what: string, value: string): string {
  if (!SEGMENT.test(value) || /^\.+$/.test(value))
    throw new TerminalError("InvalidConfig", `${what} ${JSON.stringify(value)} cannot name an SSM parameter path`);
  return value;
}

/** "/airloft/INSTANCE/GROUP/": one installation's group; "/" ends it, so "acme" is no prefix of "acme-prod". */
export function parameterPath(instance: string, group: string): string {
  return `/airloft/${segment("the installation", instance)}/${segment("the group", group)}/`;
}

/** An app's or service's folder in its group's path. */
export function ownerPath(instance: string, group: string, uid: string): string {
  return `${parameterPath(instance, group)}${segment("the owner uid", uid)}/`;
}

/** One value to keep as a parameter: its value and the hash that says whether it changed. */
export interface ParameterValue {
  readonly value: Buffer;
  readonly hash: string;
}

/** An owner's desired parameters, by full name. */
export type OwnerParameters = ReadonlyMap<string, ParameterValue>;

/** What a group's path holds now: each parameter's name and the hash in its description. */
export type ParameterListing = ReadonlyMap<string, string>;

/** How a value is kept: "v1:" and base64, so that any bytes, and an empty value, fit (SSM takes neither). */
export function encodeValue(value: Buffer): string {
  return `v1:${value.toString("base64")}`;
}

/** SSM's largest value (Advanced tier); Intelligent-Tiering picks Standard below 4 KB. */
const MAX_VALUE_CHARS = 8192;

/** A hash for a value AirLoft made itself (a random password): nothing to guess from it. */
export function plainHash(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 32);
}

/** Builds an owner's parameters: variables by name, files by their index in the app's spec. */
export function ownerParameters(
  folder: string,
  env: ReadonlyArray<readonly [string, string, string]>,
  files: ReadonlyArray<{ readonly value: Buffer; readonly hash: string }>,
): OwnerParameters {
  const out = new Map<string, ParameterValue>();
  for (const [name, value, hash] of env) {
    if (!ENV_NAME.test(name)) throw new TerminalError("InvalidConfig", `env name ${JSON.stringify(name)} is not valid`);
    // The env file ends a value at a line break (Docker's --env-file, systemd's EnvironmentFile=).
    if (/[\r\n\0]/.test(value))
      throw new TerminalError("InvalidConfig", `env ${name} holds a line break or NUL, which an env file cannot carry`);
    out.set(`${folder}env/${name}`, { value: Buffer.from(value, "utf8"), hash });
  }
  for (const [i, file] of files.entries()) out.set(`${folder}file/${i}`, file);
  for (const [name, { value }] of out)
    if (encodeValue(value).length > MAX_VALUE_CHARS)
      throw new TerminalError(
        "InvalidConfig",
        `${name.slice(folder.length)}: the value is too large for an SSM parameter (about 6 KB at most)`,
      );
  return out;
}

/** A digest of an owner's parameters (names and hashes): part of its config hash, so a change rolls it. */
export function parametersDigest(params: OwnerParameters): string {
  const rows = [...params].map(([name, { hash }]) => `${name}=${hash}`).sort();
  return createHash("sha256").update(rows.join("\n")).digest("hex").slice(0, 16);
}

/** Every parameter under a group's path, with its hash: one paged call per 50. */
export async function listParameters(ssm: SSMClient, path: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: "Path", Option: "Recursive", Values: [path.replace(/\/$/, "")] }],
        MaxResults: 50,
        NextToken: token,
      }),
    );
    for (const p of page.Parameters ?? []) if (p.Name?.startsWith(path)) out.set(p.Name, p.Description ?? "");
    token = page.NextToken;
  } while (token);
  return out;
}

/** What a sync of one folder must write and delete, given what the group's path holds. */
export function planParameters(
  folder: string,
  desired: OwnerParameters,
  listing: ParameterListing,
): { readonly put: string[]; readonly remove: string[] } {
  const put = [...desired].filter(([name, { hash }]) => listing.get(name) !== hash).map(([name]) => name);
  const remove = [...listing.keys()].filter((name) => name.startsWith(folder) && !desired.has(name));
  return { put: put.sort(), remove: remove.sort() };
}

/**
 * Writes the changed values (the hash last, in the same call: a crash leaves either the old
 * parameter or the new one) and deletes the folder's others.
 */
export async function writeParameters(
  ssm: SSMClient,
  desired: OwnerParameters,
  plan: { readonly put: readonly string[]; readonly remove: readonly string[] },
): Promise<void> {
  for (const name of plan.put) {
    const p = desired.get(name);
    if (!p) continue;
    await ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: encodeValue(p.value),
        Type: "SecureString",
        Description: p.hash,
        Tier: "Intelligent-Tiering",
        Overwrite: true,
      }),
    );
  }
  await deleteParameters(ssm, plan.remove);
}

/** Deletes parameters, ten a call (SSM's limit); one already gone is no error. */
export async function deleteParameters(ssm: SSMClient, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 10)
    await ssm.send(new DeleteParametersCommand({ Names: names.slice(i, i + 10) }));
}

/** Applies a write to a cached listing, so the next pass needs no read. */
export function afterWrite(
  listing: ParameterListing,
  desired: OwnerParameters,
  plan: { readonly put: readonly string[]; readonly remove: readonly string[] },
): Map<string, string> {
  const next = new Map(listing);
  for (const name of plan.put) next.set(name, desired.get(name)?.hash ?? "");
  for (const name of plan.remove) next.delete(name);
  return next;
}
