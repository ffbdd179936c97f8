import { TerminalError } from "../errors.js";
import type { Group } from "../resources/types.js";
import { LazyAwsProvider } from "./aws/lazy.js";
import { DockerProvider } from "./docker/provider.js";
import type { InfraProvider } from "./types.js";

/** Picks the provider a group's spec names. */
export class ProviderRegistry {
  private readonly docker: InfraProvider;
  private readonly aws: InfraProvider;

  /** `docker` and `aws` replace a provider, for tests of the controllers with a fake. */
  constructor(options: { instanceId: string; env?: NodeJS.ProcessEnv; docker?: InfraProvider; aws?: InfraProvider }) {
    this.docker = options.docker ?? new DockerProvider(options);
    // Lazy: the AWS SDK loads only when an aws group is reconciled.
    this.aws = options.aws ?? new LazyAwsProvider(options);
  }

  for(group: Group): InfraProvider {
    switch (group.spec.provider) {
      case "docker":
        return this.docker;
      case "aws":
        return this.aws;
      default: {
        const never: never = group.spec.provider;
        throw new TerminalError("InvalidConfig", `unknown provider ${String(never)}`);
      }
    }
  }
}
