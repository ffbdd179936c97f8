import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressPolicy } from "./address-policy.js";

export interface SendResult {
  readonly ok: boolean;
  /** What happened, without the URL (it may carry a token): "HTTP 200", "timeout after 5s". */
  readonly message: string;
  /** False when trying again cannot help (a refused address, a 4xx but 408 and 429). */
  readonly retry: boolean;
}

/** Bytes of an answer read before the connection is dropped: a receiver cannot fill our memory. */
const MAX_ANSWER_BYTES = 4096;

/**
 * POSTs a body once. Redirects are not followed (a 3xx is a failure: a receiver could point us
 * at a forbidden address), the address connected to is checked by the policy, and the request
 * ends after `timeoutMs` whatever the receiver does.
 */
export function send(
  url: URL,
  body: string,
  headers: Record<string, string>,
  options: { policy: AddressPolicy; timeoutMs: number; signal?: AbortSignal },
): Promise<SendResult> {
  const refused = options.policy.checkUrl(url);
  if (refused) return Promise.resolve({ ok: false, message: `refused: ${refused}`, retry: false });
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: SendResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const req = request(
      url,
      {
        method: "POST",
        agent: false,
        lookup: options.policy.lookup,
        headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ...headers },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) res.destroy();
        });
        res.on("error", () => undefined);
        const ok = status >= 200 && status < 300;
        const retry = !ok && (status >= 500 || status === 408 || status === 429);
        const message = status >= 300 && status < 400 ? `HTTP ${status}: redirects are not followed` : `HTTP ${status}`;
        finish({ ok, message, retry });
      },
    );
    const timer = setTimeout(
      () => finish({ ok: false, message: `timeout after ${options.timeoutMs / 1000}s`, retry: true }),
      options.timeoutMs,
    );
    options.signal?.addEventListener("abort", () => finish({ ok: false, message: "stopped", retry: true }), {
      once: true,
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      const forbidden = err.code === "EFORBIDDEN";
      finish({
        ok: false,
        message: forbidden ? `refused: ${err.message}` : (err.code ?? err.message),
        retry: !forbidden,
      });
    });
    req.end(body);
  });
}
