import { request } from "node:http";
import type { ObservedContainer } from "./observe.js";

/** One HTTP GET with a timeout; any 2xx or 3xx answer is healthy. */
export function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: "GET", timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** The host:port where a replica's container port is published, if it is. */
export function publishedEndpoint(
  c: ObservedContainer,
  port: number | undefined,
): { host: string; port: number } | undefined {
  if (!port) return undefined;
  const binding = c.ports.find((p) => p.privatePort === port && p.publicPort);
  if (!binding?.publicPort) return undefined;
  const host = !binding.ip || binding.ip === "0.0.0.0" || binding.ip === "::" ? "127.0.0.1" : binding.ip;
  return { host, port: binding.publicPort };
}

/** Probes every running container of the app through its published port, in parallel. */
export async function probeContainers(
  containers: readonly ObservedContainer[],
  check: { path: string; port: number },
  timeoutMs: number,
): Promise<Map<string, boolean>> {
  const results = await Promise.all(
    containers.map(async (c) => {
      const endpoint = c.state === "running" ? publishedEndpoint(c, check.port) : undefined;
      return [c.id, endpoint ? await httpProbe(endpoint.host, endpoint.port, check.path, timeoutMs) : false] as const;
    }),
  );
  return new Map(results);
}
