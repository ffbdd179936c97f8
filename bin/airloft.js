#!/usr/bin/env node
// Runs the bundled CLI (`npm install` and `make build` build it: scripts/build.ts). In a checkout
// whose sources or schemas are newer than the bundle, runs the sources through tsx instead, so an
// edit is never ignored.
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundle = fileURLToPath(new URL("../dist/cli/airloft.js", import.meta.url));
const sources = fileURLToPath(new URL("../src", import.meta.url));
// The bundle holds the schemas too, compiled.
const schemas = fileURLToPath(new URL("../schemas", import.meta.url));

function newest(dir) {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

const stale = !existsSync(bundle) || Math.max(newest(sources), newest(schemas)) > statSync(bundle).mtimeMs;
if (!stale) {
  await import(bundle);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(`${sources}/cli/index.ts`);
}
