import Docker from "dockerode";
import { errorMessage, ProviderUnavailableError, TerminalError } from "../../errors.js";

export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

/** The engine address: the group's spec, else DOCKER_HOST, else the default socket. */
export function resolveEngineAddress(specHost: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return specHost ?? (env.DOCKER_HOST || DEFAULT_DOCKER_HOST);
}

const clients = new Map<string, Docker>();

/** One dockerode client per engine address. */
export function dockerClient(address: string): Docker {
  const cached = clients.get(address);
  if (cached) return cached;
  const client = new Docker(connectionOptions(address));
  clients.set(address, client);
  return client;
}

function connectionOptions(address: string): Docker.DockerOptions {
  if (address.startsWith("unix://")) return { socketPath: address.slice("unix://".length) };
  const url = new URL(address);
  if (url.protocol === "tcp:" || url.protocol === "http:")
    return { host: url.hostname, port: Number(url.port || 2375), protocol: "http" };
  if (url.protocol === "ssh:")
    return { host: url.hostname, port: Number(url.port || 22), protocol: "ssh", username: url.username || "root" };
  throw new TerminalError(
    "UnsupportedEngineAddress",
    `unsupported Docker engine address ${address}: use unix://, tcp:// or ssh://`,
  );
}

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOENT", "EACCES", "ECONNRESET", "EHOSTUNREACH", "ETIMEDOUT", "EPIPE"]);

/** Turns a connection failure into an error that says which address was tried and how to set it. */
export function engineError(address: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && UNREACHABLE.has(code)) {
    return new ProviderUnavailableError(
      "EngineUnreachable",
      `cannot reach the Docker engine at ${address} (${code}); start it, or point AirLoft at one with DOCKER_HOST or the group's spec.docker.host`,
      { cause: err },
    );
  }
  return err instanceof Error ? err : new Error(errorMessage(err));
}

/** HTTP status of a dockerode error, if it has one. */
export function statusCodeOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === "number" ? status : undefined;
}
