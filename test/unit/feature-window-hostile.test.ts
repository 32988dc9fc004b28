import { expect } from 'chai';
import { ChannelWindow } from '../../nodes/lib/window/running-window';
import { Watchdog } from '../support/watchdog';
import {
  CLOCK_JUMP_SAMPLES, DEFAULT_MAX_JUMP_S, FeatureWindow, FeatureWindowError, IssueKind, describeValue, parseConfig, RawFeatureWindowConfig,
} from '../../nodes/lib/window/feature-window';

function make(raw: RawFeatureWindowConfig): { fw: FeatureWindow; issues: IssueKind[] } {
  const fw = new FeatureWindow(parseConfig(raw));
  const issues: IssueKind[] = [];
  fw.onIssue = (k) => issues.push(k);
  return { fw, issues };
}

function codeOf(f: () => unknown): { code: string; message: string } {
  try { f(); } catch (e) {
    expect(e).to.be.instanceOf(FeatureWindowError);
    return e as FeatureWindowError;
  }
  throw new Error('did not throw');
}

const T0 = 1.7e12; // epoch ms

describe('feature window: far-future timestamps (issue 9)', () => {
  // a loop that never returns cannot fail a mocha test: the watchdog kills the run after 10 s instead
  let dog: Watchdog;
  beforeEach(async function () { dog = await Watchdog.start(this.currentTest?.fullTitle() ?? 'far-future timestamps'); });
  afterEach(async () => { expect(await dog.stop(), 'longest event-loop stall, ms').to.be.below(1000); });

  // These ran forever before the fix: nextEnd + hop rounds back to nextEnd at 1.7e18 (ulp 256)
  // and 1e308, so the window-closing loop never advanced. Each case must return, and quickly.
  for (const [hop, ts] of [[100, [1.7e18]], [100, [1.7e18, 1.7e18 + 1e6, 1.7e18 + 2e6]], [500, [1e308, 1e308]], [100, [T0, T0 + 10, 1.7e18]]] as Array<[number, number[]]>) {
    it(`time 1000/${hop} ms: timestamps ${ts.join(', ')} are refused (badTimestamp), nothing loops`, () => {
      const { fw, issues } = make({ windowKind: 'time', duration: 1000, hopMs: hop });
      const t = Date.now();
      const out = fw.ingest({ a: ts.map((_, i) => i) }, { now: T0, timestamps: { a: ts } });
      expect(Date.now() - t).to.be.below(1000);
      expect(out).to.have.length(0);
      expect(issues).to.include('badTimestamp');
      expect(issues.filter((k) => k === 'badTimestamp')).to.have.length(ts.filter((x) => x > 8.64e15).length);
    });
  }

  it('the ChannelWindow itself ends on such timestamps (the loop is bounded by the windows one sample can close)', () => {
    for (const [hop, t1] of [[100, 1.7e18], [500, 1e308], [0.25, 8e15]]) {
      const w = new ChannelWindow({ kind: 'time', size: 0, duration: 1000, hop, maxSamples: 1024, features: ['mean'], bands: null, strategy: 'auto' });
      let windows = 0;
      w.onWindow = () => { windows++; };
      const t = Date.now();
      for (let i = 0; i < 50; i++) w.push(i, t1 + i * 1e6);
      expect(Date.now() - t, `hop ${hop} at ${t1}`).to.be.below(1000);
      expect(windows).to.be.at.most(50 * (Math.ceil(1000 / hop) + 2));
    }
  });

  it('a jump further ahead than the max. time jump is refused with a warning; the window keeps going on the old time', () => {
    const { fw, issues } = make({ windowKind: 'time', duration: 1000, hopMs: 500, maxJump: 60 });
    const ts: number[] = [];
    for (let i = 0; i < 300; i++) ts.push(T0 + i * 10);
    ts.splice(150, 0, T0 + 1.7e9); // microseconds by mistake would be far more; 20 days ahead here
    const out = fw.ingest({ a: ts.map(() => 1) }, { now: T0, timestamps: { a: ts } });
    expect(issues).to.deep.equal(['jumpAhead']);
    // 3 s of data at 10 ms: windows ending at each 500 ms after the first full one, none lost to the refused sample
    expect(out.length).to.equal(4);
    for (const o of out) expect(o.window.end).to.be.below(T0 + 3000);
  });

  it(`a clock that really jumped ahead: after ${CLOCK_JUMP_SAMPLES} samples in a row the channel starts afresh at the new time`, () => {
    const { fw, issues } = make({ windowKind: 'time', duration: 1000, hopMs: 500, maxJump: 60 });
    const ts: number[] = [];
    for (let i = 0; i < 200; i++) ts.push(T0 + i * 10);
    for (let i = 0; i < 500; i++) ts.push(T0 + 864e5 + i * 10); // one day later
    const out = fw.ingest({ a: ts.map(() => 1) }, { now: T0, timestamps: { a: ts } });
    expect(issues.filter((k) => k === 'jumpAhead')).to.have.length(CLOCK_JUMP_SAMPLES - 1);
    expect(issues.filter((k) => k === 'clockJump')).to.have.length(1);
    expect(out.filter((o) => o.window.end > T0 + 864e5).length).to.be.at.least(7);
  });

  it('the max. time jump: default 7 days, seconds > 0, at least the window', () => {
    expect(DEFAULT_MAX_JUMP_S).to.equal(604800);
    expect(parseConfig({ windowKind: 'time' }).maxJumpMs).to.equal(604800e3);
    expect(parseConfig({ windowKind: 'time', maxJump: '90' }).maxJumpMs).to.equal(90e3);
    expect(codeOf(() => parseConfig({ windowKind: 'time', maxJump: 'soon' })).code).to.equal('maxJump');
    expect(codeOf(() => parseConfig({ windowKind: 'time', maxJump: -1 })).code).to.equal('maxJump');
    const e = codeOf(() => parseConfig({ windowKind: 'time', duration: 5000, maxJump: 2 }));
    expect(e.code).to.equal('maxJumpShort');
    expect(e.message).to.contain('2 s').and.contain('5000 ms');
    // a flow saved before the setting, with a window longer than the default: the window's duration
    expect(parseConfig({ windowKind: 'time', duration: 864e6, hopMs: 36e5 }).maxJumpMs).to.equal(864e6);
  });
});

describe('feature window: a source clock that steps back (issue 9)', () => {
  for (const policy of ['skip', 'hold'] as const) {
    it(`policy ${policy}: 1 h back, the next 1000 samples give windows again after ${CLOCK_JUMP_SAMPLES}, one clockJump warning`, () => {
      const { fw, issues } = make({ windowKind: 'time', duration: 1000, hopMs: 100, badSample: policy });
      const before: number[] = [];
      for (let i = 0; i < 300; i++) before.push(T0 + i * 10);
      fw.ingest({ a: before.map(() => 1) }, { now: T0, timestamps: { a: before } });
      issues.length = 0;
      const after: number[] = [];
      for (let i = 0; i < 1000; i++) after.push(T0 + 3000 - 3.6e6 + i * 10);
      const out = fw.ingest({ a: after.map((_, i) => i) }, { now: T0, timestamps: { a: after } });
      // was 0 windows: every sample was older than the last one before the step
      expect(issues.filter((k) => k === 'clockJump')).to.have.length(1);
      expect(issues.filter((k) => k === 'outOfOrder')).to.have.length(CLOCK_JUMP_SAMPLES - 1);
      // 9.9 s of new samples after the first 10: windows of 1 s every 100 ms
      expect(out.length).to.be.within(85, 92);
      expect(out[0].window.start).to.be.at.least(after[CLOCK_JUMP_SAMPLES - 1]);
    });
  }

  it('single late samples among newer ones stay out of order (no clock jump)', () => {
    const { fw, issues } = make({ windowKind: 'time', duration: 1000, hopMs: 100 });
    const ts: number[] = [];
    for (let i = 0; i < 500; i++) ts.push(i % 5 === 4 ? T0 + (i - 10) * 10 : T0 + i * 10);
    fw.ingest({ a: ts.map(() => 1) }, { now: T0, timestamps: { a: ts } });
    expect(issues).to.not.include('clockJump');
    expect(issues.filter((k) => k === 'outOfOrder')).to.have.length(100);
  });

  it('count windows too: a stepped-back clock is taken after the run of older samples', () => {
    const { fw, issues } = make({ windowKind: 'count', size: 10, hop: 10 });
    const ts: number[] = [];
    for (let i = 0; i < 50; i++) ts.push(T0 + i * 10);
    for (let i = 0; i < 100; i++) ts.push(T0 - 3.6e6 + i * 10);
    const out = fw.ingest({ a: ts.map(() => 1) }, { now: T0, timestamps: { a: ts } });
    expect(issues.filter((k) => k === 'clockJump')).to.have.length(1);
    expect(out.filter((o) => o.window.end < T0).length).to.equal(9);
  });
});

describe('feature window: clear input errors (issue 9)', () => {
  const { fw } = make({ windowKind: 'count', size: 4, hop: 1 });
  it('an array without topic says what the payload is and what the topic is', () => {
    const e = codeOf(() => fw.ingest([1, 2], { now: 1 }));
    expect(e.code).to.equal('noTopic');
    expect(e.message).to.not.match(/is a array|a undefined/);
    expect(e.message).to.contain('Array(2)').and.contain('got undefined');
  });
  it('an Object.create(null) topic is named, not converted ("Cannot convert object to primitive value")', () => {
    const e = codeOf(() => fw.ingest(1, { now: 1, topic: Object.create(null) }));
    expect(e.code).to.equal('noTopic');
    expect(e.message).to.contain('Object: null prototype');
  });
  it('undefined, a string, a boolean payload: the value as got', () => {
    expect(codeOf(() => fw.ingest(undefined, { now: 1 })).message).to.match(/got undefined$/);
    expect(codeOf(() => fw.ingest('12', { now: 1 })).message).to.match(/got "12"$/);
    expect(codeOf(() => fw.ingest(true, { now: 1 })).message).to.match(/got true$/);
  });
  it('BigInt values: a coded error naming where and the value', () => {
    let e = codeOf(() => fw.ingest(5n, { now: 1, topic: 'a' }));
    expect([e.code, e.message]).to.deep.equal(['bigint', 'msg.payload is a BigInt (5n): expected a number; convert it with Number() in a function node if it fits']);
    e = codeOf(() => fw.ingest({ a: 1, b: 12345678901234567890n }, { now: 1 }));
    expect(e.code).to.equal('bigint');
    expect(e.message).to.contain('msg.payload.b').and.contain('12345678901234567890n');
    expect(fw.channelNames, 'a message that fails creates no channel').to.not.include('b');
  });
  it('describeValue never calls toString', () => {
    expect([undefined, null, 1, 5n, 'x', [1], new Float64Array(3), {}, Object.create(null), new Date(0), Buffer.alloc(2)].map(describeValue))
      .to.deep.equal(['undefined', 'null', '1', '5n', '"x"', 'Array(1)', 'Float64Array(3)', 'Object', 'Object: null prototype', 'Date', 'Buffer(2)']);
  });
});
