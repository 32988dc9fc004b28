/**
 * The approval gate's behaviour without Node-RED (nodes/lib/approval/gate.ts), on a real folder
 * and a real audit log: approve, reject, timeout with either outcome, at most N pending (refuse or
 * expire the oldest), four eyes, the requester, superseded versions, auto-approve rules, a
 * restart with pending requests, a decision applied once, messages kept byte for byte.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { AuditLog, verifyAuditLog } from '../../nodes/lib/approval/audit';
import { GateController, type GateConfig } from '../../nodes/lib/approval/gate';
import { decodeMessage, encodeMessage, RequestFiles } from '../../nodes/lib/approval/requests';
import { atLeastAsGood, compareMetrics, metricGoal } from '../../nodes/lib/approval/summary';
import { parseGateConfig } from '../../nodes/lib/approval/config';
import { sleep, tmpDir, waitFor } from '../support/red';

const CONFIG: GateConfig = { approvals: 1, timeoutMs: 0, timeoutOutcome: 'reject', maxPending: 10, whenFull: 'refuse', supersede: true, passApproved: true, autoApprove: false, autoMargin: 0, autoRequireSignature: true };
const hex = (n: number) => n.toString(16).padStart(64, '0');
const model = (version: string, n: number, metrics: Record<string, number> = { accuracy: 0.9 }, extra: Record<string, unknown> = {}) => ({
  topic: 'deploy',
  model: { name: 'bearing-fault', version, digest: `sha256:${hex(n)}`, path: `/m/${n}.onnx`, format: 'onnx', metadata: { metrics }, source: 'layout' },
  ...extra,
});
const user = (name: string, decision: 'approve' | 'reject' = 'approve', comment?: string) => ({ decision, by: name, identity: `user:${name}`, channel: 'api' as const, comment });

describe('approval gate: requests, policies and decisions (lib)', () => {
  let dir: string;
  let audit: AuditLog | undefined;
  let sent: Array<{ output: 0 | 1; msg: Record<string, any> }>;
  let gates: GateController[];
  beforeEach(() => {
    dir = tmpDir('gate');
    sent = [];
    gates = [];
  });
  afterEach(async () => {
    for (const g of gates) await g.close();
    await audit?.close();
    audit = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open(config: Partial<GateConfig> = {}): Promise<GateController> {
    if (!audit) audit = await AuditLog.open(path.join(dir, 'audit.jsonl'));
    const files = await RequestFiles.open(path.join(dir, 'requests'));
    const g = new GateController('gate1', 'model approval', { ...CONFIG, ...config }, files, audit, {
      send: (output, msg) => sent.push({ output, msg }),
      warn: () => undefined,
      changed: () => undefined,
    });
    await g.start();
    gates.push(g);
    return g;
  }
  const records = async () => (await audit!.read()).map((r) => ({ type: r.type, ...(r.approval as object) })) as Array<Record<string, unknown>>;

  it('holds a model message until a person approves it, then sends it on output 1 with msg.approval, once', async () => {
    const g = await open();
    const { id } = await g.request(model('1.1.0', 1));
    expect(sent).to.deep.equal([]);
    expect(g.list()).to.have.length(1);
    expect(g.list()[0].summary).to.include({ title: 'bearing-fault 1.1.0' });
    const r = await g.decide(id, user('anna', 'approve', 'looks good'));
    expect(r.state).to.equal('approved');
    expect(sent).to.have.length(1);
    expect(sent[0].output).to.equal(0);
    expect(sent[0].msg.model.version).to.equal('1.1.0');
    expect(sent[0].msg.approval).to.include({ id, decision: 'approved', by: 'anna', comment: 'looks good', channel: 'api' });
    expect(Date.parse(sent[0].msg.approval.at)).to.be.closeTo(Date.now(), 5000);
    // a second decision is an error, not a second output
    const again = await g.decide(id, user('ben', 'reject')).catch((e) => e);
    expect(again.code).to.equal('decided');
    expect(again.message).to.match(/decided already \(approved by anna/);
    expect(sent).to.have.length(1);
    // the file stays for the delivery grace (a crash now passes the message on again), and goes at close
    expect(fs.readdirSync(path.join(dir, 'requests'))).to.deep.equal([`${id}.json`]);
    await g.close();
    expect(fs.readdirSync(path.join(dir, 'requests'))).to.deep.equal([]);
    const types = (await records()).map((r) => r.type);
    expect(types).to.deep.equal(['request', 'decision', 'refused']);
    expect((await verifyAuditLog(audit!.file)).ok).to.equal(true);
  });

  it('rejects on output 2; an unknown id is refused and audited with who tried', async () => {
    const g = await open();
    const { id } = await g.request(model('1.1.0', 1));
    await g.decide(id, user('anna', 'reject', 'metrics worse on line 3'));
    expect(sent.map((s) => [s.output, s.msg.approval.decision])).to.deep.equal([[1, 'rejected']]);
    const e = await g.decide('nope-123', user('mallory')).catch((x) => x);
    expect(e.code).to.equal('unknownId');
    const refused = (await audit!.read()).filter((r) => r.type === 'refused');
    expect(refused).to.have.length(1);
    expect(refused[0]).to.include({ id: 'nope-123', by: 'mallory', code: 'unknownId' });
  });

  it('expires a request at its timeout: rejected by default (output 2), or approved when chosen, as the gate', async () => {
    const g = await open({ timeoutMs: 150 });
    const { id } = await g.request(model('1.1.0', 1));
    await waitFor('expiry', () => sent[0]);
    expect(sent[0].output).to.equal(1);
    expect(sent[0].msg.approval).to.include({ id, decision: 'expired', channel: 'auto', reason: 'timeout' });
    await g.close();
    const g2 = await open({ timeoutMs: 150, timeoutOutcome: 'approve' });
    await g2.request(model('1.2.0', 2));
    await waitFor('expiry', () => sent[1]);
    expect(sent[1].output).to.equal(0);
    expect(sent[1].msg.approval).to.include({ decision: 'approved', channel: 'auto', reason: 'timeout' });
  });

  it('at most N pending: refuses a new request, or expires the oldest (reason capacity)', async () => {
    const other = (n: number) => ({ payload: n, topic: `t${n}` });
    const g = await open({ maxPending: 2 });
    await g.request(other(1));
    await g.request(other(2));
    const e = await g.request(other(3)).catch((x) => x);
    expect(e.code).to.equal('full');
    expect(e.message).to.match(/2 requests are pending already/);
    expect(g.size).to.equal(2);
    await g.close();
    fs.rmSync(path.join(dir, 'requests'), { recursive: true });
    const g2 = await open({ maxPending: 2, whenFull: 'expire-oldest' });
    await g2.request(other(1));
    await g2.request(other(2));
    await g2.request(other(3));
    expect(g2.size).to.equal(2);
    expect(sent).to.have.length(1);
    expect(sent[0].msg.payload).to.equal(1);
    expect(sent[0].msg.approval).to.include({ decision: 'expired', reason: 'capacity' });
  });

  it('four eyes: two different people; the same person twice and the requester never count', async () => {
    const g = await open({ approvals: 2 });
    const { id } = await g.request(model('1.1.0', 1, {}, { requester: 'carl' }));
    expect((await g.decide(id, user('carl')).catch((e) => e)).code).to.equal('ownRequest');
    expect(await g.decide(id, user('anna'))).to.include({ state: 'waiting', votes: 1 });
    expect(sent).to.deep.equal([]);
    const twice = await g.decide(id, user('anna')).catch((e) => e);
    expect(twice.code).to.equal('twice');
    expect(twice.message).to.match(/anna approved this request already/);
    // the vote survives a restart (it is in the audit log)
    await g.close();
    const g2 = await open({ approvals: 2 });
    expect(g2.list()[0].votes.map((v) => v.by)).to.deep.equal(['anna']);
    expect((await g2.decide(id, user('anna')).catch((e) => e)).code).to.equal('twice');
    const r = await g2.decide(id, user('ben'));
    expect(r.state).to.equal('approved');
    expect(sent[0].msg.approval.approvers).to.deep.equal(['anna', 'ben']);
    // the requester may still reject
    const { id: id2 } = await g2.request(model('1.2.0', 2, {}, { requester: 'carl' }));
    expect((await g2.decide(id2, user('carl', 'reject'))).state).to.equal('rejected');
  });

  it('a newer version of the same model expires the older request (superseded); the same digest again is one request', async () => {
    const g = await open();
    const a = await g.request(model('1.1.0', 1));
    const again = await g.request(model('1.1.0', 1));
    expect(again).to.deep.equal({ id: a.id, repeated: true });
    await g.request(model('1.2.0', 2));
    expect(sent.map((s) => [s.msg.model.version, s.msg.approval.decision, s.msg.approval.reason])).to.deep.equal([['1.1.0', 'expired', 'superseded']]);
    expect(g.list().map((r) => r.summary.title)).to.deep.equal(['bearing-fault 1.2.0']);
  });

  it('auto-approves a model approved before (same digest) and one whose metrics are at least as good, with a verified signature; audited as auto', async () => {
    const g = await open({ autoApprove: true, autoMargin: 0.01 });
    const first = await g.request(model('1.0.0', 1, { accuracy: 0.9, rmse: 10 }));
    await g.decide(first.id, user('anna'));
    // the same model again (a restart of registry pull): passes at once
    const r = await g.request(model('1.0.0', 1, { accuracy: 0.9, rmse: 10 }));
    expect(r.decision).to.include({ decision: 'approved', channel: 'auto', reason: 'approved before' });
    // better metrics but no verified signature: waits
    const unsigned = await g.request(model('1.1.0', 2, { accuracy: 0.95, rmse: 8 }));
    expect(unsigned.decision).to.equal(undefined);
    // better by more than 1 %, signed: approved
    const signed = await g.request(model('1.2.0', 3, { accuracy: 0.95, rmse: 8 }, { registry: { signature: { verified: true, key: 'sha256:k' } } }));
    expect(signed.decision).to.include({ decision: 'approved', channel: 'auto', reason: 'metrics' });
    // compared with the deployed model (1.2.0 now): rmse worse → waits
    const worse = await g.request(model('1.3.0', 4, { accuracy: 0.96, rmse: 9 }, { registry: { signature: { verified: true } } }));
    expect(worse.decision).to.equal(undefined);
    const auto = (await audit!.read()).filter((x) => x.type === 'decision' && (x.approval as { channel: string }).channel === 'auto' && (x.approval as { decision: string }).decision === 'approved');
    expect(auto).to.have.length(2);
  });

  it('refuses a model whose input features differ from the deployed model\'s (the flow could not feed it), naming missing and extra ones; audited', async () => {
    const g = await open();
    const withFeatures = (version: string, n: number, features: string[]) => {
      const m = model(version, n);
      return { ...m, model: { ...m.model, metadata: { ...m.model.metadata, features } } };
    };
    const first = await g.request(withFeatures('1.0.0', 1, ['speed.rms', 'vibration.rms', 'temperature.mean']));
    await g.decide(first.id, user('anna'));
    const e = await g.request(withFeatures('1.1.0', 2, ['speed.rms', 'vibration.rms', 'current.mean'])).catch((x) => x);
    expect(e.code).to.equal('featureMismatch');
    expect(e.message).to.equal('"bearing-fault 1.1.0" takes other input features than bearing-fault 1.0.0, which the flow feeds: missing current.mean; extra temperature.mean');
    const o = await g.request(withFeatures('1.2.0', 3, ['vibration.rms', 'speed.rms', 'temperature.mean'])).catch((x) => x);
    expect(o.code).to.equal('featureOrder');
    expect(g.size).to.equal(0);
    expect((await audit!.read()).filter((r) => r.type === 'refused').map((r) => r.code)).to.deep.equal(['featureMismatch', 'featureOrder']);
    // the same features: held as usual
    await g.request(withFeatures('1.3.0', 4, ['speed.rms', 'vibration.rms', 'temperature.mean']));
    expect(g.size).to.equal(1);
  });

  it('takes up pending requests after a restart, with their messages intact (Buffers, typed arrays) and timers running on', async () => {
    const g = await open({ timeoutMs: 60000 });
    const msg = { ...model('1.1.0', 1), batch: new Float64Array([1.5, -2, 3e-300]), raw: Buffer.from([0, 255, 7]), nested: { when: 'x' } };
    const { id } = await g.request(msg);
    await g.close();
    const g2 = await open({ timeoutMs: 60000 });
    expect(g2.list().map((r) => r.id)).to.deep.equal([id]);
    expect(g2.list()[0].expires).to.equal(g.list()[0]?.expires ?? g2.list()[0].expires);
    await g2.decide(id, user('anna'));
    const out = sent[0].msg;
    expect(out.batch).to.be.instanceOf(Float64Array);
    expect(Array.from(out.batch as Float64Array)).to.deep.equal([1.5, -2, 3e-300]);
    expect(Buffer.isBuffer(out.raw) && [...out.raw]).to.deep.equal([0, 255, 7]);
    expect(out.nested).to.deep.equal({ when: 'x' });
  });

  it('passes on a decision that was committed but whose message had not left (a crash), once, marked recovered', async () => {
    const g = await open();
    const { id } = await g.request(model('1.1.0', 1));
    const file = path.join(dir, 'requests', `${id}.json`);
    const kept = fs.readFileSync(file);
    await g.decide(id, user('anna'));
    await g.close();
    // as if Node-RED died after the audit record, before the message left and the file went
    fs.writeFileSync(file, kept);
    sent = [];
    const g2 = await open();
    expect(sent).to.have.length(1);
    expect(sent[0].msg.approval).to.include({ id, decision: 'approved', by: 'anna', recovered: true });
    expect(g2.size).to.equal(0);
    await g2.close();
    expect(fs.existsSync(file)).to.equal(false);
    sent = [];
    await open();
    expect(sent).to.deep.equal([]);
  });

  it('decisions in turn: two decisions racing for one request give one output and one refusal', async () => {
    const g = await open();
    const { id } = await g.request(model('1.1.0', 1));
    const results = await Promise.allSettled([g.decide(id, user('anna')), g.decide(id, user('ben', 'reject'))]);
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected']);
    expect(sent).to.have.length(1);
    await sleep(10);
  });
});

describe('approval gate: metrics and configuration (lib)', () => {
  it('knows which way a metric is better, and compares only metrics both models have', () => {
    expect(metricGoal('accuracy')).to.equal('higher');
    expect(metricGoal('test_rmse')).to.equal('lower');
    expect(metricGoal('phm08')).to.equal('lower');
    expect(metricGoal('trainRows')).to.equal(undefined);
    const rows = compareMetrics({ auc: 0.95, rmse: 12, rows: 1000 }, { auc: 0.9, rmse: 12.5 });
    expect(rows.map((r) => [r.name, r.better])).to.deep.equal([['auc', true], ['rmse', true], ['rows', undefined]]);
    expect(atLeastAsGood(rows, 0)).to.equal(true);
    expect(atLeastAsGood(rows, 0.05)).to.equal(false); // rmse is only 4 % better
    expect(atLeastAsGood(compareMetrics({ rows: 1 }, { rows: 2 }), 0)).to.equal(false); // nothing comparable is no evidence
  });

  it('reads the dialog\'s fields, names a bad one, and asks for a topic and keys with a broker', () => {
    const c = parseGateConfig({ approvals: '2', timeout: '90', timeoutUnit: 'minutes', autoMargin: '1' });
    expect(c).to.include({ approvals: 2, timeoutMs: 5_400_000, autoMargin: 0.01, maxPending: 10, whenFull: 'refuse', passApproved: true });
    expect(() => parseGateConfig({ approvals: '3' })).to.throw(/approvals must be at most 2/);
    expect(() => parseGateConfig({ whenFull: 'drop' })).to.throw(/whenFull must be one of refuse, expire-oldest/);
    expect(() => parseGateConfig({ mqttBroker: 'b', mqttTopic: 'a/b' }, undefined)).to.throw(/approver public key/);
    expect(() => parseGateConfig({ mqttBroker: 'b', approverKeys: 'x' }, undefined)).to.throw(/topic/);
  });

  it('keeps a message\'s Buffers and typed arrays through its file form', () => {
    const m = decodeMessage(encodeMessage({ a: new Uint8Array([1, 2]), b: Buffer.from('hi'), c: [new Float32Array([0.5])] }));
    expect(m.a).to.be.instanceOf(Uint8Array);
    expect((m.b as Buffer).toString()).to.equal('hi');
    expect((m.c as Float32Array[])[0][0]).to.equal(0.5);
  });
});
