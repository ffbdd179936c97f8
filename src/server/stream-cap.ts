import { ApiError } from "./http.js";
import type { Principal } from "./tokens.js";

/**
 * Refuses a new stream (429) when its account already has `max` open in `open`: the cap on log
 * and on watch streams per account. Admins are trusted with the server's time and not counted.
 */
export function admitStream(
  open: Iterable<{ readonly principal: Principal }>,
  principal: Principal,
  max: number,
  what: "log" | "watch",
): void {
  if (principal.kind === "admin") return;
  let mine = 0;
  for (const stream of open)
    if (stream.principal.kind === principal.kind && stream.principal.name === principal.name) mine++;
  if (mine >= max)
    throw new ApiError(
      429,
      "TooManyRequests",
      `${principal.kind} ${principal.name} has ${mine} ${what} streams open, the most one account may have; close one first`,
    );
}
