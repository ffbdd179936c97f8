import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TerminalError } from "../../errors.js";

/** statfs's f_type of tmpfs: memory, which a reboot empties and no disk ever holds. */
const TMPFS_MAGIC = 0x01021994;
export const SECRET_FILES_ENV = "AIRLOFT_SECRET_FILES_DIR";
const DEFAULT_ROOT = "/dev/shm/airloft-secrets";

export interface SecretMount {
  readonly source: string;
  readonly target: string;
}

/**
 * Secret files on Docker: written to a memory-backed folder of this machine (tmpfs, checked),
 * readable by root only along the way (0700 folders), and bind-mounted read-only into the
 * containers. Docker's own tmpfs mounts cannot be filled before a container starts (an archive
 * put before start lands in the container's layer, on disk), and writing after start needs a shell
 * in the image and races the app; a host tmpfs has neither problem. It needs the engine on this
 * machine: an engine reached over tcp or ssh is refused rather than given a path it cannot see.
 */
export function secretFilesRoot(address: string, env: NodeJS.ProcessEnv): string {
  if (!address.startsWith("unix://"))
    throw new TerminalError(
      "SecretFilesUnsupported",
      `secret files need the Docker engine on this machine (a unix socket), not ${address}`,
    );
  const root = secretFilesRootPath(env);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  chmodSync(root, 0o700);
  if (statfsSync(root).type !== TMPFS_MAGIC)
    throw new TerminalError(
      "SecretFilesNotInMemory",
      `${root} is not a tmpfs: secret files are never written to disk; set ${SECRET_FILES_ENV} to a tmpfs folder`,
    );
  return root;
}

export function secretFilesRootPath(env: NodeJS.ProcessEnv): string {
  return env[SECRET_FILES_ENV] || DEFAULT_ROOT;
}

/** The folder of one app's files at one digest of its secrets: replicas of that config share it. */
export function secretFilesDir(root: string, instance: string, uid: string, digest: string): string {
  return join(root, instance, uid, digest);
}

/**
 * Writes the files (0444: the app may run as any user) unless there already; returns their mounts.
 * A file is named by its secret and key: the folder is one digest of the values, so a name there
 * always holds the same value, whichever paths the app mounts it at.
 */
export function writeSecretFiles(
  dir: string,
  files: ReadonlyArray<{ readonly name: string; readonly path: string; readonly value: Buffer }>,
): SecretMount[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return files.map((file) => {
    const source = join(dir, file.name);
    if (!existsSync(source)) {
      const temp = `${source}.${randomBytes(6).toString("hex")}.tmp`;
      writeFileSync(temp, file.value, { mode: 0o444, flag: "wx" });
      renameSync(temp, source);
    }
    return { source, target: file.path };
  });
}

/** Removes an app's folders but `keep` (all of them when it is undefined: the app is gone). */
export function pruneSecretFiles(root: string, instance: string, uid: string, keep?: string): void {
  const appDir = join(root, instance, uid);
  if (!existsSync(appDir)) return;
  if (keep === undefined) {
    rmSync(appDir, { recursive: true, force: true });
    return;
  }
  for (const entry of readdirSync(appDir))
    if (entry !== keep) rmSync(join(appDir, entry), { recursive: true, force: true });
}
