import { randomBytes } from "node:crypto";
import { jsonLines } from "../../src/cli/remote/client.js";
import { createLogger } from "../../src/log.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { Resource } from "../../src/resources/types.js";
import { ApiServer, type ApiServerOptions } from "../../src/server/server.js";
import { audienceOf, TokenService } from "../../src/server/tokens.js";
import type { Store } from "../../src/store/store.js";
import { openTempStore, removeTempStore } from "./temp-store.js";

export const ADMIN_PASSWORD = "admin-password-1";

/** The fields of the API's answers that tests read; each answer has some of them. */
export interface ApiJson {
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
  readonly details?: { errors: Array<{ file: string; line: number; column: number; field: string; message: string }> };
  readonly token?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly items?: Resource[];
  readonly metadata?: { name?: string; resourceVersion?: string; deletionTimestamp?: string };
  readonly changes?: Array<{ action: string; display: string; object: Resource }>;
  readonly secrets?: Record<string, string>;
  readonly locked?: boolean;
}

export interface ApiAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: ApiJson;
  readonly text: string;
}

/** An API server on 127.0.0.1 over a temp state file (no controllers: the API alone). */
export class TestApi {
  private constructor(
    readonly url: string,
    readonly store: Store,
    readonly server: ApiServer,
    readonly key: Uint8Array,
    readonly audience: string,
    private readonly dir: string,
  ) {}

  /** `options` may be made from the store (a loop and its metrics need it first). */
  static async start(
    options: Partial<ApiServerOptions> | ((store: Store) => Partial<ApiServerOptions>) = {},
  ): Promise<TestApi> {
    const { dir, store } = await openTempStore("airloft-api-", { groupCommitMs: 0 });
    const key = randomBytes(32);
    const audience = audienceOf(store.instanceId);
    const server = new ApiServer({
      store,
      tokens: new TokenService(key, audience, 3600),
      log: createLogger({ level: "error" }),
      // One descriptor: the helper process that duplicates it would cost every test a spawn (accept-fanout tests them).
      extraListeners: 0,
      ...(typeof options === "function" ? options(store) : options),
    });
    await server.accounts.bootstrap({ AIRLOFT_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const url = await server.listen(0, "127.0.0.1");
    return new TestApi(url, store, server, key, audience, dir);
  }

  async stop(): Promise<void> {
    await this.server.close();
    await removeTempStore(this.store, this.dir);
  }

  async call(
    method: string,
    path: string,
    options: { token?: string; body?: string | object; type?: string; headers?: Record<string, string> } = {},
  ): Promise<ApiAnswer> {
    const body =
      options.body === undefined
        ? undefined
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body);
    const type = options.type ?? (typeof options.body === "string" ? "application/yaml" : "application/json");
    const res = await fetch(this.url + path, {
      method,
      headers: {
        ...(body !== undefined ? { "content-type": type } : {}),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    let parsed: ApiJson = {};
    try {
      parsed = JSON.parse(text) as ApiJson;
    } catch {
      // not JSON (the page): `text` has it
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }

  async login(account: { group: string } | { admin: string }, password: string): Promise<string> {
    const answer = await this.call("POST", "/api/tokens", { body: { ...account, password } });
    if (answer.status !== 200) throw new Error(`login failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body.token ?? "";
  }

  adminToken(): Promise<string> {
    return this.login({ admin: "admin" }, ADMIN_PASSWORD);
  }

  /** Applies a Group as admin and gives it an account; returns the group's token. */
  async tenant(name: string, password = `${name}-password-1`): Promise<string> {
    const admin = await this.adminToken();
    const applied = await this.call("POST", `${API_PREFIX}/apply`, { token: admin, body: group(name) });
    if (applied.status !== 200) throw new Error(JSON.stringify(applied.body));
    await this.call("PUT", `/api/accounts/groups/${name}`, { token: admin, body: { password } });
    return this.login({ group: name }, password);
  }
}

export function group(name: string): string {
  return `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: ${name}\nspec:\n  provider: docker\n`;
}

export function app(groupName: string, name: string, extra = ""): string {
  return `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: ${name}\n  group: ${groupName}\nspec:\n  image: example/web:1\n  port: 8080\n${extra}`;
}

/** Reads a watch stream's JSON lines as they come. */
export class WatchReader {
  readonly lines: Array<{
    type: string;
    resourceVersion: string;
    object?: { kind: string; metadata: { name: string; group?: string; deletionTimestamp?: string } };
  }> = [];
  private readonly controller = new AbortController();
  private waiters: Array<() => void> = [];
  private done: Promise<void> = Promise.resolve();
  status = 0;
  ended = false;

  static async open(url: string, token: string): Promise<WatchReader> {
    const reader = new WatchReader();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: reader.controller.signal });
    reader.status = res.status;
    if (!res.ok || !res.body) {
      reader.ended = true;
      return reader;
    }
    reader.done = reader.pump(res.body);
    return reader;
  }

  /** Waits until `n` lines match, or fails after `timeoutMs`. */
  async waitFor(predicate: (lines: WatchReader["lines"]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.lines)) {
      if (this.ended) throw new Error(`the stream ended; lines: ${JSON.stringify(this.lines.map((l) => l.type))}`);
      if (Date.now() > deadline)
        throw new Error(
          `timed out; lines: ${JSON.stringify(this.lines.map((l) => `${l.type} ${l.object?.metadata.name ?? ""}`))}`,
        );
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.done.catch(() => undefined);
  }

  /** Resolves when the server ends the stream. */
  endedByServer(): Promise<void> {
    return this.done;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const line of jsonLines(body)) {
        this.lines.push(line as WatchReader["lines"][number]);
        for (const wake of this.waiters.splice(0)) wake();
      }
    } finally {
      this.ended = true;
      for (const wake of this.waiters.splice(0)) wake();
    }
  }
}
