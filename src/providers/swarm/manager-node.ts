import { dockerClient, engineError } from "../docker/engine.js";

/** The node id of the manager behind each address, asked once: it never changes. */
export class ManagerNodes {
  private readonly ids = new Map<string, Promise<string>>();

  of(address: string): Promise<string> {
    let id = this.ids.get(address);
    if (!id) {
      id = ask(address);
      this.ids.set(address, id);
      // A failed ask is made again by the next caller.
      id.catch(() => this.ids.delete(address));
    }
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
