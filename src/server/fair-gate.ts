/**
 * Parsing and checking manifests takes the server's one thread: a tenant sending big applies
 * back to back would take every turn and queue everyone behind it (issue 13). Such work runs here
 * one job at a time, taken round-robin across accounts, and an account may have only a few jobs
 * waiting: the next is refused at once, before it costs anything.
 */
export class FairGate {
  private busy = false;
  /** Waiting jobs per account; the map's order is the round-robin order. */
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(private readonly maxWaitingPerAccount: number) {}

  /** Jobs admitted but not yet queued (their bodies are still being read), per account. */
  private readonly admitted = new Map<string, number>();

  /**
   * Takes one of the account's places before its body is read, so that parallel requests cannot
   * all pass the check while they read; undefined when the account has no place left. The
   * ticket's run() queues the job in that place; cancel() gives the place back.
   */
  admit(account: string): { run<T>(job: () => T | Promise<T>): Promise<T>; cancel(): void } | undefined {
    const held = (this.waiting.get(account)?.length ?? 0) + (this.admitted.get(account) ?? 0);
    if (held >= this.maxWaitingPerAccount) return undefined;
    this.admitted.set(account, (this.admitted.get(account) ?? 0) + 1);
    let open = true;
    const leave = (): void => {
      if (!open) return;
      open = false;
      const left = (this.admitted.get(account) ?? 1) - 1;
      if (left > 0) this.admitted.set(account, left);
      else this.admitted.delete(account);
    };
    return {
      run: <T>(job: () => T | Promise<T>): Promise<T> => {
        leave();
        return this.run(account, job);
      },
      cancel: leave,
    };
  }

  private async run<T>(account: string, job: () => T | Promise<T>): Promise<T> {
    if (this.busy) {
      await new Promise<void>((resolve) => {
        const queue = this.waiting.get(account);
        if (queue) queue.push(resolve);
        else this.waiting.set(account, [resolve]);
      });
    } else {
      this.busy = true;
    }
    try {
      return await job();
    } finally {
      this.next();
    }
  }

  /** Hands the turn to the next account in order, which then goes to the back of the line. */
  private next(): void {
    const entry = this.waiting.entries().next();
    if (entry.done) {
      this.busy = false;
      return;
    }
    const [account, queue] = entry.value;
    const wake = queue.shift();
    this.waiting.delete(account);
    if (queue.length > 0) this.waiting.set(account, queue);
    // Not at once: the turn goes back through the event loop, so requests already read get served.
    setImmediate(() => wake?.());
  }
}
