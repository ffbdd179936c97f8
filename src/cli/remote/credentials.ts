import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { writePrivateFile } from "../../util/private-file.js";

export interface SavedLogin {
  readonly token: string;
  readonly subject: string;
  readonly expiresAt: string;
  /** The server's device token for this account: later logins from here are not held up by others' guesses. */
  readonly device?: string;
}

interface CredentialsFile {
  servers: Record<string, SavedLogin>;
}

/** $AIRLOFT_CONFIG, else $XDG_CONFIG_HOME/airloft/credentials.json, else ~/.config/airloft/credentials.json. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AIRLOFT_CONFIG) return env.AIRLOFT_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "airloft", "credentials.json");
}

/** The same server however it was typed: no trailing slash. */
export function normalizeServer(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`--server must be a URL such as http://127.0.0.1:3600, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new Error(`--server must be http:// or https://, got ${parsed.protocol}`);
  return parsed.origin + parsed.pathname.replace(/\/+$/, "");
}

function read(path: string): CredentialsFile {
  if (!existsSync(path)) return { servers: {} };
  const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<CredentialsFile>;
  return { servers: parsed.servers ?? {} };
}

export function savedLogin(server: string, env: NodeJS.ProcessEnv = process.env): SavedLogin | undefined {
  return read(credentialsPath(env)).servers[normalizeServer(server)];
}

/** Keeps the token for the user only: the folder 0700, the file 0600, replaced atomically. */
export function saveLogin(server: string, login: SavedLogin | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const path = credentialsPath(env);
  const file = read(path);
  if (login) file.servers[normalizeServer(server)] = login;
  else delete file.servers[normalizeServer(server)];
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writePrivateFile(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}
