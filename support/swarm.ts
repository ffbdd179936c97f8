import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { TEST_IMAGE } from "./engine.js";
import { deadEngineFolders, removeFolder } from "./leftovers.js";

const run = promisify(execFile);

/**
 * A real three-node swarm on one machine (DESIGN.md, "A real multi-node swarm"): three dockerd,
 * each in its own network namespace on a test bridge, one manager and two workers. The names and
 * the subnet are unlikely to clash with anything else on the machine; traffic stays on the bridge.
 */
const BRIDGE = "alswbr0";
const SUBNET = "10.231.0";
/** The host's address on the bridge: a registry the tests start there is reached by every node. */
export const BRIDGE_ADDRESS = `${SUBNET}.254`;
const NODES = 3;
const FOLDER_PREFIX = "airloft-swarm-";
export const SWARM_REDIS_IMAGE = "airloft-test/redis:1";
export const SWARM_TEST_IMAGE = TEST_IMAGE;

export interface SwarmNode {
  readonly index: number;
  /** The node's address on the bridge, 10.231.0.N. */
  readonly ip: string;
  readonly netns: string;
  /** unix:// socket of this node's dockerd. */
  readonly host: string;
  readonly docker: Docker;
  readonly dir: string;
  /** The node's name in the swarm (its hostname, shared by all: the swarm id tells them apart). */
  nodeId: string;
  daemon: ChildProcess | undefined;
}

export interface TestSwarm {
  /** The manager's socket: what a Group's spec.swarm.host names. */
  readonly host: string;
  readonly nodes: readonly SwarmNode[];
  readonly dir: string;
}

interface SwarmState {
  started: Promise<TestSwarm> | undefined;
  made: { bridge: boolean; rule: boolean; netns: string[]; dir: string | undefined; nodes: SwarmNode[] };
}

const state: SwarmState = ((globalThis as { __airloftTestSwarm?: SwarmState }).__airloftTestSwarm ??= {
  started: undefined,
  made: { bridge: false, rule: false, netns: [], dir: undefined, nodes: [] },
});

/** Why the swarm cannot run here, or undefined when it can. */
export function swarmUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return "the swarm tests make network namespaces and start dockerd, which needs root";
  for (const bin of ["/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/busybox", "/usr/sbin/ip", "/usr/bin/nsenter"]) {
    if (!existsSync(bin)) return `${bin} is missing (apt-get install docker.io busybox-static iproute2 util-linux)`;
  }
  if (!existsSync("/usr/sbin/iptables")) return "/usr/sbin/iptables is missing (apt-get install iptables)";
  return undefined;
}

export function useSwarm(): Promise<TestSwarm> {
  state.started ??= startSwarm();
  return state.started;
}

const sh = (cmd: string, args: string[]) => run(cmd, args).then(() => undefined);

async function startSwarm(): Promise<TestSwarm> {
  await removeLeftovers();
  const dir = mkdtempSync(join(tmpdir(), FOLDER_PREFIX));
  state.made.dir = dir;
  await sh("ip", ["link", "add", BRIDGE, "type", "bridge"]);
  state.made.bridge = true;
  await sh("ip", ["addr", "add", `${BRIDGE_ADDRESS}/24`, "dev", BRIDGE]);
  await sh("ip", ["link", "set", BRIDGE, "up"]);
  // The host's FORWARD policy is DROP once a dockerd ran; bridged traffic between nodes passes it.
  await sh("iptables", ["-I", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"]);
  state.made.rule = true;
  const nodes: SwarmNode[] = [];
  for (let i = 1; i <= NODES; i++) nodes.push(await makeNode(dir, i));
  state.made.nodes = nodes;
  await Promise.all(nodes.map((n) => runDaemon(n)));
  await formSwarm(nodes);
  // Each node has its own images: there is no registry between them.
  for (const node of nodes) {
    const env = { ...process.env, DOCKER_HOST: node.host };
    await run("sh", [join(process.cwd(), "scripts/busybox-image.sh"), SWARM_TEST_IMAGE], { env });
    await run("sh", [join(process.cwd(), "scripts/redis-image.sh"), SWARM_REDIS_IMAGE], { env });
  }
  const manager = nodes[0] as SwarmNode;
  return { host: manager.host, nodes, dir };
}

async function makeNode(dir: string, index: number): Promise<SwarmNode> {
  const netns = `alsw${index}`;
  const veth = `alswv${index}`;
  const ip = `${SUBNET}.${index}`;
  await sh("ip", ["netns", "add", netns]);
  state.made.netns.push(netns);
  await sh("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns]);
  await sh("ip", ["link", "set", veth, "master", BRIDGE, "up"]);
  await sh("ip", ["-n", netns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
  await sh("ip", ["-n", netns, "link", "set", "eth0", "up"]);
  await sh("ip", ["-n", netns, "link", "set", "lo", "up"]);
  const nodeDir = join(dir, `n${index}`);
  mkdirSync(nodeDir, { recursive: true });
  const socket = join(nodeDir, "docker.sock");
  return {
    index,
    ip,
    netns,
    host: `unix://${socket}`,
    docker: new Docker({ socketPath: socket }),
    dir: nodeDir,
    nodeId: "",
    daemon: undefined,
  };
}

/** Starts the node's dockerd inside its namespace (nsenter: `ip netns exec` remounts /sys) and waits for it. */
export async function runDaemon(node: SwarmNode): Promise<void> {
  const log = openSync(join(node.dir, "dockerd.log"), "a");
  const daemon = spawn(
    "/usr/bin/nsenter",
    [
      `--net=/var/run/netns/${node.netns}`,
      "/usr/sbin/dockerd",
      "--data-root",
      join(node.dir, "data"),
      "--exec-root",
      join(node.dir, "exec"),
      "--pidfile",
      join(node.dir, "dockerd.pid"),
      "--host",
      node.host,
      "--storage-driver",
      "vfs",
      // A test registry on the bridge speaks plain HTTP.
      "--insecure-registry",
      `${SUBNET}.0/24`,
      // The benchmark counts API calls from the manager's log of each request. Debug logs carry
      // request bodies (env), so only the benchmark, which has no secrets, turns it on.
      ...(process.env.AIRLOFT_SWARM_DEBUG === "1" ? ["--debug"] : []),
    ],
    { stdio: ["ignore", log, log] },
  );
  node.daemon = daemon;
  process.once("exit", () => {
    if (daemon.exitCode === null) daemon.kill("SIGKILL");
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await node.docker.ping();
      return;
    } catch {
      if (daemon.exitCode !== null || Date.now() > deadline) {
        const tail = readFileSync(join(node.dir, "dockerd.log"), "utf8").split("\n").slice(-15).join("\n");
        throw new Error(`dockerd of node ${node.index} did not start:\n${tail}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Node 1 manages; the others join as workers. A short heartbeat so a lost node is noticed in seconds. */
async function formSwarm(nodes: SwarmNode[]): Promise<void> {
  const [manager, ...workers] = nodes as [SwarmNode, ...SwarmNode[]];
  await manager.docker.swarmInit({
    ListenAddr: `${manager.ip}:2377`,
    AdvertiseAddr: manager.ip,
    Spec: { Dispatcher: { HeartbeatPeriod: 1_000_000_000 }, Orchestration: { TaskHistoryRetentionLimit: 2 } },
  });
  const swarm = (await manager.docker.swarmInspect()) as { JoinTokens: { Worker: string } };
  for (const w of workers)
    await w.docker.swarmJoin({
      ListenAddr: `${w.ip}:2377`,
      AdvertiseAddr: w.ip,
      RemoteAddrs: [`${manager.ip}:2377`],
      JoinToken: swarm.JoinTokens.Worker,
    });
  // The nodes share the machine's hostname: each gets its namespace's name, for status and tests.
  for (const n of nodes) {
    n.nodeId = ((await n.docker.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
    const node = manager.docker.getNode(n.nodeId);
    const { Version, Spec } = (await node.inspect()) as { Version: { Index: number }; Spec: Record<string, unknown> };
    await node.update({ version: Version.Index, ...Spec, Name: n.netns });
  }
}

/** Node loss: its link to the others goes down and its dockerd is killed outright, as a crashed host. */
export async function loseNode(node: SwarmNode): Promise<void> {
  await sh("ip", ["link", "set", `alswv${node.index}`, "down"]);
  const daemon = node.daemon;
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((r) => daemon.once("exit", r));
    daemon.kill("SIGKILL");
    await exited;
  }
  node.daemon = undefined;
}

/** The lost node comes back: its link up and its dockerd started on the same data (it rejoins by itself). */
export async function returnNode(node: SwarmNode): Promise<void> {
  await sh("ip", ["link", "set", `alswv${node.index}`, "up"]);
  await runDaemon(node);
}

/**
 * What a run killed before its after-hook left (its nodes' processes, namespaces, bridge, rule and
 * folder) goes before a new swarm is made; a swarm still running in another run is not touched.
 */
async function removeLeftovers(): Promise<void> {
  const dead = deadEngineFolders(FOLDER_PREFIX);
  const all = readdirSync(tmpdir()).filter((name) => name.startsWith(FOLDER_PREFIX));
  if (dead.length < all.length) throw new Error(`another run's test swarm is running (${tmpdir()}/${FOLDER_PREFIX}*)`);
  for (let i = 1; i <= NODES; i++) {
    await killNamespace(`alsw${i}`);
    await sh("ip", ["netns", "del", `alsw${i}`]).catch(() => undefined);
  }
  await sh("ip", ["link", "del", BRIDGE]).catch(() => undefined);
  const rule = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"];
  while (
    await sh("iptables", ["-C", ...rule]).then(
      () => true,
      () => false,
    )
  )
    await sh("iptables", ["-D", ...rule]);
  for (const stale of dead) await removeFolder(stale);
}

/** Stops every dockerd and removes the namespaces, veths, bridge, FORWARD rule and the folder. */
export async function stopSwarm(): Promise<void> {
  if (!state.started) return;
  await state.started.catch(() => undefined);
  state.started = undefined;
  const made = state.made;
  await Promise.all(made.nodes.map((n) => haltNode(n)));
  for (const netns of made.netns) {
    await killNamespace(netns);
    await sh("ip", ["netns", "del", netns]).catch(() => undefined);
  }
  made.netns = [];
  if (made.bridge) await sh("ip", ["link", "del", BRIDGE]).catch(() => undefined);
  made.bridge = false;
  if (made.rule) await sh("iptables", ["-D", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"]).catch(() => {});
  made.rule = false;
  if (made.dir) await removeFolder(made.dir);
  made.dir = undefined;
  made.nodes = [];
}

/** SIGTERM, as a service manager would: dockerd stops its containers first. */
async function haltNode(node: SwarmNode): Promise<void> {
  // A node left lost still has its containers: its dockerd comes back to stop them.
  if (!node.daemon) await returnNode(node).catch(() => undefined);
  const daemon = node.daemon;
  if (!daemon || daemon.exitCode !== null) return;
  const exited = new Promise((r) => daemon.once("exit", r));
  daemon.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (daemon.exitCode === null) daemon.kill("SIGKILL");
}

/** What is left in a namespace this harness made (containerd, shims of a killed node): ended by pid. */
async function killNamespace(netns: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const { stdout } = await run("ip", ["netns", "pids", netns]).catch(() => ({ stdout: "" }));
    const pids = stdout.split("\n").filter((p) => /^\d+$/.test(p));
    if (pids.length === 0) return;
    if (i >= 20) for (const pid of pids) process.kill(Number(pid), "SIGKILL");
    await new Promise((r) => setTimeout(r, 250));
  }
}
