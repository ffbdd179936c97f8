import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { stringify } from "yaml";
import { type ImportOptions, importCompose } from "../../importers/compose.js";
import { secretCommands } from "../../importers/compose-secrets.js";
import { importFly } from "../../importers/fly.js";
import { formatNote } from "../../importers/report.js";
import { loadTexts } from "../../resources/loader.js";
import { UsageError } from "../context.js";

export interface ImportCommandOptions {
  readonly group?: string;
  readonly outputDir?: string;
  readonly domain?: readonly string[];
  readonly skipGroup?: boolean;
}

/** Read once: a Compose file or fly.toml is small; the importers bound it again. */
const MAX_INPUT_BYTES = 1024 * 1024;

/**
 * `airloft import compose|fly FILE`: the manifests on stdout (YAML documents) or one file per
 * object in -o DIR; on stderr, one line per field left out or changed, with its position. The
 * manifests are loaded back before they are written: what import prints, apply accepts.
 */
export async function importCommand(
  format: "compose" | "fly",
  file: string,
  opts: ImportCommandOptions,
): Promise<number> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file} is not a file`);
  if (statSync(file).size > MAX_INPUT_BYTES) throw new UsageError(`${file} is more than ${MAX_INPUT_BYTES} bytes`);
  const domains = new Map<string, string>();
  for (const d of opts.domain ?? []) {
    const eq = d.indexOf("=");
    if (eq < 1) throw new UsageError(`--domain ${d}: use SERVICE=HOST`);
    domains.set(d.slice(0, eq), d.slice(eq + 1));
  }
  const outDir = resolve(opts.outputDir ?? ".");
  const options: ImportOptions = {
    outDir,
    domains,
    ...(opts.group ? { group: opts.group } : {}),
    ...(opts.skipGroup ? { noGroup: true } : {}),
  };
  const shown = relative(process.cwd(), resolve(file)) || file;
  const content = readFileSync(file, "utf8");
  const result =
    format === "compose" ? importCompose(content, shown, file, options) : importFly(content, shown, file, options);
  if (result.errors.length > 0) {
    for (const e of result.errors) process.stderr.write(`error: ${e.message}\n`);
    process.stderr.write(`${result.errors.length} error(s); nothing was imported\n`);
    return 2;
  }
  for (const note of result.notes) process.stderr.write(`${formatNote(note)}\n`);
  if (result.secrets) {
    // Values never go into a manifest: the user sets them from their sources, from this folder.
    process.stderr.write("set the secrets (Compose's paths resolved against its file's folder, shown from here):\n");
    for (const command of secretCommands(result.secrets, process.cwd())) process.stderr.write(`  ${command}\n`);
  }

  const files = result.objects.map((o) => ({
    name: `${o.kind.toLowerCase()}-${o.metadata.name}.yaml`,
    content: stringify(o),
  }));
  // The generated manifests must load as written: a failure here is a field the importer let through.
  loadTexts(files.map((f) => ({ name: join(opts.outputDir ?? "", f.name), content: f.content, baseDir: outDir })));
  if (opts.outputDir) {
    mkdirSync(outDir, { recursive: true });
    for (const f of files) writeFileSync(join(outDir, f.name), f.content);
  } else {
    process.stdout.write(files.map((f) => f.content).join("---\n"));
  }
  const refused = result.notes.filter((n) => n.severity === "refused").length;
  const where = opts.outputDir ? ` in ${opts.outputDir}` : "";
  process.stderr.write(
    `${result.objects.length} object(s) written${where}; ${refused} field(s) not imported, ${result.notes.length - refused} changed\n`,
  );
  return 0;
}
