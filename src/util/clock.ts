export interface Timer {
  cancel(): void;
}

/** Time as the loop sees it; tests inject a fake one so nothing sleeps. */
export interface Clock {
  now(): number;
  schedule(delayMs: number, fn: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(delayMs, fn) {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};
