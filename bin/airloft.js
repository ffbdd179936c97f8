#!/usr/bin/env node
// Runs the compiled CLI (npm install builds it); from a checkout without a build, the sources via tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = fileURLToPath(new URL("../dist/cli/index.js", import.meta.url));
if (existsSync(compiled)) {
  await import(compiled);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(fileURLToPath(new URL("../src/cli/index.ts", import.meta.url)));
}
