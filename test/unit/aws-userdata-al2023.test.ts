import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { serviceProgram } from "../../src/providers/aws/desired.js";
import { PRIVATE_ADDRESS, renderUserData } from "../../src/providers/aws/userdata.js";
import { SERVICE_TEMPLATES } from "../../src/resources/templates.js";
import { API_VERSION, type Group, type Service } from "../../src/resources/types.js";

const group: Group = {
  apiVersion: API_VERSION,
  kind: "Group",
  metadata: { name: "shop", uid: "g-1" },
  spec: { provider: "aws" },
};
const service = (template: Service["spec"]["template"]): Service => ({
  apiVersion: API_VERSION,
  kind: "Service",
  metadata: { name: "data", group: "shop", uid: "s-1" },
  spec: { template },
});
const source = { url: "https://git.example.invalid/shop/web.git", ref: "main" };

function bashSyntax(script: string): string {
  const r = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
  return r.status === 0 ? "ok" : r.stderr;
}

/** Every script AirLoft renders for an Amazon Linux 2023 instance parses as bash. */
describe("AWS user data for Amazon Linux 2023", () => {
  for (const runtime of ["node", "python", "java", "docker"] as const) {
    it(`${runtime}: the rendered script passes bash -n`, () => {
      const script = renderUserData({
        label: `app shop/${runtime}`,
        runtime,
        image: runtime === "docker" ? "example/web:1" : undefined,
        source: runtime === "docker" ? undefined : source,
        command: undefined,
        env: { GREETING: "a $dollar and `ticks`" },
        port: 8080,
      });
      assert.equal(bashSyntax(script), "ok");
    });
  }

  for (const template of Object.keys(SERVICE_TEMPLATES) as Array<Service["spec"]["template"]>) {
    it(`service ${template}: mounts its data volume and passes bash -n`, () => {
      const script = renderUserData(serviceProgram(service(template), group, { password: "pa$$word" }));
      assert.equal(bashSyntax(script), "ok");
      assert.match(script, /mkfs\.xfs -q \/dev\/sdf/);
      assert.match(script, new RegExp(` -v /var/lib/airloft/data:${SERVICE_TEMPLATES[template].dataPath} `));
    });
  }

  it("kafka advertises the instance's private address, read from the instance metadata, not the service's name", () => {
    const program = serviceProgram(service("kafka"), group, { password: "x" });
    assert.equal(program.env.KAFKA_ADVERTISED_LISTENERS, `PLAINTEXT://${PRIVATE_ADDRESS}:9092`);
    const script = renderUserData(program);
    assert.match(script, /meta-data\/local-ipv4/);
    assert.ok(script.includes(`sed -i "s/${PRIVATE_ADDRESS}/$private_address/g" /etc/airloft/app.env`));
    // The address is filled in before docker reads the env file.
    assert.ok(script.indexOf("local-ipv4") < script.indexOf("docker run"));
    const redis = renderUserData(serviceProgram(service("redis"), group, { password: "x" }));
    assert.doesNotMatch(redis, /local-ipv4/);
  });
});
