import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { quantile, standardDeviation, mean as ssMean } from 'simple-statistics';
import { INPUT_NAME, REFERENCE_PROBABILITIES, referenceFromData, toOnnx } from '../../nodes/lib/model/export';
import { fromMetadataProps, ModelMetadata } from '../../nodes/lib/model-metadata';
import { mulberry32, trainAutoencoder, trainMlp, TrainedModel } from '../../nodes/lib/model/trainer';
import { decodeModelInfo } from '../../nodes/lib/onnx/proto';
import { DEFAULT_OUT as DEMO_MODEL, DEMO_MACHINE, simulateWindows } from '../../scripts/train-demo-model';

const D = 6;
const N = 400;

/** Random rows on different scales and offsets (so the standardisation matters) and their targets. */
function data(seed: number): { x: number[][]; yReg: number[]; yBin: number[] } {
  const r = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const scale = [1, 10, 0.01, 100, 3, 0.5];
  const offset = [0, 50, 1, -200, 7, 0];
  const x: number[][] = [];
  const yReg: number[] = [];
  const yBin: number[] = [];
  for (let i = 0; i < N; i++) {
    const u = Array.from({ length: D }, () => gauss());
    x.push(u.map((v, j) => v * scale[j] + offset[j]));
    yReg.push(40 + 12 * u[0] - 5 * u[1] * u[2] + 3 * Math.sin(u[3]) + gauss());
    yBin.push(u[0] + 0.5 * u[4] * u[4] - 0.5 > 0 ? 1 : 0);
  }
  return { x, yReg, yBin };
}

const names = Array.from({ length: D }, (_, i) => `ch.f${i}`);

function meta(model: TrainedModel, x: number[][]): ModelMetadata {
  return {
    name: `test-${model.kind}`,
    version: '0.0.1',
    kind: model.kind,
    features: names,
    classes: model.kind === 'classifier' ? ['no', 'yes'] : undefined,
    output: { name: model.kind, threshold: 0.5 },
    reference: referenceFromData(names, x),
    metrics: { loss: model.history.loss[model.history.loss.length - 1] },
    trainedAt: '2024-01-02T03:04:05.000Z',
    trainingMs: model.trainingMs,
    provenance: { source: 'unit test', rows: x.length, seed: 3 },
  };
}

async function runOnnx(bytes: Uint8Array, x: number[][]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const flat = Float32Array.from(x.flat());
    const out = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', flat, [x.length, D]) });
    const t = out[session.outputNames[0]];
    return { data: t.data as Float32Array, dims: t.dims };
  } finally {
    await session.release();
  }
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

/**
 * onnx.checker on /usr/bin/python3 (Debian's python3-onnx); throws when the module is absent
 * (npm test's setup step installs it), so no test skips the check without a word.
 */
function onnxChecker(): (file: string) => { ok: boolean; out: string } {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'python3-onnx is not installed for /usr/bin/python3: run `apt-get install -y python3-onnx` (npm test installs it when run as root) so onnx.checker can validate the models',
    );
  }
  return (file: string) => {
    const r = spawnSync(
      '/usr/bin/python3',
      // On the loaded model: given a path, check_model(full_check=True) writes the inferred
      // shapes back into the file (onnx.shape_inference.infer_shapes_path overwrites its input).
      ['-c', 'import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print("ok")', file],
      { encoding: 'utf8' },
    );
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
  };
}

describe('model trainer and ONNX export', function () {
  this.timeout(60000);
  const { x, yReg, yBin } = data(11);
  const common = { epochs: 15, batchSize: 32, learningRate: 0.01, seed: 3 };
  const models: Record<string, TrainedModel> = {};
  const files: Record<string, string> = {};
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-model-'));
    models.regressor = await trainMlp({ x, y: yReg, task: 'regression', hidden: [64, 32], validationSplit: 0.2, ...common });
    models.classifier = await trainMlp({ x, y: yBin, task: 'binary', hidden: [64, 32], ...common });
    models.autoencoder = await trainAutoencoder({ x, hidden: [16, 4, 16], ...common });
    for (const [k, m] of Object.entries(models)) {
      files[k] = path.join(dir, `${k}.onnx`);
      fs.writeFileSync(files[k], toOnnx(m, meta(m, x)));
    }
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the models learn something (better than a constant / chance)', () => {
    const reg = models.regressor.predict(x);
    const my = ssMean(yReg);
    let sse = 0;
    let sst = 0;
    yReg.forEach((y, i) => {
      sse += (reg[i] - y) ** 2;
      sst += (my - y) ** 2;
    });
    expect(sse / sst, 'regression: 1 - R^2').to.be.below(0.5);
    const p = models.classifier.predict(x);
    const acc = yBin.filter((y, i) => (p[i] >= 0.5 ? 1 : 0) === y).length / N;
    expect(acc, 'classifier accuracy').to.be.above(0.85);
    for (const v of p) expect(v).to.be.within(0, 1);
    // The anomaly score rises for rows unlike the training data.
    const ae = models.autoencoder;
    const normal = ssMean(Array.from(ae.predict(x)));
    const odd = ssMean(Array.from(ae.predict(x.map((row) => row.map((v, j) => v + 5 * models.autoencoder.std[j])))));
    expect(odd).to.be.above(5 * normal);
  });

  for (const kind of ['regressor', 'classifier', 'autoencoder']) {
    it(`${kind}: onnxruntime-node output equals tfjs predict to 1e-5`, async () => {
      const m = models[kind];
      const bytes = fs.readFileSync(files[kind]);
      // training rows and fresh rows
      const fresh = data(99).x.slice(0, 50);
      for (const rows of [x, fresh, [x[0]]]) {
        const onnx = await runOnnx(bytes, rows);
        expect(onnx.dims).to.deep.equal([rows.length, 1]);
        const tfjs = m.predict(rows);
        expect(maxRelDiff(onnx.data, tfjs)).to.be.below(1e-5);
      }
    });
  }

  it('the graph: opset 17, IR 8, symbolic batch, standardisation first; metadata round-trips', () => {
    for (const [kind, m] of Object.entries(models)) {
      const info = decodeModelInfo(fs.readFileSync(files[kind]));
      expect(info.opset).to.equal(17);
      expect(info.irVersion).to.equal(8);
      expect(info.inputs).to.deep.equal([{ name: 'features', elemType: 'float32', shape: ['batch', D] }]);
      expect(info.outputs).to.have.length(1);
      expect(info.outputs[0].shape).to.deep.equal(['batch', 1]);
      const back = fromMetadataProps(info.metadata);
      expect(back).to.deep.equal(JSON.parse(JSON.stringify(meta(m, x))));
      expect(back!.features).to.deep.equal(names);
      expect(back!.reference!.probabilities).to.deep.equal(REFERENCE_PROBABILITIES);
    }
    // Sub(mean) and Div(std) come first: the raw bytes name the scaler nodes' inputs
    const text = Buffer.from(fs.readFileSync(files.regressor)).toString('latin1');
    expect(text.indexOf('scaler.mean')).to.be.greaterThan(-1);
    expect(text.indexOf('scaler_sub')).to.be.lessThan(text.indexOf('dense0'));
  });

  it('referenceFromData: quantile edges (simple-statistics), mean, std, count per feature', () => {
    const ref = referenceFromData(names, x, [0, 0.25, 0.5, 0.75, 1]);
    expect(ref.probabilities).to.deep.equal([0, 0.25, 0.5, 0.75, 1]);
    names.forEach((n, j) => {
      const col = x.map((r) => r[j]);
      const f = ref.features[n];
      expect(f.count).to.equal(N);
      expect(f.edges).to.deep.equal([0, 0.25, 0.5, 0.75, 1].map((p) => quantile(col, p)));
      expect(f.edges[0]).to.equal(Math.min(...col));
      expect(f.edges[4]).to.equal(Math.max(...col));
      expect(f.mean).to.be.closeTo(ssMean(col), 1e-9 * Math.max(1, Math.abs(f.mean)));
      expect(f.std).to.be.closeTo(standardDeviation(col), 1e-9 * Math.max(1, f.std));
    });
    // non-finite values are left out
    const r2 = referenceFromData(['a'], [[1], [NaN], [3]]);
    expect(r2.features.a.count).to.equal(2);
    expect(r2.features.a.edges[0]).to.equal(1);
  });

  it('onnx.checker (full_check) accepts every exported file', function () {
    const check = onnxChecker();
    for (const f of Object.values(files)) {
      const r = check(f);
      expect(r.ok, `${path.basename(f)}: ${r.out}`).to.equal(true);
    }
  });

  it('training is deterministic: the same seed gives the same weights, another seed others', async () => {
    const opts = { x, y: yBin, task: 'binary' as const, hidden: [16, 8], epochs: 3, batchSize: 32, learningRate: 0.01 };
    const a = await trainMlp({ ...opts, seed: 5 });
    const b = await trainMlp({ ...opts, seed: 5 });
    const c = await trainMlp({ ...opts, seed: 6 });
    a.layers.forEach((l, i) => {
      expect(Array.from(b.layers[i].w)).to.deep.equal(Array.from(l.w));
      expect(Array.from(b.layers[i].b)).to.deep.equal(Array.from(l.b));
    });
    expect(Array.from(c.layers[0].w)).to.not.deep.equal(Array.from(a.layers[0].w));
    expect(Buffer.from(toOnnx(a, meta(a, x)))).to.deep.equal(Buffer.from(toOnnx(b, { ...meta(b, x), trainingMs: a.trainingMs })));
    const ae1 = await trainAutoencoder({ x, hidden: [8, 2, 8], epochs: 2, seed: 9 });
    const ae2 = await trainAutoencoder({ x, hidden: [8, 2, 8], epochs: 2, seed: 9 });
    expect(Array.from(ae2.predict(x))).to.deep.equal(Array.from(ae1.predict(x)));
  });

  it('an input constant in training cannot move an MLP\'s output (its first-layer weights are 0); an autoencoder still sees it', async () => {
    const xc = x.map((r) => [...r, 7]); // a seventh input, always 7
    const yr = x.map((r) => r[0] + 2 * r[1]);
    const m = await trainMlp({ x: xc, y: yr, task: 'regression', hidden: [8], epochs: 3, seed: 2 });
    expect(m.constantInputs).to.deep.equal([6]);
    const moved = xc.map((r) => [...r.slice(0, 6), 7.5]);
    expect(Array.from(m.predict(moved))).to.deep.equal(Array.from(m.predict(xc)));
    const ae = await trainAutoencoder({ x: xc, hidden: [4], epochs: 2, seed: 2 });
    expect(ae.constantInputs).to.deep.equal([6]);
    expect(ae.predict(moved)[0]).to.be.above(ae.predict(xc)[0] * 100);
  });

  it('rejects bad input with a clear error', async () => {
    let err: Error | undefined;
    try {
      await trainMlp({ x: [[1, 2], [3]], y: [0, 1], task: 'binary' });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/row 1 has 1 values, expected 2/);
    err = undefined;
    try {
      await trainMlp({ x: [[1], [2]], y: [0, 2], task: 'binary' });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/binary targets must be 0 or 1/);
    expect(() => toOnnx(models.regressor, { ...meta(models.regressor, x), features: ['a'] })).to.throw(/1 features, the model takes 6/);
  });
});

describe('the committed demo model (flows/predictive-maintenance/models/bearing-fault.onnx)', function () {
  this.timeout(30000);

  it('describes itself, fits the flow\'s feature window and tells a faulty bearing from a healthy one', async () => {
    const bytes = fs.readFileSync(DEMO_MODEL);
    expect(bytes.length).to.be.below(100 * 1024);
    const info = decodeModelInfo(bytes);
    const m = fromMetadataProps(info.metadata)!;
    expect(m).to.include({ name: 'bearing-fault', version: '1.0.0', kind: 'classifier' });
    expect(m.classes).to.deep.equal(['healthy', 'fault']);
    expect(m.output).to.include({ name: 'fault probability', threshold: 0.5 });
    expect(m.metrics).to.include.keys('accuracy', 'auc', 'f1');
    expect(m.provenance).to.include.keys('train', 'test', 'rows');
    expect(info.inputs[0].shape).to.deep.equal(['batch', 40]);
    // the demo's own run (seed 42) through the flow's feature window, as npm start computes it, in
    // condition A (the model's domain; after 2700 s the bearing is replaced and condition B follows,
    // whose healthy windows this A-only model calls a fault: test/integration/drift-demo.test.ts)
    const { names, windows } = simulateWindows({ name: 'demo', machine: DEMO_MACHINE, durationS: 2700 });
    expect(m.features).to.deep.equal(names);
    expect(Object.keys(m.reference!.features)).to.deep.equal(names);
    const healthy = windows.filter((w) => w.label === 0);
    const faulty = windows.filter((w) => w.label === 1);
    const session = await ort.InferenceSession.create(bytes);
    try {
      const score = async (ws: typeof windows) => {
        const out = await session.run({ features: new ort.Tensor('float32', Float32Array.from(ws.flatMap((w) => w.features)), [ws.length, 40]) });
        return Array.from(out.probability.data as Float32Array);
      };
      const ph = await score(healthy);
      const pf = await score(faulty);
      expect(ph.filter((p) => p >= 0.5).length / ph.length, 'false alarms').to.be.below(0.05);
      expect(pf.filter((p) => p >= 0.5).length / pf.length, 'detected').to.be.above(0.95);
    } finally {
      await session.release();
    }
    const r = onnxChecker()(DEMO_MODEL);
    expect(r.ok, r.out).to.equal(true);
  });
});
