import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { AirloftError } from "../errors.js";
import type { Store, StoreEvent } from "../store/store.js";
import { type AccountKind, type AccountRecord, accountOf, accountsOf, listAccounts } from "./account-records.js";
import { decoyHash, generatePassword, hashPassword, outdated, verifyPassword } from "./passwords.js";
import type { Principal } from "./tokens.js";

export const FIRST_ADMIN = "admin";
/** The API's rule for every password, AIRLOFT_ADMIN_PASSWORD included. */
export const MIN_PASSWORD_LENGTH = 10;

export class ForbiddenError extends AirloftError {
  constructor(message: string) {
    super("Forbidden", message);
  }
}

/** Admin and group accounts, kept in the state file with hashed passwords. */
export class Accounts {
  /** Told of every change to an account at once, not after the write: open watch streams re-check theirs. */
  readonly changes = new EventEmitter<{ changed: [{ kind: AccountKind; name: string }] }>();

  /**
   * A group's account goes with its Group: a group created again later under the same name
   * must not accept the old password.
   */
  private readonly onChange = (change: StoreEvent): void => {
    if (change.type === "removed" && change.object.kind === "Group")
      void this.remove("group", change.object.metadata.name);
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
    await this.giveIdentities();
    if (listAccounts(this.store, "admin").length > 0) return undefined;
    const fromEnv = env.AIRLOFT_ADMIN_PASSWORD;
    if (fromEnv !== undefined && fromEnv !== "" && fromEnv.length < MIN_PASSWORD_LENGTH) {
      throw new AirloftError(
        "InvalidConfig",
        `AIRLOFT_ADMIN_PASSWORD must be at least ${MIN_PASSWORD_LENGTH} characters, as every API password`,
      );
    }
    const password = fromEnv || generatePassword();
    await this.save("admin", FIRST_ADMIN, {
      uid: randomUUID(),
      passwordHash: await hashPassword(password),
      tokenVersion: 1,
    });
    return env.AIRLOFT_ADMIN_PASSWORD ? undefined : { name: FIRST_ADMIN, password };
  }

  /**
   * Accounts kept before identities existed get one; tokens issued to them before carry none
   * and are refused (log in again).
   */
  private async giveIdentities(): Promise<void> {
    for (const kind of ["admin", "group"] as const) {
      for (const { name, ...record } of listAccounts(this.store, kind)) {
        if (!record.uid) await this.write(kind, name, { ...record, uid: randomUUID() });
      }
    }
  }

  /**
   * The principal whose password matches, or undefined; as slow for unknown names as for known
   * ones. A locked account answers as a wrong password does, so that the answer tells nothing of
   * whether the password was right.
   */
  async authenticate(kind: AccountKind, name: string, password: string): Promise<Principal | undefined> {
    const record = accountOf(this.store, kind, name);
    const ok = await verifyPassword(password, record?.passwordHash ?? (await decoyHash()));
    if (!ok || !record?.passwordHash || !record.uid || record.locked) return undefined;
    if (outdated(record.passwordHash)) await this.rehash(kind, name, password, record.passwordHash);
    return { kind, name, uid: record.uid, version: record.tokenVersion };
  }

  /**
   * Stores the password again at the current cost, the same password: its tokens stay valid. Only
   * if the hash is still the one verified: a password changed meanwhile stays changed.
   */
  private async rehash(kind: AccountKind, name: string, password: string, verified: string): Promise<void> {
    try {
      const passwordHash = await hashPassword(password);
      const current = accountOf(this.store, kind, name);
      if (current?.passwordHash === verified) await this.write(kind, name, { ...current, passwordHash });
    } catch (err) {
      // The login stands: the next one tries again.
      console.error(`the password of ${kind} ${name} was not stored again at the current cost:`, err);
    }
  }

  /** The identity of an account and its token version, if it exists. */
  identity(kind: AccountKind, name: string): { uid: string; version: number } | undefined {
    const record = accountOf(this.store, kind, name);
    return record?.uid ? { uid: record.uid, version: record.tokenVersion } : undefined;
  }

  /** Why a verified token's principal may not act now (locked, password changed, gone), or undefined. */
  refusal(principal: Principal): string | undefined {
    const record = accountOf(this.store, principal.kind, principal.name);
    if (!record) return `${principal.kind} ${principal.name} has no account`;
    if (record.uid !== principal.uid)
      return `the token was issued to an earlier ${principal.kind} ${principal.name}, which was deleted; log in again`;
    if (record.locked) return `${principal.kind} ${principal.name} is locked`;
    if (record.tokenVersion !== principal.version)
      return "the token was issued before the password changed; log in again";
    return undefined;
  }

  list(kind: AccountKind): Array<{ name: string; locked: boolean; hasPassword: boolean; updated: string }> {
    return listAccounts(this.store, kind).map((a) => ({
      name: a.name,
      locked: a.locked ?? false,
      hasPassword: a.passwordHash !== undefined,
      updated: a.updated,
    }));
  }

  /** Sets a password and/or the lock; a new password revokes the account's earlier tokens. */
  async update(kind: AccountKind, name: string, change: { password?: string; locked?: boolean }): Promise<void> {
    const current = accountOf(this.store, kind, name);
    // A new account gets a new identity, whatever name an earlier one had.
    const next: Omit<AccountRecord, "updated"> = { ...(current ?? { uid: randomUUID(), tokenVersion: 0 }) };
    if (change.password !== undefined) {
      next.passwordHash = await hashPassword(change.password);
      next.tokenVersion += 1;
    }
    if (change.locked !== undefined) next.locked = change.locked;
    await this.save(kind, name, next);
  }

  private save(kind: AccountKind, name: string, record: Omit<AccountRecord, "updated">): Promise<void> {
    return this.write(kind, name, { ...record, updated: new Date().toISOString() });
  }

  /** Stores an account durably: a password change must survive a crash. */
  private async write(kind: AccountKind, name: string, record: AccountRecord): Promise<void> {
    const written = accountsOf(this.store, kind).set(name, { ...record });
    this.changes.emit("changed", { kind, name });
    await written;
  }

  private async remove(kind: AccountKind, name: string): Promise<void> {
    if (!accountOf(this.store, kind, name)) return;
    const written = accountsOf(this.store, kind).delete(name);
    this.changes.emit("changed", { kind, name });
    await written;
  }
}
