import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { IAMClient } from "@aws-sdk/client-iam";
import { Route53Client } from "@aws-sdk/client-route-53";
import { SSMClient } from "@aws-sdk/client-ssm";
import { classifyAwsError, controllerError } from "./errors.js";
import { RateLimiter } from "./rate-limit.js";

export type ApiFamily = "ec2" | "elbv2" | "route53" | "ssm" | "iam" | "cloudwatch";

/**
 * Client-side limits per family, below AWS's documented refill rates (EC2 non-mutating actions
 * refill 20/s, ELBv2 describe calls about 10/s, Route 53 allows 5 requests/s per account).
 */
export const DEFAULT_RATES: Readonly<Record<ApiFamily, { perSecond: number; burst: number }>> = {
  ec2: { perSecond: 15, burst: 30 },
  elbv2: { perSecond: 8, burst: 16 },
  route53: { perSecond: 4, burst: 5 },
  // GetParameter allows 40/s; AirLoft reads one public parameter per region every few minutes.
  ssm: { perSecond: 10, burst: 10 },
  // IAM's write limits are low and account-wide; AirLoft makes one role per group that has secrets.
  iam: { perSecond: 5, burst: 5 },
  // GetMetricData allows 50/s; the autoscaler makes one call per group and stats pass.
  cloudwatch: { perSecond: 10, burst: 10 },
};

/**
 * Counts every HTTP request sent, retries included, by "family:Operation"; and, for metrics, each
 * call's outcome after the SDK's retries ("family:Operation" to "ok" or the error's class) and
 * the attempts AWS throttled.
 */
export class CallCounter {
  readonly counts = new Map<string, number>();
  readonly outcomes = new Map<string, Map<string, number>>();
  readonly throttles = new Map<string, number>();

  add(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  outcome(name: string, result: string): void {
    let byResult = this.outcomes.get(name);
    if (!byResult) this.outcomes.set(name, (byResult = new Map()));
    byResult.set(result, (byResult.get(result) ?? 0) + 1);
  }

  throttled(name: string): void {
    this.throttles.set(name, (this.throttles.get(name) ?? 0) + 1);
  }

  get total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort());
  }

  reset(): void {
    this.counts.clear();
  }
}

export interface AwsClients {
  readonly region: string;
  readonly ec2: EC2Client;
  readonly elb: ElasticLoadBalancingV2Client;
  readonly route53: Route53Client;
  /** Public parameters (the AMI), and the parameters of secrets. */
  readonly ssm: SSMClient;
  /** The instance roles of groups whose instances read secrets (IAM is global; its endpoint is us-east-1's). */
  readonly iam: IAMClient;
  /** The instances' and target groups' metrics, for autoscaling. */
  readonly cloudwatch: CloudWatchClient;
}

export interface AwsClientOptions {
  readonly region: string;
  readonly env: NodeJS.ProcessEnv;
  readonly counter: CallCounter;
  readonly limiters: Readonly<Record<ApiFamily, RateLimiter>>;
  readonly maxAttempts?: number;
  /** How long one attempt may take, connection included; else $AIRLOFT_AWS_TIMEOUT_SECONDS, else 20 s. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_SECONDS = 20;
/** A TCP connection to a regional endpoint that takes longer than this is not coming. */
const MAX_CONNECT_MS = 5_000;

/** One attempt's time limit in ms, from $AIRLOFT_AWS_TIMEOUT_SECONDS. */
export function awsTimeoutMs(env: NodeJS.ProcessEnv): number {
  const text = env.AIRLOFT_AWS_TIMEOUT_SECONDS;
  if (!text) return DEFAULT_TIMEOUT_SECONDS * 1000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600)
    throw new Error(`AIRLOFT_AWS_TIMEOUT_SECONDS must be above 0 and at most 3600 seconds, not ${text}`);
  return Math.round(seconds * 1000);
}

export function createLimiters(rates = DEFAULT_RATES): Record<ApiFamily, RateLimiter> {
  return {
    ec2: new RateLimiter(rates.ec2.perSecond, rates.ec2.burst),
    elbv2: new RateLimiter(rates.elbv2.perSecond, rates.elbv2.burst),
    route53: new RateLimiter(rates.route53.perSecond, rates.route53.burst),
    ssm: new RateLimiter(rates.ssm.perSecond, rates.ssm.burst),
    iam: new RateLimiter(rates.iam.perSecond, rates.iam.burst),
    cloudwatch: new RateLimiter(rates.cloudwatch.perSecond, rates.cloudwatch.burst),
  };
}

interface MiddlewareStackLike {
  add(middleware: unknown, options: Record<string, unknown>): void;
  addRelativeTo(middleware: unknown, options: Record<string, unknown>): void;
}

type Handler = (args: unknown) => Promise<unknown>;
type Context = { commandName?: string };

/**
 * Wires AirLoft's policy into a client: every attempt (inside the SDK's retry loop, which backs
 * off with jitter on throttling) waits for the family's token bucket and is counted; an error
 * that survives the retries is classified for the controllers once, here.
 */
function instrument(stack: MiddlewareStackLike, family: ApiFamily, options: AwsClientOptions): void {
  const callName = (context: Context) => `${family}:${(context.commandName ?? "Unknown").replace(/Command$/, "")}`;
  stack.addRelativeTo(
    (next: Handler, context: Context) => async (args: unknown) => {
      await options.limiters[family].take();
      options.counter.add(callName(context));
      try {
        return await next(args);
      } catch (err) {
        if (classifyAwsError(err) === "throttled") options.counter.throttled(callName(context));
        throw err;
      }
    },
    { name: "airloftRateLimit", relation: "after", toMiddleware: "retryMiddleware", override: true },
  );
  stack.add(
    (next: Handler, context: Context) => async (args: unknown) => {
      try {
        const result = await next(args);
        options.counter.outcome(callName(context), "ok");
        return result;
      } catch (err) {
        options.counter.outcome(callName(context), classifyAwsError(err));
        throw controllerError(err, callName(context));
      }
    },
    { step: "initialize", name: "airloftErrors", priority: "high", override: true },
  );
}

/**
 * Clients for one region. Endpoint and credentials follow the SDK's standard settings
 * (AWS_ENDPOINT_URL, the credential chain); the env given here wins so tests can aim at moto.
 */
export function createClients(options: AwsClientOptions): AwsClients {
  // The SDK warns on Node 20 about releases after this pinned one; it is noise in CLI output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const { env } = options;
  const timeoutMs = options.timeoutMs ?? awsTimeoutMs(env);
  const config = {
    region: options.region,
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: "standard",
    // The SDK sets no time limit: an endpoint that accepts and never answers would hold a pass
    // for ever. A timed out attempt is a TimeoutError, which the SDK retries and then
    // controllerError reports as EndpointUnreachable (the queue backs off).
    requestHandler: {
      connectionTimeout: Math.min(timeoutMs, MAX_CONNECT_MS),
      requestTimeout: timeoutMs,
      throwOnRequestTimeout: true,
    },
    ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}),
    ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
  };
  const ec2 = new EC2Client(config);
  const elb = new ElasticLoadBalancingV2Client(config);
  // Route 53 is global; its endpoint is us-east-1's.
  const route53 = new Route53Client({ ...config, region: "us-east-1" });
  const ssm = new SSMClient(config);
  const iam = new IAMClient({ ...config, region: "us-east-1" });
  const cloudwatch = new CloudWatchClient(config);
  instrument(ec2.middlewareStack as unknown as MiddlewareStackLike, "ec2", options);
  instrument(elb.middlewareStack as unknown as MiddlewareStackLike, "elbv2", options);
  instrument(route53.middlewareStack as unknown as MiddlewareStackLike, "route53", options);
  instrument(ssm.middlewareStack as unknown as MiddlewareStackLike, "ssm", options);
  instrument(iam.middlewareStack as unknown as MiddlewareStackLike, "iam", options);
  instrument(cloudwatch.middlewareStack as unknown as MiddlewareStackLike, "cloudwatch", options);
  return { region: options.region, ec2, elb, route53, ssm, iam, cloudwatch };
}
