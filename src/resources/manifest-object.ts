import { existsSync, realpathSync, statSync } from "node:fs";
import { resolve, sep } from "node:path";
import { type SourcePosition, ValidationError } from "../errors.js";
import type { Steps } from "../util/steps.js";
import { isKind } from "./kinds.js";
import { checkPolicy } from "./policy.js";
import { validateAgainstSchema } from "./schemas.js";
import { secretInput } from "./secret-input.js";
import type { Resource } from "./types.js";

/** A manifest's object as loaded, with where it was written. */
export interface LoadedManifest {
  readonly object: Resource;
  readonly source: SourcePosition;
  /** A Secret's values (its data and stringData): never part of the object. */
  readonly values?: Readonly<Record<string, Buffer>>;
}

/**
 * Where build contexts may be: anywhere on this machine (the CLI, reading the user's own files),
 * only inside `baseDir` (a server with --build-root), or nowhere (a server without one: a tenant
 * must not make the server read its folders).
 */
export type BuildContextPolicy = "anywhere" | "inside" | "refused";

const MAX_ISSUES_PER_DOCUMENT = 50;

export type FieldPath = readonly (string | number)[];
export type DocumentResult = { errors: ValidationError[] } | { manifest?: LoadedManifest };

/**
 * One parsed object (from YAML or TOML alike) to a manifest: kind, policy and schema checks, the
 * build context, and only the fields users may set. `fieldPosition` places a path in the source.
 */
export function* checkObject(
  value: unknown,
  fieldPosition: (path: FieldPath, atKey: boolean) => SourcePosition,
  baseDir: string,
  builds: BuildContextPolicy,
): Steps<DocumentResult> {
  const fail = (path: FieldPath, message: string, atKey = false): DocumentResult => ({
    errors: [new ValidationError(fieldPosition(path, atKey), formatPath(path), message)],
  });

  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return fail([], "a manifest must be a mapping with apiVersion, kind, metadata and spec");
  }
  const kind = (value as { kind?: unknown }).kind;
  if (kind === undefined) return fail([], 'missing required field "kind"');
  if (!isKind(kind))
    return fail(["kind"], `unknown kind ${JSON.stringify(kind)}; expected one of Group, App, Service, Quota, Secret`);

  yield;
  const policy = checkPolicy(kind, value);
  yield;
  const schema = validateAgainstSchema(kind, value).filter(
    (s) => !policy.some((p) => formatPath(p.path) === formatPath(s.path)),
  );
  // A list of 20,000 wrong items is said in its first problems, not 20,000 of them.
  const issues = [...policy, ...schema].slice(0, MAX_ISSUES_PER_DOCUMENT);
  if (issues.length > 0) {
    const errors = issues.map(
      (i) => new ValidationError(fieldPosition(i.path, i.atKey), formatPath(i.path), i.message),
    );
    return {
      errors: errors.sort((a, b) => a.position.line - b.position.line || a.position.column - b.position.column),
    };
  }
  const object = normalize(value as Resource);
  if (object.kind === "App" && object.spec.build) {
    if (builds === "refused")
      return fail(
        ["spec", "build"],
        "this server builds no local folders: give an image, or start the server with --build-root",
      );
    const context = resolve(baseDir, object.spec.build.context);
    if (builds === "inside") {
      // One answer for missing and outside: a tenant learns nothing of the server's other paths.
      if (!isFolderInside(context, baseDir))
        return fail(
          ["spec", "build", "context"],
          `build context ${object.spec.build.context} is not a folder inside this group's build root`,
        );
    } else if (!existsSync(context) || !statSync(context).isDirectory()) {
      return fail(["spec", "build", "context"], `build context ${context} is not a folder`);
    }
    object.spec.build = { ...object.spec.build, context };
  }
  const source = fieldPosition(["metadata", "name"], false);
  // A Secret's values leave the object here: the store keeps only their keyed hashes.
  if (object.kind === "Secret") return { manifest: { object, source, values: secretInput(value) } };
  return { manifest: { object, source } };
}

/** Whether `path` is a folder that, links resolved, lies inside `root`. */
function isFolderInside(path: string, root: string): boolean {
  if (!existsSync(path) || !existsSync(root)) return false;
  return isInside(realpathSync(path), realpathSync(root)) && statSync(path).isDirectory();
}

function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Keeps what users may set: the store owns the rest of metadata, controllers own status. */
function normalize(obj: Resource): Resource {
  const { name, group, labels, annotations, resourceVersion } = obj.metadata;
  const metadata = {
    name,
    ...(group !== undefined ? { group } : {}),
    ...(labels ? { labels } : {}),
    ...(annotations ? { annotations } : {}),
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
  };
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata, spec: obj.spec } as Resource;
}

/** ["spec", "command", 0] -> "spec.command[0]" */
export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (out, seg) => (typeof seg === "number" ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg),
    "",
  );
}
