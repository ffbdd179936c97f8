import { strict as assert } from "node:assert";
import type { Rule } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { ResourceRecordSet } from "@aws-sdk/client-route-53";
import {
  type AwsSnapshot,
  type ObservedListener,
  type ObservedLoadBalancer,
  patch,
} from "../../src/providers/aws/observe.js";
import {
  describeGroupOp,
  type ObservedGroupNetwork,
  type ObservedTeardown,
  planGroupTeardown,
  planHostedZone,
} from "../../src/providers/aws/plan.js";
import {
  type DesiredOwner,
  describeOwnerOp,
  type ObservedOwner,
  planGarbage,
  planOwner,
  planOwnerRemoval,
} from "../../src/providers/aws/plan-routing.js";
import { routingWait } from "../../src/providers/aws/routing.js";

const H = "aaaaaaaaaaaa";
const TG = "arn:tg/web";
const alias = (dns: string): ResourceRecordSet => ({
  Name: "web.shop.example.com.",
  Type: "A",
  AliasTarget: { HostedZoneId: "Z1", DNSName: dns, EvaluateTargetHealth: true },
});
const rule = (arn: string, priority: string, host: string, tg = TG): Rule => ({
  RuleArn: arn,
  Priority: priority,
  IsDefault: false,
  Conditions: [{ Field: "host-header", HostHeaderConfig: { Values: [host] } }],
  Actions: [{ Type: "forward", TargetGroupArn: tg }],
});
const fromLb = [{ IpProtocol: "tcp", FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ GroupId: "sg-lb" }] }];

const desired: DesiredOwner = {
  target: "app:shop/web",
  targetGroup: {
    name: "tg-web",
    port: 8080,
    vpcId: "vpc-1",
    check: { path: "/healthz", interval: 15, timeout: 5, unhealthy: 3 },
    tags: { owner: "web" },
  },
  ingress: { securityGroupId: "sg-i", port: 8080, fromGroupId: "sg-lb", what: "app port 8080 from the load balancer" },
  host: "web.shop.example.com",
  record: alias("lb.example.com."),
  instances: { replicas: 1, configHash: H, strategy: "RollingUpdate", registers: true },
};
const converged: ObservedOwner = {
  targetGroup: {
    arn: TG,
    name: "tg-web",
    port: 8080,
    vpcId: "vpc-1",
    healthCheckPath: "/healthz",
    loadBalancerArns: [],
  },
  ingress: fromLb,
  listeners: [{ arn: "arn:l80", port: 80, rules: [rule("arn:r1", "1", "web.shop.example.com")] }],
  record: alias("lb.example.com."),
  instances: [{ id: "i-a", replica: 0, configHash: H, state: "running", launchTime: 0, health: "healthy" }],
};

describe("AWS app routing planner (plain data)", () => {
  it("plans nothing for a converged app, and says it is converged", () => {
    const plan = planOwner(desired, converged);
    assert.deepEqual(plan.operations, []);
    assert.equal(plan.converged, true);
    assert.equal(plan.readyReplicas, 1);
  });

  it("a new app: its target group and port first, nothing that needs the target group's ARN", () => {
    const plan = planOwner(desired, {
      targetGroup: undefined,
      ingress: [],
      listeners: converged.listeners,
      record: undefined,
      instances: [],
    });
    assert.deepEqual(plan.operations.map(describeOwnerOp), [
      "app:shop/web allow-port 8080",
      "app:shop/web create-target-group",
    ]);
    assert.equal(plan.converged, false);
  });

  it("once the target group exists: a host rule per listener, the instances, then the alias record", () => {
    const plan = planOwner(desired, {
      ...converged,
      listeners: [
        { arn: "arn:l80", port: 80, rules: [] },
        { arn: "arn:l443", port: 443, rules: [] },
      ],
      record: undefined,
      instances: [],
    });
    assert.deepEqual(plan.operations.map(describeOwnerOp), [
      "app:shop/web create-rule 80 web.shop.example.com",
      "app:shop/web create-rule 443 web.shop.example.com",
      "app:shop/web:0 run-instance (missing)",
      "app:shop/web upsert-record web.shop.example.com",
    ]);
    assert.deepEqual(plan.operations[0], {
      op: "create-rule",
      listenerArn: "arn:l80",
      port: 80,
      host: "web.shop.example.com",
      targetGroupArn: TG,
      tags: { owner: "web" },
      target: "app:shop/web",
    });
  });

  it("removes a duplicate rule a retried create left (the lowest priority stays), and moves a rule to a new host", () => {
    const dup = planOwner(desired, {
      ...converged,
      listeners: [
        {
          arn: "arn:l80",
          port: 80,
          rules: [rule("arn:r9", "90", "web.shop.example.com"), rule("arn:r1", "1", "web.shop.example.com")],
        },
      ],
    });
    assert.deepEqual(dup.operations.map(describeOwnerOp), [
      "app:shop/web delete-rule 80 web.shop.example.com (duplicate)",
    ]);
    assert.equal(dup.operations[0]?.op === "delete-rule" && dup.operations[0].ruleArn, "arn:r9");
    // The zone has no record for the new host yet.
    const moved = planOwner({ ...desired, host: "shop.example.com" }, { ...converged, record: undefined });
    assert.deepEqual(moved.operations.map(describeOwnerOp), [
      "app:shop/web modify-rule 80 shop.example.com",
      "app:shop/web upsert-record shop.example.com",
    ]);
  });

  it("changes a target group's health check path in place; a record aliasing another load balancer is replaced", () => {
    const plan = planOwner(desired, {
      ...converged,
      targetGroup: { ...converged.targetGroup!, healthCheckPath: "/" },
      record: alias("other.example.com."),
    });
    assert.deepEqual(
      plan.operations.map((o) => o.op),
      ["modify-target-group", "upsert-record"],
    );
  });

  it("a service: its port opened from the instances, no target group, no rule, no record", () => {
    const service: DesiredOwner = {
      ...desired,
      target: "service:shop/cache",
      targetGroup: undefined,
      host: undefined,
      record: undefined,
      instances: { replicas: 1, configHash: H, strategy: "Recreate", registers: false },
    };
    const plan = planOwner(service, {
      targetGroup: undefined,
      ingress: [],
      listeners: [],
      record: undefined,
      instances: [],
    });
    assert.deepEqual(plan.operations.map(describeOwnerOp), [
      "service:shop/cache allow-port 8080",
      "service:shop/cache:0 run-instance (missing)",
    ]);
  });
});

describe("AWS teardown planners (plain data)", () => {
  it("removes a deleted app's record, targets, instances, rules and target group, in that order", () => {
    const ops = planOwnerRemoval("app:shop/web", {
      ...converged,
      host: "web.shop.example.com",
      lbRecord: alias("lb.example.com."),
    });
    assert.deepEqual(ops.map(describeOwnerOp), [
      "app:shop/web delete-record web.shop.example.com",
      "app:shop/web deregister i-a",
      "app:shop/web terminate i-a (deleted)",
      "app:shop/web delete-rule 80 web.shop.example.com",
      "app:shop/web delete-target-group",
    ]);
  });

  it("leaves a record that aliases another load balancer, and plans nothing once all is gone", () => {
    const ops = planOwnerRemoval("app:shop/web", {
      ...converged,
      host: "web.shop.example.com",
      lbRecord: alias("other.example.com."),
    });
    assert.ok(!ops.some((o) => o.op === "delete-record"));
    assert.deepEqual(
      planOwnerRemoval("app:shop/web", {
        targetGroup: undefined,
        ingress: [],
        listeners: [],
        record: undefined,
        instances: [],
        host: undefined,
        lbRecord: undefined,
      }),
      [],
    );
  });

  it("garbage: orphan instances per owner, and the routes and target group of an owner that is gone", () => {
    const ops = planGarbage({
      group: "shop",
      orphans: [
        { id: "i-1", kind: "App", name: "old" },
        { id: "i-2", kind: "App", name: "old" },
        { id: "i-3", kind: "Service", name: "db" },
      ],
      targetGroups: [{ arn: "arn:tg/old", name: "old" }],
      listeners: [{ arn: "arn:l80", port: 80, rules: [rule("arn:r5", "5", "old.shop.example.com", "arn:tg/old")] }],
    });
    assert.deepEqual(ops.map(describeOwnerOp), [
      "app:shop/old terminate i-1 i-2 (owner gone)",
      "service:shop/db terminate i-3 (owner gone)",
      "app:shop/old delete-rule 80 old.shop.example.com (owner gone)",
      "app:shop/old delete-target-group (owner gone)",
    ]);
  });

  const network: ObservedGroupNetwork = {
    vpcId: "vpc-1",
    subnets: [
      { id: "subnet-a", role: "subnet-0", mapPublicIp: true },
      { id: "subnet-b", role: "subnet-1", mapPublicIp: true },
    ],
    internetGateway: { id: "igw-1", vpcIds: ["vpc-1"] },
    routeTable: { id: "rtb-1", hasDefaultRoute: true, subnetIds: ["subnet-a", "subnet-b"] },
    securityGroups: {
      lb: { id: "sg-lb", open: true },
      instances: { id: "sg-i", open: true },
      services: { id: "sg-s", open: true },
    },
    loadBalancer: { arn: "arn:lb", listenerPorts: [80] },
    duplicates: [{ kind: "vpc", id: "vpc-2" }],
  };
  const teardown: ObservedTeardown = {
    network,
    vpcIds: ["vpc-1", "vpc-2"],
    instancesLeft: false,
    zone: { id: "Z1", domain: "shop.example.com" },
  };

  it("a group: the load balancer first, and nothing more until it is gone", () => {
    const plan = planGroupTeardown(teardown);
    assert.deepEqual(
      plan.operations.map((o) => describeGroupOp("shop", o)),
      ["group:shop delete-load-balancer"],
    );
    assert.equal(plan.done, false);
  });

  it("a group: waits while instances are left, then removes the rest in dependency order", () => {
    const noLb = { ...teardown, network: { ...network, loadBalancer: undefined } };
    assert.deepEqual(planGroupTeardown({ ...noLb, instancesLeft: true }), { operations: [], done: false });
    assert.deepEqual(
      planGroupTeardown(noLb).operations.map((o) => describeGroupOp("shop", o)),
      [
        "group:shop delete-security-group services",
        "group:shop delete-security-group instances",
        "group:shop delete-security-group lb",
        "group:shop remove-duplicate vpc vpc-2",
        "group:shop delete-route-table",
        "group:shop delete-internet-gateway",
        "group:shop delete-subnet subnet-a",
        "group:shop delete-subnet subnet-b",
        "group:shop delete-vpc vpc-1",
        "group:shop delete-hosted-zone shop.example.com",
      ],
    );
    const empty: ObservedGroupNetwork = {
      vpcId: undefined,
      subnets: [],
      internetGateway: undefined,
      routeTable: undefined,
      securityGroups: {},
      loadBalancer: undefined,
      duplicates: [],
    };
    assert.deepEqual(planGroupTeardown({ network: empty, vpcIds: [], instancesLeft: false, zone: undefined }), {
      operations: [],
      done: true,
    });
  });

  it("a hosted zone is created only when the spec names a domain and no zone is given or found", () => {
    assert.deepEqual(planHostedZone("shop.example.com", undefined, undefined), [
      { op: "create-hosted-zone", domain: "shop.example.com" },
    ]);
    assert.deepEqual(planHostedZone("shop.example.com", "Z9", undefined), []);
    assert.deepEqual(planHostedZone("shop.example.com", undefined, "Z1"), []);
    assert.deepEqual(planHostedZone(undefined, undefined, undefined), []);
    assert.equal(
      describeGroupOp("shop", { op: "create-hosted-zone", domain: "shop.example.com" }),
      "group:shop create-hosted-zone shop.example.com",
    );
  });
});

describe("AWS rule limit: the refusal as part of the observed listener (plain data)", () => {
  const lb = (listeners: ObservedListener[]): ObservedLoadBalancer => ({
    arn: "arn:lb",
    name: "lb",
    dnsName: "lb.example",
    zoneId: "Z1",
    vpcId: "vpc-1",
    listeners,
  });
  const snapshot = (listeners: ObservedListener[]): AwsSnapshot => ({
    region: "us-east-1",
    takenAt: 0,
    instances: [],
    vpcs: [],
    subnets: [],
    securityGroups: [],
    internetGateways: [],
    routeTables: [],
    loadBalancers: [lb(listeners)],
    targetGroups: [],
  });
  const http = { arn: "arn:l/80", port: 80, rules: [] };
  const https = { arn: "arn:l/443", port: 443, rules: [] };
  const words = "TooManyRules: the load balancer has 100 rules";

  it("waits with RuleLimitReached only while a rule is still wanted on a refused listener", () => {
    const refused = patch.ruleLimit(http.arn, words)(snapshot([http, https]));
    const listeners = refused.loadBalancers[0]?.listeners ?? [];
    assert.deepEqual(
      listeners.map((l) => l.ruleLimit),
      [words, undefined],
    );
    assert.equal(routingWait(listeners, [http.arn], undefined)?.reason, "RuleLimitReached");
    assert.match(routingWait(listeners, [http.arn], undefined)?.message ?? "", /TooManyRules: the load balancer/);
    // Made, or no longer wanted: the refusal says nothing about this app.
    assert.equal(routingWait(listeners, [], undefined), undefined);
    assert.equal(routingWait(listeners, [https.arn], undefined), undefined);
  });

  it("forgets the refusal once a rule of the load balancer is made or removed, on any of its listeners", () => {
    const refused = patch.ruleLimit(http.arn, words)(patch.ruleLimit(https.arn, words)(snapshot([http, https])));
    const freed = patch.rules(https.arn, () => [rule("arn:r/1", "1", "a.example")])(refused);
    const listeners = freed.loadBalancers[0]?.listeners ?? [];
    assert.deepEqual(
      listeners.map((l) => [l.arn, l.ruleLimit, l.rules.length]),
      [
        [http.arn, undefined, 0],
        [https.arn, undefined, 1],
      ],
    );
    assert.equal(routingWait(listeners, [http.arn, https.arn], undefined), undefined);
  });
});
