import { Detector, type DetectorState, isInt, type ParamSpec } from './base';

export type PageHinkleyMode = 'up' | 'down' | 'both';

export interface PageHinkleyOptions {
  /** Updates before a drift can be signalled. Default 30. */
  minInstances?: number;
  /** Magnitude of changes tolerated. Default 0.005. */
  delta?: number;
  /** Detection threshold (lambda). Default 50. */
  threshold?: number;
  /** Forgetting factor of the cumulative sums, in (0, 1]. Default 1 - 0.0001. */
  alpha?: number;
  /** Increases ('up'), decreases ('down') or both. Default 'both'. */
  mode?: PageHinkleyMode;
}

/**
 * Page-Hinkley as River's river/drift/page_hinkley.py: with the running mean m_t,
 *   U_t = alpha U_{t-1} + (x_t - m_t) - delta,  L_t = alpha L_{t-1} + (x_t - m_t) + delta,
 * drift when U_t - min U > threshold ('up') or max L - L_t > threshold ('down'), from the
 * min_instances-th update on. As in River, min U starts at +inf and max L at -1.
 */
export class PageHinkley extends Detector {
  static readonly label = 'Page-Hinkley';
  static readonly params: readonly ParamSpec[] = [
    { name: 'min_instances', option: 'minInstances' },
    { name: 'delta', option: 'delta' },
    { name: 'threshold', option: 'threshold' },
    { name: 'alpha', option: 'alpha' },
    { name: 'mode', option: 'mode', text: true },
  ];
  readonly kind = 'page-hinkley' as const;
  readonly minInstances: number;
  readonly delta: number;
  readonly threshold: number;
  readonly alpha: number;
  readonly mode: PageHinkleyMode;
  private readonly up: boolean;
  private readonly down: boolean;

  private count = 0;
  private mean = 0;
  private sumIncrease = 0;
  private sumDecrease = 0;
  private minIncrease = Infinity;
  private maxDecrease = -1;

  constructor(o: PageHinkleyOptions = {}) {
    super();
    const minInstances = o.minInstances ?? 30;
    const delta = o.delta ?? 0.005;
    const threshold = o.threshold ?? 50;
    const alpha = o.alpha ?? 1 - 0.0001;
    const mode = o.mode ?? 'both';
    this.check('min_instances', minInstances, isInt(minInstances) && minInstances >= 1, 'an integer of at least 1');
    this.check('delta', delta, Number.isFinite(delta) && delta >= 0, 'a number of at least 0');
    this.check('threshold', threshold, Number.isFinite(threshold) && threshold > 0, 'a positive number');
    this.check('alpha', alpha, alpha > 0 && alpha <= 1, 'in (0, 1]');
    this.check('mode', mode, mode === 'up' || mode === 'down' || mode === 'both', 'up | down | both');
    this.minInstances = minInstances;
    this.delta = delta;
    this.threshold = threshold;
    this.alpha = alpha;
    this.mode = mode;
    this.up = mode !== 'down';
    this.down = mode !== 'up';
  }

  protected step(x: number): boolean {
    this.count += 1;
    this.mean += (1 / this.count) * (x - this.mean);
    const dev = x - this.mean;
    this.sumIncrease = this.alpha * this.sumIncrease + dev - this.delta;
    this.sumDecrease = this.alpha * this.sumDecrease + dev + this.delta;
    if (this.sumIncrease < this.minIncrease) this.minIncrease = this.sumIncrease;
    if (this.sumDecrease > this.maxDecrease) this.maxDecrease = this.sumDecrease;
    if (this.count < this.minInstances) return false;
    return (this.up && this.sumIncrease - this.minIncrease > this.threshold) || (this.down && this.maxDecrease - this.sumDecrease > this.threshold);
  }

  protected stats(): DetectorState {
    const testIncrease = this.count === 0 ? 0 : this.sumIncrease - this.minIncrease;
    const testDecrease = this.count === 0 ? 0 : this.maxDecrease - this.sumDecrease;
    return {
      statistic: this.mode === 'up' ? testIncrease : this.mode === 'down' ? testDecrease : Math.max(testIncrease, testDecrease),
      threshold: this.threshold,
      width: this.count,
      mean: this.mean,
      sumIncrease: this.sumIncrease,
      minIncrease: this.count === 0 ? 0 : this.minIncrease,
      testIncrease,
      sumDecrease: this.sumDecrease,
      maxDecrease: this.maxDecrease,
      testDecrease,
    };
  }

  protected clear(): void {
    this.count = 0;
    this.mean = 0;
    this.sumIncrease = 0;
    this.sumDecrease = 0;
    this.minIncrease = Infinity;
    this.maxDecrease = -1;
  }
}
