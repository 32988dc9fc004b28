/**
 * Memory of model swaps in `onnx infer` (the design notes' target: 100 model swaps add at most
 * 50 MB of RSS):
 *   node --expose-gc -r tsx/cjs bench/onnx-swaps.bench.ts        (npm run bench:swaps)
 * One node in a Node-RED flow (node-red-node-test-helper, its call-recording spies removed)
 * swaps between two models of about 4 MB each (24-1024-1024-1, so that a leaked session or
 * worker per swap would show) and scores one message after each swap with the model it swapped
 * to. 10 swaps warm up; then RSS (all threads: the workers' native memory counts) is taken after
 * a full garbage collection before and every 25 swaps during 100 more, so a leak shows as growth
 * that keeps rising, not only as the final figure. Takes about 30 s on 2 cores.
 *
 * This is a benchmark, not a test: RSS depends on the allocator returning freed memory to the
 * system and on everything else the process holds, and a measurement worth reading needs
 * --expose-gc, which mocha is not run with. Exit status 1 when the target is missed or a swap
 * goes wrong.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import helper from 'node-red-node-test-helper';
import { mlpModel, writeModel } from '../test/support/onnx-models';
import inferNode = require('../nodes/mlops-onnx-infer');
import { unspy } from '../test/support/unspy';

const TARGET_MB = 50;
const WARMUP = 10;
const SWAPS = 100;
const gc = (global as { gc?: () => void }).gc;

type AnyNode = { receive(m: unknown): void; on(e: string, cb: (m: any) => void): void; log: (...a: unknown[]) => void };

const mb = (bytes: number) => bytes / 1048576;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once `ok()` holds; rejects after `timeoutMs` saying what it waited for. */
async function until(what: string, ok: () => boolean, timeoutMs = 30000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

async function rssAfterGc(): Promise<number> {
  // twice, with a pause between: finalizers of released sessions run after the first collection
  gc!();
  await sleep(100);
  gc!();
  return process.memoryUsage().rss;
}

async function main(): Promise<void> {
  if (!gc) throw new Error('run with --expose-gc (npm run bench:swaps): without it the figures would include garbage not yet collected');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-swaps-bench-'));
  const models = [1, 2].map((seed) => writeModel(dir, `swap${seed}.onnx`, mlpModel({ sizes: [24, 1024, 1024, 1], seed, metadata: { name: 'swap', version: String(seed) } })));
  const X = Array.from({ length: 24 }, (_, i) => (i + 1) / 10);

  helper.init(require.resolve('node-red'));
  await new Promise<void>((r) => helper.startServer(() => r()));
  const flow = [
    { id: 'n', type: 'mlops-onnx-infer', modelPath: models[0], wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
  await helper.load(inferNode, flow as Parameters<typeof helper.load>[1]);
  const n = helper.getNode('n') as unknown as AnyNode;
  const out = helper.getNode('out') as unknown as AnyNode;
  unspy(helper, [n, out]);
  let loads = 0;
  const errors: string[] = [];
  const log = n.log;
  n.log = function (this: unknown, ...a: unknown[]) {
    if (String(a[0]).includes('loaded')) loads++;
    return log.apply(this, a);
  };
  (n as unknown as { error: (...a: unknown[]) => void }).error = (e: unknown) => errors.push(String((e as Error)?.message ?? e));
  let scored = 0;
  let lastVersion = '';
  out.on('input', (m) => {
    scored++;
    lastVersion = m.inference?.model?.version;
  });
  await until('the deployed model', () => loads >= 1);

  const swap = async (k: number) => {
    const version = String(1 + (k % 2));
    const before = loads;
    n.receive({ model: { name: 'swap', version, path: models[k % 2], format: 'onnx' } });
    await until(`swap ${k} loaded`, () => loads > before || errors.length > 0);
    const s = scored;
    n.receive({ payload: X });
    await until(`swap ${k} scored`, () => scored > s || errors.length > 0);
    if (errors.length > 0) throw new Error(`swap ${k}: ${errors.join('; ')}`);
    if (lastVersion !== version) throw new Error(`swap ${k}: scored by version ${lastVersion}, expected ${version}`);
  };

  console.log(`onnx infer: ${SWAPS} model swaps of a ${mb(fs.statSync(models[0]).size).toFixed(1)} MB model, node ${process.version}`);
  const t0 = Date.now();
  for (let k = 0; k < WARMUP; k++) await swap(k);
  const rss0 = await rssAfterGc();
  console.log(`  after ${WARMUP} warm-up swaps: RSS ${mb(rss0).toFixed(0)} MB`);
  for (let k = WARMUP; k < WARMUP + SWAPS; k++) {
    await swap(k);
    const done = k - WARMUP + 1;
    if (done % 25 === 0) {
      const rss = await rssAfterGc();
      console.log(`  after ${String(done).padStart(3)} swaps: RSS ${mb(rss).toFixed(0)} MB (${mb(rss - rss0) >= 0 ? '+' : ''}${mb(rss - rss0).toFixed(1)} MB)`);
    }
  }
  await sleep(200);
  const rss1 = await rssAfterGc();
  const growth = mb(rss1 - rss0);
  const met = growth <= TARGET_MB;
  console.log(`RSS growth over ${SWAPS} swaps: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB; target at most ${TARGET_MB} MB: ${met ? 'met' : 'MISSED'} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);

  await helper.unload();
  await new Promise<void>((r) => helper.stopServer(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
  if (!met) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
