/**
 * onnx infer benchmark:
 *   npx tsx bench/onnx-infer.bench.ts
 * In one run, with the 24-64-32-1 MLP of the design notes:
 *   - a raw onnxruntime-node loop (awaited session.run, intraOpNumThreads 1) at batch 1 and batch 64,
 *     plus the default thread count for comparison (what sets the node's default of 1 thread);
 *   - the same model through `onnx infer` in a Node-RED flow (node-red-node-test-helper): batch-1
 *     messages as a stream (a source with up to 256 messages under way) and one at a time, and
 *     64-row messages (a Float64Array with features.shape, as the feature window sends), with the
 *     direct in-thread path allowed (default) and with the worker only; ratios against raw;
 *   - the event-loop delay p99 (perf_hooks.monitorEventLoopDelay) while a LARGE model infers flat
 *     out: through the node (worker) against the same model run in-thread.
 * CPU per call is process CPU (all threads) divided by calls.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import * as ort from 'onnxruntime-node';
import helper from 'node-red-node-test-helper';
import { largeModel, mlpModel, writeModel } from '../test/support/onnx-models';
import inferNode = require('../nodes/mlops-onnx-infer');
import { unspy } from '../test/support/unspy';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-onnx-bench-'));
const MLP = writeModel(dir, 'mlp.onnx', mlpModel({ sizes: [24, 64, 32, 1], metadata: { name: 'mlp', version: '1' } }));
const LARGE = writeModel(dir, 'large.onnx', largeModel(2048, 4));
const X = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
const X64 = Float32Array.from({ length: 24 * 64 }, (_, i) => Math.sin(i));

const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(1));
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

interface Rate {
  rate: number;
  cpuUsPerCall: number;
}

async function rawLoop(modelPath: string, rows: number, threads?: number): Promise<Rate> {
  const session = await ort.InferenceSession.create(modelPath, threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {});
  const data = rows === 1 ? X : X64;
  const feeds = () => ({ x: new ort.Tensor('float32', data, [rows, 24]) });
  for (let i = 0; i < 200; i++) await session.run(feeds());
  let n = 0;
  const c0 = cpuMs();
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    await session.run(feeds());
    n++;
  }
  const dt = (performance.now() - t0) / 1000;
  const cpu = cpuMs() - c0;
  await session.release();
  return { rate: (n * rows) / dt, cpuUsPerCall: (cpu * 1000) / n };
}

type AnyNode = { receive(m: unknown): void; on(e: string, cb: (m: any) => void): void };

/** The node in a flow: `window` messages under way; each output lets the source send the next. */
async function inNodeRed(opts: { rows: number; window: number; direct: boolean; modelPath?: string; seconds?: number; histogram?: { enable(): void; disable(): void } }): Promise<Rate & { meanBatch: number }> {
  const flow = [
    { id: 'n', type: 'mlops-onnx-infer', modelPath: opts.modelPath ?? MLP, direct: opts.direct, threads: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
  await helper.load(inferNode, flow as Parameters<typeof helper.load>[1]);
  const n = helper.getNode('n') as unknown as AnyNode;
  const out = helper.getNode('out') as unknown as AnyNode;
  unspy(helper, [n, out]);
  // The first message waits for the model to load.
  await new Promise<void>((resolve) => {
    const first = () => {
      (out as any).removeListener('input', first);
      resolve();
    };
    out.on('input', first);
    n.receive({ payload: Array.from(X) });
  });
  const packed = new Float64Array(24 * opts.rows);
  for (let i = 0; i < packed.length; i++) packed[i] = Math.sin(i);
  const make = () => (opts.rows === 1 ? { payload: Array.from(X) } : { payload: packed, features: { shape: [opts.rows, 24] } });
  let calls = 0;
  let batchSum = 0;
  let stop = false;
  const seconds = opts.seconds ?? SECONDS;
  // Warm-up then measure.
  const run = (ms: number) =>
    new Promise<{ calls: number; dt: number; cpu: number }>((resolve) => {
      calls = 0;
      batchSum = 0;
      stop = false;
      let inFlight = 0;
      const c0 = cpuMs();
      const t0 = performance.now();
      const onOut = (m: any) => {
        calls++;
        batchSum += m.inference.batchSize;
        inFlight--;
        if (!stop && performance.now() - t0 >= ms) stop = true;
        if (!stop) {
          inFlight++;
          n.receive(make());
        } else if (inFlight === 0) {
          (out as any).removeListener('input', onOut);
          resolve({ calls, dt: (performance.now() - t0) / 1000, cpu: cpuMs() - c0 });
        }
      };
      out.on('input', onOut);
      for (let i = 0; i < opts.window; i++) {
        inFlight++;
        n.receive(make());
      }
    });
  await run(500);
  opts.histogram?.enable();
  const r = await run(seconds * 1000);
  opts.histogram?.disable();
  await helper.unload();
  return { rate: (r.calls * opts.rows) / r.dt, cpuUsPerCall: (r.cpu * 1000) / r.calls, meanBatch: batchSum / Math.max(1, r.calls) };
}

/** Event-loop delay p99 (ms) while `work` keeps the model busy for `ms`. */
async function loopDelay(work: (until: number) => Promise<number>, ms: number): Promise<{ p99: number; max: number; runs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const runs = await work(performance.now() + ms);
  h.disable();
  return { p99: h.percentile(99) / 1e6, max: h.max / 1e6, runs };
}

async function main() {
  helper.init(require.resolve('node-red'));
  await new Promise<void>((r) => helper.startServer(() => r()));
  console.log(`onnx infer benchmark: MLP 24-64-32-1, ${SECONDS} s per figure, ${os.cpus().length} cores, Node ${process.version}, onnxruntime-node ${require('onnxruntime-node/package.json').version}`);

  // ---- raw onnxruntime-node
  const raw1 = await rawLoop(MLP, 1, 1);
  const raw1d = await rawLoop(MLP, 1);
  const raw64 = await rawLoop(MLP, 64, 1);
  const raw64d = await rawLoop(MLP, 64);
  console.log('\nraw onnxruntime-node loop (awaited session.run):');
  console.log(`  batch 1,  intraOpNumThreads 1:       ${fmt(raw1.rate)} calls/s  (${raw1.cpuUsPerCall.toFixed(1)} µs CPU/call)`);
  console.log(`  batch 1,  default threads:           ${fmt(raw1d.rate)} calls/s  (${raw1d.cpuUsPerCall.toFixed(1)} µs CPU/call)`);
  console.log(`  batch 64, intraOpNumThreads 1:       ${fmt(raw64.rate)} rows/s`);
  console.log(`  batch 64, default threads:           ${fmt(raw64d.rate)} rows/s`);

  // ---- through the node
  console.log('\nonnx infer in a Node-RED flow (threads 1):');
  const rows: Array<[string, Rate & { meanBatch: number }, Rate, string]> = [];
  for (const direct of [true, false]) {
    const label = direct ? 'in-thread allowed (default)' : 'worker only';
    const s1 = await inNodeRed({ rows: 1, window: 256, direct });
    rows.push([`batch 1 stream, ${label}`, s1, raw1, 'calls/s']);
    const o1 = await inNodeRed({ rows: 1, window: 1, direct });
    rows.push([`batch 1 one at a time, ${label}`, o1, raw1, 'calls/s']);
    const s64 = await inNodeRed({ rows: 64, window: 8, direct });
    rows.push([`batch 64 (64-row messages), ${label}`, s64, raw64, 'rows/s']);
  }
  for (const [label, r, base, unit] of rows) {
    console.log(
      `  ${label.padEnd(46)} ${fmt(r.rate).padStart(9)} ${unit}  ${(r.rate / base.rate).toFixed(2)}x raw  ` +
        `(${r.cpuUsPerCall.toFixed(1)} µs CPU/message, ${r.meanBatch.toFixed(1)} rows per run)`,
    );
  }

  // ---- event-loop delay with a large model
  console.log(`\nevent-loop delay while a large model (${(fs.statSync(LARGE).size / 1048576).toFixed(0)} MB, 4 x MatMul 2048x2048) infers flat out:`);
  const session = await ort.InferenceSession.create(LARGE, { intraOpNumThreads: 1 });
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) await session.run({ x: new ort.Tensor('float32', X, [1, 24]) });
  const runMs = (performance.now() - t0) / 5;
  const inThread = await loopDelay(async (until) => {
    let n = 0;
    while (performance.now() < until) {
      await session.run({ x: new ort.Tensor('float32', X, [1, 24]) });
      n++;
    }
    return n;
  }, SECONDS * 1000);
  await session.release();
  const hist = monitorEventLoopDelay({ resolution: 1 });
  const r = await inNodeRed({ rows: 1, window: 4, direct: true, modelPath: LARGE, histogram: hist });
  const workerRuns = Math.round(r.rate * SECONDS);
  const viaNode = { p99: hist.percentile(99) / 1e6, max: hist.max / 1e6 };
  console.log(`  one run: ${runMs.toFixed(1)} ms`);
  console.log(`  in-thread (raw session.run loop):  p99 ${inThread.p99.toFixed(1)} ms, max ${inThread.max.toFixed(1)} ms  (${inThread.runs} runs)`);
  console.log(`  onnx infer (worker, in-thread allowed: the measured run is too long for it): p99 ${viaNode.p99.toFixed(1)} ms, max ${viaNode.max.toFixed(1)} ms  (${workerRuns} messages, ${r.meanBatch.toFixed(1)} rows per run)`);
  console.log(`  target p99 <= 5 ms: ${viaNode.p99 <= 5 ? 'met' : 'MISSED'}`);

  const b1 = rows[0][1].rate / raw1.rate;
  const b64 = rows[2][1].rate / raw64.rate;
  console.log(`\ntargets: batch 64 >= 0.8x raw: ${b64.toFixed(2)}x ${b64 >= 0.8 ? 'met' : 'MISSED'}; batch 1 >= 0.5x raw: ${b1.toFixed(2)}x ${b1 >= 0.5 ? 'met' : 'MISSED'}`);
  await new Promise<void>((r) => helper.stopServer(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
