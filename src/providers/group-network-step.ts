import type { Group, GroupStatus } from "../resources/types.js";
import { type ConvergeSteps, converge, type Plan, planOnce } from "./converge.js";
import { desiredGroupNetwork, groupNetworkStatus } from "./docker/group-network.js";
import type { ObservedNetwork } from "./docker/observe.js";
import { type DesiredNetwork, type Operation, planNetwork } from "./docker/plan.js";
import type { ReconcileOptions } from "./types.js";

/** How a provider on Docker engines (docker, swarm) gives each group its own network. */
export interface GroupNetworkOptions<S extends { readonly networks: readonly ObservedNetwork[] }, O> {
  readonly provider: "docker" | "swarm";
  readonly instanceId: string;
  /** The engine (or Swarm manager) a group's objects run on. */
  readonly address: (group: Group) => string;
  /** The group's network there: its name, subnet and driver. */
  readonly network: (group: Group) => { name: string; subnet: string | undefined; driver?: "overlay" };
  /** The provider's own operations among those the network plan makes. */
  readonly operations: (planned: Operation[]) => O[];
  /** The provider's steps on the engine, with a plan. */
  readonly steps: (address: string, plan: (s: S) => Plan<O>) => ConvergeSteps<S, O, Plan<O>>;
}

/** A group's network on its engine, made and kept: the group step of the docker and swarm providers. */
export class GroupNetworkStep<S extends { readonly networks: readonly ObservedNetwork[] }, O> {
  constructor(private readonly options: GroupNetworkOptions<S, O>) {}

  async reconcile(group: Group, options: ReconcileOptions = {}): Promise<Partial<GroupStatus>> {
    const address = this.options.address(group);
    const desired = this.desired(group);
    const { observed } = await converge(this.steps(address, desired), options);
    return groupNetworkStatus(this.options.provider, address, desired, observed.networks);
  }

  /** What reconcile would do now, described. */
  plan(group: Group): Promise<readonly string[]> {
    return planOnce(this.steps(this.options.address(group), this.desired(group)));
  }

  private desired(group: Group): DesiredNetwork {
    return desiredGroupNetwork(this.options.instanceId, group, this.options.network(group));
  }

  private steps(address: string, desired: DesiredNetwork): ConvergeSteps<S, O, Plan<O>> {
    return this.options.steps(address, (s) => ({
      operations: this.options.operations(planNetwork(desired, s.networks)),
    }));
  }
}

/**
 * The group methods of a provider on Docker engines (docker, swarm), through its group network
 * step: a subclass sets `groups` in its constructor and says where a group's engine is.
 */
export abstract class EngineGroups<S extends { readonly networks: readonly ObservedNetwork[] }, O> {
  protected abstract readonly groups: GroupNetworkStep<S, O>;

  /** The engine (or Swarm manager) a group's objects run on. */
  abstract address(group: Group): string;

  reconcileGroup(group: Group, options: ReconcileOptions = {}): Promise<Partial<GroupStatus>> {
    return this.groups.reconcile(group, options);
  }

  planGroup(group: Group): Promise<readonly string[]> {
    return this.groups.plan(group);
  }
}
