/** Enough for every client of a busy installation; a token is a few hundred bytes. */
const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * Tokens whose signature and claims verified, until they expire: bounded, the oldest entry
 * dropped first, so that no number of distinct valid tokens grows memory without end.
 */
export class VerifiedTokens<Principal> {
  private readonly entries = new Map<string, { principal: Principal; expiresAtMs: number }>();

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  /** The principal of a token verified before and not yet expired at `nowMs`. */
  get(token: string, nowMs: number): Principal | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.expiresAtMs > nowMs) return entry.principal;
    this.entries.delete(token);
    return undefined;
  }

  add(token: string, principal: Principal, expiresAtMs: number): void {
    this.entries.delete(token);
    this.entries.set(token, { principal, expiresAtMs });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}
