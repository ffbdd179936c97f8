import type { ErrorObject, ValidateFunction } from "ajv";
import type { Kind } from "./types.js";
import { compileValidators } from "./validators.js";

export { AJV_OPTIONS, readSchema } from "./schema-files.js";

let compiled: Map<Kind, ValidateFunction> | undefined;

/** Compiled once per process, on first use: ajv compilation is the slow part of validation. */
function validators(): Map<Kind, ValidateFunction> {
  compiled ??= compileValidators();
  return compiled;
}

export interface SchemaIssue {
  /** Path segments to the offending value (for an unknown field, the field itself). */
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** True when the position should be the key of the last segment, not its value. */
  readonly atKey: boolean;
}

function decodePointer(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function toIssue(err: ErrorObject): SchemaIssue {
  const path = decodePointer(err.instancePath);
  switch (err.keyword) {
    case "additionalProperties": {
      const field = String((err.params as { additionalProperty: string }).additionalProperty);
      return { path: [...path, field], message: "unknown field", atKey: true };
    }
    case "required": {
      const field = String((err.params as { missingProperty: string }).missingProperty);
      // The position is the parent's (the field is not there); the path names the field.
      return { path: [...path, field], message: "is required", atKey: false };
    }
    case "enum":
      return {
        path,
        message: `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`,
        atKey: false,
      };
    case "const":
      return {
        path,
        message: `must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}`,
        atKey: false,
      };
    case "oneOf":
    case "anyOf":
    case "not": {
      const description = (err.parentSchema as { description?: string } | undefined)?.description;
      return { path, message: description ?? err.message ?? "is invalid", atKey: false };
    }
    case "pattern":
      return { path, message: `must match ${(err.params as { pattern: string }).pattern}`, atKey: false };
    default:
      return { path, message: err.message ?? "is invalid", atKey: false };
  }
}

/** Schema problems of one document; branch errors under a failed oneOf fold into one message. */
export function validateAgainstSchema(kind: Kind, doc: unknown): SchemaIssue[] {
  const validate = validators().get(kind);
  if (!validate) throw new Error(`no schema for kind ${kind}`);
  if (validate(doc)) return [];
  return schemaIssues(validate.errors ?? []);
}

/** ajv's errors as issues: branch errors under a failed oneOf or anyOf fold into one message. */
export function schemaIssues(errors: readonly ErrorObject[]): SchemaIssue[] {
  const oneOfPaths = errors
    .filter((e) => e.keyword === "oneOf" || e.keyword === "anyOf")
    .map((e) => `${e.schemaPath}/`);
  const kept = errors.filter((e) => !oneOfPaths.some((p) => e.schemaPath.startsWith(p)));
  return kept.map(toIssue);
}
