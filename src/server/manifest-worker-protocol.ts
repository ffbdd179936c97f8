import { AirloftError, errorMessage, type SourcePosition, ValidationError, ValidationErrors } from "../errors.js";
import type { LoadedManifest } from "../resources/loader.js";
import { ApiError } from "./http.js";
import type { ManifestBody, ParsedBody } from "./manifest-body.js";

/**
 * The messages between the server and its manifest worker (src/server/manifest-worker.ts). A
 * message is structured-cloned, which keeps plain data only: errors travel as their parts and
 * are made again on the server's side, and a Buffer arrives as a Uint8Array.
 */
export interface ParseRequest {
  readonly id: number;
  readonly input: ManifestBody;
}

/** What the worker sends: that it is ready (once, when its modules are loaded), or an answer. */
export type WorkerMessage = { readonly ready: true } | ParseReply;

export type ParseReply = { readonly id: number } & (
  | { readonly parsed: WireParsed }
  | { readonly failure: EncodedFailure }
);

/** A parsed body on the way: its refusals as plain data. */
interface WireParsed {
  readonly manifests: LoadedManifest[];
  readonly oversized: readonly Issue[];
}

interface Issue {
  readonly position: SourcePosition;
  readonly field: string;
  readonly detail: string;
}

type EncodedFailure =
  | { readonly kind: "invalid"; readonly issues: readonly Issue[]; readonly single: boolean }
  | {
      readonly kind: "api";
      readonly status: number;
      readonly reason: string;
      readonly message: string;
      readonly headers: Record<string, string>;
    }
  | { readonly kind: "airloft"; readonly code: string; readonly message: string }
  | { readonly kind: "other"; readonly message: string };

/** A parse's failure as plain data. */
export function encodeFailure(err: unknown): EncodedFailure {
  if (err instanceof ValidationErrors) return { kind: "invalid", issues: err.errors.map(issueOf), single: false };
  if (err instanceof ValidationError) return { kind: "invalid", issues: [issueOf(err)], single: true };
  if (err instanceof ApiError)
    return { kind: "api", status: err.status, reason: err.reason, message: err.message, headers: err.headers };
  if (err instanceof AirloftError) return { kind: "airloft", code: err.code, message: err.message };
  return { kind: "other", message: errorMessage(err) };
}

/** The error the worker threw, made again. */
export function decodeFailure(failure: EncodedFailure): Error {
  switch (failure.kind) {
    case "invalid": {
      const errors = failure.issues.map(validationError);
      const [first] = errors;
      return failure.single && first ? first : new ValidationErrors(errors);
    }
    case "api":
      return new ApiError(failure.status, failure.reason, failure.message, failure.headers);
    case "airloft":
      return new AirloftError(failure.code, failure.message);
    case "other":
      return new Error(`parsing the manifests failed: ${failure.message}`);
  }
}

/** A parsed body as the worker sends it. */
export function encodeParsed(parsed: ParsedBody): WireParsed {
  return { manifests: parsed.manifests, oversized: parsed.oversized.map(issueOf) };
}

/** A parsed body as it arrived: its errors made again, and a Secret's values Buffers again. */
export function decodeParsed(parsed: WireParsed): ParsedBody {
  return { manifests: parsed.manifests.map(withBufferValues), oversized: parsed.oversized.map(validationError) };
}

function issueOf(err: ValidationError): Issue {
  return { position: err.position, field: err.field, detail: err.detail };
}

function validationError(issue: Issue): ValidationError {
  return new ValidationError(issue.position, issue.field, issue.detail);
}

function withBufferValues(manifest: LoadedManifest): LoadedManifest {
  if (!manifest.values) return manifest;
  // fromEntries defines each name as its own property, "__proto__" too.
  const values = Object.fromEntries(
    Object.entries(manifest.values).map(([name, value]) => [
      name,
      Buffer.from(value.buffer, value.byteOffset, value.byteLength),
    ]),
  );
  return { ...manifest, values };
}
