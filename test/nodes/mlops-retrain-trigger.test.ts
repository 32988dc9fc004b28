/**
 * retrain trigger inside Node-RED (node-red-node-test-helper): it buffers feature vectors and
 * labels, learns the deployed model from a model message, explains every decision on output 2
 * (holding, not enough data, go), and on go trains a candidate in a worker: a model message with
 * the deployed model's features, a next version and both models' metrics on the same held-out
 * rows. A candidate waiting for approval blocks the next retrain until a decision comes back.
 * Bad configurations and a retrain without a deployed model reach a Catch node with the reason.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { toOnnx } from '../../nodes/lib/model/export';
import { trainMlp } from '../../nodes/lib/model/trainer';
import { METADATA_VERSION } from '../../nodes/lib/model-metadata';
import { gaussian } from '../../nodes/lib/random';
import { helper, stopHelper, tmpDir, waitFor } from '../support/red';
import triggerNode = require('../../nodes/mlops-retrain-trigger');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

type AnyNode = { receive(msg: unknown): void; on(ev: string, cb: (x: any) => void): void; status: { args: any[][] } } & Record<string, any>;
const NAMES = ['a.mean', 'b.mean', 'c.rms'];

/** Rows of condition `shift` (0: A, 5: B) with a fault (class 1) raising feature a. */
function rows(n: number, shift: number, seed: number): { x: number[][]; y: number[] } {
  const g = gaussian(seed);
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const fault = i % 2;
    x.push([fault * 3 + g() * 0.5 + shift, g() + shift, g() * 0.3 + 1]);
    y.push(fault);
  }
  return { x, y };
}

describe('mlops-retrain-trigger node (local training in a worker)', function () {
  this.timeout(120000);
  let dir: string;
  let deployedPath: string;
  before(async () => {
    dir = tmpDir('retrain-node');
    const { x, y } = rows(200, 0, 1);
    const m = await trainMlp({ x, y, task: 'binary', hidden: [8], epochs: 40, batchSize: 32, learningRate: 0.01, seed: 3 });
    deployedPath = path.join(dir, 'deployed.onnx');
    fs.writeFileSync(deployedPath, toOnnx(m, { name: 'toy', version: '1.0.0', kind: 'classifier', features: NAMES, classes: ['healthy', 'fault'], metadataVersion: METADATA_VERSION, metrics: { accuracy: 0.9 } }));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    helper.settings({ userDir: dir });
    await new Promise<void>((r) => helper.startServer(() => r()));
  });
  afterEach(async () => {
    await stopHelper();
    helper.settings({});
    fs.rmSync(path.join(dir, 'mlops-retrain'), { recursive: true, force: true });
  });

  async function load(props: Record<string, unknown>) {
    const flow = [
      { id: 'rt', type: 'mlops-retrain-trigger', action: 'local', holdMinutes: 0, cooldownMinutes: 0, minRows: 100, maxPerDay: 5, bufferMB: 5, holdout: 20, epochs: 40, wires: [['out'], ['why']], ...props },
      { id: 'out', type: 'helper' },
      { id: 'why', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    await helper.load([triggerNode, catchNode], flow);
    const got = { out: [] as any[], why: [] as any[], errs: [] as any[] };
    (helper.getNode('out') as unknown as AnyNode).on('input', (m) => got.out.push(m));
    (helper.getNode('why') as unknown as AnyNode).on('input', (m) => got.why.push(m));
    (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => got.errs.push(m));
    return { n: helper.getNode('rt') as unknown as AnyNode, ...got };
  }
  const feed = (n: AnyNode, x: number[][], y: number[], t0: number) =>
    x.forEach((row, i) => {
      n.receive({ payload: row, features: { names: NAMES, window: { start: t0 + i * 1000 - 1000, end: t0 + i * 1000, count: 50 } }, windowId: `w${t0}-${i}` });
      n.receive({ label: y[i], labelId: `w${t0}-${i}` });
    });

  it('explains each decision, then trains a candidate with the deployed features and both models\' metrics; waits while it is pending', async () => {
    const { n, out, why, errs } = await load({});
    n.receive({ model: { name: 'toy', version: '1.0.0', digest: 'sha256:' + 'a'.repeat(64), path: deployedPath, format: 'onnx', metadata: { features: NAMES }, source: 'test' } });
    n.receive({ drift: { state: 'warn', method: 'ks', at: Date.now(), since: Date.now() } });
    await waitFor('a decision', () => why[0]);
    expect(why[0].payload).to.equal('no drift (warn)');
    const a = rows(120, 0, 11);
    const b = rows(120, 5, 12);
    feed(n, a.x, a.y, Date.now() - 300_000);
    n.receive({ drift: { state: 'drift', method: 'ks', at: Date.now(), since: Date.now() } });
    await waitFor('the second decision', () => why[1]);
    expect(why[1].retrain).to.include({ act: true, reason: 'go' });
    expect(why[1].payload).to.match(/^drift for \d+ s, 120 new rows: retraining$/);
    const cand = await waitFor('a candidate', () => out[0], 90000, 100);
    expect(errs).to.deep.equal([]);
    expect(cand.model).to.include({ name: 'toy', version: '1.0.1', format: 'onnx', source: 'retrain' });
    expect(cand.model.metadata.features).to.deep.equal(NAMES);
    expect(fs.existsSync(cand.model.path)).to.equal(true);
    expect(cand.evaluation.candidate).to.have.property('accuracy');
    expect(cand.evaluation.deployed).to.have.property('accuracy');
    expect(cand.evaluation.rows).to.equal(24);
    expect(cand.dataset).to.include({ rows: 120, labelled: 120 });
    // pending: B data and more drift do not start another retrain
    feed(n, b.x, b.y, Date.now());
    n.receive({ drift: { state: 'drift', method: 'ks', at: Date.now() } });
    await waitFor('the third decision', () => why[2]);
    expect(why[2].payload).to.equal('candidate toy 1.0.1 waits for approval: no retrain until it is decided');
    await waitFor('the status', () => n.status.args.find((s) => /waits for approval/.test(s[0].text ?? '')));
    // the gate rejects it: the next drift report may retrain again (B rows are new)
    n.receive({ ...cand, approval: { id: 'x', decision: 'rejected', by: 'anna', at: new Date().toISOString(), channel: 'api' } });
    n.receive({ drift: { state: 'drift', method: 'ks', at: Date.now() } });
    await waitFor('the fourth decision', () => why[3]);
    expect(why[3].retrain).to.include({ act: true });
    expect(why[3].payload).to.match(/120 new rows: retraining$/);
    const second = await waitFor('a second candidate', () => out[1], 90000, 100);
    expect(second.dataset.rows).to.equal(240);
  });

  it('a retrain without a deployed model fails to a Catch node saying what to wire', async () => {
    const { n, errs } = await load({ minRows: 10 });
    const a = rows(20, 0, 5);
    feed(n, a.x, a.y, Date.now());
    n.receive({ retrain: true });
    await waitFor('a caught error', () => errs[0], 20000);
    expect(errs[0].error.message).to.match(/no deployed model is known to retrain: wire the approved model messages/);
    await waitFor('a red status', () => n.status.args.find((s) => s[0].fill === 'red'));
  });

  it('refuses input with a bad configuration, naming the field', async () => {
    const { n, errs } = await load({ minRows: 'many' });
    n.receive({ retrain: true });
    await waitFor('a caught error', () => errs[0]);
    expect(errs[0].error.message).to.match(/minRows must be a number, got "many"/);
  });
});
