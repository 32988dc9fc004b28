/**
 * Data drift on real run-to-failure data: NASA C-MAPSS FD001 (turbofan engines), the drift
 * monitor of `drift detect` (nodes/lib/drift/monitor.ts) against how far each engine is from failure;
 * another subset or your own run-to-failure data in the same 26-column format by argument.
 *
 *   npx tsx scripts/cmapss-drift.ts [--method ks,psi,...] [--window 30] [--baseline-cycles 30]
 *        [--baseline-stride 3] [--split 50] [--every 1] [--confirm 2] [--clear 5] [--alpha 0.05]
 *        [--correction bonferroni|bh|none] [--healthy 125] [--own-cycles 30]
 *        [--experiments heldOut,test,heldOutOwn,testOwn] [--json]
 *        [--data dir] [--subset FD001] [--train file --test file --rul file] [--sensors s2,s3,...|auto] [--like model.onnx]
 *
 * Reads train_FD001.txt, test_FD001.txt and RUL_FD001.txt from ../shared/data/cmapss at run time,
 * or the files given, as scripts/cmapss.ts does (--data or CMAPSS_DIR, --subset, --train --test
 * --rul), with the same sensors: by default the FD001 model's 14, or a model's (--like), or
 * those given (--sensors; auto: the ones varying in the training data).
 *
 * Design (fixed before looking at any test-engine result):
 *  - features: the 14 sensors of scripts/cmapss.ts (FD001's informative ones), raw, one vector per cycle
 *    ("s2" ... "s21"); no smoothing, no per-engine normalisation (the node gets raw vectors);
 *  - baseline: a sample baseline (baselineFromSamples) of every 3rd of the first 30 cycles (cycles
 *    1, 4, ..., 28) of every baseline engine: 10 values per engine and sensor, 500 for 50 engines,
 *    1000 for 100. All 30 would make it 3x slower (the exact KS p-value costs about n1 x n2) for
 *    nothing: against a window of 30 the KS test's effective size n1 n2 / (n1 + n2) is 29.1 with
 *    1000 reference values and 29.7 with 3000 (`--baseline-stride 1` for all). The shortest training engine has 128
 *    cycles, so these cycles have RUL >= 98, and >= 169 for the median engine: early life, before
 *    the knee at RUL ~125 that the usual piecewise-linear RUL target assumes;
 *  - monitor: WindowMonitor with a window of 30 cycles (the RUL model's k in scripts/cmapss.ts;
 *    the node's default of 100 is longer than 30 of the 100 test engines), evaluated at
 *    every cycle (evaluateEvery 1, so the detection cycle is exact), and the node's defaults for
 *    everything else: KS at alpha 0.05 after Bonferroni over the 14 sensors, PSI / normalised
 *    Wasserstein / Jensen-Shannon thresholds 0.2, level warn at 20 % of the sensors drifted and
 *    drift at 50 %, confirm 2, clear 5. One fresh monitor per engine, its cycles streamed in order;
 *  - every method is decided from the same evaluations: the monitor runs with method ks (its
 *    report carries every statistic of every feature), and psi / wasserstein / js are decided from
 *    those statistics with the monitor's own rule (share of drifted features -> level, the exported
 *    Hysteresis for the state). The integration test checks this gives the states of a monitor
 *    configured with that method. It is about 4x faster than four monitors (every monitor computes the
 *    exact KS p-value whatever its method);
 *  - "-cal" variants: the same method with its threshold at the 99th percentile of the statistic
 *    over windows of 30 values drawn at random (with replacement) from the baseline sample itself,
 *    all sensors pooled: the no-drift sampling noise at this window size, from baseline data only.
 *    (A PSI over 10 decile bins of 30 values has a noise floor near (10 - 1) / 30 = 0.3 before the
 *    empty-bin floor, above the default 0.2: the default is meant for windows of 100 and more.)
 *  - trivial baselines, on the same evaluation cycles and with the same share rule and hysteresis:
 *    "sigma3": a sensor is out when the cycle's value is beyond the baseline mean +- 3 std;
 *    "mean3": a sensor is out when the window's mean is beyond the baseline mean +- 3 std / sqrt(30);
 *  - experiments:
 *     held-out: baseline from training engines 1-50 (`--split`), evaluated on training engines
 *       51-100, which run to failure: the RUL at detection is exact (last cycle - detection cycle);
 *     test: baseline from all 100 training engines, evaluated on the 100 test engines, whose
 *       trajectories stop before failure; the RUL of a cycle is the RUL file's value for the last
 *       cycle + (last cycle - cycle). An engine never declared is counted with its final RUL
 *       (many test engines stop far from failure, where no detection is the right answer);
 *  - detection: the first cycle whose state (after hysteresis) is drift (and the first at warn or
 *    above); its RUL is the distance from failure;
 *  - own baseline (the heldOutOwn / testOwn experiments, added after the fleet figures above had
 *    been seen, on the held-out and the test engines: every windowed method was in drift on more
 *    than half of the healthy windows, and the training engines' early-life windows sit 0.5-0.8
 *    pooled standard deviations from the fleet's mean on most sensors): the node's learn mode, each
 *    engine's own first 30 cycles as its baseline (as many cycles as the fleet design takes per
 *    engine; nothing else changed or tuned), its window starting at cycle 31, so the first
 *    evaluation is at cycle 60 and test engines shorter than that are never evaluated (counted as
 *    not declared). The "-cal" thresholds there are the fleet baseline's;
 *  - false alarms: an evaluation is healthy when every cycle of its window has RUL > 125 (the RUL
 *    of the window's last cycle > 125). Rates: the share of healthy evaluations whose level (before
 *    hysteresis) is drift, and at least warn; and the share of the engines with healthy evaluations
 *    whose state became drift (warn) at a healthy evaluation. The evaluated engines are never in
 *    the baseline, so engine-to-engine variation (each engine starts from its own wear and
 *    manufacturing offsets) is part of these rates, as it is in service.
 */
import { mulberry32 as rng } from '../nodes/lib/random';
import { type Baseline, baselineFromSamples } from '../nodes/lib/drift/baseline';
import { type Correction, Hysteresis, WINDOW_DEFAULTS, WindowMonitor, type WindowMonitorConfig } from '../nodes/lib/drift/monitor';
import { binCounts, jensenShannon, normalisedWasserstein, psi, wasserstein1Sorted } from '../nodes/lib/drift/stats';
import type { DriftLevel, DriftReport } from '../nodes/lib/messages';
import { arg, chooseSensors, cmapssFiles, type DataDescription, dataArgs, type DataOptions, describeData, type Engine, missingDataMessage, readEngines, readRul, type SensorOptions } from './cmapss';

export const METHODS = ['ks', 'psi', 'wasserstein', 'js', 'psi-cal', 'wasserstein-cal', 'js-cal', 'sigma3', 'mean3'] as const;
export type DriftMethodId = (typeof METHODS)[number];

export interface CmapssDriftOptions extends DataOptions, SensorOptions {
  /** Methods to report (default: all of METHODS). */
  methods?: DriftMethodId[];
  /** Window of the monitor, cycles (default 30). */
  window?: number;
  /** Baseline: the first this many cycles of each baseline engine (default 30)... */
  baselineCycles?: number;
  /** ...every this many of them (default 3: cycles 1, 4, ..., 28). */
  baselineStride?: number;
  /** held-out experiment: baseline from training engines 1..split, evaluated on split+1..100 (default 50). */
  split?: number;
  evaluateEvery?: number;
  alpha?: number;
  correction?: Correction;
  confirm?: number;
  clear?: number;
  warnShare?: number;
  driftShare?: number;
  /** A cycle is healthy when its RUL is above this (default 125). */
  healthyRul?: number;
  /** Which experiments to run (default all four). */
  experiments?: ExperimentName[];
  /** The own-baseline experiments: each engine's first this many cycles are its baseline (default 30). */
  ownCycles?: number;
  /** Calibration draws per sensor for the "-cal" thresholds (default 500). */
  calibrationDraws?: number;
  log?: (s: string) => void;
}

export interface Quartiles {
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
}

export interface EngineOutcome {
  unit: number;
  cycles: number;
  /** True RUL at the last cycle (0 for a training engine). */
  finalRul: number;
  /** First cycle (1-based cycle number) whose state is drift, and the RUL there. */
  drift?: { cycle: number; rul: number };
  /** First cycle whose state is warn or drift. */
  warn?: { cycle: number; rul: number };
  /** Evaluations (0: the engine is shorter than the window, plus its learning cycles). */
  evaluations: number;
  healthyEvals: number;
  healthyDriftLevels: number;
  healthyWarnLevels: number;
  /** The state became drift (warn or above) at a healthy evaluation. */
  falseDrift: boolean;
  falseWarn: boolean;
  /** The states after each evaluation (only with `keepStates`, for the test of the rule). */
  states?: DriftLevel[];
}

export interface MethodSummary {
  id: DriftMethodId;
  /** The threshold a feature is tested against (KS: alpha; sigma3/mean3: 3). */
  threshold: number;
  engines: EngineOutcome[];
  detected: number;
  detectionRate: number;
  rulAtDrift?: Quartiles;
  rulAtWarn?: Quartiles;
  /** Cycle number at the first drift state. */
  cycleAtDrift?: Quartiles;
  /** Engines in state drift at the first cycle it can be (the window full, then `confirm` evaluations). */
  driftAtOnce: number;
  /** Engines never evaluated (too short). */
  notEvaluated: number;
  /** Engines never in state drift, with their final true RUL. */
  undetected: { count: number; finalRul: number[] };
  falseAlarms: {
    healthyEvals: number;
    driftLevelShare: number;
    warnLevelShare: number;
    /** Engines with at least one healthy evaluation. */
    engines: number;
    enginesFalseDrift: number;
    enginesFalseDriftShare: number;
    enginesFalseWarnShare: number;
  };
  /** Detection by the final true RUL of the engine (the test experiment's engines stop before failure). */
  byFinalRul: Array<{ range: string; from: number; to: number; engines: number; detected: number; rate: number }>;
}

/**
 * heldOut / test: the fleet baseline (early life of other engines); heldOutOwn / testOwn: each
 * engine's own first cycles (the node's learn mode), on the same engines.
 */
export type ExperimentName = 'heldOut' | 'test' | 'heldOutOwn' | 'testOwn';
export const EXPERIMENTS: ExperimentName[] = ['heldOut', 'test', 'heldOutOwn', 'testOwn'];

export interface Experiment {
  name: ExperimentName;
  /** The fleet baseline's engines (undefined for an own-baseline experiment). */
  baselineUnits?: [number, number];
  evaluated: number;
  /** Values per feature in the baseline. */
  referenceSize: number;
  methods: MethodSummary[];
  ms: number;
}

export interface CmapssDriftResult {
  config: {
    window: number;
    baselineCycles: number;
    baselineStride: number;
    ownCycles: number;
    split: number;
    healthyRul: number;
    monitor: WindowMonitorConfig;
    sensors: string[];
    /** Why these sensors (scripts/cmapss.ts chooseSensors), and the warnings about them. */
    sensorChoice: string;
    sensorWarnings: string[];
    /** The data: name, source, files with their sha256, engines and rows. */
    data: DataDescription;
  };
  /** Thresholds of the "-cal" variants, per experiment (from its fleet baseline). */
  calibrated: Partial<Record<ExperimentName, { psi: number; wasserstein: number; js: number }>>;
  heldOut?: Experiment;
  test?: Experiment;
  heldOutOwn?: Experiment;
  testOwn?: Experiment;
  ms: number;
}

const RANK: Record<DriftLevel, number> = { ok: 0, warn: 1, drift: 2 };

/** R type 7 quantile of a sorted array. */
export function quantile(sorted: number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export function quartiles(values: number[]): Quartiles | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return { min: s[0], q1: quantile(s, 0.25), median: quantile(s, 0.5), q3: quantile(s, 0.75), max: s[s.length - 1] };
}

/** The 99th percentile of PSI, normalised Wasserstein and JS over iid windows of `w` values drawn from the baseline's own samples (all features pooled). */
export function calibrateThresholds(b: Baseline, w: number, draws = 500, seed = 1): { psi: number; wasserstein: number; js: number } {
  const rand = rng(seed);
  const all = { psi: [] as number[], wasserstein: [] as number[], js: [] as number[] };
  const cur = new Float64Array(w);
  for (const f of b.features) {
    const s = f.sample!;
    for (let d = 0; d < draws; d++) {
      for (let i = 0; i < w; i++) cur[i] = s[Math.floor(rand() * s.length)];
      cur.sort();
      const counts = binCounts(f.bins, cur);
      all.psi.push(psi(f.expected, counts));
      all.js.push(jensenShannon(f.expected, counts));
      all.wasserstein.push(normalisedWasserstein(wasserstein1Sorted(cur, s), f.std));
    }
  }
  const p99 = (v: number[]) => quantile(v.sort((a, c) => a - c), 0.99);
  return { psi: p99(all.psi), wasserstein: p99(all.wasserstein), js: p99(all.js) };
}

/** A feature-level rule on the evaluation: number of drifted features among the tested ones. */
type Rule = (report: DriftReport | undefined, engine: Engine, i: number) => [drifted: number, tested: number];

interface Tracker {
  id: DriftMethodId;
  threshold: number;
  /** Decides from the monitor's report (else from the raw cycles: the trivial rules). */
  usesReport: boolean;
  /** The per-feature rule; none for ks, whose level and state are the monitor's own. */
  rule?: Rule;
}

function levelOf(drifted: number, tested: number, c: WindowMonitorConfig): DriftLevel {
  if (tested === 0) return 'ok';
  const share = drifted / tested;
  return share >= c.driftShare ? 'drift' : share >= c.warnShare ? 'warn' : 'ok';
}

interface RunArgs {
  engines: Engine[];
  finalRul: number[];
  cols: number[];
  names: string[];
  monitor: WindowMonitorConfig;
  /** The baseline and the trackers for an engine, and the index of its first cycle to stream (after its own learning cycles). */
  setup: (e: Engine) => { baseline: Baseline; trackers: Tracker[]; start: number };
  healthyRul: number;
  keepStates?: boolean;
}

/** Streams every engine through a fresh monitor; one EngineOutcome per tracker and engine. */
export function runEngines(a: RunArgs): EngineOutcome[][] {
  const { engines, finalRul, cols, names, monitor: c, healthyRul } = a;
  const k = cols.length;
  const out: EngineOutcome[][] = [];
  const vec = new Float64Array(k);
  engines.forEach((e, ei) => {
    const n = e.rows.length;
    const { baseline, trackers, start } = a.setup(e);
    while (out.length < trackers.length) out.push([]);
    const m = new WindowMonitor(c, baseline, 0);
    const hyst = trackers.map((t) => (t.rule ? new Hysteresis(c.confirm, c.clear, 0) : undefined));
    const res: EngineOutcome[] = trackers.map(() => ({
      unit: e.unit,
      cycles: n,
      finalRul: finalRul[ei],
      evaluations: 0,
      healthyEvals: 0,
      healthyDriftLevels: 0,
      healthyWarnLevels: 0,
      falseDrift: false,
      falseWarn: false,
      states: a.keepStates ? [] : undefined,
    }));
    // Once past the healthy part with every report-based method in drift, the monitor has nothing
    // left to tell: only the trivial rules still waiting for their first drift go on.
    let monitorDone = false;
    let lastEval = -1;
    for (let i = start; i < n; i++) {
      const row = e.rows[i];
      let report: DriftReport | undefined;
      if (!monitorDone) {
        for (let j = 0; j < k; j++) vec[j] = row[cols[j]];
        report = m.ingest(vec, 1, k, names, i + 1);
        if (!report) continue;
      } else if ((i - lastEval) % c.evaluateEvery !== 0) {
        continue;
      }
      lastEval = i;
      const rul = finalRul[ei] + (n - 1 - i);
      const healthy = rul > healthyRul;
      let allDone = !healthy;
      let reportsDone = !healthy;
      trackers.forEach((t, ti) => {
        const r = res[ti];
        if (monitorDone && r.drift) return;
        let level: DriftLevel;
        let state: DriftLevel;
        if (t.rule) {
          const [d, tested] = t.rule(report, e, i);
          level = levelOf(d, tested, c);
          hyst[ti]!.update(level, i + 1);
          state = hyst[ti]!.state;
        } else {
          level = report!.level;
          state = report!.state;
        }
        r.evaluations++;
        r.states?.push(state);
        const cycle = row[1];
        if (RANK[state] >= 1 && !r.warn) r.warn = { cycle, rul };
        if (state === 'drift' && !r.drift) r.drift = { cycle, rul };
        if (healthy) {
          r.healthyEvals++;
          if (level === 'drift') r.healthyDriftLevels++;
          if (RANK[level] >= 1) r.healthyWarnLevels++;
          if (state === 'drift') r.falseDrift = true;
          if (RANK[state] >= 1) r.falseWarn = true;
        }
        if (!r.drift) {
          allDone = false;
          if (t.usesReport) reportsDone = false;
        }
      });
      if (a.keepStates) continue;
      // Past the healthy part and every method has declared drift: nothing left to measure.
      if (allDone) break;
      if (reportsDone) monitorDone = true;
    }
    res.forEach((r, ti) => out[ti].push(r));
  });
  return out;
}

function summarise(t: Tracker, engines: EngineOutcome[], ranges: Array<[number, number]>, firstPossible: number): MethodSummary {
  const det = engines.filter((e) => e.drift);
  const withHealthy = engines.filter((e) => e.healthyEvals > 0);
  const healthyEvals = engines.reduce((s, e) => s + e.healthyEvals, 0);
  const und = engines.filter((e) => !e.drift);
  return {
    id: t.id,
    threshold: t.threshold,
    engines,
    detected: det.length,
    detectionRate: det.length / engines.length,
    rulAtDrift: quartiles(det.map((e) => e.drift!.rul)),
    rulAtWarn: quartiles(engines.filter((e) => e.warn).map((e) => e.warn!.rul)),
    cycleAtDrift: quartiles(det.map((e) => e.drift!.cycle)),
    driftAtOnce: det.filter((e) => e.drift!.cycle <= firstPossible).length,
    notEvaluated: engines.filter((e) => e.evaluations === 0).length,
    undetected: { count: und.length, finalRul: und.map((e) => e.finalRul).sort((x, y) => x - y) },
    falseAlarms: {
      healthyEvals,
      driftLevelShare: healthyEvals ? engines.reduce((s, e) => s + e.healthyDriftLevels, 0) / healthyEvals : 0,
      warnLevelShare: healthyEvals ? engines.reduce((s, e) => s + e.healthyWarnLevels, 0) / healthyEvals : 0,
      engines: withHealthy.length,
      enginesFalseDrift: withHealthy.filter((e) => e.falseDrift).length,
      enginesFalseDriftShare: withHealthy.length ? withHealthy.filter((e) => e.falseDrift).length / withHealthy.length : 0,
      enginesFalseWarnShare: withHealthy.length ? withHealthy.filter((e) => e.falseWarn).length / withHealthy.length : 0,
    },
    byFinalRul: ranges.map(([from, to]) => {
      const sel = engines.filter((e) => e.finalRul >= from && e.finalRul < to);
      const d = sel.filter((e) => e.drift).length;
      return { range: to === Infinity ? `>= ${from}` : `${from}-${to - 1}`, from, to, engines: sel.length, detected: d, rate: sel.length ? d / sel.length : NaN };
    }),
  };
}

/** The baseline of the first `cycles` cycles (every `stride`-th) of the given engines. */
export function earlyLifeBaseline(engines: Engine[], cols: number[], names: string[], cycles: number, stride: number, source = 'C-MAPSS FD001'): Baseline {
  const columns: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  for (const e of engines) {
    for (let i = 0; i < Math.min(cycles, e.rows.length); i += stride) cols.forEach((c, j) => columns[names[j]].push(e.rows[i][c]));
  }
  return baselineFromSamples(columns, 'learned', { name: `${source} early life` });
}

/** The trackers (per-method decision rules) for a baseline. */
export function makeTrackers(ids: readonly DriftMethodId[], c: WindowMonitorConfig, b: Baseline, cal: { psi: number; wasserstein: number; js: number } | undefined, cols: number[]): Tracker[] {
  const byStat = (stat: 'psi' | 'wasserstein' | 'js', thr: number): Rule => (r) => {
    let d = 0;
    for (const f of r!.features) if (f[stat] > thr) d++;
    return [d, r!.features.length];
  };
  const mu = b.features.map((f) => f.mean);
  const sd = b.features.map((f) => f.std);
  const w = c.windowSize;
  return ids.map((id): Tracker => {
    switch (id) {
      case 'ks':
        return { id, threshold: c.alpha, usesReport: true };
      case 'psi':
        return { id, threshold: c.psiThreshold, usesReport: true, rule: byStat('psi', c.psiThreshold) };
      case 'wasserstein':
        return { id, threshold: c.wassersteinThreshold, usesReport: true, rule: byStat('wasserstein', c.wassersteinThreshold) };
      case 'js':
        return { id, threshold: c.jsThreshold, usesReport: true, rule: byStat('js', c.jsThreshold) };
      case 'psi-cal':
      case 'wasserstein-cal':
      case 'js-cal': {
        const stat = id.slice(0, -4) as 'psi' | 'wasserstein' | 'js';
        return { id, threshold: cal![stat], usesReport: true, rule: byStat(stat, cal![stat]) };
      }
      case 'sigma3':
        // the baseline's features are in the order of `cols`
        return {
          id,
          threshold: 3,
          usesReport: false,
          rule: (_r, e, i) => {
            let d = 0;
            cols.forEach((col, j) => {
              if (Math.abs(e.rows[i][col] - mu[j]) > 3 * sd[j]) d++;
            });
            return [d, cols.length];
          },
        };
      case 'mean3':
        return {
          id,
          threshold: 3,
          usesReport: false,
          rule: (_r, e, i) => {
            let d = 0;
            cols.forEach((col, j) => {
              let s = 0;
              for (let t = i - w + 1; t <= i; t++) s += e.rows[t][col];
              if (Math.abs(s / w - mu[j]) > (3 * sd[j]) / Math.sqrt(w)) d++;
            });
            return [d, cols.length];
          },
        };
      default:
        throw new Error(`unknown method ${String(id)}; expected one of ${METHODS.join(', ')}`);
    }
  });
}

export function runCmapssDrift(opts: CmapssDriftOptions = {}): CmapssDriftResult {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const window = opts.window ?? 30;
  const baselineCycles = opts.baselineCycles ?? 30;
  const baselineStride = opts.baselineStride ?? 3;
  const split = opts.split ?? 50;
  const healthyRul = opts.healthyRul ?? 125;
  const ids = opts.methods ?? [...METHODS];
  for (const id of ids) if (!METHODS.includes(id)) throw new Error(`unknown method ${String(id)}; expected one of ${METHODS.join(', ')}`);
  const experiments = opts.experiments ?? EXPERIMENTS;
  const ownCycles = opts.ownCycles ?? 30;
  const monitor: WindowMonitorConfig = {
    ...WINDOW_DEFAULTS,
    method: 'ks',
    windowSize: window,
    evaluateEvery: opts.evaluateEvery ?? 1,
    alpha: opts.alpha ?? WINDOW_DEFAULTS.alpha,
    correction: opts.correction ?? WINDOW_DEFAULTS.correction,
    confirm: opts.confirm ?? WINDOW_DEFAULTS.confirm,
    clear: opts.clear ?? WINDOW_DEFAULTS.clear,
    warnShare: opts.warnShare ?? WINDOW_DEFAULTS.warnShare,
    driftShare: opts.driftShare ?? WINDOW_DEFAULTS.driftShare,
  };

  const files = cmapssFiles(opts);
  const train = readEngines(files.train);
  const test = readEngines(files.test);
  const rul = readRul(files.rul, test.length);
  const data = describeData(files, train, test, rul);
  const choice = chooseSensors(train, opts);
  const cols = choice.cols;
  const names = choice.sensors;
  log(`data: ${data.source}; sensors (${cols.length}): ${names.join(' ')}; ${choice.reason}`);
  for (const w of choice.warnings) log(`warning: ${w}`);
  if (!(Number.isInteger(split) && split >= 1 && split < train.length)) throw new Error(`expected split an integer in 1..${train.length - 1}, got ${split}`);
  const needCal = ids.some((id) => id.endsWith('-cal'));
  const result: CmapssDriftResult = {
    config: { window, baselineCycles, baselineStride, ownCycles, split, healthyRul, monitor, sensors: names, sensorChoice: choice.reason, sensorWarnings: choice.warnings, data },
    calibrated: {},
    ms: 0,
  };

  const firstPossible = (own: boolean) => (own ? ownCycles : 0) + window + monitor.confirm - 1;
  const run = (name: ExperimentName, baseEngines: Engine[], evalEngines: Engine[], finalRul: number[], ranges: Array<[number, number]>): Experiment => {
    const t1 = Date.now();
    const own = name.endsWith('Own');
    // the fleet baseline (also gives the "-cal" thresholds of the own-baseline experiment)
    const fleet = earlyLifeBaseline(baseEngines, cols, names, baselineCycles, baselineStride, data.source);
    const cal = needCal ? calibrateThresholds(fleet, window, opts.calibrationDraws ?? 500) : undefined;
    result.calibrated[name] = cal;
    const fleetTrackers = makeTrackers(ids, monitor, fleet, cal, cols);
    const setup = own
      ? (e: Engine) => {
          const b = earlyLifeBaseline([e], cols, names, ownCycles, 1, data.source);
          return { baseline: b, trackers: makeTrackers(ids, monitor, b, cal, cols), start: Math.min(ownCycles, e.rows.length) };
        }
      : () => ({ baseline: fleet, trackers: fleetTrackers, start: 0 });
    const outcomes = runEngines({ engines: evalEngines, finalRul, setup, cols, names, monitor, healthyRul });
    const exp: Experiment = {
      name,
      baselineUnits: own ? undefined : [baseEngines[0].unit, baseEngines[baseEngines.length - 1].unit],
      evaluated: evalEngines.length,
      referenceSize: own ? ownCycles : fleet.features[0].count,
      methods: fleetTrackers.map((t, ti) => summarise(t, outcomes[ti], ranges, firstPossible(own))),
      ms: Date.now() - t1,
    };
    log(`${name}: ${own ? `each engine's own first ${ownCycles} cycles as its baseline` : `baseline engines ${exp.baselineUnits!.join('-')} (${exp.referenceSize} values per sensor)`}, ${exp.evaluated} engines evaluated in ${(exp.ms / 1000).toFixed(1)} s`);
    return exp;
  };

  const held = train.slice(split);
  for (const name of ['heldOut', 'heldOutOwn'] as const) {
    if (experiments.includes(name)) result[name] = run(name, train.slice(0, split), held, held.map(() => 0), [[0, Infinity]]);
  }
  for (const name of ['test', 'testOwn'] as const) {
    if (experiments.includes(name)) result[name] = run(name, train, test, rul, [[0, 50], [50, 100], [100, 126], [126, Infinity]]);
  }
  result.ms = Date.now() - t0;
  return result;
}

// ---------------------------------------------------------------------------------------------
// report

const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const q = (x?: Quartiles) => (x ? `${x.median.toFixed(0)} [${x.q1.toFixed(0)}-${x.q3.toFixed(0)}]` : '-');

export function formatExperiment(e: Experiment, healthyRul: number): string[] {
  const lines: string[] = [];
  const baseline = e.baselineUnits ? `baseline: early life of training engines ${e.baselineUnits.join('-')}` : `baseline: each engine's own first ${e.referenceSize} cycles`;
  const title = e.name.startsWith('heldOut')
    ? `held-out training engines (${baseline}; ${e.evaluated} engines run to failure)`
    : `test engines (${baseline}; ${e.evaluated} engines stopped before failure)`;
  lines.push(title);
  lines.push(`  ${'method'.padEnd(16)} ${'thr'.padStart(7)} ${'drift'.padStart(7)} ${'at once'.padStart(7)}  ${'cycle at drift'.padEnd(15)} ${'RUL at drift med [q1-q3]'.padEnd(25)} ${'RUL at warn'.padEnd(14)} ${'FA drift lvl'.padStart(12)} ${'FA warn lvl'.padStart(12)} ${'FA engines'.padStart(14)}`);
  for (const m of e.methods) {
    const fa = m.falseAlarms;
    lines.push(`  ${m.id.padEnd(16)} ${m.threshold.toPrecision(3).padStart(7)} ${`${m.detected}/${m.engines.length}`.padStart(7)} ${String(m.driftAtOnce).padStart(7)}  ${q(m.cycleAtDrift).padEnd(15)} ${q(m.rulAtDrift).padEnd(25)} ${q(m.rulAtWarn).padEnd(14)} ${pct(fa.driftLevelShare).padStart(12)} ${pct(fa.warnLevelShare).padStart(12)} ${`${fa.enginesFalseDrift}/${fa.engines} ${pct(fa.enginesFalseDriftShare)}`.padStart(14)}`);
  }
  const ne = e.methods[0]?.notEvaluated;
  if (ne) lines.push(`  (${ne} engines too short to be evaluated at all: counted as not declared)`);
  lines.push('  (at once: engines in state drift at the first cycle the rule allows, the window full and confirm evaluations)');
  const fa = e.methods[0]?.falseAlarms;
  if (fa) lines.push(`  (FA: on the ${fa.healthyEvals} healthy evaluations, every cycle of the window at RUL > ${healthyRul}; FA engines: state drift at a healthy evaluation, of the ${fa.engines} engines with one)`);
  if (e.name.startsWith('test')) {
    lines.push('  detection by the final true RUL of the engine:');
    const ranges = e.methods[0].byFinalRul;
    lines.push(`  ${'method'.padEnd(16)} ${ranges.map((r) => `RUL ${r.range} (${r.engines})`.padStart(18)).join(' ')}   undetected: final RUL median`);
    for (const m of e.methods) {
      const u = m.undetected.finalRul;
      lines.push(`  ${m.id.padEnd(16)} ${m.byFinalRul.map((r) => `${r.detected} ${r.engines ? pct(r.rate) : '-'}`.padStart(18)).join(' ')}   ${m.undetected.count} engines${u.length ? `, ${quartiles(u)!.median.toFixed(0)} (min ${u[0]})` : ''}`);
    }
  }
  return lines;
}

function main(): void {
  const data = dataArgs();
  const missing = missingDataMessage(cmapssFiles(data));
  if (missing) {
    console.error(`[cmapss-drift] ${missing}`);
    process.exit(2);
  }
  const n = (name: string) => (arg(name) !== undefined ? Number(arg(name)) : undefined);
  const r = runCmapssDrift({
    ...data,
    methods: arg('method') ? (arg('method')!.split(',').map((s) => s.trim()) as DriftMethodId[]) : undefined,
    window: n('window'),
    baselineCycles: n('baseline-cycles'),
    baselineStride: n('baseline-stride'),
    split: n('split'),
    evaluateEvery: n('every'),
    confirm: n('confirm'),
    clear: n('clear'),
    alpha: n('alpha'),
    correction: arg('correction') as Correction | undefined,
    healthyRul: n('healthy'),
    ownCycles: n('own-cycles'),
    experiments: arg('experiments') ? (arg('experiments')!.split(',').map((s) => s.trim()) as ExperimentName[]) : undefined,
    log: (s) => console.log(`[cmapss-drift] ${s}`),
  });
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(r, (k, v) => (k === 'engines' ? undefined : v), 2));
    return;
  }
  const c = r.config;
  console.log(`[cmapss-drift] window ${c.window} cycles, evaluate every ${c.monitor.evaluateEvery}, KS alpha ${c.monitor.alpha} (${c.monitor.correction}), warn/drift share ${c.monitor.warnShare}/${c.monitor.driftShare}, confirm ${c.monitor.confirm}, clear ${c.monitor.clear}; baseline: first ${c.baselineCycles} cycles${c.baselineStride > 1 ? `, every ${c.baselineStride}${c.baselineStride === 2 ? 'nd' : c.baselineStride === 3 ? 'rd' : 'th'},` : ''} of each baseline engine; own baseline: first ${c.ownCycles} cycles; sensors ${c.sensors.join(' ')}`);
  for (const [k, v] of Object.entries(r.calibrated)) if (v) console.log(`[cmapss-drift] calibrated thresholds (${k} baseline, 99th percentile of iid windows): PSI ${v.psi.toFixed(3)}, Wasserstein ${v.wasserstein.toFixed(3)}, JS ${v.js.toFixed(3)}`);
  for (const e of [r.heldOut, r.test, r.heldOutOwn, r.testOwn]) if (e) for (const l of formatExperiment(e, c.healthyRul)) console.log(`[cmapss-drift] ${l}`);
  console.log(`[cmapss-drift] done in ${(r.ms / 1000).toFixed(1)} s`);
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    // what was expected is in the message; the stack only helps with a bug
    console.error(`[cmapss-drift] failed: ${process.env.CMAPSS_DEBUG ? (err as Error).stack : (err as Error).message}`);
    process.exit(1);
  }
}
