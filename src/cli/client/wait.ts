import type { Progress } from "../../controllers/context.js";
import { parseDuration } from "../../util/duration.js";
import type { Following, ResourceClient } from "./types.js";

export type WaitVerdict = "done" | "timeout" | "interrupted";

export interface WaitOptions {
  /** The keys whose progress is reported. */
  readonly keys: readonly string[];
  /** Run the controllers in this process while waiting (a local apply or delete). */
  readonly runLoop: boolean;
  readonly timeout: string | undefined;
  readonly onProgress?: (p: Progress) => void;
}

/**
 * The one wait of every command: follows the objects until `settled` holds, checked after every
 * change and every second, or until the timeout passes, or Ctrl-C. Returns the verdict and a
 * last look at the objects, taken once following has stopped (a local loop ends its reconciles).
 */
export async function waitUntil<T>(
  client: ResourceClient,
  options: WaitOptions,
  settled: (seen: Following) => boolean,
  last: (seen: Following) => T,
): Promise<{ verdict: WaitVerdict; last: T }> {
  const over = new AbortController();
  let finish: (verdict: WaitVerdict) => void = () => undefined;
  const verdict = new Promise<WaitVerdict>(
    (resolve) =>
      (finish = (v) => {
        over.abort();
        resolve(v);
      }),
  );
  let seen: Following | undefined;
  const check = (): void => {
    if (seen && settled(seen)) finish("done");
  };
  const interrupt = (): void => finish("interrupted");
  const timer = setTimeout(() => finish("timeout"), parseDuration(options.timeout ?? "5m"));
  const poll = setInterval(check, 1000);
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  try {
    const { runLoop, keys, onProgress = () => undefined } = options;
    seen = await client.follow({ runLoop, keys, onChange: check, onProgress, signal: over.signal });
    check();
    const result = await verdict;
    const following = seen;
    seen = undefined;
    await following.stop();
    return { verdict: result, last: last(following) };
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
    await seen?.stop();
  }
}
