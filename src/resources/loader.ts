import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { type Document, isMap, isNode, isScalar, LineCounter, type Node, visit } from "yaml";
import { type SourcePosition, ValidationError, ValidationErrors } from "../errors.js";
import { runToEnd, type Steps } from "../util/steps.js";
import { isKind, keyOf } from "./kinds.js";
import { checkPolicy } from "./policy.js";
import { validateAgainstSchema } from "./schemas.js";
import { secretInput } from "./secret-input.js";
import type { Resource } from "./types.js";
import { duplicateKeys, parseDocuments, YAML_SYNTAX_ERROR } from "./yaml-documents.js";

export { YAML_SYNTAX_ERROR } from "./yaml-documents.js";

export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_DOCUMENTS_PER_FILE = 1000;
const MAX_ALIAS_COUNT = 100;
const MANIFEST_FILE = /\.(ya?ml|json)$/i;

export interface LoadedManifest {
  readonly object: Resource;
  readonly source: SourcePosition;
  /** A Secret's values (its data and stringData): never part of the object. */
  readonly values?: Readonly<Record<string, Buffer>>;
}

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

/**
 * Where build contexts may be: anywhere on this machine (the CLI, reading the user's own files),
 * only inside `baseDir` (a server with --build-root), or nowhere (a server without one: a tenant
 * must not make the server read its folders).
 */
export type BuildContextPolicy = "anywhere" | "inside" | "refused";

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

const MAX_ISSUES_PER_DOCUMENT = 50;

type DocumentResult = { errors: ValidationError[] } | { manifest?: LoadedManifest };

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
  const fail = (path: readonly (string | number)[], message: string, atKey = false): DocumentResult => ({
    errors: [new ValidationError(fieldPosition(path, atKey), formatPath(path), message)],
  });

  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return fail([], "a manifest must be a mapping with apiVersion, kind, metadata and spec");
  }
  const kind = (value as { kind?: unknown }).kind;
  if (kind === undefined) return fail([], 'missing required field "kind"');
  if (!isKind(kind))
    return fail(["kind"], `unknown kind ${JSON.stringify(kind)}; expected one of Group, App, Service, Quota, Secret`);

  yield;
  const policy = checkPolicy(kind, value);
  yield;
  const schema = validateAgainstSchema(kind, value).filter(
    (s) => !policy.some((p) => formatPath(p.path) === formatPath(s.path)),
  );
  // A list of 20,000 wrong items is said in its first problems, not 20,000 of them.
  const issues = [...policy, ...schema].slice(0, MAX_ISSUES_PER_DOCUMENT);
  if (issues.length > 0) {
    const errors = issues.map(
      (i) => new ValidationError(fieldPosition(i.path, i.atKey), formatPath(i.path), i.message),
    );
    return {
      errors: errors.sort((a, b) => a.position.line - b.position.line || a.position.column - b.position.column),
    };
  }
  const object = normalize(value as Resource);
  if (object.kind === "App" && object.spec.build) {
    if (builds === "refused")
      return fail(
        ["spec", "build"],
        "this server builds no local folders: give an image, or start the server with --build-root",
      );
    const context = resolve(baseDir, object.spec.build.context);
    if (builds === "inside") {
      // One answer for missing and outside: a tenant learns nothing of the server's other paths.
      if (!isFolderInside(context, baseDir))
        return fail(
          ["spec", "build", "context"],
          `build context ${object.spec.build.context} is not a folder inside this group's build root`,
        );
    } else if (!existsSync(context) || !statSync(context).isDirectory()) {
      return fail(["spec", "build", "context"], `build context ${context} is not a folder`);
    }
    object.spec.build = { ...object.spec.build, context };
  }
  const source = fieldPosition(["metadata", "name"], false);
  if (object.kind === "Secret") return { manifest: { object, source, values: secretInput(value) } };
  return { manifest: { object, source } };
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

/** Whether `path` is a folder that, links resolved, lies inside `root`. */
function isFolderInside(path: string, root: string): boolean {
  if (!existsSync(path) || !existsSync(root)) return false;
  return isInside(realpathSync(path), realpathSync(root)) && statSync(path).isDirectory();
}

function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Keeps what users may set: the store owns the rest of metadata, controllers own status. */
function normalize(obj: Resource): Resource {
  const { name, group, labels, annotations, resourceVersion } = obj.metadata;
  const metadata = {
    name,
    ...(group !== undefined ? { group } : {}),
    ...(labels ? { labels } : {}),
    ...(annotations ? { annotations } : {}),
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
  };
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata, spec: obj.spec } as Resource;
}

function nodeAt(doc: Document.Parsed, path: readonly (string | number)[], atKey: boolean): Node | undefined {
  if (atKey && path.length > 0) {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    if (isMap(parent)) {
      const last = path[path.length - 1];
      const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === last);
      if (pair && isScalar(pair.key)) return pair.key;
    }
  }
  // Walk up until a node exists: a missing field points at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (node && typeof node === "object" && "range" in node) return node as Node;
  }
  return undefined;
}

/** ["spec", "command", 0] -> "spec.command[0]" */
export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (out, seg) => (typeof seg === "number" ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg),
    "",
  );
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
