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
/** Indicators that open a level on the line they stand on: `- - x`, `? key`. */
const BLOCK_INDICATOR = new Set(["seq-item-ind", "explicit-key-ind"]);

/**
 * An upper estimate of the nesting at each point: block levels from the indentation (a stack of
 * columns, as Python's tokenizer keeps) plus the `- `/`? ` indicators that open a line, and flow
 * brackets. Returns where it first passes `limit`.
 */
export function findExcessiveNesting(text: string, limit = MAX_NESTING_DEPTH): TooDeep | undefined {
  const indents: number[] = [];
  let flow = 0;
  /** The block nesting of the current line, once its first token is seen. */
  let block = 0;
  let offset = 0;
  let atLineStart = true;
  let column = 0;
  /** Still among the indentation and the opening indicators of the line. */
  let opening = true;
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token) ?? undefined;
    if (type !== undefined && NOT_IN_SOURCE.has(type)) continue;
    const at = offset;
    offset += token.length;
    if (type === "newline") {
      atLineStart = true;
      column = 0;
      opening = true;
      continue;
    }
    if (atLineStart && type === "space") {
      column = token.length;
      continue;
    }
    if (type === "space" || type === "comment") continue;
    if (atLineStart) {
      atLineStart = false;
      // Lines inside flow brackets do not nest by indentation.
      if (flow === 0) {
        while (indents.length > 0 && (indents[indents.length - 1] ?? 0) > column) indents.pop();
        if (indents.length === 0 || (indents[indents.length - 1] ?? 0) < column) indents.push(column);
        block = indents.length;
      }
    }
    if (opening && type !== undefined && BLOCK_INDICATOR.has(type)) {
      block++;
    } else {
      opening = false;
    }
    if (type !== undefined && FLOW_START.has(type)) flow++;
    else if (type !== undefined && FLOW_END.has(type)) flow = Math.max(0, flow - 1);
    if (block + flow > limit) return { offset: at, depth: block + flow };
  }
  return undefined;
}
