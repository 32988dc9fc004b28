/**
 * Jobs in turn: a job runs at once while nothing is pending, and after the pending ones when an
 * earlier job is still running (an async read, e.g. a model's reference). So a message is never
 * judged against state that a message before it is still loading, and nothing waits when nothing
 * is loading. Jobs handle their own errors (a rejection is swallowed here, never unhandled).
 */
export class Serial {
  private tail: Promise<void> | undefined;

  /**
   * Runs `job` in turn. With `holdMs`, the jobs after it wait for it at most that long: a read
   * that hangs (a stuck network mount) finishes, or fails, by itself later without holding them.
   */
  run(job: () => void | Promise<unknown>, holdMs?: number): void {
    const held = holdMs === undefined ? job : () => holdAtMost(job(), holdMs);
    if (this.tail) return this.track(this.tail.then(held));
    const r = held();
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

/** `p`, or undefined after `ms` if it is still pending then (its own outcome is not changed). */
function holdAtMost(p: void | Promise<unknown>, ms: number): void | Promise<unknown> {
  if (!p) return p;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
