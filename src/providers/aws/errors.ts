import { ProviderUnavailableError, TerminalError } from "../../errors.js";

export type AwsErrorClass =
  | "throttled"
  | "permission"
  | "invalid"
  | "capacity"
  | "expired"
  | "limit"
  | "unsupported"
  | "transient"
  | "not-found"
  | "conflict"
  | "other";

const THROTTLING = new Set([
  "Throttling",
  "ThrottlingException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "ThrottledException",
  "PriorRequestNotComplete",
  "SlowDown",
  "RequestThrottled",
  "RequestThrottledException",
]);
const PERMISSION = new Set([
  "UnauthorizedOperation",
  "AccessDenied",
  "AccessDeniedException",
  "AuthFailure",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "OptInRequired",
  "UnrecognizedClientException",
]);
/** Temporary credentials that ran out: the credential chain renews them, so the call is retried. */
const EXPIRED = new Set(["ExpiredToken", "ExpiredTokenException", "RequestExpired"]);
/** Account limits: retried slowly, since a limit can be raised or another object removed. */
const LIMIT = new Set([
  // ELBv2's codes, and the names the SDK gives them.
  "TooManyRules",
  "TooManyRulesException",
  "TooManyTargetGroups",
  "TooManyTargetGroupsException",
  "TooManyLoadBalancers",
  "TooManyLoadBalancersException",
  "TooManyTargets",
  "TooManyTargetsException",
  "VcpuLimitExceeded",
  "InstanceLimitExceeded",
  "RulesPerSecurityGroupLimitExceeded",
  "SecurityGroupLimitExceeded",
  "TooManyHostedZones",
]);
/** What this account, region or zone does not offer (an instance type in a zone, for one). */
const UNSUPPORTED = new Set(["Unsupported", "UnsupportedOperation", "InvalidInstanceType"]);
const INVALID = new Set([
  "InvalidParameterValue",
  "InvalidParameterCombination",
  "InvalidParameter",
  "MissingParameter",
  "ValidationError",
  "ValidationException",
  "InvalidInput",
  "InvalidDomainName",
  "InvalidConfigurationRequest",
  "InvalidAMIID.Malformed",
  "InvalidAMIID.NotFound",
  "CertificateNotFound",
  "InvalidChangeBatch",
]);
const CAPACITY = new Set([
  "InsufficientInstanceCapacity",
  "InsufficientCapacity",
  "InsufficientAddressCapacity",
  "InsufficientHostCapacity",
  "Unavailable",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "InternalError",
  "InternalFailure",
  "InternalServiceError",
  "RequestTimeout",
  "RequestTimeoutException",
]);
const CONFLICT = new Set([
  "DependencyViolation",
  "ResourceInUse",
  "ResourceInUseException",
  "IncorrectState",
  "IncorrectInstanceState",
  "PriorityInUse",
  "InvalidGroup.Duplicate",
  "DuplicateTargetGroupName",
  "DuplicateLoadBalancerName",
  "InvalidPermission.Duplicate",
  "HostedZoneNotEmpty",
  "ConflictingDomainExists",
]);
const NETWORK = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "TimeoutError"]);

interface SdkErrorLike {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function errorCode(err: unknown): string {
  const e = (err ?? {}) as SdkErrorLike;
  return e.Code ?? e.name ?? e.code ?? "Error";
}

/** Which kind of failure an AWS call met, from its error code and HTTP status. */
export function classifyAwsError(err: unknown): AwsErrorClass {
  const code = errorCode(err);
  const status = (err as SdkErrorLike | undefined)?.$metadata?.httpStatusCode;
  if (THROTTLING.has(code)) return "throttled";
  if (EXPIRED.has(code)) return "expired";
  if (LIMIT.has(code)) return "limit";
  if (UNSUPPORTED.has(code)) return "unsupported";
  if (PERMISSION.has(code) || status === 401 || status === 403) return "permission";
  if (CONFLICT.has(code)) return "conflict";
  if (INVALID.has(code)) return "invalid";
  if (CAPACITY.has(code) || (status !== undefined && status >= 500)) return "capacity";
  if (code.endsWith(".NotFound") || code.endsWith("NotFound") || code === "NoSuchHostedZone") return "not-found";
  const sysCode = (err as { code?: string } | undefined)?.code;
  if (NETWORK.has(code) || (sysCode !== undefined && NETWORK.has(sysCode))) return "transient";
  return "other";
}

/**
 * The error a controller sees once the SDK's own retries are spent: terminal for permission and
 * validation errors (Stalled, no retry storm), unavailable for throttling, capacity and network
 * errors (the queue backs off), the original error otherwise.
 */
export function controllerError(err: unknown, call: string): unknown {
  const code = errorCode(err);
  const message = (err as SdkErrorLike | undefined)?.message ?? String(err);
  switch (classifyAwsError(err)) {
    case "permission":
      return new TerminalError(
        "PermissionDenied",
        `${call} was refused (${code}): ${message}; grant ${iamAction(call)} to the credentials AirLoft uses`,
        { cause: err },
      );
    case "expired":
      return new ProviderUnavailableError(
        "CredentialsExpired",
        `${call}: the temporary credentials expired (${code}); retrying once they are renewed`,
        { cause: err },
      );
    case "limit":
      return new ProviderUnavailableError(
        "LimitExceeded",
        `${call} hit an account limit (${code}): ${message}; raise the quota or remove objects, retrying with backoff`,
        { cause: err },
      );
    case "unsupported":
      return new TerminalError(
        "Unsupported",
        `${call} asked for what the region or zone does not offer (${code}): ${message}`,
        { cause: err },
      );
    case "invalid":
      return new TerminalError("InvalidParameter", `${call} rejected its parameters (${code}): ${message}`, {
        cause: err,
      });
    case "throttled":
      return new ProviderUnavailableError("Throttled", `${call} is throttled by AWS (${code}); retrying with backoff`, {
        cause: err,
      });
    case "capacity":
      return new ProviderUnavailableError(
        code === "InsufficientInstanceCapacity" ? "InsufficientCapacity" : "ProviderUnavailable",
        `${call} failed on the AWS side (${code}): ${message}; retrying with backoff`,
        { cause: err },
      );
    case "transient":
      return new ProviderUnavailableError(
        "EndpointUnreachable",
        `${call} could not reach the AWS endpoint (${code}): ${message}`,
        { cause: err },
      );
    default:
      if (err instanceof Error) {
        err.message = `${call}: ${err.message}`;
        return err;
      }
      return new Error(`${call}: ${String(err)}`);
  }
}

/** The IAM action of a call named "family:Operation": ELBv2's actions are elasticloadbalancing:. */
export function iamAction(call: string): string {
  return call.replace(/^elbv2:/, "elasticloadbalancing:");
}
