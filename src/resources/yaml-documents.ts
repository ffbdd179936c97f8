import { Composer, type Document, isMap, isScalar, Lexer, type LineCounter, type Node, Parser, visit } from "yaml";
import { type SourcePosition, ValidationError } from "../errors.js";
import type { Steps } from "../util/steps.js";
import { MAX_NESTING_DEPTH, NestingMeter } from "./nesting.js";

/** The start of a parse error's message: the document is not YAML at all. */
export const YAML_SYNTAX_ERROR = "YAML syntax error";

/** Tokens lexed between two pauses (a 1 MiB file has some 100,000). */
const TOKENS_PER_STEP = 2048;
/** A document is composed in one step: past this many tokens it would hold the thread too long. */
export const MAX_TOKENS_PER_DOCUMENT = 40_000;
const TOO_DEEP = `nested more than ${MAX_NESTING_DEPTH} levels deep; a manifest needs a few`;
const TOO_BIG = `a document of more than ${MAX_TOKENS_PER_DOCUMENT} YAML tokens; a manifest needs far fewer`;

/**
 * yaml's parseAllDocuments, driven token by token: the text is lexed once, for the nesting bound
 * and the parser together, and the parse stops where the nesting first passes the bound, before
 * the composer (which recurses per level) sees that document. Pauses every few thousand tokens.
 */
export function* parseDocuments(
  text: string,
  lineCounter: LineCounter,
  /** YAML 1.1 merge keys (`<<: *defaults`), which Compose files use; manifests do not. */
  options: { merge?: boolean } = {},
): Steps<{ documents: Document.Parsed[] } | { refused: { offset: number; message: string } }> {
  const meter = new NestingMeter();
  const parser = new Parser(lineCounter.addNewLine);
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false, ...(options.merge ? { merge: true } : {}) });
  const documents: Document.Parsed[] = [];
  lineCounter.addNewLine(0);
  let tokens = 0;
  /** Tokens of the document being read: the composer takes a document in one step, so its size is bounded. */
  let inDocument = 0;
  let offset = 0;
  for (const lexeme of new Lexer().lex(text)) {
    const tooDeep = meter.feed(lexeme);
    if (tooDeep) return { refused: { offset: tooDeep.offset, message: TOO_DEEP } };
    if (++inDocument > MAX_TOKENS_PER_DOCUMENT) return { refused: { offset, message: TOO_BIG } };
    offset += lexeme.length;
    for (const token of parser.next(lexeme)) {
      if (token.type === "document") inDocument = 0;
      for (const doc of composer.next(token)) documents.push(doc);
    }
    if (++tokens % TOKENS_PER_STEP === 0) yield;
  }
  for (const token of parser.end()) for (const doc of composer.next(token)) documents.push(doc);
  for (const doc of composer.end()) documents.push(doc);
  return { documents };
}

/** Every repeated key of every mapping (yaml's own check compares each key with all before it). */
export function duplicateKeys(doc: Document.Parsed, position: (offset: number) => SourcePosition): ValidationError[] {
  const errors: ValidationError[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const { key } of map.items) {
        if (!isScalar(key)) continue;
        if (seen.has(key.value))
          errors.push(
            new ValidationError(position(key.range?.[0] ?? 0), "", `${YAML_SYNTAX_ERROR}: Map keys must be unique`),
          );
        seen.add(key.value);
      }
    },
  });
  return errors;
}

/** The node at a path (for atKey, the key of its last segment); a missing one gives its nearest parent. */
export function nodeAt(doc: Document.Parsed, path: readonly (string | number)[], atKey: boolean): Node | undefined {
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
