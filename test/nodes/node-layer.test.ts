/**
 * What the shared node layer changed for users of the nodes, in Node-RED (test helper): a bad
 * number in a node's configuration is reported, not turned into a default (onnx infer took
 * threads "abc" as 1 and threshold "x" as 0.5); both model-taking nodes agree on what a model
 * message is (drift detect took an array in msg.model for one, onnx infer refused it).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import { helper, tmpDir, waitFor } from '../support/red';
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
    await helper.unload();
    await new Promise<void>((r) => helper.stopServer(() => r()));
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

  it('onnx infer: an array in msg.model is not a model message: the payload is scored', async () => {
    const { got, errs } = await load(inferNode, { type: 'mlops-onnx-infer', modelPath: model });
    await waitFor('scored', () => {
      if (got.length === 0) (helper.getNode('n') as unknown as AnyNode).receive({ payload: new Array(24).fill(0), model: [{ path: 'other.onnx' }] });
      return got[0];
    });
    expect(got[0].payload).to.be.closeTo(1000, 1e-6);
    expect(errs).to.deep.equal([]);
  });

  it('drift detect: an array in msg.model is not a model message either (it was read as one)', async () => {
    const { n, errs } = await load(driftNode, { type: 'mlops-drift-detect', mode: 'stream', detector: 'page-hinkley' });
    n.receive({ payload: 0.5, model: [{ path: 'other.onnx' }] });
    n.receive({ payload: 'x', model: [{ path: 'other.onnx' }] });
    await waitFor('the bad signal failed', () => errs[0]);
    // the first went to the detector as a value; the second failed as a signal, not as a model read
    expect(errs).to.deep.equal(['expected msg.payload to be a number (a score, a prediction error, 0/1 for DDM) or an array of numbers, got the string "x"']);
  });
});
