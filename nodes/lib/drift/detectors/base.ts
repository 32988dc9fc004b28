/**
 * The protocol every streaming detector follows, as River's river/base/drift_detector.py:
 * `update(x)` feeds one value; `driftDetected` is true only right after the update that detected;
 * the update after a detection first resets the detector's statistics (River's
 * `if self.drift_detected: self._reset()`). `n` counts the updates since construction or the last
 * `reset()` (it is not cleared by that automatic reset); `state()` is a small plain object of
 * numbers for a report, `params()` the parameters under River's names.
 *
 * A detector implements three things: `clear()` (River's `_reset()`: its statistics as freshly
 * built), `step(x)` (takes one finite value, true on a drift) and `stats()` (its part of `state()`).
 */
import { DriftError } from '../errors';
import type { DetectorKind } from './index';

/**
 * A report of a detector's state: numbers only. Every detector sets `statistic` (what it tests),
 * `threshold` (what that is compared with), `width` (values it currently bases the test on) and
 * `detections` (drifts since construction or `reset()`).
 */
export type DetectorState = Record<string, number>;

export interface StreamingDetector {
  readonly kind: DetectorKind;
  /** Feeds one value (finite number; DDM: 0 or 1, 1 = error). */
  update(x: number): void;
  /** True only right after the update that detected a drift. */
  readonly driftDetected: boolean;
  /** DDM's warning zone; always false for the detectors without one. */
  readonly warningDetected: boolean;
  /** Back to the freshly constructed state (also clears `n` and the detection count). */
  reset(): void;
  /** Updates since construction or the last `reset()`. */
  readonly n: number;
  state(): DetectorState;
  /** The parameters under River's names (snake_case). */
  params(): Record<string, number | string>;
}

/** A parameter a detector cannot work with: says what was expected. */
export class DetectorParamError extends DriftError {}

/** A parameter as River names it (`name`) and as the options object does (`option`); `text`: not a number. */
export interface ParamSpec {
  readonly name: string;
  readonly option: string;
  readonly text?: boolean;
}

/** What createDetector needs of a detector class. */
export interface DetectorClass {
  /** The name in texts, e.g. 'Page-Hinkley'. */
  readonly label: string;
  readonly params: readonly ParamSpec[];
  new (options?: Record<string, number | string>): StreamingDetector;
}

export function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

export const isInt = (v: number): boolean => Number.isInteger(v);

export abstract class Detector implements StreamingDetector {
  abstract readonly kind: DetectorKind;
  /** DDM's warning zone, set by its step(); cleared with the statistics. */
  protected warning = false;
  private detected = false;
  private updates = 0;
  private detections = 0;

  get driftDetected(): boolean {
    return this.detected;
  }
  get warningDetected(): boolean {
    return this.warning;
  }
  get n(): number {
    return this.updates;
  }

  update(x: number): void {
    if (!Number.isFinite(x)) throw new RangeError(`expected a finite number to update the detector, got ${String(x)}`);
    if (this.detected) this.restart();
    this.updates++;
    if (this.step(x)) {
      this.detected = true;
      this.detections++;
    }
  }

  reset(): void {
    this.restart();
    this.updates = 0;
    this.detections = 0;
  }

  state(): DetectorState {
    return { ...this.stats(), detections: this.detections };
  }

  params(): Record<string, number | string> {
    const out: Record<string, number | string> = {};
    const self = this as unknown as Record<string, number | string | undefined>;
    for (const p of (this.constructor as unknown as DetectorClass).params) {
      const v = self[p.option];
      if (v !== undefined) out[p.name] = v;
    }
    return out;
  }

  /** River's `_reset()`: the statistics of a fresh detector (after a detection and on `reset()`). */
  protected abstract clear(): void;
  /** Takes one finite value; true when it detects a drift. */
  protected abstract step(x: number): boolean;
  /** The detector's own part of `state()`. */
  protected abstract stats(): DetectorState;

  /** Throws DetectorParamError `expected <label> <name> <expected>, got <v>` unless ok. */
  protected check(name: string, v: number | string, ok: boolean, expected: string): void {
    if (ok) return;
    const label = (this.constructor as unknown as DetectorClass).label;
    throw new DetectorParamError('param', { detector: label, name, expected, got: show(v) }, `expected ${label} ${name} ${expected}, got ${show(v)}`);
  }

  private restart(): void {
    this.clear();
    this.detected = false;
    this.warning = false;
  }
}
