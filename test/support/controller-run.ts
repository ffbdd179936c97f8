import { rmSync } from "node:fs";
import { join } from "node:path";
import { airloft, type BackgroundCli } from "./cli.js";

/**
 * The end of a suite that ran `watch` or `controller` on a state file in `dir`: stops it, deletes
 * the group with everything in it from the engine, and removes the folder.
 */
export async function endControllerRun(
  controller: BackgroundCli | undefined,
  dir: string | undefined,
  group: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  await controller?.stop();
  if (!dir) return;
  await airloft(["--state", join(dir, "state.json"), "delete", `group/${group}`, "--cascade", "--timeout", "90s"], {
    env,
    cwd: dir,
  });
  rmSync(dir, { recursive: true, force: true });
}
