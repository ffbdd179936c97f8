import { Ajv, type ValidateFunction } from "ajv";
import { LineCounter } from "yaml";
import { type SourcePosition, ValidationError } from "../errors.js";
import { formatPath } from "../resources/manifest-object.js";
import { readSchema } from "../resources/schema-files.js";
import { schemaIssues } from "../resources/schemas.js";
import { duplicateKeys, nodeAt, parseDocuments, YAML_SYNTAX_ERROR } from "../resources/yaml-documents.js";
import { runToEnd } from "../util/steps.js";
import type { Path } from "./report.js";

export const MAX_COMPOSE_BYTES = 1024 * 1024;
const MAX_ALIAS_COUNT = 100;
const MAX_ISSUES = 50;

export interface ComposeFile {
  readonly value: Record<string, unknown>;
  /** The project name from a top-level `name:`, which the vendored schema predates. */
  readonly name: string | undefined;
  readonly place: (path: Path, atKey: boolean) => SourcePosition;
}

let validator: ValidateFunction | undefined;

/**
 * The Compose specification's schema (schemas/vendor/compose-spec, Apache 2.0), compiled once. It
 * is written for draft 2019-09 with draft-04 `id`s, which ajv's default draft refuses: the ids
 * (documentation only, nothing refers to them) and `$schema` are dropped, and its custom formats
 * (`duration`, `ports`, `expose`) are not checked here: the importer reads those values itself.
 */
function composeValidator(): ValidateFunction {
  if (validator) return validator;
  const schema = readSchema("vendor/compose-spec/compose-spec.json");
  delete schema.$schema;
  const stack: unknown[] = [schema];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (!node || typeof node !== "object") continue;
    const record = node as Record<string, unknown>;
    if (typeof record.id === "string") delete record.id;
    stack.push(...Object.values(record));
  }
  // This copy predates secrets taken from a variable of the shell (`environment: VAR`).
  const definitions = schema.definitions as Record<string, { properties: Record<string, unknown> }>;
  if (definitions.secret) definitions.secret.properties.environment = { type: "string" };
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, logger: false });
  validator = ajv.compile(schema);
  return validator;
}

/**
 * Reads a Compose file as the loader reads manifests (bounded size, nesting and aliases; every
 * error with its line and column) and checks it against the Compose schema.
 */
export function readCompose(content: string, file: string): { compose: ComposeFile } | { errors: ValidationError[] } {
  const at = (line: number, column: number): SourcePosition => ({ file, line, column });
  const size = Buffer.byteLength(content);
  if (size > MAX_COMPOSE_BYTES)
    return {
      errors: [new ValidationError(at(1, 1), "", `file is ${size} bytes, more than the limit of ${MAX_COMPOSE_BYTES}`)],
    };
  const lineCounter = new LineCounter();
  const position = (offset: number): SourcePosition => {
    const p = lineCounter.linePos(offset);
    return at(p.line, p.col);
  };
  const parsed = runToEnd(parseDocuments(content, lineCounter, { merge: true }));
  if ("refused" in parsed)
    return { errors: [new ValidationError(position(parsed.refused.offset), "", parsed.refused.message)] };
  const docs = parsed.documents.filter((d) => d.contents !== null);
  const [doc, second] = docs;
  if (!doc) return { errors: [new ValidationError(at(1, 1), "", "an empty file: a Compose file has services")] };
  if (second)
    return { errors: [new ValidationError(position(second.range[0]), "", "a Compose file is one YAML document")] };
  const syntax = doc.errors.map(
    (e) => new ValidationError(position(e.pos[0]), "", `${YAML_SYNTAX_ERROR}: ${e.message.split("\n")[0]}`),
  );
  if (syntax.length > 0) return { errors: syntax };
  const duplicates = duplicateKeys(doc, position);
  if (duplicates.length > 0) return { errors: duplicates };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const message = `cannot be read: ${err instanceof Error ? err.message : String(err)}`;
    return { errors: [new ValidationError(position(doc.range[0]), "", message)] };
  }
  const place = (path: Path, atKey: boolean): SourcePosition => {
    const node = nodeAt(doc, path, atKey);
    return node?.range ? position(node.range[0]) : position(doc.range[0]);
  };
  if (!value || typeof value !== "object" || Array.isArray(value))
    return { errors: [new ValidationError(place([], false), "", "a Compose file is a mapping with services")] };
  const { name, ...rest } = value as Record<string, unknown>;
  const validate = composeValidator();
  if (!validate(rest)) {
    const issues = schemaIssues(validate.errors ?? []).slice(0, MAX_ISSUES);
    return { errors: issues.map((i) => new ValidationError(place(i.path, i.atKey), formatPath(i.path), i.message)) };
  }
  if (name !== undefined && typeof name !== "string")
    return { errors: [new ValidationError(place(["name"], false), "name", "must be a string")] };
  return { compose: { value: rest, name, place } };
}
