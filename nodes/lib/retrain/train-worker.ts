/**
 * The retrain worker: the whole of a local retrain in one worker thread, so the Node-RED thread
 * only relays messages (local.ts starts it and documents the behaviour). In order:
 *   1. read the deployed model (hash, metadata: name, version, kind, features, classes, recipe);
 *   2. read the dataset (buffer.ts's readDataset: manifest + JSON lines, the file's sha256
 *      checked against the manifest), pick the deployed model's features by name, map the
 *      labels, sort the usable rows by time and hold out the last share of them;
 *   3. train (trainer.ts) with the deployed model's recipe (its provenance.trainer), export to
 *      ONNX with metadata v2 (reference and domain of the training rows);
 *   4. evaluate the candidate and the deployed model with onnxruntime-node on the held-out rows;
 *   5. write the candidate with its metrics and provenance, atomically.
 *
 * `runRetrain` is the job itself and also runs in-thread (the bench's baseline). Protocol:
 * workerData = { retrainJob }, the worker posts `progress` after every epoch, then `done` or
 * `error` once, and ends.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parentPort, workerData } from 'worker_threads';
import { auc } from '../model/metrics';
import type * as Ort from 'onnxruntime-node';
import { trainAutoencoder, trainMlp, type TrainedModel } from '../model/trainer';
import { referenceFromData, toOnnx } from '../model/export';
import { domainCheck, domainFromData, type DomainReference } from '../drift/domain';
import { METADATA_VERSION, type ModelKind, type ModelMetadata } from '../model-metadata';
import { readModelFileSync, type ModelFile } from '../onnx/model-file';
import { isCoded, type Params } from '../node-red/errors';
import { readDataset } from './buffer';
import { fileSafe, MIN_HELD_OUT_ROWS, MIN_TRAIN_ROWS, nextVersion, RetrainError, type CandidateResult } from './local';

export interface RetrainJob {
  /** Absolute paths. */
  manifest: string;
  deployed: string;
  outDir: string;
  /** Where the candidate is written before its rename (the caller removes it after an abort). */
  tmpFile: string;
  holdout: number;
  seed?: number;
  epochs?: number;
  version?: string;
  /** Raise this thread's nice value by this much (worker only). */
  nice?: number;
  /** Int32Array view: [0] abort requested (set by the caller), [1] onnxruntime in use (set here). */
  control?: SharedArrayBuffer;
}

export type RetrainResult = CandidateResult;

export type WireError = { code: string; params: Params; message: string; catalog?: string };
export type FromTrainWorker =
  | { op: 'progress'; epoch: number; epochs: number; loss: number }
  | { op: 'done'; result: RetrainResult }
  | { op: 'error'; error: WireError };

const reasonOf = (e: unknown): string => {
  const p = (e as { params?: { reason?: unknown } })?.params;
  return typeof p?.reason === 'string' ? p.reason : ((e as Error)?.message ?? String(e));
};

// ------------------------------------------------------------------ deployed model

const KINDS: ModelKind[] = ['classifier', 'regressor', 'autoencoder'];

/** The deployed model's metadata as a retrain needs it, or a coded error saying what is missing. */
function checkDeployed(m: Partial<ModelMetadata> | undefined, p: string): ModelMetadata {
  const bad = (reason: string) => new RetrainError('deployedMetadata', { file: p, reason });
  if (!m) throw bad('it carries no metadata of this package (mlops.* metadata_props)');
  if (typeof m.name !== 'string' || !m.name) throw bad('it names no model name');
  if (typeof m.version !== 'string' || !m.version) throw bad('it names no version');
  if (!KINDS.includes(m.kind as ModelKind)) throw bad(`its kind is ${m.kind ?? 'not given'}`);
  if (!Array.isArray(m.features) || m.features.length === 0 || !m.features.every((f) => typeof f === 'string' && f !== '')) throw bad('it names no input features');
  const dup = m.features.find((f, i) => m.features!.indexOf(f) !== i);
  if (dup !== undefined) throw bad(`the feature ${dup} is named twice`);
  if (m.kind === 'classifier' && m.classes !== undefined && !(Array.isArray(m.classes) && m.classes.length === 2)) {
    throw bad(`a classifier of ${Array.isArray(m.classes) ? m.classes.length : '?'} classes (the local trainer trains binary classifiers)`);
  }
  return m as ModelMetadata;
}

/** How the candidate is trained: the deployed model's recipe (provenance.trainer) where it gives one, else defaults. */
export interface Recipe {
  hidden: number[];
  activation?: 'relu' | 'tanh' | 'sigmoid';
  epochs: number;
  batchSize: number;
  learningRate: number;
  l2: number;
  seed: number;
  /** Where the recipe came from. */
  from: 'deployed model' | 'defaults';
}

function recipeOf(meta: ModelMetadata, job: RetrainJob): Recipe {
  const p = ((meta.provenance as { trainer?: unknown } | undefined)?.trainer ?? {}) as Record<string, unknown>;
  const num = (v: unknown, int: boolean, max: number) => (typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= max && (!int || Number.isInteger(v)) ? v : undefined);
  const ae = meta.kind === 'autoencoder';
  const hidden = Array.isArray(p.hidden) && p.hidden.length > 0 && p.hidden.length <= 8 && p.hidden.every((h) => Number.isInteger(h) && h >= 1 && h <= 4096) ? (p.hidden as number[]) : undefined;
  const activation = p.activation === 'relu' || p.activation === 'tanh' || p.activation === 'sigmoid' ? p.activation : undefined;
  const l2 = typeof p.l2 === 'number' && p.l2 >= 0 && p.l2 < 1 ? p.l2 : undefined;
  const r: Recipe = {
    hidden: hidden ?? (ae ? [16, 4, 16] : [32, 16]),
    activation,
    epochs: job.epochs ?? num(p.epochs, true, 100000) ?? 30,
    batchSize: num(p.batchSize, true, 65536) ?? 64,
    learningRate: num(p.learningRate, false, 1) ?? (ae ? 0.001 : 0.003),
    l2: l2 ?? (ae ? 0 : 1e-4),
    seed: job.seed ?? (Number.isInteger(p.seed) ? (p.seed as number) : 1),
    from: hidden ? 'deployed model' : 'defaults',
  };
  return r;
}

// ------------------------------------------------------------------ metrics

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;


/**
 * A model's metrics on held-out rows, named as the approval gate's metricGoal knows them:
 * classifier accuracy, auc (left out with one class only), f1; regressor rmse, mae; autoencoder
 * loss (the mean anomaly score: mean squared reconstruction error of the standardised row).
 */
export function metricsOf(kind: ModelKind, scores: ArrayLike<number>, y: ArrayLike<number>, threshold = 0.5): Record<string, number> {
  const n = scores.length;
  if (kind === 'classifier') {
    let tp = 0;
    let fp = 0;
    let tn = 0;
    let fn = 0;
    for (let i = 0; i < n; i++) {
      const hit = scores[i] >= threshold;
      if (y[i] === 1) hit ? tp++ : fn++;
      else hit ? fp++ : tn++;
    }
    const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    const out: Record<string, number> = { accuracy: round6((tp + tn) / Math.max(1, n)) };
    const a = auc(scores, y);
    if (Number.isFinite(a)) out.auc = round6(a);
    out.f1 = round6(precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0);
    return out;
  }
  if (kind === 'regressor') {
    let se = 0;
    let ae = 0;
    for (let i = 0; i < n; i++) {
      const e = scores[i] - y[i];
      se += e * e;
      ae += Math.abs(e);
    }
    return { rmse: round6(Math.sqrt(se / Math.max(1, n))), mae: round6(ae / Math.max(1, n)) };
  }
  let s = 0;
  for (let i = 0; i < n; i++) s += scores[i];
  return { loss: round6(s / Math.max(1, n)) };
}

/** Share of rows out of a domain (columns picked by the domain's feature names), undefined when the domain is unusable or names a column the dataset lacks. */
function outOfDomain(domain: unknown, rows: number[][], column: Map<string, number>): number | undefined {
  const check = domainCheck(domain);
  if (!check) return undefined;
  const cols = (domain as DomainReference).features.map((f) => column.get(f));
  if (cols.some((c) => c === undefined)) return undefined;
  const v = new Float64Array(cols.length);
  let out = 0;
  for (const r of rows) {
    for (let j = 0; j < cols.length; j++) v[j] = r[cols[j]!];
    if (check.check(v).out) out++;
  }
  return round6(out / Math.max(1, rows.length));
}

// ------------------------------------------------------------------ onnxruntime

/** The first output of a model over rows (float32 [n, d], or float64 when the model takes that); a classifier's 2-column output gives its second column. */
async function scoresOf(ort: typeof Ort, bytes: Uint8Array, x: Float32Array, n: number, d: number, kind: ModelKind): Promise<Float64Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    if (session.inputNames.length !== 1) throw new Error(`it takes ${session.inputNames.length} inputs, expected 1 (the feature vector)`);
    const input = session.inputNames[0];
    const output = session.outputNames[0];
    const spec = session.inputMetadata?.[0] as { type?: string } | undefined;
    const f64 = spec?.type === 'float64';
    const out = new Float64Array(n);
    const CHUNK = 4096;
    for (let s = 0; s < n; s += CHUNK) {
      const m = Math.min(CHUNK, n - s);
      const slice = x.slice(s * d, (s + m) * d);
      const feed = f64 ? new ort.Tensor('float64', Float64Array.from(slice), [m, d]) : new ort.Tensor('float32', slice, [m, d]);
      const res = await session.run({ [input]: feed });
      const vals = res[output]?.data as ArrayLike<number | bigint> | undefined;
      if (!vals || typeof vals !== 'object' || !('length' in vals)) throw new Error(`its output ${output} is not a tensor`);
      const cols = vals.length / m;
      let c = 0;
      if (cols === 2 && kind === 'classifier') c = 1;
      else if (cols !== 1) throw new Error(`its output ${output} has ${cols} values per row, expected 1${kind === 'classifier' ? ' or 2 (class probabilities)' : ''}`);
      for (let i = 0; i < m; i++) out[s + i] = Number(vals[i * cols + c]);
    }
    return out;
  } finally {
    await session.release().catch(() => undefined);
  }
}

// ------------------------------------------------------------------ the job

/** Earliest and latest time, ISO 8601 (as the dataset manifest writes its span). */
function span(ts: number[]): { start: string; end: string } | undefined {
  if (!ts.length) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of ts) {
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  return { start: new Date(lo).toISOString(), end: new Date(hi).toISOString() };
}

/** The whole retrain (see the file's comment). Throws RetrainError. */
export async function runRetrain(job: RetrainJob, hooks: { progress?(p: { epoch: number; epochs: number; loss: number }): void } = {}): Promise<RetrainResult> {
  const flags = job.control ? new Int32Array(job.control) : undefined;
  const aborted = () => !!flags && Atomics.load(flags, 0) === 1;
  const checkAbort = () => {
    if (aborted()) throw new RetrainError('aborted', {});
  };
  /** Runs `fn` with the "onnxruntime in use" flag set (the caller then waits instead of terminating). */
  const withOrt = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (flags) Atomics.store(flags, 1, 1);
    try {
      checkAbort();
      return await fn();
    } finally {
      if (flags) Atomics.store(flags, 1, 0);
    }
  };

  // 1. the deployed model
  let deployedFile: ModelFile;
  try {
    deployedFile = readModelFileSync(job.deployed);
  } catch (e) {
    throw new RetrainError('deployedRead', { file: job.deployed, reason: reasonOf(e) });
  }
  const meta = checkDeployed(deployedFile.metadata, job.deployed);
  const kind = meta.kind;
  const version = job.version ?? nextVersion(meta.version);
  if (version === meta.version) throw new RetrainError('sameVersion', { version });
  const file = path.join(job.outDir, `${fileSafe(meta.name)}-${fileSafe(version)}.onnx`);
  const same = (a: string, b: string) => {
    try {
      return fs.realpathSync(a) === fs.realpathSync(b);
    } catch {
      return path.resolve(a) === path.resolve(b);
    }
  };
  if (same(file, job.deployed)) throw new RetrainError('sameFile', { file });
  try {
    fs.mkdirSync(job.outDir, { recursive: true });
    fs.accessSync(job.outDir, fs.constants.W_OK);
  } catch (e) {
    throw new RetrainError('candidateWrite', { file, reason: reasonOf(e) });
  }

  // 2. the dataset
  const ds = await readDataset(job.manifest);
  const dsFile = path.join(path.dirname(path.resolve(job.manifest)), ds.manifest.file);
  const total = ds.x.length;
  const column = new Map(ds.manifest.features.map((f, i) => [f, i] as const));
  const missing = meta.features.filter((f) => !column.has(f));
  if (missing.length) {
    const need = new Set(meta.features);
    const extra = ds.manifest.features.filter((f) => !need.has(f));
    const list = (a: string[]) => (a.length <= 8 ? a.join(', ') : `${a.slice(0, 8).join(', ')}, … (${a.length})`);
    const p = { count: missing.length, total: meta.features.length, missing: list(missing) };
    throw extra.length ? new RetrainError('featuresDiffer', { ...p, extra: list(extra) }) : new RetrainError('featuresMissing', p);
  }
  const cols = meta.features.map((f) => column.get(f)!);
  const d = cols.length;
  const supervised = kind !== 'autoencoder';
  const classes = kind === 'classifier' && Array.isArray(meta.classes) ? meta.classes.map(String) : undefined;
  const labelOf = (y: number | string, line: number): number => {
    if (kind === 'classifier') {
      if (y === 0 || y === 1) return y;
      if (typeof y === 'string' && classes) {
        const i = classes.indexOf(y);
        if (i >= 0) return i;
      }
      const label = JSON.stringify(y);
      throw classes
        ? new RetrainError('labelClass', { file: dsFile, line, label, negative: classes[0], positive: classes[1] })
        : new RetrainError('labelBinary', { file: dsFile, line, label });
    }
    if (typeof y === 'number' && Number.isFinite(y)) return y;
    throw new RetrainError('labelNumber', { file: dsFile, line, label: JSON.stringify(y) });
  };
  const labels = ds.y ?? [];
  const labelled = labels.reduce<number>((a, v) => a + (v !== undefined ? 1 : 0), 0);
  if (supervised && labelled === 0) throw new RetrainError('labelsNeeded', { kind, labelled, rows: total });
  const usable: { t: number; x: number[]; y: number; i: number }[] = [];
  for (let i = 0; i < total; i++) {
    let y = NaN;
    if (supervised) {
      const v = labels[i];
      if (v === undefined) continue;
      // a dataset has one row a line, no blank lines (readDataset refuses them): line = i + 1
      y = labelOf(v, i + 1);
    }
    const row = ds.x[i];
    usable.push({ t: ds.t[i], x: cols.map((c) => row[c]), y, i });
  }
  // by time, file order among equal times (Array.prototype.sort is stable)
  usable.sort((a, b) => a.t - b.t);
  const n = usable.length;
  const nHeld = Math.round(n * job.holdout);
  const nTrain = n - nHeld;
  if (nTrain < MIN_TRAIN_ROWS || nHeld < MIN_HELD_OUT_ROWS) {
    throw new RetrainError('tooFewRows', { usable: n, rows: total, train: nTrain, heldOut: nHeld, minTrain: MIN_TRAIN_ROWS, minHeldOut: MIN_HELD_OUT_ROWS });
  }
  const train = usable.slice(0, nTrain);
  const held = usable.slice(nTrain);
  const trainX = train.map((r) => r.x);
  const trainY = train.map((r) => r.y);
  if (kind === 'classifier') {
    const pos = trainY.reduce((a, v) => a + v, 0);
    if (pos === 0 || pos === nTrain) {
      const c = pos === 0 ? 0 : 1;
      throw new RetrainError('oneClass', { train: nTrain, label: classes ? `${classes[c]} (${c})` : String(c) });
    }
  }

  // 3. training
  const recipe = recipeOf(meta, job);
  const onEpoch = (epoch: number, loss: number) => {
    hooks.progress?.({ epoch: epoch + 1, epochs: recipe.epochs, loss });
    checkAbort();
  };
  const common = {
    x: trainX,
    hidden: recipe.hidden,
    activation: recipe.activation,
    epochs: recipe.epochs,
    batchSize: recipe.batchSize,
    learningRate: recipe.learningRate,
    l2: recipe.l2,
    seed: recipe.seed,
    onEpoch,
  };
  let model: TrainedModel;
  try {
    model =
      kind === 'autoencoder'
        ? await trainAutoencoder(common)
        : await trainMlp({ ...common, y: trainY, task: kind === 'classifier' ? 'binary' : 'regression' });
  } catch (e) {
    if (isCoded(e)) throw e;
    throw new RetrainError('trainFailed', { reason: (e as Error)?.message ?? String(e) });
  }
  const trainedAt = new Date().toISOString();
  let output = meta.output ? { ...meta.output } : undefined;
  // the parent's description speaks of its own training data: say what this one learnt from
  if (output?.description) output.description = `${output.name}, retrained from ${meta.name} ${meta.version} on ${trainX.length} rows of the gateway's data`;
  if (kind === 'regressor') {
    // the training targets' range: onnx infer clamps the prediction to it
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of trainY) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    output = { ...(output ?? { name: 'prediction' }), range: [lo, hi] };
  }
  const base: ModelMetadata = {
    name: meta.name,
    version,
    kind,
    features: [...meta.features],
    classes: meta.classes,
    output,
    reference: referenceFromData(meta.features, trainX),
    domain: domainFromData(meta.features, trainX),
    metadataVersion: METADATA_VERSION,
    trainedAt,
    trainingMs: model.trainingMs,
  };

  // 4. evaluation of both models on the held-out rows, with onnxruntime
  const heldX = new Float32Array(nHeld * d);
  held.forEach((r, i) => heldX.set(r.x, i * d));
  const heldY = held.map((r) => r.y);
  const provisional = toOnnx(model, base);
  const threshold = kind === 'classifier' && typeof meta.output?.threshold === 'number' ? meta.output.threshold : 0.5;
  checkAbort();
  const [candScores, depScores] = await withOrt(async () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const ort = require('onnxruntime-node') as typeof Ort;
    let c: Float64Array;
    try {
      c = await scoresOf(ort, provisional, heldX, nHeld, d, kind);
    } catch (e) {
      throw new RetrainError('evaluateCandidate', { reason: (e as Error)?.message ?? String(e) });
    }
    try {
      return [c, await scoresOf(ort, deployedFile.bytes, heldX, nHeld, d, kind)] as const;
    } catch (e) {
      throw new RetrainError('evaluateDeployed', { reason: (e as Error)?.message ?? String(e) });
    }
  });
  const heldRows = held.map((r) => ds.x[r.i]);
  const candidate = metricsOf(kind, candScores, heldY, threshold);
  const deployed = metricsOf(kind, depScores, heldY, threshold);
  const candOod = outOfDomain(base.domain, heldRows, column);
  const depOod = outOfDomain(meta.domain, heldRows, column);
  if (candOod !== undefined) candidate.outOfDomain = candOod;
  if (depOod !== undefined) deployed.outOfDomain = depOod;

  // 5. the candidate with its metrics and provenance, written atomically
  const heldSpan = span(held.map((r) => r.t));
  const metadata: ModelMetadata = {
    ...base,
    metrics: {
      ...candidate,
      testRows: nHeld,
      ...(kind === 'classifier' ? { threshold } : {}),
      evaluation:
        `held out: the last ${Math.round(job.holdout * 100)} % of the dataset's usable rows by time (${nHeld} rows), not shuffled; ` +
        "the deployed model's metrics on the same rows are in provenance.evaluation" +
        (candOod !== undefined ? '; outOfDomain: share of those rows outside the model\'s domain' : ''),
    },
    provenance: {
      source: 'retrain trigger: local training on the gateway',
      dataset: {
        manifest: job.manifest,
        file: dsFile,
        sha256: `sha256:${ds.manifest.sha256}`,
        span: ds.manifest.span ?? span(ds.t),
        rows: total,
        labelled,
        createdAt: ds.manifest.createdAt,
        source: ds.manifest.source,
      },
      parent: { name: meta.name, version: meta.version, digest: deployedFile.digest },
      rows: { usable: n, train: nTrain, heldOut: nHeld, unlabelled: supervised ? total - labelled : 0 },
      split: { holdout: job.holdout, order: 'by time, not shuffled', train: span(train.map((r) => r.t)), heldOut: heldSpan },
      trainer: { ...recipe, backend: model.backend, finalLoss: round6(model.history.loss[model.history.loss.length - 1]) },
      evaluation: { rows: nHeld, candidate, deployed },
      trainedAt,
      trainingMs: model.trainingMs,
    },
  };
  const bytes = toOnnx(model, metadata);
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  checkAbort();
  try {
    const fd = fs.openSync(job.tmpFile, 'wx');
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    checkAbort();
    fs.renameSync(job.tmpFile, file);
  } catch (e) {
    fs.rmSync(job.tmpFile, { force: true });
    if (isCoded(e)) throw e;
    throw new RetrainError('candidateWrite', { file, reason: reasonOf(e) });
  }
  return { file, digest, metadata, evaluation: { candidate, deployed, rows: nHeld, trainRows: nTrain }, trainingMs: model.trainingMs };
}

function toWire(e: unknown): WireError {
  if (isCoded(e)) return { code: e.code, params: { ...e.params }, message: e.message, catalog: (e as { catalog?: string }).catalog };
  const reason = (e as Error)?.message ?? String(e);
  return { code: 'workerFailed', params: { reason }, message: `the training worker stopped unexpectedly: ${reason}` };
}

async function main(): Promise<void> {
  const port = parentPort!;
  const job = (workerData as { retrainJob: RetrainJob }).retrainJob;
  if (job.nice) {
    try {
      // Linux: the nice value is per thread, so this lowers the training's priority only.
      os.setPriority(0, Math.min(19, os.getPriority(0) + job.nice));
    } catch {
      /* not allowed here: train at the caller's priority */
    }
  }
  try {
    const result = await runRetrain(job, { progress: (p) => port.postMessage({ op: 'progress', ...p } satisfies FromTrainWorker) });
    port.postMessage({ op: 'done', result } satisfies FromTrainWorker);
  } catch (e) {
    port.postMessage({ op: 'error', error: toWire(e) } satisfies FromTrainWorker);
  }
}

if (parentPort && workerData && typeof (workerData as { retrainJob?: unknown }).retrainJob === 'object') void main();
