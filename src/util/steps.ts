import type { ThreadLoad } from "./thread-load.js";
import { turnTaker } from "./turns.js";

/**
 * Long work written once as a generator of steps: each `yield` is a point where it may pause.
 * The CLI runs it to the end at once; a server runs it in slices between other requests
 * (src/server/fair-gate.ts), so one tenant's big apply never holds the only thread for long.
 */
export type Steps<T> = Generator<void, T, void>;

/** Runs the steps to the end, letting the event loop turn every few milliseconds (see turnTaker). */
export async function runInTurns<T>(steps: Steps<T>, load?: ThreadLoad): Promise<T> {
  const pause = turnTaker(undefined, load);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    await pause();
  }
}

/** Runs every step at once and returns the result. */
export function runToEnd<T>(steps: Steps<T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}
