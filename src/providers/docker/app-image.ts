import { TerminalError } from "../../errors.js";
import type { App } from "../../resources/types.js";
import { formatOperation } from "../converge.js";
import type { SnapshotCache } from "../snapshot-cache.js";
import { buildImage, buildTag, findImage, pullImage, type RegistryAuth } from "./images.js";
import type { Snapshot } from "./observe.js";

/** An app's image: a reference, and for a build the tag and files it is made from. */
export interface AppImage {
  readonly ref: string;
  readonly build?: { tag: string; files: string[] };
}

export function appImage(app: App): AppImage {
  if (app.spec.build) {
    const build = buildTag(
      app.metadata.group ?? "",
      app.metadata.name,
      app.spec.build.context,
      app.spec.build.dockerfile,
    );
    return { ref: build.tag, build };
  }
  if (app.spec.source)
    throw new TerminalError(
      "UnsupportedOnDocker",
      `app ${app.metadata.name} sets spec.source, which runs on the aws provider only; give an image or a build on docker`,
    );
  return { ref: app.spec.image ?? "" };
}

/** Makes sure the image is on the engine (built or pulled) and returns its id. */
export async function ensureImage(
  snapshots: SnapshotCache<Snapshot>,
  address: string,
  image: AppImage,
  build: App["spec"]["build"],
  auth?: RegistryAuth,
): Promise<{ ref: string; id: string }> {
  let found = findImage((await snapshots.get(address)).images, image.ref);
  if (!found) {
    if (image.build && build)
      await buildImage(address, build.context, image.build.files, image.build.tag, build.dockerfile);
    else await pullImage(address, image.ref, auth);
    snapshots.invalidate(address);
    found = findImage((await snapshots.get(address)).images, image.ref);
  }
  if (!found) throw new Error(`image ${image.ref} is still not on the engine at ${address}`);
  return { ref: image.ref, id: found.id };
}

/** Without the image its id is unknown; what will happen is a build or pull, then a rollout. */
export function imageMissing(target: string, ref: string, how: "build" | "pull"): string[] {
  return [
    formatOperation(target, how, undefined, `image ${ref} not on the engine`),
    formatOperation(target, "rollout", undefined, "new image"),
  ];
}
