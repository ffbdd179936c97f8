import { dockerClient, engineError } from "../docker/engine.js";

/** How long a manager's node id is trusted: a swarm made again at the same address has new ids. */
const ID_TTL_MS = 5 * 60_000;

/** The node id of the manager behind each address, asked again now and then. */
export class ManagerNodes {
  private readonly ids = new Map<string, { readonly id: Promise<string>; readonly at: number }>();

  of(address: string, now = Date.now()): Promise<string> {
    const kept = this.ids.get(address);
    if (kept && now - kept.at < ID_TTL_MS) return kept.id;
    const id = ask(address);
    this.ids.set(address, { id, at: now });
    // A failed ask is made again by the next caller.
    id.catch(() => {
      if (this.ids.get(address)?.id === id) this.ids.delete(address);
    });
    return id;
  }
}

async function ask(address: string): Promise<string> {
  const info = (await dockerClient(address)
    .info()
    .catch((err: unknown) => {
      throw engineError(address, err);
    })) as { Swarm?: { NodeID?: string } };
  const id = info.Swarm?.NodeID;
  if (!id) throw new Error(`the engine at ${address} is not a swarm node`);
  return id;
}
