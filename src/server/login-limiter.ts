/** One counter an attempt is held against: a key and how many attempts its window allows. */
export interface LimitKey {
  readonly key: string;
  readonly limit: number;
  /** A success gives this key its attempt back (a real user's login does not spend the account's budget). */
  readonly refundOnSuccess?: boolean;
}

export type Attempt =
  | { readonly ok: true; readonly succeeded: () => void }
  | { readonly ok: false; readonly retryAfterMs: number };

/**
 * Login attempts per key in a sliding window. An attempt is counted when it begins, before the
 * password is hashed: parallel guesses cannot all pass a check that is only recorded after
 * (issue 13). A success takes its own attempt back on the keys that say so; failures stay until
 * they leave the window.
 */
export class LoginLimiter {
  private readonly attempts = new Map<string, number[]>();

  constructor(
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts an attempt on every key, or none when one of them is at its limit. */
  begin(keys: readonly LimitKey[]): Attempt {
    const at = this.now();
    let waitMs = 0;
    for (const { key, limit } of keys) {
      const recent = this.recent(key, at);
      if (recent.length >= limit) waitMs = Math.max(waitMs, (recent[recent.length - limit] ?? at) + this.windowMs - at);
    }
    if (waitMs > 0) return { ok: false, retryAfterMs: waitMs };
    for (const { key } of keys) this.attempts.set(key, [...this.recent(key, at), at]);
    if (this.attempts.size > 10_000) this.prune(at);
    return {
      ok: true,
      succeeded: () => {
        for (const { key } of keys.filter((k) => k.refundOnSuccess)) {
          const list = this.attempts.get(key) ?? [];
          const i = list.indexOf(at);
          if (i >= 0) list.splice(i, 1);
          if (list.length === 0) this.attempts.delete(key);
        }
      },
    };
  }

  private recent(key: string, at: number): number[] {
    const since = at - this.windowMs;
    return (this.attempts.get(key) ?? []).filter((t) => t > since);
  }

  /** Keeps the map bounded under a spray of names. */
  private prune(at: number): void {
    for (const key of [...this.attempts.keys()]) if (this.recent(key, at).length === 0) this.attempts.delete(key);
  }
}
