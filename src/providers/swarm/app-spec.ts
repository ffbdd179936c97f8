import type { App, Group } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import { type DesiredApp, desiredApp } from "../docker/desired.js";
import { type DesiredSwarmService, desiredSwarmService, serviceName, swarmSettings } from "./desired.js";
import { httpHealthcheck } from "./health.js";
import { authconfig, resolveSwarmImage } from "./image.js";
import type { SwarmSnapshot } from "./observe.js";
import { swarmSecrets } from "./secrets.js";

export interface SwarmAppInput {
  readonly address: string;
  readonly instance: string;
  readonly app: App;
  readonly group: Group;
  readonly bindings: Readonly<Record<string, string>>;
  readonly resolved: ResolvedSecrets | undefined;
  readonly scaleUpLimit: number | undefined;
  readonly snapshot: SwarmSnapshot;
  /** False when only planning: nothing is built or pushed. */
  readonly mayBuild: boolean;
}

/**
 * An app as a Swarm service: the Docker provider's desired replica, with its image resolved on
 * the manager (secrets.ts, image.ts), its secrets as Swarm secrets, and an HTTP check run in the task.
 */
export async function desiredSwarmApp(input: SwarmAppInput): Promise<DesiredSwarmService> {
  const { app, group, resolved } = input;
  const name = serviceName(group.metadata.name, app.metadata.name);
  const running = input.snapshot.services.find((s) => s.name === name && s.owner?.uid === app.metadata.uid);
  const secrets = { env: resolved?.env ?? {}, mounts: [], digest: resolved?.digest || undefined };
  const probe = desiredApp(app, group, input.instance, { ref: "", id: "" }, input.bindings, secrets);
  const owner = { instance: input.instance, group: group.metadata.name, name: app.metadata.name, uid: probe.uid };
  // Variables the app's plain env does not override, as desiredApp left them.
  const swarm = swarmSecrets(owner, resolved && { ...resolved, env: probe.secretEnv });
  const image = await resolveSwarmImage(input.address, app, group, {
    running: running?.image,
    ...(resolved?.pull ? { auth: resolved.pull } : {}),
    wantConfig: swarm.command !== undefined,
    mayBuild: input.mayBuild,
  });
  let desired: DesiredApp = {
    ...desiredApp(app, group, input.instance, { ref: image.ref, id: image.ref }, input.bindings, secrets),
    secretEnv: {},
  };
  if (input.scaleUpLimit !== undefined && input.scaleUpLimit < desired.replicas)
    desired = { ...desired, replicas: input.scaleUpLimit };
  const args = image.config && [...image.config.entrypoint, ...(app.spec.command ?? image.config.cmd)];
  return desiredSwarmService(desired, swarmSettings(group), {
    constraints: app.spec.placement?.constraints ?? [],
    secrets: swarm.secrets,
    ...(swarm.command && args ? { container: { command: swarm.command, args } } : {}),
    ...(desired.httpCheck ? { healthCheck: httpHealthcheck(desired.httpCheck) } : {}),
    ...(resolved?.pull ? { registryAuth: authconfig(resolved.pull) } : {}),
  });
}
