import { Detector, type DetectorState, isInt, type ParamSpec } from './base';
import { mulberry32 } from '../../random';
import { ks2sampSorted } from '../ks';

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
 * (scipy.stats.ks_2samp, method 'auto', see ../ks); drift when p <= alpha and the statistic > 0.1.
 * On a drift the window keeps only the last stat_size values, and the next update resets it all.
 * River draws the sample with Python's random (not reproducible in JavaScript); here mulberry32.
 */
export class KSWIN extends Detector {
  static readonly label = 'KSWIN';
  static readonly params: readonly ParamSpec[] = [
    { name: 'alpha', option: 'alpha' },
    { name: 'window_size', option: 'windowSize' },
    { name: 'stat_size', option: 'statSize' },
    { name: 'seed', option: 'seed' },
  ];
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
  private statistic = NaN;
  private pValue = NaN;

  constructor(o: KSWINOptions = {}) {
    super();
    const alpha = o.alpha ?? 0.005;
    const windowSize = o.windowSize ?? 100;
    const statSize = o.statSize ?? 30;
    this.check('alpha', alpha, alpha > 0 && alpha < 1, 'in (0, 1)');
    this.check('stat_size', statSize, isInt(statSize) && statSize >= 1, 'an integer of at least 1');
    this.check('window_size', windowSize, isInt(windowSize) && windowSize >= 2 * statSize && windowSize <= 1e7, `an integer of at least 2 * stat_size = ${2 * statSize} (the sample is drawn from the first window_size - stat_size values)`);
    if (o.seed !== undefined) this.check('seed', o.seed, isInt(o.seed), 'an integer');
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

  protected step(x: number): boolean {
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
    if (this.len < W) return false; // not enough values for a test yet

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
    if (!(r.pValue <= this.alpha && r.statistic > 0.1)) return false;
    // River: window = deque(most_recent); the next update resets it anyway
    this.start = start + P >= W ? start + P - W : start + P;
    this.len = S;
    return true;
  }

  protected stats(): DetectorState {
    return {
      statistic: this.statistic,
      pValue: this.pValue,
      threshold: this.alpha,
      minStatistic: 0.1,
      width: this.len,
    };
  }

  protected clear(): void {
    this.start = 0;
    this.len = 0;
    this.statistic = NaN;
    this.pValue = NaN;
    this.rng = this.newRng();
  }

  private newRng(): () => number {
    for (let i = 0; i < this.perm.length; i++) this.perm[i] = i;
    const seed = this.seed ?? Math.floor(Math.random() * 4294967296);
    return mulberry32(seed);
  }
}

/** Inserts v into a[0 .. len - 1] (sorted ascending), giving a sorted a[0 .. len]. */
function insertSorted(a: Float64Array, len: number, v: number): void {
  let j = len;
  while (j > 0 && a[j - 1] > v) {
    a[j] = a[j - 1];
    j--;
  }
  a[j] = v;
}
