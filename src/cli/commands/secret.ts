import { readFileSync } from "node:fs";
import { formatAge } from "../../util/duration.js";
import { type ClientOptions, withClient } from "../client/open.js";
import { UsageError } from "../context.js";
import { renderTable } from "../output.js";

export interface SecretOptions extends ClientOptions {
  readonly group?: string;
  readonly fromFile?: string[];
}

/** Where `KEY=-` reads its value: standard input, whole (a trailing newline kept as given). */
export type StdinReader = () => Buffer;
const readStdin: StdinReader = () => readFileSync(0);

function split(pair: string, what: string): [string, string] {
  const at = pair.indexOf("=");
  if (at <= 0) throw new UsageError(`expected ${what}, got ${JSON.stringify(pair.slice(0, 40))}`);
  return [pair.slice(0, at), pair.slice(at + 1)];
}

/**
 * The values of `secret set`: KEY=VALUE (a known risk: the shell's history keeps it), KEY=- from
 * standard input (one key at most), --from-file KEY=path. Nothing here is ever printed.
 */
export function parseValues(
  pairs: readonly string[],
  files: readonly string[],
  stdin: StdinReader,
): Record<string, Buffer> {
  // A Map, then own keys: "__proto__" is a key like any other.
  const values = new Map<string, Buffer>();
  let fromStdin: string | undefined;
  for (const pair of pairs) {
    const [key, value] = split(pair, "KEY=VALUE or KEY=-");
    if (value === "-") {
      if (fromStdin !== undefined)
        throw new UsageError(`only one key can read standard input: ${fromStdin} and ${key}`);
      fromStdin = key;
      values.set(key, stdin());
    } else values.set(key, Buffer.from(value, "utf8"));
  }
  for (const pair of files) {
    const [key, path] = split(pair, "KEY=path");
    try {
      values.set(key, readFileSync(path));
    } catch (err) {
      throw new UsageError(`--from-file ${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
  return Object.fromEntries(values);
}

function needGroup(options: SecretOptions): string {
  if (!options.group) throw new UsageError("name the secret's group with -g GROUP");
  return options.group;
}

export function secretSetCommand(
  name: string,
  pairs: string[],
  options: SecretOptions,
  stdin: StdinReader = readStdin,
): Promise<number> {
  const group = needGroup(options);
  const values = parseValues(pairs, options.fromFile ?? [], stdin);
  if (Object.keys(values).length === 0)
    throw new UsageError("give at least one KEY=VALUE, KEY=- or --from-file KEY=path");
  return withClient(options, { write: true, command: "airloft secret set" }, async (client) => {
    const change = await client.updateSecret({ group, name, set: values, unset: [] });
    process.stdout.write(`${change.display} ${change.action} (set ${Object.keys(values).sort().join(", ")})\n`);
    return 0;
  });
}

export function secretUnsetCommand(name: string, keys: string[], options: SecretOptions): Promise<number> {
  const group = needGroup(options);
  if (keys.length === 0) throw new UsageError("name at least one KEY to unset");
  return withClient(options, { write: true, command: "airloft secret unset" }, async (client) => {
    const change = await client.updateSecret({ group, name, set: {}, unset: keys });
    process.stdout.write(`${change.display} ${change.action} (unset ${keys.join(", ")})\n`);
    return 0;
  });
}

/** Names, keys and the keyed hash of each value: what changed can be seen, never what it is. */
export function secretListCommand(options: SecretOptions): Promise<number> {
  return withClient(options, { write: false, command: "airloft secret list" }, async (client) => {
    const secrets = await client.list({ kind: "Secret", ...(options.group ? { group: options.group } : {}) });
    const rows = secrets.map((s) => {
      const keys = s.kind === "Secret" ? (s.spec.keys ?? {}) : {};
      return [
        s.metadata.group ?? "-",
        s.metadata.name,
        Object.entries(keys)
          .map(([k, h]) => `${k}(${h.replace(/^sha256:/, "").slice(0, 8)})`)
          .join(",") || "-",
        formatAge(s.metadata.creationTimestamp),
      ];
    });
    process.stdout.write(renderTable(["GROUP", "NAME", "KEYS(HASH)", "AGE"], rows));
    return 0;
  });
}

export function secretRotateCommand(options: ClientOptions): Promise<number> {
  return withClient(options, { write: true, command: "airloft secret rotate-key" }, async (client) => {
    const count = await client.rotateSecretsKey();
    process.stdout.write(`re-encrypted ${count} secret values under a new key\n`);
    return 0;
  });
}
