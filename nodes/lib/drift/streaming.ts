/**
 * Streaming drift detectors that reproduce River's (https://github.com/online-ml/river, river/drift/)
 * detection points: ADWIN, Page-Hinkley, KSWIN and DDM, one small class each, no dependencies.
 *
 * Every detector follows River's protocol: `update(x)` feeds one value; `driftDetected` is true only
 * right after the update that detected; the update after a detection first resets the detector's
 * statistics, as River's detectors do (River's `if self.drift_detected: self._reset()`). `n` counts
 * the updates since construction or the last `reset()` (it is not cleared by that automatic reset),
 * `state()` is a small plain object of numbers for a report.
 *
 * Checked against the indices River's doctests print on the same streams
 * (test/unit/drift-streaming.test.ts, fixture built by scripts/fixtures/river_streams.py).
 *
 * `update` allocates nothing (but for the small result object of KSWIN's two-sample test, ./ks).
 */
import { DriftError } from './errors';
import { mulberry32 } from '../random';
import { ks2sampSorted } from './ks';

export type DetectorKind = 'adwin' | 'page-hinkley' | 'kswin' | 'ddm';
export const DETECTOR_KINDS: readonly DetectorKind[] = ['adwin', 'page-hinkley', 'kswin', 'ddm'];

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
}

/** A parameter a detector cannot work with: says what was expected. */
export class DetectorParamError extends DriftError {}

const LABEL: Record<DetectorKind, string> = { adwin: 'ADWIN', 'page-hinkley': 'Page-Hinkley', kswin: 'KSWIN', ddm: 'DDM' };

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

function check(kind: DetectorKind, name: string, v: number, ok: boolean, expected: string): void {
  if (!ok) {
    throw new DetectorParamError('param', { detector: LABEL[kind], name, expected, got: show(v) }, `expected ${LABEL[kind]} ${name} ${expected}, got ${show(v)}`);
  }
}

const isInt = (v: number): boolean => Number.isInteger(v);

function badValue(x: number): never {
  throw new RangeError(`expected a finite number to update the detector, got ${String(x)}`);
}

// ---------------------------------------------------------------------------
// ADWIN
// ---------------------------------------------------------------------------

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
export class ADWIN implements StreamingDetector {
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
  private detected = false;
  private updates = 0;
  private detections = 0;
  /** Largest |mu0 - mu1| / epsilon over the cuts of the last test (drift when > 1). */
  private lastRatio = 0;

  constructor(o: ADWINOptions = {}) {
    const delta = o.delta ?? 0.002;
    const clock = o.clock ?? 32;
    const maxBuckets = o.maxBuckets ?? 5;
    const minWindowLength = o.minWindowLength ?? 5;
    const gracePeriod = o.gracePeriod ?? 10;
    check('adwin', 'delta', delta, delta > 0 && delta < 1, 'in (0, 1)');
    check('adwin', 'clock', clock, isInt(clock) && clock >= 1, 'an integer of at least 1');
    check('adwin', 'max_buckets', maxBuckets, isInt(maxBuckets) && maxBuckets >= 1 && maxBuckets <= 1000, 'an integer from 1 to 1000');
    check('adwin', 'min_window_length', minWindowLength, isInt(minWindowLength) && minWindowLength >= 1, 'an integer of at least 1');
    check('adwin', 'grace_period', gracePeriod, isInt(gracePeriod) && gracePeriod >= 0, 'an integer of at least 0');
    this.delta = delta;
    this.clock = clock;
    this.maxBuckets = maxBuckets;
    this.minWindowLength = minWindowLength;
    this.gracePeriod = gracePeriod;
    this.stride = maxBuckets + 1;
    this.grow(8); // doubles when needed: ~log2(width / max_buckets) rows
    this.clearWindow();
  }

  get driftDetected(): boolean {
    return this.detected;
  }
  get warningDetected(): boolean {
    return false;
  }
  get n(): number {
    return this.updates;
  }
  /** Values in the window. */
  get windowWidth(): number {
    return this.width;
  }
  /** Mean of the window (0 when empty). */
  get estimation(): number {
    return this.width === 0 ? 0 : this.total / this.width;
  }

  update(x: number): void {
    if (!Number.isFinite(x)) badValue(x);
    if (this.detected) this.clearWindow();
    this.updates++;
    this.insert(x);
    this.detected = this.detect();
    if (this.detected) this.detections++;
  }

  reset(): void {
    this.clearWindow();
    this.updates = 0;
    this.detections = 0;
  }

  state(): DetectorState {
    return {
      statistic: this.lastRatio,
      threshold: 1,
      width: this.width,
      estimation: this.estimation,
      total: this.total,
      variance: this.variance,
      varianceInWindow: this.width === 0 ? 0 : this.variance / this.width,
      buckets: this.bucketCount(),
      detections: this.detections,
    };
  }

  /** River's AdaptiveWindowing freshly built: one empty row, no statistics. */
  private clearWindow(): void {
    this.counts.fill(0);
    this.rows = 1;
    this.width = 0;
    this.total = 0;
    this.variance = 0;
    this.tick = 0;
    this.detected = false;
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

// ---------------------------------------------------------------------------
// Page-Hinkley
// ---------------------------------------------------------------------------

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
export class PageHinkley implements StreamingDetector {
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
  private detected = false;
  private updates = 0;
  private detections = 0;

  constructor(o: PageHinkleyOptions = {}) {
    const minInstances = o.minInstances ?? 30;
    const delta = o.delta ?? 0.005;
    const threshold = o.threshold ?? 50;
    const alpha = o.alpha ?? 1 - 0.0001;
    const mode = o.mode ?? 'both';
    check('page-hinkley', 'min_instances', minInstances, isInt(minInstances) && minInstances >= 1, 'an integer of at least 1');
    check('page-hinkley', 'delta', delta, Number.isFinite(delta) && delta >= 0, 'a number of at least 0');
    check('page-hinkley', 'threshold', threshold, Number.isFinite(threshold) && threshold > 0, 'a positive number');
    check('page-hinkley', 'alpha', alpha, alpha > 0 && alpha <= 1, 'in (0, 1]');
    if (mode !== 'up' && mode !== 'down' && mode !== 'both') {
      throw new DetectorParamError('param', { detector: 'Page-Hinkley', name: 'mode', expected: 'up | down | both', got: show(mode) }, `expected Page-Hinkley mode up | down | both, got ${show(mode)}`);
    }
    this.minInstances = minInstances;
    this.delta = delta;
    this.threshold = threshold;
    this.alpha = alpha;
    this.mode = mode;
    this.up = mode !== 'down';
    this.down = mode !== 'up';
  }

  get driftDetected(): boolean {
    return this.detected;
  }
  get warningDetected(): boolean {
    return false;
  }
  get n(): number {
    return this.updates;
  }

  update(x: number): void {
    if (!Number.isFinite(x)) badValue(x);
    if (this.detected) this.clearSums();
    this.updates++;
    this.count += 1;
    this.mean += (1 / this.count) * (x - this.mean);
    const dev = x - this.mean;
    this.sumIncrease = this.alpha * this.sumIncrease + dev - this.delta;
    this.sumDecrease = this.alpha * this.sumDecrease + dev + this.delta;
    if (this.sumIncrease < this.minIncrease) this.minIncrease = this.sumIncrease;
    if (this.sumDecrease > this.maxDecrease) this.maxDecrease = this.sumDecrease;
    if (this.count >= this.minInstances) {
      this.detected =
        (this.up && this.sumIncrease - this.minIncrease > this.threshold) || (this.down && this.maxDecrease - this.sumDecrease > this.threshold);
      if (this.detected) this.detections++;
    }
  }

  reset(): void {
    this.clearSums();
    this.updates = 0;
    this.detections = 0;
  }

  state(): DetectorState {
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
      detections: this.detections,
    };
  }

  private clearSums(): void {
    this.count = 0;
    this.mean = 0;
    this.sumIncrease = 0;
    this.sumDecrease = 0;
    this.minIncrease = Infinity;
    this.maxDecrease = -1;
    this.detected = false;
  }
}

// ---------------------------------------------------------------------------
// KSWIN
// ---------------------------------------------------------------------------

/** Inserts v into a[0 .. len - 1] (sorted ascending), giving a sorted a[0 .. len]. */
function insertSorted(a: Float64Array, len: number, v: number): void {
  let j = len;
  while (j > 0 && a[j - 1] > v) {
    a[j] = a[j - 1];
    j--;
  }
  a[j] = v;
}

export interface KSWINOptions {
  /** Significance of the KS test, in (0, 1). Default 0.005. */
  alpha?: number;
  /** Sliding window length. Default 100. */
  windowSize?: number;
  /** Most recent values tested against a sample of the older ones. Default 30. */
  statSize?: number;
  /**
   * Seed of the sample drawn from the older part of the window (mulberry32, reseeded at every
   * reset as River reseeds Python's random). Unset: a new random seed at every reset, like
   * River's default seed=None.
   */
  seed?: number;
}

/**
 * KSWIN (Raab et al. 2020) as River's river/drift/kswin.py: a window of the last window_size
 * values; once full, on every update stat_size values drawn without replacement from its first
 * window_size - stat_size are compared with its last stat_size by the two-sample KS test
 * (scipy.stats.ks_2samp, method 'auto', see ./ks); drift when p <= alpha and the statistic > 0.1.
 * On a drift the window keeps only the last stat_size values, and the next update resets it all.
 * River draws the sample with Python's random (not reproducible in JavaScript); here mulberry32.
 */
export class KSWIN implements StreamingDetector {
  readonly kind = 'kswin' as const;
  readonly alpha: number;
  readonly windowSize: number;
  readonly statSize: number;
  readonly seed: number | undefined;

  private readonly buf: Float64Array;
  private start = 0;
  private len = 0;
  /** Indices 0 .. window_size - stat_size - 1, partially shuffled in place for each sample. */
  private readonly perm: Int32Array;
  /** The drawn sample and the most recent values, each kept sorted as it is filled. */
  private readonly sample: Float64Array;
  private readonly recent: Float64Array;
  private rng: () => number;
  private detected = false;
  private updates = 0;
  private detections = 0;
  private statistic = NaN;
  private pValue = NaN;

  constructor(o: KSWINOptions = {}) {
    const alpha = o.alpha ?? 0.005;
    const windowSize = o.windowSize ?? 100;
    const statSize = o.statSize ?? 30;
    check('kswin', 'alpha', alpha, alpha > 0 && alpha < 1, 'in (0, 1)');
    check('kswin', 'stat_size', statSize, isInt(statSize) && statSize >= 1, 'an integer of at least 1');
    check('kswin', 'window_size', windowSize, isInt(windowSize) && windowSize >= 2 * statSize && windowSize <= 1e7, `an integer of at least 2 * stat_size = ${2 * statSize} (the sample is drawn from the first window_size - stat_size values)`);
    if (o.seed !== undefined) check('kswin', 'seed', o.seed, isInt(o.seed), 'an integer');
    this.alpha = alpha;
    this.windowSize = windowSize;
    this.statSize = statSize;
    this.seed = o.seed;
    this.buf = new Float64Array(windowSize);
    this.perm = new Int32Array(windowSize - statSize);
    this.sample = new Float64Array(statSize);
    this.recent = new Float64Array(statSize);
    this.rng = this.newRng();
  }

  get driftDetected(): boolean {
    return this.detected;
  }
  get warningDetected(): boolean {
    return false;
  }
  get n(): number {
    return this.updates;
  }

  update(x: number): void {
    if (!Number.isFinite(x)) badValue(x);
    if (this.detected) this.clearWindow();
    this.updates++;
    const W = this.windowSize;
    const buf = this.buf;
    if (this.len < W) {
      let at = this.start + this.len;
      if (at >= W) at -= W;
      buf[at] = x;
      this.len++;
    } else {
      buf[this.start] = x;
      this.start = this.start + 1 === W ? 0 : this.start + 1;
    }
    if (this.len < W) return; // not enough values for a test yet

    const S = this.statSize;
    const P = W - S;
    const perm = this.perm;
    const start = this.start;
    for (let i = 0; i < S; i++) {
      const j = i + Math.floor(this.rng() * (P - i));
      const pj = perm[j];
      perm[j] = perm[i];
      perm[i] = pj;
      let at = start + pj;
      if (at >= W) at -= W;
      insertSorted(this.sample, i, buf[at]);
    }
    for (let i = 0; i < S; i++) {
      let at = start + P + i;
      if (at >= W) at -= W;
      insertSorted(this.recent, i, buf[at]);
    }
    // the same statistic and p-value as ks2samp (scipy.stats.ks_2samp), without its copies
    const r = ks2sampSorted(this.sample, this.recent);
    this.statistic = r.statistic;
    this.pValue = r.pValue;
    if (r.pValue <= this.alpha && r.statistic > 0.1) {
      this.detected = true;
      this.detections++;
      // River: window = deque(most_recent); the next update resets it anyway
      this.start = start + P >= W ? start + P - W : start + P;
      this.len = S;
    }
  }

  reset(): void {
    this.clearWindow();
    this.updates = 0;
    this.detections = 0;
  }

  state(): DetectorState {
    return {
      statistic: this.statistic,
      pValue: this.pValue,
      threshold: this.alpha,
      minStatistic: 0.1,
      width: this.len,
      detections: this.detections,
    };
  }

  private newRng(): () => number {
    for (let i = 0; i < this.perm.length; i++) this.perm[i] = i;
    const seed = this.seed ?? Math.floor(Math.random() * 4294967296);
    return mulberry32(seed);
  }

  private clearWindow(): void {
    this.start = 0;
    this.len = 0;
    this.detected = false;
    this.statistic = NaN;
    this.pValue = NaN;
    this.rng = this.newRng();
  }
}

// ---------------------------------------------------------------------------
// DDM
// ---------------------------------------------------------------------------

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
export class DDM implements StreamingDetector {
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
  private detected = false;
  private warning = false;
  private updates = 0;
  private detections = 0;

  constructor(o: DDMOptions = {}) {
    const warmStart = o.warmStart ?? 30;
    const warningThreshold = o.warningThreshold ?? 2;
    const driftThreshold = o.driftThreshold ?? 3;
    check('ddm', 'warm_start', warmStart, isInt(warmStart) && warmStart >= 0, 'an integer of at least 0');
    check('ddm', 'warning_threshold', warningThreshold, Number.isFinite(warningThreshold) && warningThreshold > 0, 'a positive number');
    check('ddm', 'drift_threshold', driftThreshold, Number.isFinite(driftThreshold) && driftThreshold > 0, 'a positive number');
    this.warmStart = warmStart;
    this.warningThreshold = warningThreshold;
    this.driftThreshold = driftThreshold;
  }

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
    if (!Number.isFinite(x)) badValue(x);
    if (this.detected) this.clearStats();
    this.updates++;
    this.count += 1;
    this.p += (1 / this.count) * (x - this.p);
    const p = this.p;
    const s = Math.sqrt((p * (1 - p)) / this.count);
    this.s = s;
    if (this.count > this.warmStart) {
      if (p + s <= this.psMin) {
        this.pMin = p;
        this.sMin = s;
        this.psMin = p + s;
      }
      this.warning = p + s > this.pMin + this.warningThreshold * this.sMin;
      if (p + s > this.pMin + this.driftThreshold * this.sMin) {
        this.detected = true;
        this.warning = false;
        this.detections++;
      }
    }
  }

  reset(): void {
    this.clearStats();
    this.updates = 0;
    this.detections = 0;
  }

  state(): DetectorState {
    return {
      statistic: this.p + this.s,
      threshold: this.pMin + this.driftThreshold * this.sMin,
      warningThreshold: this.pMin + this.warningThreshold * this.sMin,
      errorRate: this.p,
      std: this.s,
      pMin: this.pMin,
      sMin: this.sMin,
      width: this.count,
      detections: this.detections,
    };
  }

  private clearStats(): void {
    this.count = 0;
    this.p = 0;
    this.s = 0;
    this.pMin = NaN;
    this.sMin = NaN;
    this.psMin = Infinity;
    this.detected = false;
    this.warning = false;
  }
}

// ---------------------------------------------------------------------------
// createDetector
// ---------------------------------------------------------------------------

type Spec = { name: string; option: string; text?: boolean };

/** River's parameter names (snake_case); camelCase spellings are accepted too. */
const PARAMS: Record<DetectorKind, Spec[]> = {
  adwin: [
    { name: 'delta', option: 'delta' },
    { name: 'clock', option: 'clock' },
    { name: 'max_buckets', option: 'maxBuckets' },
    { name: 'min_window_length', option: 'minWindowLength' },
    { name: 'grace_period', option: 'gracePeriod' },
  ],
  'page-hinkley': [
    { name: 'min_instances', option: 'minInstances' },
    { name: 'delta', option: 'delta' },
    { name: 'threshold', option: 'threshold' },
    { name: 'alpha', option: 'alpha' },
    { name: 'mode', option: 'mode', text: true },
  ],
  kswin: [
    { name: 'alpha', option: 'alpha' },
    { name: 'window_size', option: 'windowSize' },
    { name: 'stat_size', option: 'statSize' },
    { name: 'seed', option: 'seed' },
  ],
  ddm: [
    { name: 'warm_start', option: 'warmStart' },
    { name: 'warning_threshold', option: 'warningThreshold' },
    { name: 'drift_threshold', option: 'driftThreshold' },
  ],
};

function snake(key: string): string {
  return key
    .trim()
    .replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
    .replace(/-/g, '_');
}

/**
 * A detector of `kind` with River's defaults, overridden by `params` (River's names, e.g.
 * { delta: 0.01, grace_period: 30 }, or camelCase; numbers may come as numeric strings, as from
 * a form). Throws DetectorParamError on an unknown kind, an unknown parameter or a bad value.
 */
export function createDetector(kind: DetectorKind, params: Record<string, number | string> = {}): StreamingDetector {
  if (!DETECTOR_KINDS.includes(kind)) {
    throw new DetectorParamError('kind', { expected: DETECTOR_KINDS.join(' | '), got: show(kind) }, `expected detector ${DETECTOR_KINDS.join(' | ')}, got ${show(kind)}`);
  }
  const specs = PARAMS[kind];
  const opts: Record<string, number | string> = {};
  for (const [key, raw] of Object.entries(params)) {
    if (raw === undefined) continue;
    const spec = specs.find((s) => s.name === snake(key));
    if (!spec) {
      throw new DetectorParamError(
        'unknownParam',
        { detector: LABEL[kind], name: key, expected: specs.map((s) => s.name).join(', ') },
        `unknown ${LABEL[kind]} parameter '${key}' (expected one of ${specs.map((s) => s.name).join(', ')})`,
      );
    }
    if (spec.text) {
      opts[spec.option] = typeof raw === 'string' ? raw.trim() : (raw as unknown as string);
      continue;
    }
    let v: number;
    if (typeof raw === 'number') v = raw;
    else if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) v = Number(raw);
    else {
      throw new DetectorParamError('param', { detector: LABEL[kind], name: spec.name, expected: 'a number', got: show(raw) }, `expected ${LABEL[kind]} ${spec.name} to be a number, got ${show(raw)}`);
    }
    opts[spec.option] = v;
  }
  switch (kind) {
    case 'adwin':
      return new ADWIN(opts as ADWINOptions);
    case 'page-hinkley':
      return new PageHinkley(opts as PageHinkleyOptions);
    case 'kswin':
      return new KSWIN(opts as KSWINOptions);
    case 'ddm':
      return new DDM(opts as DDMOptions);
  }
}
