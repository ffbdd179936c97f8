import type { Store } from "../store/store.js";

/** The keys of the objects whose reconciliation is suspended: the state file's `suspended` map (key -> true). */
const suspendedKeys = (store: Store) => store.stateMap<true>("suspended");

export function isSuspended(store: Store, key: string): boolean {
  return suspendedKeys(store).get(key) === true;
}

/** Suspends or resumes an object's reconciliation, durably. */
export async function setSuspended(store: Store, key: string, suspended: boolean): Promise<void> {
  const keys = suspendedKeys(store);
  await (suspended ? keys.set(key, true) : keys.delete(key));
}
