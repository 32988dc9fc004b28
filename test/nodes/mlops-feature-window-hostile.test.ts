/**
 * The feature window in Node-RED (node-red-node-test-helper) against hostile input (issue 9): far-future
 * timestamps under a watchdog that fails the run when the event loop stalls, a source clock that
 * steps back, BigInt and prototype-less values, and the max. time jump setting.
 */
import { expect } from 'chai';
import { helper, waitFor, stopHelper } from '../support/red';
import { Watchdog } from '../support/watchdog';
import fwNode = require('../../nodes/mlops-feature-window');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

type AnyNode = {
  receive(msg: unknown): void;
  on(ev: string, cb: (x: any) => void): void;
  warn: { args: unknown[][] };
  error: { args: unknown[][] };
};

async function load(props: Record<string, unknown>) {
  const flow = [
    { id: 'fw', type: 'mlops-feature-window', wires: [['out']], ...props },
    { id: 'out', type: 'helper' },
    { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
  await helper.load([fwNode, catchNode], flow);
  const fw = helper.getNode('fw') as unknown as AnyNode;
  const got: any[] = [];
  const errs: any[] = [];
  (helper.getNode('out') as unknown as AnyNode).on('input', (m) => got.push(m));
  (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => errs.push(m));
  return { fw, got, errs };
}

const warnings = (fw: AnyNode) => fw.warn.args.map((a) => String(a[0]));
const T0 = 1.7e12;

describe('mlops-feature-window node: hostile input (issue 9)', () => {
  beforeEach((done) => { helper.startServer(done); });
  afterEach(async () => {
    await stopHelper();
  });

  for (const [hop, ts] of [[100, [1.7e18, 1.7e18 + 1e6]], [500, [1e308, 1e308]]] as Array<[number, number[]]>) {
    it(`time 1000/${hop} ms, timestamps ${ts.join(', ')}: the message returns at once, warned, the event loop never stalls a second`, async () => {
      const { fw, got } = await load({ windowKind: 'time', duration: 1000, hopMs: hop, features: 'mean' });
      const dog = await Watchdog.start(`feature window, timestamps ${ts.join(', ')}`);
      // before the fix the first of these never returned: the watchdog kills the run after 10 s
      fw.receive({ payload: { a: ts.map((_, i) => i) }, timestamps: { a: ts } });
      // then the node still windows ordinary samples
      const ok: number[] = [];
      for (let i = 0; i < 300; i++) ok.push(T0 + i * 10);
      fw.receive({ payload: { a: ok.map((_, i) => i) }, timestamps: { a: ok }, topic: 'after' });
      await waitFor('the windows of the ordinary samples', () => (got.length > 0 ? true : undefined));
      expect(await dog.stop()).to.be.below(1000);
      expect(got[0].topic).to.equal('after');
      const w = warnings(fw);
      expect(w.some((s) => s.includes('timestamp refused: expected milliseconds since 1970')), w.join('\n')).to.equal(true);
    });
  }

  it('a source clock 1 h back: windows again from the next 1000 samples, one clock-jump warning', async () => {
    const { fw, got } = await load({ windowKind: 'time', duration: 1000, hopMs: 100, features: 'mean' });
    const before: number[] = [];
    for (let i = 0; i < 300; i++) before.push(T0 + i * 10);
    fw.receive({ payload: { a: before.map(() => 1) }, timestamps: { a: before } });
    await waitFor('windows before the step', () => (got.length > 0 ? true : undefined));
    const n0 = got.length;
    for (let i = 0; i < 1000; i++) fw.receive({ payload: { a: i }, timestamps: { a: T0 + 3000 - 3.6e6 + i * 10 } });
    await waitFor('windows after the step', () => (got.length - n0 >= 85 ? true : undefined));
    expect(got.length - n0).to.be.within(85, 92);
    const w = warnings(fw);
    expect(w.filter((s) => s.includes("the source's clock jumped"))).to.have.length(1);
  });

  it('a clock that steps back on two channels at once is warned once for each, and both window again', async () => {
    const { fw, got } = await load({ windowKind: 'time', duration: 1000, hopMs: 100, features: 'mean', channels: 'a, b' });
    const before: number[] = [];
    for (let i = 0; i < 300; i++) before.push(T0 + i * 10);
    fw.receive({ payload: { a: before.map(() => 1), b: before.map(() => 2) }, timestamps: { a: before, b: before } });
    await waitFor('windows before the step', () => (got.length > 0 ? true : undefined));
    const n0 = got.length;
    const after: number[] = [];
    for (let i = 0; i < 500; i++) after.push(T0 - 3.6e6 + i * 10);
    fw.receive({ payload: { a: after.map(() => 1), b: after.map(() => 2) }, timestamps: { a: after, b: after } });
    await waitFor('windows after the step', () => (got.length > n0 ? true : undefined));
    expect(got[got.length - 1].payload).to.deep.equal([1, 2]);
    const jumps = warnings(fw).filter((s) => s.includes("the source's clock jumped"));
    expect(jumps).to.have.length(2);
    expect(jumps[0]).to.contain('channel "a"');
    expect(jumps[1]).to.contain('channel "b"');
  });

  it('BigInt and prototype-less values fail their message with a text that says what was expected and got', async () => {
    const { fw, errs, got } = await load({ size: 4, hop: 1, features: 'mean' });
    fw.receive({ payload: 5n, topic: 'a' });
    fw.receive({ payload: { a: 1, b: 2n ** 64n } });
    fw.receive({ payload: 1, topic: Object.create(null) });
    fw.receive({ payload: [1, 2] });
    fw.receive({ payload: undefined });
    await waitFor('five errors', () => (errs.length === 5 ? true : undefined));
    const texts = errs.map((m) => String(m.error.message).replace(/^Error: /, ''));
    expect(texts).to.deep.equal([
      'msg.payload is a BigInt (5n): expected a number; convert it with Number() in a function node if it fits',
      'msg.payload.b is a BigInt (18446744073709551616n): expected a number; convert it with Number() in a function node if it fits',
      "msg.payload is a single channel's data (1), so msg.topic must name the channel: expected a non-empty string or a number, got Object: null prototype",
      "msg.payload is a single channel's data (Array(2)), so msg.topic must name the channel: expected a non-empty string or a number, got undefined",
      'expected msg.payload to be a number or an array of numbers (with msg.topic as the channel), or an object { channel: number | number[] }, got undefined',
    ]);
    expect(got).to.have.length(0);
  });

  it('a bad max. time jump is a configuration error naming it; every input fails with it', async () => {
    const { fw, errs } = await load({ windowKind: 'time', duration: 1000, hopMs: 100, maxJump: 'a week' });
    fw.receive({ payload: 1, topic: 'a' });
    await waitFor('the error', () => (errs.length === 1 ? true : undefined));
    expect(errs[0].error.message).to.contain('the max. time jump must be a number of seconds > 0 (got a week)');
  });
});
