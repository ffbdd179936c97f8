import type { StateSection } from "../store/state-file.js";
import type { Store } from "../store/store.js";

export type AccountKind = "admin" | "group";

export interface AccountRecord {
  /** The account's identity: made with it, never reused by another account of the same name. */
  uid?: string;
  /** A slow salted hash (see src/server/passwords.ts); never the password. */
  passwordHash?: string;
  locked?: boolean;
  /** Bumped when the password changes: tokens issued before are refused. */
  tokenVersion: number;
  updated: string;
}

/** The accounts as the state file's `accounts` section keeps them: admins, and one per group (tenant). */
export type AccountBook = Record<AccountKind, Record<string, AccountRecord>>;

/** The state file's `accounts` section: written by Accounts alone. */
export function accountsSection(store: Store): StateSection<AccountBook> {
  return store.section<AccountBook>("accounts");
}

/** An account's record, if it exists. */
export function accountOf(store: Store, kind: AccountKind, name: string): AccountRecord | undefined {
  const accounts = accountsSection(store).read()?.[kind];
  // Own properties only: a group named "constructor" is a name, not Object's constructor.
  const record = accounts && Object.hasOwn(accounts, name) ? accounts[name] : undefined;
  return record ? { ...record } : undefined;
}

export function listAccounts(store: Store, kind: AccountKind): Array<AccountRecord & { name: string }> {
  return Object.entries(accountsSection(store).read()?.[kind] ?? {}).map(([name, r]) => ({ name, ...r }));
}
