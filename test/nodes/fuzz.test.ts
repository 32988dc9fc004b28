/**
 * Fuzz (issue 9, "Done means"): every node of the package in a real Node-RED runtime (the test
 * helper), driven by seeded random and malformed messages. Asserted: no uncaught exception, no
 * unhandled rejection, no event-loop stall over a second, bounded RSS, every message ends in
 * done() or done(err) (a Complete or a Catch node sees it), every error says what was expected,
 * and Object.prototype is untouched. Seeded (mulberry32), a few thousand messages per node; model
 * messages name hostile files too (/dev/zero, a FIFO, a folder, garbage, a path outside).
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { mulberry32 } from '../../nodes/lib/random';
import { helper, tmpDir, waitFor, stopHelper } from '../support/red';
import { sumModel, writeModel } from '../support/onnx-models';
import { unspy } from '../support/unspy';
import { Watchdog } from '../support/watchdog';
import featureNode = require('../../nodes/mlops-feature-window');
import inferNode = require('../../nodes/mlops-onnx-infer');
import driftNode = require('../../nodes/mlops-drift-detect');
import endpointNode = require('../../nodes/mlops-opcua-endpoint');
import readNode = require('../../nodes/mlops-opcua-read');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const completeNode = require('@node-red/nodes/core/common/24-complete.js');

const MESSAGES = 3000;
const SEED = 20261201;

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** A value of any kind a flow could put into a message, hostile ones included. */
function value(r: Rand, depth = 0): unknown {
  const k = Math.floor(r() * 22);
  switch (k) {
    case 0: return r() * 100 - 50;
    case 1: return NaN;
    case 2: return pick(r, [Infinity, -Infinity, 1.7e18, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 5e-324, -0]);
    case 3: return pick(r, ['', 'x', '1.5', 'NaN', '__proto__', 'constructor', '\u0000', 'ü'.repeat(50)]);
    case 4: return null;
    case 5: return undefined;
    case 6: return r() < 0.5;
    case 7: return BigInt(Math.floor(r() * 1e6)) * 10n ** 18n;
    case 8: return Object.create(null);
    case 9: return {};
    case 10: return [];
    case 11: return Array.from({ length: 1 + Math.floor(r() * 30) }, () => r() * 10);
    case 12: return Array.from({ length: 1 + Math.floor(r() * 8) }, () => (depth < 3 ? value(r, depth + 1) : 1));
    case 13: return new Float64Array(Math.floor(r() * 64)).map(() => r());
    case 14: return new Float32Array(Math.floor(r() * 30));
    case 15: return new Int8Array(5);
    case 16: {
      let d: unknown = 1;
      for (let i = 0; i < 2000; i++) d = [d];
      return d;
    }
    case 17: return JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}');
    case 18: return { a: r() * 10, b: [1, 2, 3], c: 'x' };
    case 19: return Array.from({ length: 1 + Math.floor(r() * 4) }, () => Array.from({ length: 24 }, () => r()));
    case 20: return Array.from({ length: 24 }, () => r());
    default: return depth < 3 ? { [pick(r, ['a', 'b', 'vibration', '__proto__', 'x.y'])]: value(r, depth + 1) } : 0;
  }
}

/** Hostile model files: a device that never ends, a FIFO nobody writes, a folder, nothing, garbage. */
let hostileFiles: string[] = [];

/** A message: payload and the properties the nodes read, each sometimes hostile. */
function message(r: Rand): Record<string, unknown> {
  const m: Record<string, unknown> = { payload: value(r) };
  if (r() < 0.3) m.topic = pick(r, ['a', 'b', '', '__proto__', 42, null, 'vibration']);
  if (r() < 0.2) m.timestamps = r() < 0.5 ? { a: value(r), b: [1, 2] } : value(r);
  if (r() < 0.1) m.quality = value(r);
  if (r() < 0.3) m.features = r() < 0.5 ? { names: value(r), shape: value(r) } : { names: Array.from({ length: 24 }, (_, i) => pick(r, [`f${i}`, '__proto__', 'a'])) };
  if (r() < 0.05) m.model = r() < 0.5 ? value(r) : { path: pick(r, hostileFiles), format: pick(r, ['onnx', undefined, 'pt']), metadata: r() < 0.5 ? value(r) : undefined };
  if (r() < 0.05) m.baseline = r() < 0.3 ? pick(r, ['get', 'learn', 'x']) : value(r);
  if (r() < 0.03) m.reset = value(r);
  return m;
}

/** What an error text must look like: it says what was expected (or what is missing), not a raw JavaScript error. */
const SAYS_WHAT = /expect|must|at most|at least|need|required|no model|no baseline|not a readable|cannot (read|use)|invalid configuration/i;

describe('fuzz: every node with random and malformed messages (seeded)', function () {
  this.timeout(180000);
  let dir: string;
  let model: string;
  const faults: string[] = [];
  const onUncaught = (e: unknown) => faults.push(`uncaught: ${(e as Error)?.stack ?? e}`);
  const onRejection = (e: unknown) => faults.push(`unhandled rejection: ${(e as Error)?.stack ?? e}`);

  before(() => {
    dir = tmpDir('fuzz');
    model = writeModel(dir, 'sum.onnx', sumModel(1000, 24, { name: 'sum', version: '1' }));
    const fifo = path.join(dir, 'model.fifo');
    execFileSync('mkfifo', [fifo]);
    fs.writeFileSync(path.join(dir, 'garbage.onnx'), Buffer.from('not a model at all \xff\xff\xff'));
    hostileFiles = ['/dev/zero', '/dev/urandom', fifo, dir, path.join(dir, 'nothing.onnx'), path.join(dir, 'garbage.onnx'), '../../../etc/shadow', '', 42 as unknown as string];
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onRejection);
  });
  after(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach((done) => {
    faults.length = 0;
    helper.startServer(done);
  });
  afterEach(async () => {
    await stopHelper();
  });

  const configs: Array<[string, unknown, () => Record<string, unknown>]> = [
    ['feature window, count, sliding', featureNode, () => ({ type: 'mlops-feature-window', windowKind: 'count', windowType: 'sliding', size: 8, hop: 2, features: 'mean,std,max,kurtosis' })],
    ['feature window, time, tumbling, FFT', featureNode, () => ({ type: 'mlops-feature-window', windowKind: 'time', windowType: 'tumbling', duration: 1000, features: 'mean,rms', fftChannels: 'a', bands: 4, sampleRate: 100 })],
    ['onnx infer', inferNode, () => ({ type: 'mlops-onnx-infer', modelPath: model })],
    ['drift detect, window, learned', driftNode, () => ({ type: 'mlops-drift-detect', baselineSource: 'learn', learnSize: 20, windowSize: 10, evaluateEvery: 2 })],
    ['drift detect, stream, ADWIN', driftNode, () => ({ type: 'mlops-drift-detect', mode: 'stream', detector: 'adwin' })],
    // read on demand from an endpoint where no server listens: every message fails saying why
    ['opcua read, read mode, no server', [endpointNode, readNode], () => ({ type: 'mlops-opcua-read', endpoint: 'ep', mode: 'read', channels: [{ name: 'a', nodeId: 'ns=1;s=A' }] })],
  ];

  configs.forEach(([label, node, props], c) => {
    it(`${label}: ${MESSAGES} messages, every one answered, errors say what was expected, no stall, no leak`, async () => {
      await helper.load([node, catchNode, completeNode].flat() as any, [
        ...(Array.isArray(node) ? [{ id: 'ep', type: 'mlops-opcua-endpoint', endpoint: 'opc.tcp://127.0.0.1:1/UA/Nobody', securityMode: 'None', securityPolicy: 'None', authType: 'anonymous', pkiFolder: path.join(dir, 'pki') }] : []),
        { id: 'n', ...props(), wires: [['out'], ['out']] },
        { id: 'out', type: 'helper' },
        { id: 'c', type: 'catch', scope: ['n'], uncaught: false, wires: [['caught']] },
        { id: 'k', type: 'complete', scope: ['n'], uncaught: false, wires: [['completed']] },
        { id: 'caught', type: 'helper' },
        { id: 'completed', type: 'helper' },
      ] as any);
      const n = helper.getNode('n') as unknown as { receive(m: unknown): void };
      // onnx infer: its deploy-time load (the first require of onnxruntime on this thread) is not what is measured
      if (label === 'onnx infer') await waitFor('the model loaded', () => (n as unknown as { log: { args: unknown[][] } }).log.args.find((a) => /loaded/.test(String(a[0]))));
      // the helper's spies keep every call's arguments (thousands of hostile messages): harness memory and GC pauses, not the node's
      unspy(helper, [n]);
      const errors: string[] = [];
      let completed = 0;
      (helper.getNode('caught') as any).on('input', (m: { error: { message: string } }) => errors.push(String(m.error.message)));
      (helper.getNode('completed') as any).on('input', () => completed++);
      const protoBefore = Object.getOwnPropertyNames(Object.prototype).join(',');
      const rss0 = process.memoryUsage().rss;
      const dog = await Watchdog.start(label);
      const r = mulberry32(SEED + c);
      for (let i = 0; i < MESSAGES; i++) {
        n.receive(message(r));
        if (i % 100 === 99) await new Promise((res) => setImmediate(res)); // let async work run
      }
      await waitFor(`${MESSAGES} messages answered (${label})`, () => (completed + errors.length >= MESSAGES ? true : undefined), 60000);
      const stall = await dog.stop();
      console.log(`      ${completed} done, ${errors.length} failed with done(err); longest stall ${stall} ms; RSS ${((process.memoryUsage().rss - rss0) / 1e6).toFixed(0)} MB more`);
      expect(faults, 'uncaught exceptions / unhandled rejections').to.deep.equal([]);
      expect(completed + errors.length, 'each message answered once').to.equal(MESSAGES);
      const unclear = [...new Set(errors.filter((e) => !SAYS_WHAT.test(e)))];
      expect(unclear, 'errors that do not say what was expected').to.deep.equal([]);
      expect(stall, 'longest event-loop stall, ms').to.be.below(1000);
      expect(process.memoryUsage().rss - rss0, 'RSS growth').to.be.below(300e6);
      expect(Object.getOwnPropertyNames(Object.prototype).join(',')).to.equal(protoBefore);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    });
  });
});
