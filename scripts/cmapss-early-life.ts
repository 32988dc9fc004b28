/**
 * A condition-monitoring model on real run-to-failure data (NASA C-MAPSS FD001, issue 10): a dense
 * autoencoder trained on the *early life* of some engines only, exported to ONNX with its
 * metadata (reference and domain of those early-life windows), then its own metadata as the only
 * baseline of `drift detect` on engines it never saw, streamed window by window as a gateway would.
 *
 *   npx tsx scripts/cmapss-early-life.ts [--seeds 1,2,3,4,5] [--early 60] [--train-engines 50]
 *        [--epochs 100] [--every 10] [--out dir] [--json]
 *        [--data dir --subset FD001 | --train f --test f --rul f] [--sensors list|auto | --like model.onnx]
 *
 * Reads train_FD001.txt, test_FD001.txt and RUL_FD001.txt from ../shared/data/cmapss at run time,
 * or the data and sensors given as scripts/cmapss.ts takes them (the model is named and described
 * from its data); nothing is copied.
 *
 * Design (fixed before the first held-out figure was seen):
 *  - features: those of the RUL model (scripts/cmapss.ts), the 14 informative sensors summarised
 *    over a window of 30 cycles (mean, slope, std, mean of the last 5: 56 features), one vector per
 *    cycle from the 30th on (the first full window);
 *  - early life: the windows that end within the first 60 cycles of an engine (cycles 30..60: 31
 *    vectors per engine). An operator can apply this on a real machine without knowing when it will
 *    fail: it is "the first 60 cycles after commissioning (or overhaul)". 60 is under half the
 *    shortest life in the fleet (128 cycles in FD001's training set), so even the shortest-lived
 *    engine is 68 cycles from failure at the end of it, the median engine (199) 139;
 *  - split: per seed, the 100 training engines shuffled (mulberry32(seed)); the first 50 train the
 *    model, the other 50 are held out and run to failure. The seed also initialises the autoencoder;
 *  - the model: trainer.ts's dense autoencoder with its defaults (16-4-16, tanh), 100 epochs, batch
 *    32, Adam 1e-3; exported by export.ts with metadata version 2: `reference` (referenceFromData)
 *    and `domain` (domainFromData) of the early-life windows, and in `output.threshold` the 99.9 %
 *    quantile of the training windows' anomaly scores;
 *  - the monitor, as the node runs it: the metadata read back from the ONNX bytes (the reader drift
 *    detect uses), baselineFromModel, a fresh WindowMonitor per engine with window 30 and the
 *    node's defaults otherwise (evaluate every 10 vectors, warn at 20 % / drift at 50 %, confirm 2,
 *    clear 5, domain alpha 0.001, KS with the effective count), every vector of the engine in order;
 *  - "flagged" is what the node's status shows: the state (after hysteresis) is drift and the
 *    report says the out-of-domain question fired (`fired` includes 'domain': the status reads
 *    "drift · out of domain N %"). The same at warn is reported beside it;
 *  - held-out engines: detected when flagged at any evaluation before the last cycle; the lead is
 *    the RUL (cycles to failure) at the first flag. Healthy: an evaluation whose window ends at
 *    RUL > 125; the false-alarm rate is the share of healthy evaluations flagged;
 *  - test engines (test_FD001, cut off before failure; RUL at a cycle from RUL_FD001): the healthy
 *    false-alarm rate, and the share of engines flagged by their final RUL band, with each seed's
 *    model (trained on its 50 engines);
 *  - added after the figures above had been seen (the test engines' healthy windows flagged at
 *    1.6-5.6 % over the seeds): the test engines against a model trained on the early life of all
 *    100 training engines, as a user would deploy it (and as scripts/cmapss-drift.ts's test
 *    experiment takes its baseline from all 100). Nothing else changed. Its domain does not
 *    depend on the seed (only the autoencoder's weights do): trained once, with the first seed;
 *  - the autoencoder's own score (beside it, not required): a vector is out when its score exceeds
 *    `output.threshold`; the window's share of such vectors gives the level by the same rule and the
 *    same hysteresis.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { baselineFromModel, type Baseline } from '../nodes/lib/drift/baseline';
import { domainFromData } from '../nodes/lib/drift/domain';
import { Hysteresis, WINDOW_DEFAULTS, WindowMonitor, type WindowMonitorConfig } from '../nodes/lib/drift/monitor';
import type { DriftLevel } from '../nodes/lib/messages';
import { METADATA_VERSION, type ModelMetadata } from '../nodes/lib/model-metadata';
import { referenceFromData, toOnnx } from '../nodes/lib/model/export';
import { trainAutoencoder, type TrainedModel } from '../nodes/lib/model/trainer';
import { decodeModelFile } from '../nodes/lib/onnx/model-file';
import { mulberry32 } from '../nodes/lib/random';
import {
  arg, chooseSensors, cmapssFiles, dataArgs, describeData, featureNames, featuresAt, missingDataMessage, readEngines, readRul, RUL_CAP,
  type DataDescription, type DataOptions, type Engine, type SensorOptions,
} from './cmapss';
import { quantile, quartiles, type Quartiles } from './cmapss-drift';

export const WINDOW = 30;
/** Today's learned-baseline figure (README, scripts/cmapss-drift.ts heldOutOwn): median cycles before failure at drift. */
export const LEARNED_BASELINE_LEAD = 68;

/** The data (--data/--subset or --train/--test/--rul) and input sensors (--sensors, --like) as scripts/cmapss.ts takes them. */
export interface EarlyLifeOptions extends DataOptions, SensorOptions {
  seeds?: number[];
  /** Early life: windows ending within the first this many cycles (default 60). */
  earlyCycles?: number;
  /** Training engines per seed (default 50 of 100; the rest are held out). */
  trainEngines?: number;
  epochs?: number;
  hidden?: number[];
  /** The monitor's evaluateEvery (default: the node's, 10). */
  evaluateEvery?: number;
  healthyRul?: number;
  /** Also stream the 100 test engines (default true). */
  streamTest?: boolean;
  /** The test engines also against a model on all 100 training engines (default true). */
  allEngines?: boolean;
  /** Write each seed's model here (default: not written). */
  outDir?: string;
  log?: (s: string) => void;
}

export interface EngineRun {
  unit: number;
  cycles: number;
  finalRul: number;
  evaluations: number;
  /** RUL at the first evaluation flagged at drift / at warn or above (undefined: never). */
  drift?: number;
  warn?: number;
  /** The same by the autoencoder's own score. */
  aeDrift?: number;
  healthyEvals: number;
  healthyDrift: number;
  healthyWarn: number;
  healthyAeDrift: number;
  /** Evaluations at which the shift question fired (and those where it alone fired). */
  shiftFired: number;
  shiftOnly: number;
}

export interface StreamFigures {
  engines: number;
  /** Engines flagged (drift, out of domain) at some evaluation. */
  flagged: number;
  flaggedWarn: number;
  aeFlagged: number;
  /** RUL at the first flag of each flagged engine. */
  lead?: Quartiles;
  leadWarn?: Quartiles;
  aeLead?: Quartiles;
  healthyEvals: number;
  healthyFlagged: number;
  healthyFlaggedWarn: number;
  healthyAeFlagged: number;
  /** Engines flagged while healthy (RUL > healthyRul), of those with a healthy evaluation. */
  enginesFlaggedHealthy: number;
  enginesWithHealthy: number;
  evaluations: number;
  shiftFired: number;
  shiftOnly: number;
  /** Test engines: flagged by final true RUL band. */
  byFinalRul: Array<{ range: string; engines: number; flagged: number; flaggedWarn: number }>;
  runs: EngineRun[];
}

export interface SeedResult {
  seed: number;
  trainUnits: number[];
  heldOutUnits: number[];
  /** Early-life training windows. */
  trainRows: number;
  model: TrainedModel;
  metadata: ModelMetadata;
  bytes: Uint8Array;
  /** The baseline the monitors used (from the metadata read back from the ONNX bytes). */
  baseline: Baseline;
  heldOut: StreamFigures;
  test?: StreamFigures;
}

export interface AllEnginesResult {
  seed: number;
  trainRows: number;
  model: TrainedModel;
  metadata: ModelMetadata;
  bytes: Uint8Array;
  baseline: Baseline;
  test: StreamFigures;
}

export interface EarlyLifeResult {
  config: { earlyCycles: number; trainEngines: number; epochs: number; hidden: number[]; monitor: WindowMonitorConfig; healthyRul: number; sensors: number[] };
  seeds: SeedResult[];
  /** The test engines against a model on the early life of all 100 training engines. */
  allEngines?: AllEnginesResult;
  ms: number;
}

/** The 100 units shuffled with the seed: the first `n` train, the rest are held out. */
export function splitEngines<T>(engines: T[], n: number, seed: number): { train: T[]; heldOut: T[] } {
  const order = engines.map((_, i) => i);
  const rnd = mulberry32(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const idx = (a: number[]) => a.sort((x, y) => x - y).map((i) => engines[i]);
  return { train: idx(order.slice(0, n)), heldOut: idx(order.slice(n)) };
}

/** The early-life windows of each engine: those ending within its first `earlyCycles` cycles (from the first full window on). */
export function earlyLifeWindows(engines: Engine[], cols: number[], earlyCycles: number, window = WINDOW): number[][] {
  const x: number[][] = [];
  for (const e of engines) for (let end = window - 1; end < Math.min(earlyCycles, e.rows.length); end++) x.push(featuresAt(e, end, cols, window));
  return x;
}

/** Trains the autoencoder on early-life windows and exports it with its metadata (version 2). */
export async function trainEarlyLifeModel(
  engines: Engine[],
  cols: number[],
  o: { earlyCycles: number; epochs: number; hidden: number[]; seed: number; data: DataDescription },
): Promise<{ model: TrainedModel; metadata: ModelMetadata; bytes: Uint8Array; rows: number }> {
  const names = featureNames(cols, WINDOW);
  const x = earlyLifeWindows(engines, cols, o.earlyCycles);
  const trainer = { hidden: o.hidden, activation: 'tanh' as const, epochs: o.epochs, batchSize: 32, learningRate: 1e-3, seed: o.seed };
  const model = await trainAutoencoder({ x, ...trainer });
  const scores = Array.from(model.predict(x)).sort((a, b) => a - b);
  const threshold = scores[Math.min(scores.length - 1, Math.ceil(0.999 * scores.length) - 1)];
  const metadata: ModelMetadata = {
    name: o.data.name.replace(/-rul$/, '') + '-early-life',
    version: '1.0.0',
    kind: 'autoencoder',
    features: names,
    output: { name: 'anomaly score', description: 'mean squared reconstruction error of the standardised window features; above the threshold (the training windows\' 99.9 % quantile) unlike early life', threshold },
    reference: referenceFromData(names, x),
    domain: domainFromData(names, x),
    metadataVersion: METADATA_VERSION,
    metrics: { trainingLoss: Math.round(model.history.loss[model.history.loss.length - 1] * 1e4) / 1e4, scoreMedian: quantile(scores, 0.5), scoreQ999: threshold },
    trainedAt: new Date().toISOString(),
    trainingMs: model.trainingMs,
    provenance: {
      source: o.data.source,
      reference: o.data.reference,
      files: o.data.files.filter((f) => f.role === 'train'),
      units: engines.map((e) => e.unit),
      earlyLife: `windows ending within the first ${o.earlyCycles} cycles of each engine`,
      rows: x.length,
      window: WINDOW,
      features: 'per sensor over the window: mean, slope, std, last5',
      script: 'scripts/cmapss-early-life.ts',
      trainer,
    },
  };
  return { model, metadata, bytes: toOnnx(model, metadata), rows: x.length };
}

const RANK: Record<DriftLevel, number> = { ok: 0, warn: 1, drift: 2 };

/**
 * Streams each engine's windows in time order through a fresh monitor on `baseline` (and the
 * autoencoder's score through the same share rule), and sums up. `finalRul[i]`: the true RUL at
 * engine i's last cycle (0 run to failure).
 */
export function streamEngines(
  engines: Engine[],
  finalRul: number[],
  cols: number[],
  baseline: Baseline,
  model: TrainedModel | undefined,
  aeThreshold: number,
  monitor: Partial<WindowMonitorConfig>,
  healthyRul: number,
  bands: Array<[number, number]> = [],
): StreamFigures {
  const names = baseline.domain!.features;
  const runs: EngineRun[] = engines.map((e, ei) => {
    const mon = new WindowMonitor(monitor, baseline, 0);
    const c = mon.config;
    const last = e.rows.length - 1;
    const run: EngineRun = { unit: e.unit, cycles: e.rows.length, finalRul: finalRul[ei], evaluations: 0, healthyEvals: 0, healthyDrift: 0, healthyWarn: 0, healthyAeDrift: 0, shiftFired: 0, shiftOnly: 0 };
    const xs: number[][] = [];
    for (let end = WINDOW - 1; end <= last; end++) xs.push(featuresAt(e, end, cols, WINDOW));
    const scores = model ? model.predict(xs) : undefined;
    // the autoencoder's score through the monitor's own rule: share of the window out, level, hysteresis
    const aeHyst = new Hysteresis(c.confirm, c.clear, 0);
    const aeOut = new Uint8Array(c.windowSize);
    xs.forEach((x, i) => {
      const end = WINDOW - 1 + i;
      const rul = finalRul[ei] + (last - end);
      aeOut[i % c.windowSize] = scores && scores[i] > aeThreshold ? 1 : 0;
      const r = mon.ingest(x, 1, names.length, names, end);
      if (!r) return;
      run.evaluations++;
      const domainFired = r.fired?.includes('domain') ?? false;
      const drift = r.state === 'drift' && domainFired;
      const warn = RANK[r.state] >= 1 && domainFired;
      if (r.fired?.includes('shift')) {
        run.shiftFired++;
        if (!domainFired) run.shiftOnly++;
      }
      let aeDrift = false;
      if (scores) {
        const share = aeOut.reduce((s, v) => s + v, 0) / c.windowSize;
        aeHyst.update(share >= c.driftShare ? 'drift' : share >= c.warnShare ? 'warn' : 'ok', end);
        aeDrift = aeHyst.state === 'drift';
      }
      if (drift && run.drift === undefined) run.drift = rul;
      if (warn && run.warn === undefined) run.warn = rul;
      if (aeDrift && run.aeDrift === undefined) run.aeDrift = rul;
      if (rul > healthyRul) {
        run.healthyEvals++;
        if (drift) run.healthyDrift++;
        if (warn) run.healthyWarn++;
        if (aeDrift) run.healthyAeDrift++;
      }
    });
    return run;
  });
  const sum = (f: (r: EngineRun) => number) => runs.reduce((s, r) => s + f(r), 0);
  const leads = (f: (r: EngineRun) => number | undefined) => runs.map(f).filter((v): v is number => v !== undefined);
  return {
    engines: runs.length,
    flagged: leads((r) => r.drift).length,
    flaggedWarn: leads((r) => r.warn).length,
    aeFlagged: leads((r) => r.aeDrift).length,
    lead: quartiles(leads((r) => r.drift)),
    leadWarn: quartiles(leads((r) => r.warn)),
    aeLead: quartiles(leads((r) => r.aeDrift)),
    healthyEvals: sum((r) => r.healthyEvals),
    healthyFlagged: sum((r) => r.healthyDrift),
    healthyFlaggedWarn: sum((r) => r.healthyWarn),
    healthyAeFlagged: sum((r) => r.healthyAeDrift),
    enginesFlaggedHealthy: runs.filter((r) => r.healthyDrift > 0).length,
    enginesWithHealthy: runs.filter((r) => r.healthyEvals > 0).length,
    evaluations: sum((r) => r.evaluations),
    shiftFired: sum((r) => r.shiftFired),
    shiftOnly: sum((r) => r.shiftOnly),
    byFinalRul: bands.map(([from, to]) => {
      const inBand = runs.filter((r) => r.finalRul >= from && r.finalRul < to);
      return { range: to === Infinity ? `${from}+` : `${from}-${to - 1}`, engines: inBand.length, flagged: inBand.filter((r) => r.drift !== undefined).length, flaggedWarn: inBand.filter((r) => r.warn !== undefined).length };
    }),
    runs,
  };
}

export async function runEarlyLife(opts: EarlyLifeOptions = {}): Promise<EarlyLifeResult> {
  const t0 = Date.now();
  const files = cmapssFiles(opts);
  const log = opts.log ?? (() => undefined);
  const seeds = opts.seeds ?? [1, 2, 3, 4, 5];
  const earlyCycles = opts.earlyCycles ?? 60;
  const nTrain = opts.trainEngines ?? 50;
  const epochs = opts.epochs ?? 100;
  const hidden = opts.hidden ?? [16, 4, 16];
  const healthyRul = opts.healthyRul ?? RUL_CAP;
  const monitor: WindowMonitorConfig = { ...WINDOW_DEFAULTS, windowSize: WINDOW, evaluateEvery: opts.evaluateEvery ?? WINDOW_DEFAULTS.evaluateEvery };

  const all = readEngines(files.train);
  if (!(Number.isInteger(nTrain) && nTrain >= 2 && nTrain < all.length)) throw new Error(`expected --train-engines an integer in 2..${all.length - 1}, got ${nTrain}`);
  if (!(Number.isInteger(earlyCycles) && earlyCycles >= WINDOW + 1)) throw new Error(`expected --early an integer of at least ${WINDOW + 1}, got ${earlyCycles}`);
  const choice = chooseSensors(all, opts);
  for (const w of choice.warnings) log(`warning: ${w}`);
  const cols = choice.cols;
  const allTest = readEngines(files.test);
  const allRul = readRul(files.rul, allTest.length);
  const data = describeData(files, all, allTest, allRul);
  const test = opts.streamTest === false ? [] : allTest;
  const testRul = opts.streamTest === false ? [] : allRul;
  const result: EarlyLifeResult = { config: { earlyCycles, trainEngines: nTrain, epochs, hidden, monitor, healthyRul, sensors: cols }, seeds: [], ms: 0 };
  const bands: Array<[number, number]> = [[0, 50], [50, 100], [100, 126], [126, Infinity]];
  const train = async (engines: Engine[], seed: number, file: string) => {
    const m = await trainEarlyLifeModel(engines, cols, { earlyCycles, epochs, hidden, seed, data });
    log(`${file}: autoencoder on ${m.rows} early-life windows of ${engines.length} engines, trained in ${(m.model.trainingMs / 1000).toFixed(1)} s (loss ${m.model.history.loss[epochs - 1].toFixed(4)}), ONNX ${m.bytes.length} bytes`);
    if (opts.outDir) {
      fs.mkdirSync(opts.outDir, { recursive: true });
      fs.writeFileSync(path.join(opts.outDir, `${file}.onnx`), m.bytes);
    }
    // as drift detect does: the metadata read back from the model file, the baseline from it
    const md = decodeModelFile(Buffer.from(m.bytes), file).metadata;
    const baseline = baselineFromModel(md, { name: md?.name, version: md?.version });
    if (!baseline?.domain) throw new Error('the exported model carries no usable domain');
    return { ...m, baseline, threshold: md!.output!.threshold! };
  };
  for (const seed of seeds) {
    const { train: engines, heldOut } = splitEngines(all, nTrain, seed);
    const m = await train(engines, seed, `cmapss-fd001-early-life-seed${seed}`);
    const held = streamEngines(heldOut, heldOut.map(() => 0), cols, m.baseline, m.model, m.threshold, monitor, healthyRul);
    const testFig = test.length ? streamEngines(test, testRul, cols, m.baseline, m.model, m.threshold, monitor, healthyRul, bands) : undefined;
    result.seeds.push({ seed, trainUnits: engines.map((e) => e.unit), heldOutUnits: heldOut.map((e) => e.unit), trainRows: m.rows, model: m.model, metadata: m.metadata, bytes: m.bytes, baseline: m.baseline, heldOut: held, test: testFig });
  }
  if (test.length && opts.allEngines !== false) {
    const m = await train(all, seeds[0], 'cmapss-fd001-early-life-all');
    const fig = streamEngines(test, testRul, cols, m.baseline, m.model, m.threshold, monitor, healthyRul, bands);
    result.allEngines = { seed: seeds[0], trainRows: m.rows, model: m.model, metadata: m.metadata, bytes: m.bytes, baseline: m.baseline, test: fig };
  }
  result.ms = Date.now() - t0;
  return result;
}

// ---------------------------------------------------------------------------------------------
// report

const pct = (n: number, d: number) => (d > 0 ? `${((100 * n) / d).toFixed(1)} %` : '-');
const med = (s?: Quartiles) => (s ? `${s.median.toFixed(0)} [${s.q1.toFixed(0)}-${s.q3.toFixed(0)}]` : '-');

/** Mean, median and min-max of a figure over the seeds. */
export function spread(values: number[]): { mean: number; median: number; min: number; max: number } {
  const s = quartiles(values)!;
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, median: s.median, min: s.min, max: s.max };
}

export function formatResult(r: EarlyLifeResult): string[] {
  const c = r.config;
  const lines: string[] = [];
  lines.push(`early life: windows ending within the first ${c.earlyCycles} cycles; ${c.trainEngines} training engines per seed, the other ${100 - c.trainEngines} held out (run to failure); autoencoder ${c.hidden.join('-')}, ${c.epochs} epochs`);
  lines.push(`monitor: window ${c.monitor.windowSize}, evaluate every ${c.monitor.evaluateEvery}, warn/drift share ${c.monitor.warnShare}/${c.monitor.driftShare}, confirm ${c.monitor.confirm}, clear ${c.monitor.clear}, domain alpha ${c.monitor.domainAlpha}; flagged = state drift with 'domain' in fired (warn: state warn or drift)`);
  lines.push('');
  lines.push(`held-out engines, run to failure (healthy: RUL > ${c.healthyRul}); lead = cycles before failure at the first flag, median [IQR]`);
  lines.push(`  ${'seed'.padEnd(5)} ${'flagged'.padStart(8)} ${'lead'.padEnd(14)} ${'min'.padStart(4)} ${'healthy flagged'.padStart(20)} ${'eng. fl. healthy'.padStart(17)} ${'warn: flagged'.padStart(14)} ${'lead'.padEnd(14)} ${'healthy'.padStart(8)} ${'shift fired'.padStart(12)} ${'AE: flagged'.padStart(12)} ${'lead'.padEnd(14)} ${'healthy'.padStart(8)}`);
  for (const s of r.seeds) {
    const h = s.heldOut;
    lines.push(
      `  ${String(s.seed).padEnd(5)} ${`${h.flagged}/${h.engines}`.padStart(8)} ${med(h.lead).padEnd(14)} ${String(h.lead?.min ?? '-').padStart(4)} ${`${h.healthyFlagged}/${h.healthyEvals} ${pct(h.healthyFlagged, h.healthyEvals)}`.padStart(20)} ${`${h.enginesFlaggedHealthy}/${h.enginesWithHealthy}`.padStart(17)} ${`${h.flaggedWarn}/${h.engines}`.padStart(14)} ${med(h.leadWarn).padEnd(14)} ${pct(h.healthyFlaggedWarn, h.healthyEvals).padStart(8)} ${pct(h.shiftFired, h.evaluations).padStart(12)} ${`${h.aeFlagged}/${h.engines}`.padStart(12)} ${med(h.aeLead).padEnd(14)} ${pct(h.healthyAeFlagged, h.healthyEvals).padStart(8)}`,
    );
  }
  const over = (label: string, f: (s: SeedResult) => number, unit = '', digits = 1) => {
    const v = spread(r.seeds.map(f));
    lines.push(`  ${label.padEnd(44)} mean ${v.mean.toFixed(digits)}${unit}, median ${v.median.toFixed(digits)}${unit}, min-max ${v.min.toFixed(digits)}-${v.max.toFixed(digits)}${unit}`);
  };
  lines.push(`  over ${r.seeds.length} seeds:`);
  over('held-out engines flagged (drift)', (s) => (100 * s.heldOut.flagged) / s.heldOut.engines, ' %');
  over('median lead at drift (cycles)', (s) => s.heldOut.lead?.median ?? NaN, '', 0);
  over('lead q1 / q3 at drift (q1)', (s) => s.heldOut.lead?.q1 ?? NaN, '', 0);
  over('lead q1 / q3 at drift (q3)', (s) => s.heldOut.lead?.q3 ?? NaN, '', 0);
  over('healthy evaluations flagged (drift)', (s) => (100 * s.heldOut.healthyFlagged) / s.heldOut.healthyEvals, ' %', 2);
  over('held-out engines flagged (warn)', (s) => (100 * s.heldOut.flaggedWarn) / s.heldOut.engines, ' %');
  over('median lead at warn (cycles)', (s) => s.heldOut.leadWarn?.median ?? NaN, '', 0);
  over('healthy evaluations flagged (warn)', (s) => (100 * s.heldOut.healthyFlaggedWarn) / s.heldOut.healthyEvals, ' %', 2);
  lines.push(`  (today's learned baseline, each engine's own first 30 cycles, KS: drift a median ${LEARNED_BASELINE_LEAD} cycles before failure, 5.4 % of healthy windows; README)`);
  if (r.seeds.every((s) => s.test)) {
    lines.push('');
    lines.push('test engines (test_FD001, cut off before failure; RUL from RUL_FD001); flagged engines by final RUL; AE: the autoencoder\'s score');
    const bands = r.seeds[0].test!.byFinalRul;
    lines.push(`  ${'model'.padEnd(20)} ${'healthy flagged'.padStart(20)} ${'warn'.padStart(8)} ${'eng. fl. healthy'.padStart(17)} ${bands.map((b) => `final RUL ${b.range} (${b.engines})`.padStart(22)).join(' ')} ${'AE healthy'.padStart(11)} ${'AE 0-49'.padStart(8)}`);
    const row = (label: string, t: StreamFigures) => {
      const ae049 = t.runs.filter((x) => x.finalRul < 50);
      lines.push(`  ${label.padEnd(20)} ${`${t.healthyFlagged}/${t.healthyEvals} ${pct(t.healthyFlagged, t.healthyEvals)}`.padStart(20)} ${pct(t.healthyFlaggedWarn, t.healthyEvals).padStart(8)} ${`${t.enginesFlaggedHealthy}/${t.enginesWithHealthy}`.padStart(17)} ${t.byFinalRul.map((b) => `${b.flagged} ${pct(b.flagged, b.engines)}`.padStart(22)).join(' ')} ${pct(t.healthyAeFlagged, t.healthyEvals).padStart(11)} ${`${ae049.filter((x) => x.aeDrift !== undefined).length}/${ae049.length}`.padStart(8)}`);
    };
    for (const s of r.seeds) row(`seed ${s.seed} (50 engines)`, s.test!);
    if (r.allEngines) row('all 100 engines', r.allEngines.test);
    lines.push(`  over ${r.seeds.length} seeds:`);
    over('healthy evaluations flagged (drift)', (s) => (100 * s.test!.healthyFlagged) / s.test!.healthyEvals, ' %', 2);
    bands.forEach((b, i) => over(`engines flagged, final RUL ${b.range}`, (s) => (100 * s.test!.byFinalRul[i].flagged) / s.test!.byFinalRul[i].engines, ' %'));
    if (r.allEngines) lines.push(`  (all 100 engines: trained once, seed ${r.allEngines.seed}; its domain, and so every figure but the AE's, does not depend on the seed)`);
  }
  return lines;
}

async function main(): Promise<void> {
  const data = dataArgs();
  const missing = missingDataMessage(cmapssFiles(data));
  if (missing) {
    console.error(`[cmapss-early-life] ${missing}`);
    process.exit(2);
  }
  const n = (name: string) => (arg(name) !== undefined ? Number(arg(name)) : undefined);
  const r = await runEarlyLife({
    ...data,
    seeds: arg('seeds') ? arg('seeds')!.split(',').map(Number) : undefined,
    earlyCycles: n('early'),
    trainEngines: n('train-engines'),
    epochs: n('epochs'),
    hidden: arg('hidden') ? arg('hidden')!.split(',').map(Number) : undefined,
    evaluateEvery: n('every'),
    outDir: arg('out') ? path.resolve(arg('out')!) : undefined,
    log: (s) => console.log(`[cmapss-early-life] ${s}`),
  });
  if (process.argv.includes('--json')) {
    const strip = (f?: StreamFigures) => f && { ...f, runs: undefined };
    const all = r.allEngines && { seed: r.allEngines.seed, trainRows: r.allEngines.trainRows, test: strip(r.allEngines.test) };
    console.log(JSON.stringify({ config: r.config, seeds: r.seeds.map(({ model, bytes, baseline, metadata, ...s }) => ({ ...s, heldOut: strip(s.heldOut), test: strip(s.test) })), allEngines: all }, null, 2));
    return;
  }
  for (const l of formatResult(r)) console.log(`[cmapss-early-life] ${l}`);
  console.log(`[cmapss-early-life] done in ${(r.ms / 1000).toFixed(1)} s${arg('out') ? `; models in ${path.resolve(arg('out')!)}` : ` (--out dir to keep the models; e.g. ${path.join(os.tmpdir(), 'early-life')})`}`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`[cmapss-early-life] failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}
