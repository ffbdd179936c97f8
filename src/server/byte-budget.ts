import { performance } from "node:perf_hooks";
import { type Bucket, tokensAt } from "../util/token-bucket.js";

/**
 * What one account's watch streams may send, together: a bucket of bytes that refills at a
 * steady rate. Serializing and writing a listing is the server's work; without a bound, a tenant
 * opening twenty watches of a 4,000-object group took the thread from everyone for seconds
 * (issue 13). A stream past its account's budget waits for the bucket, and the client reads on.
 */
export class ByteBudgets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly bytesPerSecond: number,
    private readonly burstBytes: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes `bytes` from the account's bucket: 0 to send them now, or the milliseconds to wait first. */
  take(account: string, bytes: number): number {
    const at = this.now();
    const bucket: Bucket = {
      tokens: tokensAt(this.buckets.get(account), at, this.bytesPerSecond, this.burstBytes),
      at,
    };
    this.buckets.set(account, bucket);
    // A line is sent whole: a bucket with anything in it lets it go and runs into debt.
    if (bucket.tokens > 0) {
      bucket.tokens -= bytes;
      return 0;
    }
    return Math.ceil((-bucket.tokens * 1000) / this.bytesPerSecond) + 1;
  }
}
