/**
 * One channel's sliding/tumbling window and the statistics computed over it.
 *
 * Two strategies compute the same features:
 * - incremental: running sums of the shifted powers d = x - c (c a reference value close to the
 *   window mean), running sums of the regression axis, and monotonic deques for min/max. The cost
 *   per sample does not depend on the window size. To keep the power sums free of cancellation
 *   (e.g. a temperature near 350 with a std of 0.01; the kurtosis needs 4th powers), the sums are
 *   recomputed exactly around the current mean every n samples (amortised O(1)), and at once when
 *   the window mean drifted more than 4 standard deviations away from c or the variance fell 16x
 *   below the scale of the sums since the last recompute.
 * - fused: only the ring buffer is kept; each window is computed in one pass for the mean, min,
 *   max and one fused pass for all central moments and the slope. Cost per window is O(n), so per
 *   sample O(n / hop): it wins for large hops (see FUSED_MIN_HOP, measured by the bench).
 *
 * Both produce the same `WindowStats`, from which `assemble` builds the feature vector.
 */
import { BandSpec, bandCount, bandEnergies } from './fft';

/** Features in their fixed output order. */
export const FEATURE_NAMES = [
  'mean', 'std', 'min', 'max', 'rms', 'p2p', 'skewness', 'kurtosis', 'crest', 'slope',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

/**
 * Hop (in samples) from which the fused recompute is chosen over running sums (strategy 'auto').
 * Measured with bench/feature-window.bench.ts on the 2-core build machine at W=1024, all features:
 * the incremental path runs at a near-constant ~10-14 M samples/s whatever the hop (per-sample
 * updates plus one O(1) vector per window); the fused path costs ~2 passes over W per window and
 * overtook it between hop 56 and hop 96 in three runs (equal at 80 in the last). A window of at most
 * FUSED_MIN_HOP * 4 samples also uses the fused path (its recompute is cheap). Tumbling windows
 * (hop >= size) always use the fused path.
 */
export const FUSED_MIN_HOP = 80;
/** Time windows: the largest timestamp (ms since the epoch) taken, Date's range (year 275760). */
export const MAX_TIMESTAMP = 8.64e15;

export type Strategy = 'auto' | 'incremental' | 'fused';

export interface ChannelWindowOptions {
  kind: 'count' | 'time';
  /** count windows: samples per window. */
  size: number;
  /** time windows: window length in ms. */
  duration: number;
  /** count windows: samples between window ends; time windows: ms between window ends. */
  hop: number;
  /** time windows: a timestamp more than this many ms after the newest is refused (stop = 3); default: no bound. */
  maxJump?: number;
  /** time windows: at most this many samples are held (oldest evicted first). */
  maxSamples: number;
  /** the selected features (any order; the output uses FEATURE_NAMES order). */
  features: readonly FeatureName[];
  /** band energies appended after the features, or null. */
  bands: BandSpec | null;
  strategy: Strategy;
}

/**
 * Called for every completed window. `values` is the window's vector in an array the channel
 * reuses: it is overwritten by the next window, so copy what you keep.
 */
export type WindowCallback = (values: number[], start: number, end: number, count: number) => void;

export interface WindowStats {
  n: number;
  mean: number;
  /** sum of squared deviations from the mean */
  m2: number;
  m3: number;
  m4: number;
  min: number;
  max: number;
  /** sum (u - mean u)(x - mean x) over the regression axis u */
  sxy: number;
  /** sum (u - mean u)^2 */
  sxx: number;
}

/** Minimum samples a window needs for the selected features. */
export function minSamplesFor(features: readonly FeatureName[]): number {
  if (features.includes('kurtosis')) return 4;
  if (features.includes('skewness')) return 3;
  if (features.includes('slope')) return 2;
  return 1;
}

/**
 * Build the feature vector from the statistics of a window (FEATURE_NAMES order, selected only).
 * Conventions: std is the population standard deviation; skewness and kurtosis are the sample
 * (bias-corrected, excess) versions as in simple-statistics; degenerate values (zero variance,
 * zero rms) give 0 rather than NaN.
 */
export function assemble(s: WindowStats, sel: Uint8Array, out: number[]): number {
  const n = s.n;
  let o = 0;
  const m2 = s.m2 > 0 ? s.m2 : 0;
  const pvar = m2 / n;
  if (sel[0]) out[o++] = s.mean;
  if (sel[1]) out[o++] = Math.sqrt(pvar);
  if (sel[2]) out[o++] = s.min;
  if (sel[3]) out[o++] = s.max;
  const rms = Math.sqrt(pvar + s.mean * s.mean);
  if (sel[4]) out[o++] = rms;
  if (sel[5]) out[o++] = s.max - s.min;
  if (sel[6]) {
    if (n < 3 || m2 === 0) out[o++] = 0;
    else {
      const sd = Math.sqrt(m2 / (n - 1));
      out[o++] = (n * s.m3) / ((n - 1) * (n - 2) * sd * sd * sd);
    }
  }
  if (sel[7]) {
    if (n < 4 || m2 === 0) out[o++] = 0;
    else out[o++] = ((n - 1) / ((n - 2) * (n - 3))) * ((n * (n + 1) * s.m4) / (m2 * m2) - 3 * (n - 1));
  }
  if (sel[8]) {
    const peak = Math.max(Math.abs(s.min), Math.abs(s.max));
    out[o++] = rms > 0 ? peak / rms : 0;
  }
  if (sel[9]) out[o++] = s.sxx > 0 ? s.sxy / s.sxx : 0;
  return o;
}

/** Central moments from sums of d = x - c: S1..S4 and n. Writes into s (mean, m2, m3, m4). */
function momentsFromShifted(s: WindowStats, c: number, n: number, S1: number, S2: number, S3: number, S4: number): void {
  const m = S1 / n;
  s.mean = c + m;
  const m2 = S2 - S1 * m;
  s.m2 = m2;
  const mm = m * m;
  s.m3 = S3 - 3 * m * S2 + 2 * n * mm * m;
  s.m4 = S4 - 4 * m * S3 + 6 * mm * S2 - 3 * n * mm * mm;
}

export class ChannelWindow {
  readonly kind: 'count' | 'time';
  readonly size: number;
  readonly duration: number;
  readonly hop: number;
  /** time windows: largest step ahead accepted, ms */
  readonly maxJump: number;
  /** time windows: most windows one sample can close (the windows that can contain one sample, plus one) */
  private readonly maxCloses: number;
  readonly maxSamples: number;
  readonly nFeatures: number;
  readonly bands: BandSpec | null;
  readonly minCount: number;
  /** the strategy requested; `fused` tells which one is in use now. */
  readonly strategy: Strategy;
  fused: boolean;

  onWindow: WindowCallback | null = null;

  // ring buffer (capacity a power of two)
  private cap: number;
  private mask: number;
  private vals: Float64Array;
  private ts: Float64Array;
  private head = 0;
  /** samples in the window */
  n = 0;
  /** samples pushed since the last reset (absolute index of the next sample) */
  private total = 0;
  /** timestamp (ms) of the newest sample, NaN when empty since reset */
  lastT = NaN;

  // count windows
  private sinceEmit = 0;
  private emittedOnce = false;
  // time windows
  private nextEnd = NaN;
  private samplesInHopEma = 0;

  // incremental state
  private c = 0;
  private base = 0;
  private S1 = 0; private S2 = 0; private S3 = 0; private S4 = 0;
  private U1 = 0; private U2 = 0; private UD = 0;
  private sinceRecompute = 0;
  private exact = false;
  /** largest S2 since the last recompute: the scale of the rounding errors in the sums */
  private S2peak = 0;
  private needMinMax: boolean;
  private needHigh: boolean;
  private needSlope: boolean;
  private maxV: Float64Array; private maxI: Float64Array; private maxHead = 0; private maxLen = 0;
  private minV: Float64Array; private minI: Float64Array; private minHead = 0; private minLen = 0;

  private readonly sel: Uint8Array;
  private readonly stats: WindowStats = { n: 0, mean: 0, m2: 0, m3: 0, m4: 0, min: 0, max: 0, sxy: 0, sxx: 0 };
  private readonly fftScratch: { re?: Float64Array; im?: Float64Array } = {};
  /** the vector passed to onWindow, reused (no allocation per window) */
  private readonly vector: number[];

  /** windows emitted since creation */
  windows = 0;
  /** samples evicted because a time window reached maxSamples */
  overflowed = 0;
  /** number of precision recomputes (drift of the mean), for tests */
  driftRecomputes = 0;

  constructor(o: ChannelWindowOptions) {
    this.kind = o.kind;
    this.size = o.size;
    this.duration = o.duration;
    this.hop = o.hop;
    this.maxJump = o.maxJump ?? Infinity;
    this.maxCloses = o.kind === 'time' ? Math.ceil(o.duration / o.hop) + 2 : 0;
    this.maxSamples = o.maxSamples;
    this.bands = o.bands;
    this.strategy = o.strategy;
    this.sel = new Uint8Array(FEATURE_NAMES.length);
    for (const f of o.features) {
      const i = FEATURE_NAMES.indexOf(f);
      if (i < 0) throw new RangeError(`unknown feature ${f}`);
      this.sel[i] = 1;
    }
    let nf = 0;
    for (let i = 0; i < this.sel.length; i++) nf += this.sel[i];
    this.nFeatures = nf + (o.bands ? bandCount(o.bands) : 0);
    this.vector = new Array<number>(this.nFeatures).fill(0);
    this.minCount = o.kind === 'count' ? 1 : minSamplesFor(o.features);
    const s = this.sel;
    this.needMinMax = !!(s[2] || s[3] || s[5] || s[8]);
    this.needHigh = !!(s[6] || s[7]);
    this.needSlope = !!s[9];
    if (o.strategy === 'fused') this.fused = true;
    else if (o.strategy === 'incremental') this.fused = false;
    else if (o.kind === 'count') this.fused = o.hop >= FUSED_MIN_HOP || o.hop >= o.size || o.size <= FUSED_MIN_HOP * 4;
    else this.fused = false; // time windows decide from the observed samples per hop
    const cap0 = o.kind === 'count' ? o.size : Math.min(o.maxSamples, 1024);
    this.cap = pow2(cap0);
    this.mask = this.cap - 1;
    this.vals = new Float64Array(this.cap);
    this.ts = new Float64Array(this.cap);
    this.maxV = new Float64Array(this.fused ? 0 : this.cap);
    this.maxI = new Float64Array(this.fused ? 0 : this.cap);
    this.minV = new Float64Array(this.fused ? 0 : this.cap);
    this.minI = new Float64Array(this.fused ? 0 : this.cap);
  }

  /** Samples currently buffered (for the memory bound). */
  get capacity(): number { return this.cap; }

  /** Drop everything buffered; the next sample starts the channel anew. */
  reset(): void {
    this.head = 0;
    this.n = 0;
    this.total = 0;
    this.lastT = NaN;
    this.sinceEmit = 0;
    this.emittedOnce = false;
    this.nextEnd = NaN;
    this.clearIncremental();
  }

  private clearIncremental(): void {
    this.S1 = this.S2 = this.S3 = this.S4 = 0;
    this.U1 = this.U2 = this.UD = 0;
    this.maxHead = this.maxLen = this.minHead = this.minLen = 0;
    this.sinceRecompute = 0;
    this.exact = false;
    this.S2peak = 0;
  }

  /**
   * Add one finite sample with its timestamp (ms, not older than lastT: the caller applies the
   * out-of-order policy). Returns the number of windows completed (each reported to onWindow).
   */
  push(x: number, t: number): number {
    let emitted = 0;
    if (this.kind === 'time') {
      if (this.n === 0 && this.nextEnd !== this.nextEnd) {
        // first sample (or first after a gap): the first window is the first full one
        this.nextEnd = Math.ceil((t + this.duration) / this.hop) * this.hop;
      } else if (t >= this.nextEnd) {
        emitted = this.closeTimeWindows(t);
      }
      if (this.n >= this.maxSamples) { this.popFront(); this.overflowed++; }
      else if (this.n === this.cap) this.grow();
    } else if (this.n === this.size) {
      this.popFront();
    }
    // append
    const pos = (this.head + this.n) & this.mask;
    this.vals[pos] = x;
    this.ts[pos] = t;
    this.n++;
    this.lastT = t;
    this.total++;
    if (!this.fused) this.addIncremental(x, t);
    if (this.kind === 'count') {
      this.sinceEmit++;
      if (this.n === this.size && (this.sinceEmit >= this.hop || !this.emittedOnce)) {
        this.sinceEmit = 0;
        this.emittedOnce = true;
        this.emit(this.ts[this.head], t);
        emitted++;
      }
    } else {
      this.sinceEmit++;
    }
    return emitted;
  }

  /**
   * Time windows: 0 when t can be pushed, 2 when it is older than the newest sample, 3 when it is
   * no epoch time in ms (outside Date's range) or more than maxJump ahead of the newest sample.
   */
  timeProblem(t: number): number {
    if (this.kind !== 'time') return t < this.lastT ? 2 : 0;
    if (!(t <= MAX_TIMESTAMP && t >= -MAX_TIMESTAMP)) return 3;
    if (t < this.lastT) return 2;
    return t - this.lastT > this.maxJump ? 3 : 0;
  }

  /** Why the last pushRun stopped: 0 a window completed or the run ended, 1 a bad value, 2 an older timestamp, 3 a timestamp out of range or too far ahead (time windows). */
  stop = 0;

  /**
   * The hot path for batches: push values[i..end) (timestamps tsArr[i], or tsScalar - (last - i) * step)
   * until a window completes (that sample included), a value is not a finite number (stop = 1) or a
   * timestamp is older than the previous one (stop = 2); the offending sample is not consumed.
   * Returns the index of the next unconsumed sample. Same results as push(); for count windows the
   * state lives in locals for the whole run (several times faster than push per sample).
   */
  pushRun(values: ArrayLike<unknown>, i: number, end: number, tsArr: ArrayLike<unknown> | null, tsScalar: number, step: number, last: number): number {
    this.stop = 0;
    if (this.kind !== 'count') {
      for (; i < end; i++) {
        const v = values[i];
        if (typeof v !== 'number' || v - v !== 0) { this.stop = 1; return i; }
        let t: number;
        if (tsArr) { const tv = tsArr[i]; t = typeof tv === 'number' && tv - tv === 0 ? tv : tsScalar; } else t = tsScalar - (last - i) * step;
        if (t < this.lastT) { this.stop = 2; return i; }
        if (!(t <= MAX_TIMESTAMP && t >= -MAX_TIMESTAMP) || t - this.lastT > this.maxJump) { this.stop = 3; return i; }
        if (this.push(v, t) > 0) return i + 1;
      }
      return i;
    }
    const vals = this.vals, tsb = this.ts, mask = this.mask, size = this.size, hop = this.hop;
    const fused = this.fused, needHigh = this.needHigh, needSlope = this.needSlope, needMinMax = this.needMinMax;
    let head = this.head, n = this.n, total = this.total, sinceEmit = this.sinceEmit, lastT = this.lastT;
    let c = this.c, base = this.base, S1 = this.S1, S2 = this.S2, S3 = this.S3, S4 = this.S4;
    let U1 = this.U1, U2 = this.U2, UD = this.UD, S2peak = this.S2peak, sinceRecompute = this.sinceRecompute;
    let maxV = this.maxV, maxI = this.maxI, minV = this.minV, minI = this.minI;
    let maxHead = this.maxHead, maxLen = this.maxLen, minHead = this.minHead, minLen = this.minLen;
    let emitted = false;
    for (; i < end; i++) {
      const v = values[i];
      if (typeof v !== 'number' || v - v !== 0) { this.stop = 1; break; }
      let t: number;
      if (tsArr) { const tv = tsArr[i]; t = typeof tv === 'number' && tv - tv === 0 ? tv : tsScalar; } else t = tsScalar - (last - i) * step;
      if (t < lastT) { this.stop = 2; break; }
      if (n === size) {
        if (!fused && n > 1) {
          const d = vals[head] - c;
          const d2 = d * d;
          S1 -= d; S2 -= d2;
          if (needHigh) { S3 -= d2 * d; S4 -= d2 * d2; }
          if (needSlope) { const u = total - n - base; U1 -= u; U2 -= u * u; UD -= u * d; }
          if (needMinMax) {
            const idx = total - n;
            if (maxLen > 0 && maxI[maxHead] === idx) { maxHead = (maxHead + 1) & mask; maxLen--; }
            if (minLen > 0 && minI[minHead] === idx) { minHead = (minHead + 1) & mask; minLen--; }
          }
        }
        head = (head + 1) & mask;
        n--;
      }
      const pos = (head + n) & mask;
      vals[pos] = v;
      tsb[pos] = t;
      n++;
      lastT = t;
      total++;
      if (!fused) {
        if (n === 1) {
          S1 = S2 = S3 = S4 = U1 = U2 = UD = S2peak = 0;
          maxHead = maxLen = minHead = minLen = 0;
          sinceRecompute = 0;
          c = v;
          base = total - 1;
        }
        const d = v - c;
        const d2 = d * d;
        S1 += d; S2 += d2;
        if (needHigh) { S3 += d2 * d; S4 += d2 * d2; }
        if (needSlope) { const u = total - 1 - base; U1 += u; U2 += u * u; UD += u * d; }
        if (needMinMax) {
          const idx = total - 1;
          let len = maxLen;
          while (len > 0 && maxV[(maxHead + len - 1) & mask] <= v) len--;
          let p = (maxHead + len) & mask;
          maxV[p] = v; maxI[p] = idx; maxLen = len + 1;
          len = minLen;
          while (len > 0 && minV[(minHead + len - 1) & mask] >= v) len--;
          p = (minHead + len) & mask;
          minV[p] = v; minI[p] = idx; minLen = len + 1;
        }
        if (S2 > S2peak) S2peak = S2;
        if (++sinceRecompute >= n) {
          this.head = head; this.n = n; this.total = total;
          this.recompute();
          c = this.c; base = this.base; S1 = this.S1; S2 = this.S2; S3 = this.S3; S4 = this.S4;
          U1 = this.U1; U2 = this.U2; UD = this.UD; S2peak = this.S2peak; sinceRecompute = 0;
          maxV = this.maxV; maxI = this.maxI; minV = this.minV; minI = this.minI;
          maxHead = this.maxHead; maxLen = this.maxLen; minHead = this.minHead; minLen = this.minLen;
        }
      }
      sinceEmit++;
      if (n === size && (sinceEmit >= hop || !this.emittedOnce)) {
        sinceEmit = 0;
        emitted = true;
        i++;
        break;
      }
    }
    this.head = head; this.n = n; this.total = total; this.sinceEmit = sinceEmit; this.lastT = lastT;
    if (!fused) {
      this.c = c; this.base = base; this.S1 = S1; this.S2 = S2; this.S3 = S3; this.S4 = S4;
      this.U1 = U1; this.U2 = U2; this.UD = UD; this.S2peak = S2peak; this.sinceRecompute = sinceRecompute;
      this.maxHead = maxHead; this.maxLen = maxLen; this.minHead = minHead; this.minLen = minLen;
      this.exact = false;
    }
    if (emitted) {
      this.emittedOnce = true;
      this.emit(tsb[head], lastT);
    }
    return i;
  }

  private addIncremental(x: number, t: number): void {
    if (this.n === 1) {
      // first sample after reset or after the window emptied: re-anchor
      this.clearIncremental();
      this.c = x;
      this.base = this.kind === 'count' ? this.total - 1 : t;
    }
    const d = x - this.c;
    const d2 = d * d;
    const S2 = this.S2 + d2;
    this.S1 += d;
    this.S2 = S2;
    if (this.needHigh) { this.S3 += d2 * d; this.S4 += d2 * d2; }
    if (this.needSlope) {
      const u = this.kind === 'count' ? this.total - 1 - this.base : (t - this.base) / 1000;
      this.U1 += u;
      this.U2 += u * u;
      this.UD += u * d;
    }
    if (this.needMinMax) {
      const idx = this.total - 1;
      const mask = this.mask;
      // max deque: values decreasing from front to back
      const maxV = this.maxV;
      const mh = this.maxHead;
      let len = this.maxLen;
      while (len > 0 && maxV[(mh + len - 1) & mask] <= x) len--;
      let p = (mh + len) & mask;
      maxV[p] = x; this.maxI[p] = idx; this.maxLen = len + 1;
      const minV = this.minV;
      const nh = this.minHead;
      len = this.minLen;
      while (len > 0 && minV[(nh + len - 1) & mask] >= x) len--;
      p = (nh + len) & mask;
      minV[p] = x; this.minI[p] = idx; this.minLen = len + 1;
    }
    this.exact = false;
    if (S2 > this.S2peak) this.S2peak = S2;
    if (++this.sinceRecompute >= this.n) this.recompute();
  }

  private popFront(): void {
    const h = this.head;
    if (!this.fused && this.n > 1) {
      const x = this.vals[h];
      const d = x - this.c;
      const d2 = d * d;
      this.S1 -= d;
      this.S2 -= d2;
      if (this.needHigh) { this.S3 -= d2 * d; this.S4 -= d2 * d2; }
      if (this.needSlope) {
        const u = this.kind === 'count' ? this.total - this.n - this.base : (this.ts[h] - this.base) / 1000;
        this.U1 -= u;
        this.U2 -= u * u;
        this.UD -= u * d;
      }
      if (this.needMinMax) {
        const idx = this.total - this.n;
        if (this.maxLen > 0 && this.maxI[this.maxHead] === idx) { this.maxHead = (this.maxHead + 1) & this.mask; this.maxLen--; }
        if (this.minLen > 0 && this.minI[this.minHead] === idx) { this.minHead = (this.minHead + 1) & this.mask; this.minLen--; }
      }
    }
    this.head = (h + 1) & this.mask;
    this.n--;
    this.exact = false;
    if (this.n === 0) this.clearIncremental();
  }

  /** Rebuild the running sums and deques exactly, around the current mean. O(n). */
  private recompute(): void {
    this.sinceRecompute = 0;
    this.exact = true;
    const n = this.n;
    if (n === 0) { this.clearIncremental(); return; }
    const mask = this.mask;
    const h = this.head;
    const vals = this.vals;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += vals[(h + i) & mask];
    let c = sum / n;
    let corr = 0;
    for (let i = 0; i < n; i++) corr += vals[(h + i) & mask] - c;
    c += corr / n;
    this.c = c;
    const first = this.total - n;
    let S1 = 0, S2 = 0, S3 = 0, S4 = 0, U1 = 0, U2 = 0, UD = 0;
    if (this.kind === 'count') {
      this.base = first;
      for (let i = 0; i < n; i++) {
        const d = vals[(h + i) & mask] - c;
        const d2 = d * d;
        S1 += d; S2 += d2; S3 += d2 * d; S4 += d2 * d2;
        U1 += i; U2 += i * i; UD += i * d;
      }
    } else {
      const ts = this.ts;
      const base = ts[h];
      this.base = base;
      for (let i = 0; i < n; i++) {
        const p = (h + i) & mask;
        const d = vals[p] - c;
        const d2 = d * d;
        const u = (ts[p] - base) / 1000;
        S1 += d; S2 += d2; S3 += d2 * d; S4 += d2 * d2;
        U1 += u; U2 += u * u; UD += u * d;
      }
    }
    this.S1 = S1; this.S2 = S2; this.S3 = S3; this.S4 = S4;
    this.S2peak = S2;
    this.U1 = U1; this.U2 = U2; this.UD = UD;
    if (this.needMinMax) {
      // deques rebuilt from the window, starting at ring position 0
      const maxV = this.maxV, maxI = this.maxI, minV = this.minV, minI = this.minI;
      let ml = 0, nl = 0;
      for (let i = 0; i < n; i++) {
        const x = vals[(h + i) & mask];
        const idx = first + i;
        while (ml > 0 && maxV[ml - 1] <= x) ml--;
        maxV[ml] = x; maxI[ml] = idx; ml++;
        while (nl > 0 && minV[nl - 1] >= x) nl--;
        minV[nl] = x; minI[nl] = idx; nl++;
      }
      this.maxHead = 0; this.maxLen = ml;
      this.minHead = 0; this.minLen = nl;
    }
  }

  private grow(): void {
    const newCap = Math.min(this.cap * 2, pow2(this.maxSamples));
    if (newCap === this.cap) return;
    const vals = new Float64Array(newCap);
    const ts = new Float64Array(newCap);
    for (let i = 0; i < this.n; i++) {
      const p = (this.head + i) & this.mask;
      vals[i] = this.vals[p];
      ts[i] = this.ts[p];
    }
    this.vals = vals; this.ts = ts; this.head = 0;
    this.cap = newCap; this.mask = newCap - 1;
    if (!this.fused) {
      this.maxV = new Float64Array(newCap); this.maxI = new Float64Array(newCap);
      this.minV = new Float64Array(newCap); this.minI = new Float64Array(newCap);
      this.recompute();
    }
  }

  private closeTimeWindows(t: number): number {
    let emitted = 0;
    // Bounded by the windows that can hold one sample: however far t lies ahead, and even where
    // nextEnd + hop rounds back to nextEnd (timestamps too large for the hop), this ends.
    for (let k = 0; t >= this.nextEnd; k++) {
      const next = this.nextEnd + this.hop;
      if (k >= this.maxCloses || !(next > this.nextEnd)) {
        while (this.n > 0) this.popFront();
        this.head = 0;
        this.nextEnd = Math.ceil((t + this.duration) / this.hop) * this.hop;
        break;
      }
      const lo = this.nextEnd - this.duration;
      while (this.n > 0 && this.ts[this.head] < lo) this.popFront();
      if (this.n >= this.minCount) {
        this.emit(lo, this.nextEnd);
        emitted++;
      }
      this.nextEnd = next;
      if ((this.n === 0 || this.lastT < this.nextEnd - this.duration) && t >= this.nextEnd) {
        // the next window(s) would be empty (a gap in the data): start over with this sample
        while (this.n > 0) this.popFront();
        this.head = 0;
        this.nextEnd = Math.ceil((t + this.duration) / this.hop) * this.hop;
        break;
      }
    }
    return emitted;
  }

  /** Decide the strategy of a time window from the samples seen per hop (with hysteresis). */
  private adaptTimeStrategy(): void {
    const perHop = this.sinceEmit;
    this.sinceEmit = 0;
    this.samplesInHopEma = this.windows === 0 ? perHop : 0.7 * this.samplesInHopEma + 0.3 * perHop;
    if (this.strategy !== 'auto') return;
    const e = this.samplesInHopEma;
    if (!this.fused && (e >= FUSED_MIN_HOP * 1.25 || this.n <= FUSED_MIN_HOP * 4)) {
      this.fused = true;
    } else if (this.fused && e < FUSED_MIN_HOP * 0.8 && this.n > FUSED_MIN_HOP * 4) {
      this.fused = false;
      if (this.maxV.length !== this.cap) {
        this.maxV = new Float64Array(this.cap); this.maxI = new Float64Array(this.cap);
        this.minV = new Float64Array(this.cap); this.minI = new Float64Array(this.cap);
      }
      this.recompute();
    }
  }

  private emit(start: number, end: number): void {
    const s = this.stats;
    if (this.fused) this.fusedStats(s);
    else this.incrementalStats(s);
    const out = this.vector;
    const o = assemble(s, this.sel, out);
    if (this.bands) bandEnergies(this.vals, this.head, this.mask, this.n, s.mean, this.bands, out, o, this.fftScratch);
    this.windows++;
    if (this.kind === 'time') this.adaptTimeStrategy();
    if (this.onWindow) this.onWindow(out, start, end, this.n);
  }

  private incrementalStats(s: WindowStats): void {
    const n = this.n;
    s.n = n;
    momentsFromShifted(s, this.c, n, this.S1, this.S2, this.S3, this.S4);
    const m = s.mean - this.c;
    // Recompute when the sums have lost digits: the mean drifted more than 4 std away from the
    // reference c, or the variance fell 16x below the largest sum of squares the running sums
    // carried since the last recompute (their rounding errors scale with it). The second terms
    // keep a constant (stuck) signal from recomputing at every window.
    const c2 = this.c * this.c;
    if (!this.exact && (
      (m * m > 16 * (s.m2 / n) && m * m > 1e-20 * c2) ||
      (this.S2peak > 16 * s.m2 && this.S2peak > 1e-24 * n * c2 && this.S2peak > 0 && n > 1)
    )) {
      this.recompute();
      this.driftRecomputes++;
      momentsFromShifted(s, this.c, n, this.S1, this.S2, this.S3, this.S4);
    }
    if (this.needMinMax) {
      s.max = this.maxV[this.maxHead];
      s.min = this.minV[this.minHead];
    } else {
      s.max = s.min = 0;
    }
    if (this.needSlope) {
      const U1 = this.U1;
      s.sxx = this.kind === 'count' ? (n * (n * n - 1)) / 12 : this.U2 - (U1 * U1) / n;
      s.sxy = this.UD - (U1 * this.S1) / n;
    } else {
      s.sxx = s.sxy = 0;
    }
  }

  private fusedStats(s: WindowStats): void {
    const n = this.n;
    const mask = this.mask;
    const h = this.head;
    const vals = this.vals;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = vals[(h + i) & mask];
      sum += x;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    const c = sum / n;
    let S1 = 0, S2 = 0, S3 = 0, S4 = 0, sxy = 0, sxx = 0;
    if (this.kind === 'count') {
      const um = (n - 1) / 2;
      for (let i = 0; i < n; i++) {
        const d = vals[(h + i) & mask] - c;
        const d2 = d * d;
        S1 += d; S2 += d2; S3 += d2 * d; S4 += d2 * d2;
        sxy += (i - um) * d;
      }
      sxx = (n * (n * n - 1)) / 12;
    } else {
      const ts = this.ts;
      const t0 = ts[h];
      let usum = 0;
      for (let i = 0; i < n; i++) usum += ts[(h + i) & mask] - t0;
      const um = usum / n;
      for (let i = 0; i < n; i++) {
        const p = (h + i) & mask;
        const d = vals[p] - c;
        const d2 = d * d;
        const u = (ts[p] - t0 - um) / 1000;
        S1 += d; S2 += d2; S3 += d2 * d; S4 += d2 * d2;
        sxy += u * d;
        sxx += u * u;
      }
    }
    s.n = n;
    momentsFromShifted(s, c, n, S1, S2, S3, S4);
    s.min = min;
    s.max = max;
    // sxy with d relative to c (not the exact mean): the sum of (u - mean u) is ~0, so the
    // residual (mean - c) * sum(u - mean u) is negligible
    s.sxy = sxy;
    s.sxx = sxx;
  }

  /** A copy of the buffered window values, oldest first (for tests). */
  values(): Float64Array {
    const out = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.vals[(this.head + i) & this.mask];
    return out;
  }

  /** A copy of the buffered timestamps, oldest first (for tests). */
  times(): Float64Array {
    const out = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.ts[(this.head + i) & this.mask];
    return out;
  }
}

function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
