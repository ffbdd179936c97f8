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

  /** Whether `account` may queue one more job. */
  hasRoom(account: string): boolean {
    return (this.waiting.get(account)?.length ?? 0) < this.maxWaitingPerAccount;
  }

  async run<T>(account: string, job: () => T | Promise<T>): Promise<T> {
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
