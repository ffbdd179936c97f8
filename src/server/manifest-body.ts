import { ValidationError } from "../errors.js";
import { displayName } from "../resources/kinds.js";
import {
  type BuildContextPolicy,
  type LoadedManifest,
  loadTextsSteps,
  type ManifestText,
} from "../resources/loader.js";
import type { Steps } from "../util/steps.js";
import { ApiError, parseJson } from "./http.js";

/** An apply's body and what its parsing depends on: plain data, so that a worker thread can take it. */
export interface ManifestBody {
  /** The media type it was sent as. */
  readonly type: string;
  readonly body: Uint8Array;
  /** Where relative build contexts start (the account's folder of the build root). */
  readonly baseDir: string;
  readonly builds: BuildContextPolicy;
  /** The server's limit on one object's size as JSON. */
  readonly maxObjectBytes: number;
}

/** A body's manifests, and those past the object size limit (said with the apply's other refusals). */
export interface ParsedBody {
  readonly manifests: LoadedManifest[];
  readonly oversized: ValidationError[];
}

/**
 * Parses and checks an apply's body: manifest text (YAML or JSON, several documents allowed), or
 * JSON `{"files": [{"name", "content"}]}` so that errors name the user's own files and lines.
 * Throws ValidationErrors for a manifest that is wrong, and ApiError for a body of the wrong shape.
 */
export function* parseManifestBody(input: ManifestBody): Steps<ParsedBody> {
  const { baseDir, builds } = input;
  const body = Buffer.from(input.body.buffer, input.body.byteOffset, input.body.byteLength);
  let texts: ManifestText[] = [{ name: "request body", content: body, baseDir }];
  if (input.type === "application/json") {
    const value = parseJson<unknown>(body, "apply");
    const files = value !== null && typeof value === "object" ? (value as { files?: unknown }).files : undefined;
    if (files !== undefined) {
      if (!Array.isArray(files) || !files.every((f) => typeof f?.name === "string" && typeof f?.content === "string")) {
        throw new ApiError(400, "BadRequest", 'files must be a list of {"name": string, "content": string}');
      }
      texts = (files as Array<{ name: string; content: string }>).map((f) => ({
        name: f.name,
        content: f.content,
        baseDir,
      }));
    }
  }
  const manifests = yield* loadTextsSteps(texts, builds);
  return { manifests, oversized: yield* oversizedObjects(manifests, input.maxObjectBytes) };
}

/** One object's size is limited: each watch line and history entry carries it whole. */
function* oversizedObjects(manifests: readonly LoadedManifest[], maxObjectBytes: number): Steps<ValidationError[]> {
  const errors: ValidationError[] = [];
  for (const m of manifests) {
    yield;
    const bytes = Buffer.byteLength(JSON.stringify(m.object));
    if (bytes > maxObjectBytes)
      errors.push(
        new ValidationError(
          m.source,
          "",
          `${displayName(m.object)} is ${bytes} bytes as JSON, more than the limit of ${maxObjectBytes} bytes per object`,
        ),
      );
  }
  return errors;
}
