import { relative } from "node:path";
import { type SourcePosition, ValidationError } from "../errors.js";
import { formatPath } from "../resources/manifest-object.js";
import type { HealthCheck, Resource } from "../resources/types.js";

export type Path = readonly (string | number)[];

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ENV_NAME_REASON = "AirLoft variable names are letters, digits and _ (not starting with a digit)";

/** One line of an import's report: what was left out or changed on the way, and why. */
export interface ImportNote {
  readonly position: SourcePosition;
  readonly field: string;
  /** "refused": left out, no AirLoft equivalent; "changed": imported, but not quite as written. */
  readonly severity: "refused" | "changed";
  readonly message: string;
}

/** Where a compose secret's value is: a file (absolute), a variable of the shell, or outside Compose. */
export type SecretSource = { readonly file: string } | { readonly environment: string } | { readonly external: true };

/**
 * The stack's compose secrets as keys of one AirLoft Secret. One Secret per stack, not one per
 * compose secret: a Secret holds many keys, its key names allow `_` and `.` (compose names such as
 * `stripe_key` stay as written, where a Secret's own name would have to become a DNS label), and
 * the apps' `files` all name one object that `airloft secret list` shows at once.
 */
export interface ComposeSecrets {
  readonly secret: string;
  readonly group: string;
  /** Compose secret name -> its key in `secret`, and where its value is. */
  readonly keys: ReadonlyMap<string, { readonly key: string; readonly source: SecretSource }>;
}

export interface ImportResult {
  readonly objects: Resource[];
  readonly notes: ImportNote[];
  /** The input could not be read (syntax, schema): nothing is imported. */
  readonly errors: ValidationError[];
  /** Compose secrets: set with `airloft secret set`, never written in a manifest. */
  readonly secrets?: ComposeSecrets;
}

/** "file:line:column field: not imported: reason", as the loader's errors read. */
export function formatNote(note: ImportNote): string {
  const { file, line, column } = note.position;
  const what = { refused: "not imported", changed: "changed" }[note.severity];
  return `${file}:${line}:${column} ${note.field}: ${what}: ${note.message}`;
}

/** Collects an importer's notes, each placed at its field in the source. */
export class Report {
  readonly notes: ImportNote[] = [];
  readonly errors: ValidationError[] = [];

  constructor(private readonly place: (path: Path, atKey: boolean) => SourcePosition) {}

  /** Left out: the key's line, and why. */
  refuse(path: Path, message: string): void {
    this.notes.push({ position: this.place(path, true), field: formatPath(path), severity: "refused", message });
  }

  /** Imported with a change the user should know of. */
  change(path: Path, message: string): void {
    this.notes.push({ position: this.place(path, true), field: formatPath(path), severity: "changed", message });
  }

  /** The input is wrong: the import stops. */
  fail(path: Path, message: string): void {
    this.errors.push(new ValidationError(this.place(path, false), formatPath(path), message));
  }

  result(objects: Resource[]): ImportResult {
    const byLine = (a: ImportNote, b: ImportNote) =>
      a.position.line - b.position.line || a.position.column - b.position.column;
    return { objects, notes: [...this.notes].sort(byLine), errors: this.errors };
  }
}

/** A compose service or fly app name as an AirLoft name (a DNS label), if it can be one. */
export function dnsName(raw: string): string | undefined {
  const name = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return name === "" ? undefined : name;
}

const UNITS: Record<string, number> = { "": 0, b: 0, k: 1, m: 2, g: 3, t: 4 };

/** "512m", "1g", "1.5GB", "100k", 1048576 (bytes) -> "512Mi", "1Gi", "1536Mi", "100Ki", "1Mi"; undefined if not a size. */
export function memoryQuantity(raw: unknown, defaultUnit = ""): string | number | undefined {
  const text = typeof raw === "number" ? `${raw}${defaultUnit}` : typeof raw === "string" ? raw.trim() : "";
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(text);
  if (!m) return undefined;
  const power = UNITS[(m[2] ?? "").toLowerCase()] ?? 0;
  const bytes = Math.round(Number(m[1]) * 1024 ** power);
  for (const [unit, p] of [
    ["Gi", 3],
    ["Mi", 2],
    ["Ki", 1],
  ] as const) {
    if (bytes >= 1024 ** p && bytes % 1024 ** p === 0) return `${bytes / 1024 ** p}${unit}`;
  }
  return bytes;
}

/** "1m30s", "10s", "500ms", "2h" -> whole seconds, rounded up (at least `min`); undefined if not a duration. */
export function durationSeconds(raw: unknown, min = 1): number | undefined {
  if (typeof raw === "number") return Math.max(min, Math.ceil(raw));
  if (typeof raw !== "string" || raw.trim() === "") return undefined;
  const scale: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };
  let seconds = 0;
  const rest = raw.trim().replace(/(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g, (_, n: string, unit: string) => {
    seconds += Number(n) * (scale[unit] ?? 0);
    return "";
  });
  return rest === "" ? Math.max(min, Math.ceil(seconds)) : undefined;
}

/** A command line as a shell splits it into words: quotes and backslashes, no expansion. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] ?? "";
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && /["\\$`]/.test(line[i + 1] ?? "")) word += line[++i] ?? "";
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\") {
      word = (word ?? "") + (line[++i] ?? "");
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** A build context as a manifest in `outDir` names it: relative, starting with `.`. */
export function contextFrom(outDir: string, folder: string): string {
  const path = relative(outDir, folder) || ".";
  return path.startsWith(".") ? path : `./${path}`;
}

type CheckTiming = Pick<HealthCheck, "intervalSeconds" | "timeoutSeconds" | "startPeriodSeconds">;

/** A check's interval, timeout and start period (Compose's start_period, fly's grace_period) in seconds. */
export function checkTiming(check: Record<string, unknown>, at: Path, report: Report, startKey: string): CheckTiming {
  const timing: CheckTiming = {};
  const fields = [
    ["interval", "intervalSeconds", 1],
    ["timeout", "timeoutSeconds", 1],
    [startKey, "startPeriodSeconds", 0],
  ] as const;
  for (const [key, field, min] of fields) {
    if (check[key] === undefined) continue;
    const seconds = durationSeconds(check[key], min);
    if (seconds === undefined) report.refuse([...at, key], `${String(check[key])} is not a duration`);
    else timing[field] = seconds;
  }
  return timing;
}
