import { TerminalError } from "../../errors.js";
import { dockerClient, engineError, statusCodeOf } from "../docker/engine.js";
import { cleanDockerMessage, executePlan, ignoreStatus, postJson } from "../docker/execute.js";
import { LABEL } from "../ownership.js";
import { describeSwarmOperation, isNetworkOp, type ServiceBody, type SwarmOperation } from "./plan.js";

/**
 * Runs a Swarm plan on the manager in phases: the network, removals, then creates and updates.
 * Several lines of one scale are one update call. Bodies go in the JSON body only, never the
 * URL (they hold env values).
 */
export async function executeSwarmPlan(
  address: string,
  operations: readonly SwarmOperation[],
  done: (op: SwarmOperation) => void,
): Promise<void> {
  await executePlan(
    address,
    operations.filter(isNetworkOp).filter((o) => o.op === "create-network"),
    { onDone: (op) => isNetworkOp(op) && done(op) },
  );
  for (const op of operations.filter((o) => o.op === "remove-service")) {
    await run(address, op);
    done(op);
  }
  for (const op of operations.filter((o) => o.op === "create-secret")) {
    await createSecret(address, op);
    done(op);
  }
  const updated = new Set<string>();
  for (const op of operations.filter((o) => o.op === "create-service" || o.op === "update-service")) {
    const key = op.op === "update-service" ? op.id : op.spec.name;
    if (!updated.has(key)) await run(address, { ...op, spec: await withSecretIds(address, op.spec) });
    updated.add(key);
    done(op);
  }
  for (const op of operations.filter((o) => o.op === "remove-secret" || o.op === "remove-network")) {
    await run(address, op);
    done(op);
  }
}

async function run(address: string, op: SwarmOperation): Promise<void> {
  const docker = dockerClient(address);
  try {
    switch (op.op) {
      case "create-service":
        // The name is derived from the object: after a crash the retry finds the service made before.
        await postJson(docker, "/services/create", {}, op.spec.body, op.spec.auth).catch(async (err: unknown) => {
          if (statusCodeOf(err) !== 409) throw err;
          const existing = (await docker.getService(op.spec.name).inspect()) as {
            Spec?: { Labels?: Record<string, string> };
          };
          assertOurs(op, existing.Spec?.Labels, op.spec.labels);
        });
        return;
      case "update-service": {
        const existing = (await docker.getService(op.id).inspect()) as { Spec?: { Labels?: Record<string, string> } };
        assertOurs(op, existing.Spec?.Labels, op.spec.labels);
        await postJson(
          docker,
          `/services/${op.id}/update`,
          { version: String(op.version) },
          op.spec.body,
          op.spec.auth,
        );
        return;
      }
      case "remove-service":
        await docker.getService(op.id).remove().catch(ignoreStatus(404));
        return;
      case "remove-secret":
        // In use by a service (its update still rolling, or someone else's): the next pass tries again.
        await docker
          .getSecret(op.id)
          .remove()
          .catch(ignoreGoneOr(/in use/));
        return;
      case "remove-network":
        // The manager answers 500 "not found" for an overlay removed a moment ago.
        await docker
          .getNetwork(op.id)
          .remove()
          .catch(ignoreGoneOr(/not found/));
        return;
      default:
        return;
    }
  } catch (err) {
    if (err instanceof TerminalError) throw err;
    const status = statusCodeOf(err);
    if (status === 400)
      throw new TerminalError("InvalidConfig", `${describeSwarmOperation(op)}: ${cleanDockerMessage(err)}`, {
        cause: err,
      });
    // Out of sequence (someone updated the service meanwhile) and the like: the next pass looks again.
    if (status !== undefined)
      throw new Error(`${describeSwarmOperation(op)}: ${cleanDockerMessage(err)}`, { cause: err });
    throw engineError(address, err);
  }
}

/** Creates a secret (its value in the body only); one made before a crash, with our labels, is taken as it is. */
async function createSecret(address: string, op: Extract<SwarmOperation, { op: "create-secret" }>): Promise<void> {
  const docker = dockerClient(address);
  const { name, labels, data } = op.secret;
  try {
    await postJson(docker, "/secrets/create", {}, { Name: name, Labels: labels, Data: data.toString("base64") });
  } catch (err) {
    // Too large, say: the manager's words name the limit, never the value.
    if (statusCodeOf(err) === 400)
      throw new TerminalError("InvalidConfig", `${describeSwarmOperation(op)}: ${cleanDockerMessage(err)}`);
    if (statusCodeOf(err) !== 409) throw engineError(address, err);
    const found = (await docker.getSecret(name).inspect()) as { Spec?: { Labels?: Record<string, string> } };
    assertOurs(op, found.Spec?.Labels, labels);
  }
}

/** Swarm takes a secret reference by id: filled in from the names the plan gives. */
async function withSecretIds(address: string, spec: ServiceBody): Promise<ServiceBody> {
  const template = spec.body.TaskTemplate as { ContainerSpec: { Secrets?: Array<{ SecretName: string }> } };
  const refs = template.ContainerSpec.Secrets;
  if (!refs || refs.length === 0) return spec;
  const docker = dockerClient(address);
  const found = (await docker
    .listSecrets({ filters: { name: refs.map((r) => r.SecretName) } })
    .catch((err: unknown) => {
      throw engineError(address, err);
    })) as Array<{ ID: string; Spec?: { Name?: string } }>;
  const ids = new Map(found.map((s) => [s.Spec?.Name, s.ID]));
  const Secrets = refs.map((r) => {
    const id = ids.get(r.SecretName);
    if (!id) throw new Error(`secret ${r.SecretName} is not on the swarm yet`);
    return { ...r, SecretID: id };
  });
  const body = { ...spec.body, TaskTemplate: { ...template, ContainerSpec: { ...template.ContainerSpec, Secrets } } };
  return { ...spec, body };
}

/** A service is touched only when its labels say it is this installation's, of this object. */
function assertOurs(op: SwarmOperation, found: Record<string, string> | undefined, wanted: Record<string, string>) {
  if (found && [LABEL.instance, LABEL.uid].every((k) => found[k] !== undefined && found[k] === wanted[k])) return;
  throw new TerminalError(
    "NameConflict",
    `${describeSwarmOperation(op)}: the Swarm service name is taken by ${found?.[LABEL.instance] ? "another AirLoft object" : "something AirLoft did not create"}; rename the app or remove that service`,
  );
}

/** A removal's error to pass over: the object is gone (404), or the engine says `also` of it. */
function ignoreGoneOr(also: RegExp): (err: unknown) => void {
  return (err) => {
    if (statusCodeOf(err) !== 404 && !also.test(cleanDockerMessage(err))) throw err;
  };
}
