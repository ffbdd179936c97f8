import type { Progress } from "../controllers/context.js";

const SYMBOL: Readonly<Record<Progress["kind"], string>> = {
  operation: "~",
  progressing: "…",
  ready: "✓",
  failed: "!",
  stalled: "✗",
  deleted: "-",
};

/**
 * Prints the loop's progress: plain lines when output is not a terminal (CI, pipes), and on a
 * terminal one live line per object, redrawn in place, with the operations above it.
 */
export class ProgressPrinter {
  private readonly lines = new Map<string, string>();
  private drawn = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly live = Boolean(out.isTTY) && process.env.TERM !== "dumb",
  ) {}

  readonly handle = (p: Progress): void => {
    const line = p.kind === "operation" ? p.message : `${p.display} ${p.kind}: ${p.message}`;
    if (!this.live) {
      this.out.write(`  ${SYMBOL[p.kind]} ${line}\n`);
      return;
    }
    this.clear();
    if (p.kind === "operation" || p.kind === "deleted") this.out.write(`  ${SYMBOL[p.kind]} ${line}\n`);
    else this.lines.set(p.display, `  ${SYMBOL[p.kind]} ${line}`);
    this.draw();
  };

  /** Leaves the final state of every object on screen. */
  finish(): void {
    if (!this.live) return;
    this.drawn = 0;
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    const width = this.out.columns || 120;
    for (const line of this.lines.values()) this.out.write(`${line.slice(0, width - 1)}\n`);
    this.drawn = this.lines.size;
  }
}
