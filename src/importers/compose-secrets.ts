import { relative, resolve } from "node:path";
import type { AppSpec } from "../resources/types.js";
import { type ComposeSecrets, dnsName, ENV_NAME, type Path, type Report, type SecretSource } from "./report.js";

type Fields = Record<string, unknown>;

/** A Secret key is `[-._a-zA-Z0-9]{1,253}` (schemas/common.schema.json#/$defs/secretKey). */
const KEY_CHARS = /[^-._a-zA-Z0-9]/g;
const MAX_KEY = 253;
/** An App file's path: absolute, without `..` parts (schemas/app.schema.json, spec.files). */
const FILE_PATH = /^(?!.*\/\.{1,2}(\/|$))\/([A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]+$/;
const OWNER_REASON = "AirLoft mounts secret files read-only with its own owner and mode";

/**
 * Top-level `secrets:` as keys of one Secret, with no manifest: the values are never in the
 * output, and an empty Secret manifest would do harm, as an apply replaces a Secret's keys (a
 * later `apply -f` of the imported folder would wipe what `secret set` stored). Nor is one needed
 * for ordering: an app whose Secret is missing waits with SecretNotFound and rolls once
 * `airloft secret set` (printed by the CLI, see secretCommands) has made it.
 */
export function composeSecrets(value: Fields, group: string, composeDir: string, report: Report): ComposeSecrets {
  const secret = dnsName(`${group}-secrets`) ?? "secrets";
  const keys = new Map<string, { key: string; source: SecretSource }>();
  const taken = new Set<string>();
  for (const [name, raw] of Object.entries((value.secrets ?? {}) as Fields)) {
    const at: Path = ["secrets", name];
    const def = (raw ?? {}) as Fields;
    const base = name.replace(KEY_CHARS, "_").slice(0, MAX_KEY);
    let key = base;
    for (let n = 2; taken.has(key); n++) key = `${base.slice(0, MAX_KEY - String(n).length - 1)}-${n}`;
    taken.add(key);
    if (key !== name)
      report.change(at, `is key ${key} of Secret ${secret}: a key is at most ${MAX_KEY} of [-._a-zA-Z0-9]`);
    let source: SecretSource;
    if (typeof def.file === "string") source = { file: resolve(composeDir, def.file) };
    else if (typeof def.environment === "string" && ENV_NAME.test(def.environment)) {
      source = { environment: def.environment };
      report.change(
        [...at, "environment"],
        `from the variable on standard input: printf %s "$${def.environment}" | airloft secret set ... ${key}=-`,
      );
    } else if (def.environment !== undefined) {
      source = { external: true };
      report.change([...at, "environment"], `is not a variable name: give the value on standard input (... ${key}=-)`);
    } else {
      source = { external: true };
      const outside = typeof def.name === "string" ? ` (${def.name})` : "";
      report.change(at, `its value is outside the Compose file${outside}: give it on standard input (... ${key}=-)`);
    }
    for (const field of Object.keys(def))
      if (!["file", "environment", "external"].includes(field) && !(field === "name" && "external" in source))
        report.refuse(
          [...at, field],
          `${field} has no AirLoft equivalent: the value is key ${key} of Secret ${secret}`,
        );
    keys.set(name, { key, source });
  }
  return { secret, group, keys };
}

/**
 * A service's `secrets:` (`- NAME` or `{source, target, uid, gid, mode}`) as App files: Compose
 * mounts them at /run/secrets/<target or name>, an absolute target as it is.
 */
export function secretFiles(raw: unknown, at: Path, secrets: ComposeSecrets, report: Report): AppSpec["files"] {
  const files: NonNullable<AppSpec["files"]> = [];
  (Array.isArray(raw) ? raw : []).forEach((item, i) => {
    const entry: Fields = typeof item === "string" ? { source: item } : ((item ?? {}) as Fields);
    const source = String(entry.source ?? "");
    const target = String(entry.target ?? source);
    const path = target.startsWith("/") ? target : `/run/secrets/${target}`;
    const known = secrets.keys.get(source);
    for (const field of ["uid", "gid", "mode"])
      if (entry[field] !== undefined) report.refuse([...at, i, field], OWNER_REASON);
    if (!known) report.refuse([...at, i], `${source} is not under the top-level secrets`);
    else if (!FILE_PATH.test(path)) report.refuse([...at, i], `${path} is not an absolute path without .. parts`);
    else files.push({ secret: secrets.secret, key: known.key, path });
  });
  return files.length > 0 ? files : undefined;
}

/** A word as a POSIX shell reads it back unchanged. */
function shellQuote(word: string): string {
  return /^[-A-Za-z0-9._/=:@%+,]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * One `airloft secret set` per compose secret, run from `cwd`: a file's path (resolved against
 * the Compose file's folder, as Compose does) is given relative to `cwd`.
 */
export function secretCommands(secrets: ComposeSecrets, cwd: string): string[] {
  return [...secrets.keys.values()].map(({ key, source }) => {
    const set = `airloft secret set ${shellQuote(secrets.secret)} -g ${shellQuote(secrets.group)}`;
    if ("file" in source) return `${set} --from-file ${shellQuote(`${key}=${relative(cwd, source.file)}`)}`;
    // A key may start with "-": after "--" it is not read as an option.
    const stdin = `${key.startsWith("-") ? "-- " : ""}${shellQuote(`${key}=-`)}`;
    if ("environment" in source) return `printf %s "$${source.environment}" | ${set} ${stdin}`;
    return `${set} ${stdin}`;
  });
}
