/**
 * Naive recomputation baselines for bench/drift.bench.ts: each decides exactly what the detector
 * (or window monitor) in nodes/lib/drift decides, but from scratch at every step, keeping only
 * the raw data. They are meant to be obviously correct, not fast; the bench checks that each one
 * detects at the same updates as the real one (a baseline that decides differently is no baseline).
 *
 *  - NaiveADWIN: the raw window in a plain array and only the SIZES of ADWIN's buckets (the
 *    exponential histogram's shape, which is where ADWIN may cut and how much a cut drops). At
 *    every clock tick the window's total and variance are recomputed from the raw values (two
 *    passes) and every bucket boundary is tested with the same bound, the older side's sum
 *    accumulated value by value from the raw window: O(width) per check instead of O(buckets). (Testing every raw cut point
 *    instead of the bucket boundaries would be a different detector: it finds other points.)
 *  - NaivePageHinkley / NaiveDDM: the raw history since the last reset; every update replays the
 *    running mean (error rate), the cumulative sums (std) and their min / max over the whole
 *    history with the same arithmetic: O(history) per update.
 *  - NaiveKSWIN: River's kswin.py literally: the window in a plain array (deque), every update
 *    draws the sample (the same mulberry32 partial shuffle as ours, so the same sample), copies
 *    both samples into fresh arrays and calls ks2samp (copy + sort + test).
 *  - naiveWindowStats: for one evaluation of WindowMonitor, each feature's window copied out of a
 *    ring, sorted, binned from scratch, then the same featureStats.
 */
import { mulberry32 } from '../../nodes/lib/random';
import { ks2samp } from '../../nodes/lib/drift/ks';
import { featureStats, type FeatureStats } from '../../nodes/lib/drift/monitor';
import type { FeatureBaseline } from '../../nodes/lib/drift/baseline';
import { binCounts } from '../../nodes/lib/drift/stats';

export interface NaiveDetector {
  update(x: number): void;
  readonly driftDetected: boolean;
}

// ---------------------------------------------------------------------------------------------

/** ADWIN with River's defaults, recomputing everything from the raw window at every check. */
export class NaiveADWIN implements NaiveDetector {
  driftDetected = false;
  private raw: number[] = [];
  private start = 0; // raw[start..] is the window (a cut drops the oldest values)
  private counts: number[] = [0]; // buckets per row; row i buckets hold 2^i values
  private tick = 0;
  constructor(
    readonly delta = 0.002,
    readonly clock = 32,
    readonly maxBuckets = 5,
    readonly minWindowLength = 5,
    readonly gracePeriod = 10,
  ) {}

  update(x: number): void {
    if (this.driftDetected) {
      this.raw = [];
      this.start = 0;
      this.counts = [0];
      this.tick = 0;
      this.driftDetected = false;
    }
    this.raw.push(x);
    this.counts[0]++;
    // the exponential histogram's shape: a row with max_buckets + 1 buckets merges its two oldest
    const full = this.maxBuckets + 1;
    for (let idx = 0; idx < this.counts.length; idx++) {
      if (this.counts[idx] !== full) break;
      if (idx + 1 === this.counts.length) this.counts.push(0);
      this.counts[idx] -= 2;
      this.counts[idx + 1]++;
      if (this.counts[idx + 1] <= this.maxBuckets) break;
    }
    this.driftDetected = this.detect();
  }

  private detect(): boolean {
    this.tick++;
    const width0 = this.raw.length - this.start;
    if (this.tick % this.clock !== 0 || !(width0 > this.gracePeriod)) return false;
    const mwl = this.minWindowLength;
    let change = false;
    for (let reduce = true; reduce; ) {
      reduce = false;
      // from scratch: total and sum of squared deviations of the raw window
      const raw = this.raw;
      const width = raw.length - this.start;
      let total = 0;
      for (let i = this.start; i < raw.length; i++) total += raw[i];
      const mean = total / width;
      let variance = 0;
      for (let i = this.start; i < raw.length; i++) variance += (raw[i] - mean) * (raw[i] - mean);
      const deltaPrime = Math.log((2 * Math.log(width)) / this.delta);
      const varInWindow = variance / width;
      // every bucket boundary, oldest to newest; the older side summed from the raw values
      let n0 = 0;
      let u0 = 0;
      let pos = this.start;
      let exit = false;
      for (let idx = this.counts.length - 1; idx >= 0 && !exit; idx--) {
        const size = 2 ** idx;
        for (let k = 0; k < this.counts[idx]; k++) {
          n0 += size;
          for (const end = pos + size; pos < end; pos++) u0 += raw[pos];
          if (idx === 0 && k === this.counts[idx] - 1) {
            exit = true;
            break;
          }
          const n1 = width - n0;
          const u1 = total - u0;
          if (n1 >= mwl && n0 >= mwl) {
            const deltaMean = u0 / n0 - u1 / n1;
            const m = 1 / (n0 - mwl + 1) + 1 / (n1 - mwl + 1);
            const epsilon = Math.sqrt(2 * m * varInWindow * deltaPrime) + (2 / 3) * deltaPrime * m;
            if (Math.abs(deltaMean) > epsilon) {
              reduce = true;
              change = true;
              // drop the oldest bucket
              const last = this.counts.length - 1;
              this.start += 2 ** last;
              this.counts[last]--;
              if (this.counts[last] === 0 && last > 0) this.counts.pop();
              exit = true;
              break;
            }
          }
        }
      }
    }
    return change;
  }
}

// ---------------------------------------------------------------------------------------------

/** Page-Hinkley (River defaults, mode both) replaying the whole history at every update. */
export class NaivePageHinkley implements NaiveDetector {
  driftDetected = false;
  private history: number[] = [];
  constructor(
    readonly minInstances = 30,
    readonly delta = 0.005,
    readonly threshold = 50,
    readonly alpha = 1 - 0.0001,
  ) {}

  update(x: number): void {
    if (this.driftDetected) {
      this.history = [];
      this.driftDetected = false;
    }
    const h = this.history;
    h.push(x);
    let mean = 0;
    let up = 0;
    let down = 0;
    let minUp = Infinity;
    let maxDown = -1;
    for (let i = 0; i < h.length; i++) {
      mean += (1 / (i + 1)) * (h[i] - mean);
      const dev = h[i] - mean;
      up = this.alpha * up + dev - this.delta;
      down = this.alpha * down + dev + this.delta;
      if (up < minUp) minUp = up;
      if (down > maxDown) maxDown = down;
    }
    if (h.length >= this.minInstances) this.driftDetected = up - minUp > this.threshold || maxDown - down > this.threshold;
  }
}

// ---------------------------------------------------------------------------------------------

/** DDM (River defaults) replaying the error rate, its std and p_min / s_min over the whole history. */
export class NaiveDDM implements NaiveDetector {
  driftDetected = false;
  warningDetected = false;
  private history: number[] = [];
  constructor(
    readonly warmStart = 30,
    readonly warningThreshold = 2,
    readonly driftThreshold = 3,
  ) {}

  update(x: number): void {
    if (this.driftDetected) {
      this.history = [];
      this.driftDetected = false;
      this.warningDetected = false;
    }
    const h = this.history;
    h.push(x);
    let p = 0;
    let s = 0;
    let pMin = NaN;
    let sMin = NaN;
    let psMin = Infinity;
    for (let i = 0; i < h.length; i++) {
      p += (1 / (i + 1)) * (h[i] - p);
      s = Math.sqrt((p * (1 - p)) / (i + 1));
      if (i + 1 > this.warmStart && p + s <= psMin) {
        pMin = p;
        sMin = s;
        psMin = p + s;
      }
    }
    if (h.length > this.warmStart) {
      this.warningDetected = p + s > pMin + this.warningThreshold * sMin;
      if (p + s > pMin + this.driftThreshold * sMin) {
        this.driftDetected = true;
        this.warningDetected = false;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

/** KSWIN as River's kswin.py: deque window, fresh sample lists, ks_2samp (copy + sort) each update. */
export class NaiveKSWIN implements NaiveDetector {
  driftDetected = false;
  private window: number[] = [];
  private perm: number[] = [];
  private rng: () => number = Math.random;
  constructor(
    readonly seed: number,
    readonly alpha = 0.005,
    readonly windowSize = 100,
    readonly statSize = 30,
  ) {
    this.reseed();
  }

  private reseed(): void {
    this.perm = Array.from({ length: this.windowSize - this.statSize }, (_, i) => i);
    this.rng = mulberry32(this.seed);
  }

  update(x: number): void {
    if (this.driftDetected) {
      this.window = [];
      this.driftDetected = false;
      this.reseed();
    }
    const w = this.window;
    w.push(x);
    if (w.length > this.windowSize) w.shift();
    if (w.length < this.windowSize) return;
    const S = this.statSize;
    const P = this.windowSize - S;
    // rnd_window = [window[r] for r in rng.sample(range(P), S)] (the same partial shuffle as ours)
    const sample: number[] = [];
    for (let i = 0; i < S; i++) {
      const j = i + Math.floor(this.rng() * (P - i));
      const pj = this.perm[j];
      this.perm[j] = this.perm[i];
      this.perm[i] = pj;
      sample.push(w[pj]);
    }
    const recent = w.slice(P);
    const r = ks2samp(sample, recent);
    if (r.pValue <= this.alpha && r.statistic > 0.1) {
      this.driftDetected = true;
      this.window = recent;
    }
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * One feature of one WindowMonitor evaluation from scratch: the window's values copied out of the
 * ring (oldest first; it does not matter, they are sorted next), sorted, binned against the
 * reference's bins, then the same featureStats as the incremental monitor.
 */
export function naiveFeatureStats(ring: Float64Array, ref: FeatureBaseline): FeatureStats {
  const sorted = Float64Array.from(ring).sort();
  const counts = binCounts(ref.bins, sorted);
  return featureStats(sorted, sorted.length, counts, ref);
}
