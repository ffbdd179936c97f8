import type { HttpCheck } from "../docker/desired.js";
import { shellQuote } from "./secrets.js";

const MS_NS = 1_000_000;

/**
 * An HTTP health check as a Swarm task's own check. On Docker AirLoft probes the published port
 * itself; a Swarm task is on an overlay the controller does not reach, so the check runs inside
 * the task, on 127.0.0.1, with the first client the image has: curl, then nc (busybox and alpine
 * have it; a 2xx or 3xx status line passes), then wget. Swarm keeps a task in `starting` until the
 * check passes, which is what readiness reads, and restarts it after `retries` failures.
 */
export function httpHealthcheck(check: HttpCheck): Record<string, unknown> {
  const url = shellQuote(`http://127.0.0.1:${check.port}${check.path}`);
  const seconds = Math.max(1, Math.ceil(check.timeoutMs / 1000));
  const request = shellQuote(`GET ${check.path} HTTP/1.0`);
  const script = [
    `if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null --max-time ${seconds} ${url};`,
    `elif command -v nc >/dev/null 2>&1; then printf '%s\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' ${request} | nc -w ${seconds} 127.0.0.1 ${check.port} | head -n 1 | grep -q '^HTTP/1\\.[01] [23]';`,
    `else wget -q -O /dev/null -T ${seconds} ${url}; fi`,
  ].join(" ");
  return {
    Test: ["CMD-SHELL", script],
    Interval: check.intervalMs * MS_NS,
    Timeout: check.timeoutMs * MS_NS,
    Retries: check.retries,
    StartPeriod: check.startPeriodMs * MS_NS,
  };
}
