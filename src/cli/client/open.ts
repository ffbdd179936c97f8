import type { GlobalOptions } from "../context.js";
import { LocalClient, type LocalOpenMode } from "./local.js";
import type { ResourceClient } from "./types.js";

export interface ClientOptions extends GlobalOptions {
  /** An `airloft serve` to work against instead of the local state file. */
  readonly server?: string;
}

/** The server when one is named (--server or $AIRLOFT_SERVER), else the local state file. */
export async function openClient(options: ClientOptions, mode: LocalOpenMode): Promise<ResourceClient> {
  if (options.server) return new (await import("./remote.js")).RemoteClient(options.server);
  return LocalClient.open(options, mode);
}

/** Runs `body` with a client and closes it after, whatever happens. */
export async function withClient<T>(
  options: ClientOptions,
  mode: LocalOpenMode,
  body: (client: ResourceClient) => Promise<T>,
): Promise<T> {
  const client = await openClient(options, mode);
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}
