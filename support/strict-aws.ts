import { createHash } from "node:crypto";
import { AL2023_PARAMETER } from "../src/providers/aws/lookups.js";
import { errorAnswer, FaultProxy, type ProxiedCall, type ProxyAnswer } from "./fault-proxy.js";
import { type TestAws, useAws } from "./moto.js";

export interface StrictRules {
  /** Non-default rules one load balancer holds (AWS: 100). */
  readonly rulesPerLoadBalancer: number;
  /** Describe-by-id calls that do not yet see a just-launched instance (AWS: eventual consistency). */
  readonly unseenAfterLaunch: number;
  /** Security group and subnet deletes refused while a deleted load balancer's interfaces linger. */
  readonly lingeringInterfaceRefusals: number;
  /** DescribeTargetHealth answers that still show a deregistered target as draining. */
  readonly drainingAnswers: number;
}

export const AWS_RULES: StrictRules = {
  rulesPerLoadBalancer: 100,
  unseenAfterLaunch: 1,
  lingeringInterfaceRefusals: 2,
  drainingAnswers: 1,
};

interface TokenUse {
  readonly instanceId: string;
  readonly params: string;
  readonly answer: string;
}

/**
 * moto_server behind a proxy that enforces rules of AWS that moto lets slip (README, "The strict
 * AWS test endpoint"): RunInstances ClientToken idempotency (a token stays bound to its instance,
 * IdempotentInstanceTerminated once that is terminated, IdempotentParameterMismatch for other
 * parameters), a just-launched instance unseen by id for a moment, health-check ranges, name and
 * tag limits, rules per load balancer, `unused` targets of a target group no rule forwards to,
 * DependencyViolation while a deleted load balancer's interfaces linger, and the AL2023 public
 * parameter, whose image a test can replace between passes. It is not AWS: only these rules.
 */
export class StrictAwsProxy extends FaultProxy {
  rules: StrictRules = AWS_RULES;
  /** The image the AL2023 parameter names; undefined lets moto answer. */
  latestAmi: string | undefined;
  /** The next successful call of this "service:Action" is done but answered with a 500, as when an answer is lost. */
  loseAnswerOf: string | undefined;
  private readonly callerReferences = new Set<string>();
  private readonly tokens = new Map<string, TokenUse>();
  private readonly unseen = new Map<string, number>();
  private lingering = 0;
  /** "target group ARN|instance id" -> draining answers left, or -1 while registered. */
  private readonly targets = new Map<string, number>();
  /** Instances terminated while a target group still sent them traffic (registered or draining). */
  readonly terminatedInService: string[] = [];
  /**
   * What an instance wrote to its serial console, by instance id, set by a test playing the
   * instance's part (moto runs no user data, and answers every GetConsoleOutput with one sample).
   */
  readonly consoleOutputs = new Map<string, string>();

  override reset(): void {
    super.reset();
    this.tokens.clear();
    this.unseen.clear();
    this.lingering = 0;
    this.targets.clear();
    this.terminatedInService.length = 0;
    this.consoleOutputs.clear();
    this.rules = AWS_RULES;
    this.latestAmi = undefined;
    this.loseAnswerOf = undefined;
    this.callerReferences.clear();
    this.policy = () => undefined;
  }

  protected override async intercept(call: ProxiedCall): Promise<ProxyAnswer | undefined> {
    const refused = refusedByLimits(call);
    if (refused) return errorAnswer(call.service, 400, refused.code, refused.message);
    switch (`${call.service}:${call.action}`) {
      case "ec2:RunInstances":
        return this.runAgain(call);
      case "ec2:DescribeInstances":
        return this.notYetVisible(call);
      case "ec2:GetConsoleOutput":
        return this.consoleOutput(call);
      case "ec2:TerminateInstances":
        for (const [key, id] of call.params)
          if (key.startsWith("InstanceId.") && [...this.targets.keys()].some((k) => k.endsWith(`|${id}`)))
            this.terminatedInService.push(id);
        return undefined;
      case "ec2:DeleteSecurityGroup":
      case "ec2:DeleteSubnet":
        if (this.lingering <= 0) return undefined;
        this.lingering--;
        return errorAnswer("ec2", 400, "DependencyViolation", "resource has a dependent object (a network interface)");
      case "elasticloadbalancing:CreateRule":
        return this.tooManyRules(call);
      case "ssm:GetParameter":
        return this.parameter(call);
      case "route53:POST /2013-04-01/hostedzone": {
        // A caller reference names one create for good: a retry of it is refused, not a second zone.
        const reference = /<CallerReference>([^<]*)<\/CallerReference>/.exec(call.body.toString("utf8"))?.[1] ?? "";
        if (!this.callerReferences.has(reference)) return undefined;
        return errorAnswer("route53", 400, "HostedZoneAlreadyExists", `caller reference ${reference} was used`);
      }
      default:
        return undefined;
    }
  }

  protected override async rewrite(call: ProxiedCall, answer: ProxyAnswer): Promise<ProxyAnswer> {
    if (answer.status >= 300) return answer;
    if (call.action === "POST /2013-04-01/hostedzone") {
      const reference = /<CallerReference>([^<]*)<\/CallerReference>/.exec(call.body.toString("utf8"))?.[1];
      if (reference) this.callerReferences.add(reference);
    }
    const answered = await this.observe(call, answer);
    // Lost on its way back: AWS did the call all the same (a launch's token is bound to its instance).
    if (this.loseAnswerOf !== `${call.service}:${call.action}`) return answered;
    this.loseAnswerOf = undefined;
    return errorAnswer(call.service, 500, "InternalFailure", "the answer was lost");
  }

  /** What the proxy learns from a successful answer, and the answer as AWS would give it. */
  private async observe(call: ProxiedCall, answer: ProxyAnswer): Promise<ProxyAnswer> {
    switch (`${call.service}:${call.action}`) {
      case "ec2:RunInstances": {
        const token = call.params.get("ClientToken");
        const ids = [...answer.body.matchAll(/<instanceId>([^<]+)<\/instanceId>/g)].map((m) => m[1] ?? "");
        for (const id of ids) this.unseen.set(id, this.rules.unseenAfterLaunch);
        if (token && ids[0])
          this.tokens.set(token, { instanceId: ids[0], params: paramsKey(call), answer: answer.body });
        return answer;
      }
      case "elasticloadbalancing:DeleteLoadBalancer":
        this.lingering = this.rules.lingeringInterfaceRefusals;
        return answer;
      case "elasticloadbalancing:RegisterTargets":
      case "elasticloadbalancing:DeregisterTargets": {
        const arn = call.params.get("TargetGroupArn") ?? "";
        const register = call.action === "RegisterTargets";
        for (const [key, id] of call.params)
          if (/^Targets\.member\.\d+\.Id$/.test(key))
            this.targets.set(`${arn}|${id}`, register ? -1 : this.rules.drainingAnswers);
        return answer;
      }
      case "elasticloadbalancing:DescribeTargetHealth":
        return this.unusedTargets(call, this.draining(call, answer));
      default:
        return answer;
    }
  }

  /** A token already used: the same instance again, or AWS's errors for a changed call or a terminated instance. */
  private async runAgain(call: ProxiedCall): Promise<ProxyAnswer | undefined> {
    const token = call.params.get("ClientToken");
    const used = token ? this.tokens.get(token) : undefined;
    if (!used) return undefined;
    if (used.params !== paramsKey(call))
      return errorAnswer(
        "ec2",
        400,
        "IdempotentParameterMismatch",
        `client token ${token} was used with other parameters`,
      );
    const described = await this.ask(call, { Action: "DescribeInstances", "InstanceId.1": used.instanceId });
    const state = /<instanceState>\s*<code>(\d+)<\/code>\s*<name>([^<]+)<\/name>/.exec(described);
    const name = state?.[2] ?? "terminated";
    if (name === "terminated" || name === "shutting-down")
      return errorAnswer(
        "ec2",
        400,
        "IdempotentInstanceTerminated",
        `the instance of client token ${token} is ${name}`,
      );
    const body = used.answer.replace(
      /<instanceState>\s*<code>\d+<\/code>\s*<name>[^<]+<\/name>\s*<\/instanceState>/,
      `<instanceState><code>${state?.[1] ?? "0"}</code><name>${name}</name></instanceState>`,
    );
    return { status: 200, body };
  }

  /** The console output a test registered for the instance; moto's own answer otherwise. */
  private consoleOutput(call: ProxiedCall): ProxyAnswer | undefined {
    const id = call.params.get("InstanceId") ?? "";
    const text = this.consoleOutputs.get(id);
    if (text === undefined) return undefined;
    const body =
      `<GetConsoleOutputResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>strict</requestId>` +
      `<instanceId>${id}</instanceId><timestamp>${new Date().toISOString()}</timestamp>` +
      `<output>${Buffer.from(text).toString("base64")}</output></GetConsoleOutputResponse>`;
    return { status: 200, body, contentType: "text/xml" };
  }

  private notYetVisible(call: ProxiedCall): ProxyAnswer | undefined {
    for (const [key, id] of call.params) {
      if (!key.startsWith("InstanceId.")) continue;
      const left = this.unseen.get(id) ?? 0;
      if (left <= 0) continue;
      this.unseen.set(id, left - 1);
      return errorAnswer("ec2", 400, "InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`);
    }
    return undefined;
  }

  private async tooManyRules(call: ProxiedCall): Promise<ProxyAnswer | undefined> {
    const listener = call.params.get("ListenerArn") ?? "";
    const lb = listener.replace(":listener/", ":loadbalancer/").replace(/\/[^/]+$/, "");
    const listeners = await this.ask(call, { Action: "DescribeListeners", LoadBalancerArn: lb });
    let count = 0;
    for (const m of listeners.matchAll(/<ListenerArn>([^<]+)<\/ListenerArn>/g)) {
      const rules = await this.ask(call, { Action: "DescribeRules", ListenerArn: m[1] ?? "" });
      count += [...rules.matchAll(/<IsDefault>false<\/IsDefault>/g)].length;
    }
    if (count < this.rules.rulesPerLoadBalancer) return undefined;
    const message = `the load balancer has ${count} rules, the most it can hold`;
    return errorAnswer("elasticloadbalancing", 400, "TooManyRules", message);
  }

  /** A deregistered target stays in its target group, draining, for a few answers (AWS: the deregistration delay). */
  private draining(call: ProxiedCall, answer: ProxyAnswer): ProxyAnswer {
    const arn = call.params.get("TargetGroupArn") ?? "";
    const members: string[] = [];
    for (const [key, left] of this.targets) {
      if (!key.startsWith(`${arn}|`) || left < 0) continue;
      if (left === 0) {
        this.targets.delete(key);
        continue;
      }
      this.targets.set(key, left - 1);
      const id = key.slice(arn.length + 1);
      members.push(
        `<member><Target><Id>${id}</Id></Target><TargetHealth><State>draining</State>` +
          "<Reason>Target.DeregistrationInProgress</Reason></TargetHealth></member>",
      );
    }
    if (members.length === 0) return answer;
    const body = answer.body
      .replace("<TargetHealthDescriptions/>", "<TargetHealthDescriptions></TargetHealthDescriptions>")
      .replace("</TargetHealthDescriptions>", `${members.join("")}</TargetHealthDescriptions>`);
    return { ...answer, body };
  }

  /**
   * Targets of a target group that no listener's default action or rule forwards to are `unused`,
   * never healthy. Read from the rules themselves: moto keeps a target group marked in use by its
   * load balancer after the rule that forwarded to it is gone.
   */
  private async unusedTargets(call: ProxiedCall, answer: ProxyAnswer): Promise<ProxyAnswer> {
    const arn = call.params.get("TargetGroupArn") ?? "";
    if (await this.forwardedTo(call, arn)) return answer;
    const body = answer.body.replace(
      /<TargetHealth>[\s\S]*?<\/TargetHealth>/g,
      "<TargetHealth><State>unused</State><Reason>Target.NotInUse</Reason>" +
        "<Description>Target group is not configured to receive traffic from the load balancer</Description></TargetHealth>",
    );
    return { ...answer, body };
  }

  private async forwardedTo(call: ProxiedCall, targetGroupArn: string): Promise<boolean> {
    const lbs = await this.ask(call, { Action: "DescribeLoadBalancers" });
    for (const lb of lbs.matchAll(/<LoadBalancerArn>([^<]+)<\/LoadBalancerArn>/g)) {
      const listeners = await this.ask(call, { Action: "DescribeListeners", LoadBalancerArn: lb[1] ?? "" });
      if (listeners.includes(`<TargetGroupArn>${targetGroupArn}</TargetGroupArn>`)) return true;
      for (const l of listeners.matchAll(/<ListenerArn>([^<]+)<\/ListenerArn>/g)) {
        const rules = await this.ask(call, { Action: "DescribeRules", ListenerArn: l[1] ?? "" });
        if (rules.includes(`<TargetGroupArn>${targetGroupArn}</TargetGroupArn>`)) return true;
      }
    }
    return false;
  }

  private parameter(call: ProxiedCall): ProxyAnswer | undefined {
    const asked = (JSON.parse(call.body.toString("utf8") || "{}") as { Name?: string }).Name;
    if (asked !== AL2023_PARAMETER || !this.latestAmi) return undefined;
    const Parameter = { Name: asked, Type: "String", DataType: "aws:ec2:image", Value: this.latestAmi, Version: 1 };
    return { status: 200, body: JSON.stringify({ Parameter }), contentType: "application/x-amz-json-1.1" };
  }
}

/** The launch's parameters without its token, to tell a retried call from another one. */
function paramsKey(call: ProxiedCall): string {
  const kept = [...call.params].filter(([k]) => k !== "ClientToken").sort(([a], [b]) => a.localeCompare(b));
  return createHash("sha256").update(JSON.stringify(kept)).digest("hex");
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;

/** Name and tag limits, and the target group health-check ranges, that moto does not check. */
function refusedByLimits(call: ProxiedCall): { code: string; message: string } | undefined {
  const { params, action } = call;
  const invalid = (message: string) => ({
    code: call.service === "ec2" ? "InvalidParameterValue" : "ValidationError",
    message,
  });
  const tags = new Map<string, number>();
  for (const [key, value] of params) {
    const tag = /^(.*?)(?:Tag|Tags)\.(?:member\.)?(\d+)\.(Key|Value)$/.exec(key);
    if (!tag) continue;
    if (tag[3] === "Key" && (value.length > 128 || value.length === 0))
      return invalid(`tag key "${value}" is not 1-128 characters`);
    if (tag[3] === "Key" && value.toLowerCase().startsWith("aws:"))
      return invalid(`tag key "${value}" uses the aws: prefix`);
    if (tag[3] === "Value" && value.length > 256) return invalid(`the value of a tag is longer than 256 characters`);
    if (tag[3] === "Key") tags.set(tag[1] ?? "", (tags.get(tag[1] ?? "") ?? 0) + 1);
  }
  for (const [, count] of tags) if (count > 50) return invalid(`${count} tags on one resource, more than 50`);
  if (action === "CreateTargetGroup" || action === "CreateLoadBalancer") {
    const name = params.get("Name") ?? "";
    if (!NAME.test(name) || name.startsWith("internal-"))
      return invalid(`name "${name}" is not 1-32 letters, digits and inner hyphens`);
  }
  if (action === "CreateTargetGroup" || action === "ModifyTargetGroup") {
    const timeout = Number(params.get("HealthCheckTimeoutSeconds") ?? 5);
    const interval = Number(params.get("HealthCheckIntervalSeconds") ?? 30);
    if (timeout < 2 || timeout > 120) return invalid(`health check timeout ${timeout} is outside 2-120 seconds`);
    if (interval < 5 || interval > 300) return invalid(`health check interval ${interval} is outside 5-300 seconds`);
    if (timeout >= interval)
      return invalid(`health check timeout ${timeout} must be smaller than the interval ${interval}`);
  }
  return undefined;
}

export interface StrictTestAws extends TestAws {
  readonly proxy: StrictAwsProxy;
  /** moto itself, for what a person does outside AirLoft (stop an instance by hand) and for inspection. */
  readonly moto: TestAws;
}

let started: Promise<StrictTestAws> | undefined;

/** The shared moto_server behind one strict proxy (tests and benchmarks); stopped with moto at exit. */
export function useStrictAws(): Promise<StrictTestAws> {
  started ??= (async () => {
    const moto = await useAws();
    const proxy = new StrictAwsProxy(moto.endpoint);
    const url = await proxy.start();
    proxy.unref();
    return {
      endpoint: url,
      env: { ...moto.env, AWS_ENDPOINT_URL: url },
      moto,
      proxy,
      async reset() {
        await moto.reset();
        proxy.reset();
      },
    };
  })();
  return started;
}
