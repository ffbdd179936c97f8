import { readFileSync } from "node:fs";
import type { Store } from "../store/store.js";
import { keyFilePath, keysFromFile, newKeyMaterial, writeKeyFile } from "./keyring.js";

/**
 * Re-seals every value under a new key. With the key file: the new key is written first beside
 * the old (a crash midway leaves both readable), everything is re-sealed and durably written,
 * then the old key is dropped. With $AIRLOFT_SECRETS_KEY the operator brings the keys
 * ("new,old"): everything is re-sealed under the first. Returns how many values were sealed.
 */
export async function rotateSecretsKey(store: Store, options: { env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  if (!keysFromFile(options)) return store.secrets.reseal();
  const old = readFileSync(keyFilePath(store.path), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const fresh = newKeyMaterial();
  writeKeyFile(store.path, [fresh, ...old]);
  const count = await store.secrets.reseal();
  writeKeyFile(store.path, [fresh]);
  return count;
}
