import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { TerminalError } from "../errors.js";
import { writePrivateFile } from "../util/private-file.js";

/** One AES-256 key and its id: the id travels with each ciphertext, so a rotation can tell old from new. */
export interface SecretKey {
  readonly id: string;
  readonly key: Buffer;
}

const KEY_BYTES = 32;
export const KEY_ENV = "AIRLOFT_SECRETS_KEY";

/** The keys that can decrypt; the first encrypts. */
export class Keyring {
  constructor(
    readonly keys: readonly SecretKey[],
    /** Where the keys came from, for messages: the variable or the key file. */
    readonly origin: string,
  ) {
    if (keys.length === 0) throw new TerminalError("SecretsKey", `no secrets key in ${origin}`);
  }

  get current(): SecretKey {
    return this.keys[0] as SecretKey;
  }

  byId(id: string): SecretKey | undefined {
    return this.keys.find((k) => k.id === id);
  }
}

/** "state.json" -> "state.json.key": one key file per state file. */
export function keyFilePath(statePath: string): string {
  return `${statePath}.key`;
}

export function newKeyMaterial(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

/** A key given as 64 hex digits or as base64 of 32 bytes; anything else is refused, never padded. */
export function parseKey(text: string, origin: string): SecretKey {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
  if (key.length !== KEY_BYTES)
    throw new TerminalError("SecretsKey", `a key in ${origin} is not 32 bytes (64 hex digits or base64)`);
  return { id: createHash("sha256").update(key).digest("hex").slice(0, 8), key };
}

function parseKeys(text: string, origin: string): Keyring {
  const lines = text
    .split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  return new Keyring(
    lines.map((l) => parseKey(l, origin)),
    origin,
  );
}

/**
 * The keys from $AIRLOFT_SECRETS_KEY (comma-separated, the first encrypts), else from the key file
 * beside the state file, made with mode 0600 when `create` and there is none. A key file that
 * others can read is refused: the key is worth as much as every secret.
 */
export function loadKeyring(statePath: string, options: { create: boolean; env?: NodeJS.ProcessEnv }): Keyring {
  const fromEnv = (options.env ?? process.env)[KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== "") return parseKeys(fromEnv, `$${KEY_ENV}`);
  const file = keyFilePath(statePath);
  if (!existsSync(file)) {
    if (!options.create)
      throw new TerminalError("SecretsKey", `no secrets key: set $${KEY_ENV} or keep the key file ${file}`);
    writePrivateFile(file, `${newKeyMaterial()}\n`);
  }
  if ((statSync(file).mode & 0o077) !== 0)
    throw new TerminalError("SecretsKey", `the key file ${file} can be read by others: chmod 600 it`);
  return parseKeys(readFileSync(file, "utf8"), file);
}

/** Reads the keys when first needed: a writer makes the key file at its first start; a reader may never need it. */
export function keyringLoader(statePath: string, options: { write: boolean; env?: NodeJS.ProcessEnv }): () => Keyring {
  return () => loadKeyring(statePath, { create: options.write, ...(options.env ? { env: options.env } : {}) });
}

/** Whether the keys come from the key file, which a rotation may rewrite (a variable it cannot). */
export function keysFromFile(options: { env?: NodeJS.ProcessEnv }): boolean {
  const fromEnv = (options.env ?? process.env)[KEY_ENV];
  return fromEnv === undefined || fromEnv.trim() === "";
}

export function writeKeyFile(statePath: string, materials: readonly string[]): void {
  writePrivateFile(keyFilePath(statePath), `${materials.join("\n")}\n`);
}
