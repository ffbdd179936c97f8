import { setTimeout as sleep } from "node:timers/promises";
import { AirloftError, ValidationError, ValidationErrors } from "../../errors.js";
import type { Resource } from "../../resources/types.js";
import { normalizeServer, savedLogin } from "./credentials.js";

/** An error answer of the server, with its status and reason. */
export class RemoteError extends AirloftError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(reason, message);
  }
}

interface ErrorAnswer {
  reason?: string;
  message?: string;
  details?: { errors?: Array<{ file: string; line: number; column: number; field: string; message: string }> };
}

export interface WatchLine {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";
  readonly object?: Resource;
  readonly resourceVersion: string;
}

/**
 * How long the CLI waits out the server's 429s (a tenant's write budgets) before it gives up and
 * shows the answer: a 429 stored nothing, so sending the same request again is safe.
 */
export const MAX_THROTTLED_WAIT_MS = 120_000;

/** The CLI's side of the API: a server URL and the token saved by `airloft login` (or $AIRLOFT_TOKEN). */
export class ApiClient {
  readonly server: string;
  private readonly token: string;

  constructor(
    server: string,
    env: NodeJS.ProcessEnv = process.env,
    /** Told each wait for a 429's Retry-After (stderr by default: stdout may be a pipe of JSON). */
    private readonly notice: (text: string) => void = (text) => process.stderr.write(`${text}\n`),
  ) {
    this.server = normalizeServer(server);
    const token = env.AIRLOFT_TOKEN || savedLogin(this.server, env)?.token;
    if (!token)
      throw new AirloftError(
        "Unauthorized",
        `not logged in to ${this.server}: run airloft login --server ${this.server}`,
      );
    this.token = token;
  }

  async request<T>(method: string, path: string, body?: { json?: unknown }): Promise<T> {
    const res = await this.fetch(method, path, body);
    return (await res.json()) as T;
  }

  /**
   * Follows a watch stream until `signal` aborts, resuming from the last position when the
   * connection drops or the server ends the stream (it does, after a while, or when the client
   * falls behind). A listing cut before its BOOKMARK gives no position: it is listed again.
   */
  async watch(path: string, onLine: (line: WatchLine) => void, signal: AbortSignal): Promise<void> {
    let position: string | undefined;
    while (!signal.aborted) {
      const query = `${path.includes("?") ? "&" : "?"}watch=true${position ? `&resourceVersion=${encodeURIComponent(position)}` : ""}`;
      try {
        const res = await this.fetch("GET", path + query, undefined, signal);
        let listed = position !== undefined;
        for await (const line of jsonLines<WatchLine>(res.body)) {
          if (line.type === "BOOKMARK") listed = true;
          if (listed) position = line.resourceVersion;
          onLine(line);
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof RemoteError && err.status === 410)
          position = undefined; // too far behind: list again
        else if (err instanceof RemoteError) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** A streamed answer (logs): the response once its header is in; `signal` closes it. */
  stream(path: string, signal: AbortSignal): Promise<Response> {
    return this.fetch("GET", path, undefined, signal);
  }

  private async send(
    method: string,
    path: string,
    body: { json?: unknown } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    try {
      return await fetch(this.server + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body ? { "content-type": "application/json" } : {}) },
        ...(body ? { body: JSON.stringify(body.json) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw unreachable(this.server, err);
    }
  }

  private async fetch(
    method: string,
    path: string,
    body?: { json?: unknown },
    signal?: AbortSignal,
  ): Promise<Response> {
    let res = await this.send(method, path, body, signal);
    for (let waited = 0; res.status === 429; ) {
      const seconds = Number(res.headers.get("retry-after"));
      if (!(seconds > 0) || waited + seconds * 1000 > MAX_THROTTLED_WAIT_MS) break;
      const answer = await errorAnswer(res);
      this.notice(`${answer.message ?? "the server asked to wait"}: sending it again in ${seconds} s`);
      await sleep(seconds * 1000, undefined, signal ? { signal } : {});
      waited += seconds * 1000;
      res = await this.send(method, path, body, signal);
    }
    if (res.ok) return res;
    const answer = await errorAnswer(res);
    const errors = answer.details?.errors ?? [];
    if (errors.length > 0)
      throw new ValidationErrors(
        errors.map((e) => new ValidationError({ file: e.file, line: e.line, column: e.column }, e.field, e.message)),
      );
    const hint = res.status === 401 ? ` (run airloft login --server ${this.server})` : "";
    throw new RemoteError(
      res.status,
      answer.reason ?? "Error",
      `${answer.message ?? `the server answered ${res.status}`}${hint}`,
    );
  }
}

/** An error answer's body, or nothing when it is not JSON. */
async function errorAnswer(res: Response): Promise<ErrorAnswer> {
  return (await res.json().catch(() => ({}))) as ErrorAnswer;
}

/** A server that does not answer, with the network's own reason (fetch hides it in `cause`). */
export function unreachable(server: string, err: unknown): AirloftError {
  const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new AirloftError("Unavailable", `cannot reach ${server}: ${reason}`);
}

/** POST /api/tokens, the one call that needs no token. */
export async function requestToken(
  server: string,
  credentials: object,
): Promise<{ token: string; subject: string; expiresAt: string; device?: string }> {
  let res: Response;
  try {
    res = await fetch(`${server}/api/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(credentials),
    });
  } catch (err) {
    throw unreachable(server, err);
  }
  const body = (await res.json().catch(() => ({}))) as {
    token?: string;
    subject?: string;
    expiresAt?: string;
    device?: string;
    message?: string;
  };
  if (!res.ok || !body.token) throw new AirloftError("Unauthorized", `login refused: ${body.message ?? res.status}`);
  return {
    token: body.token,
    subject: body.subject ?? "",
    expiresAt: body.expiresAt ?? "",
    ...(typeof body.device === "string" ? { device: body.device } : {}),
  };
}

/** The JSON lines of a stream (a watch, logs), as they arrive; the next chunk is read when the last line is handled. */
export async function* jsonLines<T>(body: ReadableStream<Uint8Array> | null): AsyncGenerator<T> {
  if (!body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) yield JSON.parse(line) as T;
  }
}
