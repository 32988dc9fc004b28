/**
 * Drift detection benchmark:
 *   npx tsx bench/drift.bench.ts        (npm run bench:drift)
 * In one run (about a minute on 2 cores), each figure beside a naive recomputation
 * baseline (bench/support/drift-naive.ts) measured in the same run, as a ratio:
 *   1. streaming detectors (nodes/lib/drift/detectors/, River's defaults): updates/s of ADWIN,
 *      Page-Hinkley and KSWIN on a Gaussian stream with 4 mean shifts, DDM on a 0/1 error stream
 *      whose error rate changes 4 times; 1,000,000 updates for the headline figure. The naive
 *      baselines recompute from scratch at every update (ADWIN: at every clock tick) and are
 *      O(width) or O(history) per update, so they run on a shorter stream of the same shape, and
 *      the ratio is taken against the real detector on that same shorter stream. Each pair is
 *      checked to detect at exactly the same updates ("same detections").
 *   2. window tests at 24 features (nodes/lib/drift/monitor.ts WindowMonitor.ingest, one vector
 *      per call as messages arrive, method ks; KS, PSI, Wasserstein and JS are computed anyway):
 *      vectors/s for window 100 and 500, evaluateEvery 1 and 10, reference from samples of 2000
 *      values and from a model-style quantile sketch (referenceFromData of the same 2000 rows),
 *      beside a naive evaluation that copies, sorts and bins each feature's window and calls the
 *      same featureStats; checked to give the same statistics (max abs difference). Plus the cost
 *      split of an evaluation: the KS p-value (ksPValue) against the rest.
 *   3. a summary table: what, figure, baseline, ratio.
 * Figures are the median of 3 timed runs after a warm-up (process.hrtime.bigint; a naive baseline
 * that takes over 1.3 s gets one run). No assertions on timing; the machine is shared, expect
 * +-30 % between runs.
 */
import { ADWIN, DDM, KSWIN, PageHinkley, type StreamingDetector } from '../nodes/lib/drift/detectors';
import { WindowMonitor, type WindowMonitorConfig } from '../nodes/lib/drift/monitor';
import { baselineFromModel, baselineFromSamples, type Baseline } from '../nodes/lib/drift/baseline';
import { ksPValue, type KsMethod } from '../nodes/lib/drift/ks';
import { bonferroni } from '../nodes/lib/drift/stats';
import { referenceFromData } from '../nodes/lib/model/export';
import { mulberry32 } from '../nodes/lib/random';
import { NaiveADWIN, NaiveDDM, type NaiveDetector, NaiveKSWIN, NaivePageHinkley, naiveFeatureStats } from './support/drift-naive';

const N = 1_000_000;
const KSWIN_SEED = 7;

const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(1));
const ratio = (a: number, b: number) => (a / b >= 10 ? `${(a / b).toFixed(0)}x` : `${(a / b).toFixed(2)}x`);
const now = () => process.hrtime.bigint();
const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

/**
 * The median of 3 runs by `key` (`run` tells the run's number, e.g. to collect results on the
 * first only); a single run when the first already took more than a third of `budget` seconds.
 */
function median<T>(runs: number, f: (run: number) => T, key: (x: T) => number, budget = Infinity): T & { runs: number } {
  const xs: T[] = [];
  const t0 = now();
  for (let r = 0; r < runs; r++) {
    xs.push(f(r));
    if (r === 0 && secs(t0) * runs > budget) break;
  }
  xs.sort((a, b) => key(a) - key(b));
  return { ...xs[Math.floor(xs.length / 2)], runs: xs.length };
}

interface Row { what: string; figure: string; baseline: string; ratio: string }
const table: Row[] = [];

// =============================================================================================
// 1. streaming detectors
// =============================================================================================

/** Standard normal draws (Box-Muller on mulberry32). */
function gauss(rng: () => number): () => number {
  let spare = NaN;
  return () => {
    if (spare === spare) {
      const s = spare;
      spare = NaN;
      return s;
    }
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** A sensor-like signal: 5 equal segments with means 0, 1, 0.4, 1.5, 0.6 (4 shifts), noise sd 0.5. */
function valueStream(n: number): Float64Array {
  const g = gauss(mulberry32(1));
  const means = [0, 1, 0.4, 1.5, 0.6];
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = means[Math.floor((i * means.length) / n)] + 0.5 * g();
  return out;
}

/** A model's 0/1 error stream: 5 equal segments with error rates 0.05, 0.15, 0.05, 0.25, 0.1. */
function errorStream(n: number): Float64Array {
  const rng = mulberry32(2);
  const rates = [0.05, 0.15, 0.05, 0.25, 0.1];
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rng() < rates[Math.floor((i * rates.length) / n)] ? 1 : 0;
  return out;
}

interface StreamRun { rate: number; detections: number[] }

function runDetector(make: () => StreamingDetector | NaiveDetector, data: Float64Array): StreamRun {
  const d = make();
  const detections: number[] = [];
  const t0 = now();
  for (let i = 0; i < data.length; i++) {
    d.update(data[i]);
    if (d.driftDetected) detections.push(i);
  }
  return { rate: data.length / secs(t0), detections };
}

const sameList = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

interface DetectorCase {
  label: string;
  real: () => StreamingDetector;
  naive: () => NaiveDetector;
  naiveCode: string;
  data: (n: number) => Float64Array;
  /** Length of the stream both run on for the ratio (the naive one is O(width) or O(history) per update). */
  naiveN: number;
}

const DETECTORS: DetectorCase[] = [
  {
    label: 'ADWIN',
    real: () => new ADWIN(),
    naive: () => new NaiveADWIN(),
    naiveCode: 'NaiveADWIN: raw window + bucket sizes; total, variance and every cut recomputed from the raw values at each clock tick',
    data: valueStream,
    naiveN: 200_000,
  },
  {
    label: 'Page-Hinkley',
    real: () => new PageHinkley(),
    naive: () => new NaivePageHinkley(),
    naiveCode: 'NaivePageHinkley: running mean, cumulative sums and their min/max replayed over the whole history at each update',
    data: valueStream,
    naiveN: 50_000,
  },
  {
    label: 'KSWIN',
    real: () => new KSWIN({ seed: KSWIN_SEED }),
    naive: () => new NaiveKSWIN(KSWIN_SEED),
    naiveCode: "NaiveKSWIN: River's kswin.py: array window, fresh sample lists, ks2samp (copy + sort + test) at each update",
    data: valueStream,
    naiveN: 200_000,
  },
  {
    label: 'DDM',
    real: () => new DDM(),
    naive: () => new NaiveDDM(),
    naiveCode: 'NaiveDDM: error rate, std and p_min/s_min replayed over the whole history at each update',
    data: errorStream,
    naiveN: 20_000,
  },
];

function benchDetectors(): void {
  console.log(`\n-- 1. streaming detectors (River defaults), updates/s; stream: 5 segments, 4 shifts --`);
  console.log('   value stream: means 0, 1, 0.4, 1.5, 0.6, noise sd 0.5 (ADWIN, Page-Hinkley, KSWIN seed 7); error stream: rates 0.05, 0.15, 0.05, 0.25, 0.1 (DDM)');
  const full = { value: valueStream(N), error: errorStream(N) };
  for (const c of DETECTORS) {
    const big = c.data === valueStream ? full.value : full.error;
    const small = c.data(c.naiveN);
    // warm-up
    runDetector(c.real, big.subarray(0, 200_000));
    runDetector(c.naive, small.subarray(0, Math.min(small.length, 5_000)));
    const head = median(3, () => runDetector(c.real, big), (r) => r.rate);
    const realSmall = median(3, () => runDetector(c.real, small), (r) => r.rate);
    const naive = median(3, () => runDetector(c.naive, small), (r) => r.rate, 4);
    const same = sameList(realSmall.detections, naive.detections);
    console.log(`${c.label}: ${fmt(head.rate)} updates/s on ${N.toLocaleString('en')} (${head.detections.length} detections, first at ${head.detections.slice(0, 5).join(', ')}${head.detections.length > 5 ? ', ...' : ''})`);
    console.log(`   same shape, ${c.naiveN.toLocaleString('en')} updates: ${fmt(realSmall.rate)} updates/s; naive ${fmt(naive.rate)} updates/s; ratio ${ratio(realSmall.rate, naive.rate)} (naive: ${naive.runs === 1 ? 'one run' : `median of ${naive.runs}`}); ` +
      `detections ${realSmall.detections.length} vs ${naive.detections.length}, same detections: ${same ? 'yes' : 'NO'}`);
    if (!same) {
      const a = realSmall.detections;
      const b = naive.detections;
      const k = a.findIndex((v, i) => v !== b[i]);
      console.log(`   first difference at detection #${k}: real ${a[k]}, naive ${b[k]}`);
    }
    console.log(`   baseline: ${c.naiveCode}`);
    table.push({
      what: `${c.label} updates/s (naive on ${c.naiveN / 1000}k)`,
      figure: `${fmt(head.rate)} (${fmt(realSmall.rate)} on ${c.naiveN / 1000}k)`,
      baseline: fmt(naive.rate),
      ratio: `${ratio(realSmall.rate, naive.rate)}${same ? '' : ' (DIFFERENT detections)'}`,
    });
  }
  console.log('   (naive ADWIN costs O(width) per clock tick, naive Page-Hinkley and DDM O(history since the last detection) per update: ' +
    'those ratios grow with the stream between detections; KSWIN redraws, sorts and tests 30 + 30 values at every update either way)');
}

// =============================================================================================
// 2. window tests at 24 features
// =============================================================================================

const K = 24;
const NAMES = Array.from({ length: K }, (_, i) => `f${i}`);
const REF_ROWS = 2000;

/** Feature f: normal (f % 3 = 0), log-normal (1) or uniform (2), location f, scale 1 + f/24; from `shift` on, features 0-7 move by 0.5 scale. */
function vectors(rows: number, seed: number, shiftFrom = Infinity): Float64Array {
  const rng = mulberry32(seed);
  const g = gauss(rng);
  const out = new Float64Array(rows * K);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < K; f++) {
      const scale = 1 + f / K;
      const z = f % 3 === 0 ? g() : f % 3 === 1 ? Math.exp(0.5 * g()) - 1 : 3.4 * (rng() - 0.5);
      out[r * K + f] = f + scale * (z + (r >= shiftFrom && f < 8 ? 0.5 : 0));
    }
  }
  return out;
}

function baselines(): { sample: Baseline; sketch: Baseline } {
  const ref = vectors(REF_ROWS, 11);
  const cols: Record<string, Float64Array> = {};
  const rows: Float64Array[] = [];
  for (let r = 0; r < REF_ROWS; r++) rows.push(ref.subarray(r * K, (r + 1) * K));
  NAMES.forEach((n, f) => (cols[n] = Float64Array.from(rows, (row) => row[f])));
  const sample = baselineFromSamples(cols);
  const sketch = baselineFromModel({ name: 'bench', version: '1', features: NAMES, reference: referenceFromData(NAMES, rows) })!;
  return { sample, sketch };
}

interface WinCase { window: number; every: number; ref: 'sample' | 'sketch'; evals: number }

interface WinRun { rate: number; evaluations: number; seconds: number }

/** The monitor with its window filled (untimed), then `rows` vectors timed, one ingest per vector. */
function runMonitor(b: Baseline, cfg: Partial<WindowMonitorConfig>, data: Float64Array, fill: number, collect?: (r: ReturnType<WindowMonitor['ingest']>) => void): WinRun {
  const m = new WindowMonitor({ method: 'ks', ...cfg }, b, 0);
  const rows = data.length / K - fill;
  for (let r = 0; r < fill; r++) m.ingest(data.subarray(r * K, (r + 1) * K), 1, K, NAMES, 0);
  let evaluations = 0;
  const t0 = now();
  for (let r = fill; r < fill + rows; r++) {
    const rep = m.ingest(data.subarray(r * K, (r + 1) * K), 1, K, NAMES, r);
    if (rep) {
      evaluations++;
      if (collect) collect(rep);
    }
  }
  const s = secs(t0);
  return { rate: rows / s, evaluations, seconds: s };
}

interface NaiveReport { level: string; drifted: string[]; features: Array<{ ks: number; ksPValue: number; psi: number; wasserstein: number; js: number; mean: number; std: number }> }

/**
 * The naive monitor: per feature a ring of the last `window` values, nothing else; every
 * `every` vectors once full: each window copied, sorted, binned and tested (naiveFeatureStats),
 * then the same decision as WindowMonitor.evaluate (Bonferroni, alpha 0.05, shares 0.2 / 0.5).
 */
function runNaive(b: Baseline, window: number, every: number, data: Float64Array, fill: number, collect?: (r: NaiveReport) => void): WinRun {
  const rings = NAMES.map(() => new Float64Array(window));
  const refs = NAMES.map((n) => b.features[b.byName.get(n)!]);
  let slot = 0;
  let filled = 0;
  let since = 0;
  let evaluations = 0;
  const step = (r: number) => {
    for (let f = 0; f < K; f++) rings[f][slot] = data[r * K + f];
    slot = (slot + 1) % window;
    if (filled < window) filled++;
    since++;
    if (filled < window || since < every) return undefined;
    since = 0;
    const features = refs.map((ref, f) => {
      const s = naiveFeatureStats(rings[f], ref);
      let sum = 0;
      for (const v of rings[f]) sum += v;
      const mean = sum / window;
      let ss = 0;
      for (const v of rings[f]) ss += (v - mean) * (v - mean);
      return { ...s, mean, std: Math.sqrt(ss / window) };
    });
    const adj = bonferroni(features.map((s) => s.ksPValue));
    const drifted = NAMES.filter((_, f) => adj[f] < 0.05);
    const share = drifted.length / K;
    return { level: share >= 0.5 ? 'drift' : share >= 0.2 ? 'warn' : 'ok', drifted, features };
  };
  for (let r = 0; r < fill; r++) step(r);
  const rows = data.length / K - fill;
  const t0 = now();
  for (let r = fill; r < fill + rows; r++) {
    const rep = step(r);
    if (rep) {
      evaluations++;
      if (collect) collect(rep);
    }
  }
  const s = secs(t0);
  return { rate: rows / s, evaluations, seconds: s };
}

function benchWindows(): void {
  console.log(`\n-- 2. window tests, ${K} features, WindowMonitor.ingest one vector per call, method ks (KS, PSI, Wasserstein, JS all computed) --`);
  console.log(`   reference: samples of ${REF_ROWS} values per feature, or the model-style quantile sketch of the same rows (referenceFromData, ${referenceFromData(['a'], [[0], [1]]).probabilities.length} quantiles); ` +
    'stream: the same distributions, features 0-7 shifted by 0.5 sd from the middle of the timed part');
  console.log('   baseline: runNaive (bench/drift.bench.ts) + naiveFeatureStats (bench/support/drift-naive.ts): a ring per feature; at each evaluation ' +
    'every window copied, sorted, binned (binCounts) and passed to the same featureStats, then Bonferroni and the same shares');
  const { sample, sketch } = baselines();
  const cases: WinCase[] = [];
  for (const ref of ['sample', 'sketch'] as const) {
    for (const window of [100, 500]) {
      for (const every of [1, 10]) cases.push({ window, every, ref, evals: ref === 'sample' ? (window === 500 ? 60 : 120) : 400 });
    }
  }
  // warm-up
  for (const b of [sample, sketch]) {
    const d = vectors(100 + 200, 5, 200);
    runMonitor(b, { windowSize: 100, evaluateEvery: 1 }, d, 100);
    runNaive(b, 100, 1, d, 100);
  }
  const splits: string[] = [];
  for (const c of cases) {
    const b = c.ref === 'sample' ? sample : sketch;
    const rows = c.evals * c.every;
    const data = vectors(c.window + rows, 100 + c.window + c.every, c.window + rows / 2);
    const cfg = { windowSize: c.window, evaluateEvery: c.every };

    // timed runs; the first of each also collects its reports, to check that both agree
    const inc: NaiveReport[] = [];
    const nai: NaiveReport[] = [];
    const tuples: PTuple[] = [];
    const collectInc = (r: ReturnType<WindowMonitor['ingest']>) => {
      inc.push({ level: r!.level, drifted: r!.drifted, features: r!.features.map((f) => ({ ks: f.ks!, ksPValue: f.ksPValue!, psi: f.psi!, wasserstein: f.wasserstein!, js: f.js!, mean: f.mean!, std: f.std! })) });
      for (const f of r!.features) {
        const fb = b.features[b.byName.get(f.name)!];
        const n2 = fb.sample ? fb.sample.length : fb.count;
        // featureStats' choice (exact 'auto' or asymptotic for a sample, asymptotic for a sketch): the one that reproduces the report
        const method: KsMethod = fb.sample && ksPValue(f.ks!, f.count!, n2, 'auto').pValue === f.ksPValue ? 'auto' : 'asymp';
        tuples.push([f.ks!, f.count!, n2, method]);
      }
    };
    const fast = median(3, (run) => runMonitor(b, cfg, data, c.window, run === 0 ? collectInc : undefined), (r) => r.rate);
    const naive = median(3, (run) => runNaive(b, c.window, c.every, data, c.window, run === 0 ? (r) => nai.push(r) : undefined), (r) => r.rate);
    let maxDiff = 0;
    let maxDiffMoments = 0;
    let sameDecisions = inc.length === nai.length;
    for (let e = 0; e < Math.min(inc.length, nai.length); e++) {
      if (inc[e].level !== nai[e].level || inc[e].drifted.join() !== nai[e].drifted.join()) sameDecisions = false;
      for (let f = 0; f < K; f++) {
        const x = inc[e].features[f];
        const z = nai[e].features[f];
        for (const key of ['ks', 'ksPValue', 'psi', 'wasserstein', 'js'] as const) maxDiff = Math.max(maxDiff, Math.abs(x[key] - z[key]));
        maxDiffMoments = Math.max(maxDiffMoments, Math.abs(x.mean - z.mean), Math.abs(x.std - z.std));
      }
    }
    const driftedEvals = inc.filter((r) => r.level !== 'ok').length;
    const label = `w ${c.window}, every ${c.every}, ${c.ref}`;
    console.log(`${label.padEnd(24)} ${fmt(fast.rate).padStart(8)} vectors/s; naive ${fmt(naive.rate).padStart(8)}; ratio ${ratio(fast.rate, naive.rate).padStart(6)}; ` +
      `${fast.evaluations} evaluations (${driftedEvals} warn/drift), ${((fast.seconds / fast.evaluations) * 1e3).toFixed(2)} ms per evaluation incl. ${c.every} insert${c.every > 1 ? 's' : ''}; ` +
      `max |diff| of ks, p, psi, W, js: ${maxDiff.toExponential(1)} (window mean/std: ${maxDiffMoments.toExponential(1)}), same levels and drifted features: ${sameDecisions ? 'yes' : 'NO'}`);
    table.push({ what: `ingest vectors/s, ${label}`, figure: fmt(fast.rate), baseline: fmt(naive.rate), ratio: ratio(fast.rate, naive.rate) });

    // cost split, once per window and reference, from the evaluateEvery 1 runs
    if (c.every === 1) splits.push(costSplit(b, c.window, c.ref, data, fast, tuples));
  }
  console.log('\n-- cost split of one evaluation (24 features, evaluateEvery 1, same streams) --');
  for (const s of splits) console.log(s);
}

type PTuple = [number, number, number, KsMethod];

/** Which p-value methods featureStats used, e.g. "exact" or "asymp" or "exact 80 %, asymp 20 %". */
function methods(tuples: PTuple[]): string {
  const exact = tuples.filter((t) => t[3] === 'auto').length;
  if (exact === 0) return 'asymp';
  if (exact === tuples.length) return 'exact';
  return `exact ${((exact / tuples.length) * 100).toFixed(0)} %, asymp ${(100 - (exact / tuples.length) * 100).toFixed(0)} %`;
}

/**
 * Per evaluation: the total (the evaluateEvery 1 run minus the same vectors through a monitor
 * that never evaluates, i.e. the inserts), and within it the KS p-value alone: ksPValue re-run on
 * the (statistic, sizes, method) of every feature of every evaluation of that run, as
 * featureStats calls it (for a sample reference exact, or asymptotic when window x reference is
 * large (monitor.ts EXACT_KS_MAX_CELLS); asymptotic kstwo against a sketch).
 */
function costSplit(b: Baseline, window: number, ref: 'sample' | 'sketch', data: Float64Array, withEval: WinRun, tuples: PTuple[]): string {
  const insertOnly = median(3, () => runMonitor(b, { windowSize: window, evaluateEvery: 1e9 }, data, window), (r) => r.seconds);
  const evals = withEval.evaluations;
  const evalSec = Math.max(0, withEval.seconds - insertOnly.seconds) / evals;
  const pv = median(3, () => {
    let sink = 0;
    const t0 = now();
    for (const [d, n1, n2, method] of tuples) sink += ksPValue(d, n1, n2, method).pValue;
    if (sink < 0) console.log(sink);
    return { s: secs(t0) };
  }, (x) => x.s).s / evals;
  const insertUs = (insertOnly.seconds / (data.length / K - window)) * 1e6;
  return `w ${window}, ${ref.padEnd(6)}: evaluation ${(evalSec * 1e6).toFixed(0).padStart(6)} us, of which ksPValue ${(pv * 1e6).toFixed(0).padStart(6)} us ` +
    `(${((pv / evalSec) * 100).toFixed(0).padStart(3)} %, ${((pv / K) * 1e6).toFixed(0)} us per feature, ${methods(tuples)}, n1 = ${tuples[0][1]}, n2 = ${tuples[0][2]}), the rest ${(Math.max(0, evalSec - pv) * 1e6).toFixed(0)} us ` +
    `(KS statistic, Wasserstein, PSI, JS, report); insert of one 24-value vector ${insertUs.toFixed(1)} us`;
}

// =============================================================================================

function main(): void {
  const t0 = now();
  console.log(`drift bench: streaming detectors and window tests, node ${process.version}`);
  benchDetectors();
  benchWindows();
  console.log('\n-- summary --');
  const w = [Math.max(4, ...table.map((r) => r.what.length)), Math.max(6, ...table.map((r) => r.figure.length)), Math.max(8, ...table.map((r) => r.baseline.length))];
  console.log(`${'what'.padEnd(w[0])}  ${'figure'.padStart(w[1])}  ${'baseline'.padStart(w[2])}  ratio`);
  for (const r of table) console.log(`${r.what.padEnd(w[0])}  ${r.figure.padStart(w[1])}  ${r.baseline.padStart(w[2])}  ${r.ratio}`);
  console.log(`\n(total ${secs(t0).toFixed(0)} s)`);
}

main();
