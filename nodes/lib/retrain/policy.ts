/**
 * When the retrain trigger acts: drift held for a while, a cooldown after each retrain, enough
 * new data, at most N retrains a day, never while a candidate waits for approval or a retrain
 * runs. Every evaluation gives a decision with its reason, taken or not, in words a person reads
 * in the status ("drift for 4 min, cooldown 52 min left"). Pure: the clock is a parameter, the
 * state a plain object the node persists.
 */

export interface PolicyConfig {
  /** Drift must hold this long before a retrain (ms). */
  holdMs: number;
  /** No retrain within this time after the last one (ms). */
  cooldownMs: number;
  /** New rows in the buffer since the last retrain. */
  minRows: number;
  /** Retrains within any 24 h. */
  maxPerDay: number;
}

/** What the trigger remembers between evaluations (and restarts). */
export interface PolicyState {
  /** Since when drift has been declared without a break (ms), undefined when not in drift. */
  driftSince?: number;
  /** When retrains started (ms), the last 24 h of them. */
  retrains: number[];
  /** The candidate waiting for approval. */
  pending?: { name: string; version: string; digest?: string; /** A pipeline's: the digest of the model deployed when it was asked. */ replaces?: string; since: number };
  /** A retrain is running now (not persisted: a restart ends it). */
  running?: boolean;
}

export type Reason = 'noDrift' | 'holding' | 'pending' | 'running' | 'cooldown' | 'daily' | 'data' | 'dataRequested' | 'go' | 'goRequested';

export interface Decision {
  act: boolean;
  reason: Reason;
  /** Values for the text: durations already written out ("4 min"). */
  params: Record<string, string | number>;
  /** The English text (the node translates by reason and params). */
  text: string;
  at: number;
}

const DAY = 86_400_000;

/** A duration as a person says it: "45 s", "4 min", "1 h 12 min", "2 d 3 h". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

const TEXT: Record<Reason, (p: Record<string, string | number>) => string> = {
  noDrift: (p) => `no drift (${p.state})`,
  holding: (p) => `drift for ${p.drift}, waiting until it held ${p.hold}: ${p.left} left`,
  pending: (p) => `candidate ${p.candidate} waits for approval: no retrain until it is decided`,
  running: () => 'a retrain is running',
  cooldown: (p) => `drift for ${p.drift}, cooldown ${p.left} left`,
  daily: (p) => `${p.count} retrains in the last 24 h (at most ${p.max}): next possible in ${p.left}`,
  data: (p) => `drift for ${p.drift}: ${p.rows} new rows of ${p.min} needed`,
  dataRequested: (p) => `retrain requested: ${p.rows} new rows of ${p.min} needed`,
  go: (p) => `drift for ${p.drift}, ${p.rows} new rows: retraining`,
  goRequested: (p) => `retrain requested, ${p.rows} new rows: retraining`,
};

function decision(act: boolean, reason: Reason, params: Record<string, string | number>, at: number): Decision {
  return { act, reason, params, text: TEXT[reason](params), at };
}

/** Keeps the drift clock: call with every drift report's state. */
export function observeDrift(s: PolicyState, state: string, at: number, since?: number): void {
  if (state === 'drift') s.driftSince ??= Number.isFinite(since) && since! <= at ? since : at;
  else s.driftSince = undefined;
}

/**
 * Whether to retrain now. `requested`: a person or the flow asked (msg.retrain): the hold and
 * the cooldown do not apply, the rest does (data to train on, nothing pending or running, the
 * daily maximum).
 */
export function decide(c: PolicyConfig, s: PolicyState, o: { now: number; newRows: number; requested?: boolean; state?: string }): Decision {
  const { now, newRows } = o;
  const recent = s.retrains.filter((t) => now - t < DAY);
  const drifting = s.driftSince !== undefined;
  const drift = drifting ? duration(now - s.driftSince!) : '';
  if (s.running) return decision(false, 'running', {}, now);
  if (s.pending) return decision(false, 'pending', { candidate: `${s.pending.name} ${s.pending.version}` }, now);
  if (!o.requested) {
    if (!drifting) return decision(false, 'noDrift', { state: o.state ?? 'ok' }, now);
    const held = now - s.driftSince!;
    if (held < c.holdMs) return decision(false, 'holding', { drift, hold: duration(c.holdMs), left: duration(c.holdMs - held) }, now);
    const last = recent.length ? Math.max(...recent) : -Infinity;
    if (now - last < c.cooldownMs) return decision(false, 'cooldown', { drift, left: duration(c.cooldownMs - (now - last)) }, now);
  }
  if (recent.length >= c.maxPerDay) {
    const oldest = Math.min(...recent);
    return decision(false, 'daily', { count: recent.length, max: c.maxPerDay, left: duration(DAY - (now - oldest)) }, now);
  }
  if (newRows < c.minRows) return drifting ? decision(false, 'data', { drift, rows: newRows, min: c.minRows }, now) : decision(false, 'dataRequested', { rows: newRows, min: c.minRows }, now);
  return o.requested ? decision(true, 'goRequested', { rows: newRows }, now) : decision(true, 'go', { drift, rows: newRows }, now);
}

/** Records that a retrain started now (for the cooldown and the daily maximum). */
export function started(s: PolicyState, now: number): void {
  s.retrains = [...s.retrains.filter((t) => now - t < DAY), now];
  s.running = true;
}
