import type Docker from "dockerode";
import { TerminalError, errorMessage } from "../../errors.js";
import { runBounded } from "../../util/pool.js";
import { dockerClient, engineError, statusCodeOf } from "./engine.js";
import { LABEL } from "../ownership.js";
import { describeOperation, type Operation } from "./plan.js";

export interface ExecuteOptions {
  readonly concurrency?: number;
  /** Told of each operation once done: the change set feeds logs and events. */
  readonly onDone?: (op: Operation) => void;
}

/**
 * Runs a plan's operations against one engine with bounded concurrency, in phases: networks and
 * volumes, removals, creations, then network and volume removals. Removing first is what
 * Recreate needs (a service's data must be let go before its successor mounts it); a rolling
 * update never has a replica's removal and its successor's creation in one plan, since the
 * planner removes an old replica only once its successor is ready.
 */
export async function executePlan(address: string, operations: readonly Operation[], options: ExecuteOptions = {}): Promise<void> {
  const docker = dockerClient(address);
  const concurrency = options.concurrency ?? 4;
  const phases: Array<Operation["op"][]> = [["create-network", "create-volume"], ["remove"], ["create", "start"], ["remove-network", "remove-volume"]];
  for (const phase of phases) {
    const batch = operations.filter((o) => phase.includes(o.op));
    await runBounded(batch, concurrency, async (op) => {
      await runOperation(docker, address, op);
      options.onDone?.(op);
    });
  }
}

async function runOperation(docker: Docker, address: string, op: Operation): Promise<void> {
  try {
    switch (op.op) {
      case "create-network":
        await docker.createNetwork({
          Name: op.name,
          Driver: "bridge",
          CheckDuplicate: true,
          Labels: op.labels,
          ...(op.subnet ? { IPAM: { Driver: "default", Config: [{ Subnet: op.subnet }] } } : {}),
        }).catch(async (err: unknown) => {
          if (statusCodeOf(err) !== 409) throw err;
          const existing = (await docker.getNetwork(op.name).inspect()) as { Labels?: Record<string, string> };
          assertOurs(op, "network", op.name, existing.Labels, op.labels);
        });
        return;
      case "remove-network":
        await docker.getNetwork(op.id).remove().catch(ignoreStatus(404));
        return;
      case "create-volume":
        await docker.createVolume({ Name: op.name, Labels: op.labels });
        return;
      case "remove-volume":
        await docker.getVolume(op.name).remove().catch(ignoreStatus(404));
        return;
      case "create": {
        const name = String(op.options.name);
        // The name is derived from group, app, replica and config hash: after a crash between
        // create and start, the retry finds the same container instead of making a second one.
        const container = await docker.createContainer(op.options as Docker.ContainerCreateOptions).catch(async (err: unknown) => {
          if (statusCodeOf(err) !== 409) throw err;
          const existing = docker.getContainer(name);
          assertOurs(op, "container", name, (await existing.inspect()).Config.Labels, op.options.Labels as Record<string, string>);
          return existing;
        });
        await container.start().catch(ignoreStatus(304));
        return;
      }
      case "start":
        await docker.getContainer(op.id).start().catch(ignoreStatus(304));
        return;
      case "remove":
        await docker.getContainer(op.id).remove({ force: true, v: false }).catch(ignoreStatus(404, 409));
        return;
    }
  } catch (err) {
    const status = statusCodeOf(err);
    // A network with endpoints left is let go once they are gone: retry, not stall.
    if (op.op === "remove-network" && (status === 403 || status === 409)) throw new Error(`${describeOperation(op)}: ${cleanDockerMessage(err)}`, { cause: err });
    // 400 and 403 will not fix themselves: bad parameters or a forbidden request.
    if (status === 400 || status === 403) {
      throw new TerminalError(status === 403 ? "PermissionDenied" : "InvalidConfig", `${describeOperation(op)}: ${cleanDockerMessage(err)}`, { cause: err });
    }
    if (status !== undefined) throw new Error(`${describeOperation(op)}: ${cleanDockerMessage(err)}`, { cause: err });
    throw engineError(address, err);
  }
}

/**
 * A name taken by something this installation did not create (another state file on the same
 * engine with the same group, or a user's own) is not ours to touch: terminal, and said so.
 */
function assertOurs(op: Operation, what: string, name: string, found: Record<string, string> | undefined, wanted: Record<string, string>): void {
  if (found && found[LABEL.instance] === wanted[LABEL.instance] && found[LABEL.uid] === wanted[LABEL.uid]) return;
  const owner = found?.[LABEL.instance] ? `another AirLoft state file (instance ${found[LABEL.instance]})` : "something AirLoft did not create";
  throw new TerminalError("NameConflict", `${describeOperation(op)}: the ${what} name ${name} is taken on this engine by ${owner}; rename the group or remove it`);
}

function ignoreStatus(...codes: number[]): (err: unknown) => void {
  return (err: unknown) => {
    if (!codes.includes(statusCodeOf(err) ?? -1)) throw err;
  };
}

/** dockerode prefixes messages with "(HTTP code 500) server error - "; keep the engine's words. */
export function cleanDockerMessage(err: unknown): string {
  const json = (err as { json?: { message?: string } } | undefined)?.json;
  return json?.message ?? errorMessage(err).replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, "");
}
