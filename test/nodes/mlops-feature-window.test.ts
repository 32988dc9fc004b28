/**
 * The feature window node inside Node-RED (node-red-node-test-helper). The helper's RED._ returns
 * the i18n key itself, so texts are checked by key here; a test below checks that every key the
 * node uses exists in both catalogs (en-US, de).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as ss from 'simple-statistics';
import { helper, waitFor, stopHelper } from '../support/red';
import fwNode = require('../../nodes/mlops-feature-window');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

type AnyNode = {
  receive(msg: unknown): void;
  on(ev: string, cb: (x: any) => void): void;
  status: { args: unknown[][]; lastCall?: { args: unknown[] } };
  error: { args: unknown[][] };
  warn: { args: unknown[][] };
};

function flow(props: Record<string, unknown>) {
  return [
    { id: 'fw', type: 'mlops-feature-window', wires: [['out']], ...props },
    { id: 'out', type: 'helper' },
    { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

async function load(props: Record<string, unknown>) {
  await helper.load([fwNode, catchNode], flow(props));
  const fw = helper.getNode('fw') as unknown as AnyNode;
  const out = helper.getNode('out') as unknown as AnyNode;
  const caught = helper.getNode('caught') as unknown as AnyNode;
  const got: any[] = [];
  const errs: any[] = [];
  out.on('input', (m) => got.push(m));
  caught.on('input', (m) => errs.push(m));
  return { fw, got, errs };
}

describe('mlops-feature-window node', () => {
  beforeEach((done) => { helper.startServer(done); });
  afterEach(async () => {
    await stopHelper();
  });

  it('sends a combined feature vector with names and window; keeps other msg properties', async () => {
    const { fw, got } = await load({ channels: 'vibration, temperature', size: 4, hop: 2, features: 'mean,std,rms' });
    const v = [1, -2, 3, 0.5, 4, -1];
    const tp = [350, 350.01, 349.99, 350.02, 350, 350.03];
    for (let i = 0; i < v.length; i++) {
      fw.receive({
        payload: { temperature: tp[i], vibration: v[i], unused: 1 },
        timestamps: { vibration: 1000 + i, temperature: 1000 + i },
        quality: { vibration: { good: true, status: 'Good', code: 0 } },
        topic: 'machine1',
        extra: { keep: true },
      });
    }
    await waitFor('two outputs', () => (got.length >= 2 ? true : undefined));
    expect(got.length).to.equal(2); // windows ending at samples 3 and 5
    const m = got[1];
    expect(m.features.names).to.deep.equal([
      'vibration.mean', 'vibration.std', 'vibration.rms', 'temperature.mean', 'temperature.std', 'temperature.rms',
    ]);
    const wv = v.slice(2, 6);
    const wt = tp.slice(2, 6);
    const want = [ss.mean(wv), ss.standardDeviation(wv), ss.rootMeanSquare(wv), ss.mean(wt), ss.standardDeviation(wt), ss.rootMeanSquare(wt)];
    m.payload.forEach((x: number, i: number) => expect(x).to.be.closeTo(want[i], 1e-9 * Math.max(1, Math.abs(want[i]))));
    expect(m.features.window).to.deep.equal({ start: 1002, end: 1005, count: 4 });
    expect(m.topic).to.equal('machine1');
    expect(m.extra).to.deep.equal({ keep: true });
    expect(m._msgid).to.be.a('string');
    expect(m).to.not.have.property('timestamps');
    expect(m).to.not.have.property('quality');
  });

  it('per-channel mode: one message per channel window with msg.topic = channel', async () => {
    const { fw, got } = await load({ channels: 'a,b', size: 2, hop: 2, features: 'max', output: 'channel' });
    fw.receive({ payload: { a: [1, 5, 2, 7], b: [3, 4] } });
    await waitFor('three outputs', () => (got.length >= 3 ? true : undefined));
    expect(got.map((m) => [m.topic, m.payload, m.features.names])).to.deep.equal([
      ['a', [5], ['a.max']], ['b', [4], ['b.max']], ['a', [7], ['a.max']],
    ]);
  });

  it('batched input: many windows from one message, one message each or one batch message', async () => {
    const n = 1000;
    const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i / 10));
    let ctx = await load({ channels: 'x', size: 100, hop: 10, features: 'mean,min' });
    ctx.fw.receive({ payload: { x } });
    await waitFor('91 outputs', () => (ctx.got.length >= 91 ? true : undefined));
    expect(ctx.got.length).to.equal(91);
    expect(ctx.got[90].payload[1]).to.equal(ss.min(Array.from(x.subarray(900, 1000))));
    const single = ctx.got;
    await helper.unload();

    ctx = await load({ channels: 'x', size: 100, hop: 10, features: 'mean,min', batchOutput: true });
    ctx.fw.receive({ payload: { x }, timestamps: { x: Array.from({ length: n }, (_, i) => 5000 + i) }, topic: 'line1' });
    await waitFor('a batch', () => (ctx.got.length >= 1 ? true : undefined));
    expect(ctx.got.length).to.equal(1);
    const m = ctx.got[0];
    expect(m.payload).to.be.instanceOf(Float64Array);
    expect(m.features.shape).to.deep.equal([91, 2]);
    expect(m.payload.length).to.equal(91 * 2);
    // row r holds exactly the vector of the r-th per-window message
    for (let r = 0; r < 91; r++) expect(Array.from(m.payload.subarray(2 * r, 2 * r + 2))).to.deep.equal(single[r].payload);
    expect(m.payload[2 * 90]).to.be.closeTo(ss.mean(Array.from(x.subarray(900, 1000))), 1e-12);
    expect(m.features.names).to.deep.equal(['x.mean', 'x.min']);
    expect(m.features.window).to.deep.equal({ start: 5000, end: 5999, count: 100 });
    expect(Array.from(m.features.windows.start)).to.deep.equal(Array.from({ length: 91 }, (_, r) => 5000 + 10 * r));
    expect(Array.from(m.features.windows.end)).to.deep.equal(Array.from({ length: 91 }, (_, r) => 5099 + 10 * r));
    expect(Array.from(m.features.windows.count)).to.deep.equal(new Array(91).fill(100));
    expect(m.topic).to.equal('line1');
    expect(m).to.not.have.property('timestamps');
  });

  it('batch output per channel: one packed message per channel with msg.topic = channel', async () => {
    const { fw, got } = await load({ channels: 'a,b', size: 2, hop: 1, features: 'max', output: 'channel', batchOutput: true });
    fw.receive({ payload: { a: [1, 5, 2, 7], b: [3, 4] } });
    await waitFor('two batches', () => (got.length >= 2 ? true : undefined));
    expect(got.map((m) => [m.topic, Array.from(m.payload), m.features.shape, m.features.names])).to.deep.equal([
      ['a', [5, 5, 7], [3, 1], ['a.max']], ['b', [4], [1, 1], ['b.max']],
    ]);
  });

  it('a number with msg.topic as the channel', async () => {
    const { fw, got } = await load({ size: 3, hop: 1, features: 'mean' });
    for (const v of [1, 2, 3, 4]) fw.receive({ payload: v, topic: 'speed' });
    await waitFor('two outputs', () => (got.length >= 2 ? true : undefined));
    expect(got.map((m) => m.payload)).to.deep.equal([[2], [3]]);
    expect(got[0].features.names).to.deep.equal(['speed.mean']);
  });

  it('wrong input type: done(err) reaches a Catch node and the node keeps working', async () => {
    const { fw, got, errs } = await load({ size: 4, hop: 1, features: 'mean' });
    const calls: any[] = [];
    fw.on('call:error', (c) => calls.push(c.args));
    fw.receive({ payload: 'hello', topic: 'x' });
    fw.receive({ payload: { a: [1, 2] }, timestamps: { a: [1] } });
    await waitFor('two caught errors', () => (errs.length >= 2 ? true : undefined));
    expect(errs[0].error.message).to.equal('Error: expected msg.payload to be a number or an array of numbers (with msg.topic as the channel), or an object { channel: number | number[] }, got "hello"');
    expect(errs[0].error.source.id).to.equal('fw');
    expect(errs[1].error.message).to.equal('Error: msg.timestamps.a has 1 entries but the payload has 2 samples: expected one timestamp per sample, a single number, or none');
    expect(calls.length).to.equal(2);
    for (const v of [1, 2, 3, 4]) fw.receive({ payload: v, topic: 'x' });
    await waitFor('an output', () => (got.length >= 1 ? true : undefined));
    expect(got[0].payload).to.deep.equal([2.5]);
    expect(got[0].features.names).to.deep.equal(['x.mean']); // the failed messages created no channel
  });

  it('bad configuration: red status, error at start, every message fails with the reason', async () => {
    const { fw, errs } = await load({ size: 0, hop: 1 });
    const st = fw.status.args.map((a) => a[0] as { fill?: string; text?: string });
    expect(st).to.deep.include({ fill: 'red', shape: 'ring', text: 'invalid configuration' });
    const reason = 'invalid configuration: size must be an integer from 1 to 4194304 (got 0)';
    expect(fw.error.args.map((a) => a[0])).to.deep.equal([reason]);
    fw.receive({ payload: 1, topic: 'x' });
    await waitFor('a caught error', () => (errs.length >= 1 ? true : undefined));
    expect(errs[0].error.message).to.equal(`Error: ${reason}`);
  });

  it('bad samples: rate-limited warnings, never an error', async () => {
    const { fw, got, errs } = await load({ channels: 'a', size: 2, hop: 1, features: 'mean', badSample: 'skip' });
    const warns: any[] = [];
    fw.on('call:warn', (c) => warns.push(c.args[0]));
    for (const v of [NaN, 'x', null, Infinity, 1, 2]) fw.receive({ payload: { a: v } });
    await waitFor('an output', () => (got.length >= 1 ? true : undefined));
    expect(got[0].payload).to.deep.equal([1.5]);
    expect(warns).to.deep.equal(['channel "a": missing, non-numeric, NaN/Infinity or bad-quality sample (1 since the last warning); policy: skip the sample']); // 4 bad samples, 1 warning
    expect(errs.length).to.equal(0);
  });

  it('status shows channels and windows (throttled)', async () => {
    const { fw, got } = await load({ size: 2, hop: 1, features: 'mean' });
    for (let i = 0; i < 5; i++) fw.receive({ payload: { a: i, b: -i } });
    await waitFor('outputs', () => (got.length >= 4 ? true : undefined));
    const st = await waitFor('a running status', () => fw.status.args.map((a) => a[0] as { fill?: string; text?: string })
      .find((s) => /^2 ch, [1-4] windows$/.test(s.text ?? '')));
    expect(st.fill).to.equal('green');
    // throttled: far fewer status calls than messages
    expect(fw.status.args.length).to.be.at.most(4);
  });

  it('closes across many redeploys with a throttled status pending: nothing reaches a closed node', async () => {
    const STATUS_INTERVAL_MS = 500; // the node's status throttle
    type Call = { what: string; node: number; closed: boolean };
    const calls: Call[] = [];
    let pendingAtClose = 0;
    for (let k = 0; k < 20; k++) {
      const { fw, got } = await load({ size: 2, hop: 1, features: 'mean' });
      // record on the instance: the helper's spies on the prototype are removed at unload
      const phase = { closed: false };
      const self = fw as unknown as Record<string, unknown>;
      for (const what of ['status', 'send', 'error', 'warn']) {
        self[what] = function (this: object, ...a: unknown[]) {
          calls.push({ what, node: k, closed: phase.closed });
          return (Object.getPrototypeOf(this)[what] as (...x: unknown[]) => unknown).apply(this, a);
        };
      }
      for (let i = 0; i < 3; i++) fw.receive({ payload: { a: i } });
      await waitFor('2 outputs', () => (got.length >= 2 ? true : undefined));
      // 3 inputs, one status shown (for the first): the update for the later ones is still due
      if (calls.filter((c) => c.node === k && c.what === 'status').length === 1) pendingAtClose++;
      await helper.unload();
      phase.closed = true;
      expect(calls.filter((c) => c.node === k && c.what === 'error'), `close #${k} reported an error (Node-RED's close timeout)`).to.deep.equal([]);
    }
    // Timers fire in the order they are due: this one, set after the last close, fires after every
    // status update the closed nodes had pending (due within STATUS_INTERVAL_MS of their inputs).
    await new Promise((r) => setTimeout(r, STATUS_INTERVAL_MS + 100));
    expect(calls.filter((c) => c.closed)).to.deep.equal([]);
    expect(pendingAtClose, 'a throttled status update was pending at each close (so the check above means something)').to.equal(20);
    expect(calls.filter((c) => c.what === 'send').length).to.equal(40);
  });
});

describe('mlops-feature-window i18n catalogs', () => {
  const root = path.resolve(__dirname, '../..');
  const src = fs.readFileSync(path.join(root, 'nodes/mlops-feature-window.ts'), 'utf8')
    + fs.readFileSync(path.join(root, 'nodes/lib/window/feature-window.ts'), 'utf8');
  const html = fs.readFileSync(path.join(root, 'nodes/mlops-feature-window.html'), 'utf8');
  const keys = new Set<string>();
  for (const m of src.matchAll(/\bt\('([a-zA-Z.]+)'/g)) keys.add(m[1]);
  for (const m of src.matchAll(/FeatureWindowError\('([a-zA-Z]+)'/g)) keys.add(`errors.${m[1]}`);
  for (const k of ['badValue', 'outOfOrder', 'tooManyChannels', 'overflow', 'badTimestamp', 'jumpAhead', 'clockJump']) keys.add(`warn.${k}`);
  for (const k of ['skip', 'hold', 'reset']) keys.add(`policy.${k}`);
  for (const m of html.matchAll(/mlops-feature-window\.([a-zA-Z]+\.[a-zA-Z]+)/g)) keys.add(m[1]);
  for (const f of ['mean', 'std', 'min', 'max', 'rms', 'p2p', 'skewness', 'kurtosis', 'crest', 'slope']) keys.add(`feature.${f}`);

  for (const lang of ['en-US', 'de']) {
    it(`${lang} has every key the node uses, and help for the node`, () => {
      const cat = JSON.parse(fs.readFileSync(path.join(root, `locales/${lang}/mlops-feature-window.json`), 'utf8'))['mlops-feature-window'];
      const missing = [...keys].filter((k) => k.split('.').reduce((o: any, p) => (o ? o[p] : undefined), cat) === undefined);
      expect(missing).to.deep.equal([]);
      expect(keys.size).to.be.greaterThan(40);
      const help = fs.readFileSync(path.join(root, `locales/${lang}/mlops-feature-window.html`), 'utf8');
      expect(help).to.contain('data-help-name="mlops-feature-window"');
      expect(help).to.match(/<h3>(Inputs|Eingaben)<\/h3>[\s\S]*<h3>(Outputs|Ausgaben)<\/h3>[\s\S]*<h3>Details<\/h3>/);
    });
  }

  it('the example flow is valid Node-RED flow JSON using this node', () => {
    const flowJson = JSON.parse(fs.readFileSync(path.join(root, 'examples/feature-window.json'), 'utf8'));
    expect(flowJson).to.be.an('array');
    const ids = new Set(flowJson.map((n: { id: string }) => n.id));
    expect(ids.size).to.equal(flowJson.length);
    const fwn = flowJson.find((n: { type: string }) => n.type === 'mlops-feature-window');
    expect(fwn).to.exist;
    for (const n of flowJson) for (const port of n.wires || []) for (const to of port) expect(ids.has(to)).to.equal(true);
  });
});
