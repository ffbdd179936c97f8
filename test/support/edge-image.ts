import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "./cli.js";

/** The edge's Caddy image the end-to-end tests run (made locally: there is no registry). */
export const EDGE_IMAGE = "airloft-test/caddy:2";

/** Debian's caddy as EDGE_IMAGE on the engine at `host` (scripts/caddy-image.sh; kept once made). */
export async function caddyImage(host: string): Promise<void> {
  await promisify(execFile)("sh", [join(REPO_ROOT, "scripts/caddy-image.sh"), EDGE_IMAGE], {
    env: { ...process.env, DOCKER_HOST: host },
  });
}
