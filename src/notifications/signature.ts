import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-airloft-signature";
export const TIMESTAMP_HEADER = "x-airloft-timestamp";

/** `sha256=` and the hex HMAC-SHA256 of the body under the Alert's key. */
export function sign(body: string | Buffer, key: string): string {
  return `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;
}

/**
 * What a receiver checks: the signature in constant time, and a timestamp (also inside the signed
 * body) no older than `toleranceSeconds`, so that a captured request cannot be replayed later.
 */
export function verify(
  body: string | Buffer,
  key: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  options: { nowSeconds: number; toleranceSeconds?: number },
): boolean {
  const expected = Buffer.from(sign(body, key));
  const given = Buffer.from(headers.signature ?? "");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  const ts = Number(headers.timestamp);
  if (!Number.isInteger(ts) || Math.abs(options.nowSeconds - ts) > (options.toleranceSeconds ?? 300)) return false;
  try {
    return (JSON.parse(body.toString()) as { timestamp?: unknown }).timestamp === ts;
  } catch {
    return false;
  }
}
