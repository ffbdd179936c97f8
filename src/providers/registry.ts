import { TerminalError } from "../errors.js";
import type { Group } from "../resources/types.js";
import type { InfraProvider } from "./types.js";

type ProviderName = Group["spec"]["provider"];

export interface ProviderOptions {
  readonly instanceId: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * How each provider is made, loaded on first use: the AWS SDK's EC2 client alone costs about
 * 70 MiB and a noticeable start-up time, which a Docker-only installation (and every CLI call
 * that reaches no provider) should not pay.
 */
const FACTORIES: Readonly<Record<ProviderName, (options: ProviderOptions) => Promise<InfraProvider>>> = {
  docker: async (options) => new (await import("./docker/provider.js")).DockerProvider(options),
  aws: async (options) => new (await import("./aws/provider.js")).AwsProvider(options),
  swarm: async (options) => new (await import("./swarm/provider.js")).SwarmProvider(options),
};

/** Picks the provider a group's spec names, made once per registry. */
export class ProviderRegistry {
  private readonly made = new Map<ProviderName, Promise<InfraProvider>>();

  /** `docker`, `aws` and `swarm` replace a provider, for tests of the controllers with a fake. */
  constructor(private readonly options: ProviderOptions & { readonly [name in ProviderName]?: InfraProvider }) {
    for (const name of ["docker", "aws", "swarm"] as const) {
      const given = options[name];
      if (given) this.made.set(name, Promise.resolve(given));
    }
  }

  /** The providers made so far, without making one (metrics read them; a failed load is left out). */
  async loaded(): Promise<InfraProvider[]> {
    const settled = await Promise.allSettled(this.made.values());
    return settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  }

  for(group: Group): Promise<InfraProvider> {
    const name = group.spec.provider;
    const factory = FACTORIES[name] as (typeof FACTORIES)[ProviderName] | undefined;
    if (!factory) throw new TerminalError("InvalidConfig", `unknown provider ${String(name)}`);
    let provider = this.made.get(name);
    if (!provider) {
      provider = factory(this.options);
      this.made.set(name, provider);
      // A failed load is tried again by the next caller.
      provider.catch(() => this.made.delete(name));
    }
    return provider;
  }
}
