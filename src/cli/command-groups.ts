import type { Command } from "commander";

// Command families with several subcommands, registered here to keep main.ts to the program's shape.

/** How main.ts runs an action (setting the exit code) and adds the global options to its own. */
export interface Wiring {
  readonly run: <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;
  readonly globals: <T extends object>(options: T) => T & { state?: string; verbose?: boolean; server?: string };
}

/** A repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function addSecretCommands(program: Command, { run, globals }: Wiring): void {
  const secret = program.command("secret").description("encrypted values of a group, for apps' env, files and pulls");
  const secrets = async () => import("./commands/secret.js");
  secret
    .command("set")
    .description("set keys of a secret (made if missing): KEY=VALUE, KEY=- (from stdin) or --from-file KEY=path")
    .argument("<name>")
    .argument("[pairs...]", "KEY=VALUE or KEY=-")
    .requiredOption("-g, --group <group>", "the secret's group")
    .option("--from-file <KEY=path>", "a key's value from a file (repeatable)", collect)
    .action(
      run(async (name: string, pairs: string[], opts: { group: string; fromFile?: string[] }) =>
        (await secrets()).secretSetCommand(name, pairs, globals(opts)),
      ),
    );
  secret
    .command("unset")
    .description("remove keys from a secret")
    .argument("<name>")
    .argument("<keys...>")
    .requiredOption("-g, --group <group>", "the secret's group")
    .action(
      run(async (name: string, keys: string[], opts: { group: string }) =>
        (await secrets()).secretUnsetCommand(name, keys, globals(opts)),
      ),
    );
  secret
    .command("list")
    .description("secrets with their key names and value hashes (never values)")
    .option("-g, --group <group>", "only this group")
    .action(run(async (opts: { group?: string }) => (await secrets()).secretListCommand(globals(opts))));
  secret
    .command("rotate-key")
    .description("re-encrypt every secret value under a new key")
    .action(run(async () => (await secrets()).secretRotateCommand(globals({}))));
}

export function addImportCommands(program: Command, { run }: Pick<Wiring, "run">): void {
  const importer = program
    .command("import")
    .description("write AirLoft manifests from a docker-compose.yml or a fly.toml, and report what does not map");
  for (const [format, what] of [
    ["compose", "a Compose file (versions 2 and 3)"],
    ["fly", "a fly.io fly.toml"],
  ] as const) {
    importer
      .command(format)
      .description(`manifests from ${what}: to stdout, or one file per object in -o DIR`)
      .argument("<file>", what)
      .option("-g, --group <group>", "the group of the objects (default: the project's or app's name)")
      .option("-o, --output-dir <dir>", "write one manifest file per object in this folder")
      .option("--domain <service=host>", "the public domain of a service's app on the edge (repeatable)", collect)
      .option("--skip-group", "leave the Group out (it exists already)")
      .action(
        run(
          async (file: string, opts: { group?: string; outputDir?: string; domain?: string[]; skipGroup?: boolean }) =>
            (await import("./commands/import.js")).importCommand(format, file, opts),
        ),
      );
  }
}

export function addRolloutCommands(program: Command, { run, globals }: Wiring): void {
  const rollout = program.command("rollout").description("an app's revisions: history, status and undo");
  const commands = async () => import("./commands/rollout.js");
  const onApp = (name: string, description: string): Command =>
    rollout
      .command(name)
      .description(description)
      .argument("<ref...>", "app/NAME")
      .option("-g, --group <group>", "the app's group");
  onApp("history", "the app's kept revisions: image, when, by whom, outcome")
    .option("-o, --output <format>", "table or json", "table")
    .action(
      run(async (words: string[], opts: object) => (await commands()).rolloutHistoryCommand(words, globals(opts))),
    );
  onApp("status", "follow the app's rollout until it is done (exit 0) or failed (exit 1)")
    .option("--timeout <duration>", "give up after this long", "15m")
    .action(
      run(async (words: string[], opts: object) => (await commands()).rolloutStatusCommand(words, globals(opts))),
    );
  onApp("undo", "restore a revision (the previous one by default) as a new revision")
    .option("--to-revision <n>", "the revision to restore")
    .option("--force", "undo although a git-ops source will put the app back on its next sync")
    .option("--suspend-source", "suspend the app's git-ops source first (admin)")
    .action(run(async (words: string[], opts: object) => (await commands()).rolloutUndoCommand(words, globals(opts))));
}
