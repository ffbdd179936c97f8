export interface Timer {
  cancel(): void;
}

export interface ScheduleOptions {
  /** Keep the process alive until the timer fires (a write that must reach the disk); a loop's timers do not. */
  readonly keepAlive?: boolean;
}

/** Time as the loop sees it; tests inject a fake one so nothing sleeps. */
export interface Clock {
  now(): number;
  schedule(delayMs: number, fn: () => void, options?: ScheduleOptions): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(delayMs, fn, options) {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    if (!options?.keepAlive) handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};
