/** Input mapping and output forms of `onnx infer` (nodes/lib/onnx/io.ts), without onnxruntime. */
import { expect } from 'chai';
import {
  canBatch, concatFeeds, friendly, InferInputError, outputShapes, plainOutputs, prepareInputs, shapeText, splitOutputs, toTensor,
  type Feeds, type TensorSpec,
} from '../../nodes/lib/onnx/io';

const X: TensorSpec = { name: 'x', type: 'float32', shape: ['batch', 3] };
const row = [1, 2, 3];

function err(f: () => unknown): InferInputError {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(InferInputError);
    return e as InferInputError;
  }
  throw new Error('expected an InferInputError');
}

describe('onnx io: inputs', () => {
  it('a number array is one row', () => {
    const p = prepareInputs(row, [X]);
    expect(p.rows).to.equal(1);
    expect(p.batched).to.equal(false);
    expect(p.feeds.x.dims).to.deep.equal([1, 3]);
    expect(p.feeds.x.data).to.be.instanceOf(Float32Array);
    expect([...p.feeds.x.data]).to.deep.equal(row);
  });

  it('typed arrays are copied (the message keeps its payload) and converted to the input type', () => {
    const src = Float64Array.from(row);
    const p = prepareInputs(src, [X]);
    expect(p.feeds.x.data).to.be.instanceOf(Float32Array);
    expect(p.feeds.x.data.buffer).to.not.equal(src.buffer);
    const f32 = Float32Array.from(row);
    expect(prepareInputs(f32, [X]).feeds.x.data.buffer).to.not.equal(f32.buffer);
    const p64 = prepareInputs(row, [{ ...X, type: 'float64' }]);
    expect(p64.feeds.x.data).to.be.instanceOf(Float64Array);
    const pi = prepareInputs(row, [{ ...X, type: 'int64' }]);
    expect([...(pi.feeds.x.data as BigInt64Array)]).to.deep.equal([1n, 2n, 3n]);
  });

  it('an array of rows (arrays or typed arrays) is a batch', () => {
    const p = prepareInputs([row, Float32Array.from([4, 5, 6])], [X]);
    expect(p.rows).to.equal(2);
    expect(p.batched).to.equal(true);
    expect(p.feeds.x.dims).to.deep.equal([2, 3]);
    expect([...p.feeds.x.data]).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it('a packed Float64Array with msg.features.shape [rows, k] is a batch', () => {
    const p = prepareInputs(Float64Array.from([1, 2, 3, 4, 5, 6]), [X], { shape: [2, 3] });
    expect(p.rows).to.equal(2);
    expect(p.batched).to.equal(true);
    expect(p.feeds.x.dims).to.deep.equal([2, 3]);
    // A single packed row stays a batch (an array of one value comes out).
    expect(prepareInputs(Float64Array.from(row), [X], { shape: [1, 3] }).batched).to.equal(true);
  });

  it('an object keyed by input name feeds several inputs', () => {
    const A: TensorSpec = { name: 'a', type: 'float32', shape: ['batch', 2] };
    const B: TensorSpec = { name: 'b', type: 'int32', shape: ['batch', 1] };
    const p = prepareInputs({ a: [[1, 2], [3, 4]], b: [[5], [6]] }, [A, B]);
    expect(p.rows).to.equal(2);
    expect(p.feeds.b.data).to.be.instanceOf(Int32Array);
    expect(err(() => prepareInputs({ a: [1, 2] }, [A, B])).message).to.equal('expected msg.payload to hold input "b" (the model\'s inputs: "a", "b")');
    expect(err(() => prepareInputs({ a: [1, 2], b: [1], c: 1 }, [A, B])).code).to.equal('unknownInput');
    expect(err(() => prepareInputs([1, 2], [A, B])).message).to.contain('expected msg.payload to be an object keyed by input name');
    expect(err(() => prepareInputs({ a: [[1, 2], [3, 4]], b: [[5]] }, [A, B])).code).to.equal('rowMismatch');
  });

  it('names the expected shape when the values do not fit', () => {
    expect(err(() => prepareInputs([1, 2], [X])).message).to.equal('expected input "x" of shape [batch, 3] (float32), got 2 values');
    expect(err(() => prepareInputs([row, [1, 2, 3, 4]], [X])).message).to.equal('expected input "x" of shape [batch, 3] (float32), got a row of 4 values (row 1)');
    expect(err(() => prepareInputs('1,2,3', [X])).message).to.equal('expected input "x" of shape [batch, 3] (float32), got a string');
    expect(err(() => prepareInputs(null, [X])).message).to.contain('got null');
    expect(err(() => prepareInputs([], [X])).message).to.contain('got 0 values');
    expect(err(() => prepareInputs(new Float64Array(8), [X], { shape: [2, 4] })).message).to.contain('got rows of 4 values (msg.features.shape [2, 4])');
    const big: TensorSpec = { name: 'input', type: 'float32', shape: ['batch', 24] };
    expect(err(() => prepareInputs(new Array(23).fill(0), [big])).message).to.equal('expected input "input" of shape [batch, 24] (float32), got 23 values');
  });

  it('rejects values that are not finite numbers, naming index and row', () => {
    const e = err(() => prepareInputs([row, [1, 'x', 3]], [X]));
    expect(e.code).to.equal('badValue');
    expect(e.message).to.equal('expected input "x" of shape [batch, 3] (float32) to hold finite numbers, got "x" at index 1 (row 1)');
    expect(err(() => prepareInputs([1, NaN, 3], [X])).message).to.contain('got NaN at index 1');
    expect(err(() => prepareInputs(Float64Array.from([1, Infinity, 3]), [X])).message).to.contain('got Infinity');
    expect(err(() => prepareInputs([1, null, 3], [X])).message).to.contain('got null');
    expect(err(() => prepareInputs([1, 2.5, 3], [{ ...X, type: 'int64' }])).message).to.contain('to hold integers, got 2.5');
    expect(err(() => prepareInputs([1, 2, 3], [{ ...X, type: 'string' }])).code).to.equal('type');
  });

  it('fixed shapes, rank-1 inputs, free inner dimensions and nested rows', () => {
    const fixed: TensorSpec = { name: 'x', type: 'float32', shape: [1, 3] };
    expect(prepareInputs(row, [fixed]).feeds.x.dims).to.deep.equal([1, 3]);
    expect(err(() => prepareInputs([row, row], [fixed])).message).to.equal('expected input "x" of shape [1, 3] (float32), got 2 rows');
    const two: TensorSpec = { name: 'x', type: 'float32', shape: [2, 3] };
    const p2 = prepareInputs([1, 2, 3, 4, 5, 6], [two]);
    expect(p2.rows).to.equal(2);
    expect(p2.batched).to.equal(true);
    const vec: TensorSpec = { name: 'v', type: 'float32', shape: ['n'] };
    expect(prepareInputs([1, 2, 3, 4], [vec]).feeds.v.dims).to.deep.equal([4]);
    const free: TensorSpec = { name: 'x', type: 'float32', shape: ['batch', 'len'] };
    expect(prepareInputs([1, 2, 3, 4], [free]).feeds.x.dims).to.deep.equal([1, 4]);
    const img: TensorSpec = { name: 'x', type: 'float32', shape: ['batch', 2, 2] };
    const pi = prepareInputs([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], [img]);
    expect(pi.feeds.x.dims).to.deep.equal([2, 2, 2]);
    expect([...pi.feeds.x.data]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    const scalar: TensorSpec = { name: 's', type: 'float32', shape: ['batch', 1] };
    expect(prepareInputs(5, [scalar]).feeds.s.dims).to.deep.equal([1, 1]);
  });

  it('canBatch needs a free first dimension on every input', () => {
    expect(canBatch([X])).to.equal(true);
    expect(canBatch([{ ...X, shape: [1, 3] }])).to.equal(false);
    expect(canBatch([{ ...X, shape: ['n'] }])).to.equal(false);
    expect(canBatch([X, { ...X, name: 'y', shape: [-1, 2] }])).to.equal(true);
    expect(shapeText(['batch', 24, -1])).to.equal('[batch, 24, ?]');
  });

  it('toTensor reports rows and batched for each form', () => {
    expect(toTensor([row, row, row], X)).to.include({ rows: 3, batched: true });
    expect(toTensor(row, X)).to.include({ rows: 1, batched: false });
  });
});

describe('onnx io: micro-batches', () => {
  it('concatenates feeds along the batch dimension and splits outputs back in order', () => {
    const parts = [prepareInputs(row, [X]), prepareInputs([[4, 5, 6], [7, 8, 9]], [X]), prepareInputs([0, 0, 1], [X])];
    const feeds = concatFeeds(parts);
    expect(feeds.x.dims).to.deep.equal([4, 3]);
    expect([...feeds.x.data]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 1]);
    const outputs: Feeds = {
      y: { type: 'float32', dims: [4, 2], data: Float32Array.from([1, 1, 2, 2, 3, 3, 4, 4]) },
      total: { type: 'float32', dims: [1], data: Float32Array.of(42) },
    };
    const split = splitOutputs(outputs, [1, 2, 1]);
    expect(split.map((s) => [...s.y.data])).to.deep.equal([[1, 1], [2, 2, 3, 3], [4, 4]]);
    expect(split.map((s) => s.y.dims)).to.deep.equal([[1, 2], [2, 2], [1, 2]]);
    expect(split.map((s) => [...s.total.data])).to.deep.equal([[42], [42], [42]]);
    expect(splitOutputs(outputs, [4])[0]).to.equal(outputs);
  });
});

describe('onnx io: outputs', () => {
  const one: Feeds = { y: { type: 'float32', dims: [1, 1], data: Float32Array.of(0.75) } };
  const batch: Feeds = { y: { type: 'float32', dims: [3, 1], data: Float32Array.from([0.2, 0.5, 0.9]) } };
  const probs: Feeds = {
    p: { type: 'float32', dims: [2, 3], data: Float32Array.from([0.1, 0.7, 0.2, 0.6, 0.3, 0.1]) },
    extra: { type: 'int64', dims: [2], data: BigInt64Array.from([1n, 2n]) },
  };

  it('score: first value per row, a number for one row and an array for a batch', () => {
    expect(friendly(one, ['y'], 'score', {}, false)).to.equal(0.75);
    expect(friendly(one, ['y'], 'score', {}, true)).to.deep.equal([0.75]);
    expect((friendly(batch, ['y'], 'score', {}, true) as number[]).map((v) => +v.toFixed(3))).to.deep.equal([0.2, 0.5, 0.9]);
    expect(friendly(probs, ['p', 'extra'], 'score', {}, true)).to.have.length(2);
  });

  it('label: threshold of a single probability, argmax over classes, with class names', () => {
    expect(friendly(batch, ['y'], 'label', { classes: ['healthy', 'faulty'] }, true)).to.deep.equal(['healthy', 'faulty', 'faulty']);
    expect(friendly(batch, ['y'], 'label', { classes: ['healthy', 'faulty'], threshold: 0.8 }, true)).to.deep.equal(['healthy', 'healthy', 'faulty']);
    expect(friendly(batch, ['y'], 'label', {}, true)).to.deep.equal([0, 1, 1]);
    expect(friendly(probs, ['p'], 'label', { classes: ['ok', 'warn', 'fault'] }, true)).to.deep.equal(['warn', 'ok']);
    expect(friendly(probs, ['p'], 'label', {}, true)).to.deep.equal([1, 0]);
  });

  it('vector: the row of the first output', () => {
    const v = friendly(probs, ['p'], 'vector', {}, true) as number[][];
    expect(v.map((r) => r.map((x) => +x.toFixed(2)))).to.deep.equal([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]);
  });

  it('raw outputs are plain number arrays (int64 as numbers) with their dims', () => {
    const plain = plainOutputs(probs);
    expect(plain.extra).to.deep.equal([1, 2]);
    expect(Array.isArray(plain.p)).to.equal(true);
    expect(plain.p).to.have.length(6);
    expect(outputShapes(probs)).to.deep.equal({ p: [2, 3], extra: [2] });
  });
});
