import { CST, Lexer } from "yaml";

/**
 * A bound on how deeply a YAML or JSON text nests, checked before the parser sees it. The yaml
 * parser recurses per level: about 800 nested brackets (2 KB) overflow its stack, and in a
 * long-running server the next parse then died inside V8 (issue 13). No manifest needs more
 * than a few levels.
 *
 * The text is read with yaml's own lexer, which keeps no stack: it splits the text exactly as
 * the parser will (quotes, comments, block scalars, tags and anchors included), so nothing a
 * hand-written scanner might misread can hide a bracket from this count.
 */
export const MAX_NESTING_DEPTH = 64;

export interface TooDeep {
  /** Where the nesting first passes the limit: an offset into the text. */
  readonly offset: number;
  readonly depth: number;
}

/** Tokens the lexer adds that are not in the text. */
const NOT_IN_SOURCE = new Set(["doc-mode", "scalar", "flow-error-end"]);
const FLOW_START = new Set(["flow-seq-start", "flow-map-start"]);
const FLOW_END = new Set(["flow-seq-end", "flow-map-end"]);
/** Indicators that open a level on the line they stand on: `- - x`, `? key`, and `: - x` (an explicit key's value). */
const BLOCK_INDICATOR = new Set(["seq-item-ind", "explicit-key-ind", "map-value-ind"]);

/**
 * An upper estimate of the nesting at each point: block levels from the indentation (a stack of
 * columns, as Python's tokenizer keeps) plus the `- `/`? ` indicators that open a line, and flow
 * brackets. Fed the lexer's tokens one by one, so that the loader lexes a text once, for this
 * count and for the parser together, and stops before the parser has read past the limit.
 */
export class NestingMeter {
  private readonly indents: number[] = [];
  private flow = 0;
  /** The block nesting of the current line, once its first token is seen. */
  private block = 0;
  private offset = 0;
  private atLineStart = true;
  private column = 0;
  /** Still among the indentation and the opening indicators of the line. */
  private opening = true;

  constructor(private readonly limit = MAX_NESTING_DEPTH) {}

  /** Counts one token; where the nesting first passes the limit, says so. */
  feed(token: string): TooDeep | undefined {
    const type = CST.tokenType(token) ?? undefined;
    if (type !== undefined && NOT_IN_SOURCE.has(type)) return undefined;
    const at = this.offset;
    this.offset += token.length;
    if (type === "newline") {
      this.atLineStart = true;
      this.column = 0;
      this.opening = true;
      return undefined;
    }
    if (this.atLineStart && type === "space") {
      this.column = token.length;
      return undefined;
    }
    if (type === "space" || type === "comment") return undefined;
    if (this.atLineStart) this.startLine();
    if (this.opening && type !== undefined && BLOCK_INDICATOR.has(type)) {
      this.block++;
    } else {
      this.opening = false;
    }
    if (type !== undefined && FLOW_START.has(type)) this.flow++;
    else if (type !== undefined && FLOW_END.has(type)) this.flow = Math.max(0, this.flow - 1);
    const depth = this.block + this.flow;
    return depth > this.limit ? { offset: at, depth } : undefined;
  }

  /** The first token of a line sets its block level (lines inside flow brackets do not nest by indentation). */
  private startLine(): void {
    this.atLineStart = false;
    if (this.flow > 0) return;
    const { indents } = this;
    while (indents.length > 0 && (indents[indents.length - 1] ?? 0) > this.column) indents.pop();
    if (indents.length === 0 || (indents[indents.length - 1] ?? 0) < this.column) indents.push(this.column);
    this.block = indents.length;
  }
}

/** Where a text first nests past `limit`, if it does. */
export function findExcessiveNesting(text: string, limit = MAX_NESTING_DEPTH): TooDeep | undefined {
  const meter = new NestingMeter(limit);
  for (const token of new Lexer().lex(text)) {
    const tooDeep = meter.feed(token);
    if (tooDeep) return tooDeep;
  }
  return undefined;
}
