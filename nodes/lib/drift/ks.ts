/**
 * Two-sample Kolmogorov-Smirnov test with the same statistic and p-value as
 * scipy.stats.ks_2samp (two-sided), and the exact distribution of the one-sample statistic
 * (scipy.stats.kstwo.sf). Pure TypeScript, no dependencies.
 *
 * Two-sample exact p-value (scipy's choice for max(n1, n2) <= 10000):
 *   h = round(d * lcm(n1, n2)); P(D >= h/lcm) by lattice paths (Hodges 1958).
 *   n1 == n2: closed alternating binomial sum, evaluated Horner-like without cancellation.
 *   n1 != n2: column-by-column recursion on the probability that a path has already left the band
 *   |x/m - y/n| < h/lcm (Viehmann 2021, arXiv:2102.08037: computes the p-value itself, not
 *   1 - P(inside), so small p-values keep their relative accuracy).
 * Asymptotic: p = kstwo.sf(d, round(n1 n2 / (n1 + n2))).
 *
 * kstwo.sf follows the regions of Simard & L'Ecuyer (2011) as scipy's _kolmogn does:
 * Ruben-Gambino near both ends, 2 * smirnov for large d, the Durbin matrix (Marsaglia-Tsang-Wang)
 * or the Pomeranz recursion for small n, Pelz-Good for large n. Where scipy would run the Durbin
 * matrix for large n (n > 3000, cost O(n^(1/3))^3 per squaring) this uses Pelz-Good, which agrees
 * with it there to < 2e-9. smirnov (the exact one-sided tail, Birnbaum-Tingey sum) is summed in
 * log space with Stirling corrections; beyond SMIRNOV_MAX_TERMS terms the smooth, end-vanishing
 * summand is sampled on an equispaced sub-lattice (trapezoid rule, exponentially accurate).
 * For n > 1e6 scipy's smirnov switches to the approximation exp(-(6nx+1)^2/(18n)) (off by ~1e-8);
 * this keeps the sum, so there kstwoSf is closer to the exact value than scipy is.
 *
 * Equal sizes: where scipy's closed formula comes out just above 1 (h = 1 for n = 5, 7, 13, ...)
 * scipy counts the exact computation as failed and uses the asymptotic p-value (method 'asymp');
 * the same float operations here make the same choice.
 */

export type KsMethod = 'auto' | 'exact' | 'asymp';
export interface KsResult { statistic: number; pValue: number; method: 'exact' | 'asymp' }

/** scipy's MAX_AUTO_N: 'auto' is exact when max(n1, n2) <= this. */
export const KS_MAX_AUTO_N = 10000;
const INT32_MAX = 2147483647;

// ------------------------------------------------------------------------------------ validation

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  return typeof v;
}

function checkSample(x: ArrayLike<number>, name: string, sorted: boolean): void {
  if (x === null || x === undefined || typeof (x as { length?: unknown }).length !== 'number') {
    throw new Error(`ks2samp: expected sample ${name} to be an array of numbers, got ${describe(x)}`);
  }
  const n = x.length;
  if (n === 0) throw new Error(`ks2samp: expected a non-empty sample ${name}, got an empty one`);
  let prev = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new Error(`ks2samp: expected finite numbers in sample ${name}, got ${describe(v)} at index ${i}`);
    }
    if (sorted) {
      if (v < prev) {
        throw new Error(`ks2sampSorted: expected sample ${name} sorted ascending, got ${name}[${i - 1}] = ${prev} > ${name}[${i}] = ${v}`);
      }
      prev = v;
    }
  }
}

function checkMethod(method: unknown): KsMethod {
  if (method === 'auto' || method === 'exact' || method === 'asymp') return method;
  throw new Error(`ks2samp: expected method 'auto', 'exact' or 'asymp', got ${describe(method)}`);
}

function checkSize(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`ksPValue: expected ${name} to be a positive integer, got ${describe(n)}`);
  }
  return n;
}

// ------------------------------------------------------------------------------------ helpers

/** numpy's round: half to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const r = x - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function gcd(a: number, b: number): number {
  while (b) { const t = a % b; a = b; b = t; }
  return a;
}

function clip01(p: number): number {
  // NaN stays NaN (as np.clip does).
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

/** x * 2^e without overflowing the power itself. */
function ldexp(x: number, e: number): number {
  while (e > 1000) { x *= 2 ** 1000; e -= 1000; }
  while (e < -1000) { x *= 2 ** -1000; e += 1000; }
  return x * 2 ** e;
}

const LOG_2PI = Math.log(2 * Math.PI);
const SQRT_2PI = Math.sqrt(2 * Math.PI);

/** Exact log(k!) for small k (table). */
const LOG_FACT_TABLE_N = 32;
const LOG_FACT = (() => {
  const t = new Float64Array(LOG_FACT_TABLE_N);
  let s = 0;
  for (let k = 1; k < LOG_FACT_TABLE_N; k++) { s += Math.log(k); t[k] = s; }
  return t;
})();

/** Stirling remainder: log(k!) - [(k + 1/2) log k - k + log(2 pi)/2], k >= 1. */
function stirlingCorr(k: number): number {
  if (k < LOG_FACT_TABLE_N) return LOG_FACT[k] - ((k + 0.5) * Math.log(k) - k + 0.5 * LOG_2PI);
  const r = 1 / k;
  const r2 = r * r;
  // B2j / (2j (2j-1) k^(2j-1)), j = 1..5; next term < 1e-17 for k >= 32.
  return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 / 1188))));
}

/** log(n! / n^n). */
function logFactDivPow(n: number): number {
  return 0.5 * Math.log(2 * Math.PI * n) - n + stirlingCorr(n);
}

// ------------------------------------------------------------------------------------ statistic

/**
 * max |F1 - F2| over the pooled data, both inputs sorted ascending (ties: searchsorted 'right').
 * Unchecked: the caller guarantees sorted, finite, non-empty inputs (the drift monitor's windows).
 */
export function ksStatisticSorted(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return statisticSorted(a, b);
}

function statisticSorted(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n1 && j < n2) {
    const ai = a[i];
    const bj = b[j];
    const v = ai <= bj ? ai : bj;
    while (i < n1 && a[i] <= v) i++;
    while (j < n2 && b[j] <= v) j++;
    // Same float operations as scipy: searchsorted(...)/n1 - searchsorted(...)/n2.
    const diff = i / n1 - j / n2;
    const ad = diff < 0 ? -diff : diff;
    if (ad > d) d = ad;
  }
  return d;
}

// ------------------------------------------------------------------------------------ exact two-sample

/** P(D_{n,n} >= h/n) = 2 * sum_k (-1)^(k-1) binom(2n, n-kh)/binom(2n, n), Horner-like, no cancellation. */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    const kh = k * h;
    for (let j = 0; j < h; j++) p1 = ((n - kh - j) * p1) / (n + kh + j + 1);
    P = p1 * (1 - P);
  }
  return 2 * P;
}

let scratch = new Float64Array(256);
let recip = new Float64Array(0);

/** 1/k for k = 0..kmax (index 0 unused), cached across calls. */
function reciprocals(kmax: number): Float64Array {
  if (recip.length <= kmax) {
    const r = new Float64Array(Math.max(kmax + 1, 2 * recip.length));
    for (let k = 1; k < r.length; k++) r[k] = 1 / k;
    recip = r;
  }
  return recip;
}

/**
 * Proportion of lattice paths from (0,0) to (m,n) that touch |x/m - y/n| >= h/lcm(m,n)
 * (i.e. P(D_{m,n} >= h/lcm)). Column by column over the larger sample, a sliding window over the
 * smaller one; entry = probability of having left the band; outside the window it is 1.
 */
function outerProbInside(m0: number, n0: number, g: number, h: number): number {
  const m = m0 >= n0 ? m0 : n0;
  const n = m0 >= n0 ? n0 : m0;
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  if (scratch.length < lenA + 1) scratch = new Float64Array(Math.max(lenA + 1, 2 * scratch.length));
  const A = scratch;
  const inv = reciprocals(m + n + 1);
  A.fill(1, 0, lenA + 1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    const off = minj - lastminj;
    const len = maxj - minj;
    // val = (A * i + val * j) / (i + j), written as val = a + b * val and taken two j at a time
    // (val2 = (a2 + b2 a1) + (b2 b1) val0) so that the chain carried along the column is one
    // multiply and one add per two cells; the reciprocals 1/(i+j) come from a table.
    let jj = 0;
    let j = minj;
    for (; jj + 1 < len; jj += 2, j += 2) {
      const r1 = inv[i + j];
      const r2 = inv[i + j + 1];
      const b1 = j * r1;
      const b2 = (j + 1) * r2;
      const a1 = A[jj + off] * (i * r1);
      const a2 = A[jj + 1 + off] * (i * r2);
      const v1 = a1 + b1 * val;
      val = a2 + b2 * a1 + b2 * b1 * val;
      A[jj] = v1;
      A[jj + 1] = val;
    }
    if (jj < len) {
      const r = inv[i + j];
      val = A[jj + off] * (i * r) + val * (j * r);
      A[jj] = val;
    }
    curlen = len;
    if (lastlen > curlen) A.fill(1, curlen, lastlen);
  }
  return A[maxj - minj - 1];
}

interface Attempt { success: boolean; d: number; p: number }

function attemptExact(n1: number, n2: number, g: number, d: number): Attempt {
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  const dd = h / lcm;
  if (h === 0) return { success: true, d: dd, p: 1 };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
  // scipy: a value outside [0, 1] (or NaN) counts as a failed exact computation.
  if (!(p >= 0 && p <= 1)) return { success: false, d: dd, p };
  return { success: true, d: dd, p };
}

interface PValueFull { pValue: number; method: 'exact' | 'asymp'; d: number }

function pValueFull(d: number, n1: number, n2: number, method: KsMethod): PValueFull {
  const g = gcd(n1, n2);
  const n1g = n1 / g;
  const n2g = n2 / g;
  let mode: 'exact' | 'asymp';
  if (method === 'auto') mode = Math.max(n1, n2) <= KS_MAX_AUTO_N ? 'exact' : 'asymp';
  else if (method === 'exact') mode = n1g >= INT32_MAX / n2g ? 'asymp' : 'exact'; // lcm too big
  else mode = 'asymp';
  if (mode === 'exact') {
    const r = attemptExact(n1, n2, g, d);
    if (r.success) return { pValue: clip01(r.p), method: 'exact', d: r.d };
    d = r.d; // scipy keeps the lattice-rounded statistic when it falls back
  }
  const big = Math.max(n1, n2);
  const small = Math.min(n1, n2);
  const en = roundHalfEven((big * small) / (big + small));
  // en == 0 only for n1 == n2 == 1 (0.5 rounds to 0): scipy's kstwo gives NaN there.
  const p = en >= 1 ? kolmognSf(en, d) : NaN;
  return { pValue: clip01(p), method: 'asymp', d };
}

// ------------------------------------------------------------------------------------ public API

/** Two-sided two-sample KS test, same results as scipy.stats.ks_2samp(a, b, method=...) (default 'auto'). */
export function ks2samp(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = 'auto'): KsResult {
  checkSample(a, 'a', false);
  checkSample(b, 'b', false);
  const sa = Float64Array.from(a).sort();
  const sb = Float64Array.from(b).sort();
  return run(sa, sb, checkMethod(method));
}

/** The same on inputs already sorted ascending (no copy, no sort): the drift monitor keeps sorted windows. */
export function ks2sampSorted(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = 'auto'): KsResult {
  checkSample(a, 'a', true);
  checkSample(b, 'b', true);
  return run(a, b, checkMethod(method));
}

function run(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod): KsResult {
  const d = statisticSorted(a, b);
  const r = pValueFull(d, a.length, b.length, method);
  return { statistic: r.d, pValue: r.pValue, method: r.method };
}

/**
 * The two-sided p-value of a two-sample statistic d for sample sizes n1, n2, chosen as scipy does
 * ('auto': exact when max(n1,n2) <= 10000, else asymptotic).
 */
export function ksPValue(d: number, n1: number, n2: number, method: KsMethod = 'auto'): { pValue: number; method: 'exact' | 'asymp' } {
  checkSize(n1, 'n1');
  checkSize(n2, 'n2');
  if (typeof d !== 'number' || !(d >= 0 && d <= 1)) throw new Error(`ksPValue: expected a statistic d in [0, 1], got ${describe(d)}`);
  const r = pValueFull(d, n1, n2, checkMethod(method));
  return { pValue: r.pValue, method: r.method };
}

/**
 * P(D_n >= d) for the one-sample two-sided KS statistic D_n (scipy.stats.kstwo.sf(d, n)),
 * accurate to 1e-8 absolute for every n >= 1.
 */
export function kstwoSf(d: number, n: number): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`kstwoSf: expected n to be a positive integer, got ${describe(n)}`);
  }
  if (typeof d !== 'number' || Number.isNaN(d)) throw new Error(`kstwoSf: expected a number d, got ${describe(d)}`);
  return kolmognSf(n, d);
}

// ------------------------------------------------------------------------------------ kstwo

/** Where scipy uses the Durbin matrix for n > 140, use it up to this n, Pelz-Good above (see header). */
const DMTW_MAX_N = 3000;

/** scipy's _kolmogn(n, x, cdf=False). */
function kolmognSf(n: number, x: number): number {
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino: P(D_n <= x) = n!/n^n (2t - 1)^n for 1/(2n) <= x <= 1/n.
    if (t <= 0.5) return 1;
    let prob: number;
    if (n <= 140) {
      prob = 1;
      const f = 2 * t - 1;
      for (let i = 1; i <= n; i++) prob *= i * (1 / n) * f;
    } else {
      prob = Math.exp(logFactDivPow(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - prob);
  }
  if (t >= n - 1) return clip01(2 * Math.pow(1 - x, n)); // Ruben-Gambino
  if (x >= 0.5) return clip01(2 * smirnov(n, x)); // exact: D+ and D- cannot both reach x
  const nxx = t * x;
  if (n <= 140) {
    if (nxx <= 0.754693) return clip01(1 - dmtwCdf(n, x));
    if (nxx <= 4) return clip01(1 - pomeranzCdf(n, x));
    return clip01(2 * smirnov(n, x));
  }
  if (nxx >= 370) return 0;
  if (nxx >= 2.2) return clip01(2 * smirnov(n, x));
  let cdf: number;
  if (n <= 100000 && n * Math.pow(x, 1.5) <= 1.4 && n <= DMTW_MAX_N) cdf = dmtwCdf(n, x);
  else cdf = pelzGoodCdf(n, x);
  return clip01(1 - cdf);
}

const EP128 = 2 ** 128;
const EM128 = 2 ** -128;

function matmul(X: Float64Array, Y: Float64Array, out: Float64Array, m: number): void {
  out.fill(0);
  for (let i = 0; i < m; i++) {
    const io = i * m;
    for (let k = 0; k < m; k++) {
      const xik = X[io + k];
      if (xik === 0) continue;
      const ko = k * m;
      for (let j = 0; j < m; j++) out[io + j] += xik * Y[ko + j];
    }
  }
}

/** P(D_n <= d): Durbin's matrix, as evaluated by Marsaglia, Tsang & Wang (2003), with rescaling. */
function dmtwCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac; // 1/(j-1)!
    fac /= j; // 1/j!
    v[j - 1] = (1 - Math.pow(h, j)) * fac;
  }
  const tt = Math.pow(Math.max(2 * h - 1, 0), m) - 2 * Math.pow(h, m);
  v[m - 1] = (1 + tt) * fac;
  let H = new Float64Array(m * m);
  for (let c = 1; c < m; c++) {
    for (let r = c - 1; r < m; r++) H[r * m + c] = w[r - (c - 1)];
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r];
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c];

  // e_k^T H^n e_k: square H repeatedly, and multiply the row vector e_k^T by the squares that
  // the binary digits of n select (powers of H commute), so only the squarings cost m^3.
  let vec = new Float64Array(m);
  let vtmp = new Float64Array(m);
  vec[k - 1] = 1;
  let tmp = new Float64Array(m * m);
  const kk = (k - 1) * m + (k - 1);
  let expnt = 0;
  let hexpnt = 0;
  let nn = n;
  while (nn > 0) {
    if (nn % 2) {
      vtmp.fill(0);
      for (let r = 0; r < m; r++) {
        const vr = vec[r];
        if (vr === 0) continue;
        const ro = r * m;
        for (let c = 0; c < m; c++) vtmp[c] += vr * H[ro + c];
      }
      [vec, vtmp] = [vtmp, vec];
      expnt += hexpnt;
      if (Math.abs(vec[k - 1]) > EP128) { // keep the accumulated product in range too
        for (let c = 0; c < m; c++) vec[c] *= EM128;
        expnt += 128;
      }
    }
    nn = Math.floor(nn / 2);
    if (nn > 0) {
      matmul(H, H, tmp, m);
      [H, tmp] = [tmp, H];
      hexpnt *= 2;
      if (Math.abs(H[kk]) > EP128) {
        for (let i = 0; i < m * m; i++) H[i] *= EM128;
        hexpnt += 128;
      }
    }
  }
  let p = vec[k - 1];
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) { p *= EP128; expnt -= 128; }
  }
  if (expnt !== 0) p = ldexp(p, expnt);
  return clip01(p);
}

function pomeranzJ1J2(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const half = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) { // i odd
      if (half === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** P(D_n <= x) by the Pomeranz (1974) recursion, with rescaling. */
function pomeranzCdf(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = twogpower[0] = onem2gpower[0] = 1;
  const gn = g / n;
  const g2n = (2 * g) / n;
  const om2gn = (1 - 2 * g) / n;
  for (let q = 1; q < npwrs; q++) {
    gpower[q] = (gpower[q - 1] * gn) / q;
    twogpower[q] = (twogpower[q - 1] * g2n) / q;
    onem2gpower[q] = (onem2gpower[q - 1] * om2gn) / q;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let expnt = 0;
  let [j1, j2] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pw = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      const base = k1 - V0s; // V0[base + p], p = 0..ln2-1 (missing beyond the row: 0)
      const cs = j1 - k1;
      const clen = j2 - j1 + 1;
      let vmax = 0;
      for (let q = 0; q < clen; q++) {
        const qq = cs + q; // index into the full convolution
        let s = 0;
        const pLo = Math.max(0, qq - (ln2 - 1), -base);
        const pHi = Math.min(qq, ln2 - 1, npwrs - 1 - base);
        for (let p = pLo; p <= pHi; p++) s += V0[base + p] * pw[qq - p];
        V1[q] = s;
        if (s > vmax) vmax = s;
      }
      if (vmax > 0 && vmax < EM128) {
        for (let q = 0; q < clen; q++) V1[q] *= EP128;
        expnt -= 128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s];
  for (let q = 1; q <= n; q++) {
    if (Math.abs(ans) > EP128) { ans *= EM128; expnt += 128; }
    ans *= q;
  }
  if (expnt !== 0) ans = ldexp(ans, expnt);
  return clip01(ans);
}

const PI2 = Math.PI * Math.PI;
const PI4 = PI2 * PI2;
const PI6 = PI4 * PI2;
const SQRT3 = Math.sqrt(3);

/** Pelz-Good (1976) approximation to P(D_n <= x): Li-Chien/Korolyuk terms to n^(-3/2), theta-transformed. */
function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qlog = -PI2 / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z4 * z4;
  let K0 = 0, K1 = 0, K2 = 0, K3 = 0;
  const maxk = Math.ceil((16 * z) / Math.PI);
  // Horner in q^(8k) over the odd integers m = 2k - 1.
  for (let k = maxk; k >= 1; k--) {
    const mm = 2 * k - 1;
    const m2 = mm * mm;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qp = Math.pow(q, 8 * k);
    K0 = K0 * qp + 1;
    K1 = K1 * qp + (k1a + k1b * m2);
    K2 = K2 * qp + (k2a + k2b * m2 + k2c * m4);
    K3 = K3 * qp + (k3a + k3b * m2 + k3c * m4 + k3d * m6);
  }
  const c = q * SQRT_2PI;
  K0 = (K0 * c) / z;
  K1 = (K1 * c) / (6 * z4);
  K2 = (K2 * c) / (72 * z6 * z);
  K3 = (K3 * c) / (6480 * z6 * z4);
  // Terms over all integers k for K2 and K3.
  q = Math.exp(-PI2 / 2 / z2);
  const sqrt3z = SQRT3 * z;
  let s2 = 0;
  let s3 = 0;
  for (let k = maxk; k >= 1; k--) {
    const ksq = k * k;
    const qk = Math.pow(q, ksq);
    const kpi = Math.PI * k;
    s2 += ksq * qk;
    s3 += (sqrt3z + kpi) * (sqrt3z - kpi) * ksq * qk;
  }
  K2 += (s2 * PI2 * SQRT_2PI) / (-36 * z3);
  K3 += (s3 * PI2 * SQRT_2PI) / (216 * z6);
  const sn = Math.sqrt(n);
  return K0 + K1 / sn + K2 / n + K3 / (n * sn);
}

/** Above this many terms, smirnov samples its summand on a sub-lattice. */
const SMIRNOV_MAX_TERMS = 600;

/**
 * One-sided P(D_n^+ >= x), Birnbaum-Tingey:
 *   sum_{j=0}^{floor(n(1-x))} binom(n, j) x (x + j/n)^(j-1) (1 - x - j/n)^(n-j).
 * Each term in log space, written so that the large parts cancel analytically (u = j/n, v = 1 - u):
 *   log x + j log1p(x/u) + (n-j) log1p(-x/v) - log(x+u) - log(2 pi n u v)/2 + c(n) - c(j) - c(n-j)
 * with c the Stirling remainder.
 */
function smirnov(n: number, x: number): number {
  if (!(x > 0)) return 1;
  if (x >= 1) return 0;
  if (-2 * n * x * x < -746) return 0; // P <= exp(-2 n x^2) (Massart): underflows
  const J = Math.floor(n * (1 - x));
  const lx = Math.log(x);
  const cn = stirlingCorr(n);
  const term = (j: number): number => {
    if (j === 0) return Math.exp(n * Math.log1p(-x));
    const u = j / n;
    const v = (n - j) / n;
    const r = x / v;
    if (!(r < 1)) return 0; // 1 - x - j/n == 0: the factor 0^(n-j)
    const L = lx + j * Math.log1p(x / u) + (n - j) * Math.log1p(-r) - Math.log(x + u)
      - 0.5 * Math.log(2 * Math.PI * n * u * v) + cn - stirlingCorr(j) - stirlingCorr(n - j);
    return Math.exp(L);
  };
  let s = 0;
  // Sub-sampling needs the summand negligible and smooth near both ends: the terms for small j
  // behave like lambda (lambda + j)^(j-1) e^(-lambda-j) / j! with lambda = n x, so ask for
  // n x >= 60 (head terms < e^-60) and sqrt(n) x >= 1.4 (the bulk, at j ~ n (sqrt(n) x)^2 / 60,
  // then lies far from the singularities at j = -n x and j = n (1 - x) compared with the step).
  // kstwoSf only calls this for n x^2 >= 2.2 (or x >= 0.5), which satisfies both when n > 2000.
  if (J + 1 <= SMIRNOV_MAX_TERMS || n * x < 60 || n * x * x < 1.96) {
    for (let j = 0; j <= J; j++) s += term(j);
    return s;
  }
  // The summand is then smooth on the scale of sqrt(n) and vanishes at both ends, so the
  // trapezoid rule on every step-th term is exponentially accurate (checked against the full sum).
  const step = Math.ceil((J + 1) / SMIRNOV_MAX_TERMS);
  for (let j = 0; j <= J; j += step) s += term(j);
  return s * step;
}

/** Internals exposed for the tests. */
export const _internal = { smirnov, dmtwCdf, pomeranzCdf, pelzGoodCdf, statisticSorted, roundHalfEven, SMIRNOV_MAX_TERMS };
