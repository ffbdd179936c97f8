import { spawnSync } from "node:child_process";
import { engineUnavailableReason, type TestEngine, useEngine } from "../../support/engine.js";
import { type TestAws, useAws } from "../../support/moto.js";
import { type StrictTestAws, useStrictAws } from "../../support/strict-aws.js";
import { swarmUnavailableReason, type TestSwarm, useSwarm } from "../../support/swarm.js";

/**
 * Skips the suite where a component it needs is missing, saying which and why; under CI
 * (CI=true) fails the run instead, so CI never passes without these tests.
 */
export function requireComponent(ctx: Mocha.Context, component: string, reason: string | undefined): void {
  if (!reason) return;
  if (process.env.CI === "true") throw new Error(`${component} is required in CI: ${reason}`);
  process.stderr.write(`\n  SKIPPING (${component} missing): ${reason}\n`);
  ctx.skip();
}

/** Why a command is not on PATH, or undefined when it is. */
export function commandMissing(command: string, install: string): string | undefined {
  return spawnSync("sh", ["-c", `command -v ${command}`]).status === 0
    ? undefined
    : `${command} is not on PATH (${install})`;
}

/** Starts the private engine for a suite, or skips it where it cannot run (fails under CI). */
export function requireEngine(ctx: Mocha.Context): Promise<TestEngine> {
  requireComponent(ctx, "the Docker engine", engineUnavailableReason());
  ctx.timeout(120_000);
  return useEngine();
}

/** Starts moto for a suite, or skips the suite where it cannot run; under CI=true it fails instead. */
export function requireAws(ctx: Mocha.Context): Promise<TestAws> {
  requireComponent(ctx, "the AWS endpoint (moto_server)", commandMissing("moto_server", "pip install 'moto[server]'"));
  ctx.timeout(120_000);
  return useAws();
}

/** moto behind the strict proxy (support/strict-aws.ts), for tests that need AWS's own rules. */
export async function requireStrictAws(ctx: Mocha.Context): Promise<StrictTestAws> {
  await requireAws(ctx);
  return useStrictAws();
}

/** Starts the three-node test swarm (support/swarm.ts), or skips the suite where it cannot run (fails under CI). */
export function requireSwarm(ctx: Mocha.Context): Promise<TestSwarm> {
  requireComponent(ctx, "the three-node swarm", swarmUnavailableReason());
  ctx.timeout(240_000);
  return useSwarm();
}
