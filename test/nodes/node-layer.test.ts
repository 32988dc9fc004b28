/**
 * What the shared node layer changed for users of the nodes, in Node-RED (test helper): a bad
 * number in a node's configuration is reported, not turned into a default (onnx infer took
 * threads "abc" as 1 and threshold "x" as 0.5); both model-taking nodes agree on what a model
 * message is (drift detect took an array in msg.model for one, onnx infer refused it).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import { helper, tmpDir, waitFor, stopHelper } from '../support/red';
import { sumModel, writeModel } from '../support/onnx-models';
import inferNode = require('../../nodes/mlops-onnx-infer');
import driftNode = require('../../nodes/mlops-drift-detect');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

type AnyNode = { receive(msg: unknown): void; on(ev: string, cb: (x: any) => void): void; status: { args: any[][] }; error: { args: any[][] } };

describe('shared node layer in Node-RED', function () {
  this.timeout(60000);
  let dir: string;
  let model: string;
  before(() => {
    dir = tmpDir('layer');
    model = writeModel(dir, 'a.onnx', sumModel(1000, 24, { name: 'sum', version: 'A' }));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach((done) => {
    helper.startServer(done);
  });
  afterEach(async () => {
    await stopHelper();
  });

  async function load(node: unknown, props: Record<string, unknown>) {
    await helper.load([node, catchNode] as any, [
      { id: 'n', wires: [['out'], ['out']], ...props },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ] as any);
    const n = helper.getNode('n') as unknown as AnyNode;
    const got: any[] = [];
    const errs: string[] = [];
    (helper.getNode('out') as unknown as AnyNode).on('input', (m) => got.push(m));
    (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => errs.push(String(m.error.message).replace(/^Error: /, '')));
    return { n, got, errs };
  }

  const badInfer: Array<[Record<string, unknown>, string]> = [
    [{ threads: 'abc' }, 'threads must be a number, got "abc"'],
    [{ threads: '0' }, 'threads must be at least 1, got 0'],
    [{ threshold: 'x' }, 'threshold must be a number, got "x"'],
    [{ batchSize: '2.5' }, 'batchSize must be a whole number, got "2.5"'],
    [{ output: 'probability' }, 'output must be one of score, label, vector, got "probability"'],
    [{ optimization: 'max' }, 'optimization must be one of disabled, basic, extended, all, got "max"'],
  ];
  it('onnx infer: a bad number or choice in the configuration is reported, and every message fails with it', async () => {
    for (const [props, reason] of badInfer) {
      const { n, errs } = await load(inferNode, { type: 'mlops-onnx-infer', modelPath: model, ...props });
      expect(n.error.args.map((a) => a[0]), JSON.stringify(props)).to.deep.equal([`invalid configuration: ${reason}`]);
      expect(n.status.args.map((a) => a[0]), JSON.stringify(props)).to.deep.equal([{ fill: 'red', shape: 'ring', text: 'invalid configuration' }]);
      n.receive({ payload: new Array(24).fill(0) });
      await waitFor('the message failed', () => errs[0]);
      expect(errs).to.deep.equal([`invalid configuration: ${reason}`]);
      await helper.unload();
    }
  });

  const notModel = (got: string) => `msg.model must describe a model: an object with "path" (the .onnx file) or "metadata", got ${got}`;

  it('drift detect: a msg.model that describes no model fails and changes nothing (stream mode: the detector is not reset)', async () => {
    const { n, got, errs } = await load(driftNode, { type: 'mlops-drift-detect', mode: 'stream', detector: 'page-hinkley', detectorParams: 'threshold=5, min_instances=5', clear: 1000 });
    for (let i = 0; i < 30; i++) n.receive({ payload: i < 10 ? 0 : 10 });
    await waitFor('drift', () => got.find((m) => m.payload === 'drift'));
    for (const model of [[], {}, { path: 42 }, { name: 'x' }, 'a.onnx']) n.receive({ payload: 10, model });
    await waitFor('five errors', () => (errs.length === 5 ? true : undefined));
    expect(errs).to.deep.equal([notModel('an empty array'), notModel('an empty object'), notModel('an object with "path"'), notModel('an object with "name"'), notModel('the text "a.onnx"')]);
    // before, msg.model = [] reset the detector from drift to ok
    expect(got.filter((m) => m.payload === 'ok')).to.deep.equal([]);
  });

  it('drift detect: a message Node-RED cannot copy fails that message through done(err); the next ones are answered', async () => {
    const { n, got, errs } = await load(driftNode, { type: 'mlops-drift-detect', mode: 'stream', detector: 'page-hinkley', detectorParams: 'threshold=5, min_instances=5', clear: 1000 });
    for (let i = 0; i < 30; i++) n.receive({ payload: i < 10 ? 0 : 10 });
    await waitFor('drift', () => got.find((m) => m.payload === 'drift'));
    // a new model resets the detector: the return to ok goes out with the input's properties, one of which throws when read
    const msg: Record<string, unknown> = { model: { name: 'm', metadata: {} } };
    Object.defineProperty(msg, 'bad', { enumerable: true, get: () => { throw new Error('this property cannot be read'); } });
    n.receive(msg);
    await waitFor('the error', () => errs[0]);
    expect(errs[0]).to.equal('this property cannot be read; Node-RED cannot copy this message (this property cannot be read): expected a message without getters that throw, proxies or nesting thousands of levels deep');
    n.receive({ payload: 'x' });
    await waitFor('the next message answered', () => errs[1]);
    expect(errs[1]).to.match(/^expected msg.payload to be a number/);
  });

  it('onnx infer: a msg.model that describes no model fails and the model keeps serving', async () => {
    const { n, got, errs } = await load(inferNode, { type: 'mlops-onnx-infer', modelPath: model });
    for (const m of [[{ path: 'other.onnx' }], { name: 'x' }]) n.receive({ payload: new Array(24).fill(0), model: m });
    await waitFor('two errors', () => (errs.length === 2 ? true : undefined));
    expect(errs).to.deep.equal([notModel('an array of 1'), notModel('an object with "name"')]);
    n.receive({ payload: new Array(24).fill(0) });
    await waitFor('scored', () => got[0]);
    expect(got[0].payload).to.be.closeTo(1000, 1e-6);
  });

  it('drift detect, learn mode: a malformed msg.model keeps what was learned (it threw the learned vectors away)', async () => {
    const { n, errs } = await load(driftNode, { type: 'mlops-drift-detect', baselineSource: 'learn', learnSize: 20 });
    const names = ['a', 'b'];
    for (let i = 0; i < 10; i++) n.receive({ payload: [i, -i], features: { names } });
    n.receive({ model: {} });
    n.receive({ model: { name: 'x' } });
    await waitFor('two errors', () => (errs.length === 2 ? true : undefined));
    expect(errs).to.deep.equal([notModel('an empty object'), notModel('an object with "name"')]);
    n.receive({ payload: [10, -10], features: { names } });
    // the 11th vector counts as the 11th (relearning would have made it the 1st)
    await waitFor('learning status 11/20', () => n.status.args.find((a) => a[0].text === 'learning baseline 11/20'));
  });
});
