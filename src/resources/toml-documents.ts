import { parse, TomlDate, TomlError } from "smol-toml";
import type { Steps } from "../util/steps.js";
import { MAX_NESTING_DEPTH } from "./nesting.js";
import { indexToml } from "./toml-positions.js";

/**
 * smol-toml reads a file in one call, with no pause inside: the bound keeps that call short where
 * a YAML file pauses every few thousand tokens. On the 2-core test machine the longest step of a
 * 128 KiB file (about 700 manifests) took 17 to 58 ms, warm; a YAML file of that size pauses more.
 */
export const MAX_TOML_BYTES = 128 * 1024;
/** The table that holds several objects in one file: `[[object]]`, one per object. */
export const OBJECT_TABLE = "object";

export type Path = readonly (string | number)[];

export interface TomlObject {
  readonly value: unknown;
  /** The 1-based line and column of a key (atKey) or value, relative to the object; its nearest parent if absent. */
  readonly position: (path: Path, atKey: boolean) => { line: number; column: number };
}

export type TomlParse = { objects: TomlObject[] } | { refused: { line: number; column: number; message: string } };

/**
 * A TOML file's objects: the file is one object (apiVersion, kind, metadata and spec at the top)
 * or several, each an `[[object]]` table. TOML has no document separator as YAML's `---`, and an
 * array of tables is the form TOML itself gives to a list of records.
 */
export function* parseTomlObjects(text: string): Steps<TomlParse> {
  const read = yield* readToml(text);
  if ("refused" in read) return read;
  const { root, locate } = read;
  const several = root[OBJECT_TABLE];
  if (!("kind" in root) && Array.isArray(several) && Object.keys(root).length === 1) {
    return { objects: several.map((value, i) => ({ value, position: locate([OBJECT_TABLE, i]) })) };
  }
  return { objects: [{ value: root, position: locate([]) }] };
}

export type Locate = (prefix: Path) => TomlObject["position"];
export type TomlRead = { root: Record<string, unknown>; locate: Locate } | Extract<TomlParse, { refused: unknown }>;

/** A TOML text as plain values, with the positions of its keys and values: any TOML file, not only manifests. */
export function* readToml(text: string): Steps<TomlRead> {
  if (Buffer.byteLength(text) > MAX_TOML_BYTES)
    return refuse(1, 1, `a TOML file of more than ${MAX_TOML_BYTES} bytes; a manifest needs far fewer`);
  const deepKey = findDeepKey(text);
  if (deepKey)
    return refuse(
      deepKey.line,
      deepKey.column,
      `a key of more than ${MAX_NESTING_DEPTH} parts; a manifest needs a few`,
    );
  let parsed: Record<string, unknown>;
  try {
    parsed = parse(text, { maxDepth: MAX_NESTING_DEPTH, unsafeKeyBehaviour: "throw" });
  } catch (err) {
    if (err instanceof TomlError)
      return refuse(
        err.line,
        err.column,
        `TOML syntax error: ${err.message.split("\n")[0]?.replace(/^Invalid TOML document: /, "")}`,
      );
    // smol-toml throws only TomlError for bad input; anything else is still a refusal, never a crash.
    return refuse(1, 1, `cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  yield;
  const index = indexToml(text, MAX_NESTING_DEPTH);
  const lines = lineStarts(text);
  const toLineColumn = (offset: number): { line: number; column: number } => {
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lines[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (lines[lo] ?? 0) + 1 };
  };
  if (index.tooDeep !== undefined) {
    const p = toLineColumn(index.tooDeep);
    return refuse(p.line, p.column, `nested more than ${MAX_NESTING_DEPTH} levels deep; a manifest needs a few`);
  }
  const locate =
    (prefix: Path) =>
    (path: Path, atKey: boolean): { line: number; column: number } => {
      const full = [...prefix, ...path];
      if (atKey && full.length > 0) {
        const at = index.keyAt(full);
        if (at !== undefined) return toLineColumn(at);
      }
      // A missing field points at its parent.
      for (let depth = full.length; depth > 0; depth--) {
        const at = index.valueAt(full.slice(0, depth));
        if (at !== undefined) return toLineColumn(at);
      }
      return { line: 1, column: 1 };
    };
  yield;
  const copied = plain(parsed, []);
  if ("date" in copied) {
    const p = locate([])(copied.date, false);
    return refuse(p.line, p.column, "dates and times have no meaning in a manifest: write them as strings");
  }
  return { root: copied.value as Record<string, unknown>, locate };
}

function refuse(
  line: number,
  column: number,
  message: string,
): { refused: { line: number; column: number; message: string } } {
  return { refused: { line, column, message } };
}

/**
 * A table header or dotted key of more than MAX_NESTING_DEPTH parts, found line by line before
 * smol-toml reads the text: it takes ~200 ms on a 240 KB header of 120,000 parts. A line inside a
 * multi-line string that looks like such a key is refused too: no manifest holds one.
 */
function findDeepKey(text: string): { line: number; column: number } | undefined {
  const lines = text.split("\n");
  for (const [n, line] of lines.entries()) {
    const start = line.search(/\S/);
    if (start === -1) continue;
    const end = line.indexOf(line[start] === "[" ? "]" : "=", start);
    const key = line.slice(start, end === -1 ? line.length : end);
    let dots = 0;
    for (let i = key.indexOf("."); i !== -1 && dots <= MAX_NESTING_DEPTH; i = key.indexOf(".", i + 1)) dots++;
    if (dots >= MAX_NESTING_DEPTH) return { line: n + 1, column: start + 1 };
  }
  return undefined;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/**
 * smol-toml's tables have no prototype: copied to plain objects, as YAML and JSON give, so that
 * the store and comparisons see the same values from all three. A date is refused where it is.
 * Recursive: the depth was bounded before (inline by smol-toml, dotted by the position index).
 */
function plain(value: unknown, path: (string | number)[]): { value: unknown } | { date: Path } {
  if (value instanceof TomlDate) return { date: path };
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const [i, v] of value.entries()) {
      const r = plain(v, [...path, i]);
      if ("date" in r) return r;
      out.push(r.value);
    }
    return { value: out };
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = plain(v, [...path, k]);
      if ("date" in r) return r;
      out[k] = r.value;
    }
    return { value: out };
  }
  return { value };
}
