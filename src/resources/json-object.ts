import { MAX_NESTING_DEPTH } from "./nesting.js";

/**
 * A manifest sent as one JSON object (what the API's clients and `kubectl`-style tools send) is
 * read with JSON.parse, not the YAML parser: for a 200 KB object the YAML parser's tokens, nodes
 * and strings built a character at a time cost ten times the work and most of the server's
 * garbage collection under a tenant sending large objects (issue 13). JSON is YAML, and for the
 * texts this scan lets through both parsers give the same value; every other text (YAML, a
 * repeated key, too deep or too long, invalid JSON, or an object that fails a check) takes the
 * YAML path, whose errors name file, line and column as always.
 */

/** The YAML path refuses a document of more tokens than this; the scan stays well below it. */
const MAX_ITEMS = 10_000;
/** YAML reads a flow mapping's key only up to 1,024 characters. */
const MAX_KEY_CHARS = 1000;

interface Frame {
  readonly object: boolean;
  readonly keys: Set<string>;
  expectKey: boolean;
  key: string | undefined;
}

export interface JsonScan {
  /** Where the value of metadata.name starts, if the object has one: a manifest's source. */
  readonly nameOffset: number | undefined;
}

/**
 * Checks a text for the JSON fast path without parsing it: one object at the top, no repeated
 * key in any object, nesting and size within the YAML path's own bounds. Undefined: take the
 * YAML path. The grammar itself is JSON.parse's to check.
 */
export function scanJsonObject(text: string): JsonScan | undefined {
  const frames: Frame[] = [];
  let nameOffset: number | undefined;
  let items = 0;
  let i = skipSpace(text, 0);
  if (text[i] !== "{") return undefined;
  while (i < text.length) {
    const c = text[i];
    const top = frames[frames.length - 1];
    if (c === "{" || c === "[") {
      if (top && !top.expectKey) nameOffset ??= nameAt(frames, i);
      frames.push({ object: c === "{", keys: new Set(), expectKey: c === "{", key: undefined });
      if (frames.length > MAX_NESTING_DEPTH || ++items > MAX_ITEMS) return undefined;
      i++;
    } else if (c === "}" || c === "]") {
      frames.pop();
      i++;
      if (frames.length === 0) return skipSpace(text, i) === text.length ? { nameOffset } : undefined;
    } else if (c === ",") {
      if (top?.object) top.expectKey = true;
      i++;
    } else if (c === ":") {
      if (top) top.expectKey = false;
      i++;
    } else if (c === '"') {
      const end = stringEnd(text, i);
      if (end < 0 || ++items > MAX_ITEMS) return undefined;
      if (top?.object && top.expectKey) {
        if (end - i > MAX_KEY_CHARS) return undefined;
        const key = keyAt(text, i, end);
        if (key === undefined) return undefined;
        if (top.keys.has(key)) return undefined;
        top.keys.add(key);
        top.key = key;
      } else {
        nameOffset ??= nameAt(frames, i);
      }
      i = end + 1;
    } else if (c === " " || c === "\n" || c === "\r" || c === "\t") {
      i++;
    } else {
      // A number, true, false or null (or something JSON.parse will refuse).
      if (++items > MAX_ITEMS) return undefined;
      nameOffset ??= nameAt(frames, i);
      while (i < text.length && !',]}: \n\r\t"'.includes(text[i] as string)) i++;
    }
  }
  return undefined;
}

/** The key quoted from `start` to `end`, decoded; undefined when it is not a valid JSON string (a bad escape). */
function keyAt(text: string, start: number, end: number): string | undefined {
  const raw = text.slice(start, end + 1);
  if (!raw.includes("\\")) return raw.slice(1, -1);
  try {
    return JSON.parse(raw) as string;
  } catch {
    return undefined;
  }
}

/** The offset, if the value starting there is metadata.name's. */
function nameAt(frames: readonly Frame[], offset: number): number | undefined {
  return frames.length === 2 && frames[0]?.key === "metadata" && frames[1]?.object && frames[1].key === "name"
    ? offset
    : undefined;
}

/** The index of the quote that ends the string opened at `start`; -1 if none does. */
function stringEnd(text: string, start: number): number {
  for (let from = start + 1; ; ) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (text[quote - 1 - backslashes] === "\\") backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && " \n\r\t".includes(text[i] as string)) i++;
  return i;
}
