import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { tarOfOneFile } from "../../src/providers/docker/edge/admin.js";
import { REPO_ROOT } from "./cli.js";
import { fetchOnce } from "./fetch-once.js";

const run = promisify(execFile);
export const PEBBLE_IMAGE = "airloft-test/pebble:1";

/** Debian's pebble as an image on the engine at `host` (scripts/pebble-image.sh; kept once made). */
export async function pebbleImage(host: string): Promise<void> {
  await run("sh", [join(REPO_ROOT, "scripts/pebble-image.sh"), PEBBLE_IMAGE], {
    env: { ...process.env, DOCKER_HOST: host },
  });
}

/**
 * pebble's own HTTPS certificate (`pebble.crt`, `pebble.key` in `dir`), for the name the edge
 * reaches it by and the address the test reads its management API at.
 */
export async function pebbleCertificate(dir: string, name: string, ip: string): Promise<void> {
  await run(
    "openssl",
    [
      ..."req -x509 -days 7 -subj /CN=pebble -keyout pebble.key -out pebble.crt -nodes".split(" "),
      ...["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
      ...["-addext", `subjectAltName=DNS:${name},IP:${ip}`],
    ],
    { cwd: dir },
  );
}

/** The edge's ACME settings for a pebble made by startPebble (its directory by name, its HTTPS root). */
export function pebbleEnv(dir: string, name: string): NodeJS.ProcessEnv {
  return { AIRLOFT_ACME_DIRECTORY: `https://${name}:14000/dir`, AIRLOFT_ACME_CA_ROOT: join(dir, "pebble.crt") };
}

export interface PebbleOptions {
  /** The container's name: the directory's host name on the network. */
  readonly name: string;
  /** The edge's own network, where pebble validates HTTP-01 against the edge. */
  readonly network: string;
  /** The edge's address there: pebble's DNS answers it for every name. */
  readonly edgeIp: string;
  /** Holds pebble.crt and pebble.key (pebbleCertificate). */
  readonly dir: string;
  /** Where the engine publishes pebble's management API, which the test reads the issuing root from. */
  readonly management: { readonly ip: string; readonly port: number };
}

/** pebble and its DNS on the edge's network; returns the container's id and the root that signs what it issues. */
export async function startPebble(docker: Docker, o: PebbleOptions): Promise<{ id: string; root: string }> {
  const config = {
    pebble: {
      listenAddress: "0.0.0.0:14000",
      managementListenAddress: "0.0.0.0:15000",
      certificate: "/etc/pebble.crt",
      privateKey: "/etc/pebble.key",
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
    },
  };
  const dns = `-defaultIPv4 ${o.edgeIp} -defaultIPv6 '' -dns01 127.0.0.1:8053 -http01 '' -https01 '' -tlsalpn01 '' -management 127.0.0.1:8055`;
  const container = await docker.createContainer({
    name: o.name,
    Image: PEBBLE_IMAGE,
    Cmd: ["sh", "-c", `pebble-challtestsrv ${dns} & exec pebble -config /etc/pebble.json -dnsserver 127.0.0.1:8053`],
    Env: ["PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"],
    ExposedPorts: { "15000/tcp": {} },
    HostConfig: {
      NetworkMode: o.network,
      PortBindings: { "15000/tcp": [{ HostIp: o.management.ip, HostPort: String(o.management.port) }] },
    },
  });
  const ca = readFileSync(join(o.dir, "pebble.crt"), "utf8");
  for (const [name, data] of [
    ["pebble.json", JSON.stringify(config)],
    ["pebble.crt", ca],
    ["pebble.key", readFileSync(join(o.dir, "pebble.key"), "utf8")],
  ] as const)
    await container.putArchive(tarOfOneFile(name, Buffer.from(data)), { path: "/etc" });
  await container.start();
  return { id: container.id, root: await pebbleRoot(o.management, ca) };
}

/** The root pebble signs certificates with (a new one each start), once its management API answers. */
async function pebbleRoot(at: PebbleOptions["management"], ca: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      const root = await fetchOnce(httpsRequest, { host: at.ip, port: at.port, path: "/roots/0", ca });
      if (root.status === 200) return root.body;
      if (i > 50) throw new Error(`pebble's management API answers ${root.status}`);
    } catch (err) {
      if (i > 50) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The edge container's address on its own network (`airloft_edge_…`), and that network. */
export function edgeNetworkOf(networks: Record<string, string>): { network: string; edgeIp: string } {
  const [network, edgeIp] = Object.entries(networks).find(([n]) => n.startsWith("airloft_edge_")) ?? ["", ""];
  assert.ok(edgeIp, "the edge is on its own network");
  return { network, edgeIp };
}
