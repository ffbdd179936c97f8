import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type Docker from "dockerode";
import { TerminalError } from "../../errors.js";
import { dockerClient, engineError, statusCodeOf } from "./engine.js";
import type { ObservedImage } from "./observe.js";

/** "busybox" -> "busybox:latest"; refs with a tag or digest stay as they are. */
export function normalizeImageRef(ref: string): string {
  if (ref.includes("@")) return ref;
  const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
  return lastSegment.includes(":") ? ref : `${ref}:latest`;
}

export function findImage(images: readonly ObservedImage[], ref: string): ObservedImage | undefined {
  const wanted = normalizeImageRef(ref);
  return images.find((i) => i.tags.includes(wanted) || i.id === ref);
}

/** Reads a Docker JSON progress stream to its end, failing on the first entry with an error. */
export function followProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, output: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
        if (err) return reject(err);
        const failed = output.find((entry) => entry.error || entry.errorDetail);
        if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
        resolve();
      },
    );
  });
}

/** A registry's credentials, from an imagePullSecret. */
export interface RegistryAuth {
  readonly registry: string;
  readonly username: string;
  readonly password: string;
}

const REFUSED = /unauthorized|authentication required|no basic auth|denied|\b40[13]\b/i;

/**
 * Pulls an image that is not on the engine, with the credentials when given. A missing image is
 * retried (a registry may come back); credentials the registry refuses are terminal (ImagePullFailed)
 * with the registry's words, the password cut out should a registry echo it.
 */
export async function pullImage(address: string, ref: string, auth?: RegistryAuth): Promise<void> {
  const docker = dockerClient(address);
  const authconfig = auth && { username: auth.username, password: auth.password, serveraddress: auth.registry };
  try {
    const stream = (await docker.pull(
      normalizeImageRef(ref),
      authconfig ? { authconfig } : {},
    )) as NodeJS.ReadableStream;
    await followProgress(docker, stream);
  } catch (err) {
    const status = statusCodeOf(err);
    if (status !== undefined || !(err as NodeJS.ErrnoException).code) {
      let said = (err as Error).message.replace(/^\(HTTP code \d+\)[^-]*- /, "").trim();
      if (auth?.password) said = said.split(auth.password).join("***");
      if (auth && REFUSED.test(said))
        throw new TerminalError(
          "ImagePullFailed",
          `${auth.registry} refused the pull of ${ref} as ${auth.username}: ${said}`,
        );
      throw new Error(`image ${ref} is not on the engine and could not be pulled: ${said}`, { cause: err });
    }
    throw engineError(address, err);
  }
}

const MAX_CONTEXT_FILES = 10_000;

/** Every file of a build context, relative, sorted; dot-folders such as .git are left out. */
export function contextFiles(dir: string): string[] {
  const files: string[] = [];
  const visit = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name.startsWith(".")) continue;
      const full = join(d, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.isFile()) files.push(relative(dir, full));
      if (files.length > MAX_CONTEXT_FILES)
        throw new TerminalError("InvalidConfig", `build context ${dir} has more than ${MAX_CONTEXT_FILES} files`);
    }
  };
  visit(dir);
  return files.sort();
}

/** Content hashes of build contexts, reused while no file's size, mode or mtime changed. */
const contextHashes = new Map<string, { signature: string; hash: string }>();

/**
 * The tag of a build: changes whenever a file of the context or the Dockerfile choice changes.
 * Runs on every reconcile of a built app, so file contents are read only when a stat changed.
 */
export function buildTag(
  group: string,
  app: string,
  context: string,
  dockerfile: string | undefined,
): { tag: string; files: string[] } {
  const files = contextFiles(context);
  const stats = files.map((f) => statSync(join(context, f)));
  const signature = files.map((f, i) => `${f}\0${stats[i]?.size}\0${stats[i]?.mode}\0${stats[i]?.mtimeMs}`).join("\n");
  let cached = contextHashes.get(context);
  if (cached?.signature !== signature) {
    const hash = createHash("sha256");
    files.forEach((f, i) => {
      hash.update(`\0${f}\0${stats[i]?.mode}\0`);
      hash.update(readFileSync(join(context, f)));
    });
    cached = { signature, hash: hash.digest("hex") };
    contextHashes.set(context, cached);
  }
  const digest = createHash("sha256")
    .update(dockerfile ?? "Dockerfile")
    .update(cached.hash)
    .digest("hex");
  // group/app, not group-app: acme + prod-web and acme-prod + web must not share a repository.
  return { tag: `airloft-build/${group}/${app}:${digest.slice(0, 12)}`, files };
}

/** Builds a context through the engine; a failing Dockerfile is terminal until the spec changes. */
export async function buildImage(
  address: string,
  context: string,
  files: string[],
  tag: string,
  dockerfile: string | undefined,
): Promise<void> {
  const docker = dockerClient(address);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(
      { context, src: files },
      { t: tag, ...(dockerfile ? { dockerfile } : {}), rm: true, forcerm: true },
    );
  } catch (err) {
    throw engineError(address, err);
  }
  try {
    await followProgress(docker, stream);
  } catch (err) {
    throw new TerminalError("BuildFailed", `building ${context} failed: ${(err as Error).message.trim()}`, {
      cause: err,
    });
  }
}
