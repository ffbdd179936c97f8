import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { deadEngineFolders, removeFolder, removeOrphanBridges } from "./leftovers.js";

const run = promisify(execFile);

/**
 * A private Docker engine for the end-to-end tests and the benchmarks: Debian's dockerd with its
 * own data root, exec root, pidfile and socket under a temp folder, started once and stopped after
 * the run.
 */
export interface TestEngine {
  readonly host: string;
  readonly docker: Docker;
  readonly dir: string;
}

interface EngineState {
  started: Promise<TestEngine> | undefined;
  daemon: ChildProcess | undefined;
  dir: string | undefined;
}

/**
 * Kept on globalThis: mocha loads the root hooks through require() and the test files through
 * import, which can make two instances of this module; there must be one engine all the same.
 */
const state: EngineState = ((globalThis as { __airloftTestEngine?: EngineState }).__airloftTestEngine ??= {
  started: undefined,
  daemon: undefined,
  dir: undefined,
});

const BUSYBOX_IMAGE = "airloft-examples/busybox:1";
export const TEST_IMAGE = BUSYBOX_IMAGE;

/** Why the engine cannot run here, or undefined when it can. */
export function engineUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return "the end-to-end tests start a private dockerd, which needs root";
  for (const bin of ["/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/busybox"]) {
    if (!existsSync(bin)) return `${bin} is missing (apt-get install docker.io busybox-static)`;
  }
  return undefined;
}

export function useEngine(): Promise<TestEngine> {
  state.started ??= startEngine();
  return state.started;
}

const FOLDER_PREFIX = "airloft-e2e-";

async function startEngine(): Promise<TestEngine> {
  // An earlier run killed before its after-hook left its folder, mounts and bridges behind.
  for (const stale of deadEngineFolders(FOLDER_PREFIX)) await removeFolder(stale);
  await removeOrphanBridges(FOLDER_PREFIX);
  const dir = mkdtempSync(join(tmpdir(), FOLDER_PREFIX));
  state.dir = dir;
  const socket = join(dir, "docker.sock");
  const docker = new Docker({ socketPath: socket });
  await runDaemon(dir, docker);
  const host = `unix://${socket}`;
  const env = { ...process.env, DOCKER_HOST: host };
  await run("sh", [join(process.cwd(), "scripts/busybox-image.sh"), BUSYBOX_IMAGE], { env });
  return {
    host,
    docker,
    dir,
  };
}

/** Starts dockerd on the engine's folder (its data survives a restart) and waits until it answers. */
async function runDaemon(dir: string, docker: Docker): Promise<void> {
  const log = openSync(join(dir, "dockerd.log"), "a");
  const daemon = spawn(
    "/usr/sbin/dockerd",
    [
      "--data-root",
      join(dir, "data"),
      "--exec-root",
      join(dir, "exec"),
      "--pidfile",
      join(dir, "dockerd.pid"),
      "--host",
      `unix://${join(dir, "docker.sock")}`,
      "--storage-driver",
      "vfs",
      "--bridge",
      "none",
      "--iptables=true",
    ],
    { stdio: ["ignore", log, log], detached: false },
  );
  state.daemon = daemon;
  // A safety net for runs that end without the root afterAll hook (a crash, a timeout kill).
  process.once("exit", () => {
    if (daemon.exitCode === null) daemon.kill("SIGKILL");
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await docker.ping();
      return;
    } catch {
      if (daemon.exitCode !== null || Date.now() > deadline) {
        const tail = readFileSync(join(dir, "dockerd.log"), "utf8").split("\n").slice(-15).join("\n");
        throw new Error(`dockerd did not start:\n${tail}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Stops the daemon (SIGTERM, as a service manager would) and waits until its processes are gone. */
async function haltDaemon(): Promise<void> {
  const { daemon, dir } = state;
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((r) => daemon.once("exit", r));
    daemon.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (daemon.exitCode === null) daemon.kill("SIGKILL");
  }
  state.daemon = undefined;
  // dockerd's containerd may outlive it by a moment and keep writing under exec/.
  for (let i = 0; dir && i < 40; i++) {
    const left = await run("pgrep", ["-f", dir]).then(
      () => true,
      () => false,
    );
    if (!left) break;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** An outage: the engine stops, `during` runs, and the engine starts again on the same data. */
export async function engineOutage<T>(during: () => Promise<T>): Promise<T> {
  const engine = await useEngine();
  await haltDaemon();
  try {
    return await during();
  } finally {
    await runDaemon(engine.dir, engine.docker);
  }
}

/** Removes every container, stops the daemon and deletes its folder. */
export async function stopEngine(): Promise<void> {
  if (!state.started) return;
  const engine = await state.started.catch(() => undefined);
  state.started = undefined;
  if (engine) {
    const containers = await engine.docker.listContainers({ all: true }).catch(() => []);
    await Promise.all(
      containers.map((c) =>
        engine.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    // A network's bridge outlives the daemon: the networks go while it still runs.
    await engine.docker.pruneNetworks().catch(() => undefined);
  }
  const engineDir = state.dir;
  await haltDaemon();
  state.dir = undefined;
  if (engineDir) {
    // vfs layers can hold read-only files: a plain recursive rm handles them as root.
    await run("umount", ["-R", join(engineDir, "exec")]).catch(() => undefined);
    rmSync(engineDir, { recursive: true, force: true, maxRetries: 3 });
  }
}
