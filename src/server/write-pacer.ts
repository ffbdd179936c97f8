import { performance } from "node:perf_hooks";
import { TurnLoop } from "../util/turns.js";

/** How long one turn of the event loop may spend writing streams' lines, all streams together. */
export const DEFAULT_PACER_SLICE_MS = 4;
/** What one stream may write in its turn before the next stream's. */
export const DEFAULT_PIECE_BYTES = 64 * 1024;

/** A stream that writes in pieces when given a turn. */
export interface PacedWriter {
  /** Writes up to about `maxBytes`; true when it stopped at that limit and could write more now. */
  writeSome(maxBytes: number): boolean;
}

/**
 * Streams write in turns of the event loop, never inline: on a loopback connection a write
 * completes at once and its 'drain' follows in the same tick, so a stream pumping a listing
 * would run on until the kernel's buffer is full, and 100 watches opened at once held the
 * thread for seconds while every other request waited to be accepted (issue 13). Here each
 * waiting stream writes a piece in its turn, round-robin, for at most a slice of each turn.
 */
export class WritePacer {
  /** Streams with something to write; the set's order is the round-robin order. */
  private readonly waiting = new Set<PacedWriter>();
  private readonly turns = new TurnLoop(
    () => this.turn(),
    () => this.waiting.size > 0,
  );

  constructor(
    private readonly sliceMs = DEFAULT_PACER_SLICE_MS,
    private readonly pieceBytes = DEFAULT_PIECE_BYTES,
  ) {}

  /** The writer gets a turn soon (once, however often it asks before then). */
  wake(writer: PacedWriter): void {
    this.waiting.add(writer);
    this.turns.wake();
  }

  /** The writer is done for good (closed). */
  forget(writer: PacedWriter): void {
    this.waiting.delete(writer);
  }

  /** Gives each waiting writer a piece, in order, until the slice is spent; one that has more goes to the back. */
  private turn(): undefined {
    const deadline = performance.now() + this.sliceMs;
    for (const writer of [...this.waiting]) {
      this.waiting.delete(writer);
      if (writer.writeSome(this.pieceBytes)) this.waiting.add(writer);
      if (performance.now() >= deadline) return undefined;
    }
    return undefined;
  }
}
