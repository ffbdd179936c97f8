import type Docker from "dockerode";
import { errorMessage, TerminalError } from "../../errors.js";
import { runBounded } from "../../util/pool.js";
import { LABEL } from "../ownership.js";
import { dockerClient, engineError, statusCodeOf } from "./engine.js";
import { describeOperation, type Operation } from "./plan.js";

export interface ExecuteOptions {
  readonly concurrency?: number;
  /** Told of each operation once done: the change set feeds logs and events. */
  readonly onDone?: (op: Operation) => void;
  /** Before a graceful removal stops its container: the edge takes it out of service and drains it. */
  readonly beforeStop?: (id: string) => Promise<void>;
}

/**
 * Runs a plan's operations against one engine with bounded concurrency, in phases: networks and
 * volumes, removals, creations, then network and volume removals. Removing first is what
 * Recreate needs (a service's data must be let go before its successor mounts it); a rolling
 * update never has a replica's removal and its successor's creation in one plan, since the
 * planner removes an old replica only once its successor is ready.
 */
export async function executePlan(
  address: string,
  operations: readonly Operation[],
  options: ExecuteOptions = {},
): Promise<void> {
  const docker = dockerClient(address);
  const concurrency = options.concurrency ?? 4;
  const phases: Array<Operation["op"][]> = [
    ["create-network", "create-volume"],
    ["remove", "restart-policy"],
    ["create", "start"],
    ["remove-network", "remove-volume"],
  ];
  for (const phase of phases) {
    const batch = operations.filter((o) => phase.includes(o.op));
    await runBounded(batch, concurrency, async (op) => {
      await runOperation(docker, address, op, options);
      options.onDone?.(op);
    });
  }
}

async function runOperation(docker: Docker, address: string, op: Operation, options: ExecuteOptions): Promise<void> {
  try {
    switch (op.op) {
      case "create-network":
        await postJson(
          docker,
          "/networks/create",
          {},
          {
            Name: op.name,
            Driver: op.driver ?? "bridge",
            ...(op.driver === "overlay" ? { Attachable: true } : {}),
            CheckDuplicate: true,
            Labels: op.labels,
            ...(op.subnet ? { IPAM: { Driver: "default", Config: [{ Subnet: op.subnet }] } } : {}),
          },
        ).catch(async (err: unknown) => {
          if (statusCodeOf(err) !== 409) throw err;
          const existing = (await docker.getNetwork(op.name).inspect()) as { Labels?: Record<string, string> };
          assertOurs(op, "network", op.name, existing.Labels, op.labels, INCARNATION);
        });
        return;
      case "remove-network":
        await docker.getNetwork(op.id).remove().catch(ignoreStatus(404));
        return;
      case "create-volume": {
        // Creating a volume whose name exists returns the existing volume, whoever made it:
        // what the name holds is ours only if its labels say so.
        await postJson(docker, "/volumes/create", {}, { Name: op.name, Labels: op.labels });
        const created = (await docker.getVolume(op.name).inspect()) as { Labels?: Record<string, string> | null };
        assertOurs(op, "volume", op.name, created.Labels ?? undefined, op.labels, OWNER);
        return;
      }
      case "remove-volume":
        await docker.getVolume(op.name).remove().catch(ignoreStatus(404));
        return;
      case "create": {
        const { name: nameOption, ...body } = op.options;
        const name = String(nameOption);
        // The name is derived from group, app, replica and config hash: after a crash between
        // create and start, the retry finds the same container instead of making a second one.
        const container = await postJson(docker, "/containers/create", { name }, body).then(
          (created) => docker.getContainer(String(created.Id)),
          async (err: unknown) => {
            if (statusCodeOf(err) !== 409) throw err;
            const existing = docker.getContainer(name);
            assertOurs(
              op,
              "container",
              name,
              (await existing.inspect()).Config.Labels,
              op.options.Labels as Record<string, string>,
              INCARNATION,
            );
            return existing;
          },
        );
        await startContainer(docker, container);
        return;
      }
      case "start":
        await startContainer(docker, docker.getContainer(op.id));
        return;
      case "restart-policy":
        // A container removed meanwhile needs no policy.
        await docker
          .getContainer(op.id)
          .update({ RestartPolicy: { Name: op.policy } })
          .catch(ignoreStatus(404));
        return;
      case "remove":
        if (op.graceful) {
          await options.beforeStop?.(op.id);
          // No t: the container's own stop timeout, after SIGTERM (its StopSignal).
          await docker.getContainer(op.id).stop().catch(ignoreStatus(304, 404));
        }
        await docker.getContainer(op.id).remove({ force: true, v: false }).catch(ignoreStatus(404, 409));
        return;
    }
  } catch (err) {
    const status = statusCodeOf(err);
    // A network with endpoints left is let go once they are gone: retry, not stall.
    if (op.op === "remove-network" && (status === 403 || status === 409))
      throw new Error(`${describeOperation(op)}: ${cleanDockerMessage(err)}`, { cause: err });
    // 400 and 403 will not fix themselves: bad parameters or a forbidden request.
    if (status === 400 || status === 403) {
      throw new TerminalError(
        status === 403 ? "PermissionDenied" : "InvalidConfig",
        `${describeOperation(op)}: ${cleanDockerMessage(err)}`,
        { cause: err },
      );
    }
    if (status !== undefined) throw new Error(`${describeOperation(op)}: ${cleanDockerMessage(err)}`, { cause: err });
    throw engineError(address, err);
  }
}

/**
 * An engine stopped while a container started can keep the container's network endpoint: every
 * later start is refused, 403 "endpoint with name N already exists in network M" (seen in the
 * chaos run's engine outage, where it stalled the app for good as PermissionDenied). For this
 * very container: it is removed, then its stale endpoint, as `docker network disconnect --force`
 * does for a container that no longer exists (disconnecting one that exists would start it
 * without its network), and the start fails to be retried: the next pass creates the replica
 * again. Any other refusal stands.
 */
const STALE_ENDPOINT = /endpoint with name (\S+) already exists in network (\S+)/;

async function startContainer(docker: Docker, container: Docker.Container): Promise<void> {
  try {
    await container.start();
  } catch (err) {
    if (statusCodeOf(err) === 304) return;
    const stale = statusCodeOf(err) === 403 ? STALE_ENDPOINT.exec(cleanDockerMessage(err)) : null;
    const name = stale ? (await container.inspect()).Name.replace(/^\//, "") : undefined;
    if (!stale || stale[1] !== name) throw err;
    await container.remove({ force: true, v: false }).catch(ignoreStatus(404, 409));
    await docker
      .getNetwork(stale[2] as string)
      .disconnect({ Container: name, Force: true })
      // Best effort: an endpoint still there refuses the next start, which comes here again.
      .catch(() => undefined);
    throw new Error(
      `the engine had kept a stale network endpoint for ${name}: removed with its container, made again next`,
      {
        cause: err,
      },
    );
  }
}

/** Containers and networks belong to one incarnation of their object. */
const INCARNATION = [LABEL.instance, LABEL.uid] as const;
/** A volume belongs to the Service's name, not its uid: Retain keeps the data for the next incarnation. */
const OWNER = [LABEL.instance, LABEL.group, LABEL.kind, LABEL.name] as const;

/**
 * A name taken by something this installation did not create (another state file on the same
 * engine with the same group, or a user's own), or by another of its objects, is not ours to
 * touch: terminal, and said so.
 */
function assertOurs(
  op: Operation,
  what: string,
  name: string,
  found: Record<string, string> | undefined,
  wanted: Record<string, string>,
  keys: readonly string[],
): void {
  if (found && keys.every((k) => found[k] !== undefined && found[k] === wanted[k])) return;
  const owner = !found?.[LABEL.instance]
    ? "something AirLoft did not create"
    : found[LABEL.instance] !== wanted[LABEL.instance]
      ? `another AirLoft state file (instance ${found[LABEL.instance]})`
      : `${found[LABEL.kind] ?? "?"} ${found[LABEL.group] ?? "?"}/${found[LABEL.name] ?? "?"}`;
  throw new TerminalError(
    "NameConflict",
    `${describeOperation(op)}: the ${what} name ${name} is taken on this engine by ${owner}; rename the group or remove it`,
  );
}

/**
 * POSTs a create call with its options in the JSON body only. dockerode's create calls send the
 * whole body in the query string as well (docker-modem builds the query from the same options),
 * and request URIs are logged by dockerd at debug level and by any proxy in between: an app's
 * env and its service passwords must not be in them. Only `query` (the container's name) goes
 * in the URL.
 */
export function postJson(
  docker: Docker,
  path: string,
  query: Record<string, string>,
  body: Record<string, unknown>,
  authconfig?: Record<string, string>,
): Promise<{ Id?: string; Name?: string }> {
  const hasQuery = Object.keys(query).length > 0;
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: hasQuery ? `${path}?` : path,
        method: "POST",
        options: { _query: query, _body: body },
        // Registry credentials go in the X-Registry-Auth header, never the body or the URL.
        ...(authconfig ? { authconfig } : {}),
        statusCodes: {
          200: true,
          201: true,
          400: "bad parameter",
          403: "forbidden",
          404: "not found",
          409: "conflict",
          500: "server error",
        },
      },
      (err, data) => (err ? reject(err) : resolve((data ?? {}) as { Id?: string; Name?: string })),
    );
  });
}

export function ignoreStatus(...codes: number[]): (err: unknown) => void {
  return (err: unknown) => {
    if (!codes.includes(statusCodeOf(err) ?? -1)) throw err;
  };
}

/** dockerode prefixes messages with "(HTTP code 500) server error - "; keep the engine's words. */
export function cleanDockerMessage(err: unknown): string {
  const json = (err as { json?: { message?: string } } | undefined)?.json;
  return json?.message ?? errorMessage(err).replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, "");
}
