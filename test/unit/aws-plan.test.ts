import { strict as assert } from "node:assert";
import { subnetCidr } from "../../src/providers/aws/names.js";
import {
  type DesiredGroupNetwork,
  describeInstanceOp,
  type InstanceView,
  type ObservedGroupNetwork,
  planGroupNetwork,
  planInstances,
} from "../../src/providers/aws/plan.js";

const H = "aaaaaaaaaaaa";
const OLD = "bbbbbbbbbbbb";
/** health null: not registered in the target group. */
const inst = (
  id: string,
  replica: number | undefined,
  hash: string,
  state = "running",
  health: string | null = "healthy",
  launchTime = 0,
): InstanceView => ({ id, replica, configHash: hash, state, health: health ?? undefined, launchTime });
const desired = (replicas: number, strategy: "RollingUpdate" | "Recreate" = "RollingUpdate") => ({
  replicas,
  configHash: H,
  strategy,
  registers: true,
});

describe("AWS instance planner (plain data)", () => {
  it("launches every missing replica", () => {
    const plan = planInstances(desired(3), []);
    assert.deepEqual(
      plan.operations,
      [0, 1, 2].map((replica) => ({ op: "run", replica, cause: "missing" })),
    );
    assert.equal(plan.converged, false);
  });

  it("is converged with one healthy, registered instance per replica", () => {
    const plan = planInstances(desired(2), [inst("i-a", 0, H), inst("i-b", 1, H)]);
    assert.deepEqual(plan.operations, []);
    assert.equal(plan.readyReplicas, 2);
    assert.equal(plan.converged, true);
  });

  it("registers running instances in one batch, and waits for pending ones", () => {
    const plan = planInstances(desired(3), [
      inst("i-a", 0, H, "running", null),
      inst("i-b", 1, H, "running", null),
      inst("i-c", 2, H, "pending", null),
    ]);
    assert.deepEqual(plan.operations, [{ op: "register", ids: ["i-a", "i-b"] }]);
    assert.equal(plan.readyReplicas, 0);
  });

  it("scales down by deregistering, then terminating once drained, the replicas above the count", () => {
    const plan = planInstances(desired(1), [
      inst("i-a", 0, H),
      inst("i-b", 1, H),
      inst("i-c", 2, H, "running", "initial"),
    ]);
    assert.deepEqual(plan.operations, [{ op: "deregister", ids: ["i-b", "i-c"] }]);
    const draining = planInstances(desired(1), [inst("i-a", 0, H), inst("i-b", 1, H, "running", "draining")]);
    assert.deepEqual(draining.operations, []);
    assert.equal(draining.converged, false, "not done while a target drains");
    const drained = planInstances(desired(1), [inst("i-a", 0, H), inst("i-b", 1, H, "running", null)]);
    assert.deepEqual(drained.operations, [{ op: "terminate", ids: ["i-b"], cause: "scale down" }]);
  });

  it("rolls: keeps the old instance until its successor is healthy, then removes it", () => {
    const starting = planInstances(desired(1), [inst("i-old", 0, OLD)]);
    assert.deepEqual(starting.operations, [{ op: "run", replica: 0, cause: "config changed" }]);
    const waiting = planInstances(desired(1), [inst("i-old", 0, OLD), inst("i-new", 0, H, "running", "initial")]);
    assert.deepEqual(waiting.operations, []);
    assert.equal(waiting.converged, false);
    const done = planInstances(desired(1), [inst("i-old", 0, OLD), inst("i-new", 0, H)]);
    assert.deepEqual(done.operations, [{ op: "deregister", ids: ["i-old"] }]);
  });

  it("recreate deregisters the old instance in the same pass as it launches the new one", () => {
    const plan = planInstances(desired(1, "Recreate"), [inst("i-old", 0, OLD)]);
    assert.deepEqual(plan.operations, [
      { op: "run", replica: 0, cause: "config changed" },
      { op: "deregister", ids: ["i-old"] },
    ]);
  });

  it("terminates a duplicate launch of a replica, keeping the oldest", () => {
    const plan = planInstances(desired(1), [
      inst("i-second", 0, H, "running", null, 20),
      inst("i-first", 0, H, "running", "healthy", 10),
    ]);
    assert.deepEqual(plan.operations, [{ op: "terminate", ids: ["i-second"], cause: "duplicate of replica 0" }]);
  });

  it("replaces an instance stopped outside AirLoft", () => {
    const plan = planInstances(desired(1), [inst("i-a", 0, H, "stopped", null)]);
    assert.deepEqual(plan.operations, [
      { op: "run", replica: 0, cause: "missing" },
      { op: "terminate", ids: ["i-a"], cause: "replica 0 was stopped outside AirLoft" },
    ]);
  });

  it("services are ready once running, with no target group", () => {
    const plan = planInstances({ replicas: 1, configHash: H, strategy: "Recreate", registers: false }, [
      inst("i-a", 0, H, "running", null),
    ]);
    assert.deepEqual(plan.operations, []);
    assert.equal(plan.converged, true);
  });

  it("describes operations in the CLI's stable form", () => {
    assert.equal(
      describeInstanceOp("app:shop/web", { op: "run", replica: 2, cause: "missing" }),
      "app:shop/web:2 run-instance (missing)",
    );
    assert.equal(
      describeInstanceOp("app:shop/web", { op: "terminate", ids: ["i-a", "i-b"], cause: "scale down" }),
      "app:shop/web terminate i-a i-b (scale down)",
    );
  });
});

describe("AWS group network planner (plain data)", () => {
  const none: ObservedGroupNetwork = {
    vpcId: undefined,
    subnets: [],
    internetGateway: undefined,
    routeTable: undefined,
    securityGroups: {},
    loadBalancer: undefined,
    duplicates: [],
  };
  const create: DesiredGroupNetwork = {
    vpc: { mode: "create", cidr: "10.0.0.0/16" },
    zones: ["us-east-1a", "us-east-1b", "us-east-1c"],
    certificateArn: undefined,
  };
  const cidr = (i: number) => subnetCidr("10.0.0.0/16", 4, i);

  it("creates the VPC first, and nothing that needs its id", () => {
    assert.deepEqual(planGroupNetwork(create, none, cidr), [{ op: "create-vpc", cidr: "10.0.0.0/16" }]);
  });

  it("then subnets in two zones, gateway, route table and security groups", () => {
    const ops = planGroupNetwork(create, { ...none, vpcId: "vpc-1" }, cidr);
    assert.deepEqual(
      ops.map((o) => o.op),
      [
        "create-subnet",
        "create-subnet",
        "create-internet-gateway",
        "create-route-table",
        "create-security-group",
        "create-security-group",
        "create-security-group",
      ],
    );
    assert.deepEqual(
      ops.filter((o) => o.op === "create-subnet").map((o) => "zone" in o && [o.cidr, o.zone]),
      [
        ["10.0.0.0/20", "us-east-1a"],
        ["10.0.16.0/20", "us-east-1b"],
      ],
    );
  });

  it("wires the route table and opens the load balancer once their parts exist, then the load balancer and listener", () => {
    const partial: ObservedGroupNetwork = {
      vpcId: "vpc-1",
      subnets: [
        { id: "subnet-a", role: "subnet-0", mapPublicIp: true },
        { id: "subnet-b", role: "subnet-1", mapPublicIp: true },
      ],
      internetGateway: { id: "igw-1", vpcIds: ["vpc-1"] },
      routeTable: { id: "rtb-1", hasDefaultRoute: false, subnetIds: ["subnet-a"] },
      securityGroups: {
        lb: { id: "sg-lb", open: false },
        instances: { id: "sg-i", open: true },
        services: { id: "sg-s", open: true },
      },
      loadBalancer: undefined,
      duplicates: [],
    };
    assert.deepEqual(planGroupNetwork(create, partial, cidr), [
      { op: "create-default-route", routeTableId: "rtb-1", gatewayId: "igw-1" },
      { op: "associate-route-table", routeTableId: "rtb-1", subnetId: "subnet-b" },
      { op: "open-load-balancer", securityGroupId: "sg-lb" },
      { op: "create-load-balancer", subnetIds: ["subnet-a", "subnet-b"], securityGroupId: "sg-lb" },
    ]);
    const withLb = {
      ...partial,
      routeTable: { id: "rtb-1", hasDefaultRoute: true, subnetIds: ["subnet-a", "subnet-b"] },
      securityGroups: { ...partial.securityGroups, lb: { id: "sg-lb", open: true } },
      loadBalancer: { arn: "arn:lb", listenerPorts: [] },
    };
    assert.deepEqual(planGroupNetwork({ ...create, certificateArn: "arn:aws:acm:cert" }, withLb, cidr), [
      { op: "create-listener", loadBalancerArn: "arn:lb", port: 80 },
      { op: "create-listener", loadBalancerArn: "arn:lb", port: 443 },
    ]);
    assert.deepEqual(
      planGroupNetwork(create, { ...withLb, loadBalancer: { arn: "arn:lb", listenerPorts: [80] } }, cidr),
      [],
    );
  });

  it("in an existing VPC creates only security groups and the load balancer on its subnets", () => {
    const use: DesiredGroupNetwork = {
      vpc: { mode: "use", id: "vpc-default", subnetIds: ["subnet-2", "subnet-1"] },
      zones: [],
      certificateArn: undefined,
    };
    const ops = planGroupNetwork(use, { ...none, securityGroups: { lb: { id: "sg-lb", open: true } } }, cidr);
    assert.deepEqual(ops, [
      { op: "create-security-group", role: "instances", vpcId: "vpc-default" },
      { op: "create-security-group", role: "services", vpcId: "vpc-default" },
      { op: "create-load-balancer", subnetIds: ["subnet-1", "subnet-2"], securityGroupId: "sg-lb" },
    ]);
  });

  it("removes surplus copies of a part that a retried create left", () => {
    const done: ObservedGroupNetwork = {
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
      duplicates: [
        { kind: "vpc", id: "vpc-2" },
        { kind: "internet-gateway", id: "igw-2", vpcIds: [] },
      ],
    };
    assert.deepEqual(planGroupNetwork(create, done, cidr), [
      { op: "remove-duplicate", part: { kind: "vpc", id: "vpc-2" } },
      { op: "remove-duplicate", part: { kind: "internet-gateway", id: "igw-2", vpcIds: [] } },
    ]);
  });

  it("splits a CIDR into subnets", () => {
    assert.equal(subnetCidr("10.0.0.0/16", 4, 0), "10.0.0.0/20");
    assert.equal(subnetCidr("10.0.0.0/16", 4, 1), "10.0.16.0/20");
    assert.equal(subnetCidr("172.31.128.0/17", 1, 1), "172.31.192.0/18");
    assert.throws(() => subnetCidr("10.0.0.0/26", 4, 0), /too small/);
  });
});
