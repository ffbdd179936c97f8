/**
 * Builds the CLI that `bin/airloft.js` runs: one esbuild bundle of src/cli/index.ts and its
 * dependencies in dist/cli/, split at each dynamic import so that a command loads only what it
 * uses (`get` never parses the AWS SDK or dockerode). The manifest schemas are compiled here, to
 * ajv standalone code, instead of at every start. Run by `npm install` (prepare) and `make build`.
 * Usage: npx tsx scripts/build.ts
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import standalone from "ajv/dist/standalone/index.js";
import { build, type Metafile, type Plugin } from "esbuild";
import { readSchema, SCHEMA_FILES } from "../src/resources/schema-files.js";
import { schemaCompiler } from "../src/resources/validators.js";

const ROOT = join(import.meta.dirname, "..");
/** Two levels down, as src/resources/ is: `new URL("../../schemas/", import.meta.url)` holds in both. */
export const OUT_DIR = join(ROOT, "dist/cli");
export const ENTRY = join(OUT_DIR, "airloft.js");

/** src/resources/validators.ts as standalone code: the same validators, compiled now. */
export function validatorsModule(): string {
  // Checked against the meta-schema and optimised: that costs the build, not every start.
  const ajv = schemaCompiler({ code: { source: true, esm: true } });
  const ids: Record<string, string> = {};
  for (const [kind, file] of Object.entries(SCHEMA_FILES)) {
    const schema = readSchema(file);
    ajv.addSchema(schema);
    ids[kind] = String(schema.$id);
  }
  const kinds = Object.keys(ids);
  return `${standalone.default(ajv, ids)}\nexport function compileValidators() { return new Map([${kinds.map((k) => `[${JSON.stringify(k)}, ${k}]`).join(", ")}]); }\n`;
}

const precompiledSchemas: Plugin = {
  name: "precompiled-schemas",
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]resources[\\/]validators\.ts$/ }, () => ({
      contents: validatorsModule(),
      loader: "js",
      resolveDir: join(ROOT, "src/resources"),
    }));
  },
};

/**
 * dockerode loads, at its own start, the code of two features AirLoft never uses: BuildKit sessions
 * (gRPC and protobuf) and engines over ssh (ssh2), most of its cost. Here each is left out of the
 * bundle and loaded from the installed package when first called (both are functions, called as
 * such), through a require anchored at dockerode, a direct dependency that resolves from dist/ as
 * its own dependencies resolve from it, wherever npm placed them.
 */
const DEFERRED_REQUIRES: ReadonlyArray<{ file: RegExp; module: string; anchor: string }> = [
  {
    file: /[\\/]node_modules[\\/]dockerode[\\/]lib[\\/]docker\.js$/,
    module: "./session",
    anchor: 'require.resolve("dockerode")',
  },
  {
    file: /[\\/]node_modules[\\/]docker-modem[\\/]lib[\\/]modem\.js$/,
    module: "./ssh",
    anchor: 'createRequire(require.resolve("dockerode")).resolve("docker-modem")',
  },
];

const deferredRequires: Plugin = {
  name: "deferred-requires",
  setup(b) {
    for (const { file, module, anchor } of DEFERRED_REQUIRES) {
      b.onLoad({ filter: file }, (args) => {
        const source = readFileSync(args.path, "utf8");
        const call = new RegExp(`require\\((['"])${module.replace(".", "\\.")}\\1\\)`);
        // Fails the build when a new version changes the line, instead of quietly loading it eagerly.
        if (!call.test(source)) throw new Error(`${args.path}: no require of ${module} to defer`);
        const load =
          `(function () { var createRequire = require("node:module").createRequire; ` +
          `return createRequire(${anchor})(${JSON.stringify(module)}).apply(this, arguments); })`;
        return { contents: source.replace(call, load), loader: "js" };
      });
    }
  },
};

/**
 * Dependencies' CommonJS code runs inside an ES module here: it gets its `require` (for Node's
 * built-ins and the optional native add-ons left out) and `__dirname` as a CommonJS file would.
 */
const COMMONJS_GLOBALS = [
  'import { createRequire as __airloftCreateRequire } from "node:module";',
  'import { fileURLToPath as __airloftFileURLToPath } from "node:url";',
  "const require = __airloftCreateRequire(import.meta.url);",
  "const __filename = __airloftFileURLToPath(import.meta.url);",
  'const __dirname = __airloftFileURLToPath(new URL(".", import.meta.url));',
].join(" ");

/** Builds into `outdir` (emptied first); the metafile says which inputs each output holds. */
export async function buildCli(outdir = OUT_DIR): Promise<Metafile> {
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    // The server's manifest worker is a thread of its own (src/server/manifest-worker.ts).
    entryPoints: {
      airloft: join(ROOT, "src/cli/index.ts"),
      "manifest-worker-main": join(ROOT, "src/server/manifest-worker-main.ts"),
    },
    outdir,
    metafile: true,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: true,
    banner: { js: COMMONJS_GLOBALS },
    plugins: [precompiledSchemas, deferredRequires],
    logLevel: "warning",
  });
  return result.metafile;
}

if (process.argv[1] === import.meta.filename) await buildCli();
