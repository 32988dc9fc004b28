/**
 * Distribution-distance statistics for data drift: a window of current values of one feature
 * against its reference, which is either a sorted sample or a quantile sketch.
 *
 * A quantile sketch is `edges[i]` = the reference quantile at `probabilities[i]` (strictly
 * increasing probabilities in [0, 1], usually 0 first and 1 last, e.g. the 11 deciles of
 * model/export.ts's referenceFromData; edges non-decreasing). Its CDF F is taken as piecewise
 * linear between the edges, 0 below edges[0] and 1 from the last edge on. Repeated edges are a
 * jump; F is right-continuous, so at a repeated edge x, F(x) is the probability of the LAST edge
 * equal to x. If probabilities[0] > 0 (or the last < 1) F jumps at the first (last) edge.
 *
 * Everything here is pure and allocation-light: no intermediate arrays except the outputs of
 * bonferroni, benjaminiHochberg (which sorts an index array), quantileEdges and
 * expectedBinProportions. Malformed input throws an Error "<function>: expected ..., got ...".
 */
import { quantileSorted } from 'simple-statistics';

const DEFAULT_PSI_FLOOR = 1e-4;

// ---------------------------------------------------------------------------------------------
// validation

function fail(fn: string, expected: string, got: string): never {
  throw new Error(`${fn}: expected ${expected}, got ${got}`);
}

function checkSketch(fn: string, edges: ArrayLike<number>, probabilities: ArrayLike<number>): void {
  const k = edges.length;
  if (k !== probabilities.length) {
    fail(fn, 'as many probabilities as edges', `${probabilities.length} probabilities for ${k} edges`);
  }
  if (k === 0) fail(fn, 'at least one edge', 'none');
  for (let i = 0; i < k; i++) {
    const e = edges[i];
    const p = probabilities[i];
    if (!Number.isFinite(e)) fail(fn, 'finite edges', `edges[${i}] = ${e}`);
    if (!(p >= 0 && p <= 1)) fail(fn, 'probabilities in [0, 1]', `probabilities[${i}] = ${p}`);
    if (i > 0) {
      if (!(p > probabilities[i - 1])) {
        fail(fn, 'strictly increasing probabilities', `probabilities[${i - 1}] = ${probabilities[i - 1]}, probabilities[${i}] = ${p}`);
      }
      if (!(e >= edges[i - 1])) fail(fn, 'non-decreasing edges', `edges[${i - 1}] = ${edges[i - 1]}, edges[${i}] = ${e}`);
    }
  }
}

function checkEdges(fn: string, edges: ArrayLike<number>): void {
  if (edges.length < 2) fail(fn, 'at least 2 edges (1 bin)', `${edges.length} edges`);
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i];
    if (!Number.isFinite(e)) fail(fn, 'finite edges', `edges[${i}] = ${e}`);
    if (i > 0 && !(e >= edges[i - 1])) fail(fn, 'non-decreasing edges', `edges[${i - 1}] = ${edges[i - 1]}, edges[${i}] = ${e}`);
  }
}

function checkSorted(fn: string, name: string, a: ArrayLike<number>): void {
  if (a.length === 0) fail(fn, `a non-empty sample ${name}`, 'an empty one');
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (!Number.isFinite(v)) fail(fn, `finite values in ${name}`, `${name}[${i}] = ${v}`);
    if (i > 0 && v < a[i - 1]) fail(fn, `${name} sorted ascending`, `${name}[${i - 1}] = ${a[i - 1]} > ${name}[${i}] = ${v}`);
  }
}

/** The sum of a histogram of non-negative finite counts or proportions, which must be > 0. */
function histogramSum(fn: string, name: string, h: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < h.length; i++) {
    const v = h[i];
    if (!(v >= 0) || v === Infinity) fail(fn, `non-negative finite counts in ${name}`, `${name}[${i}] = ${v}`);
    sum += v;
  }
  if (!(sum > 0)) fail(fn, `${name} with a positive total`, `a total of ${sum} over ${h.length} bins`);
  return sum;
}

function checkSameLength(fn: string, a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) fail(fn, `two ${what} of the same length`, `${a.length} and ${b.length}`);
  if (a.length === 0) fail(fn, `non-empty ${what}`, 'empty ones');
}

function checkPValues(fn: string, p: ArrayLike<number>): void {
  for (let i = 0; i < p.length; i++) {
    if (!(p[i] >= 0 && p[i] <= 1)) fail(fn, 'p-values in [0, 1]', `p[${i}] = ${p[i]}`);
  }
}

// ---------------------------------------------------------------------------------------------
// binary searches (unchecked)

/** The number of a[0..n) that are <= x, i.e. the index of the first element > x. */
function upperBound(a: ArrayLike<number>, x: number, n: number = a.length): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The index of the first element of a that is >= x (a.length if none). */
function lowerBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// quantile sketch

function cdfUnchecked(edges: ArrayLike<number>, probabilities: ArrayLike<number>, x: number): number {
  const k = edges.length;
  const s = upperBound(edges, x) - 1; // the last edge <= x
  if (s < 0) return 0;
  if (s >= k - 1) return 1;
  // edges[s] <= x < edges[s + 1], so the segment has positive width
  const e0 = edges[s];
  const p0 = probabilities[s];
  return p0 + ((probabilities[s + 1] - p0) * (x - e0)) / (edges[s + 1] - e0);
}

/** F(x-), the limit from the left of cdfUnchecked: before the jump at a repeated edge. */
function cdfLeftUnchecked(edges: ArrayLike<number>, probabilities: ArrayLike<number>, x: number): number {
  const k = edges.length;
  const s = lowerBound(edges, x); // the first edge >= x
  if (s === 0) return 0;
  if (s === k) return 1;
  // edges[s - 1] < x <= edges[s]
  const e0 = edges[s - 1];
  const p0 = probabilities[s - 1];
  return p0 + ((probabilities[s] - p0) * (x - e0)) / (edges[s] - e0);
}

/**
 * Reference CDF of a quantile sketch at x (piecewise linear between edges; jumps at repeated
 * edges, right-continuous). 0 below edges[0], 1 at and above the last edge.
 */
export function sketchCdf(edges: ArrayLike<number>, probabilities: ArrayLike<number>, x: number): number {
  checkSketch('sketchCdf', edges, probabilities);
  if (Number.isNaN(x)) fail('sketchCdf', 'a number x', 'NaN');
  return cdfUnchecked(edges, probabilities, x);
}

/** The limit from the left of sketchCdf at x, F(x-): it differs from F(x) at a jump (a repeated edge, or an end whose probability is not 0 or 1). */
export function sketchCdfLeft(edges: ArrayLike<number>, probabilities: ArrayLike<number>, x: number): number {
  checkSketch('sketchCdfLeft', edges, probabilities);
  if (Number.isNaN(x)) fail('sketchCdfLeft', 'a number x', 'NaN');
  return cdfLeftUnchecked(edges, probabilities, x);
}

/** The one-sample KS statistic sup |F_n - F| of the first n values of a sorted sample against a sketch's CDF. */
export function ksStatisticSketch(sorted: ArrayLike<number>, n: number, edges: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  checkSketch('ksStatisticSketch', edges, probabilities);
  let d = 0;
  for (let i = 0; i < n; i++) {
    const x = sorted[i];
    const up = (i + 1) / n - cdfUnchecked(edges, probabilities, x);
    const down = cdfLeftUnchecked(edges, probabilities, x) - i / n;
    if (up > d) d = up;
    if (down > d) d = down;
  }
  return d;
}

/**
 * Reference quantile function of a sketch at p in [0,1]: the generalised inverse
 * Q(p) = inf { x : F(x) >= p } of sketchCdf, so F(Q(p)) >= p with equality wherever F is
 * continuous at Q(p), and Q(F(x)) = x wherever F is strictly increasing at x. Q(p) = edges[0]
 * for p <= probabilities[0] (including p = 0, where the infimum would be -Infinity) and the last
 * edge for p > the last probability. Between probabilities[i] < p <= probabilities[i + 1] it
 * interpolates linearly between edges[i] and edges[i + 1].
 */
export function sketchQuantile(edges: ArrayLike<number>, probabilities: ArrayLike<number>, p: number): number {
  checkSketch('sketchQuantile', edges, probabilities);
  if (!(p >= 0 && p <= 1)) fail('sketchQuantile', 'p in [0, 1]', `${p}`);
  const k = edges.length;
  const j = lowerBound(probabilities, p); // the first probability >= p
  if (j === 0) return edges[0];
  if (j >= k) return edges[k - 1];
  const p0 = probabilities[j - 1];
  const e0 = edges[j - 1];
  return e0 + ((edges[j] - e0) * (p - p0)) / (probabilities[j] - p0);
}

// ---------------------------------------------------------------------------------------------
// bins

/** binIndex without its checks, for hot paths whose edges were checked once (the drift monitor's windows) and whose x is not NaN. */
export function binIndexUnchecked(edges: ArrayLike<number>, x: number): number {
  // the number of inner boundaries edges[1..last-1] that are <= x
  const last = edges.length - 1;
  const u = upperBound(edges, x, last); // among edges[0..last-1]
  return u <= 1 ? 0 : u - 1;
}

/**
 * Index of the bin of x among `edges` used as bin boundaries: bin i holds
 * edges[i] <= x < edges[i+1] for inner bins; below edges[1] -> 0, at/above edges[last-1] -> last
 * bin (open-ended first and last bins, so edges[0] and edges[last] only count as labels). Binary
 * search. bins = edges.length - 1.
 *
 * Repeated edges: bins are half-open [edges[i], edges[i+1]), so a bin between two equal edges is
 * empty and a value equal to a repeated edge goes to the bin that STARTS at the last copy of it
 * (the same convention as the right-continuous sketchCdf). With edges [0, 1, 1, 2], x = 1 falls in
 * bin 2 = [1, +inf) and bin 1 = [1, 1) never receives anything. Use expectedBinProportions for
 * the reference proportions consistent with this, not the differences of the probabilities.
 * -Infinity and +Infinity go to the first and last bins; NaN throws.
 */
export function binIndex(edges: ArrayLike<number>, x: number): number {
  checkEdges('binIndex', edges);
  if (Number.isNaN(x)) fail('binIndex', 'a number x', 'NaN');
  return binIndexUnchecked(edges, x);
}

/**
 * Counts of `values` in the bins of binIndex (added to `out` if given, which must have
 * edges.length - 1 entries; otherwise a new zeroed Float64Array). Non-finite values other than
 * +-Infinity (i.e. NaN) throw.
 */
export function binCounts(edges: ArrayLike<number>, values: ArrayLike<number>, out?: Float64Array): Float64Array {
  checkEdges('binCounts', edges);
  const bins = edges.length - 1;
  const counts = out ?? new Float64Array(bins);
  if (counts.length !== bins) fail('binCounts', `an output of ${bins} bins`, `${counts.length}`);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) fail('binCounts', 'numbers', `values[${i}] = NaN`);
    counts[binIndexUnchecked(edges, v)]++;
  }
  return counts;
}

/**
 * The probability of each bin of binIndex (bins bounded by the sketch's edges) under the
 * sketch's CDF: bin 0 gets F(edges[1]-), inner bin i gets F(edges[i+1]-) - F(edges[i]-), the last
 * bin 1 - F(edges[last-1]-), where F(x-) is the left limit. For distinct edges with
 * probabilities from 0 to 1 these are just the differences of the probabilities (0.1 for
 * deciles); with repeated edges the bin between two copies gets 0 and the mass of the jump goes
 * to the bin starting at the repeated edge, as binIndex does with the data. These are the
 * `expected` proportions for psi against binCounts of the current window.
 */
export function expectedBinProportions(edges: ArrayLike<number>, probabilities: ArrayLike<number>): Float64Array {
  checkSketch('expectedBinProportions', edges, probabilities);
  const k = edges.length;
  if (k < 2) fail('expectedBinProportions', 'at least 2 edges (1 bin)', `${k} edges`);
  const bins = k - 1;
  const out = new Float64Array(bins);
  let prev = 0;
  for (let i = 1; i < bins; i++) {
    const f = lowerBound(edges, edges[i]); // the first copy of edges[i]
    const left = f === 0 ? 0 : probabilities[f];
    out[i - 1] = left - prev;
    prev = left;
  }
  out[bins - 1] = 1 - prev;
  return out;
}

// ---------------------------------------------------------------------------------------------
// histogram distances

/**
 * Population Stability Index between expected and actual bin proportions (or counts: both are
 * normalised to proportions first). Each proportion is then floored at `floor` (default 1e-4,
 * must be > 0), so an empty bin contributes a finite term; the floored values are used in both
 * factors of PSI = sum (a - e) * ln(a / e) (the floored proportions are not renormalised).
 * PSI >= 0, 0 for identical histograms. Common reading: < 0.1 stable, 0.1-0.25 moderate,
 * > 0.25 a significant shift.
 */
export function psi(expected: ArrayLike<number>, actual: ArrayLike<number>, floor: number = DEFAULT_PSI_FLOOR): number {
  const fn = 'psi';
  checkSameLength(fn, expected, actual, 'histograms');
  if (!(floor > 0 && floor < 1)) fail(fn, 'a floor in (0, 1)', `${floor}`);
  const se = histogramSum(fn, 'expected', expected);
  const sa = histogramSum(fn, 'actual', actual);
  let total = 0;
  for (let i = 0; i < expected.length; i++) {
    let e = expected[i] / se;
    let a = actual[i] / sa;
    if (e < floor) e = floor;
    if (a < floor) a = floor;
    total += (a - e) * Math.log(a / e);
  }
  return total;
}

/** x ln(x / y) for x, y > 0; 0 for x = 0 (scipy.special.rel_entr; y = 0 < x cannot occur here since y = (x + other) / 2). */
function relEntr(x: number, y: number): number {
  return x > 0 ? x * Math.log(x / y) : 0;
}

/**
 * Jensen-Shannon distance (square root of the JS divergence) between two histograms (each
 * normalised), base 2 by default so it lies in [0, 1]; equals
 * scipy.spatial.distance.jensenshannon(p, q, base) (whose own default base is e). Symmetric, 0 for
 * equal histograms, 1 (base 2) for disjoint ones. Rounding below 0 is clamped to 0.
 */
export function jensenShannon(p: ArrayLike<number>, q: ArrayLike<number>, base: number = 2): number {
  const fn = 'jensenShannon';
  checkSameLength(fn, p, q, 'histograms');
  if (!(base > 0 && base !== 1 && base !== Infinity)) fail(fn, 'a logarithm base > 0 other than 1', `${base}`);
  const sp = histogramSum(fn, 'p', p);
  const sq = histogramSum(fn, 'q', q);
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / sp;
    const qi = q[i] / sq;
    const m = (pi + qi) / 2;
    js += relEntr(pi, m) + relEntr(qi, m);
  }
  js /= Math.log(base);
  return js > 0 ? Math.sqrt(js / 2) : 0;
}

// ---------------------------------------------------------------------------------------------
// Wasserstein

/**
 * 1-Wasserstein distance between two sorted samples (ascending, finite, non-empty), equal to
 * scipy.stats.wasserstein_distance(a, b) = the integral of |F_a - F_b| over the real line, by one
 * merge pass over both samples: O(n1 + n2), no allocation. Throws on unsorted input.
 */
export function wasserstein1Sorted(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkSorted('wasserstein1Sorted', 'a', a);
  checkSorted('wasserstein1Sorted', 'b', b);
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let x = a[0] < b[0] ? a[0] : b[0];
  let total = 0; // sum of |i n2 - j n1| * dx, divided by n1 n2 at the end
  for (;;) {
    while (i < n1 && a[i] <= x) i++;
    while (j < n2 && b[j] <= x) j++;
    const na = i < n1 ? a[i] : Infinity;
    const nb = j < n2 ? b[j] : Infinity;
    const next = na < nb ? na : nb;
    if (next === Infinity) break;
    total += Math.abs(i * n2 - j * n1) * (next - x);
    x = next;
  }
  return total / n1 / n2;
}

/** The integral over an interval of width w of |c - r(t)| where r goes linearly from r0 to r1. */
function absLinearIntegral(c: number, r0: number, r1: number, w: number): number {
  const d0 = r0 - c;
  const d1 = r1 - c;
  if ((d0 >= 0 && d1 >= 0) || (d0 <= 0 && d1 <= 0)) return (w * Math.abs(d0 + d1)) / 2;
  // the sign changes inside: two triangles
  const a0 = Math.abs(d0);
  const a1 = Math.abs(d1);
  return (w * (d0 * d0 + d1 * d1)) / (2 * (a0 + a1));
}

/**
 * 1-Wasserstein distance between a sorted sample and a quantile sketch (piecewise-linear CDF):
 * the integral of |F_a - F_ref| dx, computed exactly piece by piece between the merged sample
 * values and edges (on each piece F_a is constant and F_ref linear), O(n + edges), no allocation.
 * The sketch's jumps (repeated edges, a first probability > 0 or a last < 1) are handled as
 * in sketchCdf.
 */
export function wasserstein1Sketch(a: ArrayLike<number>, edges: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  checkSorted('wasserstein1Sketch', 'a', a);
  checkSketch('wasserstein1Sketch', edges, probabilities);
  const n = a.length;
  const last = edges.length - 1;
  let i = 0; // the number of sample values <= x: F_a = i / n on [x, next)
  let s = -1; // the last edge <= x
  let x = a[0] < edges[0] ? a[0] : edges[0];
  let total = 0;
  for (;;) {
    while (i < n && a[i] <= x) i++;
    while (s < last && edges[s + 1] <= x) s++;
    const na = i < n ? a[i] : Infinity;
    const ne = s < last ? edges[s + 1] : Infinity;
    const next = na < ne ? na : ne;
    if (next === Infinity) break;
    let r0: number;
    let r1: number;
    if (s < 0) {
      r0 = 0;
      r1 = 0;
    } else if (s >= last) {
      r0 = 1;
      r1 = 1;
    } else {
      // edges[s] <= x < next <= edges[s + 1]
      const e0 = edges[s];
      const width = edges[s + 1] - e0;
      const p0 = probabilities[s];
      const dp = probabilities[s + 1] - p0;
      r0 = p0 + (dp * (x - e0)) / width;
      r1 = next === edges[s + 1] ? probabilities[s + 1] : p0 + (dp * (next - e0)) / width;
    }
    total += absLinearIntegral(i / n, r0, r1, next - x);
    x = next;
  }
  return total;
}

/**
 * W1 divided by the reference standard deviation, as Evidently's "wasserstein" drift test does
 * (drift when >= 0.1 there): a scale-free distance, in reference standard deviations.
 * refStd = 0 (a constant reference feature): 0 when w is 0 too (the window equals the constant),
 * otherwise Infinity (any movement of a constant is infinitely many standard deviations).
 * Evidently instead floors the standard deviation at 0.001, which is unit-dependent; apply such
 * a floor before calling if you want its numbers. Negative or NaN arguments throw.
 */
export function normalisedWasserstein(w: number, refStd: number): number {
  if (!(w >= 0)) fail('normalisedWasserstein', 'a distance w >= 0', `${w}`);
  if (!(refStd >= 0)) fail('normalisedWasserstein', 'a reference standard deviation >= 0', `${refStd}`);
  if (refStd === 0) return w === 0 ? 0 : Infinity;
  return w / refStd;
}

// ---------------------------------------------------------------------------------------------
// multiple testing

/** Bonferroni-adjusted p-values: min(1, p * m), m = p.length. */
export function bonferroni(p: ArrayLike<number>): Float64Array {
  checkPValues('bonferroni', p);
  const m = p.length;
  const out = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const v = p[i] * m;
    out[i] = v < 1 ? v : 1;
  }
  return out;
}

/**
 * Benjamini-Hochberg adjusted p-values (as R's p.adjust(p, "BH") and
 * scipy.stats.false_discovery_control(p, method='bh')), in the input order: with p sorted
 * ascending, adj(i) = min(1, min_{j >= i} p(j) m / j). Reject at FDR q where adj <= q.
 */
export function benjaminiHochberg(p: ArrayLike<number>): Float64Array {
  checkPValues('benjaminiHochberg', p);
  const m = p.length;
  const order = new Uint32Array(m);
  for (let i = 0; i < m; i++) order[i] = i;
  order.sort((x, y) => p[x] - p[y]);
  const out = new Float64Array(m);
  let run = 1;
  for (let r = m - 1; r >= 0; r--) {
    const idx = order[r];
    const v = (p[idx] * m) / (r + 1);
    if (v < run) run = v;
    out[idx] = run;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// reference

/**
 * Reference quantile edges of a sorted sample at the given probabilities, with the same
 * convention as model/export.ts's referenceFromData: simple-statistics' quantileSorted, i.e.
 * linear interpolation between order statistics at index (n - 1) p (R type 7, numpy's default
 * 'linear'), p = 0 and 1 giving min and max. The sample must be sorted ascending and finite, the
 * probabilities strictly increasing in [0, 1] (so the result is a valid sketch).
 */
export function quantileEdges(sorted: ArrayLike<number>, probabilities: ArrayLike<number>): number[] {
  const fn = 'quantileEdges';
  checkSorted(fn, 'the sample', sorted);
  const out: number[] = new Array(probabilities.length);
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i];
    if (!(p >= 0 && p <= 1)) fail(fn, 'probabilities in [0, 1]', `probabilities[${i}] = ${p}`);
    if (i > 0 && !(p > probabilities[i - 1])) {
      fail(fn, 'strictly increasing probabilities', `probabilities[${i - 1}] = ${probabilities[i - 1]}, probabilities[${i}] = ${p}`);
    }
    // quantileSorted only reads length and indices, so any ArrayLike (e.g. a Float64Array) will do
    out[i] = quantileSorted(sorted as unknown as readonly number[], p);
  }
  return out;
}
