import { strict as assert } from "node:assert";
import { DescribeVolumesCommand, StopInstancesCommand } from "@aws-sdk/client-ec2";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { requireStrictAws } from "../support/e2e.js";
import { StrictHarness } from "../support/strict-harness.js";

/** A Service's data lives on its own tagged EBS volume, kept by Retain, found again by name. */
describe("AWS service data volumes (strict endpoint)", function () {
  this.timeout(180_000);
  let aws: StrictTestAws;
  let h: StrictHarness;

  before(async function () {
    aws = await requireStrictAws(this);
  });

  beforeEach(async () => {
    await aws.reset();
    h = new StrictHarness(aws);
    await h.reconcileGroup();
  });

  const dataVolumes = async () => {
    const out = await h.inspect.ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: "tag:airloft.dev/role", Values: ["data"] }] }),
    );
    return (out.Volumes ?? []).map((v) => ({
      id: v.VolumeId ?? "",
      size: v.Size,
      attachedTo: v.Attachments?.find((a) => a.State === "attached" || a.State === "attaching")?.InstanceId,
    }));
  };
  const serviceInstances = async (uid: string) =>
    (await h.inspect.instances([{ Name: "tag:airloft.dev/uid", Values: [uid] }])).filter(
      (i) => i.state === "running" || i.state === "pending",
    );

  it("attaches a tagged volume of storage.size; a Retain service's volume outlives it and mounts again", async () => {
    const first = h.service("cache", { template: "redis", storage: { size: "20Gi" } });
    const outcome = await h.settleService(first);
    assert.equal(outcome.converged, true, JSON.stringify(outcome));
    const [volume] = await dataVolumes();
    assert.ok(volume);
    assert.equal(volume.size, 20);
    const [instance] = await serviceInstances(first.metadata.uid ?? "");
    assert.equal(volume.attachedTo, instance?.id);
    assert.equal(outcome.volume, volume.id);

    h.provider.forget("us-east-1");
    for (let i = 0; i < 8 && !(await h.provider.finalizeService(first, h.group)); i++) h.provider.forget("us-east-1");
    assert.deepEqual(
      (await dataVolumes()).map((v) => v.id),
      [volume.id],
      "Retain keeps the volume",
    );

    const again = h.service("cache", { template: "redis", storage: { size: "20Gi" } });
    h.provider.forget("us-east-1");
    assert.equal((await h.settleService(again)).converged, true);
    const [successor] = await serviceInstances(again.metadata.uid ?? "");
    const volumes = await dataVolumes();
    assert.deepEqual(
      volumes.map((v) => v.id),
      [volume.id],
      "no second volume",
    );
    assert.equal(volumes[0]?.attachedTo, successor?.id, "the same volume on the new instance");
  });

  it("starts a service instance stopped by hand instead of replacing it", async () => {
    const service = h.service("db", { template: "postgres" });
    assert.equal((await h.settleService(service)).converged, true);
    const [instance] = await serviceInstances(service.metadata.uid ?? "");
    assert.ok(instance);
    await h.inspect.ec2.send(new StopInstancesCommand({ InstanceIds: [instance.id] }));
    h.provider.forget("us-east-1");
    const runs = h.calls(/RunInstances|TerminateInstances/);
    await h.settleService(service);
    assert.equal(h.calls(/RunInstances|TerminateInstances/) - runs, 0, "no launch or termination");
    assert.ok(h.calls(/StartInstances/) >= 1);
    assert.deepEqual(
      (await serviceInstances(service.metadata.uid ?? "")).map((i) => i.id),
      [instance.id],
    );
  });

  it("deletes the volume of a service with deletionPolicy Delete", async () => {
    const service = h.service("queue", { template: "redis", storage: { deletionPolicy: "Delete" } });
    assert.equal((await h.settleService(service)).converged, true);
    assert.equal((await dataVolumes()).length, 1);
    let done = false;
    for (let i = 0; i < 8 && !done; i++) {
      h.provider.forget("us-east-1");
      done = await h.provider.finalizeService(service, h.group);
    }
    assert.equal(done, true);
    assert.deepEqual(await dataVolumes(), []);
  });
});
