import { stringify } from "yaml";
import { replicasOf } from "../resources/replicas.js";
import type { App, Resource, StoredEvent } from "../resources/types.js";
import { formatAge } from "../util/duration.js";
import { renderTable } from "./output.js";

export interface DescribeExtras {
  readonly events: readonly StoredEvent[];
  /** Lines about the app's replicas: live containers, or the last observed instances. */
  readonly replicas: readonly string[];
  readonly source?: string;
  readonly suspended?: boolean;
}

/** `airloft describe`: spec, conditions, per-kind facts and events, the same locally and remotely. */
export function describeObject(obj: Resource, extras: DescribeExtras): string {
  const m = obj.metadata;
  const lines: string[] = [
    `Kind:         ${obj.kind}`,
    `Name:         ${m.name}`,
    ...(m.group ? [`Group:        ${m.group}`] : []),
    `UID:          ${m.uid ?? "-"}`,
    `Generation:   ${m.generation ?? "-"} (observed ${obj.status?.observedGeneration ?? "-"})`,
    `Created:      ${m.creationTimestamp ?? "-"} (${formatAge(m.creationTimestamp)} ago)`,
    ...(m.deletionTimestamp
      ? [`Deleting:     since ${m.deletionTimestamp}, held by ${(m.finalizers ?? []).join(", ") || "nothing"}`]
      : []),
    ...(extras.source ? [`Source:       ${extras.source}`] : []),
    ...(extras.suspended ? ["Suspended:    yes (airloft resume resumes it)"] : []),
    ...(m.labels
      ? [
          `Labels:       ${Object.entries(m.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(", ")}`,
        ]
      : []),
    "Spec:",
    indent(stringify(obj.spec).trimEnd(), 2),
    "Conditions:",
  ];
  const conditions = obj.status?.conditions ?? [];
  lines.push(
    conditions.length === 0
      ? "  (none yet)"
      : indent(
          renderTable(
            ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
            conditions.map((c) => [c.type, c.status, c.reason, formatAge(c.lastTransitionTime), c.message]),
          ).trimEnd(),
          2,
        ),
  );
  if (obj.kind === "App") {
    const s = obj.status ?? {};
    lines.push(
      `Replicas:     ${s.readyReplicas ?? 0} ready, ${s.updatedReplicas ?? 0} updated, ${replicasOf(obj)} desired`,
    );
    const auto = obj.spec.autoscale;
    if (auto)
      lines.push(
        `Autoscale:    min ${auto.min ?? 1}, max ${auto.max}; cpu ${s.autoscale?.currentCPUUtilization ?? "-"}% (target ${auto.targetCPUUtilization ?? "-"}%), ${s.autoscale?.currentRequestsPerSecond ?? "-"} req/s (target ${auto.targetRequestsPerSecond ?? "-"}); last scale ${s.autoscale?.lastScaleTime ?? "never"}`,
      );
    if (s.image) lines.push(`Image:        ${s.image}`);
    if (s.endpoints?.length) lines.push(`Endpoints:    ${s.endpoints.join(", ")}`);
    lines.push(...secretLines(obj));
    lines.push(...extras.replicas);
  }
  if (obj.kind === "Group" && obj.status) {
    lines.push(
      `Provider:     ${obj.status.provider ?? obj.spec.provider}${obj.status.engine ? ` at ${obj.status.engine}` : ""}`,
    );
    if (obj.status.network) lines.push(`Network:      ${obj.status.network.name} (${obj.status.network.id})`);
    const aws = obj.status.aws;
    if (aws) {
      lines.push(`Region:       ${aws.region}`);
      if (aws.vpcId) lines.push(`VPC:          ${aws.vpcId} (subnets ${(aws.subnetIds ?? []).join(", ") || "-"})`);
      const sg = aws.securityGroups ?? {};
      lines.push(
        `Security:     load balancer ${sg.loadBalancer ?? "-"}, instances ${sg.instances ?? "-"}, services ${sg.services ?? "-"}`,
      );
      if (aws.loadBalancer) lines.push(`LoadBalancer: ${aws.loadBalancer.dnsName}`);
      if (aws.hostedZoneId) lines.push(`HostedZone:   ${aws.hostedZoneId} (${obj.spec.aws?.domain ?? ""})`);
    }
  }
  lines.push("Events:");
  lines.push(
    extras.events.length === 0
      ? "  (none)"
      : indent(
          renderTable(
            ["AGE", "TYPE", "REASON", "MESSAGE"],
            extras.events.map((e) => [formatAge(e.time), e.type, e.reason, e.message]),
          ).trimEnd(),
          2,
        ),
  );
  return `${lines.join("\n")}\n`;
}

/** Replicas as the last reconcile saw them: containers on Docker, instances and target health on AWS. */
export function instanceTable(app: App, title: string): string[] {
  const instances = app.status?.instances ?? [];
  return [
    `${title}:`,
    instances.length === 0
      ? "  (none)"
      : indent(
          renderTable(
            ["REPLICA", "ID", "STATE", "READY", "HEALTH", "ENDPOINT", "CONFIG"],
            instances.map((r) => [
              String(r.replica),
              r.containerId,
              r.state,
              String(r.ready),
              r.health ?? "-",
              r.endpoint ?? "-",
              r.configHash,
            ]),
          ).trimEnd(),
          2,
        ),
  ];
}

export function indent(text: string, n: number): string {
  return text
    .split("\n")
    .map((l) => " ".repeat(n) + l)
    .join("\n");
}

/** Which variables and files come from secrets (by name and key, never value); plain env stays in the spec. */
function secretLines(app: App): string[] {
  const refs = [
    ...Object.entries(app.spec.env ?? {}).flatMap(([name, v]) =>
      typeof v === "string" ? [] : [`env ${name} <- secret ${v.secret} key ${v.key}`],
    ),
    ...(app.spec.envFrom ?? []).map((f) => `env ${f.prefix ?? ""}* <- every key of secret ${f.secret}`),
    ...(app.spec.files ?? []).map((f) => `file ${f.path} <- secret ${f.secret} key ${f.key} (read-only, in memory)`),
    ...(app.spec.imagePullSecret ? [`image pulls <- registry credentials of secret ${app.spec.imagePullSecret}`] : []),
  ];
  return refs.length === 0 ? [] : ["From secrets:", ...refs.map((r) => `  ${r}`)];
}
