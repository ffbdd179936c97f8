import { parse } from "smol-toml";

/**
 * Where each key and value of a TOML text starts, by path (["spec", "env", "A"]), so that schema
 * errors can name a line and column: smol-toml returns plain values without positions.
 *
 * The scanner runs only on text smol-toml has already accepted, so it need not judge validity: it
 * follows the grammar far enough to know where each key and value begins (table headers, arrays of
 * tables, dotted keys, inline tables and arrays, the four kinds of strings, comments). It keeps no
 * recursion deeper than the parser allowed (inline nesting is bounded by smol-toml's maxDepth) and
 * stops recording at the first path deeper than `maxDepth`, which dotted keys and headers can
 * reach without any inline nesting.
 */
export interface TomlPositions {
  /** The offset of the key (or the table header) that defines `path`. */
  keyAt(path: readonly (string | number)[]): number | undefined;
  /** The offset of the value at `path` (for a table, its header). */
  valueAt(path: readonly (string | number)[]): number | undefined;
  /** Where a path first nests deeper than the bound, if one does. */
  readonly tooDeep: number | undefined;
}

const pathKey = (path: readonly (string | number)[]): string => path.join("\u0000");
const BARE_KEY = /[A-Za-z0-9_-]/;

export function indexToml(text: string, maxDepth: number): TomlPositions {
  const keys = new Map<string, number>();
  const values = new Map<string, number>();
  /** Arrays of tables seen so far: how many elements each has. */
  const tableArrays = new Map<string, number>();
  let tooDeep: number | undefined;
  let i = 0;

  const record = (path: readonly (string | number)[], keyOffset: number, valueOffset: number): boolean => {
    if (path.length > maxDepth) {
      tooDeep ??= keyOffset;
      return false;
    }
    const k = pathKey(path);
    if (!keys.has(k)) keys.set(k, keyOffset);
    if (!values.has(k)) values.set(k, valueOffset);
    return true;
  };
  const skipSpaces = (): void => {
    while (text[i] === " " || text[i] === "\t") i++;
  };
  /** Spaces, newlines and comments (inside arrays). */
  const skipBlank = (): void => {
    for (;;) {
      skipSpaces();
      if (text[i] === "#") while (i < text.length && text[i] !== "\n") i++;
      else if (text[i] === "\n" || text[i] === "\r") i++;
      else return;
    }
  };
  const skipString = (): void => {
    const quote = text[i] ?? "";
    const triple = text.startsWith(quote.repeat(3), i);
    if (triple) {
      i += 3;
      for (;;) {
        if (i >= text.length) return;
        if (quote === '"' && text[i] === "\\") i += 2;
        else if (text.startsWith(quote.repeat(3), i)) {
          i += 3;
          // Up to two more quotes may close the string: `""""" ` is `""` then the delimiter.
          while (text[i] === quote) i++;
          return;
        } else i++;
      }
    }
    i++;
    while (i < text.length && text[i] !== quote) i += quote === '"' && text[i] === "\\" ? 2 : 1;
    i++;
  };
  /** One key part, decoded; quoted keys are decoded by smol-toml itself, so escapes mean what they mean there. */
  const readKeyPart = (): string => {
    skipSpaces();
    const start = i;
    if (text[i] === '"' || text[i] === "'") {
      skipString();
      const decoded = parse(`k = ${text.slice(start, i)}`).k;
      return typeof decoded === "string" ? decoded : "";
    }
    while (i < text.length && BARE_KEY.test(text[i] ?? "")) i++;
    return text.slice(start, i);
  };
  const readKey = (): string[] => {
    const parts = [readKeyPart()];
    for (;;) {
      skipSpaces();
      if (text[i] !== ".") return parts;
      i++;
      parts.push(readKeyPart());
    }
  };
  /** A header's keys as a path, with the index of each array of tables it passes through. */
  const resolve = (parts: readonly string[]): (string | number)[] => {
    const path: (string | number)[] = [];
    for (const part of parts) {
      path.push(part);
      const count = tableArrays.get(pathKey(path));
      if (count !== undefined) path.push(count - 1);
    }
    return path;
  };
  const readValue = (path: (string | number)[], keyOffset: number): void => {
    const deepEnough = record(path, keyOffset, i);
    const c = text[i];
    if (c === '"' || c === "'") {
      skipString();
      return;
    }
    if (c === "[") {
      i++;
      for (let n = 0; ; n++) {
        skipBlank();
        if (text[i] === "]" || i >= text.length) break;
        const at = i;
        if (deepEnough) readValue([...path, n], at);
        else skipValue();
        skipBlank();
        if (text[i] === ",") i++;
      }
      i++;
      return;
    }
    if (c === "{") {
      i++;
      for (;;) {
        skipSpaces();
        if (text[i] === "}" || i >= text.length) break;
        const at = i;
        const key = readKey();
        skipSpaces();
        i++; // =
        skipSpaces();
        if (deepEnough) readValue([...path, ...key], at);
        else skipValue();
        skipSpaces();
        if (text[i] === ",") i++;
      }
      i++;
      return;
    }
    // Numbers, booleans, dates: up to the next separator (a date may hold a space).
    while (i < text.length && !",]}\n#".includes(text[i] ?? "")) i++;
  };
  const skipValue = (): void => readValue([...Array(maxDepth + 1).keys()], i);

  let table: (string | number)[] = [];
  while (i < text.length) {
    skipBlank();
    if (i >= text.length) break;
    const at = i;
    if (text[i] === "[") {
      const isArray = text[i + 1] === "[";
      i += isArray ? 2 : 1;
      const parts = readKey();
      i += isArray ? 2 : 1;
      // Resolving a path costs its length at each part: a header past the bound is only noted.
      if (parts.length > maxDepth) {
        tooDeep ??= at;
        table = [];
        continue;
      }
      if (isArray) {
        const parent = resolve(parts.slice(0, -1));
        const arrayPath = [...parent, parts[parts.length - 1] ?? ""];
        const count = (tableArrays.get(pathKey(arrayPath)) ?? 0) + 1;
        tableArrays.set(pathKey(arrayPath), count);
        record(arrayPath, at, at);
        table = [...arrayPath, count - 1];
      } else {
        table = resolve(parts);
      }
      record(table, at, at);
      continue;
    }
    const key = readKey();
    skipSpaces();
    i++; // =
    skipSpaces();
    readValue([...table, ...key], at);
  }
  return {
    keyAt: (path) => keys.get(pathKey(path)),
    valueAt: (path) => values.get(pathKey(path)),
    tooDeep,
  };
}
