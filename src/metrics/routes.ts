import { API_PREFIX, PLURAL } from "../resources/kinds.js";

/**
 * The route template of a request path, for metrics labels: the shapes the server answers, with
 * the caller's parts (group, name, account) replaced by placeholders. A path of no known shape is
 * "unmatched", so that no path a tenant invents can make a new series.
 */
export function routeTemplate(path: string): string {
  const fixed = FIXED.get(path);
  if (fixed) return fixed;
  const parts = path.split("/").filter((s) => s !== "");
  if (path.startsWith("/api/accounts/") && parts.length === 4 && ACCOUNT_KINDS.has(parts[2] ?? ""))
    return `/api/accounts/${parts[2]}/:name`;
  if (!path.startsWith(`${API_PREFIX}/`)) return "unmatched";
  const rest = parts.slice(API_PREFIX.split("/").filter((s) => s !== "").length);
  const pattern = PATTERNS.find((p) => p.length === rest.length && p.every((word, i) => fits(word, rest[i] ?? "")));
  if (!pattern) return "unmatched";
  return `${API_PREFIX}/${pattern.map((word, i) => (word.startsWith("{") ? (rest[i] ?? "") : word)).join("/")}`;
}

const OBJECT_KINDS = Object.values(PLURAL).filter((p) => p !== PLURAL.Group);
const VERBS = ["suspend", "resume", "reconcile", "control"];
/** "{a,b}" is one of the words, kept as it is; ":x" is any word, replaced by ":x". */
const PATTERNS: readonly (readonly string[])[] = [
  [`{apply,objects,diff,sources,${Object.values(PLURAL).join(",")}}`],
  ["groups", ":group"],
  ["groups", ":group", `{events,metrics,${VERBS.join(",")},${OBJECT_KINDS.join(",")}}`],
  ["groups", ":group", `{${OBJECT_KINDS.join(",")}}`, ":name"],
  ["groups", ":group", `{${OBJECT_KINDS.join(",")}}`, ":name", `{events,logs,${VERBS.join(",")}}`],
  ["sources", ":name", `{apply,${VERBS.join(",")}}`],
  ["secrets", "{rotate-key}"],
];
const ACCOUNT_KINDS = new Set(["admins", "groups"]);
const FIXED = new Map(
  ["/", "/healthz", "/metrics", "/app.js", "/style.css", "/favicon.svg", "/favicon.ico"]
    .concat(["/api/tokens", "/api/whoami", "/api/accounts"])
    .map((p) => [p, p]),
);

function fits(word: string, segment: string): boolean {
  if (word.startsWith(":")) return segment !== "";
  if (word.startsWith("{")) return word.slice(1, -1).split(",").includes(segment);
  return word === segment;
}

/** HTTP methods as labels: the ones the API knows, anything else as OTHER. */
export function methodLabel(method: string | undefined): string {
  return method && METHODS.has(method) ? method : "OTHER";
}

const METHODS = new Set(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]);
