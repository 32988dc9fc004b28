/**
 * Out of domain: is a model fed inputs unlike anything it was trained on? A per-vector question,
 * so it needs no independence between vectors (consecutive windows of one machine are strongly
 * dependent; a distribution test assumes they are not).
 *
 * The training data leave a domain reference in the model's metadata (`domainFromData`): per
 * feature mean, std, min and max, the whitening matrix of the standardised inputs' correlation
 * (shrunk towards the identity, so near-duplicate features do not make it unstable), and the
 * quantiles of the training vectors' own distances. A vector is out of domain when its
 * Mahalanobis distance exceeds the training distances' (1 - alpha) quantile (a false-alarm rate
 * of alpha on training-like vectors), or when a feature lies outside the training range by more
 * than a tenth of that range.
 */
type Rows = ReadonlyArray<ArrayLike<number>>;

export interface DomainReference {
  version: 1;
  /** The features in the order of the vectors below (the model's input order). */
  features: string[];
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
  /** Weight of the identity in the shrunk correlation matrix. */
  shrinkage: number;
  /** L^-1 of the Cholesky factor of the shrunk correlation, k x k row-major (lower triangular); absent above MAX_WHITENED features (then the distance is over the standardised features alone). */
  whitening?: number[];
  /** Distances of the training vectors (||L^-1 z|| / sqrt(k)) at these probabilities. */
  distance: { probabilities: number[]; quantiles: number[] };
}

/** Above this many features the reference keeps no whitening matrix (k^2 numbers in the metadata). */
export const MAX_WHITENED = 200;
export const DISTANCE_PROBABILITIES = [0.5, 0.9, 0.95, 0.99, 0.995, 0.999, 1];
/** A feature beyond its training range by more than this share of the range is out of domain. */
export const RANGE_MARGIN = 0.1;

/** The domain reference of training rows (one value per name; rows with a non-finite value are left out). */
export function domainFromData(names: string[], rows: Rows, shrinkage = 0.1): DomainReference {
  const k = names.length;
  const good = rows.filter((r) => r.length === k && Array.from(r).every(Number.isFinite));
  if (good.length < 2) throw new Error(`expected at least 2 complete training rows of ${k} features, got ${good.length}`);
  const n = good.length;
  const mean = new Array<number>(k).fill(0);
  const min = new Array<number>(k).fill(Infinity);
  const max = new Array<number>(k).fill(-Infinity);
  for (const r of good) {
    for (let j = 0; j < k; j++) {
      mean[j] += r[j] / n;
      if (r[j] < min[j]) min[j] = r[j];
      if (r[j] > max[j]) max[j] = r[j];
    }
  }
  const std = new Array<number>(k).fill(0);
  for (const r of good) for (let j = 0; j < k; j++) std[j] += (r[j] - mean[j]) ** 2 / n;
  for (let j = 0; j < k; j++) std[j] = Math.max(Math.sqrt(std[j]), 1e-9 * (1 + Math.abs(mean[j])));
  const z = good.map((r) => Float64Array.from({ length: k }, (_, j) => (r[j] - mean[j]) / std[j]));
  let whitening: number[] | undefined;
  if (k <= MAX_WHITENED) {
    const c = new Float64Array(k * k);
    for (const v of z) for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) c[a * k + b] += (v[a] * v[b]) / n;
    for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) c[a * k + b] = (1 - shrinkage) * c[a * k + b] + (a === b ? shrinkage : 0);
    whitening = Array.from(invertLower(cholesky(c, k), k));
  }
  const ref: DomainReference = { version: 1, features: [...names], mean, std, min, max, shrinkage, whitening, distance: { probabilities: DISTANCE_PROBABILITIES, quantiles: [] } };
  const w = whitening && Float64Array.from(whitening);
  const d = z.map((v) => distanceOf(v, w, k)).sort((a, b) => a - b);
  ref.distance.quantiles = DISTANCE_PROBABILITIES.map((p) => d[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]);
  return ref;
}

/** Lower Cholesky factor of a symmetric positive definite matrix (lower triangle used). */
function cholesky(a: Float64Array, k: number): Float64Array {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * k + j];
      for (let p = 0; p < j; p++) s -= l[i * k + p] * l[j * k + p];
      l[i * k + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / l[j * k + j];
    }
  }
  return l;
}

function invertLower(l: Float64Array, k: number): Float64Array {
  const inv = new Float64Array(k * k);
  for (let c = 0; c < k; c++) {
    for (let i = c; i < k; i++) {
      let s = i === c ? 1 : 0;
      for (let p = c; p < i; p++) s -= l[i * k + p] * inv[p * k + c];
      inv[i * k + c] = s / l[i * k + i];
    }
  }
  return inv;
}

/** ||W z|| / sqrt(k) (W lower triangular), or ||z|| / sqrt(k) without W. */
function distanceOf(z: ArrayLike<number>, w: Float64Array | undefined, k: number): number {
  let ss = 0;
  if (!w) for (let i = 0; i < k; i++) ss += z[i] * z[i];
  else {
    for (let i = 0; i < k; i++) {
      let s = 0;
      const row = i * k;
      for (let j = 0; j <= i; j++) s += w[row + j] * z[j];
      ss += s * s;
    }
  }
  return Math.sqrt(ss / k);
}

/** The check of one vector. */
export interface DomainVerdict {
  distance: number;
  out: boolean;
  /** The feature that stands out most (largest |z|) of an out-of-domain vector, and on which side. */
  feature?: number;
  direction?: 'above' | 'below';
}

const finiteList = (v: unknown, k: number) => Array.isArray(v) && v.length === k && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** A checker from metadata, or undefined when `v` is no usable domain reference (a model written before, or damaged). */
export function domainCheck(v: unknown, alpha = 0.001): DomainCheck | undefined {
  const r = v as DomainReference | undefined;
  if (!r || typeof r !== 'object' || r.version !== 1 || !Array.isArray(r.features) || r.features.length === 0) return undefined;
  const k = r.features.length;
  if (!['mean', 'std', 'min', 'max'].every((f) => finiteList((r as unknown as Record<string, unknown>)[f], k))) return undefined;
  if (r.whitening !== undefined && !finiteList(r.whitening, k * k)) return undefined;
  const q = r.distance;
  if (!q || !finiteList(q.probabilities, q.probabilities?.length) || !finiteList(q.quantiles, q.probabilities.length)) return undefined;
  return new DomainCheck(r, alpha);
}

export class DomainCheck {
  readonly k: number;
  /** Distance above which a vector is out of domain: the training quantile at 1 - alpha (the nearest stored one at or above it). */
  readonly threshold: number;
  private readonly w?: Float64Array;
  private readonly z: Float64Array;

  constructor(
    readonly ref: DomainReference,
    readonly alpha: number,
  ) {
    this.k = ref.features.length;
    this.w = ref.whitening ? Float64Array.from(ref.whitening) : undefined;
    this.z = new Float64Array(this.k);
    const { probabilities, quantiles } = ref.distance;
    const i = probabilities.findIndex((p) => p >= 1 - alpha - 1e-12);
    this.threshold = quantiles[i < 0 ? quantiles.length - 1 : i];
  }

  /** Checks one vector, in the reference's feature order. */
  check(x: ArrayLike<number>): DomainVerdict {
    const { mean, std, min, max } = this.ref;
    let worst = -1;
    let worstAbs = -1;
    let outside = false;
    for (let j = 0; j < this.k; j++) {
      const zj = (x[j] - mean[j]) / std[j];
      this.z[j] = zj;
      const margin = RANGE_MARGIN * Math.max(max[j] - min[j], 1e-9 * (1 + Math.abs(mean[j])));
      const beyond = x[j] > max[j] + margin || x[j] < min[j] - margin;
      // a feature outside its range ranks above any inside it
      const rank = Math.abs(zj) + (beyond ? 1e9 : 0);
      if (beyond) outside = true;
      if (rank > worstAbs) {
        worstAbs = rank;
        worst = j;
      }
    }
    const distance = distanceOf(this.z, this.w, this.k);
    const out = outside || distance > this.threshold;
    return out ? { distance, out, feature: worst, direction: this.z[worst] >= 0 ? 'above' : 'below' } : { distance, out };
  }
}
