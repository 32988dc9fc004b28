/**
 * Remaining useful life on real data: NASA C-MAPSS (turbofan engines run to failure), or your own
 * run-to-failure data in the same 26-column format.
 *
 *   npx tsx scripts/cmapss.ts [--data dir] [--subset FD001] [--train file --test file --rul file]
 *        [--sensors s2,s3,...|auto] [--like deployed.onnx] [--name name] [--source text]
 *        [--out model.onnx] [--window 30] [--epochs 30] [--features stats|flat] [--hidden 64,32]
 *        [--seed 1 | --seeds 1,2,3,4,5]
 *
 * Data: train_<subset>.txt, test_<subset>.txt and RUL_<subset>.txt of --data (default
 * ../shared/data/cmapss relative to the repository root, or CMAPSS_DIR; it holds FD001 only), or
 * any three files given by --train, --test and --rul: space-separated, one row per engine and
 * cycle, 26 columns (unit, cycle, 3 operational settings, 21 sensors s1..s21), the training
 * engines run to failure, the test engines cut off before it and the RUL file the true remaining
 * life of each test engine (one number a line, in unit order). The data is never copied into the
 * repository, and the model is written to a temporary directory unless --out says otherwise. The
 * model is named and described from the data: a C-MAPSS subset by its file names
 * ("cmapss-fd002-rul", "NASA C-MAPSS FD002"), other files by --name / --source (default: the
 * training file's name); its provenance lists every file with its sha256, engines and rows.
 *
 * Input features: the sensors are kept as the deployed model has them unless told otherwise,
 * since a flow feeds the features in that order:
 *  - default: the 14 sensors of the FD001 model (DEFAULT_SENSORS), whatever the data;
 *  - --like deployed.onnx: the sensors, feature kind and window of that model's metadata (its
 *    feature names and order are checked to be reproduced exactly);
 *  - --sensors s2,s3,...: these, in this order; --sensors auto: the sensors that vary in this
 *    training data (at least 3 distinct values: informativeSensors), the model then takes other
 *    inputs than the deployed one.
 * A kept sensor that is (nearly) constant in the training data is warned about; its
 * standardisation uses the trainer's std floor, so training is unaffected and the model learns
 * nothing from it.
 *
 * Standard preprocessing (as in the papers the data README cites):
 *  - the operational settings are dropped (FD001 has one operating condition) and so are the
 *    sensors that are constant in FD001's training data (fewer than 3 distinct values: s1, s5, s6,
 *    s10, s16, s18, s19), leaving 14 sensors;
 *  - every engine gives one example per cycle from its k-th on: the window of the last k cycles
 *    (k = 30), summarised per sensor by its mean, least-squares slope per cycle, standard
 *    deviation and the mean of its last 5 cycles (56 features, "s2.mean" ... "s21.last5");
 *    `--features flat` feeds the window flattened instead (420 features "s2@t-29" ... "s21@t-0",
 *    about 5x slower to train on the CPU backend and less accurate here); an engine shorter
 *    than k repeats its first cycle;
 *  - the target is the remaining useful life capped at 125 cycles (piecewise-linear degradation);
 *    its range in the training windows ([0, 125] on FD001) is written as the model's output.range
 *    (onnx infer clamps to it: outside it the model extrapolates);
 *  - the test score is on the last cycle of each test engine against the RUL file
 *    (RMSE and the PHM08 score; the RMSE against the truth capped at 125 is printed beside it).
 * The features are standardised inside the model graph (trainer.ts), so the ONNX file takes them unscaled.
 * The defaults (k = 30 as in Li et al. 2018, an MLP 64-32, 30 epochs) were fixed before looking at the test set.
 * One seed's RMSE is one draw: --seeds 1,2,3,4,5 trains once per seed and prints each seed's RMSE
 * and PHM08 score with their mean, standard deviation and range; the model written is the first
 * seed's, its metrics carrying the spread.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { max, mean, min, sampleStandardDeviation } from 'simple-statistics';
import { referenceFromData, toOnnx } from '../nodes/lib/model/export';
import { domainFromData } from '../nodes/lib/drift/domain';
import { METADATA_VERSION, type ModelMetadata } from '../nodes/lib/model-metadata';
import { readModelFileSync } from '../nodes/lib/onnx/model-file';
import { trainMlp, TrainedModel } from '../nodes/lib/model/trainer';

const root = path.resolve(__dirname, '..');
export const DEFAULT_DATA_DIR = path.resolve(process.env.CMAPSS_DIR ?? path.join(root, '..', 'shared', 'data', 'cmapss'));
export const DEFAULT_SUBSET = 'FD001';
export const RUL_CAP = 125;
/** Published FD001 test RMSE (cycles), from ../shared/data/README.md. */
export const PUBLISHED_RMSE: Array<[string, number]> = [
  ['CNN (Babu et al. 2016)', 18.45],
  ['LSTM (Zheng et al. 2017)', 16.14],
  ['deep CNN (Li et al. 2018)', 12.61],
];
const CMAPSS_REFERENCE = 'A. Saxena, K. Goebel, D. Simon, N. Eklund, "Damage Propagation Modeling for Aircraft Engine Run-to-Failure Simulation", PHM08';

/** Column names of the 26-column files. */
export const COLUMNS = ['unit', 'cycle', 'op1', 'op2', 'op3', ...Array.from({ length: 21 }, (_, i) => `s${i + 1}`)];
const FORMAT = `${COLUMNS.length} space-separated numbers a line (unit, cycle, 3 operational settings, 21 sensors s1..s21)`;

/**
 * The sensors of the FD001 model (those varying in FD001's training data), in its input order:
 * what a flow fed by that model sends. A retrain keeps them unless told otherwise.
 */
export const DEFAULT_SENSORS = ['s2', 's3', 's4', 's7', 's8', 's9', 's11', 's12', 's13', 's14', 's15', 's17', 's20', 's21'];

export interface Engine {
  unit: number;
  /** cycles x 26 values, in cycle order */
  rows: number[][];
}

/** The three files of a data set: run-to-failure training engines, test engines cut off before failure, their true RUL. */
export interface CmapssFiles {
  train: string;
  test: string;
  rul: string;
}

/** Where the data comes from: a folder and a C-MAPSS subset, or three files (all three, or none). */
export interface DataOptions {
  dataDir?: string;
  /** C-MAPSS subset in dataDir: train_<subset>.txt, test_<subset>.txt, RUL_<subset>.txt (default FD001). */
  subset?: string;
  train?: string;
  test?: string;
  rul?: string;
}

export function cmapssFiles(o: DataOptions = {}): CmapssFiles {
  const given = (['train', 'test', 'rul'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 0) {
    if (given.length < 3) throw new Error(`expected --train, --test and --rul together (the run-to-failure engines, the test engines and their true RUL), got only --${given.join(', --')}`);
    if (o.subset !== undefined) throw new Error('expected either --subset (with --data) or --train/--test/--rul, not both');
    return { train: path.resolve(o.train!), test: path.resolve(o.test!), rul: path.resolve(o.rul!) };
  }
  const dir = path.resolve(o.dataDir ?? DEFAULT_DATA_DIR);
  const subset = o.subset ?? DEFAULT_SUBSET;
  if (!/^[A-Za-z0-9_-]+$/.test(subset)) throw new Error(`expected a subset name such as FD001, got "${subset}"`);
  return { train: path.join(dir, `train_${subset}.txt`), test: path.join(dir, `test_${subset}.txt`), rul: path.join(dir, `RUL_${subset}.txt`) };
}

/** The files of `cmapssFiles` that do not exist. */
export function missingFiles(f: CmapssFiles): string[] {
  return [f.train, f.test, f.rul].filter((p) => !fs.existsSync(p));
}

export function dataAvailable(dir = DEFAULT_DATA_DIR, subset = DEFAULT_SUBSET): boolean {
  return missingFiles(cmapssFiles({ dataDir: dir, subset })).length === 0;
}

export function readEngines(file: string): Engine[] {
  const byUnit = new Map<number, number[][]>();
  const name = path.basename(file);
  fs.readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((line, li) => {
      const t = line.trim();
      if (!t) return;
      const fields = t.split(/\s+/);
      if (fields.length !== COLUMNS.length) throw new Error(`${name}, line ${li + 1}: ${fields.length} columns, expected ${FORMAT}: "${t.slice(0, 60)}"`);
      const v = fields.map(Number);
      const bad = v.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new Error(`${name}, line ${li + 1}, column ${bad + 1} (${COLUMNS[bad]}): "${fields[bad]}" is not a number; expected ${FORMAT}`);
      const rows = byUnit.get(v[0]) ?? [];
      rows.push(v);
      byUnit.set(v[0], rows);
    });
  if (byUnit.size === 0) throw new Error(`${name}: no data, expected ${FORMAT}`);
  return [...byUnit.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([unit, rows]) => ({ unit, rows: rows.sort((a, b) => a[1] - b[1]) }));
}

/** The true RUL of each test engine: one non-negative number a line, as many as test engines (when `engines` is given). */
export function readRul(file: string, engines?: number): number[] {
  const name = path.basename(file);
  const out: number[] = [];
  fs.readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((line, li) => {
      const t = line.trim();
      if (!t) return;
      const v = Number(t);
      if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${name}, line ${li + 1}: "${t.slice(0, 60)}", expected one non-negative number a line (the true RUL of each test engine, in unit order)`);
      out.push(v);
    });
  if (engines !== undefined && out.length !== engines) throw new Error(`${name} has ${out.length} values for ${engines} test engines, expected one a line per test engine`);
  return out;
}

/** Distinct values of column `c` in the engines' rows, counted up to `limit`. */
function distinctValues(engines: Engine[], c: number, limit = 3): number {
  const distinct = new Set<number>();
  for (const e of engines) for (const r of e.rows) {
    distinct.add(r[c]);
    if (distinct.size >= limit) return distinct.size;
  }
  return distinct.size;
}

/** Sensors (column indices) that vary in the training data: at least 3 distinct values. */
export function informativeSensors(train: Engine[]): number[] {
  const cols: number[] = [];
  for (let c = 5; c < COLUMNS.length; c++) if (distinctValues(train, c) >= 3) cols.push(c);
  return cols;
}

/** Column index of a sensor or operational setting name ("s2", "op1"). */
export function sensorColumn(name: string): number {
  const c = COLUMNS.indexOf(name.trim());
  if (c < 2) throw new Error(`unknown sensor "${name}": expected one of s1..s21 (or op1..op3)`);
  return c;
}

export type FeatureMode = 'stats' | 'flat';
/** Window statistics per sensor: mean over the window, least-squares slope per cycle, std, and the mean of the last 5 cycles. */
export const WINDOW_STATS = ['mean', 'slope', 'std', 'last5'] as const;

export function featureNames(cols: number[], window: number, mode: FeatureMode = 'stats'): string[] {
  const names: string[] = [];
  if (mode === 'flat') {
    for (let lag = window - 1; lag >= 0; lag--) for (const c of cols) names.push(`${COLUMNS[c]}@t-${lag}`);
  } else {
    for (const c of cols) for (const f of WINDOW_STATS) names.push(`${COLUMNS[c]}.${f}`);
  }
  return names;
}

export interface SensorOptions {
  /** Sensor names in input order, or 'auto': the sensors that vary in this training data. Default: DEFAULT_SENSORS. */
  sensors?: string[] | 'auto';
  /** A model written by this script (path to its .onnx): keep its input features (sensors, feature kind and window). */
  like?: string;
}

export interface SensorChoice {
  /** Column indices, in input order. */
  cols: number[];
  sensors: string[];
  /** Why these sensors (printed, and written to the provenance). */
  reason: string;
  /** The sensors that vary in this training data (what --sensors auto takes). */
  informative: string[];
  /** A kept sensor that is (nearly) constant in the training data, one text each. */
  warnings: string[];
  /** From --like: the model's feature names, the window and the feature kind they are computed with. */
  like?: { features: string[]; window: number; mode: FeatureMode };
}

const FEATURE_NAME = new RegExp(`^(\\w+?)(?:\\.(${WINDOW_STATS.join('|')})|@t-(\\d+))$`);

/** The sensors, feature kind and window of features named as featureNames writes them (the window of 'stats' features is not in their names: `window`). */
export function parseFeatureNames(names: string[], window?: number): { sensors: string[]; mode: FeatureMode; window?: number } {
  const sensors: string[] = [];
  let maxLag = -1;
  for (const n of names) {
    const m = FEATURE_NAME.exec(n);
    if (!m || COLUMNS.indexOf(m[1]) < 2) throw new Error(`feature "${n}" is not one this script writes: expected "<sensor>.<${WINDOW_STATS.join('|')}>" or "<sensor>@t-<lag>", sensors s1..s21`);
    if (!sensors.includes(m[1])) sensors.push(m[1]);
    if (m[3] !== undefined) maxLag = Math.max(maxLag, Number(m[3]));
  }
  const mode: FeatureMode = maxLag >= 0 ? 'flat' : 'stats';
  return { sensors, mode, window: mode === 'flat' ? maxLag + 1 : window };
}

/**
 * The input sensors of a (re)training: a deployed model's (`like`), the ones given, the ones
 * varying in this data ('auto'), or by default the FD001 model's (DEFAULT_SENSORS).
 */
export function chooseSensors(train: Engine[], o: SensorOptions = {}): SensorChoice {
  if (o.like !== undefined && o.sensors !== undefined) throw new Error('expected --like or --sensors, not both');
  const informative = informativeSensors(train).map((c) => COLUMNS[c]);
  let sensors: string[];
  let reason: string;
  let like: SensorChoice['like'];
  if (o.like !== undefined) {
    const md = readModelFileSync(o.like).metadata;
    const features = md?.features;
    if (!Array.isArray(features) || features.length === 0) throw new Error(`${o.like} carries no feature names in its metadata: expected a model written by this package`);
    const w = md!.provenance?.window;
    const p = parseFeatureNames(features, typeof w === 'number' ? w : undefined);
    if (p.window === undefined) throw new Error(`${o.like}: its provenance gives no window, which its features ("${features[0]}" ...) are computed over`);
    sensors = p.sensors;
    like = { features, window: p.window, mode: p.mode };
    reason = `kept from ${path.basename(o.like)} (${md!.name ?? 'unnamed'} ${md!.version ?? ''}, ${features.length} features, window ${p.window}, ${p.mode})`;
  } else if (o.sensors === 'auto') {
    sensors = informative;
    reason = 'auto: the sensors that vary in this training data (at least 3 distinct values)';
  } else if (o.sensors !== undefined) {
    sensors = o.sensors.map((s) => s.trim());
    reason = 'given (--sensors)';
  } else {
    sensors = DEFAULT_SENSORS;
    reason = `default: the FD001 model's ${DEFAULT_SENSORS.length} sensors, what a flow fed by that model sends (--like model.onnx keeps another model's, --sensors auto chooses from this data)`;
  }
  if (sensors.length === 0) throw new Error(`no sensors chosen (${reason}): expected at least one of s1..s21`);
  const cols = sensors.map(sensorColumn);
  const dup = sensors.find((s, i) => sensors.indexOf(s) !== i);
  if (dup) throw new Error(`sensor ${dup} is named twice: expected each sensor once`);
  const warnings: string[] = [];
  cols.forEach((c, i) => {
    const k = distinctValues(train, c);
    if (k < 3) warnings.push(`${sensors[i]} has ${k === 1 ? 'one value' : `${k} distinct values`} in the training data: kept as an input (${o.sensors === undefined || o.like !== undefined ? 'the deployed model takes it' : 'asked for'}), standardised with the trainer's std floor; the model learns ${k === 1 ? 'nothing' : 'almost nothing'} from it`);
  });
  return { cols, sensors, reason, informative, warnings, like };
}

/** The features of the k cycles ending at cycle index `end`: window statistics, or the flattened window. */
export function featuresAt(e: Engine, end: number, cols: number[], window: number, mode: FeatureMode = 'stats'): number[] {
  if (mode === 'flat') return windowAt(e, end, cols, window);
  const out: number[] = [];
  const first = end - window + 1;
  const tMean = (window - 1) / 2;
  let tss = 0;
  for (let i = 0; i < window; i++) tss += (i - tMean) ** 2;
  for (const c of cols) {
    let sum = 0;
    for (let i = first; i <= end; i++) sum += e.rows[Math.max(0, i)][c];
    const mean = sum / window;
    let ss = 0;
    let sxy = 0;
    for (let i = first; i <= end; i++) {
      const d = e.rows[Math.max(0, i)][c] - mean;
      ss += d * d;
      sxy += (i - first - tMean) * d;
    }
    const lastN = Math.min(5, window);
    let last = 0;
    for (let i = end - lastN + 1; i <= end; i++) last += e.rows[Math.max(0, i)][c];
    out.push(mean, tss > 0 ? sxy / tss : 0, Math.sqrt(ss / window), last / lastN);
  }
  return out;
}

/** The flattened window of the k cycles ending at cycle index `end` (inclusive), oldest first. */
export function windowAt(e: Engine, end: number, cols: number[], window: number): number[] {
  const out: number[] = [];
  for (let i = end - window + 1; i <= end; i++) {
    const r = e.rows[Math.max(0, i)];
    for (const c of cols) out.push(r[c]);
  }
  return out;
}

export interface CmapssOptions extends DataOptions, SensorOptions {
  window?: number;
  /** 'stats': per-sensor window statistics (default); 'flat': the window flattened */
  features?: FeatureMode;
  hidden?: number[];
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  l2?: number;
  seed?: number;
  /** training windows: every `stride`-th cycle of each engine (1 = all) */
  stride?: number;
  /** The model's name (default: from the data, "cmapss-fd001-rul" for C-MAPSS FD001, else the training file's name + "-rul"). */
  name?: string;
  /** Where the data comes from, in words (default: "NASA C-MAPSS FD001" for a subset, else the training file's name). */
  source?: string;
  log?: (s: string) => void;
}

/** One data file as the provenance lists it. */
export interface DataFile {
  role: 'train' | 'test' | 'rul';
  file: string;
  sha256: string;
  /** Engines (units) in a train or test file. */
  engines?: number;
  /** Rows (engine cycles), or values of the RUL file. */
  rows: number;
}

export interface DataDescription {
  /** The C-MAPSS subset ("FD001") when the files are named as NASA's (train_FD001.txt, test_FD001.txt, RUL_FD001.txt). */
  subset?: string;
  name: string;
  source: string;
  reference?: string;
  files: DataFile[];
}

export interface CmapssResult {
  model: TrainedModel;
  metadata: ModelMetadata;
  bytes: Uint8Array;
  rmse: number;
  /** RMSE against the true RUL capped at 125 */
  rmseCapped: number;
  score: number;
  trainRows: number;
  testX: number[][];
  testY: number[];
  predictions: Float32Array;
  data: DataDescription;
  sensors: SensorChoice;
}

/** The C-MAPSS subset the three files are, by NASA's file names; undefined for other files. */
export function cmapssSubset(f: CmapssFiles): string | undefined {
  const m = /^train_(FD\d{3})\.txt$/i.exec(path.basename(f.train));
  if (!m) return undefined;
  const s = m[1].toUpperCase();
  return path.basename(f.test).toUpperCase() === `TEST_${s}.TXT` && path.basename(f.rul).toUpperCase() === `RUL_${s}.TXT` ? s : undefined;
}

export const sha256File = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Name, source and files (sha256, engines, rows) of the data a model is trained on. */
export function describeData(f: CmapssFiles, train: Engine[], test: Engine[], rul: number[], o: { name?: string; source?: string } = {}): DataDescription {
  const subset = cmapssSubset(f);
  const stem = path.basename(f.train).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]+/g, '-').toLowerCase();
  const rows = (es: Engine[]) => es.reduce((s, e) => s + e.rows.length, 0);
  return {
    subset,
    name: o.name ?? (subset ? `cmapss-${subset.toLowerCase()}-rul` : `${stem}-rul`),
    source: o.source ?? (subset ? `NASA C-MAPSS ${subset}` : `run-to-failure data in the C-MAPSS format (${path.basename(f.train)})`),
    reference: subset ? CMAPSS_REFERENCE : undefined,
    files: [
      { role: 'train', file: path.basename(f.train), sha256: sha256File(f.train), engines: train.length, rows: rows(train) },
      { role: 'test', file: path.basename(f.test), sha256: sha256File(f.test), engines: test.length, rows: rows(test) },
      { role: 'rul', file: path.basename(f.rul), sha256: sha256File(f.rul), rows: rul.length },
    ],
  };
}

export function phm08Score(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = pred[i] - truth[i];
    s += d < 0 ? Math.exp(-d / 13) - 1 : Math.exp(d / 10) - 1;
  }
  return s;
}

export function rmse(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i] - truth[i]) ** 2;
  return Math.sqrt(s / pred.length);
}

/** Training examples: the windows ending at every (stride-th) cycle of each engine from the k-th on (the last always), with their RUL capped at RUL_CAP. */
export function trainingWindows(engines: Engine[], cols: number[], window: number, mode: FeatureMode = 'stats', stride = 1): { x: number[][]; y: number[] } {
  const x: number[][] = [];
  const y: number[] = [];
  for (const e of engines) {
    const last = e.rows.length - 1;
    for (let end = last; end >= Math.min(window - 1, last); end -= stride) {
      x.push(featuresAt(e, end, cols, window, mode));
      y.push(Math.min(RUL_CAP, last - end));
    }
  }
  return { x, y };
}

export async function runCmapss(opts: CmapssOptions = {}): Promise<CmapssResult> {
  const log = opts.log ?? (() => undefined);
  const hidden = opts.hidden ?? [64, 32];
  const epochs = opts.epochs ?? 30;
  const batchSize = opts.batchSize ?? 256;
  const learningRate = opts.learningRate ?? 1e-3;
  const l2 = opts.l2 ?? 1e-4;
  const seed = opts.seed ?? 1;
  const stride = opts.stride ?? 1;

  const files = cmapssFiles(opts);
  const train = readEngines(files.train);
  const test = readEngines(files.test);
  const rulTruth = readRul(files.rul, test.length);
  const data = describeData(files, train, test, rulTruth, opts);
  const choice = chooseSensors(train, opts);
  const cols = choice.cols;
  // A model's features (--like) fix the window and the feature kind too: a flow computes them so.
  const like = choice.like;
  if (like && opts.window !== undefined && opts.window !== like.window) throw new Error(`--window ${opts.window}: the features of ${opts.like} are computed over ${like.window} cycles (leave --window out to keep them)`);
  if (like && opts.features !== undefined && opts.features !== like.mode) throw new Error(`--features ${opts.features}: ${opts.like} takes ${like.mode} features`);
  const window = like?.window ?? opts.window ?? 30;
  const mode = like?.mode ?? opts.features ?? 'stats';
  const names = featureNames(cols, window, mode);
  if (like && names.join() !== like.features.join()) throw new Error(`${opts.like}: its features are not in the order this script writes them (expected ${names.slice(0, 3).join(', ')} ..., got ${like.features.slice(0, 3).join(', ')} ...)`);
  const [trainFile, testFile, rulFile] = data.files;
  log(`data: ${data.source}; train ${trainFile.file}: ${train.length} engines, ${trainFile.rows} cycles; test ${testFile.file}: ${test.length} engines`);
  log(`sensors (${cols.length}): ${choice.sensors.join(' ')}; ${choice.reason}`);
  if (choice.informative.join() !== choice.sensors.join()) log(`(the sensors that vary in this training data, --sensors auto: ${choice.informative.join(' ')})`);
  for (const w of choice.warnings) log(`warning: ${w}`);

  const { x, y } = trainingWindows(train, cols, window, mode, stride);
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const v of y) {
    yMin = Math.min(yMin, v);
    yMax = Math.max(yMax, v);
  }
  log(`training windows: ${x.length} x ${names.length} features (${mode}, window ${window} cycles, RUL capped at ${RUL_CAP}: target range ${yMin}..${yMax})`);

  const model = await trainMlp({ x, y, task: 'regression', hidden, epochs, batchSize, learningRate, l2, seed });
  log(`trained in ${(model.trainingMs / 1000).toFixed(1)} s (${model.backend}), final training loss ${model.history.loss[epochs - 1].toFixed(4)} (standardised)`);
  const constant = model.constantInputs;
  if (constant.length) log(`warning: ${constant.length} inputs are constant in the training windows (${constant.map((j) => names[j]).slice(0, 8).join(', ')}${constant.length > 8 ? ' ...' : ''}): their weights are set to 0, so a change in them cannot move the prediction (out of domain says it)`);

  const testX = test.map((e) => featuresAt(e, e.rows.length - 1, cols, window, mode));
  // Scored against the true RUL as given (a few test engines exceed the cap: the stricter reading);
  // the RMSE against the capped truth, as some papers report it, is given beside it.
  const testY = rulTruth;
  const predictions = model.predict(testX);
  const testRmse = rmse(predictions, testY);
  const score = phm08Score(predictions, testY);
  const testRmseCapped = rmse(predictions, rulTruth.map((r) => Math.min(RUL_CAP, r)));

  const metadata: ModelMetadata = {
    name: data.name,
    version: '1.0.0',
    kind: 'regressor',
    features: names,
    output: { name: 'RUL (cycles)', description: `remaining useful life in cycles, capped at ${RUL_CAP}`, range: [yMin, yMax] },
    reference: referenceFromData(names, x),
    domain: domainFromData(names, x),
    metadataVersion: METADATA_VERSION,
    metrics: {
      rmse: Math.round(testRmse * 100) / 100,
      phm08Score: Math.round(score * 10) / 10,
      rmseCappedTruth: Math.round(testRmseCapped * 100) / 100,
      testRows: testX.length,
      evaluation: `last cycle of each test engine (${testFile.file}) against the true RUL of ${rulFile.file} (rmseCappedTruth: truth capped at ${RUL_CAP})`,
    },
    trainedAt: new Date().toISOString(),
    trainingMs: model.trainingMs,
    provenance: {
      source: data.source,
      reference: data.reference,
      files: data.files,
      trainEngines: train.length,
      testEngines: test.length,
      rows: x.length,
      window,
      features: mode === 'stats' ? `per sensor over the window: ${WINDOW_STATS.join(', ')}` : 'flattened window, oldest cycle first',
      stride,
      sensors: choice.sensors,
      sensorChoice: choice.reason,
      ...(choice.warnings.length ? { sensorWarnings: choice.warnings } : {}),
      ...(constant.length ? { constantInputs: constant.map((j) => names[j]) } : {}),
      rulCap: RUL_CAP,
      script: 'scripts/cmapss.ts',
      trainer: { hidden, activation: 'relu', epochs, batchSize, learningRate, l2, seed },
    },
  };
  const bytes = toOnnx(model, metadata);
  return { model, metadata, bytes, rmse: testRmse, rmseCapped: testRmseCapped, score, trainRows: x.length, testX, testY, predictions, data, sensors: choice };
}

/** Mean, sample standard deviation (0 for one value), min and max. */
export interface Spread {
  mean: number;
  sd: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  return { mean: mean(values), sd: values.length > 1 ? sampleStandardDeviation(values) : 0, min: min(values), max: max(values) };
}

export interface CmapssSeedsResult {
  seeds: number[];
  runs: CmapssResult[];
  rmse: Spread;
  rmseCapped: Spread;
  score: Spread;
}

/**
 * The same configuration trained once per seed (initialisation and shuffling): the spread of the
 * test figures. The first seed's model is returned first, its metrics carrying the spread.
 */
export async function runCmapssSeeds(opts: CmapssOptions, seeds: number[]): Promise<CmapssSeedsResult> {
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s))) throw new Error(`expected integer seeds, got ${seeds.join(',')}`);
  const log = opts.log ?? (() => undefined);
  const runs: CmapssResult[] = [];
  for (const seed of seeds) {
    // the data and sensor lines once, then one line per seed (the caller prints a single seed's)
    const r = await runCmapss({ ...opts, seed, log: runs.length === 0 ? log : () => undefined });
    runs.push(r);
    if (seeds.length > 1) log(`seed ${seed}: RMSE ${r.rmse.toFixed(2)} cycles (${r.rmseCapped.toFixed(2)} against the capped truth), PHM08 score ${r.score.toFixed(1)}, trained in ${(r.model.trainingMs / 1000).toFixed(1)} s`);
  }
  const res: CmapssSeedsResult = {
    seeds,
    runs,
    rmse: spread(runs.map((r) => r.rmse)),
    rmseCapped: spread(runs.map((r) => r.rmseCapped)),
    score: spread(runs.map((r) => r.score)),
  };
  if (seeds.length > 1) {
    const first = runs[0];
    const r2 = (v: number) => Math.round(v * 100) / 100;
    Object.assign(first.metadata.metrics!, {
      seeds: seeds.join(','),
      rmseSeedsMean: r2(res.rmse.mean),
      rmseSeedsSd: r2(res.rmse.sd),
      rmseSeedsMin: r2(res.rmse.min),
      rmseSeedsMax: r2(res.rmse.max),
      phm08ScoreSeedsMean: Math.round(res.score.mean * 10) / 10,
      phm08ScoreSeedsSd: Math.round(res.score.sd * 10) / 10,
    });
    first.bytes = toOnnx(first.model, first.metadata);
  }
  return res;
}

/** The value after `--name` on the command line. */
export function arg(name: string, argv = process.argv): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? argv[i + 1] : undefined;
}

/** --data, --subset, --train, --test, --rul, --sensors and --like from the command line. */
export function dataArgs(argv = process.argv): DataOptions & SensorOptions {
  const sensors = arg('sensors', argv);
  return {
    dataDir: arg('data', argv),
    subset: arg('subset', argv),
    train: arg('train', argv),
    test: arg('test', argv),
    rul: arg('rul', argv),
    sensors: sensors === undefined ? undefined : sensors === 'auto' ? 'auto' : sensors.split(',').filter(Boolean),
    like: arg('like', argv),
  };
}

/** A line saying which files are missing and what was expected there, or undefined when all are there. */
export function missingDataMessage(f: CmapssFiles): string | undefined {
  const missing = missingFiles(f);
  if (missing.length === 0) return undefined;
  return `data not found: ${missing.join(', ')} (expected the run-to-failure training engines, the test engines and their true RUL; C-MAPSS FD001 lives in ${DEFAULT_DATA_DIR}, see ../shared/data/README.md; --data dir --subset FD00x, or --train --test --rul for other files)`;
}

async function main(): Promise<void> {
  const data = dataArgs();
  const missing = missingDataMessage(cmapssFiles(data));
  if (missing) {
    console.error(`[cmapss] ${missing}`);
    process.exit(2);
  }
  const num = (name: string) => (arg(name) !== undefined ? Number(arg(name)) : undefined);
  if (arg('seed') !== undefined && arg('seeds') !== undefined) throw new Error('expected --seed or --seeds, not both');
  const seeds = (arg('seeds') ?? arg('seed') ?? '1').split(',').filter(Boolean).map(Number);
  const t0 = Date.now();
  const s = await runCmapssSeeds(
    {
      ...data,
      window: num('window'),
      epochs: num('epochs'),
      hidden: arg('hidden') ? arg('hidden')!.split(',').map(Number) : undefined,
      stride: num('stride'),
      features: arg('features') as FeatureMode | undefined,
      batchSize: num('batch'),
      learningRate: num('lr'),
      l2: num('l2'),
      name: arg('name'),
      source: arg('source'),
      log: (line) => console.log(`[cmapss] ${line}`),
    },
    seeds,
  );
  const r = s.runs[0];
  const out = path.resolve(arg('out') ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cmapss-')), `${r.metadata.name}.onnx`));
  const what = `test ${r.data.files[1].file} (${r.testX.length} engines, last cycle)`;
  if (seeds.length === 1) {
    console.log(`[cmapss] ${what}: RMSE ${r.rmse.toFixed(2)} cycles (${r.rmseCapped.toFixed(2)} against the truth capped at ${RUL_CAP}), PHM08 score ${r.score.toFixed(1)}`);
  } else {
    const f = (x: Spread, d: number) => `mean ${x.mean.toFixed(d)} ± ${x.sd.toFixed(d)} (sd), range ${x.min.toFixed(d)}–${x.max.toFixed(d)}`;
    console.log(`[cmapss] ${what} over ${seeds.length} seeds (${seeds.join(',')}):`);
    console.log(`[cmapss]   RMSE ${f(s.rmse, 2)} cycles`);
    console.log(`[cmapss]   RMSE against the truth capped at ${RUL_CAP}: ${f(s.rmseCapped, 2)}`);
    console.log(`[cmapss]   PHM08 score ${f(s.score, 1)}`);
  }
  if (r.data.subset === 'FD001') {
    console.log('[cmapss] published RMSE on FD001:');
    for (const [name, v] of PUBLISHED_RMSE) console.log(`[cmapss]   ${name.padEnd(28)} ${v.toFixed(2)}`);
    console.log(`[cmapss]   ${'this MLP (tfjs-core, CPU)'.padEnd(28)} ${seeds.length === 1 ? r.rmse.toFixed(2) : `${s.rmse.mean.toFixed(2)} ± ${s.rmse.sd.toFixed(2)} over ${seeds.length} seeds`}`);
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, r.bytes);
  console.log(`[cmapss] wrote ${out} (${r.metadata.name}, seed ${seeds[0]}, ${r.bytes.length} bytes; output range ${r.metadata.output!.range!.join('..')}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    // what was expected is in the message; the stack only helps with a bug
    console.error(`[cmapss] failed: ${process.env.CMAPSS_DEBUG ? err.stack : err.message}`);
    process.exit(1);
  });
}
