import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { TerminalError } from "../errors.js";
import type { Keyring } from "./keyring.js";

/**
 * AES-256-GCM through Node's crypto: a random 12-byte nonce per value, and the value's place
 * (kind/group/name/key) as associated data, so that a ciphertext copied to another secret or key
 * fails to decrypt. Stored as "v1:<key id>:<nonce>:<ciphertext and tag>", base64url parts.
 */
const PREFIX = "v1";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function isSealed(text: string): boolean {
  return text.startsWith(`${PREFIX}:`);
}

export function seal(keys: Keyring, place: string, value: Buffer): string {
  const { id, key } = keys.current;
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(place));
  const body = Buffer.concat([cipher.update(value), cipher.final(), cipher.getAuthTag()]);
  return [PREFIX, id, nonce.toString("base64url"), body.toString("base64url")].join(":");
}

/** The value, or a clear error naming the place (never the value) when the ciphertext was changed or moved. */
export function open(keys: Keyring, place: string, sealed: string): Buffer {
  const [prefix, id = "", nonceText = "", bodyText = ""] = sealed.split(":");
  if (prefix !== PREFIX) throw new TerminalError("SecretCorrupt", `secret value ${place} is not in a known format`);
  const found = keys.byId(id);
  if (!found)
    throw new TerminalError(
      "SecretsKey",
      `secret value ${place} was encrypted with key ${id}, which ${keys.origin} does not hold`,
    );
  const nonce = Buffer.from(nonceText, "base64url");
  const body = Buffer.from(bodyText, "base64url");
  if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES)
    throw new TerminalError("SecretCorrupt", `secret value ${place} is damaged`);
  try {
    const decipher = createDecipheriv("aes-256-gcm", found.key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(place));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw new TerminalError(
      "SecretCorrupt",
      `secret value ${place} failed its integrity check: it was changed or moved in the state file`,
      { cause: err },
    );
  }
}

/**
 * What may be shown of a value: a keyed hash (HMAC-SHA256 under the installation's hash key,
 * itself kept encrypted), so that a low-entropy value cannot be found by hashing guesses.
 */
export function keyedHash(hashKey: Buffer, value: Buffer): string {
  return `sha256:${createHmac("sha256", hashKey).update(value).digest("hex").slice(0, 16)}`;
}
