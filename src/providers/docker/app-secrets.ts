import type { App } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import type { AppSecrets } from "./desired.js";
import {
  pruneSecretFiles,
  secretFilesDir,
  secretFilesRoot,
  secretFilesRootPath,
  writeSecretFiles,
} from "./secret-files.js";

/**
 * An app's resolved secrets as its containers take them: variables, and files written to the
 * memory-backed folder (only when the app has files: an engine elsewhere can still take env).
 */
export function prepareAppSecrets(
  address: string,
  env: NodeJS.ProcessEnv,
  instance: string,
  app: App,
  resolved: ResolvedSecrets | undefined,
): AppSecrets {
  if (!resolved || resolved.digest === "") return { env: {}, mounts: [], digest: undefined };
  if (resolved.files.length === 0) return { env: resolved.env, mounts: [], digest: resolved.digest };
  const root = secretFilesRoot(address, env);
  const dir = secretFilesDir(root, instance, app.metadata.uid ?? "", resolved.digest);
  return { env: resolved.env, mounts: writeSecretFiles(dir, resolved.files), digest: resolved.digest };
}

/** Once an app runs only its current config, the files of its earlier ones go; all of them once it is gone. */
export function pruneAppSecretFiles(
  address: string,
  env: NodeJS.ProcessEnv,
  instance: string,
  app: App,
  keep: string | undefined,
): void {
  if (!address.startsWith("unix://")) return;
  pruneSecretFiles(secretFilesRootPath(env), instance, app.metadata.uid ?? "", keep);
}
