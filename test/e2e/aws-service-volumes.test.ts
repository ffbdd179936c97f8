import { strict as assert } from "node:assert";
import { DescribeVolumesCommand, StopInstancesCommand } from "@aws-sdk/client-ec2";
import { useStrictGroup, webSpec } from "../support/strict-harness.js";

/** A Service's data lives on its own tagged EBS volume, kept by Retain, found again by name. */
describe("AWS service data volumes (strict endpoint)", function () {
  this.timeout(180_000);
  const s = useStrictGroup();

  const dataVolumes = async () => {
    const out = await s.h.inspect.ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: "tag:airloft.dev/role", Values: ["data"] }] }),
    );
    return (out.Volumes ?? []).map((v) => ({
      id: v.VolumeId ?? "",
      size: v.Size,
      attachedTo: v.Attachments?.find((a) => a.State === "attached" || a.State === "attaching")?.InstanceId,
    }));
  };
  const serviceInstances = async (uid: string) =>
    (await s.h.inspect.instances([{ Name: "tag:airloft.dev/uid", Values: [uid] }])).filter(
      (i) => i.state === "running" || i.state === "pending",
    );

  it("attaches a tagged volume of storage.size; a Retain service's volume outlives it and mounts again", async () => {
    const first = s.h.service("cache", { template: "redis", storage: { size: "20Gi" } });
    const outcome = await s.h.settleService(first);
    assert.equal(outcome.converged, true, JSON.stringify(outcome));
    const [volume] = await dataVolumes();
    assert.ok(volume);
    assert.equal(volume.size, 20);
    const [instance] = await serviceInstances(first.metadata.uid ?? "");
    assert.equal(volume.attachedTo, instance?.id);
    assert.equal(outcome.volume, volume.id);

    s.h.provider.forget("us-east-1");
    for (let i = 0; i < 8 && !(await s.h.provider.finalizeService(first, s.h.group)); i++)
      s.h.provider.forget("us-east-1");
    assert.deepEqual(
      (await dataVolumes()).map((v) => v.id),
      [volume.id],
      "Retain keeps the volume",
    );

    const again = s.h.service("cache", { template: "redis", storage: { size: "20Gi" } });
    s.h.provider.forget("us-east-1");
    assert.equal((await s.h.settleService(again)).converged, true);
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
    const service = s.h.service("db", { template: "postgres" });
    assert.equal((await s.h.settleService(service)).converged, true);
    const [instance] = await serviceInstances(service.metadata.uid ?? "");
    assert.ok(instance);
    await s.h.inspect.ec2.send(new StopInstancesCommand({ InstanceIds: [instance.id] }));
    s.h.provider.forget("us-east-1");
    const runs = s.h.calls(/RunInstances|TerminateInstances/);
    await s.h.settleService(service);
    assert.equal(s.h.calls(/RunInstances|TerminateInstances/) - runs, 0, "no launch or termination");
    assert.ok(s.h.calls(/StartInstances/) >= 1);
    assert.deepEqual(
      (await serviceInstances(service.metadata.uid ?? "")).map((i) => i.id),
      [instance.id],
    );
  });

  it("deletes the volume of a service with deletionPolicy Delete", async () => {
    const service = s.h.service("queue", { template: "redis", storage: { deletionPolicy: "Delete" } });
    assert.equal((await s.h.settleService(service)).converged, true);
    assert.equal((await dataVolumes()).length, 1);
    let done = false;
    for (let i = 0; i < 8 && !done; i++) {
      s.h.provider.forget("us-east-1");
      done = await s.h.provider.finalizeService(service, s.h.group);
    }
    assert.equal(done, true);
    assert.deepEqual(await dataVolumes(), []);
  });
});
