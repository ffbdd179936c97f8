import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Kind } from "./types.js";

// Two levels below the package root, from src/resources/ and from the bundle in dist/cli/ alike.
const SCHEMA_DIR = fileURLToPath(new URL("../../schemas/", import.meta.url));

export function readSchema(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(SCHEMA_DIR + file, "utf8")) as Record<string, unknown>;
}

export const AJV_OPTIONS = {
  allErrors: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  logger: false,
} as const;

/** Each kind's schema file; common.schema.json holds what they share. */
export const SCHEMA_FILES: Readonly<Record<Kind, string>> = {
  Group: "group.schema.json",
  App: "app.schema.json",
  Service: "service.schema.json",
  Quota: "quota.schema.json",
  Secret: "secret.schema.json",
  Alert: "alert.schema.json",
};
