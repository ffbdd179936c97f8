import type { ServiceCredentials } from "../../resources/templates.js";
import type { App, Group, GroupStatus, Service } from "../../resources/types.js";
import type { AppOutcome, AppReconcileOptions, InfraProvider, ReconcileOptions, ServiceOutcome } from "../types.js";
import type { AwsProvider, AwsProviderOptions } from "./provider.js";
import { awsAddress } from "./settings.js";

/**
 * The AWS provider, loaded on first use: the SDK's EC2 client alone costs about 70 MiB and a
 * noticeable start-up time, which a Docker-only installation (and every CLI call) should not pay.
 */
export class LazyAwsProvider implements InfraProvider {
  readonly name = "aws" as const;
  private loaded: Promise<AwsProvider> | undefined;

  constructor(private readonly options: AwsProviderOptions) {}

  load(): Promise<AwsProvider> {
    this.loaded ??= import("./provider.js").then((m) => new m.AwsProvider(this.options));
    return this.loaded;
  }

  address(group: Group): string {
    return awsAddress(group, this.options.env ?? process.env);
  }

  async reconcileGroup(group: Group, options?: ReconcileOptions): Promise<Partial<GroupStatus>> {
    return (await this.load()).reconcileGroup(group, options);
  }

  async finalizeGroup(group: Group, options?: ReconcileOptions): Promise<boolean> {
    return (await this.load()).finalizeGroup(group, options);
  }

  async reconcileApp(app: App, group: Group, options?: AppReconcileOptions): Promise<AppOutcome> {
    return (await this.load()).reconcileApp(app, group, options);
  }

  async planApp(app: App, group: Group, bindings?: Readonly<Record<string, string>>): Promise<readonly string[]> {
    return (await this.load()).planApp(app, group, bindings);
  }

  async finalizeApp(app: App, group: Group, options?: ReconcileOptions): Promise<boolean> {
    return (await this.load()).finalizeApp(app, group, options);
  }

  async reconcileService(service: Service, group: Group, creds: ServiceCredentials, options?: ReconcileOptions): Promise<ServiceOutcome> {
    return (await this.load()).reconcileService(service, group, creds, options);
  }

  async finalizeService(service: Service, group: Group, options?: ReconcileOptions): Promise<boolean> {
    return (await this.load()).finalizeService(service, group, options);
  }

  async collectGarbage(group: Group, liveUids: ReadonlySet<string>, options?: ReconcileOptions): Promise<readonly string[]> {
    return (await this.load()).collectGarbage(group, liveUids, options);
  }
}
