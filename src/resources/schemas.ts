import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { Kind } from "./types.js";

const SCHEMA_DIR = fileURLToPath(new URL("../../schemas/", import.meta.url));

export function readSchema(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(SCHEMA_DIR + file, "utf8")) as Record<string, unknown>;
}

export const AJV_OPTIONS = { allErrors: true, verbose: true, strict: true, strictRequired: false, logger: false } as const;

let compiled: Map<Kind, ValidateFunction> | undefined;

/** Compiled once per process: ajv compilation is the slow part of validation. */
function validators(): Map<Kind, ValidateFunction> {
  if (compiled) return compiled;
  // verbose: errors carry parentSchema, whose description words the oneOf messages. The schemas
  // ship with AirLoft, so checking them against the meta-schema and optimising the generated code
  // would only slow every CLI start (100 ms -> 40 ms); the unit tests compile them with both on.
  const ajv = new Ajv({ ...AJV_OPTIONS, validateSchema: false, code: { optimize: false } });
  ajv.addSchema(readSchema("common.schema.json"));
  compiled = new Map<Kind, ValidateFunction>([
    ["Group", ajv.compile(readSchema("group.schema.json"))],
    ["App", ajv.compile(readSchema("app.schema.json"))],
    ["Service", ajv.compile(readSchema("service.schema.json"))],
    ["Quota", ajv.compile(readSchema("quota.schema.json"))],
  ]);
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
      return { path, message: `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`, atKey: false };
    case "const":
      return { path, message: `must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}`, atKey: false };
    case "oneOf": {
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
  const errors = validate.errors ?? [];
  const oneOfPaths = errors.filter((e) => e.keyword === "oneOf").map((e) => e.schemaPath.replace(/\/oneOf$/, "/oneOf/"));
  const kept = errors.filter((e) => !oneOfPaths.some((p) => e.schemaPath.startsWith(p)));
  return kept.map(toIssue);
}
