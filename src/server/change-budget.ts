import type { Change } from "../store/store.js";
import { TokenBudgets } from "../util/token-budgets.js";
import { ApiError } from "./http.js";
import { accountKey, type Principal } from "./tokens.js";

/**
 * The objects each account creates, changes or deletes per second (ServerLimits.writeChangesPerSecond):
 * asked before a write costs anything, charged once it is done, when what it changed is known, so
 * that re-applying what is stored (a git-ops sync) costs nothing. Admins are not held to it.
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
    const waitMs = this.budgets.take(accountKey(principal), 0);
    if (waitMs <= 0) return;
    const seconds = Math.ceil(waitMs / 1000);
    throw new ApiError(
      429,
      "TooManyRequests",
      `${principal.kind} ${principal.name} created or changed more objects than ${this.perSecond} a second allow; try again in ${seconds} s`,
      { "retry-after": String(seconds) },
    );
  }

  /** A done write's changes, into debt if need be: the write went whole. */
  charge(principal: Principal, changes: readonly Pick<Change, "action">[]): void {
    if (principal.kind === "admin") return;
    const changed = changes.reduce((n, c) => (c.action === "unchanged" ? n : n + 1), 0);
    if (changed > 0) this.budgets.spend(accountKey(principal), changed);
  }
}
