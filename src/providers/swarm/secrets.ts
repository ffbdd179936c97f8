import type { ResolvedSecrets } from "../../secrets/references.js";
import { stableHash } from "../../util/stable-hash.js";
import { LABEL, ownerLabels } from "../ownership.js";
import type { SwarmSnapshot } from "./observe.js";

/** Where the env file goes in a task: Swarm's own secrets folder (a tmpfs on the node). */
export const ENV_FILE_TARGET = "/run/secrets/airloft-env";
/** Sources the env file, then runs the app's own entrypoint and command as they were. */
const WRAPPER = `. ${ENV_FILE_TARGET} && exec "$@"`;

/** One Swarm secret an app's tasks mount: its value never leaves this object but in a create body. */
export interface DesiredSwarmSecret {
  /** airloft-UID-HASH: the app's uid and a hash of the keyed hashes, so a changed value is a new secret. */
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly data: Buffer;
  /** Where it is mounted in the task (an absolute path). */
  readonly target: string;
}

/** An app's Swarm secrets, and what its container spec takes from them. */
export interface SwarmSecrets {
  readonly secrets: readonly DesiredSwarmSecret[];
  /** The wrapper that exports the env file's variables, when there are any. */
  readonly command: readonly string[] | undefined;
}

export interface SecretOwner {
  readonly instance: string;
  readonly group: string;
  readonly name: string;
  readonly uid: string;
}

/**
 * Secret files and variables as Swarm secrets. Variables go in one env file sourced by a shell
 * wrapper before the app starts: a Swarm service's Env is shown whole by `docker service inspect`
 * (and kept in the manager's raft log), while a secret's value is never returned by the API.
 * Names hash the keyed hashes of the values (never the values), so a changed value gives a new
 * name, a new spec, and a rolling update.
 */
export function swarmSecrets(owner: SecretOwner, resolved: ResolvedSecrets | undefined): SwarmSecrets {
  if (!resolved || resolved.digest === "") return { secrets: [], command: undefined };
  const hashes = resolved.hashes ?? {};
  const labels = ownerLabels({ ...owner, kind: "App" });
  const named = (key: string, target: string, data: Buffer): DesiredSwarmSecret => ({
    name: `airloft-${owner.uid}-${stableHash({ key, target, hash: hashes[key] ?? resolved.digest })}`,
    labels,
    data,
    target,
  });
  const secrets = resolved.files.map((f) => named(`file/${f.name}`, f.path, f.value));
  const names = Object.keys(resolved.env).sort();
  if (names.length === 0) return { secrets, command: undefined };
  const envHashes = Object.fromEntries(names.map((n) => [n, hashes[`env/${n}`] ?? resolved.digest]));
  const envFile = names.map((n) => `export ${n}=${shellQuote(resolved.env[n] ?? "")}\n`).join("");
  secrets.push({ ...named("env", ENV_FILE_TARGET, Buffer.from(envFile)), name: envName(owner.uid, envHashes) });
  return { secrets, command: ["/bin/sh", "-c", WRAPPER, "airloft-env"] };
}

function envName(uid: string, envHashes: Record<string, string>): string {
  return `airloft-${uid}-${stableHash({ env: envHashes })}`;
}

/** 'it'\''s': a single-quoted word the shell reads back as the exact value. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The references in a container spec; Swarm wants the ids, which the executor fills in by name. */
export function secretReferences(secrets: readonly DesiredSwarmSecret[]): Array<Record<string, unknown>> {
  return secrets.map((s) => ({
    SecretName: s.name,
    File: { Name: s.target, UID: "0", GID: "0", Mode: 0o444 },
  }));
}

export type SecretOperation =
  | {
      readonly op: "create-secret";
      readonly target: string;
      readonly cause: string;
      readonly secret: DesiredSwarmSecret;
    }
  | { readonly op: "remove-secret"; readonly target: string; readonly cause: string; readonly id: string };

/**
 * The secrets an app needs that are missing, and its own that no service's spec or previous spec
 * names any more (a rollback returns to the previous one, so its secrets stay until the next
 * change). A secret in use elsewhere is never removed: Swarm refuses, and the next pass looks again.
 */
export function planSwarmSecrets(
  owner: SecretOwner,
  target: string,
  wanted: readonly DesiredSwarmSecret[],
  snapshot: SwarmSnapshot,
): SecretOperation[] {
  const ops: SecretOperation[] = [];
  const have = new Set(snapshot.secrets.map((s) => s.name));
  for (const s of wanted)
    if (!have.has(s.name)) ops.push({ op: "create-secret", target, cause: `secret ${s.target} missing`, secret: s });
  const keep = new Set([...wanted.map((s) => s.name), ...snapshot.services.flatMap((s) => s.secretNames)]);
  for (const s of snapshot.secrets)
    if (s.labels[LABEL.uid] === owner.uid && s.labels[LABEL.instance] === owner.instance && !keep.has(s.name))
      ops.push({ op: "remove-secret", target, cause: "unused", id: s.id });
  return ops;
}

/** This installation's secrets in the group whose app is gone (`gone` tells by the app's uid). */
export function planSecretGarbage(
  gone: (uid: string) => boolean,
  snapshot: SwarmSnapshot,
  group: string,
  cause = "owner gone",
): SecretOperation[] {
  return snapshot.secrets
    .filter((s) => s.labels[LABEL.group] === group && gone(s.labels[LABEL.uid] ?? ""))
    .map((s) => ({ op: "remove-secret", target: `app:${group}/${s.labels[LABEL.name] ?? ""}`, cause, id: s.id }));
}
