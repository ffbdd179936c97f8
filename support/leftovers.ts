import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";

const run = promisify(execFile);

/**
 * What an earlier run killed before its after-hook left on the machine: a test engine's folder
 * and mounts, the bridges of its networks, a swarm's namespaces and bridge. A fresh machine has
 * none of it; a machine that runs the tests again must not fail on it (a bridge name that already
 * exists) or run out of address pools (each stale bridge holds a /16 docker would hand out).
 */

/** Folders under the temp dir whose name starts with `prefix` and whose dockerd is not alive. */
export function deadEngineFolders(prefix: string): string[] {
  return readdirSync(tmpdir())
    .filter((name) => name.startsWith(prefix))
    .map((name) => join(tmpdir(), name))
    .filter((dir) => !folderInUse(dir));
}

/** A folder is in use while a process named after it runs (a dockerd, its containerd, a shim). */
function folderInUse(dir: string): boolean {
  const pidFile = join(dir, "dockerd.pid");
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (pid > 0 && processAlive(pid)) return true;
  }
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
      } catch {
        return false;
      }
    });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Unmounts what dockerd left mounted under `dir` (deepest first) and removes the folder. */
export async function removeFolder(dir: string): Promise<void> {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((path) => path.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const path of mounts) await run("umount", ["-l", path]).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Removes `br-<id>` bridges on the host that no answering dockerd owns, with their ports:
 * docker names a network's bridge after its id and leaves it behind when the daemon dies.
 * The daemons asked are the test engines still running (their folders) and the system one.
 */
export async function removeOrphanBridges(enginePrefix: string): Promise<void> {
  const folders = readdirSync(tmpdir())
    .filter((name) => name.startsWith(enginePrefix))
    .map((name) => join(tmpdir(), name));
  // Another run's engine is live: a network it makes between our reads would look orphaned.
  // Its leftovers wait for a start with no other run beside it.
  if (folders.some((dir) => folderInUse(dir))) return;
  const sockets = folders
    .map((dir) => join(dir, "docker.sock"))
    .concat("/var/run/docker.sock")
    .filter((socket) => existsSync(socket));
  const owned = new Set<string>();
  for (const socketPath of sockets) {
    const networks = await new Docker({ socketPath, timeout: 5_000 }).listNetworks().catch(() => undefined);
    // A socket that exists but does not answer may be a daemon starting: its bridges are not ours to take.
    if (!networks) return;
    for (const n of networks) owned.add(n.Id.slice(0, 12));
  }
  const links = JSON.parse((await run("ip", ["-j", "link", "show"])).stdout) as { ifname: string; master?: string }[];
  const orphans = new Set(
    links
      .map((l) => l.ifname)
      .filter((name) => {
        const id = /^br-([0-9a-f]{12})$/.exec(name)?.[1];
        return id !== undefined && !owned.has(id);
      }),
  );
  // Their ports first: the veths of containers that died with the daemon.
  const doomed = links.filter((l) => l.master && orphans.has(l.master)).map((l) => l.ifname);
  for (const name of [...doomed, ...orphans]) await run("ip", ["link", "del", name]).catch(() => undefined);
  await removeStaleMasquerades();
}

/**
 * A killed dockerd also leaves its NAT rules: `-s SUBNET ! -o br-OLD -j MASQUERADE` rewrites the
 * source of every packet from that subnet that does not leave through the old bridge. Once a new
 * network gets the subnet again, even traffic between two containers on its bridge (bridged
 * frames pass iptables here) arrives from the gateway's address. A rule for an interface that
 * no longer exists belongs to no live daemon.
 */
async function removeStaleMasquerades(): Promise<void> {
  const links = JSON.parse((await run("ip", ["-j", "link", "show"])).stdout) as { ifname: string }[];
  const present = new Set(links.map((l) => l.ifname));
  const rules = (await run("iptables", ["-t", "nat", "-S", "POSTROUTING"])).stdout.split("\n");
  for (const rule of rules) {
    const iface = /^-A POSTROUTING -s \S+ ! -o (\S+) -j MASQUERADE$/.exec(rule)?.[1];
    if (!iface || present.has(iface)) continue;
    const args = rule.replace(/^-A /, "-D ").split(" ");
    await run("iptables", ["-t", "nat", ...args]).catch(() => undefined);
  }
}
