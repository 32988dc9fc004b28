/**
 * Drift monitors: the behaviour of `drift detect`, without Node-RED.
 *
 *  - WindowMonitor (data drift): a sliding window of the last `windowSize` feature vectors, per
 *    feature kept sorted and binned incrementally (an insert and a removal per vector, no re-sort),
 *    tested against the baseline every `evaluateEvery` vectors with KS, PSI, normalised
 *    Wasserstein and Jensen-Shannon; the method chosen decides which features count as drifted,
 *    and the share of drifted features decides the level.
 *  - StreamMonitor: one streaming detector (ADWIN, Page-Hinkley, KSWIN, DDM) on a single signal.
 *  - Hysteresis: the state ok / warn / drift moves up only after `confirm` evaluations in a row at
 *    the higher level, and down only after `clear` evaluations in a row below the state.
 */
import { DriftError } from './errors';
import type { DriftFeatureReport, DriftLevel, DriftReport } from '../messages';
import type { Baseline, FeatureBaseline } from './baseline';
import { DomainCheck } from './domain';
import { ksPValue, ksStatisticSorted } from './ks';
import {
  benjaminiHochberg, binIndexUnchecked, bonferroni, jensenShannon, ksStatisticSketch, normalisedWasserstein, psi, sketchQuantile, wasserstein1Sketch, wasserstein1Sorted,
} from './stats';

const medianOf = (s: Float64Array) => (s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2);
import { createDetector, DETECTOR_KINDS, type DetectorKind, type StreamingDetector } from './detectors';

export type DataMethod = 'ks' | 'psi' | 'wasserstein' | 'js';
export type Correction = 'bonferroni' | 'bh' | 'none';
export const DATA_METHODS: DataMethod[] = ['ks', 'psi', 'wasserstein', 'js'];
const RANK: Record<DriftLevel, number> = { ok: 0, warn: 1, drift: 2 };
const LEVELS: DriftLevel[] = ['ok', 'warn', 'drift'];

/**
 * Warnings about a configuration that works but will mislead: PSI, Wasserstein and JS have a
 * floor of sampling noise that falls with the window (measured at window 30 with no drift at
 * all: median PSI 0.34, Wasserstein 0.22, JS 0.25, so most tests exceed 0.2).
 */
export function windowWarnings(c: WindowMonitorConfig): Array<{ code: string; params: Record<string, string | number>; message: string }> {
  if (c.method === 'ks' || c.windowSize >= 100) return [];
  const noise = { psi: 9 / c.windowSize, wasserstein: 1.1 / Math.sqrt(c.windowSize), js: 1.25 / Math.sqrt(c.windowSize) }[c.method];
  const threshold = { psi: c.psiThreshold, wasserstein: c.wassersteinThreshold, js: c.jsThreshold }[c.method];
  if (noise < threshold / 2) return [];
  const params = { method: c.method, window: c.windowSize, noise: noise.toFixed(2), threshold };
  return [{ code: 'smallWindow', params, message: `${c.method} on a window of ${c.windowSize} vectors: sampling noise alone gives about ${params.noise} with no drift, against a threshold of ${threshold}; use a window of 100 or more, a higher threshold, or the KS test` }];
}

/** A configuration that cannot work: says what was expected. */
export class MonitorError extends DriftError {}

// ---------------------------------------------------------------------------
// Hysteresis
// ---------------------------------------------------------------------------

export class Hysteresis {
  state: DriftLevel = 'ok';
  since: number;
  /** Consecutive evaluations at or above warn, at or above drift. */
  private above = [0, 0, 0];
  /** The last `clear` raw levels, to know where to fall to. */
  private recent: number[] = [];
  private belowRun = 0;

  constructor(
    readonly confirm: number,
    readonly clear: number,
    now = Date.now(),
  ) {
    this.since = now;
  }

  /** Feeds one evaluation's level; true when the state changed. */
  update(level: DriftLevel, now: number): boolean {
    const r = RANK[level];
    for (let l = 1; l <= 2; l++) this.above[l] = r >= l ? this.above[l] + 1 : 0;
    this.recent.push(r);
    if (this.recent.length > this.clear) this.recent.shift();
    const s = RANK[this.state];
    let next = s;
    if (r > s) {
      this.belowRun = 0;
      for (let l = 2; l > s; l--) {
        if (this.above[l] >= this.confirm) {
          next = l;
          break;
        }
      }
    } else if (r < s) {
      this.belowRun++;
      if (this.belowRun >= this.clear) next = Math.max(...this.recent);
    } else {
      this.belowRun = 0;
    }
    if (next === s) return false;
    this.state = LEVELS[next];
    this.since = now;
    this.belowRun = 0;
    return true;
  }

  reset(now: number): void {
    this.state = 'ok';
    this.since = now;
    this.above = [0, 0, 0];
    this.recent = [];
    this.belowRun = 0;
  }
}

// ---------------------------------------------------------------------------
// Data drift over a sliding window
// ---------------------------------------------------------------------------

export interface WindowMonitorConfig {
  method: DataMethod;
  /** Vectors in the current window. */
  windowSize: number;
  /** Evaluate every this many vectors (once the window is full). */
  evaluateEvery: number;
  /** KS: significance level after the correction. */
  alpha: number;
  correction: Correction;
  /** A feature drifts when PSI / normalised Wasserstein / JS distance exceeds its threshold. */
  psiThreshold: number;
  wassersteinThreshold: number;
  jsThreshold: number;
  /** Level warn when at least this share of the tested features drifted, drift at driftShare. */
  warnShare: number;
  driftShare: number;
  confirm: number;
  clear: number;
  /** Only these features (by name); all of the baseline's when empty. */
  features?: string[];
  /**
   * KS on dependent vectors: 'effective' tests with the effective sample size n (1 - r) / (1 + r)
   * from the stream's measured lag-1 autocorrelation r; 'independent' with n; 'auto' (default):
   * effective against a training reference (a model's quantile sketch, also when it comes from a
   * file), independent against samples (learned from, or saved of, the same machine's own stream).
   */
  dependence?: 'auto' | 'effective' | 'independent';
  /** Out of domain: the false-alarm rate per vector on training-like data (default 0.001). */
  domainAlpha?: number;
}

export const WINDOW_DEFAULTS: WindowMonitorConfig = {
  method: 'ks',
  windowSize: 100,
  evaluateEvery: 10,
  alpha: 0.05,
  correction: 'bonferroni',
  psiThreshold: 0.2,
  wassersteinThreshold: 0.2,
  jsThreshold: 0.2,
  warnShare: 0.2,
  driftShare: 0.5,
  confirm: 2,
  clear: 5,
  dependence: 'auto',
  domainAlpha: 0.001,
};

function checkNumber(name: string, v: number, ok: (v: number) => boolean, expected: string): void {
  if (!(typeof v === 'number' && ok(v))) throw new MonitorError('setting', { name, expected, got: String(v) }, `expected ${name} ${expected}, got ${String(v)}`);
}

export function checkWindowConfig(c: WindowMonitorConfig): WindowMonitorConfig {
  if (!DATA_METHODS.includes(c.method)) throw new MonitorError('setting', { name: 'method', expected: DATA_METHODS.join(' | '), got: String(c.method) }, `expected method ${DATA_METHODS.join(' | ')}, got ${String(c.method)}`);
  if (!['bonferroni', 'bh', 'none'].includes(c.correction)) throw new MonitorError('setting', { name: 'correction', expected: 'bonferroni | bh | none', got: String(c.correction) }, `expected correction bonferroni | bh | none, got ${String(c.correction)}`);
  const int = (min: number) => (v: number) => Number.isInteger(v) && v >= min;
  checkNumber('window size', c.windowSize, (v) => int(5)(v) && v <= 100000, 'an integer from 5 to 100000');
  checkNumber('evaluate every', c.evaluateEvery, int(1), 'an integer of at least 1');
  checkNumber('alpha', c.alpha, (v) => v > 0 && v < 1, 'in (0, 1)');
  for (const [n, v] of [['PSI threshold', c.psiThreshold], ['Wasserstein threshold', c.wassersteinThreshold], ['Jensen-Shannon threshold', c.jsThreshold]] as const) {
    checkNumber(n, v, (x) => x > 0 && Number.isFinite(x), 'a positive number');
  }
  checkNumber('drift share', c.driftShare, (v) => v > 0 && v <= 1, 'in (0, 1]');
  checkNumber('warn share', c.warnShare, (v) => v > 0 && v <= c.driftShare, `in (0, drift share ${c.driftShare}]`);
  checkNumber('confirm', c.confirm, int(1), 'an integer of at least 1');
  checkNumber('clear', c.clear, int(1), 'an integer of at least 1');
  if (!['auto', 'effective', 'independent'].includes(c.dependence ?? 'auto')) throw new MonitorError('setting', { name: 'dependence', expected: 'auto | effective | independent', got: String(c.dependence) }, `expected dependence auto | effective | independent, got ${String(c.dependence)}`);
  checkNumber('domain alpha', c.domainAlpha ?? 0.001, (v) => v > 0 && v < 1, 'in (0, 1)');
  return c;
}

/**
 * The current window of one feature: a ring of the last values, the same values sorted, and their
 * bin counts. Its bins were checked when the baseline was built, and NaN never reaches them.
 */
class FeatureState {
  readonly ring: Float64Array;
  readonly sorted: Float64Array;
  n = 0;
  counts: Float64Array;
  readonly pCache = new PValueCache();
  /** Lag-1 pairs of the stream, exponentially weighted over about 10 windows: weight, sums of x, y, xx, yy, xy; the last value. */
  private ac = new Float64Array(6);
  private prev = NaN;
  constructor(
    readonly ref: FeatureBaseline,
    size: number,
  ) {
    this.ring = new Float64Array(size).fill(NaN);
    this.sorted = new Float64Array(size);
    this.counts = new Float64Array(ref.bins.length - 1);
  }
  private pair(v: number): void {
    const p = this.prev;
    this.prev = v;
    if (p !== p || v !== v) return;
    const a = this.ac;
    const keep = 1 - 1 / (10 * this.ring.length);
    for (let i = 0; i < 6; i++) a[i] *= keep;
    a[0] += 1;
    a[1] += p;
    a[2] += v;
    a[3] += p * p;
    a[4] += v * v;
    a[5] += p * v;
  }
  /**
   * The lag-1 autocorrelation of the stream, bias-corrected for the pairs seen ((1 + 3 r) / N,
   * Kendall), in [0, 0.999]; 0 before 3 pairs.
   */
  autocorrelation(): number {
    const [w, sx, sy, sxx, syy, sxy] = this.ac;
    if (w < 3) return 0;
    const vx = sxx / w - (sx / w) ** 2;
    const vy = syy / w - (sy / w) ** 2;
    const r = vx > 0 && vy > 0 ? (sxy / w - (sx / w) * (sy / w)) / Math.sqrt(vx * vy) : 1; // a constant stream: fully dependent
    const rc = r + (1 + 3 * r) / w;
    return Math.min(0.999, Math.max(0, rc));
  }
  /** The window's effective number of independent values, n (1 - r) / (1 + r), at least 1. */
  effectiveCount(): number {
    const r = this.autocorrelation();
    return Math.max(1, (this.n * (1 - r)) / (1 + r));
  }
  /** Above or below the reference: the window's median against the reference median. */
  direction(): 'above' | 'below' | undefined {
    if (this.n === 0) return undefined;
    const m = this.n % 2 ? this.sorted[this.n >> 1] : (this.sorted[this.n / 2 - 1] + this.sorted[this.n / 2]) / 2;
    const ref = this.ref.sample ? medianOf(this.ref.sample) : sketchQuantile(this.ref.edges, this.ref.probabilities, 0.5);
    return m > ref ? 'above' : m < ref ? 'below' : undefined;
  }
  private lowerBound(v: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /** Puts v at ring slot `slot`, taking out the value it replaces. */
  put(slot: number, v: number): void {
    this.pair(v);
    const old = this.ring[slot];
    if (old === old) {
      const i = this.lowerBound(old);
      this.sorted.copyWithin(i, i + 1, this.n);
      this.n--;
      this.counts[binIndexUnchecked(this.ref.bins, old)]--;
    }
    this.ring[slot] = v;
    if (v === v) {
      const i = this.lowerBound(v);
      this.sorted.copyWithin(i + 1, i, this.n);
      this.sorted[i] = v;
      this.n++;
      this.counts[binIndexUnchecked(this.ref.bins, v)]++;
    }
  }
  /** Rebins against a new reference (a new baseline), keeping the values. */
  rebase(ref: FeatureBaseline): FeatureState {
    const s = new FeatureState(ref, this.ring.length);
    s.ring.set(this.ring);
    s.sorted.set(this.sorted);
    s.n = this.n;
    for (let i = 0; i < this.n; i++) s.counts[binIndexUnchecked(ref.bins, this.sorted[i])]++;
    s.ac.set(this.ac);
    s.prev = this.prev;
    return s;
  }
  meanStd(): [number, number] {
    let sum = 0;
    for (let i = 0; i < this.n; i++) sum += this.sorted[i];
    const m = sum / this.n;
    let ss = 0;
    for (let i = 0; i < this.n; i++) ss += (this.sorted[i] - m) * (this.sorted[i] - m);
    return [m, Math.sqrt(ss / this.n)];
  }
}

/** Window size x reference size up to which the KS p-value is exact (scipy's 'auto'). */
export const EXACT_KS_MAX_CELLS = 250_000;

/** One feature's statistics against its reference. */
export interface FeatureStats {
  ks: number;
  ksPValue: number;
  psi: number;
  wasserstein: number;
  js: number;
}

/**
 * KS p-values of one feature against a sample baseline, by statistic: against a sample the
 * statistic takes few distinct values (multiples of 1 / lcm(n1, n2)), so a window that moves by
 * one vector mostly repeats an earlier one, and the exact p-value costs about 2 d n1 n2 steps.
 * One cache per feature window: its reference size and method do not change.
 */
export class PValueCache {
  private map = new Map<number, number>();
  private n = -1;
  get(d: number, n: number, size: number, exact: boolean): number {
    if (n !== this.n || this.map.size > 4096) {
      this.map.clear();
      this.n = n;
    }
    let p = this.map.get(d);
    if (p === undefined) {
      p = ksPValue(d, n, size, exact ? 'auto' : 'asymp').pValue;
      this.map.set(d, p);
    }
    return p;
  }
}

/**
 * KS, PSI, normalised Wasserstein and JS of a sorted window against a reference. With `nEff`
 * (dependent vectors) the KS p-value is the asymptotic one for that many independent values.
 */
export function featureStats(sorted: Float64Array, n: number, counts: ArrayLike<number>, ref: FeatureBaseline, exactKs = true, cache?: PValueCache, nEff?: number): FeatureStats {
  const cur = n === sorted.length ? sorted : sorted.subarray(0, n);
  let ks: number;
  let ksP: number;
  let w: number;
  if (ref.sample) {
    // scipy's exact p-value (as ks_2samp) up to EXACT_KS_MAX_CELLS, the asymptotic one beyond,
    // which differs from it by far less than any alpha.
    const exact = exactKs && n * ref.sample.length <= EXACT_KS_MAX_CELLS;
    ks = ksStatisticSorted(cur, ref.sample);
    ksP =
      nEff !== undefined
        ? ksPValue(ks, Math.max(1, Math.round(nEff)), ref.sample.length, 'asymp').pValue
        : cache
          ? cache.get(ks, n, ref.sample.length, exact)
          : ksPValue(ks, n, ref.sample.length, exact ? 'auto' : 'asymp').pValue;
    w = wasserstein1Sorted(cur, ref.sample);
  } else {
    // Against a sketch the reference is its piecewise-linear CDF with the training row count as
    // its size; the exact lattice method is meaningless for a continuous CDF: asymptotic p-value.
    ks = ksStatisticSketch(cur, n, ref.edges, ref.probabilities);
    ksP = ksPValue(ks, Math.max(1, Math.round(nEff ?? n)), ref.count, 'asymp').pValue;
    w = wasserstein1Sketch(cur, ref.edges, ref.probabilities);
  }
  return { ks, ksPValue: ksP, psi: psi(ref.expected, counts), wasserstein: normalisedWasserstein(w, ref.std), js: jensenShannon(ref.expected, counts) };
}

const worse = (a: DriftLevel, b: DriftLevel): DriftLevel => (RANK[a] >= RANK[b] ? a : b);

/** Data drift of feature vectors against a baseline over a sliding window. */
export class WindowMonitor {
  readonly config: WindowMonitorConfig;
  readonly hysteresis: Hysteresis;
  private baseline: Baseline | undefined;
  private states: FeatureState[] = [];
  /** Name -> index into states, for the features watched. */
  private watch = new Map<string, number>();
  private slot = 0;
  private filled = 0;
  private sinceEval = 0;
  private mapKey = '';
  private map: { idx: Int32Array; absent: number[]; dom?: Int32Array } = { idx: new Int32Array(0), absent: [] };
  /** Out of domain (a baseline with a model's domain): per ring slot 0 not checked, 1 in, 2 out; the feature that stood out (+i+1 above, -(i+1) below). */
  private domain?: { check: DomainCheck; flags: Uint8Array; top: Int32Array; distance: Float64Array; x: Float64Array };
  evaluations = 0;
  last: DriftReport | undefined;

  constructor(config: Partial<WindowMonitorConfig> = {}, baseline?: Baseline, now = Date.now()) {
    this.config = checkWindowConfig({ ...WINDOW_DEFAULTS, ...config });
    this.hysteresis = new Hysteresis(this.config.confirm, this.config.clear, now);
    if (baseline) this.setBaseline(baseline, now);
  }

  get hasBaseline(): boolean {
    return this.baseline !== undefined;
  }

  get currentBaseline(): Baseline | undefined {
    return this.baseline;
  }

  /** Vectors in the current window. */
  get windowFill(): number {
    return this.filled;
  }

  /**
   * Replaces the baseline (a new model). The current window keeps its values (they are the
   * recent data), rebinned against the new reference; the state starts again from ok.
   * Returns true when the state changed (it was warn or drift).
   */
  setBaseline(b: Baseline, now = Date.now()): boolean {
    const wanted = this.config.features?.length ? this.config.features : b.features.map((f) => f.name);
    const watched = wanted.filter((n) => b.byName.has(n));
    if (watched.length === 0) {
      throw new MonitorError('noCommonFeatures', { wanted: wanted.slice(0, 10).join(', '), have: b.features.slice(0, 10).map((f) => f.name).join(', ') },
        `expected the baseline to describe the watched features (${wanted.slice(0, 10).join(', ')}), it has ${b.features.slice(0, 10).map((f) => f.name).join(', ')}`);
    }
    const old = new Map<string, FeatureState>();
    for (const [name, i] of this.watch) old.set(name, this.states[i]);
    const refOf = (name: string) => b.features[b.byName.get(name)!];
    if (old.size > 0 && watched.every((n) => old.has(n))) {
      this.states = watched.map((name) => old.get(name)!.rebase(refOf(name)));
    } else {
      // a feature without history: all windows start empty, so they stay aligned
      this.states = watched.map((name) => new FeatureState(refOf(name), this.config.windowSize));
      this.slot = 0;
      this.filled = 0;
    }
    this.watch = new Map(watched.map((n, i) => [n, i]));
    this.baseline = b;
    const size = this.config.windowSize;
    this.domain = b.domain
      ? { check: new DomainCheck(b.domain, this.config.domainAlpha ?? 0.001), flags: new Uint8Array(size), top: new Int32Array(size), distance: new Float64Array(size), x: new Float64Array(b.domain.features.length) }
      : undefined;
    this.mapKey = '';
    this.sinceEval = 0;
    const was = this.hysteresis.state;
    this.hysteresis.reset(now);
    return was !== 'ok';
  }

  /** Empties the current window and returns the state to ok (the baseline stays). */
  reset(now = Date.now()): void {
    if (this.baseline) this.states = this.states.map((s) => new FeatureState(s.ref, this.config.windowSize));
    if (this.domain) {
      this.domain.flags.fill(0);
      this.domain.top.fill(0);
    }
    this.slot = 0;
    this.filled = 0;
    this.sinceEval = 0;
    this.last = undefined;
    this.hysteresis.reset(now);
  }

  /**
   * Watched feature of each payload position (-1: not watched), and the watched features the
   * payload lacks (they get a missing value per row); cached by names.
   */
  private mapping(names: readonly string[] | undefined, k: number): { idx: Int32Array; absent: number[]; dom?: Int32Array } {
    const b = this.baseline!;
    if (!names) {
      if (k !== b.features.length) {
        throw new MonitorError('noNames', { k, expected: b.features.length },
          `expected msg.features.names, or ${b.features.length} values in the baseline's feature order, got ${k} values without names`);
      }
      names = b.features.map((f) => f.name);
    } else if (names.length !== k) {
      throw new MonitorError('namesLength', { names: names.length, k }, `expected as many values as msg.features.names (${names.length}), got ${k}`);
    }
    const key = names.join('\u0000');
    if (key !== this.mapKey) {
      const idx = new Int32Array(k).fill(-1);
      let any = false;
      names.forEach((n, i) => {
        const j = this.watch.get(n);
        if (j !== undefined) {
          idx[i] = j;
          any = true;
        }
      });
      if (!any) {
        throw new MonitorError('noCommonNames', { got: names.slice(0, 10).join(', '), expected: [...this.watch.keys()].slice(0, 10).join(', ') },
          `expected features named as in the baseline (${[...this.watch.keys()].slice(0, 10).join(', ')}), got ${names.slice(0, 10).join(', ')}`);
      }
      this.mapKey = key;
      // the domain check needs every feature of the model's domain: payload position of each
      let dom: Int32Array | undefined;
      if (this.domain) {
        const at = new Map(names.map((n, i) => [n, i]));
        dom = Int32Array.from(this.domain.check.ref.features, (f) => at.get(f) ?? -1);
        if (dom.includes(-1)) dom = undefined;
      }
      this.map = { idx, absent: this.states.map((_, j) => j).filter((j) => !idx.includes(j)), dom };
    }
    return this.map;
  }

  /**
   * Adds `rows` vectors of k values each (row-major from `data`) and evaluates once at the end when
   * an evaluation is due. Returns the report of that evaluation, or undefined.
   */
  ingest(data: ArrayLike<number>, rows: number, k: number, names?: readonly string[], now = Date.now()): DriftReport | undefined {
    if (!this.baseline) throw new MonitorError('noBaseline', {}, 'no baseline yet: expected a model with a reference, a baseline file, msg.baseline or the learning phase first');
    const { idx, absent, dom } = this.mapping(names, k);
    const size = this.config.windowSize;
    const d = this.domain;
    for (let r = 0; r < rows; r++) {
      const base = r * k;
      if (d) {
        let complete = dom !== undefined;
        if (dom) {
          for (let i = 0; i < dom.length; i++) {
            const v = +data[base + dom[i]];
            d.x[i] = v;
            if (!Number.isFinite(v)) complete = false;
          }
        }
        if (complete) {
          const v = d.check.check(d.x);
          d.flags[this.slot] = v.out ? 2 : 1;
          d.top[this.slot] = v.out ? (v.direction === 'above' ? v.feature! + 1 : -(v.feature! + 1)) : 0;
          d.distance[this.slot] = v.distance;
        } else d.flags[this.slot] = 0;
      }
      for (let i = 0; i < k; i++) {
        const j = idx[i];
        if (j < 0) continue;
        const v = +data[base + i];
        this.states[j].put(this.slot, Number.isFinite(v) ? v : NaN);
      }
      // a watched feature missing from this message counts as a missing value
      for (const j of absent) this.states[j].put(this.slot, NaN);
      this.slot = (this.slot + 1) % size;
      if (this.filled < size) this.filled++;
      this.sinceEval++;
    }
    if (this.filled < size || this.sinceEval < this.config.evaluateEvery) return undefined;
    return this.evaluate(now);
  }

  /** Tests every watched feature now and updates the state. */
  evaluate(now = Date.now()): DriftReport {
    const c = this.config;
    this.sinceEval = 0;
    const min = Math.max(2, Math.ceil(c.windowSize / 2));
    const tested: number[] = [];
    const effective = c.dependence === 'effective' || ((c.dependence ?? 'auto') === 'auto' && this.baseline!.features.every((f) => !f.sample));
    const stats: (FeatureStats | undefined)[] = this.states.map((s, j) => {
      if (s.n < min) return undefined; // mostly missing values: not tested
      tested.push(j);
      // the exact KS p-value only where it decides; other methods report the asymptotic one
      return featureStats(s.sorted, s.n, s.counts, s.ref, c.method === 'ks', s.pCache, effective ? s.effectiveCount() : undefined);
    });
    let adjusted: Float64Array | undefined;
    if (c.method === 'ks' && tested.length > 0) {
      const raw = tested.map((j) => stats[j]!.ksPValue);
      adjusted = c.correction === 'bonferroni' ? bonferroni(raw) : c.correction === 'bh' ? benjaminiHochberg(raw) : Float64Array.from(raw);
    }
    const features: DriftFeatureReport[] = [];
    const drifted: string[] = [];
    let minP = 1;
    tested.forEach((j, t) => {
      const s = stats[j]!;
      const st = this.states[j];
      let statistic: number;
      let pValue: number | undefined;
      let isDrift: boolean;
      switch (c.method) {
        case 'ks':
          statistic = s.ks;
          pValue = adjusted![t];
          isDrift = pValue < c.alpha;
          if (pValue < minP) minP = pValue;
          break;
        case 'psi':
          statistic = s.psi;
          isDrift = s.psi > c.psiThreshold;
          break;
        case 'wasserstein':
          statistic = s.wasserstein;
          isDrift = s.wasserstein > c.wassersteinThreshold;
          break;
        default:
          statistic = s.js;
          isDrift = s.js > c.jsThreshold;
      }
      if (isDrift) drifted.push(st.ref.name);
      const [mean, std] = st.meanStd();
      const direction = st.direction();
      features.push({
        name: st.ref.name,
        drifted: isDrift,
        ...(direction ? { direction } : {}),
        ...(effective ? { effectiveCount: Math.round(st.effectiveCount() * 10) / 10, autocorrelation: Math.round(st.autocorrelation() * 1000) / 1000 } : {}),
        statistic,
        pValue,
        ks: s.ks,
        ksPValue: s.ksPValue,
        psi: s.psi,
        wasserstein: s.wasserstein,
        js: s.js,
        count: st.n,
        mean,
        std,
        reference: { mean: st.ref.mean, std: st.ref.std, count: st.ref.count },
      });
    });
    const share = tested.length > 0 ? drifted.length / tested.length : 0;
    const shiftLevel: DriftLevel = tested.length === 0 ? 'ok' : share >= c.driftShare ? 'drift' : share >= c.warnShare ? 'warn' : 'ok';
    const domain = this.domainSummary(min);
    const level = worse(shiftLevel, domain?.level ?? 'ok');
    const fired: Array<'domain' | 'shift'> = [];
    if (domain && domain.level !== 'ok') fired.push('domain');
    if (shiftLevel !== 'ok') fired.push('shift');
    const previous = this.hysteresis.state;
    const changed = this.hysteresis.update(level, now);
    this.evaluations++;
    const b = this.baseline!;
    const report: DriftReport = {
      state: this.hysteresis.state,
      level,
      method: c.method,
      statistic: share,
      pValue: c.method === 'ks' && tested.length > 0 ? minP : undefined,
      threshold: c.driftShare,
      drifted,
      features,
      since: this.hysteresis.since,
      at: now,
      evaluations: this.evaluations,
      baseline: { source: b.source, ...b.origin, features: this.states.length },
      shift: { level: shiftLevel, share, drifted: drifted.length, tested: tested.length, dependence: effective ? 'effective' : 'independent' },
      fired,
    };
    if (domain) report.domain = domain;
    if (changed) report.previous = previous;
    this.last = report;
    return report;
  }

  /** The window's out-of-domain share, and which features stood out on which side (undefined without a domain). */
  private domainSummary(min: number): DriftReport['domain'] {
    const d = this.domain;
    if (!d) return undefined;
    const c = this.config;
    let checked = 0;
    let flagged = 0;
    let maxDistance = 0;
    const by = new Map<number, number>();
    for (let i = 0; i < this.filled; i++) {
      if (d.flags[i] === 0) continue;
      checked++;
      if (d.distance[i] > maxDistance) maxDistance = d.distance[i];
      if (d.flags[i] === 2) {
        flagged++;
        by.set(d.top[i], (by.get(d.top[i]) ?? 0) + 1);
      }
    }
    const share = checked > 0 ? flagged / checked : 0;
    const level: DriftLevel = checked < min ? 'ok' : share >= c.driftShare ? 'drift' : share >= c.warnShare ? 'warn' : 'ok';
    const names = d.check.ref.features;
    const features = [...by.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([t, vectors]) => ({ name: names[Math.abs(t) - 1], direction: (t > 0 ? 'above' : 'below') as 'above' | 'below', vectors }));
    return { level, share, flagged, checked, threshold: d.check.threshold, alpha: d.check.alpha, maxDistance, features };
  }

  /** The report of a return to ok without a test (a new baseline, a reset). */
  resetReport(previous: DriftLevel, reason: 'baseline' | 'reset', now: number): DriftReport {
    const b = this.baseline;
    return {
      state: this.hysteresis.state,
      previous,
      level: 'ok',
      method: this.config.method,
      statistic: 0,
      threshold: this.config.driftShare,
      drifted: [],
      features: [],
      since: this.hysteresis.since,
      at: now,
      evaluations: this.evaluations,
      baseline: b ? { source: b.source, ...b.origin, features: this.states.length } : { source: 'none', features: 0 },
      reason,
    };
  }

  /** Per feature: the bins, the reference shares and the current window's shares (for the editor's chart). */
  histograms(): Array<{ name: string; bins: number[]; expected: number[]; actual: number[]; current: [number, number] | null }> {
    return this.states.map((s) => ({
      name: s.ref.name,
      bins: Array.from(s.ref.bins),
      expected: Array.from(s.ref.expected),
      actual: Array.from(s.counts, (v) => (s.n > 0 ? v / s.n : 0)),
      // the current window's range: the open-ended outer bins hide how far outside the reference it is
      current: s.n > 0 ? [s.sorted[0], s.sorted[s.n - 1]] : null,
    }));
  }
}

// ---------------------------------------------------------------------------
// A streaming detector on one signal
// ---------------------------------------------------------------------------

export interface StreamMonitorConfig {
  detector: DetectorKind;
  params?: Record<string, number | string>;
  /** Updates without a detection before the state falls back. */
  clear: number;
}

export class StreamMonitor {
  readonly detector: StreamingDetector;
  readonly hysteresis: Hysteresis;
  evaluations = 0;
  private lastLevel: DriftLevel = 'ok';
  private lastChange: DriftLevel | undefined;
  private at = 0;

  constructor(
    readonly config: StreamMonitorConfig,
    now = Date.now(),
  ) {
    if (!DETECTOR_KINDS.includes(config.detector)) {
      throw new MonitorError('setting', { name: 'detector', expected: DETECTOR_KINDS.join(' | '), got: String(config.detector) }, `expected detector ${DETECTOR_KINDS.join(' | ')}, got ${String(config.detector)}`);
    }
    checkNumber('clear', config.clear, (v) => Number.isInteger(v) && v >= 1, 'an integer of at least 1');
    this.detector = createDetector(config.detector, config.params);
    // a detection is already a sequential test's decision: no confirmation
    this.hysteresis = new Hysteresis(1, config.clear, now);
  }

  /** Throws when the detector cannot take x (so a message can be checked whole before any of it is applied). */
  check(x: number, index = 0): void {
    if (!Number.isFinite(x)) {
      throw new MonitorError('notFinite', { index, got: String(x) }, `expected finite numbers for the detector, got ${String(x)} at index ${index}`);
    }
    if (this.config.detector === 'ddm' && x !== 0 && x !== 1) {
      throw new MonitorError('ddmValue', { got: String(x) }, `expected DDM to get a 0/1 error stream (1 = wrong prediction), got ${String(x)}`);
    }
  }

  /** Feeds one value; true when the state changed. */
  update(x: number, now = Date.now()): boolean {
    this.check(x);
    this.detector.update(x);
    this.evaluations++;
    this.at = now;
    this.lastLevel = this.detector.driftDetected ? 'drift' : this.detector.warningDetected ? 'warn' : 'ok';
    const previous = this.hysteresis.state;
    const changed = this.hysteresis.update(this.lastLevel, now);
    this.lastChange = changed ? previous : undefined;
    return changed;
  }

  report(): DriftReport {
    const st = this.detector.state();
    const r: DriftReport = {
      state: this.hysteresis.state,
      level: this.lastLevel,
      method: this.config.detector,
      statistic: typeof st.statistic === 'number' ? st.statistic : NaN,
      threshold: typeof st.threshold === 'number' ? st.threshold : NaN,
      drifted: [],
      features: [],
      since: this.hysteresis.since,
      at: this.at,
      evaluations: this.evaluations,
      baseline: { source: 'stream', features: 0 },
      detector: st,
    };
    if (this.lastChange !== undefined) r.previous = this.lastChange;
    return r;
  }
}
