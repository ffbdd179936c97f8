import { performance } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";

/** How long a loop may hold the thread before it lets the event loop turn. */
export const TURN_SLICE_MS = 8;

/**
 * A pause for long loops: it lets the event loop turn (requests read, timers run) once `sliceMs`
 * of the thread has been spent since the last turn, and costs nothing otherwise. A loop of
 * awaits that resolve at once never lets I/O in by itself: they are microtasks.
 */
export function turnTaker(sliceMs = TURN_SLICE_MS): () => Promise<void> {
  let deadline = performance.now() + sliceMs;
  return async () => {
    if (performance.now() < deadline) return;
    await nextTurn();
    deadline = performance.now() + sliceMs;
  };
}

/**
 * Work done a slice per turn of the event loop, after the requests already read: `turn` runs
 * once per turn while `pending` says there is more. wake() after adding work.
 */
export class TurnLoop {
  private scheduled = false;

  constructor(
    private readonly turn: () => void,
    private readonly pending: () => boolean,
  ) {}

  wake(): void {
    if (this.scheduled || !this.pending()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.turn();
      this.wake();
    });
  }
}
