import { tokensAt } from "../util/token-bucket.js";

/** Accounts kept at most; past it, those whose budget is full again go first. */
const MAX_ACCOUNTS = 10_000;

/**
 * What each account may spend on reads that need a provider call, as a token bucket that never
 * waits: a read over the budget is refused with the time until one is free (an HTTP 429 with
 * Retry-After), so one tenant's polling cannot fill the installation's shared EC2 rate.
 */
export class ReadBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perSecond: number,
    readonly burst: number,
  ) {}

  /** Takes one read for the account: 0 when allowed, else the milliseconds until one is. */
  take(account: string, now: number): number {
    const kept = this.buckets.get(account);
    const tokens = tokensAt(kept, now, this.perSecond, this.burst);
    // Set anew, so that the map's order is the order accounts were last seen in.
    this.buckets.delete(account);
    if (tokens < 1) {
      this.buckets.set(account, { tokens, at: now });
      return Math.ceil(((1 - tokens) / this.perSecond) * 1000);
    }
    this.buckets.set(account, { tokens: tokens - 1, at: now });
    if (this.buckets.size > MAX_ACCOUNTS) this.forgetFull(now);
    return 0;
  }

  private forgetFull(now: number): void {
    for (const [account, b] of this.buckets)
      if (tokensAt(b, now, this.perSecond, this.burst) >= this.burst) this.buckets.delete(account);
    // All still spending (a flood of accounts): the longest unseen go.
    for (const account of this.buckets.keys()) {
      if (this.buckets.size <= MAX_ACCOUNTS) break;
      this.buckets.delete(account);
    }
  }
}
