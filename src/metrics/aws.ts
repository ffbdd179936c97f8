import { Counter, type Registry } from "prom-client";
import type { AwsProvider } from "../providers/aws/provider.js";
import type { ProviderRegistry } from "../providers/registry.js";

/**
 * AWS calls by operation and outcome, and throttled attempts, read when scraped from the AWS
 * provider's call counter (if the AWS provider is loaded: metrics never load it).
 */
export function observeAws(registry: Registry, providers: ProviderRegistry): void {
  const counter = async () => {
    const aws = (await providers.loaded()).find((p) => p.name === "aws") as AwsProvider | undefined;
    return aws?.calls;
  };
  new Counter({
    name: "airloft_aws_calls_total",
    help: "AWS calls by operation (family:Operation) and result (ok, or the error's class) after the SDK's retries.",
    labelNames: ["operation", "result"] as const,
    registers: [registry],
    async collect() {
      const calls = await counter();
      this.reset();
      for (const [operation, byResult] of calls?.outcomes ?? [])
        for (const [result, n] of byResult) this.inc({ operation, result }, n);
    },
  });
  new Counter({
    name: "airloft_aws_throttles_total",
    help: "AWS request attempts refused by throttling (the SDK retried them with backoff), by operation.",
    labelNames: ["operation"] as const,
    registers: [registry],
    async collect() {
      const calls = await counter();
      this.reset();
      for (const [operation, n] of calls?.throttles ?? []) this.inc({ operation }, n);
    },
  });
}
