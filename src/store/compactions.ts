/**
 * The state file's background compactions, one at a time. A compaction writes the state as it
 * is when it starts, so one still waiting to start serves every request made meanwhile: it takes
 * the latest journal position asked for. A cascade deleting many secret values (each asking for
 * the file to be rewritten soon) costs the compaction running and at most one more, not one each.
 */
export class Compactions {
  /** The last compaction queued, running or waiting. */
  private last: Promise<void> | undefined;
  /** The position the compaction waiting to start will drop the journal to; undefined when none waits. */
  private waiting: number | undefined;
  private error: unknown;

  /**
   * `compact` writes the file and drops the journal before a position; `outgrown` says, once it
   * has, where to compact again if the journal written meanwhile is already too long (see
   * requestIfIdle), or undefined.
   */
  constructor(
    private readonly compact: (position: number) => Promise<void>,
    private readonly outgrown: () => number | undefined = () => undefined,
  ) {}

  /** Asks for a compaction that drops the journal's entries before `position`. */
  request(position: number): void {
    if (this.waiting !== undefined) {
      this.waiting = Math.max(this.waiting, position);
      return;
    }
    this.waiting = position;
    const run = (this.last ?? Promise.resolve())
      .then(() => {
        const at = this.waiting ?? position;
        this.waiting = undefined;
        return this.compact(at);
      })
      .then(() => {
        const again = this.outgrown();
        if (again !== undefined) this.request(again);
      })
      .catch((err: unknown) => {
        this.error = err; // the journal still holds everything: nothing is lost
      })
      .finally(() => {
        if (this.last === run) this.last = undefined;
      });
    this.last = run;
  }

  /**
   * Asks for one because the journal has grown, unless one is queued or running. The journal
   * keeps growing while a compaction writes the file (which takes a while at tens of MB): each
   * write then would queue a second full rewrite, to drop a journal that the running one is about
   * to shorten. The journal is measured again once that one is done instead (`outgrown`).
   */
  requestIfIdle(position: number): void {
    if (!this.last) this.request(position);
  }

  /** Waits until no compaction runs or waits; throws one that failed in the background since the last call. */
  async settle(): Promise<void> {
    while (this.last) await this.last;
    const failed = this.error;
    this.error = undefined;
    if (failed) throw failed;
  }
}
