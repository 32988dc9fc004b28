/**
 * A small trainer for the model kinds a gateway needs, on @tensorflow/tfjs-core ops (no
 * tfjs-layers: install size): a multilayer perceptron (regressor or binary classifier) and a
 * dense autoencoder whose output is an anomaly score.
 *
 * Every model starts with input standardisation, z = (x - mean) / std with mean and std taken
 * from the training rows (std floored), and carries it into its ONNX export (export.ts), so the
 * deployed graph takes raw feature vectors. Training is deterministic for a given seed: the
 * weights are initialised and the rows shuffled from a seeded PRNG (mulberry32), and the CPU
 * backend computes in a fixed order.
 *
 * The backend is tfjs-backend-cpu (pure JavaScript, installs everywhere); when the user has
 * installed @tensorflow/tfjs-node (native, faster) and it shares our tfjs-core, it is used instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core registers the gradients only with register_all_gradients (tfjs-layers would import
// it), shipped as ES modules whose imports name no file extension: Node cannot load them (under
// tsx they load). The build bundles them into CommonJS beside this file (scripts/build.js); the
// gradients land in tfjs's global registry, shared with the tfjs-core loaded here.
try {
  require('./tfjs-gradients');
} catch (e) {
  if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
  require('@tensorflow/tfjs-core/dist/register_all_gradients');
}

export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'linear';
export type MlpTask = 'regression' | 'binary';
/** Training rows: one array per row (all the same length). */
export type Rows = ReadonlyArray<ArrayLike<number>>;

/** One dense layer: y = act(x W + b), W stored row-major [inputs x units]. */
export interface DenseLayer {
  inputs: number;
  units: number;
  /** inputs x units, row-major (W[i][j] = w[i * units + j]) */
  w: Float32Array;
  b: Float32Array;
  activation: Activation;
}

export interface TrainHistory {
  /** training loss per epoch (mean over the batches, on standardised targets) */
  loss: number[];
  /** validation loss per epoch, when validationSplit > 0 */
  valLoss?: number[];
  /** epoch (0-based) whose weights the model holds */
  bestEpoch: number;
}

/**
 * A trained model. `predict` runs the same computation as the exported ONNX graph:
 *  - regression: [rows] predicted values (target scaling folded into the last layer)
 *  - binary: [rows] probabilities of the positive class (sigmoid of the last layer)
 *  - autoencoder: [rows] anomaly scores, the mean squared reconstruction error of the
 *    standardised row (mean over the features).
 */
export interface TrainedModel {
  kind: 'regressor' | 'classifier' | 'autoencoder';
  task: MlpTask | 'autoencoder';
  inputSize: number;
  /** standardisation baked into the graph: z = (x - mean) / std */
  mean: Float32Array;
  std: Float32Array;
  layers: DenseLayer[];
  history: TrainHistory;
  trainingMs: number;
  /** backend used for training ('cpu' or 'tensorflow') */
  backend: string;
  /**
   * Inputs with a single value in the training rows (indices): an MLP's first-layer weights of
   * them are 0, so a change in them cannot move its output (out of domain says it); an
   * autoencoder keeps them, as a change in them is what it should flag.
   */
  constantInputs: number[];
  predict(rows: Rows): Float32Array;
}

interface CommonOptions {
  /** rows */
  x: Rows;
  /** hidden layer widths */
  hidden?: number[];
  /** hidden activation (default relu for the MLP, tanh for the autoencoder) */
  activation?: Exclude<Activation, 'linear'>;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** PRNG seed for initialisation, shuffling and the validation split */
  seed?: number;
  /** fraction of the rows held out for validation (chosen at random with the seed); default 0 */
  validationSplit?: number;
  /** keep the weights of the epoch with the lowest validation loss (default true when validating) */
  restoreBest?: boolean;
  /** L2 penalty on the weights (not the biases); default 0 */
  l2?: number;
  /** smallest std used for standardisation (constant features); default 1e-6 relative, see stdFloor */
  stdFloor?: number;
  /** called after each epoch */
  onEpoch?: (epoch: number, loss: number, valLoss?: number) => void;
}

export interface MlpOptions extends CommonOptions {
  /** targets: one per row (0/1 for binary) */
  y: ArrayLike<number>;
  task: MlpTask;
}

export type AutoencoderOptions = CommonOptions;

// ------------------------------------------------------------------ backend

let backendReady: Promise<string> | undefined;

/** Selects the backend once: tfjs-node's 'tensorflow' when installed, else 'cpu'. */
export function ensureBackend(): Promise<string> {
  backendReady ??= (async () => {
    try {
      // Optional: only when the user installed it (not a dependency of this package).
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      require('@tensorflow/tfjs-node');
      if (tf.findBackend('tensorflow') && (await tf.setBackend('tensorflow'))) return 'tensorflow';
    } catch {
      /* not installed, or built for another tfjs-core */
    }
    await tf.setBackend('cpu');
    await tf.ready();
    // The CPU backend suggests installing tfjs-node on first use; that is our choice, not a problem.
    const b = tf.backend() as unknown as { firstUse?: boolean };
    if (b && 'firstUse' in b) b.firstUse = false;
    return 'cpu';
  })();
  return backendReady;
}

// ------------------------------------------------------------------ helpers

import { mulberry32 } from '../random';
export { mulberry32 };

function shuffleInPlace(a: Int32Array, rnd: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/** Rows packed into one row-major Float32Array; throws on ragged or non-finite input. */
export function packRows(rows: Rows, cols?: number): { data: Float32Array; n: number; d: number } {
  const n = rows.length;
  if (n === 0) throw new Error('no training rows');
  const d = cols ?? rows[0].length;
  if (!(d > 0)) throw new Error('rows have no columns');
  const data = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    const row = rows[r];
    if (row.length !== d) throw new Error(`row ${r} has ${row.length} values, expected ${d}`);
    for (let c = 0; c < d; c++) {
      const v = row[c];
      if (!Number.isFinite(v)) throw new Error(`row ${r}, column ${c} is not a finite number (${v})`);
      data[r * d + c] = v;
    }
  }
  return { data, n, d };
}

/** Column means and standard deviations (population), the std floored so constant columns divide by a small number, not 0. */
export function columnStats(data: Float32Array, n: number, d: number, floor?: number): { mean: Float32Array; std: Float32Array } {
  const sum = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let c = 0; c < d; c++) sum[c] += data[r * d + c];
  const mean = new Float64Array(d);
  for (let c = 0; c < d; c++) mean[c] = sum[c] / n;
  const ss = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) {
      const e = data[r * d + c] - mean[c];
      ss[c] += e * e;
    }
  }
  const std = new Float32Array(d);
  for (let c = 0; c < d; c++) {
    const s = Math.sqrt(ss[c] / n);
    // Default floor: relative to the column's magnitude (float32 noise), at least 1e-6.
    const f = floor ?? Math.max(1e-6, 1e-6 * Math.abs(mean[c]));
    std[c] = Math.max(s, f);
  }
  return { mean: Float32Array.from(mean), std };
}

/** Glorot-uniform initialisation from the seeded PRNG. */
function initLayers(sizes: number[], activations: Activation[], rnd: () => number): DenseLayer[] {
  const layers: DenseLayer[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inputs = sizes[l];
    const units = sizes[l + 1];
    const limit = Math.sqrt(6 / (inputs + units));
    const w = new Float32Array(inputs * units);
    for (let i = 0; i < w.length; i++) w[i] = (2 * rnd() - 1) * limit;
    layers.push({ inputs, units, w, b: new Float32Array(units), activation: activations[l] });
  }
  return layers;
}

function activate(x: tf.Tensor2D, a: Activation): tf.Tensor2D {
  switch (a) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    default:
      return x;
  }
}

/** The layers' forward pass on a standardised batch; `linearLast` skips the last activation (logits). */
function forward(z: tf.Tensor2D, ws: tf.Tensor2D[], bs: tf.Tensor1D[], acts: Activation[], linearLast: boolean): tf.Tensor2D {
  let h = z;
  for (let l = 0; l < ws.length; l++) {
    h = tf.add(tf.matMul(h, ws[l]), bs[l]);
    if (!(linearLast && l === ws.length - 1)) h = activate(h, acts[l]);
  }
  return h;
}

function validateHidden(hidden: number[]): void {
  for (const h of hidden) if (!Number.isInteger(h) || h < 1) throw new Error(`hidden layer widths must be positive integers, got ${hidden.join(',')}`);
}

interface Fit {
  layers: DenseLayer[];
  history: TrainHistory;
}

/**
 * The shared training loop: minibatch Adam on the standardised rows `z` (n x d) against targets
 * `t` (n x k), loss chosen by `lossFn(pred, target)` where pred is the last layer before its
 * activation for 'logits' losses.
 */
function fit(
  z: Float32Array,
  n: number,
  d: number,
  t: Float32Array,
  k: number,
  layers: DenseLayer[],
  lossKind: 'mse' | 'bce',
  opts: CommonOptions,
  rnd: () => number,
): Fit {
  const epochs = opts.epochs ?? 50;
  const batchSize = Math.max(1, Math.min(opts.batchSize ?? 32, n));
  const lr = opts.learningRate ?? 1e-3;
  const l2 = opts.l2 ?? 0;
  const split = opts.validationSplit ?? 0;
  if (!(split >= 0 && split < 1)) throw new Error('validationSplit must be in [0, 1)');

  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let trainIdx = order;
  let valIdx: Int32Array | null = null;
  if (split > 0) {
    shuffleInPlace(order, rnd);
    const nVal = Math.max(1, Math.round(n * split));
    if (nVal >= n) throw new Error('validationSplit leaves no training rows');
    valIdx = order.slice(n - nVal);
    trainIdx = order.slice(0, n - nVal);
  }
  const restoreBest = opts.restoreBest ?? valIdx !== null;

  const acts = layers.map((l) => l.activation);
  const ws = layers.map((l) => tf.variable(tf.tensor2d(l.w, [l.inputs, l.units]), true));
  const bs = layers.map((l) => tf.variable(tf.tensor1d(l.b), true));
  const vars = [...ws, ...bs];
  const zAll = tf.tensor2d(z, [n, d]);
  const tAll = tf.tensor2d(t, [n, k]);
  const optimizer = tf.train.adam(lr);

  const lossOf = (zb: tf.Tensor2D, tb: tf.Tensor2D): tf.Scalar => {
    const out = forward(zb, ws as unknown as tf.Tensor2D[], bs as unknown as tf.Tensor1D[], acts, lossKind === 'bce');
    let loss: tf.Scalar =
      lossKind === 'bce'
        ? (tf.mean(tf.sub(tf.add(tf.relu(out), tf.log1p(tf.exp(tf.neg(tf.abs(out))))), tf.mul(out, tb))) as tf.Scalar)
        : (tf.mean(tf.square(tf.sub(out, tb))) as tf.Scalar);
    if (l2 > 0) for (const w of ws) loss = tf.add(loss, tf.mul(l2, tf.sum(tf.square(w)))) as tf.Scalar;
    return loss;
  };

  const history: TrainHistory = { loss: [], bestEpoch: epochs - 1 };
  if (valIdx) history.valLoss = [];
  let best = Infinity;
  let bestWeights: { w: Float32Array; b: Float32Array }[] | null = null;
  const snapshot = () => layers.map((_, l) => ({ w: ws[l].dataSync().slice() as Float32Array, b: bs[l].dataSync().slice() as Float32Array }));

  const valTensors = valIdx
    ? (() => {
        const idx = tf.tensor1d(valIdx, 'int32');
        const r = { z: tf.gather(zAll, idx) as tf.Tensor2D, t: tf.gather(tAll, idx) as tf.Tensor2D };
        idx.dispose();
        return r;
      })()
    : null;

  try {
    const batchIdx = new Int32Array(batchSize);
    for (let epoch = 0; epoch < epochs; epoch++) {
      shuffleInPlace(trainIdx, rnd);
      let sum = 0;
      let batches = 0;
      for (let start = 0; start < trainIdx.length; start += batchSize) {
        const m = Math.min(batchSize, trainIdx.length - start);
        const idxArr = m === batchSize ? batchIdx : new Int32Array(m);
        idxArr.set(trainIdx.subarray(start, start + m));
        const cost = tf.tidy(() => {
          const idx = tf.tensor1d(idxArr, 'int32');
          const zb = tf.gather(zAll, idx) as tf.Tensor2D;
          const tb = tf.gather(tAll, idx) as tf.Tensor2D;
          return optimizer.minimize(() => lossOf(zb, tb), true, vars) as tf.Scalar;
        }) as tf.Scalar | null;
        if (cost) {
          sum += cost.dataSync()[0];
          cost.dispose();
        }
        batches++;
      }
      const loss = sum / Math.max(1, batches);
      history.loss.push(loss);
      let valLoss: number | undefined;
      if (valTensors) {
        valLoss = tf.tidy(() => lossOf(valTensors.z, valTensors.t).dataSync()[0]);
        history.valLoss!.push(valLoss);
        if (restoreBest && valLoss < best) {
          best = valLoss;
          bestWeights = snapshot();
          history.bestEpoch = epoch;
        }
      }
      if (!Number.isFinite(loss)) throw new Error(`training diverged at epoch ${epoch + 1} (loss ${loss}); lower the learning rate`);
      opts.onEpoch?.(epoch, loss, valLoss);
    }
    const final = restoreBest && bestWeights ? bestWeights : snapshot();
    if (!(restoreBest && bestWeights)) history.bestEpoch = epochs - 1;
    return { layers: layers.map((l, i) => ({ ...l, w: final[i].w, b: final[i].b })), history };
  } finally {
    optimizer.dispose();
    for (const v of vars) v.dispose();
    zAll.dispose();
    tAll.dispose();
    valTensors?.z.dispose();
    valTensors?.t.dispose();
  }
}

function standardise(data: Float32Array, n: number, d: number, mean: Float32Array, std: Float32Array): Float32Array {
  // Computed with tfjs float32 ops, exactly as predict (and ONNX) do.
  return tf.tidy(() => tf.div(tf.sub(tf.tensor2d(data, [n, d]), tf.tensor1d(mean)), tf.tensor1d(std)).dataSync() as Float32Array);
}

/** The trained model object around final layers; `predict` mirrors the ONNX graph op by op. */
function makeModel(
  kind: TrainedModel['kind'],
  task: TrainedModel['task'],
  mean: Float32Array,
  std: Float32Array,
  layers: DenseLayer[],
  history: TrainHistory,
  trainingMs: number,
  backend: string,
  constantInputs: number[],
): TrainedModel {
  const d = mean.length;
  return {
    kind,
    task,
    inputSize: d,
    mean,
    std,
    layers,
    history,
    trainingMs,
    backend,
    constantInputs,
    predict(rows: Rows): Float32Array {
      if (rows.length === 0) return new Float32Array(0);
      const { data, n } = packRows(rows, d);
      return tf.tidy(() => {
        const x = tf.tensor2d(data, [n, d]);
        const z = tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std)) as tf.Tensor2D;
        const ws = layers.map((l) => tf.tensor2d(l.w, [l.inputs, l.units]));
        const bs = layers.map((l) => tf.tensor1d(l.b));
        const out = forward(z, ws, bs, layers.map((l) => l.activation), false);
        if (task === 'autoencoder') {
          const e = tf.sub(out, z);
          return tf.mean(tf.mul(e, e), 1).dataSync() as Float32Array;
        }
        return out.dataSync() as Float32Array;
      });
    },
  };
}

// ------------------------------------------------------------------ public API

/**
 * Trains an MLP. Regression: the targets are standardised for training and the scaling folded
 * into the last layer afterwards (linear output, exact). Binary: targets 0/1, trained on the
 * logits with binary cross-entropy; the model's last layer ends in a sigmoid (probability).
 */
export async function trainMlp(opts: MlpOptions): Promise<TrainedModel> {
  const backend = await ensureBackend();
  const started = Date.now();
  const hidden = opts.hidden ?? [64, 32];
  validateHidden(hidden);
  const { data, n, d } = packRows(opts.x);
  if (opts.y.length !== n) throw new Error(`y has ${opts.y.length} values for ${n} rows`);
  const rnd = mulberry32(opts.seed ?? 1);
  const { mean, std } = columnStats(data, n, d, opts.stdFloor);
  const z = standardise(data, n, d, mean, std);

  const t = new Float32Array(n);
  let yMean = 0;
  let yStd = 1;
  if (opts.task === 'binary') {
    for (let i = 0; i < n; i++) {
      const v = opts.y[i];
      if (v !== 0 && v !== 1) throw new Error(`binary targets must be 0 or 1, row ${i} has ${v}`);
      t[i] = v;
    }
  } else {
    let s = 0;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(opts.y[i])) throw new Error(`target ${i} is not a finite number`);
      s += opts.y[i];
    }
    yMean = s / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (opts.y[i] - yMean) ** 2;
    yStd = Math.max(Math.sqrt(ss / n), 1e-6);
    for (let i = 0; i < n; i++) t[i] = (opts.y[i] - yMean) / yStd;
  }

  const act = opts.activation ?? 'relu';
  const sizes = [d, ...hidden, 1];
  const acts: Activation[] = [...hidden.map(() => act), opts.task === 'binary' ? 'sigmoid' : 'linear'];
  const init = initLayers(sizes, acts, rnd);
  const { layers, history } = fit(z, n, d, t, 1, init, opts.task === 'binary' ? 'bce' : 'mse', opts, rnd);
  // A constant input is standardised with the std floor (z = 0 in training, so its weights never
  // learn) and a tiny change at inference would be divided by that floor (a RUL of -653789 cycles
  // from +0.5 on such a sensor): its first-layer weights are set to 0, which changes no training prediction.
  const constant = constantColumns(data, n, d);
  const first = layers[0];
  for (const j of constant) first.w.fill(0, j * first.units, (j + 1) * first.units);

  if (opts.task === 'regression') {
    // Fold the target scaling into the linear output layer: y = (h W + b) * s + m.
    const last = layers[layers.length - 1];
    const w = new Float32Array(last.w.length);
    for (let i = 0; i < w.length; i++) w[i] = last.w[i] * yStd;
    const b = new Float32Array(last.b.length);
    for (let i = 0; i < b.length; i++) b[i] = last.b[i] * yStd + yMean;
    layers[layers.length - 1] = { ...last, w, b };
  }
  return makeModel(
    opts.task === 'binary' ? 'classifier' : 'regressor',
    opts.task,
    mean,
    std,
    layers,
    history,
    Date.now() - started,
    backend,
    constant,
  );
}

/** The columns of packed rows with a single value. */
function constantColumns(data: Float32Array, n: number, d: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < d; j++) {
    let i = 1;
    while (i < n && data[i * d + j] === data[j]) i++;
    if (i >= n) out.push(j);
  }
  return out;
}

/**
 * Trains a dense autoencoder on (standardised) rows: hidden activation tanh by default, a linear
 * output layer reconstructing the standardised input. The model's output is the anomaly score:
 * the mean over the features of the squared reconstruction error of the standardised row.
 */
export async function trainAutoencoder(opts: AutoencoderOptions): Promise<TrainedModel> {
  const backend = await ensureBackend();
  const started = Date.now();
  const hidden = opts.hidden ?? [16, 4, 16];
  validateHidden(hidden);
  const { data, n, d } = packRows(opts.x);
  const rnd = mulberry32(opts.seed ?? 1);
  const { mean, std } = columnStats(data, n, d, opts.stdFloor);
  const z = standardise(data, n, d, mean, std);
  const act = opts.activation ?? 'tanh';
  const sizes = [d, ...hidden, d];
  const acts: Activation[] = [...hidden.map(() => act), 'linear'];
  const init = initLayers(sizes, acts, rnd);
  const { layers, history } = fit(z, n, d, z, d, init, 'mse', opts, rnd);
  return makeModel('autoencoder', 'autoencoder', mean, std, layers, history, Date.now() - started, backend, constantColumns(data, n, d));
}
