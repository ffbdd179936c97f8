import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import {
  ownerParameters,
  ownerPath,
  parametersDigest,
  planParameters,
} from "../../src/providers/aws/secret-parameters.js";
import { renderUserData } from "../../src/providers/aws/userdata.js";

const folder = ownerPath("inst", "acme", "uid-1");
const v = (text: string, hash: string) => ({ value: Buffer.from(text), hash });

describe("AWS secret parameters: the plan of a folder, limits, and the boot fetch in user data", () => {
  it("writes only what changed and deletes only its own folder's others", () => {
    const desired = new Map([
      [`${folder}env/A`, v("a", "h1")],
      [`${folder}env/B`, v("b", "h2")],
    ]);
    const listing = new Map([
      [`${folder}env/A`, "h1"],
      [`${folder}env/B`, "old"],
      [`${folder}env/GONE`, "h3"],
      [`${ownerPath("inst", "acme", "uid-10")}env/A`, "h1"],
      [`${ownerPath("inst", "acme-prod", "uid-1")}env/A`, "h1"],
    ]);
    assert.deepEqual(planParameters(folder, desired, listing), {
      put: [`${folder}env/B`],
      remove: [`${folder}env/GONE`],
    });
  });

  it("a changed hash changes the digest (and so the config hash); the value alone is not hashed", () => {
    const one = ownerParameters(folder, [["A", "x", "h1"]], []);
    assert.notEqual(parametersDigest(one), parametersDigest(ownerParameters(folder, [["A", "x", "h2"]], [])));
    assert.equal(parametersDigest(one), parametersDigest(ownerParameters(folder, [["A", "y", "h1"]], [])));
  });

  it("refuses a value SSM cannot hold, a line break in a variable, and a name that is no variable", () => {
    assert.throws(() => ownerParameters(folder, [], [{ value: Buffer.alloc(7000), hash: "h" }]), /too large/);
    assert.throws(() => ownerParameters(folder, [["A", "x\ny", "h"]], []), /line break/);
    assert.throws(() => ownerParameters(folder, [["A;B", "x", "h"]], []), /not valid/);
  });

  it("a host runtime's user data fetches at boot, reads the env file with systemd and links files; bash -n passes", () => {
    const script = renderUserData({
      label: "app acme/api",
      runtime: "node",
      image: undefined,
      source: { url: "https://git.example.invalid/api.git" },
      command: undefined,
      env: { PLAIN: "1" },
      port: 8080,
      secrets: { region: "us-east-1", path: folder, files: ["/etc/tls/key.pem"] },
    });
    assert.equal(execFileSync("bash", ["-n"], { input: script }).toString(), "");
    assert.match(script, /^EnvironmentFile=\/run\/airloft\/secrets\.env$/m);
    assert.match(script, /^ln -sfn \/run\/airloft\/files\/0 \/etc\/tls\/key\.pem$/m);
    assert.match(script, /python3 \/usr\/local\/lib\/airloft\/secrets\.py systemd airloft /);
    assert.ok(
      script.indexOf("enable --now airloft-secrets.service") < script.indexOf("enable --now airloft-app.service"),
    );
    assert.throws(
      () =>
        renderUserData({
          label: "x",
          runtime: "docker",
          image: "a/b",
          source: undefined,
          command: undefined,
          env: {},
          port: 80,
          secrets: { region: "us-east-1", path: "/airloft/i/g/u/; reboot #/", files: [] },
        }),
      /not a region and parameter path/,
    );
  });
});
