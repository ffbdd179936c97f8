import { type ChildProcess, spawn } from "node:child_process";
import {
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  DescribeRouteTablesCommand,
  DescribeVpcsCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import { freePort } from "./ports.js";

/**
 * moto_server on 127.0.0.1 on a free port: a real HTTP endpoint for EC2, ELBv2 and Route 53 that
 * the real SDK clients talk to. Started once per run of the tests (stopped by their root hooks) or
 * of a benchmark (which stops it).
 */
export interface TestAws {
  readonly endpoint: string;
  /** The environment the SDK and the airloft command read: endpoint, region, dummy keys. */
  readonly env: NodeJS.ProcessEnv;
  /** Empties moto's state between suites. */
  reset(): Promise<void>;
}

interface MotoState {
  started: Promise<TestAws> | undefined;
  server: ChildProcess | undefined;
}

// On globalThis for the same reason as the engine: the root hooks and the tests may load two copies.
const state: MotoState = ((globalThis as { __airloftTestMoto?: MotoState }).__airloftTestMoto ??= {
  started: undefined,
  server: undefined,
});

/** The shared moto_server, started on first use (tests and benchmarks). */
export function useAws(): Promise<TestAws> {
  state.started ??= startMoto();
  return state.started;
}

async function startMoto(): Promise<TestAws> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const server = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  state.server = server;
  let stderr = "";
  server.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  process.once("exit", () => server.kill("SIGKILL"));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`moto_server exited (${server.exitCode}): ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`moto_server did not answer on ${endpoint} within 60 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await publicDefaultVpc(endpoint);
  return {
    endpoint,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (!res.ok) throw new Error(`moto reset failed: ${res.status}`);
      await publicDefaultVpc(endpoint);
    },
  };
}

/**
 * AWS gives every account's default VPC an internet gateway and a default route (its subnets are
 * public); moto's has neither. Added after each reset, so that the default VPC is as on AWS.
 */
async function publicDefaultVpc(endpoint: string): Promise<void> {
  const credentials = { accessKeyId: "testing", secretAccessKey: "testing" };
  const ec2 = new EC2Client({ endpoint, region: "us-east-1", credentials });
  const vpcId = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] })))
    .Vpcs?.[0]?.VpcId;
  if (!vpcId) return;
  const gateway = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway?.InternetGatewayId ?? "";
  await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: gateway, VpcId: vpcId }));
  const tables = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }));
  const main = tables.RouteTables?.find((t) => t.Associations?.some((a) => a.Main))?.RouteTableId;
  await ec2.send(new CreateRouteCommand({ RouteTableId: main, DestinationCidrBlock: "0.0.0.0/0", GatewayId: gateway }));
  ec2.destroy();
}

export async function stopMoto(): Promise<void> {
  const server = state.server;
  state.server = undefined;
  state.started = undefined;
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (server.exitCode === null) server.kill("SIGKILL");
}
