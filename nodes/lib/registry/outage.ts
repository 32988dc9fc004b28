/**
 * An unreachable registry (issue 11): the model in use stays, the next try waits longer each time
 * (10 s doubling to 10 min, with a little jitter so a fleet does not retry in step), and the log
 * gets one line when the outage starts (or its reason changes) and one when it ends, never a line
 * per try.
 */
export const FIRST_RETRY_MS = 10_000;
export const MAX_RETRY_MS = 600_000;

export class Outage {
  /** The reason of the outage in progress, undefined while the registry answers. */
  reason?: string;
  tries = 0;

  constructor(
    private readonly first = FIRST_RETRY_MS,
    private readonly max = MAX_RETRY_MS,
    private readonly random: () => number = Math.random,
  ) {}

  /** A try failed: whether to log it (a new outage or another reason) and when to try again. */
  failed(reason: string): { log: boolean; retryInMs: number } {
    const log = reason !== this.reason;
    this.reason = reason;
    this.tries++;
    const base = Math.min(this.max, this.first * 2 ** (this.tries - 1));
    return { log, retryInMs: Math.round(base * (0.9 + 0.2 * this.random())) };
  }

  /** A try succeeded: whether an outage just ended (to log once). */
  succeeded(): boolean {
    const ended = this.reason !== undefined;
    this.reason = undefined;
    this.tries = 0;
    return ended;
  }
}
