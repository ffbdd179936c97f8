import { PassThrough } from "node:stream";
import type Docker from "dockerode";

/**
 * Caddy's admin API, reached through `docker exec` inside the edge container: it listens on
 * 127.0.0.1 of the container's own network namespace, so no container on a group network can
 * reach it, and it works on any engine AirLoft reaches (a unix socket, tcp or ssh).
 */
const CONFIG_FILE = "airloft-edge.json";
const ADMIN_URL = "http://127.0.0.1:2019";
/** Caddy needs a moment after its container starts before the admin API answers. */
const ATTEMPTS = 20;

/** The config Caddy runs now (null when it has none). */
export async function readConfig(docker: Docker, containerId: string): Promise<unknown> {
  const out = await retried(() => exec(docker, containerId, ["wget", "-q", "-O", "-", `${ADMIN_URL}/config/`]));
  return JSON.parse(out.trim() || "null");
}

/** Caddy's own Prometheus metrics, as text. */
export async function readMetrics(docker: Docker, containerId: string): Promise<string> {
  return exec(docker, containerId, ["wget", "-q", "-O", "-", `${ADMIN_URL}/metrics`]);
}

/**
 * Replaces Caddy's whole config (POST /load): Caddy swaps it without dropping connections. The
 * file is removed as soon as Caddy has read it: it may hold a user's private key.
 */
export async function loadConfig(docker: Docker, containerId: string, config: unknown): Promise<void> {
  const container = docker.getContainer(containerId);
  const file = `/tmp/${CONFIG_FILE}`;
  const post = `wget -q -O - --header 'Content-Type: application/json' --post-file ${file} ${ADMIN_URL}/load`;
  await retried(async () => {
    // The config goes in a file, not in an argument: an argument is capped at 128 KiB.
    await container.putArchive(tarOfOneFile(CONFIG_FILE, Buffer.from(JSON.stringify(config))), { path: "/tmp" });
    return exec(docker, containerId, ["sh", "-c", `${post}; s=$?; rm -f ${file}; exit $s`]);
  });
}

/** Writes a file into the edge container (a CA root its ACME issuer trusts). */
export async function putFile(docker: Docker, containerId: string, path: string, data: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  await docker
    .getContainer(containerId)
    .putArchive(tarOfOneFile(path.slice(slash + 1), Buffer.from(data)), { path: path.slice(0, slash) || "/" });
}

/** Every certificate chain Caddy stored for the host (PEM), whichever ACME directory issued it. */
export async function storedCertificates(docker: Docker, containerId: string, host: string): Promise<string> {
  const script = 'cat /data/caddy/certificates/*/"$1"/"$1".crt 2>/dev/null; true';
  return exec(docker, containerId, ["sh", "-c", script, "sh", host]);
}

/** The edge's recent log lines (Caddy logs ACME failures there). */
export async function recentLogs(docker: Docker, containerId: string, lines = 2000): Promise<string> {
  const raw = await docker.getContainer(containerId).logs({ stdout: true, stderr: true, tail: lines, follow: false });
  return Buffer.isBuffer(raw) ? raw.toString("utf8") : String(raw);
}

async function retried(run: () => Promise<string>): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= ATTEMPTS || !/refused|reset/i.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Runs a command in the container; its stdout, or an error with its stderr when it fails. */
async function exec(docker: Docker, containerId: string, cmd: string[]): Promise<string> {
  const run = await docker.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await run.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough().on("data", (b: Buffer) => out.push(b));
  const stderr = new PassThrough().on("data", (b: Buffer) => err.push(b));
  docker.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => stream.on("end", resolve).on("error", reject));
  const { ExitCode } = await run.inspect();
  if (ExitCode !== 0)
    throw new Error(`edge admin: ${cmd.at(-1)} failed (${ExitCode}): ${Buffer.concat(err).toString().trim()}`);
  return Buffer.concat(out).toString();
}

/** A tar archive holding one file: what the engine's archive endpoint takes. */
export function tarOfOneFile(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string): void => {
    header.write(value, offset, length, "ascii");
  };
  field(0, 100, name);
  field(100, 8, "0000644\0");
  field(108, 8, "0000000\0");
  field(116, 8, "0000000\0");
  field(124, 12, `${data.length.toString(8).padStart(11, "0")}\0`);
  field(
    136,
    12,
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, "0")}\0`,
  );
  field(148, 8, "        ");
  field(156, 1, "0");
  field(257, 8, "ustar\u000000");
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)]);
}
