import type { Group } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import type { BootSecrets } from "./boot-secrets.js";
import type { AwsContext } from "./context.js";
import {
  afterWrite,
  deleteParameters,
  type OwnerParameters,
  ownerParameters,
  ownerPath,
  parameterPath,
  parametersDigest,
  plainHash,
  planParameters,
  writeParameters,
} from "./secret-parameters.js";
import { deleteSecretsRole, secretsRoleName } from "./secrets-role.js";

/** An owner's secrets on AWS: its parameters, how its instances fetch them, and with which profile. */
export interface OwnerSecrets {
  readonly folder: string;
  readonly parameters: OwnerParameters;
  /** Undefined when the owner reads no secret: its user data and launch stay as before. */
  readonly boot: BootSecrets | undefined;
  readonly profile: string | undefined;
  /** Part of the config hash: a changed value rolls the owner. */
  readonly digest: string;
}

/**
 * Splits an owner's variables: the ones that come from secrets, and the bound or own services'
 * variables that hold a generated password, become parameters; files are parameters too. Plain
 * variables stay in the user data. `generated` values are random, so a plain hash tells a change.
 */
export function ownerSecrets(
  ctx: AwsContext,
  group: Group,
  uid: string,
  resolved: ResolvedSecrets | undefined,
  generated: Readonly<Record<string, string>>,
): OwnerSecrets {
  const region = ctx.region(group);
  const folder = ownerPath(ctx.instanceId, group.metadata.name, uid);
  const hashes = resolved?.hashes ?? {};
  // Without a keyed hash (never from resolveSecrets), the digest of all of them stands in.
  const hashOf = (key: string) => hashes[key] ?? `${resolved?.digest ?? ""}:${key}`;
  const env = [
    ...Object.entries(generated).map(([k, v]) => [k, v, plainHash(v)] as const),
    ...Object.entries(resolved?.env ?? {}).map(([k, v]) => [k, v, hashOf(`env/${k}`)] as const),
  ];
  const files = (resolved?.files ?? []).map((f) => ({ value: f.value, hash: hashOf(`file/${f.name}`) }));
  const parameters = ownerParameters(folder, env, files);
  if (parameters.size === 0) return { folder, parameters, boot: undefined, profile: undefined, digest: "" };
  return {
    folder,
    parameters,
    boot: { region, path: folder, files: (resolved?.files ?? []).map((f) => f.path) },
    profile: secretsRoleName(ctx.instanceId, group.metadata.name),
    digest: parametersDigest(parameters),
  };
}

/** The cache key of a group's parameter listing. */
function listingKey(ctx: AwsContext, group: Group): string {
  return `${ctx.region(group)}|${parameterPath(ctx.instanceId, group.metadata.name)}`;
}

/**
 * Before any launch: the group's role exists, and the owner's parameters hold its values (only
 * the changed ones are written, the others in its folder deleted). A pass with nothing changed
 * reads the cached listing only.
 */
export async function syncOwnerSecrets(ctx: AwsContext, group: Group, secrets: OwnerSecrets): Promise<string[]> {
  const key = listingKey(ctx, group);
  const listing = await ctx.parameters.get(key);
  const plan = planParameters(secrets.folder, secrets.parameters, listing);
  if (secrets.profile) await ctx.roles.get(`${ctx.region(group)}|${group.metadata.name}`);
  if (plan.put.length === 0 && plan.remove.length === 0) return [];
  const { ssm } = ctx.clients(ctx.region(group));
  try {
    await writeParameters(ssm, secrets.parameters, plan);
    ctx.parameters.patch(key, (l) => afterWrite(l, secrets.parameters, plan));
  } catch (err) {
    ctx.parameters.invalidate(key);
    throw err;
  }
  return [...plan.put.map((n) => `parameter ${n} put`), ...plan.remove.map((n) => `parameter ${n} delete`)];
}

/** Deletes an owner's parameters (its removal), or every owner's whose uid is not live (garbage). */
export async function removeOwnerParameters(
  ctx: AwsContext,
  group: Group,
  gone: (uid: string) => boolean,
): Promise<string[]> {
  const key = listingKey(ctx, group);
  const path = parameterPath(ctx.instanceId, group.metadata.name);
  const listing = await ctx.parameters.get(key);
  const names = [...listing.keys()].filter((n) => gone(n.slice(path.length).split("/")[0] ?? ""));
  if (names.length === 0) return [];
  try {
    await deleteParameters(ctx.clients(ctx.region(group)).ssm, names);
    ctx.parameters.patch(key, (l) => new Map([...l].filter(([n]) => !names.includes(n))));
  } catch (err) {
    ctx.parameters.invalidate(key);
    throw err;
  }
  return names.map((n) => `parameter ${n} delete`);
}

/** A deleted group's parameters, role and profile; read afresh, since nothing may be left. */
export async function removeGroupSecrets(ctx: AwsContext, group: Group): Promise<void> {
  ctx.parameters.invalidate(listingKey(ctx, group));
  await removeOwnerParameters(ctx, group, () => true);
  await deleteSecretsRole(ctx.clients(ctx.region(group)).iam, ctx.instanceId, group.metadata.name);
  ctx.roles.invalidate(`${ctx.region(group)}|${group.metadata.name}`);
}
