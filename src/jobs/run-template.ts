import { resolveBindings } from "../controllers/bindings.js";
import { appImage, ensureImage } from "../providers/docker/app-image.js";
import { prepareAppSecrets } from "../providers/docker/app-secrets.js";
import { type DesiredApp, desiredApp } from "../providers/docker/desired.js";
import { DockerProvider } from "../providers/docker/provider.js";
import type { InfraProvider } from "../providers/types.js";
import type { App, Group } from "../resources/types.js";
import { resolveSecrets } from "../secrets/references.js";
import type { Store } from "../store/store.js";

/** Where a run goes and what it is made of, or why it cannot start yet. */
export type RunTemplate =
  | { readonly address: string; readonly instance: string; readonly desired: DesiredApp }
  | { readonly waiting: string };

/** What a run needs of the Docker provider. */
export type DockerProviderLike = Pick<DockerProvider, "address" | "instanceId" | "env" | "snapshots">;

/** The Docker provider behind a group, or undefined on another provider (runs are Docker-only). */
export function dockerOf(provider: InfraProvider): DockerProvider | undefined {
  return provider instanceof DockerProvider ? provider : undefined;
}

/**
 * An app's container template as a run takes it: its image (pulled or built if missing), env,
 * secrets and bound services' variables, as the app's own replicas have them.
 */
export async function runTemplate(
  store: Store,
  provider: DockerProviderLike,
  app: App,
  group: Group,
): Promise<RunTemplate> {
  const bindings = resolveBindings(store, app);
  if (bindings.missing.length > 0) return { waiting: `service ${bindings.missing.join(", ")} not found` };
  if (bindings.notReady.length > 0) return { waiting: `waiting for service ${bindings.notReady.join(", ")}` };
  const secrets = resolveSecrets(store, app);
  if (secrets.missing.length > 0) return { waiting: `waiting for ${secrets.missing.join(", ")}` };
  const address = provider.address(group);
  const image = await ensureImage(provider.snapshots, address, appImage(app), app.spec.build, secrets.pull);
  const prepared = prepareAppSecrets(address, provider.env, provider.instanceId, app, secrets);
  const desired = desiredApp(app, group, provider.instanceId, image, bindings.env, prepared);
  return { address, instance: provider.instanceId, desired };
}

/**
 * Every value a run of the app is given (its env, bound services' variables, secrets), read from
 * the store alone: what a run's recorded lines must never show, even when its image is missing.
 */
export function runEnvValues(store: Store, app: App): Record<string, string> {
  const plain = Object.entries(app.spec.env ?? {}).filter((e): e is [string, string] => typeof e[1] === "string");
  return { ...resolveBindings(store, app).env, ...Object.fromEntries(plain), ...resolveSecrets(store, app).env };
}
