import type { StateMap } from "../store/state-file.js";
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

/**
 * The accounts of one kind by name, as the state file's `accounts` section keeps them (admins,
 * and one per group, a tenant), entry by entry: written by Accounts alone.
 */
export function accountsOf(store: Store, kind: AccountKind): StateMap<AccountRecord> {
  // Both made at once, as the section always had both: an earlier version writing to it expects them.
  const admin = store.stateMap<AccountRecord>("accounts.admin");
  const group = store.stateMap<AccountRecord>("accounts.group");
  return kind === "admin" ? admin : group;
}

/** An account's record, if it exists. */
export function accountOf(store: Store, kind: AccountKind, name: string): AccountRecord | undefined {
  const record = accountsOf(store, kind).get(name);
  return record ? { ...record } : undefined;
}

export function listAccounts(store: Store, kind: AccountKind): Array<AccountRecord & { name: string }> {
  return accountsOf(store, kind)
    .entries()
    .map(([name, r]) => ({ name, ...r }));
}
