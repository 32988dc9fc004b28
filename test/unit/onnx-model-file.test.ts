/**
 * Hostile model files: the one reader (lib/onnx/model-file.ts) reads regular files only, within
 * a size limit enforced while reading; the session host bounds a load's time and the load
 * probe's input size, and creates every session from the bytes the worker verified.
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readModelFile, readModelFileSync, readModelMetadata } from '../../nodes/lib/onnx/model-file';
import { SessionHost, type LoadedModel } from '../../nodes/lib/onnx/host';
import { decodeModelInfo, encodeModel } from '../../nodes/lib/onnx/proto';
import { valueDependentOps } from '../../nodes/lib/onnx/graph-cost';
import { tmpDir } from '../support/red';
import { sumModel, writeModel } from '../support/onnx-models';

const codeOf = (e: unknown) => (e as { code?: string }).code;

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; params?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

function thrown(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('onnx model files: only regular files, bounded', function () {
  this.timeout(30000);
  let dir: string;
  let fifo: string;
  let model: string;
  before(() => {
    dir = tmpDir('model-file');
    fifo = path.join(dir, 'fifo.onnx');
    execFileSync('mkfifo', [fifo]);
    model = writeModel(dir, 'a.onnx', sumModel(1000));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('/dev/zero is refused as not a regular file, sync and async, without reading it', async () => {
    const rss0 = process.memoryUsage().rss;
    const a = await rejection(readModelFile('/dev/zero'));
    expect(codeOf(a)).to.equal('modelNotFile');
    expect(a.message).to.match(/expected a regular file, got a character device/);
    const s = thrown(() => readModelFileSync('/dev/zero'));
    expect(codeOf(s)).to.equal('modelNotFile');
    expect(process.memoryUsage().rss - rss0).to.be.below(200 * 1024 * 1024);
  });

  it('a FIFO without a writer is refused at once (the open does not wait for a writer)', async () => {
    const t0 = Date.now();
    const a = await rejection(readModelFile(fifo));
    expect(codeOf(a)).to.equal('modelNotFile');
    expect(a.message).to.match(/got a FIFO/);
    expect(codeOf(thrown(() => readModelFileSync(fifo)))).to.equal('modelNotFile');
    expect(Date.now() - t0).to.be.below(5000);
  });

  it('a directory is refused as not a regular file; a missing file is a read error', async () => {
    expect(codeOf(await rejection(readModelFile(dir)))).to.equal('modelNotFile');
    expect(codeOf(await rejection(readModelFile(path.join(dir, 'nope.onnx'))))).to.equal('modelRead');
    expect(codeOf(thrown(() => readModelFileSync(path.join(dir, 'nope.onnx'))))).to.equal('modelRead');
  });

  it('a file above the size limit is refused, naming the limit; at the limit it is read', async () => {
    const size = fs.statSync(model).size;
    const a = await rejection(readModelFile(model, { maxBytes: size - 1 }));
    expect(codeOf(a)).to.equal('modelTooLarge');
    expect(a.message).to.include(`at most ${size - 1} are read`);
    expect(codeOf(thrown(() => readModelFileSync(model, { maxBytes: size - 1 })))).to.equal('modelTooLarge');
    expect((await readModelFile(model, { maxBytes: size })).size).to.equal(size);
    expect(readModelFileSync(model, { maxBytes: size }).size).to.equal(size);
  });

  it('an async read that does not finish in time fails with modelReadTimeout, naming the time', async () => {
    // 512 MB (sparse) cannot be read in 1 ms: the reader gives up at its timeout instead of waiting.
    const big = path.join(dir, 'big.onnx');
    fs.writeFileSync(big, '');
    fs.truncateSync(big, 512 * 1024 * 1024);
    try {
      const t0 = Date.now();
      const e = await rejection(readModelFile(big, { timeoutMs: 1 }));
      expect(codeOf(e)).to.equal('modelReadTimeout');
      expect(e.message).to.match(/did not finish within 1 ms/);
      expect(Date.now() - t0).to.be.below(5000);
    } finally {
      fs.rmSync(big, { force: true });
    }
  });

  it('the new codes have en-US and de texts in the shared catalog, with a reason for drift detect', () => {
    for (const lang of ['en-US', 'de']) {
      const errors = JSON.parse(fs.readFileSync(path.join(__dirname, '../../locales', lang, 'mlops-common.json'), 'utf8')).errors;
      for (const k of ['modelNotFile', 'modelTooLarge', 'modelReadTimeout', 'modelOutsideUserDir', 'modelNotFound']) expect(errors[k], `${lang} ${k}`).to.be.a('string').and.not.empty;
    }
    const e = thrown(() => readModelFileSync('/dev/zero')) as unknown as { params: Record<string, unknown> };
    expect(e.params.reason).to.match(/not a regular file/);
  });
});

describe('onnx session host: hostile loads', function () {
  this.timeout(60000);
  let dir: string;
  const hosts: SessionHost[] = [];
  const host = (o: ConstructorParameters<typeof SessionHost>[0] = {}) => {
    const h = new SessionHost(o);
    hosts.push(h);
    return h;
  };
  before(() => {
    dir = tmpDir('host-faults');
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.close(100)));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('/dev/zero and a FIFO fail their load at once; the next load proceeds', async () => {
    const fifo = path.join(dir, 'host.fifo');
    execFileSync('mkfifo', [fifo]);
    const h = host();
    const a = h.load('/dev/zero');
    const b = h.load(fifo);
    const c = h.load(writeModel(dir, 'ok.onnx', sumModel(1000)));
    expect((await rejection(a)).message).to.match(/not a regular file \(character device\)/);
    expect((await rejection(b)).message).to.match(/not a regular file \(FIFO\)/);
    expect((await c).digest).to.match(/^sha256:/);
    expect((await h.infer([new Array(24).fill(0)])).outputs.y.data[0]).to.equal(1000);
  });

  it('a load that does not finish in time fails by itself, does not hold the next load, and close does not wait on it', async () => {
    const file = writeModel(dir, 't.onnx', sumModel(1000));
    const h = host();
    // A worker cannot start, read and create a session in 1 ms: this load times out.
    const stuck = h.load({ path: file, timeoutMs: 1 });
    const next = h.load({ path: writeModel(dir, 't2.onnx', sumModel(2000)) });
    const e = await rejection(stuck);
    expect(codeOf(e)).to.equal('loadTimeout');
    expect(e.message).to.match(/did not load within 1 ms/);
    const m = await next;
    expect(m.path).to.match(/t2\.onnx$/);
    expect((await h.infer([new Array(24).fill(0)])).outputs.y.data[0]).to.equal(2000);
    // A load in progress at close fails with "closed" and close returns without waiting for its timeout.
    const late = h.load({ path: file, timeoutMs: 600000 });
    const t0 = Date.now();
    await h.close(100);
    expect(codeOf(await rejection(late))).to.equal('closed');
    expect(Date.now() - t0).to.be.below(5000);
  });

  it('a model declaring a [1, 1e9] float32 input is not probed (no 4 GB of zeros) and stays in its worker', async () => {
    const bytes = encodeModel({
      graph: {
        name: 'huge-input',
        nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
        initializers: [],
        inputs: [{ name: 'x', elemType: 'float32', shape: [1, 1e9] }],
        outputs: [{ name: 'y', elemType: 'float32', shape: [1, 1e9] }],
      },
    });
    expect(bytes.length).to.be.below(200);
    const file = writeModel(dir, 'huge.onnx', bytes);
    const rss0 = process.memoryUsage().rss;
    const h = host({ direct: 'auto' });
    const m = await h.load(file);
    expect(process.memoryUsage().rss - rss0).to.be.below(1024 * 1024 * 1024);
    expect(m.probeRunMs).to.equal(undefined);
    expect(m.mode).to.equal('worker');
  });

  it('the direct path scores the verified bytes: a file replaced after the worker read it is not what scores', async () => {
    const file = path.join(dir, 'race.onnx');
    const a = sumModel(1000, 24, { version: 'A' });
    const b = sumModel(2000, 24, { version: 'B' });
    fs.writeFileSync(file, a);
    const digestA = (await readModelFile(file)).digest;
    const h = host({ direct: 'always' });
    // Between the worker's check and the session on this thread, the file becomes B.
    h.on('verified', () => fs.writeFileSync(file, b));
    const m: LoadedModel = await h.load({ path: file, digest: digestA });
    expect(m.mode).to.equal('direct');
    expect(fs.readFileSync(file).equals(Buffer.from(b))).to.equal(true);
    const r = await h.infer([new Array(24).fill(0)]);
    expect(r.model.digest).to.equal(digestA);
    expect(r.outputs.y.data[0]).to.equal(1000);
  });

  // x -> Cast(int64) -> ConstantOfShape -> ReduceSum: the VALUE of x says how many floats it makes.
  const valueCostModel = () =>
    encodeModel({
      graph: {
        name: 'value-cost',
        nodes: [
          { opType: 'Cast', inputs: ['x'], outputs: ['n'], attributes: { to: { int: 7 } } },
          { opType: 'ConstantOfShape', inputs: ['n'], outputs: ['zeros'] },
          { opType: 'ReduceSum', inputs: ['zeros'], outputs: ['y'] },
        ],
        initializers: [],
        inputs: [{ name: 'x', elemType: 'float32', shape: [1] }],
        outputs: [{ name: 'y', elemType: 'float32', shape: [1] }],
      },
    });

  it('the graph decides the direct path: a model whose cost depends on input values stays in its worker', async () => {
    const bytes = valueCostModel();
    expect(decodeModelInfo(bytes).ops).to.deep.equal(['Cast', 'ConstantOfShape', 'ReduceSum']);
    expect(valueDependentOps(decodeModelInfo(bytes).ops)).to.deep.equal(['ConstantOfShape']);
    expect(valueDependentOps(decodeModelInfo(sumModel(1)).ops)).to.deep.equal([]);
    const h = host({ direct: 'auto' });
    const m = await h.load(writeModel(dir, 'value-cost.onnx', bytes));
    // tiny and fast on zeros, so the probe alone would have put it on this thread
    expect(m.probeRunMs).to.be.a('number').and.below(1);
    expect(m.mode).to.equal('worker');
    const r = await h.infer({ x: [3e6] });
    expect(Array.from(r.outputs.y.data as Float32Array)).to.deep.equal([0]);
    expect(h.stats.threadRuns).to.equal(0);
    // the same tiny Gemm goes direct
    const g = await h.load(writeModel(dir, 'gemm.onnx', sumModel(5)));
    expect(g.mode).to.equal('direct');
    await h.infer([new Array(24).fill(1)]);
    expect(h.stats.threadRuns).to.equal(1);
  });

  it('a direct model: a run much larger than its probe goes to its worker; a run over directMaxStallMs moves the model there', async () => {
    // y = ReduceSum(x) over a free second dimension: the probe has one column, a message may have millions
    const bytes = encodeModel({
      graph: {
        name: 'rowsum',
        nodes: [{ opType: 'ReduceSum', inputs: ['x'], outputs: ['y'] }],
        initializers: [],
        inputs: [{ name: 'x', elemType: 'float32', shape: ['batch', 'n'] }],
        outputs: [{ name: 'y', elemType: 'float32', shape: [1, 1] }],
      },
    });
    const file = writeModel(dir, 'rowsum.onnx', bytes);
    const h = host({ direct: 'auto' });
    const moved: number[] = [];
    h.on('moved', (_m: LoadedModel, ms: number) => moved.push(ms));
    const m = await h.load(file);
    expect(m.mode).to.equal('direct');
    expect((await h.infer([[1, 2, 3]])).outputs.y.data[0]).to.equal(6);
    expect(h.stats.threadRuns).to.equal(1);
    const big = [new Array(2_000_000).fill(1)];
    expect((await h.infer(big)).outputs.y.data[0]).to.equal(2_000_000);
    expect(h.stats.threadRuns, 'the 2e6-value run went to the worker').to.equal(1);
    expect(m.mode).to.equal('direct');
    expect(moved).to.deep.equal([]);

    // every run on this thread is "too long" at 0 ms: the first one moves the model, the rest run in the worker
    const h2 = host({ direct: 'auto', directMaxStallMs: 0 });
    const moved2: LoadedModel[] = [];
    h2.on('moved', (mm: LoadedModel) => moved2.push(mm));
    const m2 = await h2.load(file);
    expect(m2.mode).to.equal('direct');
    const rs = await Promise.all([1, 2, 3, 4].map((v) => h2.infer([[v, v]])));
    expect(rs.map((r) => r.outputs.y.data[0])).to.deep.equal([2, 4, 6, 8]);
    expect(moved2).to.have.length(1);
    expect(m2.mode).to.equal('worker');
    expect(h2.stats.threadRuns).to.equal(1);
  });
});

describe('onnx model files: the metadata without reading the weights', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('model-metadata');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives what the whole-file reader gives, for the demo model and a model of 40 MB of weights', async () => {
    const demo = path.join(__dirname, '..', '..', 'flows', 'predictive-maintenance', 'models', 'bearing-fault.onnx');
    expect(await readModelMetadata(demo)).to.deep.equal((await readModelFile(demo)).metadata);
    const big = writeModel(dir, 'big.onnx', sumModel(1, 24, { padFloats: 10_000_000, name: 'big', version: '3' }));
    expect(fs.statSync(big).size).to.be.above(40e6);
    const before = process.memoryUsage().rss;
    const md = await readModelMetadata(big);
    expect(md).to.deep.include({ name: 'big', version: '3' });
    expect(process.memoryUsage().rss - before, 'the weights are not read').to.be.below(20e6);
  });

  it('refuses what is no ONNX model, and a field running past the end', async () => {
    const junk = path.join(dir, 'junk.onnx');
    fs.writeFileSync(junk, 'not a model at all');
    const refused = async (file: string) => {
      try {
        await readModelMetadata(file);
      } catch (e) {
        return (e as Error).message;
      }
      return 'read';
    };
    expect(await refused(junk)).to.match(/is not a readable ONNX model/);
    const cut = path.join(dir, 'cut.onnx');
    const whole = sumModel(1);
    fs.writeFileSync(cut, whole.subarray(0, whole.length - 10));
    expect(await refused(cut)).to.match(/is not a readable ONNX model: field \d+ runs past the end of the file/);
  });
});
