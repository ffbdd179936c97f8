import type { ServerResponse } from "node:http";

export interface LogWriterOptions {
  /** Takes a line's bytes from the account's budget: 0 to send it now, or the milliseconds to wait. */
  readonly throttle: (bytes: number) => number;
  /** A client that reads nothing for this long loses the connection. */
  readonly stallMs: number;
  /** Aborted when the connection closes: the provider's streams stop with it. */
  readonly signal: AbortSignal;
}

/**
 * Writes log lines to a response as JSON lines, one at a time: each write resolves once the
 * connection has room again and the account's budget allows the next, so the provider reads no
 * faster than the client does. Nothing is queued here beyond the connection's own buffer.
 */
export class LogWriter {
  constructor(
    private readonly res: ServerResponse,
    private readonly options: LogWriterOptions,
  ) {}

  async line(replica: string, line: string): Promise<void> {
    await this.send(`${JSON.stringify({ replica, line })}\n`);
  }

  /** The last line of a stream that failed after its header was sent. */
  async error(message: string): Promise<void> {
    await this.send(`${JSON.stringify({ error: message })}\n`);
  }

  private async send(text: string): Promise<void> {
    const { signal } = this.options;
    if (signal.aborted) return;
    // The bytes are taken once the budget lets them go: a wait takes nothing.
    for (let waitMs = this.options.throttle(Buffer.byteLength(text)); waitMs > 0; ) {
      await this.wait(waitMs, undefined);
      if (signal.aborted) return;
      waitMs = this.options.throttle(Buffer.byteLength(text));
    }
    if (!this.res.write(text)) await this.wait(this.options.stallMs, "drain");
  }

  /** Waits `ms`, or for `event` on the response (then a timeout means a stalled client: cut), or the close. */
  private wait(ms: number, event: "drain" | undefined): Promise<void> {
    const { res, options } = this;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (event) res.off(event, done);
        options.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(() => {
        if (event) res.destroy();
        done();
      }, ms);
      if (event) res.once(event, done);
      options.signal.addEventListener("abort", done, { once: true });
    });
  }
}
