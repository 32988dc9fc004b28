/**
 * A small in-place radix-2 FFT (iterative Cooley-Tukey) and the band energies the feature
 * window computes from it. Pure TypeScript, no dependency.
 */

/** Smallest power of two >= n (n >= 1). */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

interface Plan {
  n: number;
  rev: Uint32Array;
  cos: Float64Array;
  sin: Float64Array;
}

const plans = new Map<number, Plan>();

function plan(n: number): Plan {
  let p = plans.get(n);
  if (p) return p;
  if (n < 1 || (n & (n - 1)) !== 0) throw new RangeError(`FFT size must be a power of two, got ${n}`);
  const bits = Math.round(Math.log2(n));
  const rev = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >>> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  const half = n >>> 1;
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  for (let k = 0; k < half; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / n);
    sin[k] = -Math.sin((2 * Math.PI * k) / n);
  }
  p = { n, rev, cos, sin };
  // a handful of sizes at most in one process; keep the cache small anyway
  if (plans.size > 32) plans.clear();
  plans.set(n, p);
  return p;
}

/**
 * In-place forward FFT of (re, im), both of length n (a power of two):
 * X[k] = sum_j x[j] * exp(-2*pi*i*j*k/n).
 */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if (im.length !== n) throw new RangeError('re and im must have the same length');
  if (n <= 1) return;
  const { rev, cos, sin } = plan(n);
  for (let i = 0; i < n; i++) {
    const j = rev[i];
    if (j > i) {
      let t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  for (let size = 2; size <= n; size *= 2) {
    const halfSize = size >>> 1;
    const step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0, w = 0; k < halfSize; k++, w += step) {
        const a = start + k;
        const b = a + halfSize;
        const wr = cos[w];
        const wi = sin[w];
        const tr = re[b] * wr - im[b] * wi;
        const ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}

/**
 * How the one-sided spectrum (bins 1..N/2, DC excluded) is split into bands.
 * - `{ count: B }`: band b holds the bins whose frequency lies in (b/B, (b+1)/B] of Nyquist.
 * - `{ edgesHz: [e0, e1, ..., eB], sampleRate }`: band b holds the bins with e_b <= f < e_{b+1}
 *   (the last band includes its upper edge); bins outside all bands are ignored.
 */
export type BandSpec = { count: number } | { edgesHz: number[]; sampleRate: number };

export function bandCount(spec: BandSpec): number {
  return 'count' in spec ? spec.count : spec.edgesHz.length - 1;
}

/** Band index of bin k (1..half) for an FFT of size n, or -1 when the bin is in no band. */
export function bandOfBin(spec: BandSpec, k: number, n: number): number {
  const half = n >>> 1;
  if ('count' in spec) {
    const b = Math.ceil((k * spec.count) / half) - 1;
    return b < 0 ? 0 : b >= spec.count ? spec.count - 1 : b;
  }
  const f = (k * spec.sampleRate) / n;
  const e = spec.edgesHz;
  const last = e.length - 1;
  if (f < e[0] || f > e[last]) return -1;
  for (let b = 0; b < last; b++) {
    if (f < e[b + 1]) return b;
  }
  return last - 1; // f === upper edge of the last band
}

/**
 * Band energies of the m >= 1 values `values[(start + i) & mask]`, i = 0..m-1 (a ring buffer;
 * pass start 0 and mask -1 for a plain array): the mean is removed, the window is zero-padded to
 * the next power of two N, and band b gets sum over its bins k of w_k*|X_k|^2 / (N*m), with
 * w_k = 2 for 0 < k < N/2 and 1 for k = N/2. By Parseval, bands that cover (0, Nyquist] sum to
 * the population variance of the window.
 *
 * `scratch` buffers are reused between calls (pass the same object).
 */
export function bandEnergies(
  values: ArrayLike<number>,
  start: number,
  mask: number,
  m: number,
  mean: number,
  spec: BandSpec,
  out: number[],
  outOffset: number,
  scratch: { re?: Float64Array; im?: Float64Array },
): void {
  const n = Math.max(2, nextPow2(m));
  let re = scratch.re;
  let im = scratch.im;
  if (!re || re.length !== n) { re = scratch.re = new Float64Array(n); im = scratch.im = new Float64Array(n); }
  im = im as Float64Array;
  for (let i = 0; i < m; i++) re[i] = values[(start + i) & mask] - mean;
  re.fill(0, m);
  im.fill(0);
  fft(re, im);
  const bands = bandCount(spec);
  for (let b = 0; b < bands; b++) out[outOffset + b] = 0;
  const half = n >>> 1;
  const norm = 1 / (n * m);
  for (let k = 1; k <= half; k++) {
    const b = bandOfBin(spec, k, n);
    if (b < 0) continue;
    const p = re[k] * re[k] + im[k] * im[k];
    out[outOffset + b] += (k === half ? p : 2 * p) * norm;
  }
}
