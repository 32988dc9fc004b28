/**
 * Feature window benchmark: W=1024, all 10 statistics, one channel, 1,000,000 samples.
 *   npx tsx bench/feature-window.bench.ts
 * Prints samples/s and, in the same run, the ratios against
 *   (a) a naive baseline recomputing each window with simple-statistics (function-node style),
 *   (b) the node inside a real Node-RED flow (node-red-node-test-helper) with batched input,
 *       against the plain in-process incremental loop,
 * plus the incremental-vs-fused sweep over the hop that sets FUSED_MIN_HOP.
 */
import * as ss from 'simple-statistics';
import helper from 'node-red-node-test-helper';
import { ChannelWindow, FEATURE_NAMES, FUSED_MIN_HOP, Strategy } from '../nodes/lib/window/running-window';
import { FeatureWindow, parseConfig } from '../nodes/lib/window/feature-window';
import type { FeaturesBatchMessage } from '../nodes/lib/messages';
import fwNode = require('../nodes/mlops-feature-window');

const N = 1_000_000;
const W = 1024;
const BATCH = 10_000;

const data = new Float64Array(N);
{
  let s = 12345;
  for (let i = 0; i < N; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = 350 + Math.sin(i / 50) + 0.01 * (s / 2147483648 - 0.5);
  }
}

const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(1)} k`);

/**
 * The plain in-process incremental loop: the whole Float64Array straight into one ChannelWindow
 * (its pushRun hot path, no timestamps: the same work the node does for a batch without them).
 */
function inProcess(hop: number, strategy: Strategy, n = N, bands = false): { rate: number; windows: number; sink: number } {
  const win = new ChannelWindow({
    kind: 'count', size: W, hop, duration: 0, maxSamples: 0, features: [...FEATURE_NAMES], bands: bands ? { count: 8 } : null, strategy,
  });
  let windows = 0;
  let sink = 0;
  win.onWindow = (v) => { windows++; sink += v[1]; };
  const t0 = process.hrtime.bigint();
  let i = 0;
  while (i < n) i = win.pushRun(data, i, n, null, 0, 0, n - 1);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rate: n / dt, windows, sink };
}

function best<T extends { rate: number }>(runs: number, f: () => T): T {
  let b: T | null = null;
  for (let r = 0; r < runs; r++) { const x = f(); if (!b || x.rate > b.rate) b = x; }
  return b as T;
}

/**
 * (a) the naive baseline, as one would write it in a function node:
 *   buf.push(x); if (buf.length > W) buf.shift();
 *   if (buf.length === W && ++k % hop === 0) msg.payload = [ss.mean(buf), ss.standardDeviation(buf),
 *     ss.min(buf), ss.max(buf), ss.rootMeanSquare(buf), max - min, ss.sampleSkewness(buf),
 *     ss.sampleKurtosis(buf), crest, ss.linearRegression(buf.map((y, i) => [i, y])).m]
 */
function naive(n: number, hop: number): { rate: number } {
  const buf: number[] = [];
  let k = 0;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    buf.push(data[i]);
    if (buf.length > W) buf.shift();
    if (buf.length === W && k++ % hop === 0) {
      const mx = ss.max(buf);
      const mn = ss.min(buf);
      const rms = ss.rootMeanSquare(buf);
      const v = [ss.mean(buf), ss.standardDeviation(buf), mn, mx, rms, mx - mn, ss.sampleSkewness(buf), ss.sampleKurtosis(buf),
        Math.max(Math.abs(mx), Math.abs(mn)) / rms, ss.linearRegression(buf.map((y, j) => [j, y])).m];
      sink += v[1];
    }
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (sink === 42) console.log('');
  return { rate: n / dt };
}

/** The engine alone (same batches and batch output as the node, no Node-RED). */
function engineLoop(hop: number): { rate: number } {
  const fw = new FeatureWindow(parseConfig({ channels: 'x', size: W, hop }));
  let rows = 0;
  const t0 = process.hrtime.bigint();
  for (let off = 0; off < N; off += BATCH) {
    for (const b of fw.ingestBatch({ x: data.subarray(off, off + BATCH) }, { now: off })) rows += b.shape[0];
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (rows < 0) console.log(rows);
  return { rate: N / dt };
}

/** (b) the node in a real Node-RED flow: batched input (BATCH samples per message), batch output. */
async function inNodeRed(hop: number): Promise<{ rate: number; msgs: number; rows: number }> {
  const flow = [
    { id: 'fw', type: 'mlops-feature-window', channels: 'x', size: W, hop, batchOutput: true, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
  await helper.load(fwNode, flow as Parameters<typeof helper.load>[1]);
  const fw = helper.getNode('fw') as unknown as { receive(m: unknown): void };
  const out = helper.getNode('out') as unknown as { on(e: string, cb: (m: FeaturesBatchMessage) => void): void };
  // The helper wraps Node.prototype.send in a sinon spy that keeps every message it ever sent
  // (here a million vectors), which is test-harness garbage, not Node-RED's cost: clear it as we go.
  const sendSpy = (fw as unknown as { send: { resetHistory?: () => void } }).send;
  const expected = Math.floor((N - W) / hop) + 1;
  let rows = 0;
  let msgs = 0;
  let off = 0;
  // Feed the next batch when the previous one's output arrived, as a source producing batches over
  // time would (receiving all 100 batches synchronously would hold every output in memory until
  // Node-RED delivers them on the next turn of the event loop).
  const next = () => { const o = off; off += BATCH; fw.receive({ payload: { x: data.subarray(o, o + BATCH) } }); };
  const t0 = process.hrtime.bigint();
  const finished = new Promise<void>((resolve) => {
    out.on('input', (m) => {
      msgs++; rows += m.features.shape[0];
      if (sendSpy.resetHistory) sendSpy.resetHistory();
      if (rows >= expected) resolve();
      else if (off < N) next();
    });
  });
  // hop 256 sends nothing for the first batches until the window fills: keep feeding those
  while (off < N && off < W + BATCH) next();
  await finished;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  await helper.unload();
  return { rate: N / dt, msgs, rows };
}

async function main() {
  console.log(`feature window bench: W=${W}, 10 features (mean std min max rms p2p skewness kurtosis crest slope), ${N.toLocaleString('en')} samples, signal 350 + sin + 0.01 noise, node ${process.version}`);

  // warm up the JIT
  for (let r = 0; r < 3; r++) { inProcess(1, 'incremental'); inProcess(256, 'fused'); inProcess(16, 'incremental'); inProcess(16, 'fused'); }
  naive(3000, 1); engineLoop(256); engineLoop(1);

  console.log('\n-- strategy sweep (in-process, samples/s): sets FUSED_MIN_HOP --');
  console.log('hop    incremental   fused     faster');
  for (const hop of [8, 16, 32, 48, 64, 80, 96, 128, 256, 1024]) {
    const inc = best(5, () => inProcess(hop, 'incremental'));
    const fus = best(5, () => inProcess(hop, 'fused'));
    console.log(`${String(hop).padEnd(6)} ${fmt(inc.rate).padStart(9)}   ${fmt(fus.rate).padStart(9)}   ${inc.rate > fus.rate ? 'incremental' : 'fused'}`);
  }
  console.log(`FUSED_MIN_HOP = ${FUSED_MIN_HOP} (auto uses fused from this hop)`);

  console.log('\n-- (a) against the naive baseline (function node recomputing each window with simple-statistics) --');
  const NAIVE_N = 20_000;
  for (const hop of [1, 256]) {
    const strategy: Strategy = 'auto';
    const fast = best(3, () => inProcess(hop, strategy));
    const nv = best(2, () => naive(hop === 1 ? NAIVE_N : 400_000, hop));
    const naiveN = hop === 1 ? NAIVE_N : 400_000;
    console.log(`hop ${hop}: feature window (auto = ${hop >= FUSED_MIN_HOP ? 'fused' : 'incremental'}) ${fmt(fast.rate)} samples/s; naive ${fmt(nv.rate)} samples/s ` +
      `(run on ${naiveN.toLocaleString('en')} samples and extrapolated); ratio ${(fast.rate / nv.rate).toFixed(0)}x`);
  }
  const fft = best(2, () => inProcess(256, 'auto', N, true));
  console.log(`hop 256 with 8 FFT bands (1024-point FFT per window): ${fmt(fft.rate)} samples/s`);

  console.log(`\n-- (b) the node in a Node-RED flow (batched input, ${BATCH.toLocaleString('en')} samples per message, batch output) vs the in-process loop --`);
  helper.init(require.resolve('node-red'));
  await new Promise<void>((r) => helper.startServer(() => r()));
  for (const hop of [1, 256]) {
    const plain = best(3, () => inProcess(hop, 'auto'));
    const eng = best(3, () => engineLoop(hop));
    await inNodeRed(hop); // warm-up
    let node = await inNodeRed(hop);
    for (let r = 0; r < 2; r++) { const x = await inNodeRed(hop); if (x.rate > node.rate) node = x; }
    console.log(`hop ${hop}: node in Node-RED ${fmt(node.rate)} samples/s (${node.msgs} output messages, ${node.rows.toLocaleString('en')} vectors); ` +
      `plain in-process loop ${fmt(plain.rate)} samples/s; ratio ${(node.rate / plain.rate).toFixed(2)}x ` +
      `(engine alone, same batches: ${fmt(eng.rate)} samples/s, node/engine ${(node.rate / eng.rate).toFixed(2)}x)`);
  }
  await new Promise<void>((r) => helper.stopServer(() => r()));
  console.log('\ntargets: (a) >= 100x the naive baseline at hop 1; (b) batched node >= 0.5x the in-process loop');
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
