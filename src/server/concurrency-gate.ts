/**
 * At most `max` tasks at a time and `maxWaiting` queued: password hashing is slow on purpose,
 * so unbounded guesses would take every core and the thread pool from everyone else.
 */
export class ConcurrencyGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly max: number,
    private readonly maxWaiting: number,
  ) {}

  /** Whether a task would be taken now or queued, rather than refused. */
  get hasRoom(): boolean {
    return this.active < this.max || this.waiting.length < this.maxWaiting;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // a finished task hands its slot over
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
