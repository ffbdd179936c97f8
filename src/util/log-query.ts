import { AirloftError } from "../errors.js";
import { parseDuration } from "./duration.js";

/** The most lines `tail` may ask of each replica: more is refused, not clamped, so a script learns its mistake. */
export const MAX_TAIL = 10_000;
/** `since` as a duration may reach this far back. */
const MAX_SINCE_MS = 10 * 365 * 24 * 3_600_000;
const DURATION = /^(\d{1,9}(\.\d{1,3})?(ms|s|m|h))+$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** What `airloft logs` and GET .../logs ask for, checked the same way on both sides. */
export interface LogQuery {
  readonly follow: boolean;
  readonly tail?: number;
  readonly since?: Date;
}

/** The query's words as given (a URL's parameters, the CLI's flags); absent ones are null or undefined. */
export interface LogQueryText {
  readonly follow?: string | null | undefined;
  readonly tail?: string | null | undefined;
  readonly since?: string | null | undefined;
}

/** A query a client got wrong: 400 through the API, exit code 2 in the CLI. */
export class LogQueryError extends AirloftError {
  constructor(message: string) {
    super("BadRequest", message);
  }
}

/** Checks and converts a log query; `since` is a time (RFC 3339) or a duration back from `now` ("10m"). */
export function parseLogQuery(text: LogQueryText, now: Date = new Date()): LogQuery {
  const tail = text.tail ?? undefined;
  const since = text.since ?? undefined;
  return {
    follow: parseFollow(text.follow ?? undefined),
    ...(tail !== undefined ? { tail: parseTail(tail) } : {}),
    ...(since !== undefined ? { since: parseSince(since, now) } : {}),
  };
}

function parseFollow(text: string | undefined): boolean {
  if (text === undefined || text === "false" || text === "0") return false;
  if (text === "true" || text === "1" || text === "") return true;
  throw new LogQueryError("follow is true or false");
}

function parseTail(text: string): number {
  if (!/^\d{1,6}$/.test(text) || Number(text) > MAX_TAIL)
    throw new LogQueryError(`tail is a number of lines from 0 to ${MAX_TAIL}`);
  return Number(text);
}

function parseSince(text: string, now: Date): Date {
  if (DURATION.test(text)) {
    const ms = parseDuration(text);
    if (ms <= MAX_SINCE_MS) return new Date(now.getTime() - ms);
  } else if (TIMESTAMP.test(text)) {
    const at = Date.parse(text);
    if (Number.isFinite(at) && at >= 0) return new Date(at);
  }
  throw new LogQueryError(
    "since is a time (2026-11-30T15:00:00Z) or a duration back from now (90s, 10m, 2h, at most ten years)",
  );
}
