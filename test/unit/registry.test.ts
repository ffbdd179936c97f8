import { strict as assert } from "node:assert";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { API_VERSION, type Group } from "../../src/resources/types.js";
import { FakeProvider } from "../../support/fake-provider.js";

const group = (provider: Group["spec"]["provider"]): Group => ({
  apiVersion: API_VERSION,
  kind: "Group",
  metadata: { name: "g", uid: "u" },
  spec: { provider },
});

describe("provider registry", () => {
  it("makes each provider on first use, once, from its factory", async function () {
    this.timeout(30_000);
    const registry = new ProviderRegistry({ instanceId: "i", env: {} });
    const [a, b] = await Promise.all([registry.for(group("docker")), registry.for(group("docker"))]);
    assert.equal(a, b);
    assert.equal(a.name, "docker");
    const aws = await registry.for(group("aws"));
    assert.equal(aws.name, "aws");
    assert.equal(aws.address(group("aws")), "aws us-east-1");
    assert.equal(await registry.for(group("aws")), aws);
    assert.equal((await registry.for(group("swarm"))).name, "swarm");
  });

  it("takes a provider given for tests instead of making one", async () => {
    const fake = new FakeProvider();
    assert.equal(await new ProviderRegistry({ instanceId: "i", docker: fake }).for(group("docker")), fake);
  });

  it("refuses a provider it does not know", () => {
    assert.throws(
      () => new ProviderRegistry({ instanceId: "i" }).for(group("nomad" as Group["spec"]["provider"])),
      /unknown provider nomad/,
    );
  });
});
