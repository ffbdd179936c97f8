import { API_VERSION, type Kind, type Resource } from "./types.js";

export const KINDS: readonly Kind[] = ["Group", "Quota", "Secret", "Service", "App", "Alert"];

/** Apply order: owners before what they own. */
export const KIND_ORDER: Readonly<Record<Kind, number>> = {
  Group: 0,
  Quota: 1,
  Secret: 2,
  Service: 3,
  App: 4,
  Alert: 5,
};

const ALIASES: Readonly<Record<string, Kind>> = {
  group: "Group",
  groups: "Group",
  grp: "Group",
  app: "App",
  apps: "App",
  service: "Service",
  services: "Service",
  svc: "Service",
  quota: "Quota",
  quotas: "Quota",
  secret: "Secret",
  secrets: "Secret",
  alert: "Alert",
  alerts: "Alert",
};

export function isKind(value: unknown): value is Kind {
  return typeof value === "string" && (KINDS as readonly string[]).includes(value);
}

/** "apps", "App", "app" -> "App"; undefined when it names no kind. */
export function parseKind(word: string): Kind | undefined {
  return isKind(word) ? word : ALIASES[word.toLowerCase()];
}

/** The object's key, as the queue and the store use it: "App/acme/web", "Group//acme". */
export function keyOf(obj: Pick<Resource, "kind" | "metadata">): string {
  return objectKey(obj.kind, obj.metadata.group ?? "", obj.metadata.name);
}

export function objectKey(kind: Kind, group: string, name: string): string {
  return `${kind}/${group}/${name}`;
}

export interface ObjectRef {
  readonly kind: Kind;
  readonly group: string;
  readonly name: string;
}

export function parseKey(key: string): ObjectRef {
  const [kind, group = "", name = ""] = key.split("/");
  if (!isKind(kind)) throw new Error(`not an object key: ${key}`);
  return { kind, group, name };
}

/** "app/acme/web" as the CLI prints it; a Group has no group part. */
export function displayName(obj: Pick<Resource, "kind" | "metadata">): string {
  const kind = obj.kind.toLowerCase();
  return obj.metadata.group ? `${kind}/${obj.metadata.group}/${obj.metadata.name}` : `${kind}/${obj.metadata.name}`;
}

/** Where the HTTP API serves resources: /apis/airloft.dev/v1alpha1/... */
export const API_PREFIX = `/apis/${API_VERSION}`;

/** A kind's name in API paths. */
export const PLURAL: Readonly<Record<Kind, string>> = {
  Group: "groups",
  Quota: "quotas",
  Service: "services",
  App: "apps",
  Secret: "secrets",
  Alert: "alerts",
};

/** "apps" -> "App": API paths name kinds by their plural only. */
export function kindOfPlural(word: string): Kind | undefined {
  return KINDS.find((k) => PLURAL[k] === word);
}

/** The API path of one object: .../groups/acme, .../groups/acme/apps/web. */
export function apiPath(obj: Pick<Resource, "kind" | "metadata">): string {
  const name = encodeURIComponent(obj.metadata.name);
  if (obj.kind === "Group") return `${API_PREFIX}/groups/${name}`;
  return `${API_PREFIX}/groups/${encodeURIComponent(obj.metadata.group ?? "")}/${PLURAL[obj.kind]}/${name}`;
}
