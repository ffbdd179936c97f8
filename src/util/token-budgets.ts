import { performance } from "node:perf_hooks";

/** Accounts kept at most; past it, those whose bucket is full again go first, then the longest unseen. */
const MAX_ACCOUNTS = 10_000;

export interface TokenBudgetOptions {
  /** Tokens added a second, up to `burst`; a new account starts full. */
  readonly perSecond: number;
  readonly burst: number;
  /**
   * What a take past the budget does. "lend": it goes whole while the bucket holds anything, and
   * runs it into debt (a stream's line is already made, and is sent whole). "refuse": it goes only
   * when the bucket holds all of it (a read refused with a 429 costs nothing).
   */
  readonly overdraft: "lend" | "refuse";
  /** Milliseconds; performance.now() unless given. */
  readonly now?: () => number;
}

/** A bucket as last seen: what it held, and when. */
interface Bucket {
  readonly tokens: number;
  readonly at: number;
}

/**
 * A token bucket per account (a tenant's watch bytes, log bytes, reads of runs on AWS): a burst,
 * then a steady rate. A take never waits here: it answers how long its caller should.
 */
export class TokenBudgets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(private readonly options: TokenBudgetOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Budgets whose takes go whole while anything is left and run into debt (see TokenBudgetOptions.overdraft). */
  static lending(perSecond: number, burst: number): TokenBudgets {
    return new TokenBudgets({ perSecond, burst, overdraft: "lend" });
  }

  /** Takes `cost` from the account's bucket: 0 when it goes now, else the milliseconds until it would. */
  take(account: string, cost = 1): number {
    const { perSecond, overdraft } = this.options;
    const now = this.now();
    const tokens = this.tokensAt(this.buckets.get(account), now);
    const goes = overdraft === "lend" ? tokens > 0 : tokens >= cost;
    // Set anew, so that the map's order is the order accounts were last seen in.
    this.buckets.delete(account);
    this.buckets.set(account, { tokens: goes ? tokens - cost : tokens, at: now });
    if (this.buckets.size > MAX_ACCOUNTS) this.forgetFull(now);
    if (goes) return 0;
    // Lent: until the debt is paid and the bucket holds something again. Refused: until it holds `cost`.
    return overdraft === "lend"
      ? Math.ceil((-tokens * 1000) / perSecond) + 1
      : Math.ceil(((cost - tokens) / perSecond) * 1000);
  }

  /**
   * Takes `cost` whatever the bucket holds, into debt if need be; a negative cost gives back (up
   * to the burst): for work whose cost is known only once it is done (the objects an apply changed).
   */
  spend(account: string, cost: number): void {
    const now = this.now();
    const tokens = this.tokensAt(this.buckets.get(account), now);
    this.buckets.delete(account);
    this.buckets.set(account, { tokens: tokens - cost, at: now });
    if (this.buckets.size > MAX_ACCOUNTS) this.forgetFull(now);
  }

  private tokensAt(bucket: Bucket | undefined, now: number): number {
    const { perSecond, burst } = this.options;
    return bucket ? Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond) : burst;
  }

  private forgetFull(now: number): void {
    for (const [account, bucket] of this.buckets)
      if (this.tokensAt(bucket, now) >= this.options.burst) this.buckets.delete(account);
    // All still spending (a flood of accounts): the longest unseen go.
    for (const account of this.buckets.keys()) {
      if (this.buckets.size <= MAX_ACCOUNTS) break;
      this.buckets.delete(account);
    }
  }
}
