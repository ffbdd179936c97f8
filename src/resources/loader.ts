import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { type Document, isNode, isScalar, LineCounter, visit } from "yaml";
import { type SourcePosition, ValidationError, ValidationErrors } from "../errors.js";
import { runToEnd, type Steps } from "../util/steps.js";
import { scanJsonObject } from "./json-object.js";
import { keyOf } from "./kinds.js";
import {
  type BuildContextPolicy,
  checkObject,
  type DocumentResult,
  type FieldPath,
  type LoadedManifest,
} from "./manifest-object.js";
import { parseTomlObjects } from "./toml-documents.js";
import { duplicateKeys, nodeAt, parseDocuments, YAML_SYNTAX_ERROR } from "./yaml-documents.js";

export { type BuildContextPolicy, formatPath, type LoadedManifest } from "./manifest-object.js";
export { YAML_SYNTAX_ERROR } from "./yaml-documents.js";

export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_DOCUMENTS_PER_FILE = 1000;
const MAX_ALIAS_COUNT = 100;
/** Manifest files by name; `.toml` ones are read as TOML, the others as YAML (JSON is YAML). */
export const MANIFEST_FILE = /\.(ya?ml|json|toml)$/i;
const TOML_FILE = /\.toml$/i;

export interface LoadOptions {
  readonly recursive?: boolean;
  /** Paths in messages are shown relative to this folder (the working directory by default). */
  readonly cwd?: string;
}

/** Lists the manifest files named by paths: files as given, folders by extension. */
export function collectFiles(paths: readonly string[], options: LoadOptions = {}): string[] {
  const files: string[] = [];
  const visit = (dir: string, depth: number): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith(".")) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (options.recursive) visit(full, depth + 1);
      } else if (entry.isFile() && MANIFEST_FILE.test(entry.name)) {
        files.push(full);
      }
    }
  };
  for (const p of paths) {
    if (!existsSync(p))
      throw new ValidationErrors([new ValidationError({ file: p, line: 0, column: 0 }, "", "no such file or folder")]);
    if (statSync(p).isDirectory()) visit(p, 0);
    else files.push(p);
  }
  return files;
}

/**
 * Loads and validates every document of every file. Throws ValidationErrors listing all the
 * problems found, so that an apply with any invalid document stores nothing.
 */
export function loadManifests(paths: readonly string[], options: LoadOptions = {}): LoadedManifest[] {
  const cwd = options.cwd ?? process.cwd();
  return loadTexts(
    collectFiles(paths, options).map((file) => ({
      name: relative(cwd, resolve(file)) || file,
      content: readFileSync(file),
      baseDir: dirname(resolve(file)),
    })),
  );
}

export interface ManifestText {
  /** The name errors show. */
  readonly name: string;
  readonly content: Buffer | string;
  /** Where relative build contexts start. */
  readonly baseDir: string;
}

/** Loads several texts as one apply: every problem of every text, duplicates across them included. */
export function loadTexts(texts: readonly ManifestText[], builds: BuildContextPolicy = "anywhere"): LoadedManifest[] {
  return runToEnd(loadTextsSteps(texts, builds));
}

/** loadTexts in steps (a pause after each document), for a server that loads between requests. */
export function* loadTextsSteps(
  texts: readonly ManifestText[],
  builds: BuildContextPolicy = "anywhere",
): Steps<LoadedManifest[]> {
  const loaded: LoadedManifest[] = [];
  const errors: ValidationError[] = [];
  for (const text of texts) {
    const result = yield* loadFileSteps(text.content, text.name, text.baseDir, builds);
    for (const m of result.manifests) loaded.push(m);
    for (const e of result.errors) errors.push(e);
  }
  for (const e of findDuplicates(loaded)) errors.push(e);
  if (errors.length > 0) throw new ValidationErrors(errors);
  return loaded;
}

export interface FileResult {
  manifests: LoadedManifest[];
  errors: ValidationError[];
}

/** Parses one file's text; `baseDir` resolves relative build contexts. */
export function loadFile(
  content: Buffer | string,
  file: string,
  baseDir: string,
  builds: BuildContextPolicy = "anywhere",
): FileResult {
  return runToEnd(loadFileSteps(content, file, baseDir, builds));
}

function* loadFileSteps(
  content: Buffer | string,
  file: string,
  baseDir: string,
  builds: BuildContextPolicy,
): Steps<FileResult> {
  const at = (line: number, column: number): SourcePosition => ({ file, line, column });
  const size = typeof content === "string" ? Buffer.byteLength(content) : content.length;
  if (size > MAX_FILE_BYTES) {
    return {
      manifests: [],
      errors: [new ValidationError(at(1, 1), "", `file is ${size} bytes, more than the limit of ${MAX_FILE_BYTES}`)],
    };
  }
  const text = content.toString();
  if (TOML_FILE.test(file)) return yield* loadTomlSteps(text, at, baseDir, builds);
  const json = yield* loadJsonObject(text, at, baseDir, builds);
  if (json) return json;
  const lineCounter = new LineCounter();
  const parsed = yield* parseDocuments(text, lineCounter);
  if ("refused" in parsed) {
    const p = lineAndColumn(text, parsed.refused.offset);
    return { manifests: [], errors: [new ValidationError(at(p.line, p.column), "", parsed.refused.message)] };
  }
  const list = parsed.documents;
  const result: FileResult = { manifests: [], errors: [] };
  if (list.length > MAX_DOCUMENTS_PER_FILE) {
    result.errors.push(
      new ValidationError(at(1, 1), "", `${list.length} documents, more than the limit of ${MAX_DOCUMENTS_PER_FILE}`),
    );
    return result;
  }
  const position = (offset: number): SourcePosition => {
    const p = lineCounter.linePos(offset);
    return at(p.line, p.col);
  };
  for (const doc of list) {
    yield;
    const docResult = yield* loadDocument(doc, position, baseDir, builds);
    if ("errors" in docResult) for (const e of docResult.errors) result.errors.push(e);
    else if (docResult.manifest) result.manifests.push(docResult.manifest);
  }
  return result;
}

/** One document to a manifest, in a few steps (a big document's reading and checks each take one). */
function* loadDocument(
  doc: Document.Parsed,
  position: (offset: number) => SourcePosition,
  baseDir: string,
  builds: BuildContextPolicy,
): Steps<DocumentResult> {
  const start = position(doc.range[0]);
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => {
        const offset = e.pos[0];
        return new ValidationError(position(offset), "", `${YAML_SYNTAX_ERROR}: ${e.message.split("\n")[0]}`);
      }),
    };
  }
  if (doc.contents === null) return {}; // an empty document, e.g. a trailing "---"
  const duplicates = duplicateKeys(doc, position);
  if (duplicates.length > 0) return { errors: duplicates };
  // A mapping key that is a list, a mapping, binary or empty (`? {a: b}: c`) would silently become a string.
  let badKey: { at: SourcePosition } | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && ["string", "number", "boolean"].includes(typeof pair.key.value)) return undefined;
      const node = isNode(pair.key) ? pair.key : isNode(pair.value) ? pair.value : undefined;
      badKey = { at: node?.range ? position(node.range[0]) : start };
      return visit.BREAK;
    },
  });
  if (badKey)
    return {
      errors: [new ValidationError(badKey.at, "", "mapping keys must be plain names, not lists, mappings or nothing")],
    };
  yield;
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    return {
      errors: [new ValidationError(start, "", `cannot be read: ${err instanceof Error ? err.message : String(err)}`)],
    };
  }
  if (value === null || value === undefined) return {}; // a document with only comments or "---"
  const fieldPosition = (path: readonly (string | number)[], atKey: boolean): SourcePosition => {
    const node = nodeAt(doc, path, atKey);
    return node?.range ? position(node.range[0]) : start;
  };
  return yield* checkObject(value, fieldPosition, baseDir, builds);
}

/**
 * One valid manifest written as a JSON object, read without the YAML parser (json-object.ts);
 * undefined when the text is anything else or fails a check: the YAML path then reads it again
 * and says what is wrong, where.
 */
function* loadJsonObject(
  text: string,
  at: (line: number, column: number) => SourcePosition,
  baseDir: string,
  builds: BuildContextPolicy,
): Steps<FileResult | undefined> {
  const scan = scanJsonObject(text);
  if (!scan) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  yield;
  const name = lineAndColumn(text, scan.nameOffset ?? 0);
  const checked = yield* checkObject(value, () => at(name.line, name.column), baseDir, builds);
  return "manifest" in checked && checked.manifest ? { manifests: [checked.manifest], errors: [] } : undefined;
}

/** A TOML file's objects, each checked as a YAML document is. */
function* loadTomlSteps(
  text: string,
  at: (line: number, column: number) => SourcePosition,
  baseDir: string,
  builds: BuildContextPolicy,
): Steps<FileResult> {
  const parsed = yield* parseTomlObjects(text);
  if ("refused" in parsed) {
    const { line, column, message } = parsed.refused;
    return { manifests: [], errors: [new ValidationError(at(line, column), "", message)] };
  }
  const result: FileResult = { manifests: [], errors: [] };
  if (parsed.objects.length > MAX_DOCUMENTS_PER_FILE) {
    const message = `${parsed.objects.length} objects, more than the limit of ${MAX_DOCUMENTS_PER_FILE}`;
    return { manifests: [], errors: [new ValidationError(at(1, 1), "", message)] };
  }
  for (const object of parsed.objects) {
    yield;
    const place = (path: FieldPath, atKey: boolean): SourcePosition => {
      const p = object.position(path, atKey);
      return at(p.line, p.column);
    };
    const checked = yield* checkObject(object.value, place, baseDir, builds);
    if ("errors" in checked) for (const e of checked.errors) result.errors.push(e);
    else if (checked.manifest) result.manifests.push(checked.manifest);
  }
  return result;
}

/** 1-based line and column of an offset, without a parse. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

function findDuplicates(loaded: readonly LoadedManifest[]): ValidationError[] {
  const seen = new Map<string, SourcePosition>();
  const errors: ValidationError[] = [];
  for (const m of loaded) {
    const key = keyOf(m.object);
    const first = seen.get(key);
    if (first) {
      errors.push(
        new ValidationError(
          m.source,
          "metadata.name",
          `duplicate ${m.object.kind} ${JSON.stringify(m.object.metadata.name)}${m.object.metadata.group ? ` in group ${m.object.metadata.group}` : ""}, first defined at ${first.file}:${first.line}:${first.column}`,
        ),
      );
    } else {
      seen.set(key, m.source);
    }
  }
  return errors;
}
