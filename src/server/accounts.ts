import { AirloftError } from "../errors.js";
import type { AccountKind, AccountRecord, Store, StoreEvent } from "../store/store.js";
import { decoyHash, generatePassword, hashPassword, verifyPassword } from "./passwords.js";
import type { Principal } from "./tokens.js";

export const FIRST_ADMIN = "admin";

export class ForbiddenError extends AirloftError {
  constructor(message: string) {
    super("Forbidden", message);
  }
}

/** Admin and group accounts, kept in the state file with hashed passwords. */
export class Accounts {
  /**
   * A group's account goes with its Group: a group created again later under the same name
   * must not accept the old password.
   */
  private readonly onChange = (change: StoreEvent): void => {
    if (change.type === "removed" && change.object.kind === "Group") void this.store.deleteAccount("group", change.object.metadata.name);
  };

  constructor(private readonly store: Store) {
    store.events.on("change", this.onChange);
  }

  close(): void {
    this.store.events.off("change", this.onChange);
  }

  /**
   * Makes the first admin if there is none: with AIRLOFT_ADMIN_PASSWORD, or a generated
   * password that is returned (to print once) and never stored in clear.
   */
  async bootstrap(env: NodeJS.ProcessEnv = process.env): Promise<{ name: string; password: string } | undefined> {
    if (this.store.listAccounts("admin").length > 0) return undefined;
    const password = env.AIRLOFT_ADMIN_PASSWORD || generatePassword();
    await this.save("admin", FIRST_ADMIN, { passwordHash: await hashPassword(password), tokenVersion: 1 });
    return env.AIRLOFT_ADMIN_PASSWORD ? undefined : { name: FIRST_ADMIN, password };
  }

  /** The principal whose password matches, or undefined; as slow for unknown names as for known ones. */
  async authenticate(kind: AccountKind, name: string, password: string): Promise<Principal | undefined> {
    const record = this.store.account(kind, name);
    const ok = await verifyPassword(password, record?.passwordHash ?? (await decoyHash()));
    if (!ok || !record?.passwordHash) return undefined;
    return { kind, name, version: record.tokenVersion };
  }

  /** Why a verified token's principal may not act now (locked, password changed, gone), or undefined. */
  refusal(principal: Principal): string | undefined {
    const record = this.store.account(principal.kind, principal.name);
    if (!record) return `${principal.kind} ${principal.name} has no account`;
    if (record.locked) return `${principal.kind} ${principal.name} is locked`;
    if (record.tokenVersion !== principal.version) return "the token was issued before the password changed; log in again";
    return undefined;
  }

  list(kind: AccountKind): Array<{ name: string; locked: boolean; hasPassword: boolean; updated: string }> {
    return this.store.listAccounts(kind).map((a) => ({ name: a.name, locked: a.locked ?? false, hasPassword: a.passwordHash !== undefined, updated: a.updated }));
  }

  /** Sets a password and/or the lock; a new password revokes the account's earlier tokens. */
  async update(kind: AccountKind, name: string, change: { password?: string; locked?: boolean }): Promise<void> {
    const current = this.store.account(kind, name);
    const next: Omit<AccountRecord, "updated"> = { ...(current ?? { tokenVersion: 0 }) };
    if (change.password !== undefined) {
      next.passwordHash = await hashPassword(change.password);
      next.tokenVersion += 1;
    }
    if (change.locked !== undefined) next.locked = change.locked;
    await this.save(kind, name, next);
  }

  private save(kind: AccountKind, name: string, record: Omit<AccountRecord, "updated">): Promise<void> {
    return this.store.saveAccount(kind, name, { ...record, updated: new Date().toISOString() });
  }
}
