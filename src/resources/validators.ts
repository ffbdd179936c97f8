import { Ajv, type Options, type ValidateFunction } from "ajv";
import { AJV_OPTIONS, readSchema, SCHEMA_FILES } from "./schema-files.js";
import type { Kind } from "./types.js";

/** An ajv instance with the shared definitions added, ready to compile the kinds' schemas. */
export function schemaCompiler(options: Options = {}): Ajv {
  const ajv = new Ajv({ ...AJV_OPTIONS, ...options });
  ajv.addSchema(readSchema("common.schema.json"));
  return ajv;
}

/**
 * The validators, compiled at run time from schemas/. The bundled CLI replaces this module with
 * the same validators as ajv standalone code generated at build time (scripts/build.ts), so that
 * its start-up neither loads ajv's compiler nor compiles.
 */
export function compileValidators(): Map<Kind, ValidateFunction> {
  // verbose: errors carry parentSchema, whose description words the oneOf messages. The schemas
  // ship with AirLoft, so checking them against the meta-schema and optimising the generated code
  // would only slow every start from the sources (100 ms -> 40 ms); the unit tests and the build
  // compile them with both on.
  const ajv = schemaCompiler({ validateSchema: false, code: { optimize: false } });
  return new Map(Object.entries(SCHEMA_FILES).map(([kind, file]) => [kind as Kind, ajv.compile(readSchema(file))]));
}
