import { randomBytes } from "node:crypto";
import { renameSync, rmSync, writeFileSync } from "node:fs";

/**
 * Writes a file only its owner can read, replacing whatever is at `path` atomically: a new file
 * made with O_EXCL (so no link is followed and no earlier mode is kept), then renamed over the
 * path (a rename replaces a symbolic link itself, never its target).
 */
export function writePrivateFile(path: string, content: string): void {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    writeFileSync(temp, content, { mode: 0o600, flag: "wx" });
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
