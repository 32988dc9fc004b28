import { Detector, type DetectorState, isInt, type ParamSpec } from './base';

export interface ADWINOptions {
  /** Significance value, in (0, 1). Default 0.002. */
  delta?: number;
  /** Updates between two cut tests. Default 32. */
  clock?: number;
  /** Buckets of each size kept before two are merged. Default 5. */
  maxBuckets?: number;
  /** Smallest sub-window a cut may leave on either side. Default 5. */
  minWindowLength?: number;
  /** No cut test while the window has at most this many values. Default 10. */
  gracePeriod?: number;
}

/**
 * ADWIN (Bifet & Gavaldà 2007) as River's river/drift/adwin.py and adwin_c.pyx (current version):
 * an exponential histogram of buckets (row i holds up to max_buckets + 1 buckets of 2^i values
 * each, oldest first; a row that reaches max_buckets + 1 merges its two oldest into the next row),
 * the window's total and variance (sum of squared deviations, Babcock et al. 2003) kept
 * incrementally; every `clock` updates, once the window is longer than grace_period, every cut
 * between buckets, oldest to newest, is tested with
 *   |mu0 - mu1| > sqrt(2 m var/width delta') + 2/3 delta' m,
 *   delta' = ln(2 ln(width) / delta), m = 1/(n0 - min_window_length + 1) + 1/(n1 - min_window_length + 1),
 * for cuts with both sides >= min_window_length. On a cut the oldest bucket is dropped and the scan
 * starts over, until no cut holds; the update after a detection then drops the whole window
 * (River rebuilds its helper).
 */
export class ADWIN extends Detector {
  static readonly label = 'ADWIN';
  static readonly params: readonly ParamSpec[] = [
    { name: 'delta', option: 'delta' },
    { name: 'clock', option: 'clock' },
    { name: 'max_buckets', option: 'maxBuckets' },
    { name: 'min_window_length', option: 'minWindowLength' },
    { name: 'grace_period', option: 'gracePeriod' },
  ];
  readonly kind = 'adwin' as const;
  readonly delta: number;
  readonly clock: number;
  readonly maxBuckets: number;
  readonly minWindowLength: number;
  readonly gracePeriod: number;

  private readonly stride: number;
  private rowCap = 0;
  private totals = new Float64Array(0);
  private variances = new Float64Array(0);
  private counts = new Int32Array(0);
  private pow2 = new Float64Array(0);
  private rows = 1;
  private width = 0;
  private total = 0;
  private variance = 0;
  private tick = 0;
  /** Largest |mu0 - mu1| / epsilon over the cuts of the last test (drift when > 1). */
  private lastRatio = 0;

  constructor(o: ADWINOptions = {}) {
    super();
    const delta = o.delta ?? 0.002;
    const clock = o.clock ?? 32;
    const maxBuckets = o.maxBuckets ?? 5;
    const minWindowLength = o.minWindowLength ?? 5;
    const gracePeriod = o.gracePeriod ?? 10;
    this.check('delta', delta, delta > 0 && delta < 1, 'in (0, 1)');
    this.check('clock', clock, isInt(clock) && clock >= 1, 'an integer of at least 1');
    this.check('max_buckets', maxBuckets, isInt(maxBuckets) && maxBuckets >= 1 && maxBuckets <= 1000, 'an integer from 1 to 1000');
    this.check('min_window_length', minWindowLength, isInt(minWindowLength) && minWindowLength >= 1, 'an integer of at least 1');
    this.check('grace_period', gracePeriod, isInt(gracePeriod) && gracePeriod >= 0, 'an integer of at least 0');
    this.delta = delta;
    this.clock = clock;
    this.maxBuckets = maxBuckets;
    this.minWindowLength = minWindowLength;
    this.gracePeriod = gracePeriod;
    this.stride = maxBuckets + 1;
    this.grow(8); // doubles when needed: ~log2(width / max_buckets) rows
    this.clear();
  }

  /** Values in the window. */
  get windowWidth(): number {
    return this.width;
  }
  /** Mean of the window (0 when empty). */
  get estimation(): number {
    return this.width === 0 ? 0 : this.total / this.width;
  }

  protected step(x: number): boolean {
    this.insert(x);
    return this.detect();
  }

  protected stats(): DetectorState {
    return {
      statistic: this.lastRatio,
      threshold: 1,
      width: this.width,
      estimation: this.estimation,
      total: this.total,
      variance: this.variance,
      varianceInWindow: this.width === 0 ? 0 : this.variance / this.width,
      buckets: this.bucketCount(),
    };
  }

  /** River's AdaptiveWindowing freshly built: one empty row, no statistics. */
  protected clear(): void {
    this.counts.fill(0);
    this.rows = 1;
    this.width = 0;
    this.total = 0;
    this.variance = 0;
    this.tick = 0;
    this.lastRatio = 0;
  }

  private bucketCount(): number {
    let c = 0;
    for (let i = 0; i < this.rows; i++) c += this.counts[i];
    return c;
  }

  /** Room for `cap` rows (row i: buckets of 2^i values; 8 rows hold 5 * 255 values, 32 over 10^10). */
  private grow(cap: number): void {
    const totals = new Float64Array(cap * this.stride);
    const variances = new Float64Array(cap * this.stride);
    const counts = new Int32Array(cap);
    const pow2 = new Float64Array(cap);
    totals.set(this.totals);
    variances.set(this.variances);
    counts.set(this.counts);
    for (let i = 0; i < cap; i++) pow2[i] = Math.pow(2, i);
    this.totals = totals;
    this.variances = variances;
    this.counts = counts;
    this.pow2 = pow2;
    this.rowCap = cap;
  }

  private insert(value: number): void {
    const c0 = this.counts[0];
    this.totals[c0] = value;
    this.variances[c0] = 0;
    this.counts[0] = c0 + 1;
    this.width += 1;
    let inc = 0;
    if (this.width > 1) {
      const d = value - this.total / (this.width - 1);
      inc = ((this.width - 1) * d * d) / this.width;
    }
    this.variance += inc;
    this.total += value;
    this.compress();
  }

  /** A row with max_buckets + 1 buckets merges its two oldest into one bucket of the next row. */
  private compress(): void {
    const full = this.maxBuckets + 1;
    for (let idx = 0; idx < this.rows; idx++) {
      if (this.counts[idx] !== full) break;
      if (idx + 1 === this.rows) {
        if (this.rows === this.rowCap) this.grow(this.rowCap * 2);
        this.rows++; // its count is 0
      }
      if (this.mergeOldestTwo(idx)) break;
    }
  }

  /** Merges row idx's two oldest buckets into a new bucket of row idx + 1; true when that row is not full. */
  private mergeOldestTwo(idx: number): boolean {
    const totals = this.totals;
    const variances = this.variances;
    const counts = this.counts;
    const base = idx * this.stride;
    const n1 = this.pow2[idx];
    const t0 = totals[base];
    const t1 = totals[base + 1];
    const mu1 = t0 / n1;
    const mu2 = t1 / n1;
    const v12 = variances[base] + variances[base + 1] + n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2);
    const next = base + this.stride;
    const cn = counts[idx + 1];
    totals[next + cn] = t0 + t1;
    variances[next + cn] = v12;
    counts[idx + 1] = cn + 1;
    const k = counts[idx];
    for (let i = 2; i < k; i++) {
      totals[base + i - 2] = totals[base + i];
      variances[base + i - 2] = variances[base + i];
    }
    counts[idx] = k - 2;
    return cn + 1 <= this.maxBuckets;
  }

  /** Drops the oldest bucket (row rows - 1, position 0); returns its size. */
  private deleteOldest(): number {
    const last = this.rows - 1;
    const base = last * this.stride;
    const n = this.pow2[last];
    const u = this.totals[base];
    const mu = u / n;
    const v = this.variances[base];
    this.width -= n;
    this.total -= u;
    const muW = this.total / this.width;
    this.variance -= v + (n * this.width * (mu - muW) * (mu - muW)) / (n + this.width);
    const k = this.counts[last];
    for (let i = 1; i < k; i++) {
      this.totals[base + i - 1] = this.totals[base + i];
      this.variances[base + i - 1] = this.variances[base + i];
    }
    this.counts[last] = k - 1;
    if (k - 1 === 0) this.rows--;
    return n;
  }

  private detect(): boolean {
    let change = false;
    this.tick++;
    if (this.tick % this.clock !== 0 || !(this.width > this.gracePeriod)) return false;
    const mwl = this.minWindowLength;
    const stride = this.stride;
    let ratio = 0;
    let reduce = true;
    while (reduce) {
      reduce = false;
      let exit = false;
      let n0 = 0;
      let n1 = this.width;
      let u0 = 0;
      let u1 = this.total;
      // constant until a bucket is dropped, which ends the pass
      const deltaPrime = Math.log((2 * Math.log(this.width)) / this.delta);
      const varInWindow = this.variance / this.width;
      for (let idx = this.rows - 1; idx >= 0 && !exit; idx--) {
        const size = this.pow2[idx];
        const count = this.counts[idx];
        const base = idx * stride;
        for (let k = 0; k < count; k++) {
          n0 += size;
          n1 -= size;
          const t = this.totals[base + k];
          u0 += t;
          u1 -= t;
          if (idx === 0 && k === count - 1) {
            exit = true;
            break;
          }
          const deltaMean = u0 / n0 - u1 / n1;
          if (n1 >= mwl && n0 >= mwl) {
            const m = 1 / (n0 - mwl + 1) + 1 / (n1 - mwl + 1);
            const epsilon = Math.sqrt(2 * m * varInWindow * deltaPrime) + (2 / 3) * deltaPrime * m;
            const r = Math.abs(deltaMean) / epsilon;
            if (r > ratio) ratio = r;
            if (Math.abs(deltaMean) > epsilon) {
              reduce = true;
              change = true;
              if (this.width > 0) {
                n0 -= this.deleteOldest();
                exit = true;
                break;
              }
            }
          }
        }
      }
    }
    this.lastRatio = ratio;
    return change;
  }
}
