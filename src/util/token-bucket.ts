/** A token bucket's state: what it held when last seen, and when. */
export interface Bucket {
  tokens: number;
  at: number;
}

/** What the bucket holds at `now` (milliseconds), refilled at `perSecond` up to `burst`. */
export function tokensAt(bucket: Bucket | undefined, now: number, perSecond: number, burst: number): number {
  return bucket ? Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond) : burst;
}
