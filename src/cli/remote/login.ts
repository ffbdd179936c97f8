import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { UsageError } from "../context.js";
import { renderTable } from "../output.js";
import { ApiClient, requestToken } from "./client.js";
import { normalizeServer, savedLogin, saveLogin } from "./credentials.js";

export interface LoginOptions {
  readonly group?: string;
  readonly admin?: string;
  readonly passwordStdin?: boolean;
}

/**
 * `airloft login --server URL --group NAME`: asks the server for a token and keeps it for this
 * user. The password comes from stdin (--password-stdin), $AIRLOFT_PASSWORD, or a prompt that
 * does not echo; never from an argument, which other users could read in the process list.
 */
export async function loginCommand(serverUrl: string | undefined, options: LoginOptions): Promise<number> {
  if (!serverUrl) throw new UsageError("name the server: airloft login --server URL (or set AIRLOFT_SERVER)");
  const server = normalizeServer(serverUrl);
  if ((options.group === undefined) === (options.admin === undefined))
    throw new UsageError("log in as one of --group NAME or --admin NAME");
  const url = new URL(server);
  if (url.protocol === "http:" && !isLoopback(url.hostname))
    process.stderr.write(`warning: ${server} is plain HTTP: the password and token cross the network unencrypted\n`);
  const password = await readPassword(options);
  const account = options.group !== undefined ? { group: options.group } : { admin: options.admin };
  const subject = options.group !== undefined ? `group:${options.group}` : `admin:${options.admin}`;
  const earlier = savedLogin(server);
  const device = earlier?.subject === subject ? earlier.device : undefined;
  const login = await requestToken(server, { ...account, password, ...(device ? { device } : {}) });
  const path = saveLogin(server, login);
  process.stdout.write(`logged in to ${server} as ${login.subject}, until ${login.expiresAt}; token kept in ${path}\n`);
  process.stdout.write(`commands use the server with --server ${server}, or export AIRLOFT_SERVER=${server}\n`);
  return 0;
}

export function logoutCommand(server: string | undefined): number {
  if (!server) throw new UsageError("name the server: airloft logout --server URL");
  saveLogin(server, undefined);
  process.stdout.write(`logged out of ${normalizeServer(server)}\n`);
  return 0;
}

/** `airloft account` lists accounts; `airloft account group/NAME --lock|--unlock|--password-stdin` changes one. */
export async function accountCommand(
  server: string | undefined,
  target: string | undefined,
  options: { lock?: boolean; unlock?: boolean; passwordStdin?: boolean },
): Promise<number> {
  if (!server) throw new UsageError("accounts live on a server: add --server URL (or set AIRLOFT_SERVER)");
  const client = new ApiClient(server);
  if (!target) {
    const { admins, groups } = await client.request<
      Record<"admins" | "groups", Array<{ name: string; locked: boolean; updated: string }>>
    >("GET", "/api/accounts");
    const rows = [
      ...admins.map((a) => ["admin", a.name, String(a.locked), a.updated]),
      ...groups.map((g) => ["group", g.name, String(g.locked), g.updated]),
    ];
    process.stdout.write(renderTable(["KIND", "NAME", "LOCKED", "UPDATED"], rows));
    return 0;
  }
  const match = /^(group|admin)\/([a-z0-9-]+)$/.exec(target);
  if (!match) throw new UsageError(`expected group/NAME or admin/NAME, got ${JSON.stringify(target)}`);
  if (options.lock && options.unlock) throw new UsageError("--lock or --unlock, not both");
  const change = {
    ...(options.lock || options.unlock ? { locked: Boolean(options.lock) } : {}),
    ...(options.passwordStdin || process.env.AIRLOFT_NEW_PASSWORD
      ? {
          password: await readPassword(
            { passwordStdin: options.passwordStdin ?? false },
            "AIRLOFT_NEW_PASSWORD",
            "new password",
          ),
        }
      : {}),
  };
  if (Object.keys(change).length === 0)
    throw new UsageError("say what to change: --password-stdin, --lock or --unlock");
  const account = await client.request<{ name: string; locked: boolean }>(
    "PUT",
    `/api/accounts/${match[1]}s/${match[2]}`,
    { json: change },
  );
  process.stdout.write(
    `${target} ${"password" in change ? "password set, " : ""}${account.locked ? "locked" : "unlocked"}\n`,
  );
  return 0;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "[::1]" || /^127\./.test(host);
}

async function readPassword(
  options: { passwordStdin?: boolean },
  variable = "AIRLOFT_PASSWORD",
  prompt = "password",
): Promise<string> {
  if (options.passwordStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks)
      .toString("utf8")
      .replace(/\r?\n$/, "");
  }
  const fromEnv = process.env[variable];
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) throw new UsageError(`no password: pipe it with --password-stdin or set ${variable}`);
  // A prompt whose typed characters are not echoed.
  const muted = new Writable({ write: (_chunk, _enc, done) => done() });
  process.stderr.write(`${prompt}: `);
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  const answer = await new Promise<string>((resolve) => rl.question("", resolve));
  rl.close();
  process.stderr.write("\n");
  return answer;
}
