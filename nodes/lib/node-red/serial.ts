/**
 * Jobs in turn: a job runs at once while nothing is pending, and after the pending ones when an
 * earlier job is still running (an async read, e.g. a model's reference). So a message is never
 * judged against state that a message before it is still loading, and nothing waits when nothing
 * is loading. Jobs handle their own errors (a rejection is swallowed here, never unhandled).
 */
export class Serial {
  private tail: Promise<void> | undefined;

  run(job: () => void | Promise<unknown>): void {
    if (this.tail) return this.track(this.tail.then(job));
    const r = job();
    if (r) this.track(r);
  }

  /** Whether a job is still running or waiting. */
  get busy(): boolean {
    return this.tail !== undefined;
  }

  private track(p: Promise<unknown>): void {
    const mine: Promise<void> = p.then(
      () => undefined,
      () => undefined,
    );
    this.tail = mine;
    void mine.then(() => {
      if (this.tail === mine) this.tail = undefined;
    });
  }
}
