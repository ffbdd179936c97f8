import type { Group } from "../../resources/types.js";

/** The region a group runs in: its spec, else the SDK's standard variables, else us-east-1. */
export function awsRegion(group: Group | undefined, env: NodeJS.ProcessEnv): string {
  return group?.spec.aws?.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
}

/** Where AirLoft talks to for a group, for messages. */
export function awsAddress(group: Group, env: NodeJS.ProcessEnv): string {
  return `aws ${awsRegion(group, env)}${env.AWS_ENDPOINT_URL ? ` at ${env.AWS_ENDPOINT_URL}` : ""}`;
}
