import type { IncomingMessage, ServerResponse } from "node:http";
import { AirloftError, ConflictError, errorMessage, ValidationErrors } from "../errors.js";
import { YAML_SYNTAX_ERROR } from "../resources/loader.js";

/** An error with its HTTP status and a CamelCase reason, as the API answers it. */
export class ApiError extends AirloftError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(reason, message);
  }
}

/** Whole seconds to wait, at least one: a Retry-After header's value. */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

/** 429 with Retry-After: what a tenant's budgets answer (it stored nothing, so the same request may be sent again). */
export function tooManyRequests(waitMs: number, message: string): ApiError {
  return new ApiError(429, "TooManyRequests", message, { "retry-after": String(retryAfterSeconds(waitMs)) });
}

export function methodNotAllowed(method: string | undefined): ApiError {
  return new ApiError(405, "MethodNotAllowed", `${method ?? "this method"} is not allowed here`);
}

/** The body of every error answer, shaped like a Kubernetes Status. */
export interface ErrorBody {
  readonly kind: "Status";
  readonly status: "Failure";
  readonly code: number;
  readonly reason: string;
  readonly message: string;
  readonly details?: { errors: Array<{ file: string; line: number; column: number; field: string; message: string }> };
}

const BY_CODE: Record<string, [number, string]> = {
  BadRequest: [400, "BadRequest"],
  Unauthorized: [401, "Unauthorized"],
  Forbidden: [403, "Forbidden"],
  NotFound: [404, "NotFound"],
  Conflict: [409, "Conflict"],
  Locked: [503, "StateLocked"],
};

/** Maps any error to a status and body; unknown errors are 500 without their details. */
export function toErrorBody(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
  const body = (code: number, reason: string, message: string, details?: ErrorBody["details"]): ErrorBody => ({
    kind: "Status",
    status: "Failure",
    code,
    reason,
    message,
    ...(details ? { details } : {}),
  });
  if (err instanceof ApiError)
    return { status: err.status, body: body(err.status, err.reason, err.message), headers: err.headers };
  if (err instanceof ValidationErrors) {
    const details = { errors: err.errors.map((e) => ({ ...e.position, field: e.field, message: e.detail })) };
    const [status, reason] = err.errors.every((e) => e instanceof ConflictError)
      ? [409, "Conflict"]
      : err.errors.every((e) => e.detail.startsWith(YAML_SYNTAX_ERROR))
        ? [400, "BadRequest"]
        : [422, "Invalid"];
    return { status, body: body(status, reason, err.message, details), headers: {} };
  }
  if (err instanceof AirloftError) {
    const [status, reason] = BY_CODE[err.code] ?? [500, "InternalError"];
    return { status, body: body(status, reason, status === 500 ? "internal error" : err.message), headers: {} };
  }
  return { status: 500, body: body(500, "InternalError", "internal error"), headers: {} };
}

/** Security headers on every answer: nothing is cached, sniffed or framed. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  sendJsonText(res, status, JSON.stringify(value), headers);
}

/** Sends JSON that is already encoded. */
export function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...COMMON_HEADERS,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const { status, body, headers } = toErrorBody(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, body, headers);
}

/** Reads the body up to `limit` bytes; past it, 413 without reading the rest. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > limit)
    throw new ApiError(413, "RequestEntityTooLarge", `the body is ${declared} bytes, more than the limit of ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit)
      throw new ApiError(413, "RequestEntityTooLarge", `the body is more than the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body, as 400 when it is not JSON. */
export function parseJson<T>(body: Buffer, what: string): T {
  try {
    return JSON.parse(body.toString("utf8")) as T;
  } catch (err) {
    throw new ApiError(400, "BadRequest", `${what}: the body is not JSON (${errorMessage(err)})`);
  }
}

/** The media type of the request body, without parameters. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}
