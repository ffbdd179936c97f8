import { isReadyAt } from "../resources/conditions.js";
import { objectKey } from "../resources/kinds.js";
import { bindingEnv, SERVICE_TEMPLATES } from "../resources/templates.js";
import type { App, Service } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { stableHash } from "../util/stable-hash.js";

export interface Bindings {
  /** The variables of every bound service that exists and is ready. */
  readonly env: Readonly<Record<string, string>>;
  /** A hash of each bound service's variables, by service name: a change is a new revision. */
  readonly hashes: Readonly<Record<string, string>>;
  readonly missing: readonly string[];
  readonly notReady: readonly string[];
}

/** Resolves an app's `spec.services` against the store: a service's host is the one its status reports, else its name. */
export function resolveBindings(store: Store, app: App): Bindings {
  const env: Record<string, string> = {};
  const hashes: Record<string, string> = {};
  const missing: string[] = [];
  const notReady: string[] = [];
  for (const binding of app.spec.services ?? []) {
    const found = store.get(objectKey("Service", app.metadata.group ?? "", binding.name));
    if (found?.kind !== "Service" || found.metadata.deletionTimestamp) {
      missing.push(binding.name);
      continue;
    }
    const service: Service = found;
    if (!isReadyAt(service)) notReady.push(binding.name);
    const password = store.secretsOf(service).password ?? "";
    const host = service.status?.host ?? service.metadata.name;
    const own = bindingEnv(SERVICE_TEMPLATES[service.spec.template], host, { password }, binding.prefix);
    Object.assign(env, own);
    hashes[binding.name] = stableHash(own);
  }
  return { env, hashes, missing, notReady };
}
