/**
 * Local retraining: a candidate model trained on the gateway from a dataset snapshot (what the
 * training-data buffer writes: dataset-<ts>.jsonl and its manifest), with the deployed model's
 * features, kind and name, and the next version.
 *
 * Everything heavy runs in a worker thread (train-worker.ts): reading and checking the dataset,
 * the training (tfjs-core on the CPU backend, a loop that never yields), the ONNX export and the
 * evaluation of the candidate and of the deployed model with onnxruntime-node on the same held-out
 * rows. The calling thread (Node-RED's) only starts the worker and relays its progress, so the
 * editor and the other flows stay responsive (bench/retrain-eventloop.bench.ts measures it). The
 * worker also lowers its own thread's priority (nice +10 on Linux, where the nice value is per
 * thread), so under CPU contention the flows come first.
 *
 * The held-out rows are the LAST `holdout` share of the usable rows by time, never shuffled:
 * consecutive windows of one stream are strongly autocorrelated, so a random split would put
 * near-copies of the test rows into the training rows.
 *
 * Errors are coded (catalog 'mlops-retrain-trigger', keys under `errors.`) and say what was
 * expected; an error in the worker comes back as the same coded error.
 */
import { randomBytes } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { valid as semverValid, inc as semverInc } from 'semver';
import { CodedError, isCoded, type Params } from '../node-red/errors';
import type { ModelMetadata } from '../model-metadata';
import type { FromTrainWorker, RetrainJob, RetrainResult } from './train-worker';

/** The catalog of the retrain trigger node: error texts live under `errors.<code>`. */
export const RETRAIN_CATALOG = 'mlops-retrain-trigger';

/** Fewest rows a candidate is trained on, and fewest held-out rows it is evaluated on. */
export const MIN_TRAIN_ROWS = 50;
export const MIN_HELD_OUT_ROWS = 10;
/** Default share of the rows held out for the evaluation (the last ones by time). */
export const DEFAULT_HOLDOUT = 0.2;
/** Nice value of the training thread (Linux: per thread; 0 keeps the caller's priority). */
export const DEFAULT_NICE = 10;

export interface TrainCandidateOptions {
  /** Path of the dataset manifest (JSON); its `file` is taken relative to the manifest's folder. */
  manifest: string;
  /** The ONNX model in use: its metadata gives the features, kind, name and version. */
  deployed: { path: string };
  /** Folder the candidate is written to, as `<name>-<version>.onnx`. */
  outDir: string;
  /** Share of the usable rows held out for the evaluation: the last ones by time (default 0.2). */
  holdout?: number;
  /** PRNG seed of the training (default: the deployed model's training seed, else 1). */
  seed?: number;
  /** Training epochs (default: the deployed model's recipe, else 30). */
  epochs?: number;
  /** The candidate's version (default: the deployed version with a patch bump, 1.0.0 -> 1.0.1). */
  version?: string;
  /** Aborting ends the worker (see trainCandidate). */
  signal?: AbortSignal;
  /** Called after every epoch (epoch counts from 1). */
  onProgress?(p: { epoch: number; epochs: number; loss: number }): void;
  /** Nice value of the training thread (default 10; 0 keeps the caller's). */
  nice?: number;
}

export interface CandidateEvaluation {
  /** The candidate's metrics on the held-out rows. */
  candidate: Record<string, number>;
  /** The deployed model's metrics on the same rows. */
  deployed: Record<string, number>;
  /** Held-out rows. */
  rows: number;
  /** Rows the candidate was trained on. */
  trainRows: number;
}

export interface CandidateResult {
  /** The candidate's .onnx file. */
  file: string;
  /** "sha256:<hex>" of the file. */
  digest: string;
  metadata: ModelMetadata;
  evaluation: CandidateEvaluation;
  /** Time of the training alone (ms). */
  trainingMs: number;
}

/** An error of the retrain trigger: `code` is a key under `mlops-retrain-trigger.errors.`. */
export class RetrainError extends CodedError {
  constructor(code: RetrainErrorCode, params: Params, message?: string) {
    super(code, params, message ?? TEXT[code](params), RETRAIN_CATALOG);
  }
}

/**
 * The English texts of the error codes (the catalog's en-US texts say the same). A dataset that
 * cannot be read is refused by buffer.ts's readDataset with its codes (badManifest, readFailed,
 * datasetChanged, datasetLine, datasetRows), in the same catalog.
 */
const TEXT = {
  badPath: (p: Params) => `option ${p.option} is ${p.value}: expected a path`,
  badHoldout: (p: Params) => `option holdout is ${p.value}: expected a share between 0 and 1 (default 0.2)`,
  badEpochs: (p: Params) => `option epochs is ${p.value}: expected a whole number from 1 to 100000`,
  badSeed: (p: Params) => `option seed is ${p.value}: expected a whole number`,
  badVersion: (p: Params) => `option version is ${p.value}: expected a version such as 1.0.1`,
  badNice: (p: Params) => `option nice is ${p.value}: expected a whole number from 0 to 19`,
  aborted: () => 'the retrain was stopped before it finished (aborted)',
  workerFailed: (p: Params) => `the training worker stopped unexpectedly: ${p.reason}`,
  deployedRead: (p: Params) => `cannot read the deployed model ${p.file}: ${p.reason}`,
  deployedMetadata: (p: Params) =>
    `the deployed model ${p.file} cannot be retrained: ${p.reason} (expected this package's metadata: name, version, kind classifier, regressor or autoencoder, and the feature names)`,
  featuresMissing: (p: Params) =>
    `the dataset lacks ${p.count} of the deployed model's ${p.total} features: ${p.missing}; a candidate takes exactly the deployed model's features`,
  featuresDiffer: (p: Params) =>
    `the dataset lacks ${p.count} of the deployed model's ${p.total} features: ${p.missing}, and has others instead: ${p.extra}; a candidate takes exactly the deployed model's features`,
  labelsNeeded: (p: Params) => `the deployed model is a ${p.kind}: a retrain needs labels, got ${p.labelled} labelled rows of ${p.rows}`,
  labelClass: (p: Params) => `line ${p.line} of dataset ${p.file}: the label ${p.label} is not one of the classifier's classes: expected 0, 1, "${p.negative}" or "${p.positive}"`,
  labelBinary: (p: Params) => `line ${p.line} of dataset ${p.file}: the label ${p.label} is not a class of the classifier: expected 0 or 1 (the deployed model names no classes)`,
  labelNumber: (p: Params) => `line ${p.line} of dataset ${p.file}: the label ${p.label} is not a number, as a regressor's target must be`,
  oneClass: (p: Params) => `the ${p.train} training rows hold only the class ${p.label}: a classifier needs examples of both classes`,
  tooFewRows: (p: Params) =>
    `${p.usable} usable rows of ${p.rows} (${p.train} to train, ${p.heldOut} held out): a retrain needs at least ${p.minTrain} to train and ${p.minHeldOut} held out`,
  sameVersion: (p: Params) => `the candidate's version ${p.version} is the deployed model's: expected another (default: the next patch version)`,
  sameFile: (p: Params) => `the candidate ${p.file} would replace the deployed model: expected another output folder or version`,
  trainFailed: (p: Params) => `the training failed: ${p.reason}`,
  evaluateCandidate: (p: Params) => `the candidate could not be evaluated on the held-out rows: ${p.reason}`,
  evaluateDeployed: (p: Params) => `the deployed model could not be evaluated on the held-out rows: ${p.reason}`,
  candidateWrite: (p: Params) => `cannot write the candidate ${p.file}: ${p.reason}`,
} satisfies Record<string, (p: Params) => string>;

export type RetrainErrorCode = keyof typeof TEXT;

/** The next version: a patch bump of a semantic version (1.0.0 -> 1.0.1), else the last number raised (v7 -> v8), else ".1" appended. */
export function nextVersion(v: string): string {
  if (semverValid(v)) return semverInc(v, 'patch')!;
  const m = /^(.*?)(\d+)$/.exec(v);
  if (m) return m[1] + String(Number(m[2]) + 1);
  return `${v}.1`;
}

/** A name or version as a safe part of a file name (anything but letters, digits, dot, dash and underscore becomes "_"). */
export function fileSafe(s: string): string {
  const out = s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return out || '_';
}

/**
 * The worker's file, found the way nodes/lib/onnx/host.ts finds its session worker: beside this
 * module, train-worker.js in the compiled dist/, train-worker.ts when this module runs from
 * TypeScript source (tests and benches under tsx), then with tsx loaded into the worker too.
 */
function workerEntry(): { file: string; execArgv?: string[] } {
  if (__filename.endsWith('.ts')) return { file: path.join(__dirname, 'train-worker.ts'), execArgv: ['--require', require.resolve('tsx/cjs')] };
  return { file: path.join(__dirname, 'train-worker.js') };
}

function checkOptions(o: TrainCandidateOptions): void {
  const bad = (code: RetrainErrorCode, value: unknown, option?: string) => new RetrainError(code, option ? { option, value: String(value) } : { value: String(value) });
  if (!o || typeof o.manifest !== 'string' || !o.manifest) throw bad('badPath', o?.manifest, 'manifest');
  if (!o.deployed || typeof o.deployed.path !== 'string' || !o.deployed.path) throw bad('badPath', o.deployed?.path, 'deployed.path');
  if (typeof o.outDir !== 'string' || !o.outDir) throw bad('badPath', o.outDir, 'outDir');
  if (o.holdout !== undefined && !(typeof o.holdout === 'number' && o.holdout > 0 && o.holdout < 1)) throw bad('badHoldout', o.holdout);
  if (o.epochs !== undefined && !(Number.isInteger(o.epochs) && o.epochs >= 1 && o.epochs <= 100000)) throw bad('badEpochs', o.epochs);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw bad('badSeed', o.seed);
  if (o.version !== undefined && !(typeof o.version === 'string' && o.version.trim() !== '' && o.version.length <= 128)) throw bad('badVersion', o.version);
  if (o.nice !== undefined && !(Number.isInteger(o.nice) && o.nice >= 0 && o.nice <= 19)) throw bad('badNice', o.nice);
}

/** A coded error that crossed the worker boundary (a plain object), as a CodedError again. */
function fromWire(e: unknown): CodedError {
  if (isCoded(e)) return new CodedError(e.code, e.params, e.message, (e as { catalog?: string }).catalog ?? RETRAIN_CATALOG);
  return new RetrainError('workerFailed', { reason: (e as Error)?.message ?? String(e) });
}

/**
 * Trains a candidate in a worker thread and evaluates it and the deployed model on the same
 * held-out rows. Resolves once the worker has ended, with the candidate written to
 * `<outDir>/<name>-<version>.onnx` (atomically: a temporary file renamed).
 *
 * Abort (`signal`): the worker is terminated and the promise rejects with code 'aborted'; a
 * temporary file is removed. Terminating a thread while onnxruntime runs in it aborts the whole
 * process (see onnx/worker.ts), so during the evaluation (well under a second) the worker is
 * asked to stop through a shared flag and terminated as soon as it has released its sessions.
 * An abort after the file was renamed, in the instant before the result, leaves that file.
 */
export async function trainCandidate(o: TrainCandidateOptions): Promise<CandidateResult> {
  checkOptions(o);
  if (o.signal?.aborted) throw new RetrainError('aborted', {});
  const outDir = path.resolve(o.outDir);
  const tmpFile = path.join(outDir, `.candidate-${process.pid}-${randomBytes(6).toString('hex')}.onnx.tmp`);
  const control = new SharedArrayBuffer(8);
  const flags = new Int32Array(control);
  const job: RetrainJob = {
    manifest: path.resolve(o.manifest),
    deployed: path.resolve(o.deployed.path),
    outDir,
    tmpFile,
    holdout: o.holdout ?? DEFAULT_HOLDOUT,
    seed: o.seed,
    epochs: o.epochs,
    version: o.version,
    nice: o.nice ?? DEFAULT_NICE,
    control,
  };
  const entry = workerEntry();
  const worker = new Worker(entry.file, { workerData: { retrainJob: job }, execArgv: entry.execArgv });
  return new Promise<CandidateResult>((resolve, reject) => {
    let result: RetrainResult | undefined;
    let failure: CodedError | undefined;
    let stopTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      // [1] is set while onnxruntime is in use in the worker: wait for it to be released.
      if (Atomics.load(flags, 1) === 0) void worker.terminate();
      else stopTimer = setTimeout(stop, 5);
    };
    const onAbort = () => {
      if (result) return;
      failure = new RetrainError('aborted', {});
      Atomics.store(flags, 0, 1);
      stop();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: FromTrainWorker) => {
      if (m.op === 'progress') {
        try {
          o.onProgress?.({ epoch: m.epoch, epochs: m.epochs, loss: m.loss });
        } catch {
          /* a failing progress callback does not stop the training */
        }
      } else if (m.op === 'done') result = m.result;
      else if (m.op === 'error') failure ??= fromWire(m.error);
    });
    worker.on('error', (e) => {
      failure ??= new RetrainError('workerFailed', { reason: e?.message ?? String(e) });
    });
    worker.on('exit', (code) => {
      clearTimeout(stopTimer);
      o.signal?.removeEventListener('abort', onAbort);
      if (result) {
        resolve(result);
        return;
      }
      // the temporary file is gone before the caller hears of the failure
      const err = failure ?? new RetrainError('workerFailed', { reason: `the worker ended with exit code ${code} and no result` });
      void fsp.rm(tmpFile, { force: true }).catch(() => undefined).then(() => reject(err));
    });
  });
}
