/**
 * A bound on how deeply a YAML or JSON text nests, checked before the parser sees it. The yaml
 * parser recurses per level: about 800 nested brackets (2 KB) overflow its stack, and in a
 * long-running server the next parse then died inside V8 (issue 13). No manifest needs more
 * than a few levels; the scan is linear and needs no stack.
 */
export const MAX_NESTING_DEPTH = 64;

export interface TooDeep {
  /** Where the nesting first passes the limit: an offset into the text. */
  readonly offset: number;
  readonly depth: number;
}

/**
 * An upper estimate of the nesting at each point: block levels from the indentation (a stack of
 * columns, as Python's tokenizer keeps), compact `- `/`? ` indicators on one line, and flow
 * brackets outside quotes, comments and block scalars. Returns where it first passes `limit`.
 */
export function findExcessiveNesting(text: string, limit = MAX_NESTING_DEPTH): TooDeep | undefined {
  const indents: number[] = [];
  let flow = 0;
  let i = 0;
  const n = text.length;
  /** The indentation a block scalar's content must exceed, while skipping it. */
  let blockScalarParent: number | undefined;
  /** The block nesting of the last line that began outside flow brackets. */
  let depth = 0;
  const skipLine = (): void => {
    while (i < n && text[i] !== "\n") i++;
    i++;
  };
  while (i < n) {
    const lineStart = i;
    let col = 0;
    while (i < n && text[i] === " ") {
      i++;
      col++;
    }
    const first = text[i];
    const blank = i >= n || first === "\n" || first === "\r";
    if (blockScalarParent !== undefined) {
      if (blank || col > blockScalarParent) {
        skipLine();
        continue;
      }
      blockScalarParent = undefined;
    }
    if (blank || first === "#") {
      skipLine();
      continue;
    }
    if (flow === 0) {
      while (indents.length > 0 && (indents[indents.length - 1] ?? 0) > col) indents.pop();
      if (indents.length === 0 || (indents[indents.length - 1] ?? 0) < col) indents.push(col);
      depth = indents.length;
      // "- - - x" nests one level per indicator on a single line.
      while ((text[i] === "-" || text[i] === "?") && (text[i + 1] === " " || text[i + 1] === "\n" || i + 1 >= n)) {
        depth++;
        i++;
        while (text[i] === " ") i++;
      }
      if (depth > limit) return { offset: lineStart + col, depth };
    }
    // The rest of the line: flow brackets, quoted scalars (which may span lines), comments.
    let valueStart = true;
    while (i < n && text[i] !== "\n") {
      const c = text[i];
      if (c === "#" && (i === lineStart || text[i - 1] === " " || text[i - 1] === "\t")) {
        while (i < n && text[i] !== "\n") i++;
        break;
      }
      if ((c === '"' || c === "'") && (valueStart || flow > 0)) {
        i = skipQuoted(text, i);
        valueStart = false;
        continue;
      }
      if ((c === "[" || c === "{") && (valueStart || flow > 0)) {
        flow++;
        if (depth + flow > limit) return { offset: i, depth: depth + flow };
      } else if ((c === "]" || c === "}") && flow > 0) {
        flow--;
      } else if ((c === "|" || c === ">") && valueStart && flow === 0) {
        blockScalarParent = col;
      }
      // A value starts after an indicator followed by a space, or after a flow separator.
      if (c === " " || c === "\t") {
        const prev = text[i - 1];
        if (prev === ":" || prev === "-" || prev === "?" || prev === ",") valueStart = true;
      } else if (flow > 0 && (c === "[" || c === "{" || c === ",")) {
        valueStart = true;
      } else {
        valueStart = false;
      }
      i++;
    }
    i++;
  }
  return undefined;
}

/** The offset just after the quoted scalar that starts at `start`, or the end of the text. */
function skipQuoted(text: string, start: number): number {
  const quote = text[start];
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (quote === '"' && c === "\\") {
      i += 2;
      continue;
    }
    if (c === quote) {
      // '' inside single quotes is an escaped quote.
      if (quote === "'" && text[i + 1] === "'") {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return i;
}
