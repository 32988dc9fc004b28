import { Detector, type DetectorState, isInt, type ParamSpec } from './base';

export interface DDMOptions {
  /** Updates before a warning or drift can be signalled. Default 30. */
  warmStart?: number;
  /** Warning when p + s > p_min + warning_threshold * s_min. Default 2. */
  warningThreshold?: number;
  /** Drift when p + s > p_min + drift_threshold * s_min. Default 3. */
  driftThreshold?: number;
}

/**
 * DDM (Gama et al. 2004) as River's river/drift/binary/ddm.py on a 0/1 error stream (1 = error):
 * p_i the running error rate, s_i = sqrt(p_i (1 - p_i) / i); after warm_start updates, p_min and
 * s_min are taken where p_i + s_i is smallest (ties: the latest), warning when
 * p_i + s_i > p_min + warning_threshold s_min, drift when p_i + s_i > p_min + drift_threshold s_min
 * (a drift clears the warning); the update after a drift starts over.
 */
export class DDM extends Detector {
  static readonly label = 'DDM';
  static readonly params: readonly ParamSpec[] = [
    { name: 'warm_start', option: 'warmStart' },
    { name: 'warning_threshold', option: 'warningThreshold' },
    { name: 'drift_threshold', option: 'driftThreshold' },
  ];
  readonly kind = 'ddm' as const;
  readonly warmStart: number;
  readonly warningThreshold: number;
  readonly driftThreshold: number;

  private count = 0;
  private p = 0;
  private s = 0;
  private pMin = NaN;
  private sMin = NaN;
  private psMin = Infinity;

  constructor(o: DDMOptions = {}) {
    super();
    const warmStart = o.warmStart ?? 30;
    const warningThreshold = o.warningThreshold ?? 2;
    const driftThreshold = o.driftThreshold ?? 3;
    this.check('warm_start', warmStart, isInt(warmStart) && warmStart >= 0, 'an integer of at least 0');
    this.check('warning_threshold', warningThreshold, Number.isFinite(warningThreshold) && warningThreshold > 0, 'a positive number');
    this.check('drift_threshold', driftThreshold, Number.isFinite(driftThreshold) && driftThreshold > 0, 'a positive number');
    this.warmStart = warmStart;
    this.warningThreshold = warningThreshold;
    this.driftThreshold = driftThreshold;
  }

  protected step(x: number): boolean {
    this.count += 1;
    this.p += (1 / this.count) * (x - this.p);
    const p = this.p;
    const s = Math.sqrt((p * (1 - p)) / this.count);
    this.s = s;
    if (this.count <= this.warmStart) return false;
    if (p + s <= this.psMin) {
      this.pMin = p;
      this.sMin = s;
      this.psMin = p + s;
    }
    this.warning = p + s > this.pMin + this.warningThreshold * this.sMin;
    if (!(p + s > this.pMin + this.driftThreshold * this.sMin)) return false;
    this.warning = false;
    return true;
  }

  protected stats(): DetectorState {
    return {
      statistic: this.p + this.s,
      threshold: this.pMin + this.driftThreshold * this.sMin,
      warningThreshold: this.pMin + this.warningThreshold * this.sMin,
      errorRate: this.p,
      std: this.s,
      pMin: this.pMin,
      sMin: this.sMin,
      width: this.count,
    };
  }

  protected clear(): void {
    this.count = 0;
    this.p = 0;
    this.s = 0;
    this.pMin = NaN;
    this.sMin = NaN;
    this.psMin = Infinity;
  }
}
