import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/** The folder's git commit, read from .git without running git; undefined outside a checkout. */
export function gitRevision(dir: string): string | undefined {
  let current = dir;
  for (;;) {
    const gitPath = join(current, ".git");
    if (existsSync(gitPath))
      return readHead(statSync(gitPath).isDirectory() ? gitPath : worktreeGitDir(gitPath, current));
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/** A worktree or submodule has a .git file: "gitdir: PATH". */
function worktreeGitDir(file: string, base: string): string {
  const target = readFileSync(file, "utf8")
    .replace(/^gitdir:\s*/, "")
    .trim();
  return target.startsWith("/") ? target : join(base, target);
}

function readHead(gitDir: string): string | undefined {
  try {
    const head = readFileSync(join(gitDir, "HEAD"), "utf8").trim();
    if (!head.startsWith("ref: ")) return head; // detached
    const ref = head.slice(5);
    const loose = join(gitDir, ref);
    if (existsSync(loose)) return readFileSync(loose, "utf8").trim();
    // Refs packed by `git gc` live in packed-refs; a worktree's common dir holds them.
    const common = existsSync(join(gitDir, "commondir"))
      ? join(gitDir, readFileSync(join(gitDir, "commondir"), "utf8").trim())
      : gitDir;
    for (const dir of [gitDir, common]) {
      const packed = join(dir, "packed-refs");
      if (!existsSync(packed)) continue;
      const line = readFileSync(packed, "utf8")
        .split("\n")
        .find((l) => l.endsWith(` ${ref}`));
      if (line) return line.split(" ")[0];
      const looseCommon = join(dir, ref);
      if (existsSync(looseCommon)) return readFileSync(looseCommon, "utf8").trim();
    }
    return undefined;
  } catch {
    return undefined;
  }
}
