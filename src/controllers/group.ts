import { displayName, objectKey } from "../resources/kinds.js";
import type { Group, GroupStatus } from "../resources/types.js";
import type { FinalizeOutcome, Outcome } from "./reconciler.js";
import { collectOperations, Reconciler } from "./reconciler.js";
import { GROUPED_KINDS, type WatchDeclaration } from "./watches.js";

/** A deleting group waits for its objects to go: each one removed looks at it again. */
export const GROUP_WATCHES: WatchDeclaration = {
  kind: "Group",
  watches: [
    {
      kinds: GROUPED_KINDS,
      on: ["removed"],
      map: ({ metadata: { group } }) => (group ? [{ key: objectKey("Group", "", group) }] : []),
    },
  ],
};

/** Owns a group's shared infrastructure (a Docker network), and cleans what no object owns. */
export class GroupController extends Reconciler<"Group"> {
  readonly kind = "Group" as const;

  protected async reconcileObject(
    group: Group,
    report: (op: string) => void,
    signal: AbortSignal,
  ): Promise<Outcome<GroupStatus>> {
    const provider = await this.ctx.providers.for(group);
    const { operations, onOperation } = collectOperations(report);
    const facts = await provider.reconcileGroup(group, { onOperation, signal });
    // Level-triggered cleanup: anything labelled by this installation whose owner is gone. The
    // uids are read in place: copying the whole store per group reconcile cost more than the rest.
    const live = new Set(this.ctx.store.view().map((o) => o.metadata.uid ?? ""));
    await provider.collectGarbage(group, live, { onOperation, signal });
    return {
      status: facts,
      ready: true,
      reason: "Converged",
      message:
        `${provider.name} ${facts.network ? `network ${facts.network.name}` : ""}${facts.aws?.loadBalancer ? `load balancer ${facts.aws.loadBalancer.dnsName}` : ""} at ${provider.address(group)}`.replace(
          /\s+/g,
          " ",
        ),
      operations,
    };
  }

  /** A group is held while it owns objects; then its network goes. */
  protected async finalizeObject(
    group: Group,
    report: (op: string) => void,
    signal: AbortSignal,
  ): Promise<FinalizeOutcome> {
    // Read, not copied: during a cascade this runs once per batch of removed objects.
    const owned = this.ctx.store.view({ group: group.metadata.name });
    if (owned.length > 0) {
      const names = owned.slice(0, 5).map(displayName).join(", ");
      return {
        done: false,
        reason: "DeletionBlocked",
        message: `waiting until the group owns nothing: ${names}${owned.length > 5 ? ` and ${owned.length - 5} more` : ""}`,
        operations: [],
      };
    }
    const { operations, onOperation } = collectOperations(report);
    const done = await (await this.ctx.providers.for(group)).finalizeGroup(group, { onOperation, signal });
    return { done, operations };
  }
}
