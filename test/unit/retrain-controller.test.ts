/**
 * The retrain trigger's controller without Node-RED (nodes/lib/retrain/controller.ts), on a real
 * buffer folder, with the action given as a function: a label by time joins the window within its
 * length; a failed retrain, or one a kill cut short, gives back its data and the day's count; a
 * pipeline's pending request is not cleared by the model deployed when it was asked (registry
 * pull sends that again at every start), only by a new one.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { parseRetrainConfig, RetrainController, type ActionRunner, type RetrainJob } from '../../nodes/lib/retrain/controller';
import type { Decision } from '../../nodes/lib/retrain/policy';
import { sleep, tmpDir, waitFor } from '../support/red';

const NAMES = ['a', 'b'];
const config = parseRetrainConfig({ holdMinutes: 0, cooldownMinutes: 0, minRows: 10, maxPerDay: 2, bufferMB: 1 });

describe('retrain trigger: the controller (lib)', () => {
  let dir: string;
  let sent: Array<{ output: number; msg: Record<string, any> }>;
  let failures: unknown[];
  let controllers: RetrainController[];
  beforeEach(() => {
    dir = tmpDir('retrain-ctl');
    sent = [];
    failures = [];
    controllers = [];
  });
  afterEach(async () => {
    for (const c of controllers) await c.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open(run: ActionRunner): Promise<RetrainController> {
    const c = new RetrainController(config, dir, run, {
      send: (output, msg) => sent.push({ output, msg }),
      status: () => undefined,
      log: () => undefined,
      warn: () => undefined,
      failed: (e) => failures.push(e),
      explain: (d: Decision) => d.text,
    });
    await c.open();
    controllers.push(c);
    return c;
  }
  const windows = async (c: RetrainController, n: number, t0: number, lengthMs = 60_000) => {
    for (let i = 0; i < n; i++) await c.input({ payload: [i, -i], features: { names: NAMES, window: { start: t0 + i * lengthMs - lengthMs, end: t0 + i * lengthMs, count: 50 } } });
  };
  const decisions = () => sent.filter((s) => s.output === 1).map((s) => String(s.msg.payload));

  it('joins a label by time to the window that spans it (60 s windows, a label 20 s before the end)', async () => {
    let job: RetrainJob | undefined;
    const c = await open(async (j) => ((job = j), { payload: 'ok' }));
    const t0 = Date.now();
    await windows(c, 12, t0);
    for (let i = 0; i < 12; i++) await c.input({ label: i % 2, labelTime: t0 + i * 60_000 - 20_000 });
    await c.input({ retrain: true });
    await waitFor('the action', () => job);
    expect(job!.dataset).to.include({ rows: 12, labelled: 12 });
    expect(Date.parse(job!.dataset!.span.start)).to.equal(t0 - 60_000);
  });

  it('a failed retrain gives back its rows and the day\'s count; so does one a kill cut short', async () => {
    let fail = true;
    const c = await open(async () => {
      if (fail) throw new Error('HTTP 401 from the pipeline');
      return { payload: 'ok' };
    });
    await windows(c, 12, Date.now() - 13 * 60_000);
    await c.input({ retrain: true });
    await waitFor('the failure', () => failures[0]);
    await c.input({ retrain: true });
    await waitFor('a second failure', () => failures[1]);
    // two failures, maxPerDay 2: still possible, with the same 12 rows
    fail = false;
    await c.input({ retrain: true });
    await waitFor('the result', () => sent.find((s) => s.output === 0));
    expect(decisions().filter((d) => d === 'retrain requested, 12 new rows: retraining')).to.have.length(3);
    await c.close();
    controllers = [];
    // a kill in the middle of a retrain: state.json says one is running; the next open undoes it
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
    const at = Date.now();
    // (the third retrain's request was decided meanwhile: nothing pending)
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ ...state, policy: { ...state.policy, pending: undefined, retrains: [...state.policy.retrains, at] }, lastRetrainAt: at, running: { at, previous: state.lastRetrainAt } }));
    sent = [];
    const c2 = await open(async () => ({ payload: 'ok' }));
    await windows(c2, 12, at + 1000);
    await c2.input({ retrain: true });
    // one retrain done today (maxPerDay 2): the killed one does not count
    await waitFor('a decision', () => decisions()[0]);
    expect(decisions()[0]).to.equal('retrain requested, 12 new rows: retraining');
  });

  it('a pipeline\'s pending request waits for a model other than the one deployed when it was asked', async () => {
    const c = await open(async () => ({ payload: { runId: '17' } }));
    const deployed = { model: { name: 'm', version: '1', digest: 'sha256:' + '1'.repeat(64), path: '/m.onnx', metadata: { features: NAMES } }, approval: { decision: 'approved' } };
    await c.input(deployed);
    await windows(c, 12, Date.now() - 13 * 60_000);
    await c.input({ retrain: true });
    await waitFor('the request', () => sent.find((s) => s.output === 0));
    // registry pull sends the deployed model again (a restart): still pending
    await c.input(deployed);
    await c.input({ retrain: true });
    await sleep(20);
    expect(decisions().at(-1)).to.equal('candidate m from the pipeline waits for approval: no retrain until it is decided');
    // the pipeline's model arrives and is approved: no longer pending
    await c.input({ ...deployed, model: { ...deployed.model, version: '2', digest: 'sha256:' + '2'.repeat(64) } });
    await windows(c, 12, Date.now() + 100_000);
    await c.input({ retrain: true });
    await sleep(20);
    expect(decisions().at(-1)).to.equal('retrain requested, 12 new rows: retraining');
  });

  it('a new model deployed starts the drift clock again: drift judged against the old model does not count', async () => {
    const c = await open(async () => ({ payload: 'ok' }));
    const model = (v: string, d: string) => ({ model: { name: 'm', version: v, digest: 'sha256:' + d.repeat(64), path: '/m.onnx', metadata: { features: NAMES } }, approval: { decision: 'approved' } });
    await c.input(model('1', '1'));
    const since = Date.now() - 3_600_000;
    await c.input({ drift: { state: 'drift', since, at: Date.now() } });
    // hold 0: drift held for an hour, but too few rows yet
    expect(decisions().at(-1)).to.match(/^drift for 1 h: 0 new rows of 10 needed$/);
    await c.input(model('2', '2'));
    const n = decisions().length;
    // a report still judged against model 1 (in flight at the switch) is not a decision about model 2
    await c.input({ drift: { state: 'drift', since, at: Date.now(), baseline: { source: 'model', digest: 'sha256:' + '1'.repeat(64), features: 2 } } });
    expect(decisions()).to.have.length(n);
    await c.input({ drift: { state: 'drift', at: Date.now(), baseline: { source: 'model', digest: 'sha256:' + '2'.repeat(64), features: 2 } } });
    expect(decisions().at(-1)).to.match(/^drift for 0 s: 0 new rows of 10 needed$/);
  });
});
