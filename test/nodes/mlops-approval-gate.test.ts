/**
 * approval gate inside Node-RED (node-red-node-test-helper, no adminAuth: the API's user is
 * "anonymous"): a model message waits, the status says so, the admin API lists it and decides it,
 * a decision from the flow (msg.approval) lets it leave, bad decisions and a full gate reach a
 * Catch node with what was expected, a redeploy keeps what was pending.
 * Permissions, adminAuth users and kill -9 are tested against a real Node-RED process in
 * test/integration/approval-process.test.ts.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { helper, stopHelper, tmpDir, waitFor } from '../support/red';
import gateNode = require('../../nodes/mlops-approval-gate');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

type AnyNode = { receive(msg: unknown): void; on(ev: string, cb: (x: any) => void): void; status: { args: any[][] } } & Record<string, any>;
const hex = (n: number) => n.toString(16).padStart(64, '0');
const modelMsg = (version: string, n: number) => ({
  topic: 'deploy',
  model: { name: 'bearing-fault', version, digest: `sha256:${hex(n)}`, path: `models/${n}.onnx`, format: 'onnx', metadata: { metrics: { accuracy: 0.97 } }, source: 'layout' },
  registry: { signature: { verified: true, key: 'sha256:abc' } },
});

describe('mlops-approval-gate node', function () {
  this.timeout(20000);
  let dir: string;
  beforeEach(async () => {
    dir = tmpDir('gate-node');
    helper.settings({ userDir: dir });
    await new Promise<void>((r) => helper.startServer(() => r()));
  });
  afterEach(async () => {
    await stopHelper();
    helper.settings({});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function load(gate: Record<string, unknown> = {}) {
    const flow = [
      { id: 'gate', type: 'mlops-approval-gate', name: 'model approval', approvals: '1', timeout: 0, maxPending: 10, wires: [['ok'], ['no']], ...gate },
      { id: 'ok', type: 'helper' },
      { id: 'no', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    await helper.load([gateNode, catchNode], flow);
    const out = { ok: [] as any[], no: [] as any[], errs: [] as any[] };
    (helper.getNode('ok') as unknown as AnyNode).on('input', (m) => out.ok.push(m));
    (helper.getNode('no') as unknown as AnyNode).on('input', (m) => out.no.push(m));
    (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => out.errs.push(m));
    const n = helper.getNode('gate') as unknown as AnyNode;
    await waitFor('the gate to open', () => n.status.args.find((a) => /no request pending|pending/.test(a[0].text ?? '')));
    return { n, ...out };
  }
  const pending = async () => (await helper.request().get('/mlops-approval/requests').expect(200)).body as { pending: any[]; recent: any[] };

  it('holds a model message, lists it in the admin API with its summary, and lets it leave on a decision from the flow', async () => {
    const { n, ok, no, errs } = await load();
    n.receive(modelMsg('1.1.0', 1));
    await waitFor('the status', () => n.status.args.find((a) => a[0].text === '1 pending: bearing-fault 1.1.0'));
    const { pending: p } = await pending();
    expect(p).to.have.length(1);
    expect(p[0]).to.include({ gate: 'gate', gateName: 'model approval', approvalsNeeded: 1 });
    expect(p[0].summary.model).to.include({ name: 'bearing-fault', version: '1.1.0', digest: `sha256:${hex(1)}` });
    expect(p[0].summary.model.signature).to.deep.equal({ verified: true, key: 'sha256:abc' });
    expect(p[0]).to.not.have.property('msg');
    expect(ok).to.deep.equal([]);
    n.receive({ approval: { id: p[0].id, decision: 'approve', by: 'shift lead', comment: 'line 3 ok' } });
    const m = await waitFor('the approved message', () => ok[0]);
    expect(m.model.version).to.equal('1.1.0');
    expect(m.topic).to.equal('deploy');
    expect(m.approval).to.include({ id: p[0].id, decision: 'approved', by: 'shift lead', comment: 'line 3 ok', channel: 'flow' });
    expect(no).to.deep.equal([]);
    expect(errs).to.deep.equal([]);
    const after = await pending();
    expect(after.pending).to.deep.equal([]);
    expect(after.recent[0]).to.include({ id: p[0].id, decision: 'approved', title: 'bearing-fault 1.1.0' });
  });

  it('decides through the admin API (anonymous without adminAuth), answers 409 for a decided id, 404 for an unknown one, 400 for a malformed body', async () => {
    const { n, ok, no } = await load();
    n.receive(modelMsg('1.1.0', 1));
    n.receive({ ...modelMsg('2.0.0', 2), model: { ...modelMsg('2.0.0', 2).model, name: 'spindle' } });
    await waitFor('two requests', () => n.status.args.find((a) => /^2 pending/.test(a[0].text ?? '')));
    const [a, b] = (await pending()).pending;
    const bad = await helper.request().post(`/mlops-approval/requests/${a.id}`).send({ decision: 'maybe' }).expect(400);
    expect(bad.body.error).to.match(/"decision": "approve" or "reject"/);
    const r = await helper.request().post(`/mlops-approval/requests/${a.id}`).send({ decision: 'approve', comment: 'ok' }).expect(200);
    expect(r.body.state).to.equal('approved');
    expect(r.body.approval).to.include({ by: 'anonymous', channel: 'api', comment: 'ok' });
    await waitFor('output 1', () => ok[0]);
    const again = await helper.request().post(`/mlops-approval/requests/${a.id}`).send({ decision: 'reject' }).expect(409);
    expect(again.body.error).to.match(/decided already \(approved by anonymous/);
    await helper.request().post('/mlops-approval/requests/zz-unknown').send({ decision: 'approve' }).expect(404);
    await helper.request().post(`/mlops-approval/requests/${b.id}`).send({ decision: 'reject', channel: 'editor' }).expect(200);
    const rejected = await waitFor('output 2', () => no[0]);
    expect(rejected.approval).to.include({ decision: 'rejected', channel: 'editor' });
    expect(ok).to.have.length(1);
    // every step, the refused ones too, is in the audit log
    const types = fs.readFileSync(path.join(dir, 'mlops-approval', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).type);
    expect(types).to.deep.equal(['request', 'request', 'decision', 'refused', 'refused', 'decision']);
  });

  it('sends a malformed decision, a decision for an unknown id and a request over the limit to a Catch node, saying what was expected', async () => {
    const { n, errs, ok } = await load({ maxPending: 1 });
    n.receive({ approval: { id: 'abc', decision: 'yes please' } });
    await waitFor('a caught error', () => errs[0]);
    expect(errs[0].error.message).to.match(/expected msg.approval = \{ id: "<request id>", decision: "approve" or "reject"/);
    n.receive({ approval: { id: 'nope-1', decision: 'approve', by: 'x' } });
    await waitFor('a second caught error', () => errs[1]);
    expect(errs[1].error.message).to.match(/no pending request has the id "nope-1"$/);
    n.receive(modelMsg('1.1.0', 1));
    n.receive({ ...modelMsg('1.0.0', 2), model: { ...modelMsg('1.0.0', 2).model, name: 'other' } });
    await waitFor('a third caught error', () => errs[2]);
    expect(errs[2].error.message).to.match(/1 requests are pending already \(at most 1\): "other 1.0.0" was refused/);
    expect(ok).to.deep.equal([]);
  });

  it('keeps pending requests over a redeploy and decides them afterwards', async () => {
    const first = await load();
    first.n.receive(modelMsg('1.1.0', 1));
    await waitFor('pending', () => first.n.status.args.find((a) => /^1 pending/.test(a[0].text ?? '')));
    const [p] = (await pending()).pending;
    await helper.unload();
    const { n, ok } = await load();
    await waitFor('pending again', () => n.status.args.find((a) => /^1 pending/.test(a[0].text ?? '')));
    expect((await pending()).pending.map((x) => x.id)).to.deep.equal([p.id]);
    n.receive({ approval: { id: p.id, decision: 'approved', by: 'anna' } });
    expect((await waitFor('output 1', () => ok[0])).model.version).to.equal('1.1.0');
  });

  it('refuses input with a bad configuration, saying which field', async () => {
    const flow = [
      { id: 'gate', type: 'mlops-approval-gate', approvals: '3', wires: [[], []] },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    await helper.load([gateNode, catchNode], flow);
    const errs: any[] = [];
    (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => errs.push(m));
    (helper.getNode('gate') as unknown as AnyNode).receive(modelMsg('1', 1));
    await waitFor('a caught error', () => errs[0]);
    expect(errs[0].error.message).to.match(/approvals must be at most 2, got 3/);
  });
});
