import { Ajv, type ValidateFunction } from "ajv";
import { type SchemaIssue, schemaIssues } from "../resources/schemas.js";

const durationOrSeconds = { type: ["string", "integer"] };
const check = {
  type: "object",
  properties: {
    type: { type: "string" },
    path: { type: "string" },
    port: { type: "integer" },
    interval: durationOrSeconds,
    timeout: durationOrSeconds,
    grace_period: durationOrSeconds,
  },
};
const service = {
  type: "object",
  required: ["internal_port"],
  properties: {
    internal_port: { type: "integer", minimum: 1, maximum: 65535 },
    protocol: { type: "string" },
    processes: { type: "array", items: { type: "string" } },
    min_machines_running: { type: "integer", minimum: 0, maximum: 1000 },
    checks: { type: "array", items: check },
    http_checks: { type: "array", items: check },
  },
};
const vm = {
  type: "object",
  properties: {
    size: { type: "string" },
    memory: { type: ["string", "integer"] },
    memory_mb: { type: "integer", minimum: 1 },
    cpus: { type: "number", exclusiveMinimum: 0 },
    processes: { type: "array", items: { type: "string" } },
  },
};

/**
 * The types of the fly.toml fields the importer reads (fly.io publishes no schema for the file):
 * other fields are reported by name, and these must have the shape the importer expects.
 */
const FLY_SCHEMA = {
  type: "object",
  required: ["app"],
  properties: {
    app: { type: "string", minLength: 1 },
    build: { type: "object", properties: { image: { type: "string" }, dockerfile: { type: "string" } } },
    env: { type: "object", additionalProperties: { type: ["string", "number", "boolean"] } },
    processes: { type: "object", additionalProperties: { type: "string" } },
    http_service: service,
    services: { type: "array", items: service },
    checks: { type: "object", additionalProperties: check },
    vm: { oneOf: [vm, { type: "array", items: vm }], description: "must be a table or an array of tables" },
    deploy: { type: "object", properties: { strategy: { type: "string" }, release_command: { type: "string" } } },
  },
};

let validator: ValidateFunction | undefined;

export function flyIssues(value: unknown): SchemaIssue[] {
  validator ??= new Ajv({ allErrors: true, strict: false, logger: false }).compile(FLY_SCHEMA);
  return validator(value) ? [] : schemaIssues(validator.errors ?? []);
}
