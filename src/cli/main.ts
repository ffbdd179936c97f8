import { Command, CommanderError, Option } from "commander";
import { AirloftError, errorMessage, ValidationErrors } from "../errors.js";
import { addImportCommands, addRolloutCommands, addSecretCommands, collect } from "./command-groups.js";
import { DEFAULT_STATE_FILE, UsageError } from "./context.js";
import { edgeFlags } from "./edge-flags.js";

// Each command loads its module when it runs: a start-up pays only for the command it runs.

/** Exit codes: 0 fine, 1 something did not converge (or diff found changes), 2 bad input or error. */
const EXIT_ERROR = 2;

/** The loop commands' log format: text, or one JSON object a line for a log system. */
const logFormat = (): Option =>
  new Option("-o, --log-format <format>", "the loop's log lines as text or json (for a log system)").default("text");
const notifyAllowCidr = (): Option =>
  new Option(
    "--notify-allow-cidr <list>",
    "CIDRs Alert webhooks may reach although loopback, link-local or private, comma-separated",
  ).env("AIRLOFT_NOTIFY_ALLOW_CIDR");

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("airloft")
    .description("AirLoft: declarative apps, services and quotas on Docker or AWS, without Kubernetes")
    .version("0.1.0")
    .addOption(new Option("--state <file>", `state file (default ${DEFAULT_STATE_FILE}, or $AIRLOFT_STATE)`))
    .addOption(
      new Option(
        "--server <url>",
        "work against an AirLoft server (after airloft login) instead of the local state file",
      ).env("AIRLOFT_SERVER"),
    )
    .option("-v, --verbose", "log what the controllers do, on stderr")
    .showHelpAfterError()
    .exitOverride();

  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      setExit(await fn(...args));
    };
  const globals = <T extends object>(options: T): T & { state?: string; verbose?: boolean; server?: string } => ({
    ...program.opts(),
    ...options,
  });
  /** The server to work against, if one is named (every command has a remote form). */
  const server = (): string | undefined => (program.opts() as { server?: string }).server;

  program
    .command("apply")
    .description("validate manifests, store them, and converge them (in-process unless a server is used)")
    .requiredOption("-f, --filename <path>", "manifest file or folder (repeatable)", collect)
    .option("-R, --recursive", "read folders recursively")
    .option("--dry-run", "validate and show what would change; store nothing")
    .option("--wait", "wait until everything applied is Ready (the default)", true)
    .option("--no-wait", "store only; do not run the controllers")
    .option("--timeout <duration>", "how long to wait for Ready", "5m")
    .option(
      "--prune",
      "delete what an earlier --prune apply of the same source applied and the manifests no longer define",
    )
    .option("--source <name>", "the inventory --prune keeps (default: named after the paths)")
    .action(
      run(
        async (opts: {
          filename: string[];
          recursive?: boolean;
          dryRun?: boolean;
          wait?: boolean;
          timeout?: string;
          prune?: boolean;
          source?: string;
        }) => {
          return (await import("./commands/apply.js")).applyCommand(globals(opts));
        },
      ),
    );

  program
    .command("diff")
    .description("show spec changes and planned infrastructure operations; exit 0 none, 1 changes, 2 error")
    .requiredOption("-f, --filename <path>", "manifest file or folder (repeatable)", collect)
    .option("-R, --recursive", "read folders recursively")
    .action(
      run(async (opts: { filename: string[]; recursive?: boolean }) =>
        (await import("./commands/diff.js")).diffCommand(globals(opts)),
      ),
    );

  program
    .command("get")
    .description("list objects: airloft get [KIND] [NAME]")
    .argument("[words...]", "KIND, KIND NAME, KIND/NAME or KIND/GROUP/NAME")
    .option("-g, --group <group>", "only this group")
    .option("-o, --output <format>", "table, wide, yaml, json or toml", "table")
    .option("--show-secrets", "include generated credentials (with -o json or yaml)")
    .option("-w, --watch", "after the list, print each change as it happens, until Ctrl-C")
    .action(
      run(
        async (words: string[], opts: { group?: string; output?: string; showSecrets?: boolean; watch?: boolean }) => {
          if (words.length === 1 && /^sources?$/.test(words[0] ?? ""))
            return (await import("./commands/sources.js")).sourcesCommand(globals(opts));
          return (await import("./commands/get.js")).getCommand(words, globals(opts));
        },
      ),
    );

  program
    .command("describe")
    .description("spec, conditions, events and the real containers of one object")
    .argument("<words...>", "KIND/NAME or KIND/GROUP/NAME")
    .option("-g, --group <group>", "the object's group")
    .action(
      run(async (words: string[], opts: { group?: string }) => {
        return (await import("./commands/get.js")).describeCommand(words, globals(opts));
      }),
    );

  program
    .command("delete")
    .description("delete objects named by manifests or by KIND/NAME, and their infrastructure")
    .argument("[words...]", "KIND/NAME or KIND/GROUP/NAME")
    .option("-f, --filename <path>", "manifest file or folder (repeatable)", collect)
    .option("-R, --recursive", "read folders recursively")
    .option("-g, --group <group>", "the object's group")
    .option("--cascade", "deleting a group deletes everything in it too")
    .option("--wait", "wait until the infrastructure is gone (the default)", true)
    .option("--no-wait", "only mark for deletion")
    .option("--timeout <duration>", "how long to wait", "5m")
    .action(
      run(
        async (
          words: string[],
          opts: {
            filename?: string[];
            recursive?: boolean;
            group?: string;
            cascade?: boolean;
            wait?: boolean;
            timeout?: string;
          },
        ) => {
          return (await import("./commands/delete.js")).deleteCommand(words, globals(opts));
        },
      ),
    );

  program
    .command("wait")
    .description("wait for a condition: airloft wait app/web --for condition=Ready")
    .argument("<words...>", "KIND/NAME or KIND/GROUP/NAME")
    .requiredOption("--for <what>", "condition=Ready, condition=Stalled=True, or delete")
    .option("-g, --group <group>", "the object's group")
    .option("--timeout <duration>", "how long to wait", "5m")
    .action(
      run(async (words: string[], opts: { for: string; group?: string; timeout?: string }) => {
        return (await import("./commands/wait.js")).waitCommand(words, globals(opts));
      }),
    );

  edgeFlags(program.command("controller"))
    .description("run the control loop in the foreground until interrupted")
    .option("--resync <duration>", "how often every object is reconciled again", "30s")
    .option("--workers <n>", "reconciles at once", "4")
    .option("--metrics-address <host:port>", "serve /metrics there (a bare port listens on 127.0.0.1); off by default")
    .option("--metrics-token-file <file>", "/metrics then needs this token (required beyond 127.0.0.1)")
    .option("--stats-interval <duration>", "how often the engines' stats are read for the metrics", "15s")
    .option("--stats-concurrency <n>", "stats calls at once per engine during a pass", "16")
    .addOption(notifyAllowCidr())
    .addOption(logFormat())
    .action(
      run(
        async (opts: {
          resync?: string;
          workers?: string;
          metricsAddress?: string;
          metricsTokenFile?: string;
          statsInterval?: string;
          statsConcurrency?: string;
          logFormat?: string;
          notifyAllowCidr?: string;
        }) => (await import("./commands/controller.js")).controllerCommand(globals(opts)),
      ),
    );

  program
    .command("watch")
    .description("git-ops: apply a folder, then every change to it, prune what was removed, and keep reconciling")
    .argument("<dir>", "the folder (a git checkout: its commit is recorded)")
    .option("--interval <duration>", "full re-sync of the folder, even without changes", "1m")
    .option("--name <name>", "the source's name (default: the folder's name)")
    .option("--resync <duration>", "how often every object is reconciled again", "30s")
    .option("--workers <n>", "reconciles at once", "4")
    .addOption(notifyAllowCidr())
    .addOption(logFormat())
    .action(
      run(
        async (
          dir: string,
          opts: {
            interval?: string;
            name?: string;
            resync?: string;
            workers?: string;
            logFormat?: string;
            notifyAllowCidr?: string;
          },
        ) => (await import("./commands/watch.js")).watchCommand(dir, globals(opts)),
      ),
    );

  edgeFlags(program.command("serve"))
    .description("run the HTTP API (JWT auth, groups as tenants), the status page and the controllers")
    .option("--port <port>", "port to listen on (or $AIRLOFT_PORT)", "3600")
    .option("--host <address>", "address to listen on; 0.0.0.0 exposes it beyond this machine", "127.0.0.1")
    .option("--watch <dir>", "also apply a folder and its changes, as `airloft watch`")
    .option("--interval <duration>", "full re-sync of the watched folder", "1m")
    .option(
      "--build-root <dir>",
      "apps may build from folders inside this one, each group inside its own subfolder GROUP/ (by default the server builds nothing)",
    )
    .option(
      "--publish-addresses <list>",
      "host addresses tenants' apps may publish ports on, comma-separated",
      "127.0.0.1",
    )
    .option("--token-ttl <duration>", "how long a login's token lasts", "1h")
    .option("--max-body <bytes>", "largest request body", String(1024 * 1024))
    .option("--max-watches-per-tenant <n>", "open watch streams per group account (admins are not counted)", "20")
    .option("--max-log-streams-per-tenant <n>", "open log streams per group account (admins are not counted)", "8")
    .option("--max-objects-per-group <n>", "apps, services and quotas per group", "5000")
    .option("--max-object-size <bytes>", "largest object, as JSON", String(256 * 1024))
    .option(
      "--changes-per-second-per-tenant <n>",
      "objects a group account may create, change or delete per second, after a first burst of --max-objects-per-group (admins are not held to it)",
      "200",
    )
    .option(
      "--metrics-token-file <file>",
      "the token a scraper must send for /metrics (without it, /metrics is closed)",
    )
    .option("--stats-interval <duration>", "how often the engines' stats are read for the metrics", "15s")
    .option("--stats-concurrency <n>", "stats calls at once per engine during a pass", "16")
    .option("--resync <duration>", "how often every object is reconciled again", "30s")
    .option("--workers <n>", "reconciles at once", "4")
    .addOption(notifyAllowCidr())
    .addOption(logFormat())
    .action(
      run(
        async (opts: {
          port?: string;
          host?: string;
          watch?: string;
          interval?: string;
          buildRoot?: string;
          publishAddresses?: string;
          tokenTtl?: string;
          maxBody?: string;
          maxWatchesPerTenant?: string;
          maxLogStreamsPerTenant?: string;
          maxObjectsPerGroup?: string;
          maxObjectSize?: string;
          changesPerSecondPerTenant?: string;
          metricsTokenFile?: string;
          statsInterval?: string;
          statsConcurrency?: string;
          resync?: string;
          workers?: string;
          logFormat?: string;
          notifyAllowCidr?: string;
        }) => (await import("./commands/serve.js")).serveCommand(globals(opts)),
      ),
    );

  for (const op of ["suspend", "resume", "reconcile"] as const) {
    program
      .command(op)
      .description(
        op === "reconcile"
          ? "reconcile an object (or sync a source) now, through the running loop"
          : `${op} reconciliation of an object, or of a source (source/NAME)`,
      )
      .argument("<words...>", "KIND/NAME, KIND/GROUP/NAME or source/NAME")
      .option("-g, --group <group>", "the object's group")
      .action(
        run(async (words: string[], opts: { group?: string }) =>
          (await import("./commands/suspend.js")).controlCommand(op, words, globals(opts)),
        ),
      );
  }

  addSecretCommands(program, { run, globals });
  addRolloutCommands(program, { run, globals });

  program
    .command("aws")
    .description("AWS helpers: `airloft aws policy` prints the IAM policy AirLoft's credentials need")
    .argument("<what>", "policy")
    .action(
      run(async (what: string) => {
        if (what !== "policy") throw new UsageError(`airloft aws ${what}: unknown; try \`airloft aws policy\``);
        const { iamPolicy } = await import("../providers/aws/policy.js");
        process.stdout.write(`${JSON.stringify(iamPolicy(), null, 2)}\n`);
        return 0;
      }),
    );

  program
    .command("top")
    .description("CPU, memory and restarts of every running replica, like kubectl top")
    .option("-g, --group <group>", "only this group's replicas")
    .action(run(async (opts: { group?: string }) => (await import("./commands/top.js")).topCommand(globals(opts))));

  program
    .command("logs")
    .description("an app's or service's output, each line prefixed with its replica (through the server with --server)")
    .argument("<words...>", "app/NAME, service/NAME, run/ID (a job's or one-off run's), or KIND/GROUP/NAME")
    .option("-g, --group <group>", "the object's group")
    .option("-f, --follow", "keep streaming until Ctrl-C")
    .option("--tail <n>", "only the last n lines of each replica (at most 10000)")
    .option("--since <time>", "lines since a time (2026-11-30T15:00:00Z) or for a duration back (10m)")
    .action(
      run(async (words: string[], opts: { group?: string; follow?: boolean; tail?: string; since?: string }) =>
        (await import("./commands/logs.js")).logsCommand(words, globals(opts)),
      ),
    );

  program
    .command("run")
    .description(
      "run a command like a job of an app, stream its output and exit with its code: airloft run app/NAME -- CMD",
    )
    .argument("<ref>", "app/NAME or app/GROUP/NAME")
    .argument("[command...]", "the command and its arguments, after --")
    .option("-g, --group <group>", "the app's group")
    .option("-d, --detach", "print the run's id and leave it running")
    .action(
      run(async (ref: string, command: string[], opts: { group?: string; detach?: boolean }) =>
        (await import("./commands/run.js")).runCommand([ref], command, globals(opts)),
      ),
    );

  program
    .command("login")
    .description("log in to an AirLoft server and keep the token for this user")
    .option("--group <name>", "log in as a group (tenant)")
    .option("--admin <name>", "log in as an admin")
    .option("--password-stdin", "read the password from stdin (else $AIRLOFT_PASSWORD, else a prompt)")
    .action(
      run(async (opts: { group?: string; admin?: string; passwordStdin?: boolean }) =>
        (await import("./remote/login.js")).loginCommand(server(), opts),
      ),
    );

  program
    .command("logout")
    .description("forget the token kept for a server")
    .action(run(async () => (await import("./remote/login.js")).logoutCommand(server())));

  program
    .command("account")
    .description(
      "admins: list accounts, or change one: airloft account group/NAME [--password-stdin] [--lock|--unlock]",
    )
    .argument("[target]", "group/NAME or admin/NAME")
    .option("--password-stdin", "set the password read from stdin (or $AIRLOFT_NEW_PASSWORD)")
    .option("--lock", "refuse the account's logins and tokens")
    .option("--unlock", "accept them again")
    .action(
      run(async (target: string | undefined, opts: { passwordStdin?: boolean; lock?: boolean; unlock?: boolean }) =>
        (await import("./remote/login.js")).accountCommand(server(), target, opts),
      ),
    );

  addImportCommands(program, { run });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv as string[]);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_ERROR;
    if (err instanceof ValidationErrors) {
      for (const e of err.errors) process.stderr.write(`error: ${e.message}\n`);
      process.stderr.write(`${err.errors.length} error(s); nothing was applied\n`);
      return EXIT_ERROR;
    }
    process.stderr.write(`error: ${errorMessage(err)}\n`);
    if (!(err instanceof AirloftError) && process.env.AIRLOFT_DEBUG && err instanceof Error)
      process.stderr.write(`${err.stack ?? ""}\n`);
    return EXIT_ERROR;
  }
}
