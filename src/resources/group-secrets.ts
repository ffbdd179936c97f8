import type { Group } from "./types.js";

/** Registry credentials a group's settings name for its apps: a Secret of the group and two of its keys. */
export interface GroupPullCredentials {
  readonly secret: string;
  readonly usernameKey: string;
  readonly passwordKey: string;
  readonly registry: string;
}

/** The Secrets a group's provider settings name for its apps to read. */
export interface GroupSecretReferences {
  /** For apps that name no imagePullSecret of their own. */
  readonly pull?: GroupPullCredentials;
}

/** Each provider declares the secret references its group settings hold. */
const BY_PROVIDER: Readonly<Record<Group["spec"]["provider"], (group: Group) => GroupSecretReferences>> = {
  docker: () => ({}),
  aws: () => ({}),
  swarm: (group) => {
    const { registryAuth, registry } = group.spec.swarm ?? {};
    return registryAuth && registry ? { pull: { ...registryAuth, registry } } : {};
  },
};

export function groupSecretReferences(group: Group): GroupSecretReferences {
  return BY_PROVIDER[group.spec.provider]?.(group) ?? {};
}
