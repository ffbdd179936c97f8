import { randomUUID } from "node:crypto";
import { AwsProvider } from "../../src/providers/aws/provider.js";
import type { AppOutcome, ServiceOutcome } from "../../src/providers/types.js";
import {
  API_VERSION,
  type App,
  type AppSpec,
  type Group,
  type GroupSpec,
  type Service,
  type ServiceSpec,
} from "../../src/resources/types.js";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { AwsInspector } from "./aws-inspect.js";
import { requireStrictAws } from "./e2e.js";

const FAST = { perSecond: 1000, burst: 1000 };

/**
 * The AWS provider driven pass by pass against moto behind the strict proxy: a group, its apps,
 * and what the endpoint holds (read from moto directly, past the proxy).
 */
export class StrictHarness {
  readonly inspect: AwsInspector;
  readonly instanceId = `strict-${randomUUID()}`;
  provider: AwsProvider;
  group: Group;

  constructor(
    readonly aws: StrictTestAws,
    aws_: GroupSpec["aws"] = { region: "us-east-1", vpc: { id: "default" }, domain: "strict.example.com" },
  ) {
    this.inspect = new AwsInspector(aws.moto);
    this.provider = this.newProvider();
    this.group = {
      apiVersion: API_VERSION,
      kind: "Group",
      metadata: { name: "strict", uid: randomUUID(), generation: 1 },
      spec: { provider: "aws", aws: aws_ },
    };
  }

  /** A provider of the same installation with empty caches: a restart, or a pass minutes later. */
  newProvider(): AwsProvider {
    this.provider = new AwsProvider({
      instanceId: this.instanceId,
      env: this.aws.env,
      rates: { ec2: FAST, elbv2: FAST, route53: FAST, ssm: FAST },
    });
    return this.provider;
  }

  async reconcileGroup(): Promise<void> {
    for (let pass = 0; pass < 4; pass++) {
      const status = await this.provider.reconcileGroup(this.group);
      this.group = { ...this.group, status: { ...this.group.status, ...status } };
      if (status.aws?.loadBalancer) return;
    }
    throw new Error("the group's network did not converge in 4 passes");
  }

  app(name: string, spec: AppSpec, uid: string = randomUUID()): App {
    return { apiVersion: API_VERSION, kind: "App", metadata: { name, group: "strict", uid, generation: 1 }, spec };
  }

  service(name: string, spec: ServiceSpec, uid: string = randomUUID()): Service {
    return { apiVersion: API_VERSION, kind: "Service", metadata: { name, group: "strict", uid, generation: 1 }, spec };
  }

  /** Passes until the service converges, at most `passes`; the last outcome. */
  async settleService(service: Service, passes = 8): Promise<ServiceOutcome> {
    let outcome: ServiceOutcome | undefined;
    for (let pass = 0; pass < passes; pass++) {
      outcome = await this.provider.reconcileService(service, this.group, { password: "test-password" });
      if (outcome.converged) return outcome;
      this.provider.forget("us-east-1");
    }
    if (!outcome) throw new Error("no pass ran");
    return outcome;
  }

  /** Passes until the app converges, at most `passes`; the last outcome. */
  async settle(app: App, passes = 8): Promise<AppOutcome> {
    let outcome: AppOutcome | undefined;
    for (let pass = 0; pass < passes; pass++) {
      outcome = await this.provider.reconcileApp(app, this.group);
      if (outcome.converged) return outcome;
      this.provider.forget("us-east-1");
    }
    if (!outcome) throw new Error("no pass ran");
    return outcome;
  }

  /** The app's instances that are pending or running, by replica. */
  async running(app: App): Promise<string[]> {
    const all = await this.inspect.instances([{ Name: "tag:airloft.dev/uid", Values: [app.metadata.uid ?? ""] }]);
    return all
      .filter((i) => i.state === "running" || i.state === "pending")
      .map((i) => i.tags["airloft.dev/replica"] ?? "?")
      .sort();
  }

  /** Calls through the proxy whose "service:Action" matches. */
  calls(pattern: RegExp): number {
    return this.aws.proxy.total((key) => pattern.test(key));
  }
}

/** What a suite's tests use: the strict endpoint and a harness with a converged group, new for each test. */
export interface StrictSuite {
  aws: StrictTestAws;
  h: StrictHarness;
}

/**
 * A suite's hooks: the strict endpoint (skipped where moto is missing), emptied before each test,
 * then a group converged on it; `prepare` runs between the two (an image to serve, say).
 */
export function useStrictGroup(
  options: { prepare?: (aws: StrictTestAws) => void; groupAws?: GroupSpec["aws"] } = {},
): StrictSuite {
  const suite = {} as StrictSuite;
  before(async function () {
    suite.aws = await requireStrictAws(this);
  });
  beforeEach(async () => {
    await suite.aws.reset();
    options.prepare?.(suite.aws);
    suite.h = new StrictHarness(suite.aws, options.groupAws);
    await suite.h.reconcileGroup();
  });
  return suite;
}

/** An app of one image on port 8080; `version` changes its config. */
export const webSpec = (replicas: number, version = "a"): AppSpec => ({
  image: "example/web:1",
  port: 8080,
  replicas,
  env: { VERSION: version },
});
