import { TerminalError } from "../errors.js";
import type { Group } from "../resources/types.js";
import { LazyAwsProvider } from "./aws/lazy.js";
import { DockerProvider } from "./docker/provider.js";
import type { InfraProvider } from "./types.js";

/** Picks the provider a group's spec names. */
export class ProviderRegistry {
  private readonly docker: InfraProvider;
  private aws: InfraProvider | undefined;
  private readonly makeAws: () => InfraProvider;

  /** `docker` and `aws` replace a provider, for tests of the controllers with a fake. */
  constructor(options: { instanceId: string; env?: NodeJS.ProcessEnv; docker?: InfraProvider; aws?: InfraProvider }) {
    this.docker = options.docker ?? new DockerProvider(options);
    this.aws = options.aws;
    this.makeAws = () => new LazyAwsProvider(options);
  }

  for(group: Group): InfraProvider {
    switch (group.spec.provider) {
      case "docker":
        return this.docker;
      case "aws":
        return (this.aws ??= this.makeAws());
      default: {
        const never: never = group.spec.provider;
        throw new TerminalError("InvalidConfig", `unknown provider ${String(never)}`);
      }
    }
  }
}
