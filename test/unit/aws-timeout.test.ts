import { strict as assert } from "node:assert";
import { createServer, type Socket } from "node:net";
import { DescribeRegionsCommand } from "@aws-sdk/client-ec2";
import { ProviderUnavailableError } from "../../src/errors.js";
import { awsTimeoutMs, CallCounter, createClients, createLimiters } from "../../src/providers/aws/clients.js";

/** A TCP server on 127.0.0.1 that accepts every connection and never answers. */
async function silentServer(): Promise<{ close: () => Promise<void>; url: string; accepted: () => number }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("no address");
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return { close, url: `http://127.0.0.1:${address.port}`, accepted: () => sockets.length };
}

/** The SDK clients' request time limit (src/providers/aws/clients.ts). */
describe("AWS clients: an endpoint that never answers", () => {
  it("fails each attempt at the time limit, retries, and reports the endpoint unreachable", async () => {
    const { close, url, accepted } = await silentServer();
    const counter = new CallCounter();
    const env = { AWS_ENDPOINT_URL: url, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" };
    const { ec2 } = createClients({
      region: "us-east-1",
      env,
      counter,
      limiters: createLimiters(),
      maxAttempts: 2,
      timeoutMs: 300,
    });
    try {
      // Without a time limit the call never settles; the bound is generous so a loaded machine passes.
      let bound: NodeJS.Timeout | undefined;
      const hung = new Promise<"hung">((resolve) => {
        bound = setTimeout(() => resolve("hung"), 20_000);
      });
      const outcome = await Promise.race([
        ec2.send(new DescribeRegionsCommand({})).then(
          () => "answered",
          (e) => e,
        ),
        hung,
      ]);
      clearTimeout(bound);
      assert.ok(outcome instanceof ProviderUnavailableError, `expected a provider-down error, got ${String(outcome)}`);
      assert.equal(outcome.reason, "EndpointUnreachable");
      assert.match(outcome.message, /ec2:DescribeRegions could not reach the AWS endpoint \(TimeoutError\)/);
      assert.match(outcome.message, /300 ms/);
      // Both attempts were sent and timed out: a timeout is retried like any network failure.
      assert.equal(counter.counts.get("ec2:DescribeRegions"), 2);
      assert.equal(accepted(), 2);
      assert.deepEqual([...(counter.outcomes.get("ec2:DescribeRegions") ?? [])], [["transient", 1]]);
    } finally {
      ec2.destroy();
      await close();
    }
  });

  it("takes the limit from AIRLOFT_AWS_TIMEOUT_SECONDS, 20 s by default, and refuses a bad value", () => {
    assert.equal(awsTimeoutMs({}), 20_000);
    assert.equal(awsTimeoutMs({ AIRLOFT_AWS_TIMEOUT_SECONDS: "2.5" }), 2_500);
    for (const bad of ["0", "-1", "soon", "99999"])
      assert.throws(() => awsTimeoutMs({ AIRLOFT_AWS_TIMEOUT_SECONDS: bad }), /AIRLOFT_AWS_TIMEOUT_SECONDS must be/);
  });
});
