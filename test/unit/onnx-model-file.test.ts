/**
 * Hostile model files: the one reader (lib/onnx/model-file.ts) reads regular files only, within
 * a size limit enforced while reading; the session host bounds a load's time and the load
 * probe's input size, and creates every session from the bytes the worker verified.
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readModelFile, readModelFileSync } from '../../nodes/lib/onnx/model-file';
import { SessionHost, type LoadedModel } from '../../nodes/lib/onnx/host';
import { encodeModel } from '../../nodes/lib/onnx/proto';
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
});
