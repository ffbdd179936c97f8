import { TerminalError } from "../../errors.js";
import type { App, Group } from "../../resources/types.js";
import { appImage } from "../docker/app-image.js";
import { dockerClient, engineError, statusCodeOf } from "../docker/engine.js";
import { buildImage, followProgress, pullImage, type RegistryAuth } from "../docker/images.js";

/** An app's image on a swarm: the reference its services run, and the entrypoint and command in it. */
export interface SwarmImage {
  readonly ref: string;
  /** The image's own ENTRYPOINT and CMD, read only when a wrapper must run them. */
  readonly config?: { readonly entrypoint: readonly string[]; readonly cmd: readonly string[] };
}

/** A registry's credentials as the engine takes them (X-Registry-Auth). */
export function authconfig(auth: RegistryAuth): Record<string, string> {
  return { username: auth.username, password: auth.password, serveraddress: auth.registry };
}

/**
 * Resolves an app's image on the manager. A build is made on the manager and pushed to the
 * group's registry (`spec.swarm.registry`): the other nodes have no copy of it. An image in that
 * registry runs by digest, so every node runs the same bits whatever the tag points to later;
 * the digest the running service has is kept while the image reference is the same (a moved tag
 * rolls nothing, as on Docker). Other images run as named: each node pulls its own.
 */
export async function resolveSwarmImage(
  address: string,
  app: App,
  group: Group,
  options: {
    readonly running: string | undefined;
    readonly auth?: RegistryAuth;
    readonly wantConfig: boolean;
    /** False for a plan: a build not pushed yet shows as its tag, nothing is built. */
    readonly mayBuild: boolean;
  },
): Promise<SwarmImage> {
  const registry = group.spec.swarm?.registry;
  const image = appImage(app);
  const build = image.build && app.spec.build;
  if (build && !registry)
    throw new TerminalError(
      "UnsupportedOnSwarm",
      `app ${app.metadata.name} sets spec.build; on swarm the group needs spec.swarm.registry to push it to`,
    );
  const named = registry && build ? `${registry}/${image.ref}` : image.ref;
  let ref = named;
  if (registry && named.startsWith(`${registry}/`) && !named.includes("@")) {
    const kept = options.running?.startsWith(`${named}@sha256:`) ? options.running : undefined;
    if (kept) ref = kept;
    else if (build && !options.mayBuild) return { ref: named };
    else {
      if (build && image.build) await buildAndPush(address, named, build, image.build.files, options.auth);
      ref = `${named}@${await digestOf(address, named, options.auth)}`;
    }
  }
  if (!options.wantConfig) return { ref };
  return { ref, config: await imageConfig(address, named, options.auth) };
}

async function buildAndPush(
  address: string,
  tag: string,
  build: NonNullable<App["spec"]["build"]>,
  files: string[],
  auth: RegistryAuth | undefined,
): Promise<void> {
  const docker = dockerClient(address);
  const present = await docker
    .getImage(tag)
    .inspect()
    .then(
      () => true,
      () => false,
    );
  if (!present) await buildImage(address, build.context, files, tag, build.dockerfile);
  try {
    const stream = (await docker
      .getImage(tag)
      .push({ authconfig: auth ? authconfig(auth) : {} })) as NodeJS.ReadableStream;
    await followProgress(docker, stream);
  } catch (err) {
    if (statusCodeOf(err) === undefined && (err as NodeJS.ErrnoException).code) throw engineError(address, err);
    throw new Error(`pushing ${tag}: ${redact((err as Error).message, auth)}`, { cause: err });
  }
}

/** The manifest digest the registry has for a reference, asked through the manager (no pull). */
async function digestOf(address: string, ref: string, auth: RegistryAuth | undefined): Promise<string> {
  const docker = dockerClient(address);
  try {
    const found = (await docker.getImage(ref).distribution(auth ? { authconfig: authconfig(auth) } : {})) as {
      Descriptor?: { digest?: string };
    };
    const digest = found.Descriptor?.digest;
    if (!digest?.startsWith("sha256:")) throw new Error(`the registry gave no digest for ${ref}`);
    return digest;
  } catch (err) {
    if (statusCodeOf(err) === undefined && (err as NodeJS.ErrnoException).code) throw engineError(address, err);
    throw new Error(`resolving ${ref} to a digest: ${redact((err as Error).message, auth)}`, { cause: err });
  }
}

/** ENTRYPOINT and CMD of an image, from the manager's copy (pulled when it has none). */
async function imageConfig(address: string, ref: string, auth: RegistryAuth | undefined) {
  const docker = dockerClient(address);
  const inspect = () =>
    docker.getImage(ref).inspect() as Promise<{ Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }>;
  let info = await inspect().catch((err: unknown) => {
    if (statusCodeOf(err) !== 404) throw engineError(address, err);
    return undefined;
  });
  if (!info) {
    await pullImage(address, ref, auth);
    info = await inspect();
  }
  return { entrypoint: info.Config?.Entrypoint ?? [], cmd: info.Config?.Cmd ?? [] };
}

function redact(message: string, auth: RegistryAuth | undefined): string {
  return auth?.password ? message.split(auth.password).join("***") : message;
}
