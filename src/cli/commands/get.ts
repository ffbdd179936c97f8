import { stringify } from "yaml";
import { errorMessage } from "../../errors.js";
import { ownedContainers } from "../containers.js";
import { LABEL } from "../../providers/ownership.js";
import { keyOf, objectKey, parseKind } from "../../resources/kinds.js";
import type { App, Resource } from "../../resources/types.js";
import type { Store } from "../../store/store.js";
import { formatAge } from "../../util/duration.js";
import { findObject, openStore, parseRef, UsageError, type GlobalOptions } from "../context.js";
import { parseFormat, renderObjects, renderTable } from "../output.js";

export interface GetOptions extends GlobalOptions {
  readonly group?: string;
  readonly output?: string;
  /** Adds generated credentials (a service's password) to yaml or json output. */
  readonly showSecrets?: boolean;
}

export async function getCommand(words: string[], options: GetOptions): Promise<number> {
  const format = parseFormat(options.output);
  const store = await openStore(options, { write: false, command: "airloft get" });
  let objects: Resource[];
  const [first] = words;
  if (first && (words.length > 1 || first.includes("/"))) {
    objects = [findObject(store, parseRef(words, options.group))];
  } else {
    const kind = first ? parseKind(first) : undefined;
    if (first && !kind) throw new UsageError(`unknown kind ${JSON.stringify(first)}: use group, app, service or quota`);
    objects = store.list({ ...(kind ? { kind } : {}), ...(options.group ? { group: options.group } : {}) });
  }
  if (objects.length === 0 && format !== "json" && format !== "yaml") {
    process.stderr.write("no objects found\n");
    return 0;
  }
  if (options.showSecrets) {
    if (format !== "json" && format !== "yaml") throw new UsageError("--show-secrets needs -o json or -o yaml");
    objects = objects.map((o) => ({ ...o, secrets: store.secretsOf(o) }));
  }
  process.stdout.write(renderObjects(objects, format, (o) => store.sourceOf(keyOf(o))));
  return 0;
}

export async function describeCommand(words: string[], options: GetOptions): Promise<number> {
  const store = await openStore(options, { write: false, command: "airloft describe" });
  const obj = findObject(store, parseRef(words, options.group));
  const m = obj.metadata;
  const lines: string[] = [
    `Kind:         ${obj.kind}`,
    `Name:         ${m.name}`,
    ...(m.group ? [`Group:        ${m.group}`] : []),
    `UID:          ${m.uid ?? "-"}`,
    `Generation:   ${m.generation ?? "-"} (observed ${obj.status?.observedGeneration ?? "-"})`,
    `Created:      ${m.creationTimestamp ?? "-"} (${formatAge(m.creationTimestamp)} ago)`,
    ...(m.deletionTimestamp ? [`Deleting:     since ${m.deletionTimestamp}, held by ${(m.finalizers ?? []).join(", ") || "nothing"}`] : []),
    ...(store.sourceOf(keyOf(obj)) ? [`Source:       ${store.sourceOf(keyOf(obj))}`] : []),
    ...(store.isSuspended(keyOf(obj)) ? ["Suspended:    yes (airloft resume resumes it)"] : []),
    ...(m.labels ? [`Labels:       ${Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(", ")}`] : []),
    "Spec:",
    indent(stringify(obj.spec).trimEnd(), 2),
    "Conditions:",
  ];
  const conditions = obj.status?.conditions ?? [];
  lines.push(conditions.length === 0 ? "  (none yet)" : indent(renderTable(["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
    conditions.map((c) => [c.type, c.status, c.reason, formatAge(c.lastTransitionTime), c.message])).trimEnd(), 2));
  if (obj.kind === "App") {
    const s = obj.status ?? {};
    lines.push(`Replicas:     ${s.readyReplicas ?? 0} ready, ${s.updatedReplicas ?? 0} updated, ${obj.spec.replicas ?? 1} desired`);
    if (s.image) lines.push(`Image:        ${s.image}`);
    if (s.endpoints?.length) lines.push(`Endpoints:    ${s.endpoints.join(", ")}`);
    const group = store.get(objectKey("Group", "", obj.metadata.group ?? ""));
    lines.push(...(group?.kind === "Group" && group.spec.provider === "aws" ? instanceTable(obj, "Instances (last observed)") : await liveContainers(store, obj)));
  }
  if (obj.kind === "Group" && obj.status) {
    lines.push(`Provider:     ${obj.status.provider ?? obj.spec.provider}${obj.status.engine ? ` at ${obj.status.engine}` : ""}`);
    if (obj.status.network) lines.push(`Network:      ${obj.status.network.name} (${obj.status.network.id})`);
    const aws = obj.status.aws;
    if (aws) {
      lines.push(`Region:       ${aws.region}`);
      if (aws.vpcId) lines.push(`VPC:          ${aws.vpcId} (subnets ${(aws.subnetIds ?? []).join(", ") || "-"})`);
      const sg = aws.securityGroups ?? {};
      lines.push(`Security:     load balancer ${sg.loadBalancer ?? "-"}, instances ${sg.instances ?? "-"}, services ${sg.services ?? "-"}`);
      if (aws.loadBalancer) lines.push(`LoadBalancer: ${aws.loadBalancer.dnsName}`);
      if (aws.hostedZoneId) lines.push(`HostedZone:   ${aws.hostedZoneId} (${obj.spec.aws?.domain ?? ""})`);
    }
  }
  lines.push("Events:");
  const events = store.eventsOf(obj);
  lines.push(events.length === 0 ? "  (none)" : indent(renderTable(["AGE", "TYPE", "REASON", "MESSAGE"],
    events.map((e) => [formatAge(e.time), e.type, e.reason, e.message])).trimEnd(), 2));
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

/** The app's containers as the engine has them now; the last observed status if it cannot be reached. */
async function liveContainers(store: Store, app: App): Promise<string[]> {
  try {
    const { address, containers } = await ownedContainers(store, app);
    const rows = containers.map((c) => [c.Labels[LABEL.replica] ?? "?", c.Id.slice(0, 12), (c.Names[0] ?? "").replace(/^\//, ""), c.Status, c.Ports.filter((p) => p.PublicPort).map((p) => `${p.IP}:${p.PublicPort}->${p.PrivatePort}`).join(",") || "-", c.Labels[LABEL.configHash] ?? "-"]);
    return [`Containers (on ${address} now):`, rows.length === 0 ? "  (none)" : indent(renderTable(["REPLICA", "CONTAINER", "NAME", "STATUS", "PORTS", "CONFIG"], rows).trimEnd(), 2)];
  } catch (err) {
    return instanceTable(app, `Containers (last observed; ${errorMessage(err)})`);
  }
}

/** Replicas as the last reconcile saw them: containers on Docker, instances and target health on AWS. */
function instanceTable(app: App, title: string): string[] {
  const instances = app.status?.instances ?? [];
  return [
    `${title}:`,
    instances.length === 0 ? "  (none)" : indent(renderTable(["REPLICA", "ID", "STATE", "READY", "HEALTH", "ENDPOINT", "CONFIG"],
      instances.map((r) => [String(r.replica), r.containerId, r.state, String(r.ready), r.health ?? "-", r.endpoint ?? "-", r.configHash])).trimEnd(), 2),
  ];
}

function indent(text: string, n: number): string {
  return text.split("\n").map((l) => " ".repeat(n) + l).join("\n");
}
