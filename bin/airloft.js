#!/usr/bin/env node
// Runs the compiled CLI (`npm install` and `make build` compile it). In a checkout whose sources
// are newer than the build, runs the sources through tsx instead, so an edit is never ignored.
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = fileURLToPath(new URL("../dist/cli/index.js", import.meta.url));
const sources = fileURLToPath(new URL("../src", import.meta.url));

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const stale = !existsSync(compiled) || (existsSync(sources) && newestSource(sources) > statSync(compiled).mtimeMs);
if (!stale) {
  await import(compiled);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(`${sources}/cli/index.ts`);
}
