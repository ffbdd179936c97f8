import { createProgress } from "../../src/controllers/context.js";
import { createLogger } from "../../src/log.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { Store } from "../../src/store/store.js";
import { FakeProvider } from "../../support/fake-provider.js";

/** The controllers' context on a store, with a fake Docker provider and quiet logs. */
export function fakeContext(store: Store) {
  const provider = new FakeProvider();
  const ctx = {
    store,
    providers: new ProviderRegistry({ instanceId: "i", docker: provider }),
    log: createLogger({ level: "error" }),
    progress: createProgress(),
  };
  return { provider, ctx };
}
