import { readFileSync } from "node:fs";
import { keyFilePath, keysFromFile, newKeyMaterial, writeKeyFile } from "./keyring.js";

/**
 * Re-seals every value under a new key. With the key file: the new key is written first beside
 * the old (a crash midway leaves both readable), everything is re-sealed and durably written,
 * then the old key is dropped. With $AIRLOFT_SECRETS_KEY the operator brings the keys
 * ("new,old"): everything is re-sealed under the first. Returns how many values were sealed.
 */
/** What rotation needs of the store: where its key file is, and its sealed values. */
export interface SealedStore {
  readonly path: string;
  readonly secrets: { reseal(): Promise<number> };
}

export async function rotateSecretsKey(store: SealedStore, options: { env?: NodeJS.ProcessEnv } = {}): Promise<number> {
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
