/**
 * onnx infer inside Node-RED (node-red-node-test-helper) with real onnxruntime-node sessions:
 * input forms, shape errors, output forms, hot swap under load, a corrupt model, micro-batching,
 * close during inference, the inspect endpoint. The memory of 100 model swaps is measured in
 * bench/onnx-swaps.bench.ts (npm run bench:swaps).
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { helper, sleep, tmpDir, waitFor, stopHelper } from '../support/red';
import { largeModel, mlpModel, sumModel, twoInputModel, writeModel } from '../support/onnx-models';
import inferNode = require('../../nodes/mlops-onnx-infer');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

type AnyNode = {
  receive(msg: unknown): void;
  on(ev: string, cb: (x: any) => void): void;
  status: { args: unknown[][]; lastCall?: { args: any[] } };
  error: { args: any[][]; callCount: number };
  send: { callCount: number };
  log: { args: any[][] };
};

const X = Array.from({ length: 24 }, (_, i) => (i + 1) / 10); // sum = 30
const SUM = X.reduce((a, b) => a + b, 0);
const sha = (p: string) => 'sha256:' + createHash('sha256').update(fs.readFileSync(p)).digest('hex');
/** A row whose sum encodes i: x[0] = i, the rest 0. */
const rowFor = (i: number) => {
  const r = new Array(24).fill(0);
  r[0] = i;
  return r;
};

describe('mlops-onnx-infer node (real onnxruntime sessions)', function () {
  this.timeout(120000);
  let dir: string;
  let modelA: string;
  let modelB: string;
  let corrupt: string;
  let mlp: string;
  let classifier: string;
  let binary: string;
  let two: string;

  before(() => {
    dir = tmpDir('onnx-infer');
    modelA = writeModel(dir, 'a.onnx', sumModel(1000, 24, { name: 'sum', version: 'A' }));
    modelB = writeModel(dir, 'b.onnx', sumModel(2000, 24, { name: 'sum', version: 'B' }));
    corrupt = path.join(dir, 'corrupt.onnx');
    const good = fs.readFileSync(modelA);
    fs.writeFileSync(corrupt, Buffer.concat([good.subarray(0, 40), Buffer.from('garbage, not protobuf \xff\xff\xff\xff')]));
    mlp = writeModel(dir, 'mlp.onnx', mlpModel({ sizes: [24, 64, 32, 1], metadata: { name: 'mlp', version: '1.0' } }));
    classifier = writeModel(dir, 'cls.onnx', mlpModel({ sizes: [24, 16, 3], head: 'softmax', metadata: { name: 'cls', version: '2', kind: 'classifier', classes: ['ok', 'warn', 'fault'] } }));
    binary = writeModel(dir, 'bin.onnx', mlpModel({ sizes: [24, 8, 1], head: 'sigmoid', metadata: { name: 'bin', version: '1', kind: 'classifier', classes: ['healthy', 'faulty'], output: { name: 'fault probability', threshold: 0.5 } } }));
    two = writeModel(dir, 'two.onnx', twoInputModel());
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  beforeEach((done) => {
    helper.startServer(done);
  });
  afterEach(async () => {
    await stopHelper();
  });

  async function load(props: Record<string, unknown>, waitModel = true) {
    const flow: any[] = [
      { id: 'n', type: 'mlops-onnx-infer', wires: [['out']], ...props },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    await helper.load([inferNode, catchNode], flow);
    const n = helper.getNode('n') as unknown as AnyNode;
    const got: any[] = [];
    const errs: any[] = [];
    (helper.getNode('out') as unknown as AnyNode).on('input', (m) => got.push(m));
    (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => {
      m.error.message = String(m.error.message).replace(/^Error: /, '');
      errs.push(m);
    });
    if (waitModel && props.modelPath) {
      await waitFor('model loaded', () => n.log.args.find((a) => String(a[0]).includes('log.loaded') || String(a[0]).includes('loaded')));
    }
    return { n, got, errs };
  }

  it('loads the model at deploy and scores a number array: score, raw outputs, inference', async () => {
    const { n, got } = await load({ modelPath: modelA });
    n.receive({ payload: X, topic: 't1' });
    await waitFor('one output', () => got[0]);
    const m = got[0];
    expect(m.payload).to.be.closeTo(SUM + 1000, 1e-3);
    expect(m.outputs.y).to.have.length(1);
    expect(m.outputs.y[0]).to.be.closeTo(SUM + 1000, 1e-3);
    expect(m.topic).to.equal('t1');
    expect(m.inference.model).to.deep.equal({ name: 'sum', version: 'A', digest: sha(modelA) });
    expect(m.inference.latencyMs).to.be.a('number').and.to.be.greaterThan(0);
    expect(m.inference.batchSize).to.be.at.least(1);
    await waitFor('green status', () => (n.status.args.some((a: any) => a[0].fill === 'green') ? true : undefined));
  });

  for (const direct of [true, false]) {
    it(`accepts every input form (${direct ? 'direct path allowed' : 'worker only'})`, async () => {
      const { got, n, errs } = await load({ modelPath: modelA, direct });
      const rows = [rowFor(1), rowFor(2), rowFor(3)];
      const packed = new Float64Array(3 * 24);
      rows.forEach((r, i) => packed.set(r, i * 24));
      n.receive({ payload: Float32Array.from(X), form: 'f32' });
      n.receive({ payload: Float64Array.from(X), form: 'f64' });
      n.receive({ payload: rows, form: 'rows' });
      n.receive({ payload: rows.map((r) => Float32Array.from(r)), form: 'typedRows' });
      n.receive({ payload: packed, features: { names: [], shape: [3, 24] }, form: 'packed' });
      n.receive({ payload: { x: X }, form: 'object' });
      n.receive({ payload: { x: rows }, form: 'objectRows' });
      await waitFor('7 outputs', () => (got.length === 7 ? true : undefined));
      expect(errs).to.have.length(0);
      const by = (f: string) => got.find((m) => m.form === f);
      for (const f of ['f32', 'f64', 'object']) expect(by(f).payload).to.be.closeTo(SUM + 1000, 1e-3);
      for (const f of ['rows', 'typedRows', 'packed', 'objectRows']) {
        expect(by(f).payload, f).to.deep.equal([1001, 1002, 1003]);
        expect(by(f).outputs.y).to.deep.equal([1001, 1002, 1003]);
        expect(by(f).inference.rows).to.equal(3);
      }
      // In arrival order.
      expect(got.map((m) => m.form)).to.deep.equal(['f32', 'f64', 'rows', 'typedRows', 'packed', 'object', 'objectRows']);
    });
  }

  it('feeds a model with two inputs from an object keyed by input name', async () => {
    const { got, n, errs } = await load({ modelPath: two });
    n.receive({ payload: { a: [1, 2], b: [1, 1, 1] } });
    n.receive({ payload: { a: [[1, 2], [0, 0]], b: [[0, 0, 0], [1, 2, 3]] } });
    n.receive({ payload: [1, 2, 3, 4, 5] });
    n.receive({ payload: { a: [1, 2] } });
    await waitFor('2 outputs, 2 errors', () => (got.length === 2 && errs.length === 2 ? true : undefined));
    expect(got[0].payload).to.equal(33);
    expect(got[1].payload).to.deep.equal([3, 60]);
    expect(errs[0].error.message).to.contain('object keyed by input name').and.to.contain('"a", "b"');
    expect(errs[1].error.message).to.contain('expected msg.payload to hold input "b"');
  });

  it('rejects wrong shapes and values with the expected shape, and keeps serving', async () => {
    const { got, n, errs } = await load({ modelPath: modelA });
    n.receive({ payload: X.slice(0, 23) });
    n.receive({ payload: [X, X.slice(0, 20)] });
    n.receive({ payload: [...X.slice(0, 23), 'a'] });
    n.receive({ payload: 'hello' });
    n.receive({ payload: new Float64Array(48), features: { shape: [2, 24] } });
    n.receive({ payload: new Float64Array(46), features: { shape: [2, 23] } });
    n.receive({ payload: [...X.slice(0, 23), NaN] });
    await waitFor('6 errors', () => (errs.length === 6 ? true : undefined));
    const texts = errs.map((e) => e.error.message);
    expect(texts[0]).to.equal('expected input "x" of shape [batch, 24] (float32), got 23 values');
    expect(texts[1]).to.equal('expected input "x" of shape [batch, 24] (float32), got a row of 20 values (row 1)');
    expect(texts[2]).to.contain('to hold finite numbers, got "a" at index 23');
    expect(texts[3]).to.equal('expected input "x" of shape [batch, 24] (float32), got a string');
    expect(texts[4]).to.contain('got rows of 23 values (msg.features.shape [2, 23])');
    expect(texts[5]).to.contain('got NaN at index 23');
    expect(got).to.have.length(1);
    expect(got[0].payload).to.deep.equal([1000, 1000]);
    n.receive({ payload: X });
    await waitFor('still serving', () => got[1]);
  });

  it('label form: argmax with class names from the metadata; threshold for a single probability', async () => {
    const { got, n } = await load({ modelPath: classifier, output: 'label' });
    n.receive({ payload: X });
    n.receive({ payload: [X, rowFor(-5), rowFor(5)] });
    await waitFor('2 outputs', () => (got.length === 2 ? true : undefined));
    const probs: number[] = got[0].outputs.y;
    expect(probs).to.have.length(3);
    expect(got[0].payload).to.equal(['ok', 'warn', 'fault'][probs.indexOf(Math.max(...probs))]);
    expect(got[1].payload).to.have.length(3);
    got[1].payload.forEach((label: string, r: number) => {
      const p = got[1].outputs.y.slice(r * 3, r * 3 + 3);
      expect(label).to.equal(['ok', 'warn', 'fault'][p.indexOf(Math.max(...p))]);
    });
    await helper.unload();

    for (const [threshold, expectFn] of [['', (p: number) => (p >= 0.5 ? 'faulty' : 'healthy')], ['0.999', (p: number) => (p >= 0.999 ? 'faulty' : 'healthy')]] as const) {
      const b = await load({ modelPath: binary, output: 'label', threshold });
      b.n.receive({ payload: [X, rowFor(3), rowFor(-3)] });
      await waitFor('output', () => b.got[0]);
      const ps: number[] = b.got[0].outputs.y;
      expect(b.got[0].payload).to.deep.equal(ps.map(expectFn));
      await helper.unload();
    }
  });

  it('a regressor\'s score is clamped to its training target range (metadata output.range) and the prediction says so', async () => {
    const rul = writeModel(dir, 'rul.onnx', sumModel(0, 24, { name: 'rul', output: { name: 'RUL (cycles)', range: [0, 125] } }));
    const { got, n, errs } = await load({ modelPath: rul });
    n.receive({ payload: [rowFor(-244), rowFor(50), rowFor(408), rowFor(125)], form: 'batch' });
    n.receive({ payload: rowFor(60), form: 'inside' });
    n.receive({ payload: rowFor(408), form: 'above' });
    await waitFor('3 outputs', () => (got.length === 3 ? true : undefined));
    expect(errs).to.have.length(0);
    const [batch, inside, above] = got;
    expect(batch.payload).to.deep.equal([0, 50, 125, 125]);
    expect(batch.outputs.y).to.deep.equal([-244, 50, 408, 125]); // the raw values stay
    expect(batch.inference.clamped).to.deep.equal({ range: [0, 125], below: 1, above: 1 });
    expect(inside.payload).to.equal(60);
    expect(inside.inference).to.not.have.property('clamped');
    expect(above.payload).to.equal(125);
    expect(above.inference.clamped).to.deep.equal({ range: [0, 125], below: 0, above: 1 });
  });

  it('the vector form is the raw output, not clamped', async () => {
    const rul = writeModel(dir, 'rul.onnx', sumModel(0, 24, { name: 'rul', output: { name: 'RUL (cycles)', range: [0, 125] } }));
    const { got, n } = await load({ modelPath: rul, output: 'vector' });
    n.receive({ payload: rowFor(408) });
    await waitFor('vector output', () => got[0]);
    expect(got[0].payload).to.deep.equal([408]);
    expect(got[0].inference).to.not.have.property('clamped');
  });

  it('vector form: the first output per row', async () => {
    const { got, n } = await load({ modelPath: classifier, output: 'vector' });
    n.receive({ payload: X });
    n.receive({ payload: [X, X] });
    await waitFor('2 outputs', () => (got.length === 2 ? true : undefined));
    expect(got[0].payload).to.have.length(3);
    expect(got[0].payload.reduce((a: number, b: number) => a + b, 0)).to.be.closeTo(1, 1e-5);
    expect(got[1].payload).to.deep.equal([got[0].payload, got[0].payload]);
  });

  it('without a model: red status and an error saying what is expected', async () => {
    const { n, errs } = await load({ modelPath: '' });
    n.receive({ payload: X });
    await waitFor('error', () => errs[0]);
    expect(errs[0].error.message).to.contain('no model is loaded');
    expect((n.status.lastCall as any).args[0]).to.include({ fill: 'red' });
  });

  it('refuses features named otherwise than the model\'s (missing and extra named, or another order), and scores the right ones', async () => {
    const names = Array.from({ length: 24 }, (_, i) => `f${i}`);
    const named = writeModel(dir, 'named.onnx', mlpModel({ sizes: [24, 4, 1], metadata: { name: 'named', version: '3', features: names } }));
    const { n, got, errs } = await load({ modelPath: named });
    n.receive({ payload: X, features: { names } });
    n.receive({ payload: X, features: { names: [...names.slice(0, 22), 'g1', 'g2'] } });
    n.receive({ payload: X, features: { names: [names[1], names[0], ...names.slice(2)] } });
    await waitFor('two errors', () => (errs.length === 2 ? true : undefined));
    await waitFor('one output', () => got[0]);
    expect(errs[0].error.message).to.equal("model named 3 takes other features than the flow sends: missing f22, f23; extra g1, g2. Expected msg.features.names to be the model's features");
    expect(errs[1].error.message).to.match(/in another order/);
    expect(got).to.have.length(1);
  });

  it('a corrupt model at deploy: error and red status; a model message then loads a good one', async () => {
    const { n, errs, got } = await load({ modelPath: corrupt }, false);
    await waitFor('load error', () => n.error.args.find((a) => /not a valid ONNX model|onnxruntime cannot load/.test(String(a[0]))));
    await waitFor('red status', () => ((n.status.lastCall as any)?.args[0].fill === 'red' ? true : undefined));
    n.receive({ payload: X });
    await waitFor('no model error', () => errs[0]);
    expect(errs[0].error.message).to.contain('no model is loaded');
    n.receive({ model: { name: 'sum', version: 'A', path: modelA, format: 'onnx', digest: sha(modelA), metadata: {}, source: 'test' } });
    await waitFor('green', () => ((n.status.lastCall as any)?.args[0].fill === 'green' ? true : undefined));
    n.receive({ payload: X });
    await waitFor('output', () => got[0]);
    expect(got[0].payload).to.be.closeTo(SUM + 1000, 1e-3);
  });

  it('a corrupt or mismatching model message leaves the old model serving and reports why', async () => {
    const { n, errs, got } = await load({ modelPath: modelA });
    n.receive({ payload: rowFor(1), seq: 0 });
    n.receive({ model: { name: 'bad', version: '9', path: corrupt, format: 'onnx', digest: '', metadata: {}, source: 'test' } });
    n.receive({ payload: rowFor(2), seq: 1 });
    n.receive({ model: { name: 'sum', version: 'B', path: modelB, format: 'onnx', digest: 'sha256:' + '0'.repeat(64), metadata: {}, source: 'test' } });
    n.receive({ model: { name: 'x', version: '1', path: path.join(dir, 'missing.onnx'), format: 'onnx' } });
    n.receive({ model: { name: 'x', version: '1', path: modelB, format: 'tflite' } });
    await waitFor('4 errors', () => (errs.length === 4 ? true : undefined));
    n.receive({ payload: rowFor(3), seq: 2 });
    await waitFor('3 outputs', () => (got.length === 3 ? true : undefined));
    expect(got.map((m) => m.payload)).to.deep.equal([1001, 1002, 1003]);
    const texts = errs.map((e) => e.error.message).join('\n');
    expect(texts).to.match(/model not swapped, the previous model keeps serving: (not a valid ONNX model|onnxruntime cannot load the model)/);
    expect(texts).to.contain('has digest sha256:');
    expect(texts).to.contain('cannot read the model file');
    expect(texts).to.contain('expected an ONNX model (format "onnx")');
  });

  for (const direct of [true, false]) {
    it(`swaps under load: no message lost or mis-scored, in order, switch point reported (${direct ? 'direct allowed' : 'worker'})`, async () => {
      const { n, got, errs } = await load({ modelPath: modelA, direct });
      const N = 3000;
      const swapAt = 1000;
      let i = 0;
      // A steady stream: 100 messages per tick; the model message arrives in the middle.
      await new Promise<void>((resolve) => {
        const tick = () => {
          for (let k = 0; k < 100 && i < N; k++, i++) {
            if (i === swapAt) n.receive({ model: { name: 'sum', version: 'B', path: modelB, format: 'onnx', digest: sha(modelB), metadata: {}, source: 'test' } });
            n.receive({ payload: rowFor(i), seq: i });
          }
          if (i < N) setImmediate(tick);
          else resolve();
        };
        tick();
      });
      // How many of the stream the old model scores depends on the machine's speed; messages
      // after the new model has loaded must all go to it, so a tail is sent once it has.
      await waitFor('model B loaded', () => n.log.args.find((a) => /sum B/.test(String(a[0]))), 60000);
      const TAIL = 10;
      for (let k = 0; k < TAIL; k++, i++) n.receive({ payload: rowFor(i), seq: i });
      await waitFor(`${N + TAIL} outputs`, () => (got.length === N + TAIL ? true : undefined), 60000);
      expect(errs).to.have.length(0);
      expect(got.map((m) => m.seq)).to.deep.equal(Array.from({ length: N + TAIL }, (_, k) => k));
      const offsets = got.map((m) => m.payload - m.seq);
      for (const o of offsets) expect([1000, 2000]).to.include(o);
      const first = offsets.indexOf(2000);
      expect(first).to.be.greaterThan(swapAt - 1);
      expect(offsets.slice(first).every((o) => o === 2000)).to.equal(true);
      expect(offsets.slice(0, first).every((o) => o === 1000)).to.equal(true);
      expect(got[0].inference.switchedFrom).to.equal(null); // the first message of the deployed model
      const switched = got.filter((m) => m.inference.switchedFrom);
      expect(switched).to.have.length(1);
      expect(switched[0].seq).to.equal(first);
      expect(switched[0].inference.switchedFrom).to.deep.equal({ name: 'sum', version: 'A', digest: sha(modelA) });
      expect(switched[0].inference.model).to.deep.equal({ name: 'sum', version: 'B', digest: sha(modelB) });
      expect(n.log.args.some((a) => String(a[0]).includes('switched'))).to.equal(true);
    });
  }

  it('micro-batching gathers messages into one run and keeps order and per-message results', async () => {
    const { n, got } = await load({ modelPath: modelA, batchSize: 16, batchWaitMs: 30, direct: false });
    for (let i = 0; i < 40; i++) n.receive({ payload: i % 5 === 0 ? [rowFor(i), rowFor(i)] : rowFor(i), seq: i });
    await waitFor('40 outputs', () => (got.length === 40 ? true : undefined));
    expect(got.map((m) => m.seq)).to.deep.equal(Array.from({ length: 40 }, (_, k) => k));
    for (const m of got) {
      if (m.seq % 5 === 0) expect(m.payload).to.deep.equal([1000 + m.seq, 1000 + m.seq]);
      else expect(m.payload).to.equal(1000 + m.seq);
    }
    expect(Math.max(...got.map((m) => m.inference.batchSize))).to.be.greaterThan(10);
    // A lone message does not wait for a full batch: the batch wait sends it alone.
    n.receive({ payload: rowFor(7), seq: 99 });
    await waitFor('lone output', () => got[40]);
    expect(got).to.have.length(41);
    expect(got[40].payload).to.equal(1007);
    expect(got[40].inference.batchSize).to.equal(1);
  });

  it('close during inference answers or fails every message, in order, none left hanging; later ones fail at once', async () => {
    const big = writeModel(dir, 'big-close.onnx', largeModel(1024, 6));
    const { n } = await load({ modelPath: big, direct: false });
    const N = 1000;
    const LATE = 5;
    // About 64k rows of a 6-layer 1024-wide model: more than the close grace period allows here;
    // what is asserted holds however many of them a machine scores in that time.
    const rows = Array.from({ length: 64 }, () => X);
    for (let i = 0; i < N; i++) n.receive({ payload: rows, seq: i });
    await sleep(30);
    // Messages that arrive while the node closes (its input listener stays until the close is
    // done) must fail at once, not wait or vanish.
    let closing = false;
    (n as any).close = function (this: any, removed: boolean) {
      const p = Object.getPrototypeOf(this).close.call(this, removed);
      closing = true;
      for (let j = 0; j < LATE; j++) this.receive({ payload: X, seq: N + j });
      return p;
    };
    // What the node sends and fails: the helper's spies (shared by all nodes) see some of it;
    // it restores them when unload() starts, before the flows stop, so wrappers of our own see
    // the rest (a call may reach both: counted by message).
    const calls: Record<'send' | 'error', any[][]> = { send: [], error: [] };
    const proto = (helper as any)._NodePrototype;
    const spies = { send: n.send as any, error: n.error as any };
    const t0 = Date.now();
    const stopping = helper.unload();
    const original = { send: proto.send, error: proto.error };
    for (const m of ['send', 'error'] as const) {
      proto[m] = function (this: any, ...a: any[]) {
        if (this.id === 'n') calls[m].push(a);
        return original[m].apply(this, a);
      };
    }
    try {
      await stopping;
    } finally {
      Object.assign(proto, original);
    }
    const closeMs = Date.now() - t0;
    await sleep(100);
    for (const m of ['send', 'error'] as const) {
      spies[m].args.forEach((a: any[], k: number) => {
        if (spies[m].thisValues[k]?.id === 'n') calls[m].push(a);
      });
    }
    const answered = [...new Set(calls.send.map((a) => a[0].seq as number))].sort((x, y) => x - y);
    const texts = new Map<number, string>();
    const other: string[] = [];
    for (const a of calls.error) {
      const text = String(a[0]?.message ?? a[0]);
      if (a[1] && typeof a[1].seq === 'number') texts.set(a[1].seq, text);
      else other.push(text);
    }
    const failed = [...texts.keys()].sort((x, y) => x - y).map((seq) => ({ seq, text: texts.get(seq)! }));
    // Node-RED reports a close that does not finish within its close timeout (15 s) on the node
    expect(other).to.deep.equal([]);
    expect(closing, 'the close went through the node').to.equal(true);
    // every message answered or failed, not both; in arrival order: the answered ones first
    const seen = [...answered, ...failed.map((f) => f.seq)].sort((x, y) => x - y);
    expect(seen).to.deep.equal(Array.from({ length: N + LATE }, (_, k) => k));
    expect(answered).to.deep.equal(Array.from({ length: answered.length }, (_, k) => k));
    expect(failed.map((f) => f.seq).filter((q) => q < N)).to.deep.equal(Array.from({ length: N - answered.length }, (_, k) => answered.length + k));
    // what was not scored in the grace period, and what came during the close, says why
    for (const f of failed) expect(f.text, `message ${f.seq}`).to.contain('closed');
    expect(failed.filter((f) => f.seq >= N)).to.have.length(LATE);
    // eslint-disable-next-line no-console
    console.log(`      closed in ${closeMs} ms: ${answered.length} answered, ${failed.length - LATE} failed with done(err) at the end of the grace period, ${LATE} sent during the close failed at once`);
  });

  it('the inspect endpoint shows inputs, outputs and metadata without loading a session', async () => {
    helper.settings({ userDir: dir });
    try {
      await load({ modelPath: '' });
      const res = await helper.request().get('/mlops-onnx-infer/inspect').query({ path: 'mlp.onnx' }).expect(200);
      expect(res.body.inputs).to.deep.equal([{ name: 'x', type: 'float32', shape: ['batch', 24] }]);
      expect(res.body.outputs).to.deep.equal([{ name: 'y', type: 'float32', shape: ['batch', 1] }]);
      expect(res.body.metadata).to.include({ name: 'mlp', version: '1.0', features: 24 });
      expect(res.body.path).to.equal('mlp.onnx');
      // An absolute path inside the user directory is answered with the path relative to it.
      expect((await helper.request().get('/mlops-onnx-infer/inspect').query({ path: mlp }).expect(200)).body.path).to.equal('mlp.onnx');
      const bad = await helper.request().get('/mlops-onnx-infer/inspect').query({ path: 'corrupt.onnx' }).expect(422);
      expect(JSON.stringify(bad.body)).to.not.include(dir);
      const nope = await helper.request().get('/mlops-onnx-infer/inspect').query({ path: 'nope.onnx' }).expect(404);
      expect(JSON.stringify(nope.body)).to.not.include(dir);
      await helper.request().get('/mlops-onnx-infer/inspect').expect(400);
    } finally {
      helper.settings({});
    }
  });

  it('the inspect endpoint reads only model files under the user directory and never names the directory', async () => {
    const user = path.join(dir, 'user');
    fs.mkdirSync(path.join(user, 'models'), { recursive: true });
    fs.copyFileSync(mlp, path.join(user, 'models', 'mlp.onnx'));
    fs.symlinkSync(mlp, path.join(user, 'models', 'out.onnx'));
    fs.symlinkSync('/dev/zero', path.join(user, 'zero.onnx'));
    fs.symlinkSync('/etc', path.join(user, 'etc'));
    helper.settings({ userDir: user });
    try {
      await load({ modelPath: '' });
      const get = (p: string) => helper.request().get('/mlops-onnx-infer/inspect').query({ path: p });
      expect((await get('models/mlp.onnx').expect(200)).body.path).to.equal(path.join('models', 'mlp.onnx'));
      // Outside: absolute paths, `..` escapes, symbolic links leading out; existing or not, the same answer.
      const answers = new Set<string>();
      for (const p of ['/etc/passwd', '/root/.ssh/id_rsa', '/root', '/dev/zero', '../mlp.onnx', 'models/../../mlp.onnx', 'models/out.onnx', 'zero.onnx', 'etc/passwd', mlp]) {
        const r = await get(p);
        expect(r.status, p).to.equal(403);
        expect(JSON.stringify(r.body), p).to.not.include(user);
        answers.add(r.body.error.replace(p, '<p>'));
      }
      expect([...answers]).to.deep.equal(['only model files in the Node-RED user directory can be inspected, got <p>']);
    } finally {
      helper.settings({});
    }
  });

  it('the inspect endpoint reads a models folder that settings.mlopsModelDirs names (a link leading out of the user directory)', async () => {
    const user = path.join(dir, 'user2');
    const ext = path.join(dir, 'ext-models');
    fs.mkdirSync(user, { recursive: true });
    fs.mkdirSync(ext, { recursive: true });
    fs.copyFileSync(mlp, path.join(ext, 'mlp.onnx'));
    fs.symlinkSync(ext, path.join(user, 'models'));
    helper.settings({ userDir: user });
    try {
      await load({ modelPath: '' });
      expect((await helper.request().get('/mlops-onnx-infer/inspect').query({ path: 'models/mlp.onnx' })).status).to.equal(403);
    } finally {
      helper.settings({});
    }
    await helper.unload();
    helper.settings({ userDir: user, mlopsModelDirs: ['models'] } as Parameters<typeof helper.settings>[0]);
    try {
      await load({ modelPath: '' });
      const r = await helper.request().get('/mlops-onnx-infer/inspect').query({ path: 'models/mlp.onnx' }).expect(200);
      expect(r.body.path).to.equal(path.join('models', 'mlp.onnx'));
      expect(JSON.stringify(r.body)).to.not.include(ext);
      // still nothing beside it
      expect((await helper.request().get('/mlops-onnx-infer/inspect').query({ path: 'models/../../a.onnx' })).status).to.equal(403);
    } finally {
      helper.settings({});
    }
  });

  it('settings.mlopsModelMaxBytes bounds the model files read (load and inspect)', async () => {
    helper.settings({ userDir: dir, mlopsModelMaxBytes: 100 } as Parameters<typeof helper.settings>[0]);
    try {
      const { n, errs } = await load({ modelPath: '' });
      n.receive({ model: { path: modelB } });
      await waitFor('the model message failed', () => errs[0]);
      expect(errs[0].error.message).to.match(/b\.onnx.*larger than 100 bytes/);
      const r = await helper.request().get('/mlops-onnx-infer/inspect').query({ path: 'b.onnx' }).expect(413);
      expect(r.body.error).to.include('at most 100 are read');
    } finally {
      helper.settings({});
    }
    // Without the setting, the default again.
    await helper.unload();
    const { n, errs } = await load({ modelPath: '' });
    n.receive({ model: { path: modelB } });
    await waitFor('model B loaded', () => n.log.args.find((a) => /model sum B loaded/.test(String(a[0]))), 10000);
    expect(errs).to.have.length(0);
  });

  it('/dev/zero and a FIFO as msg.model.path fail their message at once; later models still load', async () => {
    const fifo = path.join(dir, 'model.fifo');
    fs.rmSync(fifo, { force: true });
    require('child_process').execFileSync('mkfifo', [fifo]);
    const { n, got, errs } = await load({ modelPath: modelA });
    const rss0 = process.memoryUsage().rss;
    n.receive({ model: { path: '/dev/zero' } });
    n.receive({ model: { path: fifo } });
    n.receive({ model: { path: modelB } });
    await waitFor('two failed model messages', () => (errs.length >= 2 ? true : undefined), 10000);
    expect(errs[0].error.message).to.match(/\/dev\/zero.*not a regular file \(character device\)/);
    expect(errs[1].error.message).to.match(/model\.fifo.*not a regular file \(FIFO\)/);
    expect(process.memoryUsage().rss - rss0).to.be.below(500 * 1024 * 1024);
    await waitFor('model B loaded', () => n.log.args.find((a) => /model sum B loaded/.test(String(a[0]))), 10000);
    n.receive({ payload: X });
    await waitFor('one output', () => got[0]);
    expect(got[0].payload).to.be.closeTo(2000 + SUM, 1e-3);
    expect(errs).to.have.length(2);
  });
});

describe('mlops-onnx-infer i18n catalogs, help and example', () => {
  const root = path.resolve(__dirname, '../..');
  const src = ['nodes/mlops-onnx-infer.ts', 'nodes/lib/onnx/host.ts', 'nodes/lib/onnx/io.ts'].map((f) => fs.readFileSync(path.join(root, f), 'utf8')).join('\n');
  const html = fs.readFileSync(path.join(root, 'nodes/mlops-onnx-infer.html'), 'utf8');
  const keys = new Set<string>();
  for (const m of src.matchAll(/\bt(?:Or)?\(\s*'([a-zA-Z.]+)'/g)) keys.add(m[1]);
  for (const m of src.matchAll(/new (?:InferInputError|HostError)\(\s*'([a-zA-Z]+)'/g)) keys.add(`errors.${m[1]}`);
  for (const m of src.matchAll(/'(load(?:Read|Corrupt|Session))'/g)) keys.add(`errors.${m[1]}`);
  for (const m of html.matchAll(/mlops-onnx-infer\.([a-zA-Z]+\.[a-zA-Z]+)/g)) keys.add(m[1]);
  for (const k of ['worker', 'direct']) keys.add(`mode.${k}`);

  for (const lang of ['en-US', 'de']) {
    it(`${lang}: every key exists; help has Inputs, Outputs, Details`, () => {
      const cat = JSON.parse(fs.readFileSync(path.join(root, `locales/${lang}/mlops-onnx-infer.json`), 'utf8'))['mlops-onnx-infer'];
      const missing = [...keys].filter((k) => k.split('.').reduce((o: any, p) => (o ? o[p] : undefined), cat) === undefined);
      expect(missing).to.deep.equal([]);
      expect(keys.size).to.be.greaterThan(40);
      const help = fs.readFileSync(path.join(root, `locales/${lang}/mlops-onnx-infer.html`), 'utf8');
      expect(help).to.contain('data-help-name="mlops-onnx-infer"');
      expect(help).to.match(/<h3>(Inputs|Eingaben|Eingänge)<\/h3>[\s\S]*<h3>(Outputs|Ausgaben|Ausgänge)<\/h3>[\s\S]*<h3>Details<\/h3>/);
    });
  }

  it('the example flow is valid flow JSON using this node', () => {
    const flowJson = JSON.parse(fs.readFileSync(path.join(root, 'examples/onnx-infer.json'), 'utf8'));
    expect(flowJson).to.be.an('array');
    const ids = new Set(flowJson.map((n: { id: string }) => n.id));
    expect(ids.size).to.equal(flowJson.length);
    expect(flowJson.some((n: { type: string }) => n.type === 'mlops-onnx-infer')).to.equal(true);
    for (const n of flowJson) for (const w of n.wires ?? []) for (const id of w) expect(ids.has(id), id).to.equal(true);
  });
});
