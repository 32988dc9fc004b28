/**
 * Input mapping and output forms of `onnx infer`: pure functions, no onnxruntime import, so the
 * same code runs on the Node-RED thread, in the session worker and in unit tests.
 *
 * Inputs: msg.payload as a number array (one row), a typed array (one row, or a batch when
 * msg.features.shape = [rows, k] says so), an array of rows (a batch), or an object keyed by
 * input name holding any of these. Every value is checked against the model's input shape.
 *
 * Outputs: plain number arrays per output (msg.outputs) and a friendly form (msg.payload):
 * score, label or vector.
 */
import { CodedError } from '../node-red/errors';

/** Element types onnxruntime-node uses in its metadata ('float32', 'int64', ...). */
export type TensorType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'bool' | string;

/** A model input or output as the session (or the file) describes it. */
export interface TensorSpec {
  name: string;
  type: TensorType;
  /** A number is a fixed dimension; a string (or -1) a symbolic one such as "batch". */
  shape: Array<number | string>;
}

export type TypedData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** A tensor as it travels between threads: a typed array (transferable), its type and dims. */
export interface WireTensor {
  type: TensorType;
  dims: number[];
  data: TypedData;
}

export type Feeds = Record<string, WireTensor>;

export interface PreparedInput {
  feeds: Feeds;
  /** Rows along the first (batch) dimension; 1 for a single sample. */
  rows: number;
  /** true when the caller sent a batch (array of rows, shaped typed array): outputs stay per row. */
  batched: boolean;
}

/** An input or output problem: `code` is an i18n key under `errors.`, `params` its values. */
export class InferInputError extends CodedError {}

const SUPPORTED: Record<string, true> = { float32: true, float64: true, int32: true, int64: true, uint8: true, int8: true, bool: true };

function isDynamic(d: number | string | undefined): boolean {
  return typeof d !== 'number' || d < 0 || !Number.isFinite(d);
}

/** "[batch, 24]" */
export function shapeText(shape: Array<number | string>): string {
  return `[${shape.map((d) => (typeof d === 'number' && d >= 0 ? String(d) : typeof d === 'string' && d ? d : '?')).join(', ')}]`;
}

function expected(spec: TensorSpec): string {
  return `input "${spec.name}" of shape ${shapeText(spec.shape)} (${spec.type})`;
}

interface Layout {
  /** The first dimension is free: any number of rows. */
  batchDynamic: boolean;
  /** Dims of one row (after the batch dimension); fixed numbers, or -1 for one free dim. */
  rowDims: number[];
  /** Values per row, or undefined when a row dimension is free (taken from the data). */
  rowSize?: number;
  /** Fully fixed: the exact element count. */
  total?: number;
}

function layoutOf(spec: TensorSpec): Layout {
  const shape = spec.shape.length ? spec.shape : [];
  if (shape.length === 0) return { batchDynamic: false, rowDims: [], rowSize: 1, total: 1 };
  if (shape.length === 1) {
    // A plain vector: the payload is the vector (one "row").
    return isDynamic(shape[0])
      ? { batchDynamic: false, rowDims: [-1] }
      : { batchDynamic: false, rowDims: [shape[0] as number], rowSize: shape[0] as number, total: shape[0] as number };
  }
  const rowDims = shape.slice(1).map((d) => (isDynamic(d) ? -1 : (d as number)));
  const free = rowDims.filter((d) => d < 0).length;
  const rowSize = free ? undefined : rowDims.reduce((a, b) => a * b, 1);
  const batchDynamic = isDynamic(shape[0]);
  return { batchDynamic, rowDims, rowSize, total: !batchDynamic && rowSize !== undefined ? rowSize * (shape[0] as number) : undefined };
}

/** True when every input has a free first dimension: messages can be stacked into one run. */
export function canBatch(inputs: TensorSpec[]): boolean {
  return inputs.length > 0 && inputs.every((s) => s.shape.length >= 2 && isDynamic(s.shape[0]) && layoutOf(s).rowSize !== undefined);
}

function isTypedArray(v: unknown): v is ArrayLike<number | bigint> & ArrayBufferView {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function allocate(type: TensorType, n: number): TypedData {
  switch (type) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    case 'int8':
      return new Int8Array(n);
    default:
      throw new Error(`unsupported type ${type}`);
  }
}

/** Copies `src` (numbers) into `dst` at `offset`, checking each value. */
function fill(dst: TypedData, offset: number, src: ArrayLike<number | bigint>, spec: TensorSpec, row: number): void {
  const n = src.length;
  const integer = spec.type !== 'float32' && spec.type !== 'float64';
  if (dst instanceof BigInt64Array) {
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (typeof v === 'bigint') dst[offset + i] = v;
      else if (typeof v === 'number' && Number.isInteger(v)) dst[offset + i] = BigInt(v);
      else throw badValue(spec, row, i, v);
    }
    return;
  }
  if ((dst instanceof Float32Array || dst instanceof Float64Array) && (src instanceof Float64Array || src instanceof Float32Array)) {
    // Fast path: typed to typed; check finiteness in the same pass.
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (v - v !== 0) throw badValue(spec, row, i, v);
      dst[offset + i] = v;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    let v = src[i] as unknown;
    if (typeof v === 'boolean' && spec.type === 'bool') v = v ? 1 : 0;
    if (typeof v !== 'number' || v - v !== 0 || (integer && !Number.isInteger(v))) throw badValue(spec, row, i, v);
    (dst as Float32Array)[offset + i] = v;
  }
}

function badValue(spec: TensorSpec, row: number, i: number, v: unknown): InferInputError {
  const shown = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? `${v}n` : String(v);
  const kind = spec.type === 'float32' || spec.type === 'float64' ? 'finite numbers' : 'integers';
  return new InferInputError(
    'badValue',
    { input: `"${spec.name}"`, shape: shapeText(spec.shape), type: spec.type, row, index: i, value: shown, kind },
    `expected ${expected(spec)} to hold ${kind}, got ${shown} at index ${i} (row ${row})`,
  );
}

function wrongSize(spec: TensorSpec, got: string): InferInputError {
  return new InferInputError('shape', { input: `"${spec.name}"`, shape: shapeText(spec.shape), type: spec.type, got }, `expected ${expected(spec)}, got ${got}`);
}

/** Flattens nested number arrays (e.g. a row of [3][8]) into one list; typed arrays pass as is. */
function flatRow(row: unknown): ArrayLike<number | bigint> | undefined {
  if (isTypedArray(row)) return row;
  if (!Array.isArray(row)) return undefined;
  if (row.length === 0 || !(Array.isArray(row[0]) || isTypedArray(row[0]))) return row as number[];
  const out: Array<number | bigint> = [];
  const walk = (a: unknown): boolean => {
    if (isTypedArray(a)) {
      for (let i = 0; i < a.length; i++) out.push(a[i]);
      return true;
    }
    if (!Array.isArray(a)) return false;
    for (const x of a) {
      if (Array.isArray(x) || isTypedArray(x)) {
        if (!walk(x)) return false;
      } else out.push(x as number);
    }
    return true;
  };
  return walk(row) ? out : undefined;
}

/**
 * One input value as a tensor for `spec`. `shapeHint` is msg.features.shape ([rows, k]) of a
 * packed batch from the feature window.
 */
export function toTensor(value: unknown, spec: TensorSpec, shapeHint?: unknown): { tensor: WireTensor; rows: number; batched: boolean } {
  if (!SUPPORTED[spec.type]) {
    throw new InferInputError('type', { input: spec.name, type: spec.type }, `input "${spec.name}" has element type ${spec.type}, which this node cannot feed (numbers only)`);
  }
  const lay = layoutOf(spec);
  const describe = (n: number) => `${n} value${n === 1 ? '' : 's'}`;

  // A batch: an array whose items are rows (arrays or typed arrays).
  if (Array.isArray(value) && value.length > 0 && (Array.isArray(value[0]) || isTypedArray(value[0])) && spec.shape.length >= 2) {
    const rows = value.length;
    if (lay.total !== undefined && lay.rowSize !== undefined && rows * lay.rowSize !== lay.total) {
      throw wrongSize(spec, `${rows} rows`);
    }
    let rowSize = lay.rowSize;
    let data: TypedData | undefined;
    for (let r = 0; r < rows; r++) {
      const flat = flatRow(value[r]);
      if (!flat) throw wrongSize(spec, `row ${r} that is not a list of numbers`);
      if (rowSize === undefined) rowSize = flat.length;
      if (flat.length !== rowSize) throw wrongSize(spec, `a row of ${describe(flat.length)} (row ${r})`);
      if (!data) data = allocate(spec.type, rows * rowSize);
      fill(data, r * rowSize, flat, spec, r);
    }
    const dims = [rows, ...fillDims(lay.rowDims, rowSize!)];
    return { tensor: { type: spec.type, dims, data: data! }, rows, batched: true };
  }

  let flat: ArrayLike<number | bigint> | undefined;
  if (isTypedArray(value)) flat = value;
  else if (Array.isArray(value)) flat = flatRow(value);
  else if (typeof value === 'number' && (lay.rowSize === 1 || lay.total === 1)) flat = [value];
  if (!flat) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an empty array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
    throw wrongSize(spec, got);
  }
  const n = flat.length;

  // A packed batch with its shape, as the feature window sends it.
  const hint = Array.isArray(shapeHint) && shapeHint.length === 2 && shapeHint.every((d) => Number.isInteger(d) && d >= 0) ? (shapeHint as number[]) : undefined;
  if (hint && spec.shape.length >= 2 && hint[0] * hint[1] === n) {
    const [rows, k] = hint;
    if (lay.rowSize !== undefined && k !== lay.rowSize) throw wrongSize(spec, `rows of ${describe(k)} (msg.features.shape [${rows}, ${k}])`);
    if (lay.total !== undefined && n !== lay.total) throw wrongSize(spec, `${rows} rows of ${describe(k)}`);
    const data = allocate(spec.type, n);
    fill(data, 0, flat, spec, 0);
    return { tensor: { type: spec.type, dims: [rows, ...fillDims(lay.rowDims, k)], data }, rows, batched: true };
  }

  // One row (or, for a fully fixed shape, exactly the values the shape holds).
  if (lay.total !== undefined) {
    if (n !== lay.total) throw wrongSize(spec, describe(n));
    const data = allocate(spec.type, n);
    fill(data, 0, flat, spec, 0);
    const dims = spec.shape.map((d) => d as number);
    const rows = dims.length >= 2 ? dims[0] : 1;
    return { tensor: { type: spec.type, dims, data }, rows, batched: rows > 1 };
  }
  if (lay.rowSize !== undefined && n !== lay.rowSize) throw wrongSize(spec, describe(n));
  if (n === 0) throw wrongSize(spec, 'an empty array');
  const data = allocate(spec.type, n);
  fill(data, 0, flat, spec, 0);
  const dims = spec.shape.length >= 2 ? [1, ...fillDims(lay.rowDims, n)] : [n];
  return { tensor: { type: spec.type, dims, data }, rows: 1, batched: false };
}

/** Row dims with the one free dim (-1) filled so the row holds `rowSize` values. */
function fillDims(rowDims: number[], rowSize: number): number[] {
  const fixed = rowDims.filter((d) => d >= 0).reduce((a, b) => a * b, 1);
  const free = rowDims.filter((d) => d < 0).length;
  if (free === 0) return rowDims;
  if (free > 1) return [rowSize]; // ambiguous: let onnxruntime check it
  return rowDims.map((d) => (d < 0 ? Math.max(0, Math.round(rowSize / fixed)) : d));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isTypedArray(v);
}

/**
 * msg.payload (and msg.features.shape) as the feeds of one run. Throws InferInputError with the
 * expected shape when the payload does not fit the model's inputs.
 */
export function prepareInputs(payload: unknown, inputs: TensorSpec[], features?: { shape?: unknown }): PreparedInput {
  if (inputs.length === 0) throw new InferInputError('noInputs', {}, 'the model declares no inputs');
  const hint = features && typeof features === 'object' ? features.shape : undefined;
  const names = inputs.map((i) => `"${i.name}"`).join(', ');
  if (isPlainObject(payload)) {
    const feeds: Feeds = {};
    let rows = -1;
    let batched = false;
    for (const spec of inputs) {
      if (!(spec.name in payload)) {
        throw new InferInputError('missingInput', { input: spec.name, inputs: names }, `expected msg.payload to hold input "${spec.name}" (the model's inputs: ${names})`);
      }
      const t = toTensor(payload[spec.name], spec, inputs.length === 1 ? hint : undefined);
      if (rows >= 0 && t.rows !== rows && spec.shape.length >= 2) {
        throw new InferInputError('rowMismatch', { input: spec.name, rows: t.rows, expected: rows }, `expected input "${spec.name}" to have ${rows} rows like the other inputs, got ${t.rows}`);
      }
      if (spec.shape.length >= 2) rows = t.rows;
      batched = batched || t.batched;
      feeds[spec.name] = t.tensor;
    }
    for (const k of Object.keys(payload)) {
      if (!inputs.some((s) => s.name === k)) {
        throw new InferInputError('unknownInput', { input: k, inputs: names }, `msg.payload names an input "${k}" the model does not have (its inputs: ${names})`);
      }
    }
    return { feeds, rows: Math.max(rows, 1), batched };
  }
  if (inputs.length > 1) {
    throw new InferInputError('needObject', { inputs: names }, `the model has ${inputs.length} inputs (${names}): expected msg.payload to be an object keyed by input name`);
  }
  const t = toTensor(payload, inputs[0], hint);
  return { feeds: { [inputs[0].name]: t.tensor }, rows: t.rows, batched: t.batched };
}

/** Stacks the feeds of several messages along the batch dimension (all inputs batchable). */
export function concatFeeds(parts: PreparedInput[]): Feeds {
  if (parts.length === 1) return parts[0].feeds;
  const out: Feeds = {};
  for (const name of Object.keys(parts[0].feeds)) {
    const first = parts[0].feeds[name];
    let total = 0;
    let rows = 0;
    for (const p of parts) {
      total += p.feeds[name].data.length;
      rows += p.feeds[name].dims[0];
    }
    const data = allocate(first.type, total);
    let o = 0;
    for (const p of parts) {
      const d = p.feeds[name].data;
      (data as Float32Array).set(d as Float32Array, o);
      o += d.length;
    }
    out[name] = { type: first.type, dims: [rows, ...first.dims.slice(1)], data };
  }
  return out;
}

/**
 * Splits the outputs of a stacked run back per message (`rows` per message, in order). An
 * output whose first dimension is not the total row count goes whole to every message.
 */
export function splitOutputs(outputs: Feeds, rows: number[]): Feeds[] {
  if (rows.length === 1) return [outputs];
  const total = rows.reduce((a, b) => a + b, 0);
  const res: Feeds[] = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims.length === 0 || t.dims[0] !== total) {
      for (const r of res) r[name] = t;
      continue;
    }
    const per = total === 0 ? 0 : t.data.length / total;
    let r0 = 0;
    rows.forEach((n, i) => {
      res[i][name] = { type: t.type, dims: [n, ...t.dims.slice(1)], data: t.data.subarray(r0 * per, (r0 + n) * per) as TypedData };
      r0 += n;
    });
  }
  return res;
}

function toNumbers(d: TypedData): number[] {
  const out = new Array<number>(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  return out;
}

/** The raw outputs as plain number arrays (row-major), keyed by output name. */
export function plainOutputs(outputs: Feeds): Record<string, number[]> {
  const o: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(outputs)) o[name] = toNumbers(t.data);
  return o;
}

/** The dims of each output, keyed by output name. */
export function outputShapes(outputs: Feeds): Record<string, number[]> {
  const o: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(outputs)) o[name] = t.dims;
  return o;
}

export type OutputForm = 'score' | 'label' | 'vector';

export interface FriendlyOptions {
  /** Class names in output order; for a single probability: [negative, positive]. */
  classes?: string[];
  /** Threshold for a single probability (label form); default 0.5. */
  threshold?: number;
  /** The output to use (default: the first in the model's order). */
  output?: string;
}

/**
 * The friendly form of the main output: per row a score (its first value), a label (argmax over
 * the classes, or threshold of a single probability) or the whole vector. A single-row message
 * gets the value itself, a batch an array with one value per row.
 */
export function friendly(outputs: Feeds, order: string[], form: OutputForm, opts: FriendlyOptions, batched: boolean): unknown {
  const name = opts.output && outputs[opts.output] ? opts.output : order.find((n) => outputs[n]) ?? Object.keys(outputs)[0];
  const t = name === undefined ? undefined : outputs[name];
  if (!t) return undefined;
  const rows = t.dims.length >= 2 ? t.dims[0] : 1;
  const per = rows > 0 ? t.data.length / rows : 0;
  const threshold = opts.threshold ?? 0.5;
  const classes = opts.classes;
  const row = (r: number): unknown => {
    const o = r * per;
    switch (form) {
      case 'vector':
        return toNumbers(t.data.subarray(o, o + per) as TypedData);
      case 'label': {
        if (per === 1) {
          const positive = Number(t.data[o]) >= threshold;
          if (classes && classes.length >= 2) return positive ? classes[1] : classes[0];
          return positive ? 1 : 0;
        }
        let best = 0;
        for (let i = 1; i < per; i++) if (Number(t.data[o + i]) > Number(t.data[o + best])) best = i;
        return classes && classes[best] !== undefined ? classes[best] : best;
      }
      default:
        return Number(t.data[o]);
    }
  };
  if (!batched && rows <= 1) return row(0);
  const out = new Array(rows);
  for (let r = 0; r < rows; r++) out[r] = row(r);
  return out;
}
