import { strict as assert } from "node:assert";
import { ProviderUnavailableError, TerminalError } from "../../src/errors.js";
import { classifyAwsError, controllerError } from "../../src/providers/aws/errors.js";
import { KeyedLock } from "../../src/providers/aws/keyed-lock.js";
import { RateLimiter } from "../../src/providers/aws/rate-limit.js";
import { type InstanceProgram, renderUserData, shellQuote } from "../../src/providers/aws/userdata.js";

const sdkError = (name: string, status = 400) =>
  Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });

describe("AWS error classification", () => {
  it("throttling, permission, validation, capacity, conflicts and network errors", () => {
    assert.equal(classifyAwsError(sdkError("RequestLimitExceeded")), "throttled");
    assert.equal(classifyAwsError(sdkError("Throttling")), "throttled");
    assert.equal(classifyAwsError(sdkError("UnauthorizedOperation", 403)), "permission");
    assert.equal(classifyAwsError(sdkError("AccessDenied", 403)), "permission");
    assert.equal(classifyAwsError(sdkError("InvalidParameterValue")), "invalid");
    assert.equal(classifyAwsError(sdkError("ValidationError")), "invalid");
    assert.equal(classifyAwsError(sdkError("InsufficientInstanceCapacity", 500)), "capacity");
    assert.equal(classifyAwsError(sdkError("SomethingNew", 503)), "capacity");
    assert.equal(classifyAwsError(sdkError("DependencyViolation")), "conflict");
    assert.equal(classifyAwsError(sdkError("InvalidInstanceID.NotFound")), "not-found");
    assert.equal(
      classifyAwsError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })),
      "transient",
    );
  });

  it("permission and validation errors are terminal and name the call; throttling and capacity retry", () => {
    const denied = controllerError(sdkError("UnauthorizedOperation", 403), "ec2:RunInstances");
    assert.ok(denied instanceof TerminalError);
    assert.equal(denied.reason, "PermissionDenied");
    assert.match(denied.message, /ec2:RunInstances was refused \(UnauthorizedOperation\).*grant ec2:RunInstances/);
    const invalid = controllerError(sdkError("InvalidParameterValue"), "elbv2:CreateTargetGroup");
    assert.ok(invalid instanceof TerminalError && invalid.reason === "InvalidParameter");
    const throttled = controllerError(sdkError("RequestLimitExceeded", 503), "ec2:DescribeInstances");
    assert.ok(throttled instanceof ProviderUnavailableError && throttled.reason === "Throttled");
    const capacity = controllerError(sdkError("InsufficientInstanceCapacity", 500), "ec2:RunInstances");
    assert.ok(capacity instanceof ProviderUnavailableError && capacity.reason === "InsufficientCapacity");
    const expired = controllerError(sdkError("ExpiredToken", 400), "ec2:DescribeInstances");
    assert.ok(expired instanceof ProviderUnavailableError && expired.reason === "CredentialsExpired");
    const limit = controllerError(sdkError("VcpuLimitExceeded", 400), "ec2:RunInstances");
    assert.ok(limit instanceof ProviderUnavailableError && limit.reason === "LimitExceeded");
    const unsupported = controllerError(sdkError("Unsupported", 400), "ec2:RunInstances");
    assert.ok(unsupported instanceof TerminalError && unsupported.reason === "Unsupported");
    const elb = controllerError(sdkError("AccessDenied", 403), "elbv2:CreateRule");
    assert.match((elb as Error).message, /grant elasticloadbalancing:CreateRule/);
    const other = controllerError(sdkError("PriorityInUse"), "elbv2:CreateRule");
    assert.ok(!(other instanceof TerminalError) && !(other instanceof ProviderUnavailableError));
  });
});

describe("AWS client-side rate limiter", () => {
  it("lets a burst through, then one call per refill interval", async () => {
    let now = 0;
    const limiter = new RateLimiter(10, 2, () => now);
    await limiter.take();
    await limiter.take();
    let third = false;
    const pending = limiter.take().then(() => {
      third = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(third, false, "the bucket is empty until time passes");
    now += 100; // one token at 10/s
    await pending;
    assert.equal(third, true);
  });
});

describe("keyed lock", () => {
  it("runs work on one key in turn, and other keys alongside", async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const slow = (name: string, ms: number) => async () => {
      order.push(`${name} start`);
      await new Promise((r) => setTimeout(r, ms));
      order.push(`${name} end`);
    };
    await Promise.all([lock.run("a", slow("a1", 20)), lock.run("a", slow("a2", 1)), lock.run("b", slow("b1", 1))]);
    assert.ok(order.indexOf("a1 end") < order.indexOf("a2 start"), order.join(", "));
    assert.ok(order.indexOf("b1 end") < order.indexOf("a1 end"), order.join(", "));
    await assert.rejects(
      lock.run("a", async () => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(await lock.run("a", async () => 7), 7);
  });
});

describe("user data templates", () => {
  const base: InstanceProgram = {
    label: "app shop/web",
    runtime: "docker",
    image: "example/web:1",
    source: undefined,
    command: undefined,
    env: { GREETING: "hello world", QUOTE: `it's "quoted" $HOME` },
    port: 8080,
  };

  it("docker: installs the engine, writes the env file with no shell expansion, runs the image with its port", () => {
    const script = renderUserData(base);
    assert.match(script, /^#!\/bin\/bash\nset -euo pipefail/);
    assert.match(script, /systemctl enable --now docker/);
    assert.match(
      script,
      /install -m 0600 \/dev\/null \/etc\/airloft\/app.env\ncat > \/etc\/airloft\/app.env <<'(AIRLOFT_EOF_[0-9a-f]{32})'\nGREETING=hello world\nQUOTE=it's "quoted" \$HOME\n\1\n/,
    );
    assert.match(
      script,
      /docker run -d --name airloft-app --restart always --env-file \/etc\/airloft\/app.env -p 8080:8080 --security-opt no-new-privileges .* example\/web:1\n/,
    );
    assert.doesNotMatch(script, /--privileged|docker\.sock|--network host/);
  });

  it("node, python and java: install the runtime, fetch the source, run the command as a restarting service", () => {
    const source = { url: "https://git.example.invalid/shop/api.git", ref: "v1.2" };
    const node = renderUserData({ ...base, runtime: "node", image: undefined, source });
    assert.match(node, /dnf -y install nodejs npm git tar/);
    assert.match(
      node,
      /git clone --depth 1 --branch v1\.2 https:\/\/git\.example\.invalid\/shop\/api\.git \/opt\/airloft\/app/,
    );
    assert.match(node, /npm ci --omit=dev/);
    assert.match(node, /ExecStart=\/usr\/bin\/env npm start\nRestart=always/);
    // EnvironmentFile= expands nothing: a $ is escaped as in a shell's double quotes, not doubled.
    assert.match(node, /QUOTE="it's \\"quoted\\" \\\$HOME"/);
    assert.match(node, /PORT=8080/);
    const python = renderUserData({
      ...base,
      runtime: "python",
      image: undefined,
      source: { url: "https://files.example.invalid/app.tar.gz" },
      command: ["gunicorn", "app:wsgi", "-b", "0.0.0.0:8080"],
    });
    assert.match(python, /curl -fsSL https:\/\/files\.example\.invalid\/app\.tar\.gz \| tar -xz/);
    assert.match(python, /\/opt\/airloft\/venv\/bin\/pip install -r requirements\.txt/);
    assert.match(python, /ExecStart=\/usr\/bin\/env gunicorn app:wsgi -b 0\.0\.0\.0:8080/);
    const java = renderUserData({ ...base, runtime: "java", image: undefined, source });
    assert.match(java, /java-17-amazon-corretto-headless/);
    assert.match(java, /ExecStart=\/usr\/bin\/env java -jar app\.jar/);
  });

  it("refuses what it cannot carry: a missing image or source, a line break in a value, a bad variable name", () => {
    assert.throws(() => renderUserData({ ...base, image: undefined }), /needs spec.image/);
    assert.throws(() => renderUserData({ ...base, runtime: "node" }), /needs spec.source/);
    assert.throws(() => renderUserData({ ...base, env: { A: "x\nB=y" } }), /line break/);
    assert.throws(() => renderUserData({ ...base, env: { "A;rm": "x" } }), /cannot be passed/);
  });

  it("quotes shell words", () => {
    assert.equal(shellQuote("plain-word_1.2"), "plain-word_1.2");
    assert.equal(shellQuote("two words"), "'two words'");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
});
