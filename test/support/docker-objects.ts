import type { ObservedContainer } from "../../src/providers/docker/observe.js";
import type { App, Group } from "../../src/resources/types.js";

/** Plain data for the Docker planner's tests: group acme, app web, and its containers. */
export const testGroup: Group = {
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name: "acme", uid: "g-1" },
  spec: { provider: "docker" },
};

export function testApp(spec: Partial<App["spec"]> = {}): App {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "web", group: "acme", uid: "u-1", generation: 1 },
    spec: { image: "busybox:1", port: 8080, replicas: 2, ...spec },
  };
}

export function observedContainer(
  replica: number,
  hash: string,
  over: Partial<ObservedContainer> = {},
): ObservedContainer {
  return {
    id: `c-${replica}-${hash}`,
    name: `airloft-acme-web-${replica}-${hash}`,
    state: "running",
    health: undefined,
    imageId: "sha256:aaa",
    ports: [],
    networks: {},
    owner: { instance: "inst", group: "acme", kind: "App", name: "web", uid: "u-1", configHash: hash, replica },
    ...over,
  };
}
