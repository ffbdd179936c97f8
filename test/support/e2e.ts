import { engineUnavailableReason, useEngine, type TestEngine } from "./engine.js";

/**
 * Starts the private engine for a suite, or skips the suite where it cannot run; under CI
 * (CI=true) a missing engine fails the run instead, so CI never passes without these tests.
 */
export function requireEngine(ctx: Mocha.Context): Promise<TestEngine> {
  const reason = engineUnavailableReason();
  if (reason) {
    if (process.env.CI === "true") throw new Error(`the Docker engine is required in CI: ${reason}`);
    process.stderr.write(`\n  SKIPPING end-to-end tests: ${reason}\n`);
    ctx.skip();
  }
  ctx.timeout(120_000);
  return useEngine();
}
