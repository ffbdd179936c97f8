import { ProviderUnavailableError, TerminalError } from "../../errors.js";
import { SERVICE_TEMPLATES, type ServiceCredentials } from "../../resources/templates.js";
import type { App, Group, Service } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import { ownerLabels } from "../ownership.js";
import type { AwsContext } from "./context.js";
import type { LaunchTemplate } from "./instances.js";
import { digest, targetGroupName } from "./names.js";
import { observedNetwork } from "./network.js";
import { ROLE_TAG } from "./observe.js";
import type { OwnerKeys } from "./observe-owner.js";
import { type OwnerSecrets, ownerSecrets } from "./owner-secrets.js";
import type { DesiredGroupNetwork } from "./plan.js";
import type { DesiredOwner } from "./plan-routing.js";
import { aliasRecord, pathRoute, targetHealthCheck } from "./routing.js";
import { type InstanceProgram, PRIVATE_ADDRESS, renderUserData } from "./userdata.js";
import { DATA_ROLE, volumeSizeGiB } from "./volumes.js";

const DEFAULT_INSTANCE_TYPE = "t3.micro";

/** One app's or service's plan inputs: what it should be, and where its parts are looked for. */
export interface OwnerSetup {
  readonly keys: OwnerKeys;
  readonly desired: DesiredOwner;
  readonly launch: LaunchTemplate;
  /** What its instances read from SSM; synced before any launch (owner-secrets.ts). */
  readonly secrets: OwnerSecrets;
  /** What its instances run: a task instance runs a command in the same image (tasks.ts). */
  readonly program: InstanceProgram;
}

/** What a group's network should be: its own VPC of two public subnets, or one that exists. */
export async function desiredNetwork(ctx: AwsContext, group: Group): Promise<DesiredGroupNetwork> {
  const region = ctx.region(group);
  const vpc = group.spec.aws?.vpc;
  const zones = await ctx.zones.get(region);
  const certificateArn = group.spec.aws?.certificateArn;
  if (vpc?.create) {
    const prefix = Number(vpc.create.cidr.split("/")[1]);
    // Two subnets of 16ths of the VPC: a /23 gives /27s, AWS's smallest useful size for a load balancer.
    if (!(prefix >= 16 && prefix <= 23))
      throw new TerminalError(
        "InvalidVpcCidr",
        `group ${group.metadata.name}: spec.aws.vpc.create.cidr ${vpc.create.cidr} must be /16 to /23 (AWS allows no larger VPC; a smaller one leaves no room for the subnets)`,
      );
    if (zones.length < 2)
      throw new ProviderUnavailableError(
        "NoZones",
        `${region} has ${zones.length} availability zone(s) offering the instance type; the load balancer needs two`,
      );
    return { vpc: { mode: "create", cidr: vpc.create.cidr }, zones, certificateArn };
  }
  const foreign = await ctx.foreignVpcs.get(`${region}|${vpc?.id ?? "default"}`);
  return { vpc: { mode: "use", id: foreign.vpcId, subnetIds: foreign.subnetIds }, zones, certificateArn };
}

/** The host an app is served at: its own domain, else its name under the group's. */
export function hostOf(app: App, group: Group): string | undefined {
  // DNS names are case-insensitive; AWS answers in lower case, so the plan compares in lower case.
  if (app.spec.expose?.domain) return app.spec.expose.domain.toLowerCase();
  const domain = group.spec.aws?.domain?.toLowerCase();
  return domain ? `${app.metadata.name}.${domain}` : undefined;
}

/** An app behind the group's load balancer: target group, port, host rules, record and instances. */
export async function appSetup(
  ctx: AwsContext,
  app: App,
  group: Group,
  bindings: Readonly<Record<string, string>>,
  scaleUpLimit: number | undefined,
  resolved: ResolvedSecrets | undefined,
): Promise<OwnerSetup> {
  const uid = app.metadata.uid ?? "";
  const name = app.metadata.name;
  const { net, vpcId, subnetIds, zoneId } = await groupNetwork(ctx, group);
  if (app.spec.imagePullSecret)
    throw new TerminalError("InvalidConfig", "spec.imagePullSecret is not supported on AWS yet");
  // As on Docker: bound services, then envFrom, then the app's own env (plain or a secret key).
  const plain = Object.fromEntries(
    Object.entries(app.spec.env ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
  const fromSecrets = Object.entries(resolved?.env ?? {}).filter(([k]) => !(k in plain));
  const bound = Object.entries(bindings).filter(([k]) => !(k in plain) && !(k in (resolved?.env ?? {})));
  const own = resolved && { ...resolved, env: Object.fromEntries(fromSecrets) };
  const secrets = ownerSecrets(ctx, group, uid, own, Object.fromEntries(bound));
  const program: InstanceProgram = {
    label: `app ${group.metadata.name}/${name}`,
    runtime: app.spec.runtime ?? "docker",
    image: app.spec.image,
    source: app.spec.source,
    command: app.spec.command,
    env: plain,
    port: app.spec.port ?? 80,
    secrets: secrets.boot,
  };
  const port = program.port ?? 80;
  const instancesGroup = net.securityGroups.instances.id;
  const host = hostOf(app, group);
  // Without a domain the app still needs a rule, or its targets stay unused: a path on the load balancer.
  const route = host ?? pathRoute(net.lb, name);
  const owner = { kind: "App", group, name, uid };
  const launch = await launchTemplate(ctx, owner, program, app.spec, subnetIds, instancesGroup, secrets);
  const replicas = Math.min(app.spec.replicas ?? 1, scaleUpLimit ?? Number.POSITIVE_INFINITY);
  const tags = ownerLabels({ instance: ctx.instanceId, group: group.metadata.name, kind: "App", name, uid });
  const check = targetHealthCheck(app.spec.healthCheck);
  const strategy = app.spec.strategy?.type ?? "RollingUpdate";
  return {
    keys: { group, uid, registers: true, securityGroupId: instancesGroup, host, zoneId },
    launch,
    secrets,
    program,
    desired: {
      target: `app:${group.metadata.name}/${name}`,
      targetGroup: { name: targetGroupName(ctx.instanceId, uid), port, vpcId, check, tags },
      ingress: {
        securityGroupId: instancesGroup,
        port,
        fromGroupId: net.securityGroups.lb.id,
        what: `app port ${port} from the load balancer`,
      },
      host: route,
      record: host && zoneId ? aliasRecord(host, net.lb) : undefined,
      instances: { replicas, configHash: launch.configHash, strategy, registers: true },
    },
  };
}

/**
 * What a service's instance runs. Its address is known only on the instance: the template's host
 * (Kafka advertises it to clients) is a placeholder the user data fills with the private address.
 */
export function serviceProgram(service: Service, group: Group, creds: ServiceCredentials): InstanceProgram {
  const template = SERVICE_TEMPLATES[service.spec.template];
  return {
    label: `service ${group.metadata.name}/${service.metadata.name}`,
    runtime: "docker",
    image: service.spec.image ?? template.image(service.spec.version),
    source: undefined,
    command: template.command ? [...template.command] : undefined,
    env: template.env(creds, PRIVATE_ADDRESS),
    port: template.port,
    dataPath: template.dataPath,
  };
}

/** A service on one instance, reached from the group's instances only, replaced (never doubled) on change. */
export async function serviceSetup(
  ctx: AwsContext,
  service: Service,
  group: Group,
  creds: ServiceCredentials,
): Promise<OwnerSetup> {
  const template = SERVICE_TEMPLATES[service.spec.template];
  const uid = service.metadata.uid ?? "";
  const name = service.metadata.name;
  const { net, subnetIds } = await groupNetwork(ctx, group);
  const full = serviceProgram(service, group, creds);
  // The variables that hold its generated password are fetched at boot, the others stay plain.
  const holds = (v: string) => creds.password !== "" && v.includes(creds.password);
  const env = Object.entries(full.env);
  const secrets = ownerSecrets(ctx, group, uid, undefined, Object.fromEntries(env.filter(([, v]) => holds(v))));
  const plain = Object.fromEntries(env.filter(([, v]) => !holds(v)));
  const program: InstanceProgram = { ...full, env: plain, secrets: secrets.boot };
  const servicesGroup = net.securityGroups.services.id;
  const owner = { kind: "Service", group, name, uid };
  const launch = await launchTemplate(ctx, owner, program, {}, subnetIds, servicesGroup, secrets);
  const from = net.securityGroups.instances.id;
  const policy = service.spec.storage?.deletionPolicy ?? "Retain";
  const labels = ownerLabels({ instance: ctx.instanceId, group: group.metadata.name, kind: "Service", name, uid });
  const volume = {
    sizeGiB: volumeSizeGiB(service.spec.storage?.size),
    deletionPolicy: policy,
    tags: { ...labels, [ROLE_TAG]: DATA_ROLE, Name: `airloft-${group.metadata.name}-${name}-data` },
  };
  return {
    keys: {
      group,
      uid,
      registers: false,
      securityGroupId: servicesGroup,
      host: undefined,
      zoneId: undefined,
      volume: { name, policy },
    },
    launch,
    secrets,
    program,
    desired: {
      target: `service:${group.metadata.name}/${name}`,
      targetGroup: undefined,
      ingress: {
        securityGroupId: servicesGroup,
        port: template.port,
        fromGroupId: from,
        what: `${template.name} from the group's instances`,
      },
      host: undefined,
      record: undefined,
      instances: {
        replicas: 1,
        configHash: launch.configHash,
        strategy: "Recreate",
        registers: false,
        startStopped: true,
      },
      volume,
    },
  };
}

/** The group's network facts an app needs; an error the queue retries until the group has them. */
async function groupNetwork(ctx: AwsContext, group: Group) {
  const snapshot = await ctx.snapshots.get(ctx.region(group));
  const facts = group.status?.aws;
  const { lb, securityGroups } = observedNetwork(snapshot, group, ctx.instanceId);
  const { lb: lbGroup, instances, services } = securityGroups;
  const vpcId = facts?.vpcId;
  const subnetIds = facts?.subnetIds ?? [];
  if (!vpcId || subnetIds.length === 0 || !lb || !instances || !services || !lbGroup) {
    const message = `group ${group.metadata.name}'s network and load balancer are not ready yet`;
    throw new ProviderUnavailableError("WaitingForGroup", message);
  }
  const net = { lb, securityGroups: { lb: lbGroup, instances, services } };
  return { net, vpcId, subnetIds, zoneId: facts?.hostedZoneId };
}

async function launchTemplate(
  ctx: AwsContext,
  owner: { kind: string; group: Group; name: string; uid: string },
  program: InstanceProgram,
  spec: { ami?: string | undefined; instanceType?: string | undefined },
  subnetIds: string[],
  securityGroupId: string,
  secrets: OwnerSecrets,
): Promise<LaunchTemplate> {
  const imageId = spec.ami ?? owner.group.status?.aws?.ami ?? (await ctx.amis.get(ctx.region(owner.group)));
  const instanceType = spec.instanceType ?? DEFAULT_INSTANCE_TYPE;
  const userData = renderUserData(program);
  // The secrets' digest (hashes, never values) joins only when there are secrets: others keep their hash.
  const configHash = (
    secrets.digest ? digest(userData, imageId, instanceType, secrets.digest) : digest(userData, imageId, instanceType)
  ).slice(0, 12);
  const group = owner.group.metadata.name;
  const base = { instance: ctx.instanceId, group, kind: owner.kind, name: owner.name, uid: owner.uid, configHash };
  return {
    uid: owner.uid,
    configHash,
    imageId,
    instanceType,
    userData,
    subnetIds,
    securityGroupId,
    port: program.port,
    instanceProfile: secrets.profile,
    tags: (replica) => ({ ...ownerLabels({ ...base, replica }), Name: `airloft-${group}-${owner.name}-${replica}` }),
  };
}
