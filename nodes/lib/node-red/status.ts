/**
 * One throttled status per node: at most one update per interval (a status is an editor message
 * per call), at once when asked, never after close. Texts are cut short so they fit under the
 * node on the canvas; details belong in the log.
 */
export interface StatusShape {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface StatusTarget {
  status(s: StatusShape | Record<string, never>): void;
}

/** The longest status text shown; longer ones end in an ellipsis. */
export const STATUS_MAX = 40;

export function shortStatus(text: string, max = STATUS_MAX): string {
  return text.length <= max ? text : `${text.slice(0, max - 1).trimEnd()}…`;
}

export class ThrottledStatus {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private closed = false;

  /** `render` gives the status to show now, or undefined to leave it as it is. */
  constructor(
    private readonly node: StatusTarget,
    private readonly render: () => StatusShape | undefined,
    private readonly intervalMs = 500,
  ) {}

  /** Shows the status at the next allowed time, or at once with `now`. */
  update(now = false): void {
    if (this.closed) return;
    if (now) {
      this.clearTimer();
      this.show();
    } else if (!this.timer) {
      const wait = this.last + this.intervalMs - Date.now();
      if (wait <= 0) this.show();
      else this.timer = setTimeout(() => this.show(), wait);
    }
  }

  /** Shows `s` at once (a state that is not rendered, e.g. a configuration error). */
  set(s: StatusShape): void {
    if (this.closed) return;
    this.clearTimer();
    this.node.status(s.text === undefined ? s : { ...s, text: shortStatus(s.text) });
  }

  /** No status after this; `clear` empties the one shown (a removed node). */
  close(clear = false): void {
    this.clearTimer();
    this.closed = true;
    if (clear) this.node.status({});
  }

  private show(): void {
    this.timer = undefined;
    this.last = Date.now();
    const s = this.render();
    if (s) this.node.status(s.text === undefined ? s : { ...s, text: shortStatus(s.text) });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
