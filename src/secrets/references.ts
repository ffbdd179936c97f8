import { createHash } from "node:crypto";
import { TerminalError } from "../errors.js";
import { type GroupPullCredentials, groupSecretReferences } from "../resources/group-secrets.js";
import { objectKey } from "../resources/kinds.js";
import type { App, EnvValue, Resource, Secret, Service } from "../resources/types.js";

/** What resolving reads of the store: an object by key, and a Secret's values. */
export interface SecretSource {
  get(key: string): Resource | undefined;
  readonly secrets: { get(obj: Resource): Record<string, Buffer> };
}

/** What an app's references resolve to: values for the provider, and a digest of their hashes. */
export interface ResolvedSecrets {
  readonly env: Readonly<Record<string, string>>;
  /** `name` is SECRET_KEY: unique per secret and key (a secret's name holds no "_"), a file name as it is. */
  readonly files: ReadonlyArray<{ readonly name: string; readonly path: string; readonly value: Buffer }>;
  /** Registry credentials, when spec.imagePullSecret names a Secret. */
  readonly pull?: { readonly registry: string; readonly username: string; readonly password: string };
  /** Changes when a used value changes (it hashes the keyed hashes, never a value). */
  readonly digest: string;
  /** The keyed hash of each value by "env/NAME" and "file/NAME": tells a changed value without it. */
  readonly hashes?: Readonly<Record<string, string>>;
  /** What is missing, in words ("secret db-creds", "key PASSWORD of secret db-creds"). */
  readonly missing: readonly string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const PULL_KEYS = ["registry", "username", "password"] as const;

/**
 * The registry credentials an app reads from its group's settings (as the group's provider
 * declares them), when it names no pull secret of its own; `lookup` finds the group.
 */
export function groupPullFor(
  obj: App | Service,
  lookup: (key: string) => Resource | undefined,
): GroupPullCredentials | undefined {
  if (obj.kind !== "App" || obj.spec.imagePullSecret) return undefined;
  const group = lookup(objectKey("Group", "", obj.metadata.group ?? ""));
  return group?.kind === "Group" ? groupSecretReferences(group).pull : undefined;
}

function isRef(value: EnvValue): value is { secret: string; key: string } {
  return typeof value === "object";
}

/** The names of the Secrets an app or service reads. */
export function secretsUsedBy(obj: App | Service): string[] {
  const names = new Set<string>();
  if (obj.spec.imagePullSecret) names.add(obj.spec.imagePullSecret);
  if (obj.kind === "App") {
    for (const value of Object.values(obj.spec.env ?? {})) if (isRef(value)) names.add(value.secret);
    for (const from of obj.spec.envFrom ?? []) names.add(from.secret);
    for (const file of obj.spec.files ?? []) names.add(file.secret);
  }
  return [...names].sort();
}

/**
 * Resolves an app's (or a service's) secret references in its own group: env, envFrom (each key
 * that can be a variable name), files and the pull secret. The app's plain env wins over envFrom.
 */
export function resolveSecrets(store: SecretSource, obj: App | Service): ResolvedSecrets {
  const group = obj.metadata.group ?? "";
  const missing: string[] = [];
  const found = new Map<string, { secret: Secret; values: Record<string, Buffer> }>();
  const groupAuth = groupPullFor(obj, (key) => store.get(key));
  for (const name of new Set([...secretsUsedBy(obj), ...(groupAuth ? [groupAuth.secret] : [])])) {
    const secret = store.get(objectKey("Secret", group, name));
    if (secret?.kind !== "Secret" || secret.metadata.deletionTimestamp) missing.push(`secret ${name}`);
    else found.set(name, { secret, values: store.secrets.get(secret) });
  }
  const value = (secret: string, key: string): Buffer | undefined => {
    const entry = found.get(secret);
    if (!entry) return undefined;
    // Own keys only: "constructor" is no secret's key unless it has one.
    const v = Object.hasOwn(entry.values, key) ? entry.values[key] : undefined;
    if (v === undefined) missing.push(`key ${key} of secret ${secret}`);
    return v;
  };
  const hashes: Record<string, string> = {};
  const hashOf = (secret: string, key: string) => {
    const keys = found.get(secret)?.secret.spec.keys ?? {};
    return Object.hasOwn(keys, key) ? (keys[key] ?? "") : "";
  };
  // A Map, then own keys: a secret's key "__proto__" is a variable like any other.
  const env = new Map<string, string>();
  const files: Array<{ name: string; path: string; value: Buffer }> = [];
  let pull: ResolvedSecrets["pull"];
  if (obj.kind === "App") {
    for (const from of obj.spec.envFrom ?? []) {
      for (const [key, v] of Object.entries(found.get(from.secret)?.values ?? {}))
        if (ENV_NAME.test(`${from.prefix ?? ""}${key}`)) {
          env.set(`${from.prefix ?? ""}${key}`, v.toString("utf8"));
          hashes[`env/${from.prefix ?? ""}${key}`] = hashOf(from.secret, key);
        }
    }
    for (const [name, ref] of Object.entries(obj.spec.env ?? {})) {
      if (!isRef(ref)) continue;
      const v = value(ref.secret, ref.key);
      if (v === undefined) continue;
      env.set(name, v.toString("utf8"));
      hashes[`env/${name}`] = hashOf(ref.secret, ref.key);
    }
    for (const file of obj.spec.files ?? []) {
      const v = value(file.secret, file.key);
      if (v === undefined) continue;
      files.push({ name: `${file.secret}_${file.key}`, path: file.path, value: v });
      hashes[`file/${file.secret}_${file.key}`] = hashOf(file.secret, file.key);
    }
  }
  if (obj.spec.imagePullSecret && found.has(obj.spec.imagePullSecret)) {
    const [registry, username, password] = PULL_KEYS.map((k) => value(obj.spec.imagePullSecret ?? "", k));
    if (registry && username && password)
      pull = { registry: registry.toString(), username: username.toString(), password: password.toString() };
  }
  if (groupAuth) {
    const [username, password] = [groupAuth.usernameKey, groupAuth.passwordKey].map((k) => value(groupAuth.secret, k));
    if (username && password)
      pull = { registry: groupAuth.registry, username: username.toString(), password: password.toString() };
  }
  const used = [...found].map(([name, { secret }]) => [name, secret.spec.keys ?? {}]);
  // "" when no secret is used: such an app's config hash stays as it was before secrets existed.
  const digest = used.length === 0 ? "" : createHash("sha256").update(JSON.stringify(used)).digest("hex").slice(0, 16);
  return { env: Object.fromEntries(env), files, ...(pull ? { pull } : {}), digest, hashes, missing };
}
