import { TerminalError } from "../errors.js";
import type { Group } from "../resources/types.js";
import { DockerProvider } from "./docker/provider.js";
import type { InfraProvider } from "./types.js";

/** Picks the provider a group's spec names. */
export class ProviderRegistry {
  private readonly docker: InfraProvider;

  /** `docker` replaces the engine provider, for tests of the controllers with a fake. */
  constructor(options: { instanceId: string; env?: NodeJS.ProcessEnv; docker?: InfraProvider }) {
    this.docker = options.docker ?? new DockerProvider(options);
  }

  for(group: Group): InfraProvider {
    switch (group.spec.provider) {
      case "docker":
        return this.docker;
      case "aws":
        throw new TerminalError("ProviderNotAvailable", `group ${group.metadata.name} asks for the aws provider, which this version of AirLoft does not include yet`);
      default: {
        const never: never = group.spec.provider;
        throw new TerminalError("InvalidConfig", `unknown provider ${String(never)}`);
      }
    }
  }
}
