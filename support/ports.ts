import { type AddressInfo, createServer } from "node:net";

/** A port on 127.0.0.1 that nothing listens on now, for a server started next. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<ReturnType<typeof createServer> | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/**
 * `count` consecutive ports on 127.0.0.1 that nothing listens on now, below Linux's ephemeral
 * range (32768 and up), where outgoing connections would take them as their own local ports.
 */
export async function freePortRange(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const held = await Promise.all(ports.map(listening));
    await Promise.all(held.map((s) => s && new Promise((r) => s.close(r))));
    if (held.every(Boolean)) return ports;
  }
  throw new Error(`no ${count} consecutive free ports on 127.0.0.1`);
}
