/**
 * The shared node layer (nodes/lib/node-red/) without Node-RED: config fields, the i18n helper and
 * its English fallback, coded errors with causes, the throttled status, the path resolver, jobs
 * in turn; and the one model-message check both model-taking nodes use.
 */
import { expect } from 'chai';
import * as os from 'os';
import * as path from 'path';
import { choiceField, numberField, optionalNumberField } from '../../nodes/lib/node-red/config';
import { CodedError, causedBy, commonError } from '../../nodes/lib/node-red/errors';
import { english, texts } from '../../nodes/lib/node-red/i18n';
import { refuseInput, settle } from '../../nodes/lib/node-red/node';
import { resolveUserPath } from '../../nodes/lib/node-red/paths';
import { Serial } from '../../nodes/lib/node-red/serial';
import { waitFor } from '../support/red';
import { shortStatus, ThrottledStatus } from '../../nodes/lib/node-red/status';
import { isModelMessage } from '../../nodes/lib/messages';

/** Node-RED's RED._ as the test helper has it: the key back. */
const keysOnly = { _: (k: string) => k };
/** A catalog that knows one German text. */
const german = { _: (k: string, v?: Record<string, unknown>) => (k === 'mlops-common.errors.notNumber' ? `${v?.field} muss eine Zahl sein, erhalten: "${v?.value}"` : k) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('shared node layer', () => {
  describe('config fields report a bad value instead of falling back', () => {
    it('empty or missing fields take the default', () => {
      expect(numberField({}, 'threads', { default: 1 })).to.equal(1);
      expect(numberField({ threads: '' }, 'threads', { default: 1 })).to.equal(1);
      expect(numberField({ threads: '  ' }, 'threads', { default: 1 })).to.equal(1);
      expect(numberField({ threads: ' 3 ' }, 'threads', { default: 1, integer: true })).to.equal(3);
      expect(optionalNumberField({ threshold: '' }, 'threshold', {})).to.equal(undefined);
      expect(optionalNumberField({ threshold: '0.7' }, 'threshold', {})).to.equal(0.7);
      expect(choiceField({}, 'output', ['score', 'label'], 'score')).to.equal('score');
    });
    it('a value that is set but wrong throws a coded error naming the field and the value', () => {
      const cases: Array<[() => unknown, string, string]> = [
        [() => numberField({ threads: 'abc' }, 'threads', { default: 1 }), 'notNumber', 'threads must be a number, got "abc"'],
        [() => numberField({ threads: '1.5' }, 'threads', { default: 1, integer: true }), 'notInteger', 'threads must be a whole number, got "1.5"'],
        [() => numberField({ threads: 0 }, 'threads', { default: 1, min: 1 }), 'belowMin', 'threads must be at least 1, got 0'],
        [() => numberField({ batchSize: '1e9' }, 'batchSize', { default: 1, max: 65536 }), 'aboveMax', 'batchSize must be at most 65536, got 1e9'],
        [() => optionalNumberField({ threshold: 'x' }, 'threshold', {}), 'notNumber', 'threshold must be a number, got "x"'],
        [() => choiceField({ output: 'probability' }, 'output', ['score', 'label'], 'score'), 'notOneOf', 'output must be one of score, label, got "probability"'],
      ];
      for (const [f, code, message] of cases) {
        let err: unknown;
        try {
          f();
        } catch (e) {
          err = e;
        }
        expect(err, message).to.be.instanceOf(CodedError);
        expect((err as CodedError).code).to.equal(code);
        expect((err as CodedError).catalog).to.equal('mlops-common');
        expect((err as Error).message).to.equal(message);
        // the English text of the shared catalog says the same
        expect(texts(keysOnly, 'mlops-x').errorText(err)).to.equal(message);
      }
    });
  });

  describe('i18n', () => {
    it('the English catalog answers where Node-RED has no text; Node-RED answers where it has one', () => {
      const tx = texts(keysOnly, 'mlops-drift-detect');
      expect(tx.t('status.learning', { count: 3, size: 10 })).to.equal('learning baseline 3/10');
      expect(tx.t('no.such.key')).to.equal('mlops-drift-detect.no.such.key');
      expect(english('mlops-common.errors.belowMin', { field: 'f', min: 1, value: 0 })).to.equal('f must be at least 1, got 0');
      const e = commonError('notNumber', { field: 'threads', value: 'abc' }, 'threads must be a number, got "abc"');
      expect(texts(german, 'mlops-onnx-infer').errorText(e)).to.equal('threads muss eine Zahl sein, erhalten: "abc"');
      expect(texts(keysOnly, 'mlops-x').errorText(new Error('plain'))).to.equal('plain');
    });
    it('a wrapped coded error gives its reason in the catalog language too', () => {
      const inner = commonError('notNumber', { field: 'alpha', value: 'x' }, 'alpha must be a number, got "x"');
      const outer = causedBy(new CodedError('baselineFile', { path: 'b.json', reason: inner.message }, `cannot use the baseline file b.json: ${inner.message}`), inner);
      expect(texts(german, 'mlops-drift-detect').errorText(outer)).to.equal('cannot use the baseline file b.json: alpha muss eine Zahl sein, erhalten: "x"');
    });
    it('a coded error that crossed a worker (a plain object) still gets its text', () => {
      const plain = { code: 'noModel', params: {}, message: 'no model is loaded' };
      expect(texts(keysOnly, 'mlops-onnx-infer').errorText(plain)).to.equal('no model is loaded: expected a model path in the node or a model message (msg.model) first');
    });
  });

  describe('refuseInput and settle', () => {
    it('a bad configuration: logged, red status, every message fails with the reason', () => {
      const calls: { error: unknown[]; status: unknown[]; done: unknown[] } = { error: [], status: [], done: [] };
      let handler: ((m: unknown, s: unknown, d: (e?: Error) => void) => void) | undefined;
      const node = { error: (m: unknown) => calls.error.push(m), status: (s: unknown) => calls.status.push(s), on: (_e: string, h: typeof handler) => (handler = h) };
      refuseInput(node, texts(keysOnly, 'mlops-x'), commonError('notNumber', { field: 'threads', value: 'abc' }, 'threads must be a number, got "abc"'));
      expect(calls.error).to.deep.equal(['invalid configuration: threads must be a number, got "abc"']);
      expect(calls.status).to.deep.equal([{ fill: 'red', shape: 'ring', text: 'invalid configuration' }]);
      handler!({}, undefined, (e) => calls.done.push(e?.message));
      expect(calls.done).to.deep.equal(['invalid configuration: threads must be a number, got "abc"']);
    });
    it('settle ends sync and async work in done() or done(err)', async () => {
      const tx = texts(keysOnly, 'mlops-x');
      const got: Array<string | undefined> = [];
      const done = (e?: Error) => got.push(e?.message);
      settle(tx, done, () => undefined);
      settle(tx, done, () => {
        throw new Error('sync');
      });
      settle(tx, done, () => Promise.reject(new Error('async')));
      settle(tx, done, () => Promise.resolve(1));
      await sleep(5);
      expect(got).to.have.length(4);
      expect(got.slice(0, 2)).to.deep.equal([undefined, 'sync']);
      expect(got.slice(2).sort()).to.deep.equal(['async', undefined]);
    });
  });

  describe('ThrottledStatus', () => {
    it('at most one update per interval, the latest state shown, nothing after close', async () => {
      const shown: unknown[] = [];
      let n = 0;
      const s = new ThrottledStatus({ status: (x) => shown.push(x) }, () => ({ fill: 'green', text: `n=${n}` }), 50);
      for (n = 1; n <= 100; n++) s.update();
      expect(shown).to.deep.equal([{ fill: 'green', text: 'n=1' }]); // the first at once
      await sleep(150);
      expect(shown).to.deep.equal([{ fill: 'green', text: 'n=1' }, { fill: 'green', text: 'n=101' }]);
      await sleep(60);
      s.update(); // an interval after the last: at once
      expect(shown.length).to.equal(3);
      s.update(); // within the interval: pending
      s.close();
      await sleep(80);
      expect(shown.length).to.equal(3); // the pending update never fired after close
      s.update(true);
      s.set({ fill: 'red', text: 'x' });
      expect(shown.length).to.equal(3);
    });
    it('long texts are cut so they fit under the node', () => {
      const shown: Array<{ text?: string }> = [];
      const long = 'a very long status text that would run across the whole canvas and beyond';
      new ThrottledStatus({ status: (x) => shown.push(x as { text?: string }) }, () => ({ text: long })).update(true);
      expect(shown[0].text!.length).to.be.at.most(40).and.at.least(30);
      expect(shown[0].text!.endsWith('…')).to.equal(true);
      expect(shortStatus('short')).to.equal('short');
    });
  });

  it('paths resolve against the user directory, Node-RED\'s default when none is set', () => {
    expect(resolveUserPath({ settings: { userDir: '/srv/nr' } }, 'models/a.onnx')).to.equal('/srv/nr/models/a.onnx');
    expect(resolveUserPath({ settings: { userDir: '/srv/nr' } }, '/abs/a.onnx')).to.equal('/abs/a.onnx');
    expect(resolveUserPath({ settings: {} }, 'a.onnx')).to.equal(path.join(os.homedir(), '.node-red', 'a.onnx'));
  });

  it('Serial runs jobs at once while idle and in turn behind a pending one', async () => {
    const order: string[] = [];
    const s = new Serial();
    s.run(() => void order.push('sync 1'));
    expect(order).to.deep.equal(['sync 1']); // nothing pending: at once
    let release!: () => void;
    s.run(() => new Promise<void>((r) => (release = r)).then(() => void order.push('slow')));
    s.run(() => void order.push('after slow'));
    s.run(() => Promise.reject(new Error('a failing job does not stop the queue')));
    s.run(() => void order.push('last'));
    expect(order).to.deep.equal(['sync 1']);
    expect(s.busy).to.equal(true);
    release();
    await sleep(5);
    expect(order).to.deep.equal(['sync 1', 'slow', 'after slow', 'last']);
    expect(s.busy).to.equal(false);
    s.run(() => void order.push('idle again'));
    expect(order[order.length - 1]).to.equal('idle again');
  });

  it('Serial with holdMs: a job that never ends holds the ones after it that long, and no longer', async () => {
    const order: string[] = [];
    const s = new Serial();
    let ended = false;
    const hung = new Promise<void>(() => undefined); // a read on a hung mount
    s.run(() => hung.then(() => void (ended = true)), 50);
    s.run(() => void order.push('vector 1'));
    s.run(() => void order.push('vector 2'));
    await sleep(20);
    expect(order, 'held while the job may still end').to.deep.equal([]);
    await waitFor('the held jobs', () => (order.length === 2 ? true : undefined), 2000, 5);
    expect(order).to.deep.equal(['vector 1', 'vector 2']);
    expect(ended).to.equal(false);
    // a job that ends in time releases the queue at once, not after its hold
    const t0 = Date.now();
    s.run(() => sleep(5), 5000);
    s.run(() => void order.push('vector 3'));
    await waitFor('vector 3', () => (order.length === 3 ? true : undefined), 2000, 5);
    expect(Date.now() - t0).to.be.below(1000);
  });

  it('isModelMessage: an object in msg.model, not an array, a typed array or null', () => {
    expect(isModelMessage({ model: { path: 'a.onnx' } })).to.equal(true);
    expect(isModelMessage({ model: {} })).to.equal(true);
    for (const model of [undefined, null, 'a.onnx', [{ path: 'a.onnx' }], new Float32Array(2), 3]) expect(isModelMessage({ model }), String(model)).to.equal(false);
    expect(isModelMessage(null)).to.equal(false);
  });
});
