import type { Change } from "../store/store.js";
import { TokenBudgets } from "../util/token-budgets.js";
import { retryAfterSeconds, tooManyRequests } from "./http.js";
import { accountKey, type Principal } from "./tokens.js";

/**
 * The objects each account creates, changes or deletes per second (ServerLimits.writeChangesPerSecond).
 * A write is asked about before it costs anything (`admit`), reserves as many changes as it could
 * make just before it makes them (`reserve`: of concurrent writes, only those that find the budget
 * not yet spent go), and gets back what it did not change once done (`settle`), so that
 * re-applying what is stored (a git-ops sync) costs nothing. Admins are not held to it.
 */
export class ChangeBudget {
  private readonly budgets: TokenBudgets;

  constructor(
    private readonly perSecond: number,
    burst: number,
  ) {
    this.budgets = TokenBudgets.lending(perSecond, burst);
  }

  /** 429 with Retry-After while the account's earlier changes are not paid for. */
  admit(principal: Principal): void {
    if (principal.kind === "admin") return;
    this.refuseIfSpent(principal, this.budgets.take(accountKey(principal), 0));
  }

  /**
   * Takes `most` changes (the objects a write names) before the write, into debt if need be: it
   * goes whole. 429 as `admit` does when the budget is spent. Returns what to settle with.
   */
  reserve(principal: Principal, most: number): number {
    if (principal.kind === "admin") return 0;
    this.refuseIfSpent(principal, this.budgets.take(accountKey(principal), most));
    return most;
  }

  /**
   * Runs a write of at most `most` changes within the budget: reserved before, and what it did not
   * change given back after (a failed write keeps its reservation).
   */
  async within<C extends Pick<Change, "action">>(
    principal: Principal,
    most: number,
    write: () => Promise<C[]>,
  ): Promise<C[]> {
    const reserved = this.reserve(principal, most);
    const changes = await write();
    this.settle(principal, reserved, changes);
    return changes;
  }

  /** Charges changes made without a reservation, into debt if need be (a prune set's deletions). */
  charge(principal: Principal, changes: readonly Pick<Change, "action">[]): void {
    this.settle(principal, 0, changes);
  }

  private settle(principal: Principal, reserved: number, changes: readonly Pick<Change, "action">[]): void {
    if (principal.kind === "admin") return;
    const changed = changes.reduce((n, c) => (c.action === "unchanged" ? n : n + 1), 0);
    if (changed !== reserved) this.budgets.spend(accountKey(principal), changed - reserved);
  }

  private refuseIfSpent(principal: Principal, waitMs: number): void {
    if (waitMs <= 0) return;
    throw tooManyRequests(
      waitMs,
      `${principal.kind} ${principal.name} created or changed more objects than ${this.perSecond} a second allow; try again in ${retryAfterSeconds(waitMs)} s`,
    );
  }
}
