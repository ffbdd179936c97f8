/** One error base with a stable code, so the CLI, the loop and (later) the API map errors alike. */
export class AirloftError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** A manifest problem, always with the position and the field path it concerns. */
export class ValidationError extends AirloftError {
  readonly position: SourcePosition;
  readonly field: string;
  readonly detail: string;
  constructor(position: SourcePosition, field: string, detail: string) {
    const where = `${position.file}:${position.line}:${position.column}`;
    super("Invalid", field ? `${where} ${field}: ${detail}` : `${where} ${detail}`);
    this.position = position;
    this.field = field;
    this.detail = detail;
  }
}

/** An apply against a stale resourceVersion, or an object being deleted: retry after a fresh read. */
export class ConflictError extends ValidationError {
  override readonly code = "Conflict";
}

/** Several validation errors from one apply: the apply is rejected whole. */
export class ValidationErrors extends AirloftError {
  readonly errors: readonly ValidationError[];
  constructor(errors: readonly ValidationError[]) {
    super("Invalid", errors.map((e) => e.message).join("\n"));
    this.errors = errors;
  }
}

export class NotFoundError extends AirloftError {
  constructor(message: string) {
    super("NotFound", message);
  }
}

/** The state file is held by another writer. */
export class LockedError extends AirloftError {
  constructor(message: string) {
    super("Locked", message);
  }
}

/**
 * An error that retrying cannot fix (invalid reference, permission, unsupported setting).
 * The loop sets Stalled and waits for the spec to change.
 */
export class TerminalError extends AirloftError {
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super("Terminal", message, options);
    this.reason = reason;
  }
}

/** A provider that cannot be reached: transient, retried with backoff. */
export class ProviderUnavailableError extends AirloftError {
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super("Unavailable", message, options);
    this.reason = reason;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
