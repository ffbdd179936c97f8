import type { Store } from "../store/store.js";

/** The keys of the objects whose reconciliation is suspended: the state file's `suspended` section. */
type Suspended = Record<string, true>;

const section = (store: Store) => store.section<Suspended>("suspended");

export function isSuspended(store: Store, key: string): boolean {
  return section(store).read()?.[key] === true;
}

/** Suspends or resumes an object's reconciliation, durably. */
export async function setSuspended(store: Store, key: string, suspended: boolean): Promise<void> {
  const keys = section(store);
  const next = { ...keys.read() };
  if (suspended) next[key] = true;
  else delete next[key];
  await keys.write(next);
}
