/**
 * Test and benchmark models for `onnx infer`, written with the package's own ONNX writer:
 * an MLP of any layer sizes (Gemm + Relu, optional Sigmoid head) with seeded weights, and
 * helpers to write them to files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { mulberry32 } from '../../nodes/lib/random';
import { encodeModel, type OnnxNode, type OnnxTensor } from '../../nodes/lib/onnx/proto';
import { toMetadataProps, type ModelMetadata } from '../../nodes/lib/model-metadata';


export interface MlpOptions {
  /** Layer sizes, input first: [24, 64, 32, 1]. */
  sizes: number[];
  seed?: number;
  /** 'sigmoid' adds a Sigmoid on the last layer (a probability), 'softmax' a Softmax. */
  head?: 'linear' | 'sigmoid' | 'softmax';
  /** A constant added to the output (makes two models distinguishable). */
  offset?: number;
  inputName?: string;
  outputName?: string;
  /** Fixed batch dimension instead of the symbolic "batch". */
  batch?: number | string;
  metadata?: Partial<ModelMetadata>;
}

export function mlpModel(o: MlpOptions): Uint8Array {
  const rand = mulberry32(o.seed ?? 1);
  const input = o.inputName ?? 'x';
  const output = o.outputName ?? 'y';
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  let h = input;
  const L = o.sizes.length - 1;
  for (let l = 0; l < L; l++) {
    const n = o.sizes[l];
    const m = o.sizes[l + 1];
    const w = new Float32Array(n * m);
    const scale = Math.sqrt(2 / n);
    for (let i = 0; i < w.length; i++) w[i] = (rand() * 2 - 1) * scale;
    const b = new Float32Array(m);
    for (let i = 0; i < m; i++) b[i] = (rand() * 2 - 1) * 0.1 + (l === L - 1 ? (o.offset ?? 0) : 0);
    initializers.push({ name: `w${l}`, dims: [n, m], data: w }, { name: `b${l}`, dims: [m], data: b });
    const last = l === L - 1;
    const head = o.head ?? 'linear';
    const gemmOut = last && head === 'linear' ? output : `h${l}`;
    nodes.push({ opType: 'Gemm', inputs: [h, `w${l}`, `b${l}`], outputs: [gemmOut] });
    h = gemmOut;
    if (!last) {
      nodes.push({ opType: 'Relu', inputs: [h], outputs: [`r${l}`] });
      h = `r${l}`;
    } else if (head !== 'linear') {
      nodes.push({ opType: head === 'sigmoid' ? 'Sigmoid' : 'Softmax', inputs: [h], outputs: [output], attributes: head === 'softmax' ? { axis: { int: -1 } } : undefined });
    }
  }
  const batch = o.batch ?? 'batch';
  const meta = o.metadata
    ? toMetadataProps({ name: 'mlp', version: '1', kind: 'regressor', features: Array.from({ length: o.sizes[0] }, (_, i) => `f${i}`), ...o.metadata } as ModelMetadata)
    : undefined;
  return encodeModel({
    graph: {
      name: 'mlp',
      nodes,
      initializers,
      inputs: [{ name: input, elemType: 'float32', shape: [batch, o.sizes[0]] }],
      outputs: [{ name: output, elemType: 'float32', shape: [batch, o.sizes[L]] }],
    },
    metadata: meta,
  });
}

export function writeModel(dir: string, name: string, bytes: Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/**
 * y = sum(x) + offset for x of shape [batch, k]: outputs say exactly which model scored a row.
 * `padFloats` adds an unused initializer of that many floats (a bigger file to load).
 */
export function sumModel(offset: number, k = 24, opts: { padFloats?: number; name?: string; version?: string; output?: ModelMetadata['output'] } = {}): Uint8Array {
  const initializers: OnnxTensor[] = [
    { name: 'w', dims: [k, 1], data: new Float32Array(k).fill(1) },
    { name: 'b', dims: [1], data: Float32Array.of(offset) },
  ];
  const nodes: OnnxNode[] = [{ opType: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'] }];
  if (opts.padFloats) {
    // Used, so that the optimiser cannot drop it: y2 = x @ pad (ignored by the tests).
    const cols = Math.max(1, Math.floor(opts.padFloats / k));
    const pad = new Float32Array(k * cols);
    for (let i = 0; i < pad.length; i++) pad[i] = ((i * 7919) % 1000) / 1e6;
    initializers.push({ name: 'pad', dims: [k, cols], data: pad });
    nodes.push({ opType: 'MatMul', inputs: ['x', 'pad'], outputs: ['z'] });
  }
  return encodeModel({
    graph: {
      name: 'sum',
      nodes,
      initializers,
      inputs: [{ name: 'x', elemType: 'float32', shape: ['batch', k] }],
      outputs: [{ name: 'y', elemType: 'float32', shape: ['batch', 1] }, ...(opts.padFloats ? [{ name: 'z', elemType: 'float32' as const, shape: ['batch', Math.max(1, Math.floor(opts.padFloats / k))] }] : [])],
    },
    metadata: toMetadataProps({ name: opts.name ?? 'sum', version: opts.version ?? String(offset), kind: 'regressor', features: Array.from({ length: k }, (_, i) => `f${i}`), output: opts.output }),
  });
}

/** Two inputs a [batch, 2] and b [batch, 3]: y = sum(a) + 10 * sum(b). */
export function twoInputModel(): Uint8Array {
  return encodeModel({
    graph: {
      name: 'two',
      nodes: [
        { opType: 'MatMul', inputs: ['a', 'wa'], outputs: ['ya'] },
        { opType: 'MatMul', inputs: ['b', 'wb'], outputs: ['yb'] },
        { opType: 'Add', inputs: ['ya', 'yb'], outputs: ['y'] },
      ],
      initializers: [
        { name: 'wa', dims: [2, 1], data: new Float32Array(2).fill(1) },
        { name: 'wb', dims: [3, 1], data: new Float32Array(3).fill(10) },
      ],
      inputs: [
        { name: 'a', elemType: 'float32', shape: ['batch', 2] },
        { name: 'b', elemType: 'float32', shape: ['batch', 3] },
      ],
      outputs: [{ name: 'y', elemType: 'float32', shape: ['batch', 1] }],
    },
  });
}

/** A large model: `layers` MatMul layers of width x width (4 * width^2 bytes each); a run takes milliseconds. */
export function largeModel(width = 1024, layers = 8, k = 24): Uint8Array {
  return mlpModel({ sizes: [k, ...Array.from({ length: layers }, () => width), 1], seed: 7 });
}
