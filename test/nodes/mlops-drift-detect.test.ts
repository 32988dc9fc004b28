/**
 * drift detect inside Node-RED (node-red-node-test-helper), real files, no mocks: baselines from
 * model messages (inline metadata, or read from the ONNX file), a model file at deploy, learned,
 * JSON files and msg.baseline; state changes with hysteresis on output 2, every report on output 1;
 * the streaming detectors; bad input through a Catch node; the report endpoint; many redeploys.
 *
 * The helper's RED._ gives back the key; the node is loaded here with a RED._ that reads the
 * en-US catalog (with __var__ substitution, like Node-RED's i18next), so statuses and errors are
 * checked as a user reads them.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { helper, sleep, tmpDir, waitFor, stopHelper } from '../support/red';
import { mlpModel, writeModel } from '../support/onnx-models';
import { domainFromData } from '../../nodes/lib/drift/domain';
import { referenceFromData } from '../../nodes/lib/model/export';
import { fromMetadataProps, type ModelMetadata } from '../../nodes/lib/model-metadata';
import { decodeModelInfo } from '../../nodes/lib/onnx/proto';
import { mulberry32 } from '../../nodes/lib/random';
import { simulateWindows } from '../../scripts/train-demo-model';
import driftNode = require('../../nodes/mlops-drift-detect');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const completeNode = require('@node-red/nodes/core/common/24-complete.js');

const ROOT = path.resolve(__dirname, '../..');
const NS = 'mlops-drift-detect';
const CATALOG = JSON.parse(fs.readFileSync(path.join(ROOT, `locales/en-US/${NS}.json`), 'utf8'));
const BEARING = path.join(ROOT, 'flows/predictive-maintenance/models/bearing-fault.onnx');

/** RED._ over the en-US catalog: unknown keys come back as the key (as Node-RED does). */
function translate(key: string, vars?: Record<string, unknown>): string {
  const v = key.split('.').reduce((o: any, p) => (o && typeof o === 'object' ? o[p] : undefined), CATALOG);
  if (typeof v !== 'string') return key;
  return v.replace(/__(\w+)__/g, (m, name) => (vars && name in vars ? String(vars[name]) : m));
}
/** The node module with a RED whose `_` translates; everything else is the helper's RED. */
function driftWithTexts(RED: any) {
  const red = Object.create(RED);
  red._ = translate;
  return (driftNode as any)(red);
}

type AnyNode = {
  id: string;
  receive(msg: unknown): void;
  on(ev: string, cb: (x: any) => void): void;
  status: { args: any[][]; lastCall?: { args: any[] } };
  error: { args: any[][] };
  warn: { args: any[][] };
  log: { args: any[][] };
};

// ---------------------------------------------------------------------------
// Data: four features of a pump, normal, and a seeded generator
// ---------------------------------------------------------------------------

const SPEC = [
  { name: 'vibration.rms', mean: 1.2, sd: 0.15 },
  { name: 'vibration.kurtosis', mean: 3, sd: 0.4 },
  { name: 'temperature.mean', mean: 55, sd: 2 },
  { name: 'current.mean', mean: 12, sd: 1.5 },
];
const NAMES = SPEC.map((s) => s.name);

function gauss(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** n vectors of the four features, each shifted by `shift` standard deviations. */
function pumpRows(n: number, seed: number, shift = 0): number[][] {
  const g = gauss(mulberry32(seed));
  return Array.from({ length: n }, () => SPEC.map((s) => s.mean + shift * s.sd + s.sd * g()));
}

/** Vectors drawn from a model's reference itself (inverse of its piecewise-linear CDF), optionally shifted by `shift` reference stds. */
function referenceRows(ref: NonNullable<ModelMetadata['reference']>, names: string[], n: number, seed: number, shift = 0): number[][] {
  const rand = mulberry32(seed);
  const p = ref.probabilities;
  return Array.from({ length: n }, () =>
    names.map((name) => {
      const f = ref.features[name];
      const u = rand() * p[p.length - 1];
      let i = 0;
      while (i < p.length - 2 && p[i + 1] <= u) i++;
      const x = f.edges[i] + ((u - p[i]) / (p[i + 1] - p[i])) * (f.edges[i + 1] - f.edges[i]);
      return x + shift * f.std;
    }),
  );
}

const REF_A = referenceFromData(NAMES, pumpRows(5000, 1));
const REF_B = referenceFromData(NAMES, pumpRows(5000, 2, 3)); // the process after a shift of 3 std
const META_A: ModelMetadata = { name: 'pump', version: '1', kind: 'classifier', features: NAMES, reference: REF_A };
const META_B: ModelMetadata = { name: 'pump', version: '2', kind: 'classifier', features: NAMES, reference: REF_B };

// ---------------------------------------------------------------------------
// Flow
// ---------------------------------------------------------------------------

interface Ctx {
  n: AnyNode;
  /** Output 1 (reports, msg.baseline = "get" answers). */
  out1: any[];
  /** Output 2 (state changes). */
  out2: any[];
  /** Errors caught by the Catch node (message text without "Error: "). */
  errs: any[];
  /** Messages the node finished without an error (Complete node). */
  completed: any[];
  sent: number;
  send(msg: Record<string, unknown>): void;
  /** Sends each row as a features message with names. */
  feed(rows: number[][], extra?: Record<string, unknown>): void;
  /** Resolves when every message sent so far was finished (done or done(err)). */
  settled(): Promise<void>;
  reports(): any[];
}

function flow(props: Record<string, unknown>) {
  return [
    { id: 'd', type: NS, wires: [['o1'], ['o2']], ...props },
    { id: 'o1', type: 'helper' },
    { id: 'o2', type: 'helper' },
    { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
    { id: 'cmp', type: 'complete', scope: ['d'], uncaught: false, wires: [['completed']] },
    { id: 'completed', type: 'helper' },
  ];
}

async function load(props: Record<string, unknown>): Promise<Ctx> {
  await helper.load([driftWithTexts, catchNode, completeNode] as any, flow(props));
  const n = helper.getNode('d') as unknown as AnyNode;
  const ctx: Ctx = {
    n,
    out1: [],
    out2: [],
    errs: [],
    completed: [],
    sent: 0,
    send(msg) {
      ctx.sent++;
      n.receive(msg);
    },
    feed(rows, extra = {}) {
      for (const r of rows) ctx.send({ payload: r, features: { names: NAMES }, topic: 'pump1', ...extra });
    },
    settled() {
      return waitFor(`${ctx.sent} messages finished`, () => (ctx.completed.length + ctx.errs.length >= ctx.sent ? true : undefined), 30000).then(() => undefined);
    },
    reports: () => ctx.out1.filter((m) => m.drift),
  };
  (helper.getNode('o1') as unknown as AnyNode).on('input', (m) => ctx.out1.push(m));
  (helper.getNode('o2') as unknown as AnyNode).on('input', (m) => ctx.out2.push(m));
  (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => {
    m.error.message = String(m.error.message).replace(/^Error: /, '');
    ctx.errs.push(m);
  });
  (helper.getNode('completed') as unknown as AnyNode).on('input', (m) => ctx.completed.push(m));
  return ctx;
}

const statuses = (n: AnyNode) => n.status.args.map((a) => a[0] as { fill?: string; shape?: string; text?: string });
const lastStatus = (n: AnyNode) => (n.status.lastCall?.args[0] ?? {}) as { fill?: string; text?: string };
const logged = (n: AnyNode, text: string) => n.log.args.filter((a) => String(a[0]).includes(text)).length;
const errorsLogged = (n: AnyNode) => n.error.args.map((a) => String(a[0]?.message ?? a[0]));

/** Waits until the node logged the `count`-th "baseline from ..." line. */
const baselines = (ctx: Ctx, count = 1) => waitFor(`baseline #${count}`, () => (logged(ctx.n, 'baseline from') >= count ? true : undefined));

const modelMsg = (meta: ModelMetadata | Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) => ({
  model: { name: (meta as any)?.name, version: (meta as any)?.version, format: 'onnx', source: 'test', digest: '', ...(meta ? { metadata: meta } : {}), ...extra },
});

// Window mode settings used throughout: a full window of 40 vectors, a test every 20 (each test's
// window overlaps the previous by half), drift confirmed by 2 tests in a row. With 4 features one
// feature below alpha is already 'warn' (share 0.25 >= 0.2): at alpha 0.05 (Bonferroni) about 5 %
// of the tests on reference data say warn, so alpha 0.01 here.
const WIN = { windowSize: 40, evaluateEvery: 20, confirm: 2, clear: 3, alpha: 0.01 };
/** Evaluations after n vectors one per message: at n = W, W + E, W + 2E, ... */
const evaluationsAfter = (n: number, W = WIN.windowSize, E = WIN.evaluateEvery) => (n < W ? 0 : Math.floor((n - W) / E) + 1);

describe('mlops-drift-detect node', function () {
  this.timeout(60000);
  let dir: string;
  let modelA: string;
  let modelB: string;
  let plain: string;
  let garbage: string;

  before(() => {
    dir = tmpDir('drift-detect');
    modelA = writeModel(dir, 'pump-1.onnx', mlpModel({ sizes: [4, 1], metadata: META_A }));
    modelB = writeModel(dir, 'pump-2.onnx', mlpModel({ sizes: [4, 1], metadata: META_B }));
    plain = writeModel(dir, 'plain.onnx', mlpModel({ sizes: [4, 1], metadata: { name: 'plain', version: '1', features: NAMES } }));
    garbage = path.join(dir, 'garbage.onnx');
    fs.writeFileSync(garbage, Buffer.from('this is not protobuf \xff\xff\xff\xff\xff\xff'));
    // relative paths (modelPath, baselineFile) are resolved against the user directory
    helper.settings({ userDir: dir });
  });
  after(() => {
    helper.settings({});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  beforeEach((done) => {
    helper.startServer(done);
  });
  afterEach(async () => {
    await stopHelper();
  });

  // -------------------------------------------------------------------------
  // Baseline from a model
  // -------------------------------------------------------------------------

  describe('baseline from a model', () => {
    it('waits (grey) for a model; an inline msg.model.metadata reference becomes the baseline', async () => {
      const ctx = await load({ ...WIN, everyWindow: true });
      expect(statuses(ctx.n)[0]).to.deep.equal({ fill: 'grey', shape: 'ring', text: 'waiting for a baseline (msg.model)' });
      ctx.feed(pumpRows(1, 3));
      await ctx.settled();
      expect(ctx.errs[0].error.message).to.equal('no baseline yet: expected a model message (msg.model) with a reference, or msg.baseline, before feature vectors');
      ctx.send(modelMsg(META_A));
      await ctx.settled();
      expect(ctx.errs).to.have.length(1);
      expect(logged(ctx.n, 'baseline from pump 1 (4 features)')).to.equal(1);
      expect(lastStatus(ctx.n)).to.include({ fill: 'green', text: 'ok' });
      // the model message is not passed on
      expect(ctx.out1).to.have.length(0);
      expect(ctx.out2).to.have.length(0);
      ctx.send({ baseline: 'get' });
      await ctx.settled();
      const b = ctx.out1[0].payload;
      expect(b.source).to.equal('model');
      expect(b.origin).to.include({ name: 'pump', version: '1' });
      expect(Object.keys(b.features)).to.deep.equal(NAMES);
      expect(b.features['vibration.rms'].edges).to.deep.equal(REF_A.features['vibration.rms'].edges);
      expect(b.features['vibration.rms'].count).to.equal(5000);
    });

    it('a model with its training domain: inputs unlike the training data fire "out of domain", in the status, the log and the report', async () => {
      const ctx = await load({ ...WIN, everyWindow: true });
      const train = pumpRows(5000, 1);
      ctx.send(modelMsg({ ...META_A, domain: domainFromData(NAMES, train) }));
      await ctx.settled();
      ctx.feed(pumpRows(60, 12));
      await ctx.settled();
      expect(ctx.out2, 'training-like data: no state change').to.have.length(0);
      expect(ctx.reports().at(-1)!.drift.domain).to.include({ level: 'ok', checked: 40 });
      // one sensor reads far below anything in training, the other three as before
      ctx.feed(pumpRows(80, 13).map(([a, b, c, d]) => [a, b, c - 40, d]));
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.out2).to.have.length(1);
      const ch = ctx.out2[0];
      expect(ch.drift.fired).to.include('domain');
      expect(ch.drift.domain.features[0]).to.include({ name: NAMES[2], direction: 'below' });
      expect(lastStatus(ctx.n).text).to.match(/^drift · out of domain 100 %/);
      expect(logged(ctx.n, `out of domain: ${NAMES[2]} below`)).to.equal(1);
    });

    it('reference data: no state change; a shifted stream: exactly one ok -> drift, and a report per test on output 1', async () => {
      const ctx = await load({ ...WIN, everyWindow: true });
      ctx.send(modelMsg(META_A));
      await ctx.settled();
      const REF_N = 140;
      ctx.feed(pumpRows(REF_N, 10));
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.out2, 'no state change on reference data').to.have.length(0);
      expect(ctx.reports()).to.have.length(evaluationsAfter(REF_N)); // 6: at 40, 60, ..., 140
      for (const m of ctx.reports()) {
        expect(m.drift.state).to.equal('ok');
        expect(m.drift.features).to.have.length(4);
        expect(m.topic).to.equal('pump1');
        expect(m.payload).to.have.length(4); // the input message, with msg.drift
      }
      expect(ctx.reports()[0].drift.features[0]).to.include({ name: 'vibration.rms', count: 40 });
      expect(ctx.reports()[0].drift.baseline).to.include({ source: 'model', name: 'pump', version: '1', features: 4 });

      const SHIFT_N = 100;
      ctx.feed(pumpRows(SHIFT_N, 11, 3));
      await ctx.settled();
      const total = REF_N + SHIFT_N;
      expect(ctx.reports()).to.have.length(evaluationsAfter(total)); // 11
      expect(ctx.reports().map((m) => m.drift.evaluations)).to.deep.equal(Array.from({ length: 11 }, (_, i) => i + 1));
      expect(ctx.out2, 'one state change').to.have.length(1);
      const ch = ctx.out2[0];
      expect(ch.payload).to.equal('drift');
      expect(ch.topic).to.equal('pump1');
      expect(ch.drift.state).to.equal('drift');
      expect(ch.drift.previous).to.equal('ok');
      expect(ch.drift.level).to.equal('drift');
      expect([...ch.drift.drifted].sort()).to.deep.equal([...NAMES].sort());
      expect(ch.drift.method).to.equal('ks');
      expect(ch.drift.pValue).to.be.below(0.05);
      // Against a model's reference the KS counts dependent vectors by their effective number, and
      // the step itself raises the measured autocorrelation: the first test that says drift is
      // evaluation 8 (7 when the vectors are taken as independent), the second confirms it
      expect(ch.drift.evaluations).to.equal(9);
      expect(ctx.reports()[7].drift).to.include({ level: 'drift', state: 'ok' });
      expect(ctx.reports()[8].drift).to.include({ level: 'drift', state: 'drift', previous: 'ok' });
      expect(ctx.reports()[8].drift.fired).to.deep.equal(['shift']);
      expect(ctx.reports()[8].drift.shift).to.include({ level: 'drift', dependence: 'effective' });
      expect(ch.drift.features.map((x: any) => x.direction)).to.deep.equal(['above', 'above', 'above', 'above']);
      expect(ctx.reports()[9].drift).to.not.have.property('previous');
      const f = ch.drift.features.find((x: any) => x.name === 'temperature.mean');
      expect(f.mean).to.be.greaterThan(f.reference.mean + 1.5 * 2);
      expect(logged(ctx.n, 'drift state ok → drift (vibration.rms, vibration.kurtosis, temperature.mean, current.mean)')).to.equal(1);
      // output 2 carries the input's context (a copy of the message that caused the change)
      expect(ch.features.names).to.deep.equal(NAMES);
      await waitFor('red status', () => (lastStatus(ctx.n).fill === 'red' ? true : undefined));
      expect(lastStatus(ctx.n).text).to.equal('drift · 4/4 drifted');
    });

    it('without everyWindow output 1 stays silent, output 2 still gets the change', async () => {
      const ctx = await load({ ...WIN });
      ctx.send(modelMsg(META_A));
      await ctx.settled(); // the model message is handled asynchronously
      ctx.feed(pumpRows(100, 12, 3));
      await ctx.settled();
      expect(ctx.out1).to.have.length(0);
      expect(ctx.out2.map((m) => [m.payload, m.drift.previous])).to.deep.equal([['drift', 'ok']]);
    });

    it('only msg.model.path: the reference is read from the ONNX file (bearing-fault.onnx, 40 features)', async () => {
      const md = fromMetadataProps(decodeModelInfo(fs.readFileSync(BEARING)).metadata)!;
      const names = md.features!;
      expect(names).to.have.length(40);
      expect(names).to.include('vibration.mean');
      const ctx = await load({ windowSize: 50, evaluateEvery: 25, everyWindow: true });
      ctx.send({ model: { name: 'bearing-fault', version: '1.0.0', path: BEARING, format: 'onnx' } });
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(logged(ctx.n, 'baseline from bearing-fault 1.0.0 (40 features)')).to.equal(1);
      // windows of the machine the model was trained on (condition A, seeds it never saw), healthy and
      // faulty as in its training, in random order: in its domain and its training mix (vectors drawn
      // feature by feature from the reference would be out of domain: they break the features' correlations)
      const sim = (machine: { seed: number; faultOnsetS?: number; faultGrowthS?: number }, label: number) =>
        simulateWindows({ name: 'condition A', machine, durationS: 4800 }).windows.filter((w) => w.label === label).slice(0, 75).map((w) => w.features);
      const rand = mulberry32(21);
      const rows = [...sim({ seed: 41 }, 0), ...sim({ seed: 43, faultOnsetS: 600, faultGrowthS: 2400 }, 1)]
        .map((r) => [rand(), r] as const)
        .sort((a, b) => a[0] - b[0])
        .map(([, r]) => r);
      expect(rows).to.have.length(150);
      // vectors without names, in the model's feature order
      for (const r of rows) ctx.send({ payload: r });
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.reports()).to.have.length(evaluationsAfter(150, 50, 25)); // 5
      expect(ctx.out2).to.have.length(0);
      expect(ctx.reports()[0].drift.features).to.have.length(40);
      expect(ctx.reports()[0].drift.domain).to.include({ checked: 50, flagged: 0 }); // the model's domain, read from the file too
      expect(ctx.reports()[0].drift.baseline).to.include({ source: 'model', name: 'bearing-fault', version: '1.0.0', path: BEARING, features: 40 });
      // a packed batch of shifted vectors (Float64Array + msg.features.shape), with names: one test per message
      const shifted = referenceRows(md.reference!, names, 50, 22, 4);
      for (let k = 0; k < 2; k++) {
        const packed = new Float64Array(50 * 40);
        shifted.forEach((r, i) => packed.set(r, i * 40));
        ctx.send({ payload: packed, features: { names, shape: [50, 40] } });
      }
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.reports()).to.have.length(7);
      expect(ctx.out2).to.have.length(1);
      expect(ctx.out2[0].payload).to.equal('drift');
      expect(ctx.out2[0].drift.drifted).to.include('vibration.mean');
      expect(ctx.out2[0].drift.drifted.length).to.be.greaterThan(20);
    });

    it('a model file in the configuration (absolute, or relative to the user directory) is the baseline at deploy', async () => {
      for (const modelPath of [modelA, 'pump-1.onnx']) {
        const ctx = await load({ ...WIN, modelPath, everyWindow: true });
        await baselines(ctx);
        expect(logged(ctx.n, 'baseline from pump 1 (4 features)')).to.equal(1);
        await waitFor('green', () => (lastStatus(ctx.n).fill === 'green' ? true : undefined));
        ctx.feed(pumpRows(60, 30));
        await ctx.settled();
        expect(ctx.errs).to.deep.equal([]);
        expect(ctx.reports()).to.have.length(2);
        expect(ctx.reports()[0].drift.baseline).to.include({ source: 'model', name: 'pump', version: '1', path: modelPath });
        await helper.unload();
      }
    });

    it('a model file at deploy that is missing or carries no reference: an error saying so, waiting for a model', async () => {
      let ctx = await load({ ...WIN, modelPath: 'missing.onnx' });
      await waitFor('read error', () => (ctx.n.error.args.length > 0 ? true : undefined));
      expect(errorsLogged(ctx.n)[0]).to.match(/^cannot read the reference of the model missing\.onnx: ENOENT: no such file or directory/);
      await helper.unload();
      ctx = await load({ ...WIN, modelPath: plain });
      await waitFor('no reference error', () => (ctx.n.error.args.length > 0 ? true : undefined));
      expect(errorsLogged(ctx.n)[0]).to.equal(`the model ${plain} carries no reference distribution (metadata "reference"): expected a model written by this package, a baseline file, or learning`);
      // a model message then gives the baseline
      ctx.send({ model: { path: modelA } });
      await ctx.settled(); // the model message is handled asynchronously
      ctx.feed(pumpRows(40, 31));
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
    });

    it('a later model message with a shifted reference replaces the baseline: state from ok, the same window judged against it', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA, everyWindow: true });
      await baselines(ctx);
      const shifted = pumpRows(400, 40, 3);
      ctx.feed(shifted.slice(0, 80)); // evaluations at 40 (drift), 60 (drift: confirmed), 80
      await ctx.settled();
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift']);
      expect(ctx.reports()).to.have.length(3);

      // the new model (the process after the shift) as a model message with only a path
      ctx.send({ model: { name: 'pump', version: '2', path: modelB, format: 'onnx' } });
      await ctx.settled();
      expect(logged(ctx.n, 'baseline from pump 2 (4 features)')).to.equal(1);
      await waitFor('green again', () => (lastStatus(ctx.n).fill === 'green' ? true : undefined));
      // no test until `evaluateEvery` more vectors: then the window (20 old + 20 new shifted vectors)
      ctx.feed(shifted.slice(80, 99));
      await ctx.settled();
      expect(ctx.reports()).to.have.length(3);
      ctx.feed(shifted.slice(99, 100));
      await ctx.settled();
      expect(ctx.reports()).to.have.length(4);
      const r = ctx.reports()[3].drift;
      expect(r.baseline).to.include({ version: '2', path: modelB });
      expect(r).to.include({ state: 'ok', level: 'ok' });
      expect(r.drifted).to.deep.equal([]);
      expect(r.features[0].count).to.equal(40);
      // the same shifted data stays ok against the new baseline
      ctx.feed(shifted.slice(100, 200));
      await ctx.settled();
      expect(ctx.reports().slice(3).every((m) => m.drift.state === 'ok')).to.equal(true);
      // and data like the old model's is now drift, again from ok
      ctx.feed(pumpRows(60, 41));
      await ctx.settled();
      const last = ctx.out2[ctx.out2.length - 1];
      expect(last.payload).to.equal('drift');
      expect(last.drift.previous).to.equal('ok');
      expect(last.drift.baseline.version).to.equal('2');
    });

    it('a new baseline while in drift announces the state going back to ok on output 2', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA });
      await baselines(ctx);
      ctx.feed(pumpRows(80, 42, 3));
      await ctx.settled();
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift']);
      ctx.send(modelMsg(META_B));
      await ctx.settled();
      await waitFor('green', () => (lastStatus(ctx.n).fill === 'green' ? true : undefined));
      // the state is ok now (status green), so output 2 should have said so
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift', 'ok']);
    });

    it('msg.reset while in drift announces the state going back to ok on output 2', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA });
      await baselines(ctx);
      ctx.feed(pumpRows(80, 44, 3));
      await ctx.settled();
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift']);
      ctx.send({ reset: true });
      await ctx.settled();
      expect(lastStatus(ctx.n)).to.include({ fill: 'green', text: 'ok' });
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift', 'ok']);
    });

    it('vectors arriving right after a model message (path only) are judged against that model', async () => {
      const ctx = await load({ ...WIN, everyWindow: true });
      // delivered as Node-RED delivers messages: each in its own turn of the event loop
      const queue: Array<Record<string, unknown>> = [{ model: { name: 'pump', version: '1', path: modelA } }, ...pumpRows(40, 35).map((r) => ({ payload: r, features: { names: NAMES } }))];
      await new Promise<void>((resolve) => {
        const next = () => {
          const m = queue.shift();
          if (!m) return resolve();
          ctx.send(m);
          setImmediate(next);
        };
        next();
      });
      await ctx.settled();
      const refused = ctx.errs.map((e) => e.error.message);
      expect(refused, `${refused.length} of 40 vectors refused while the model file was read`).to.deep.equal([]);
      expect(ctx.reports()).to.have.length(1);
    });

    it('a model message of a model in learn mode relearns the baseline', async () => {
      const ctx = await load({ ...WIN, baselineSource: 'learn', learnSize: 50 });
      ctx.feed(pumpRows(50, 43));
      await ctx.settled();
      await waitFor('green', () => (lastStatus(ctx.n).fill === 'green' ? true : undefined));
      ctx.send({ model: { path: modelA } });
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(lastStatus(ctx.n)).to.deep.equal({ fill: 'blue', shape: 'ring', text: 'learning baseline 0/50' });
    });
  });

  // -------------------------------------------------------------------------
  // Hysteresis
  // -------------------------------------------------------------------------

  describe('hysteresis', () => {
    /** 12 batches of 30 rows, alternating reference / shifted; every batch is one whole window and one test. */
    async function alternate(confirm: number, clear: number) {
      const ctx = await load({ windowSize: 30, evaluateEvery: 30, confirm, clear, alpha: 0.01, everyWindow: true });
      ctx.send(modelMsg(META_A));
      await ctx.settled(); // the model message is handled asynchronously
      for (let k = 0; k < 12; k++) ctx.send({ payload: pumpRows(30, 100 + k, k % 2 ? 3 : 0), features: { names: NAMES } });
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.reports().map((m) => m.drift.level)).to.deep.equal(Array.from({ length: 12 }, (_, k) => (k % 2 ? 'drift' : 'ok')));
      return ctx;
    }

    it('a stream alternating across the boundary does not flap (confirm 2: never raised)', async () => {
      const ctx = await alternate(2, 3);
      expect(ctx.out2).to.have.length(0);
      expect(ctx.reports().every((m) => m.drift.state === 'ok')).to.equal(true);
    });

    it('confirm 1, clear 3: raised once, held through the ok tests in between', async () => {
      const ctx = await alternate(1, 3);
      expect(ctx.out2.map((m) => [m.drift.previous, m.payload])).to.deep.equal([['ok', 'drift']]);
      expect(ctx.reports().slice(1).every((m) => m.drift.state === 'drift')).to.equal(true);
    });

    it('confirm 1, clear 1 (no hysteresis) flaps on every test: the counts above mean something', async () => {
      const ctx = await alternate(1, 1);
      expect(ctx.out2).to.have.length(11);
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(Array.from({ length: 11 }, (_, k) => (k % 2 ? 'ok' : 'drift')));
    });

    it('falls back to ok only after `clear` ok tests in a row', async () => {
      const ctx = await load({ windowSize: 30, evaluateEvery: 30, confirm: 1, clear: 3, alpha: 0.01, everyWindow: true });
      ctx.send(modelMsg(META_A));
      await ctx.settled(); // the model message is handled asynchronously
      ctx.send({ payload: pumpRows(30, 200, 3), features: { names: NAMES } });
      for (let k = 0; k < 5; k++) ctx.send({ payload: pumpRows(30, 201 + k), features: { names: NAMES } });
      await ctx.settled();
      expect(ctx.reports().map((m) => m.drift.state)).to.deep.equal(['drift', 'drift', 'drift', 'ok', 'ok', 'ok']);
      expect(ctx.out2.map((m) => [m.drift.previous, m.payload])).to.deep.equal([['ok', 'drift'], ['drift', 'ok']]);
      expect(ctx.out2[1].drift.evaluations).to.equal(4);
    });
  });

  // -------------------------------------------------------------------------
  // Learned baseline, file baseline, msg.baseline, msg.reset
  // -------------------------------------------------------------------------

  describe('learned and file baselines, msg.baseline, msg.reset', () => {
    it('learn mode: status learning n/N, then reports against the learned sample', async () => {
      const ctx = await load({ ...WIN, baselineSource: 'learn', learnSize: 60, everyWindow: true });
      expect(statuses(ctx.n)[0]).to.deep.equal({ fill: 'blue', shape: 'ring', text: 'learning baseline 0/60' });
      const rows = pumpRows(400, 50);
      ctx.feed(rows.slice(0, 30));
      await ctx.settled();
      await waitFor('learning 30/60', () => (lastStatus(ctx.n).text === 'learning baseline 30/60' ? true : undefined));
      expect(lastStatus(ctx.n).fill).to.equal('blue');
      // vectors without names cannot be learned from
      ctx.send({ payload: rows[30] });
      await ctx.settled();
      expect(ctx.errs.map((e) => e.error.message)).to.deep.equal(['expected msg.features.names with the 4 values to learn a baseline from, got no names']);
      ctx.feed(rows.slice(30, 60));
      await ctx.settled();
      await waitFor('green', () => (lastStatus(ctx.n).fill === 'green' ? true : undefined));
      expect(ctx.reports()).to.have.length(0);
      // the learned vectors are not in the window: the first test after 40 more
      ctx.feed(rows.slice(60, 99));
      await ctx.settled();
      expect(ctx.reports()).to.have.length(0);
      ctx.feed(rows.slice(99, 100));
      await ctx.settled();
      expect(ctx.reports()).to.have.length(1);
      expect(ctx.reports()[0].drift.baseline).to.include({ source: 'learned', features: 4 });
      expect(ctx.reports()[0].drift.features[0].reference.count).to.equal(60);
      // now without names (the learned baseline's order)
      for (const r of rows.slice(100, 140)) ctx.send({ payload: r });
      await ctx.settled();
      expect(ctx.errs).to.have.length(1);
      expect(ctx.reports()).to.have.length(3);
      expect(ctx.out2).to.have.length(0);
      ctx.feed(pumpRows(60, 51, 3));
      await ctx.settled();
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift']);
      // msg.baseline = "get": the learned sample as JSON
      ctx.send({ baseline: 'get' });
      await ctx.settled();
      const got = ctx.out1[ctx.out1.length - 1];
      expect(got.drift).to.equal(undefined);
      expect(got.payload.source).to.equal('learned');
      expect(got.payload.features['vibration.rms'].values).to.have.length(60);
      expect(got.payload.features['vibration.rms'].values).to.deep.equal(rows.slice(0, 60).map((r) => r[0]).sort((a, b) => a - b));
    });

    it('msg.baseline = "learn" learns again from the next vectors', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA, everyWindow: true });
      await baselines(ctx);
      ctx.feed(pumpRows(80, 60, 3));
      await ctx.settled();
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift']);
      ctx.send({ baseline: 'learn' });
      await ctx.settled();
      expect(lastStatus(ctx.n)).to.deep.equal({ fill: 'blue', shape: 'ring', text: 'learning baseline 0/200' });
      const shifted = pumpRows(300, 61, 3);
      // learning: no reports; the configured learn size (default 200)
      ctx.feed(shifted.slice(0, 200));
      await ctx.settled();
      expect(ctx.reports()).to.have.length(3);
      await waitFor('green', () => (lastStatus(ctx.n).fill === 'green' ? true : undefined));
      ctx.feed(shifted.slice(200, 260));
      await ctx.settled();
      const after = ctx.reports().slice(3);
      expect(after.length).to.equal(3);
      expect(after.every((m) => m.drift.baseline.source === 'learned' && m.drift.state === 'ok')).to.equal(true);
    });

    it('file mode: a JSON baseline relative to the user directory (samples) or absolute (quantiles)', async () => {
      const sample = pumpRows(500, 70);
      const samples = { features: Object.fromEntries(NAMES.map((n, i) => [n, sample.map((r) => r[i])])) };
      fs.writeFileSync(path.join(dir, 'baseline.json'), JSON.stringify(samples));
      const sketchFile = path.join(dir, 'sketch.json');
      fs.writeFileSync(sketchFile, JSON.stringify(REF_A)); // the model's reference form
      for (const [baselineFile, kind] of [['baseline.json', 'sample'], [sketchFile, 'sketch']] as const) {
        const ctx = await load({ ...WIN, baselineSource: 'file', baselineFile, everyWindow: true });
        await baselines(ctx);
        expect(logged(ctx.n, `baseline from ${baselineFile} (4 features)`)).to.equal(1);
        ctx.feed(pumpRows(60, 71));
        ctx.feed(pumpRows(60, 72, 3));
        await ctx.settled();
        expect(ctx.errs).to.deep.equal([]);
        expect(ctx.reports()).to.have.length(5);
        expect(ctx.reports()[0].drift.baseline).to.include({ source: 'file', path: baselineFile, features: 4 });
        expect(ctx.reports()[0].drift.features[0].reference.count, kind).to.equal(kind === 'sample' ? 500 : 5000);
        expect(ctx.out2.map((m) => m.payload), kind).to.deep.equal(['drift']);
        await helper.unload();
      }
    });

    it('file mode: a missing or malformed file gives an error and a red status; data then says there is no baseline', async () => {
      fs.writeFileSync(path.join(dir, 'bad.json'), '{ "features": { "a": [1] } }');
      const cases: Array<[string, RegExp]> = [
        ['nope.json', /^cannot use the baseline file nope\.json: ENOENT: no such file or directory/],
        ['bad.json', /^cannot use the baseline file bad\.json: expected at least 2 finite reference values for feature "a", got 1$/],
      ];
      for (const [baselineFile, text] of cases) {
        const ctx = await load({ ...WIN, baselineSource: 'file', baselineFile });
        await waitFor('error', () => (ctx.n.error.args.length ? true : undefined));
        expect(errorsLogged(ctx.n)[0]).to.match(text);
        expect(lastStatus(ctx.n)).to.deep.equal({ fill: 'red', shape: 'ring', text: 'no baseline' });
        ctx.feed(pumpRows(1, 73));
        await ctx.settled();
        expect(ctx.errs[0].error.message).to.match(/^no baseline yet/);
        await helper.unload();
      }
    });

    it('msg.baseline object sets the baseline; "get" sends it back as JSON that sets it again', async () => {
      const ctx = await load({ ...WIN, everyWindow: true });
      ctx.send({ baseline: 'get' });
      await ctx.settled();
      expect(ctx.out1[0].payload).to.equal(null);
      const sample = pumpRows(300, 80);
      ctx.send({ baseline: { features: Object.fromEntries(NAMES.map((n, i) => [n, { values: sample.map((r) => r[i]) }])) } });
      await ctx.settled();
      expect(lastStatus(ctx.n)).to.include({ fill: 'green' });
      ctx.feed(pumpRows(40, 81));
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.reports()[0].drift.baseline).to.include({ source: 'message', features: 4 });
      expect(ctx.reports()[0].drift.features[2].reference.count).to.equal(300);
      ctx.send({ baseline: 'get' });
      await ctx.settled();
      const json = ctx.out1[ctx.out1.length - 1].payload;
      expect(json.source).to.equal('message');
      expect(json.features['temperature.mean'].values).to.have.length(300);
      // the JSON form of a model baseline: quantiles
      ctx.send(modelMsg(META_A));
      await ctx.settled(); // the model message is handled asynchronously
      ctx.send({ baseline: 'get' });
      await ctx.settled();
      const q = ctx.out1[ctx.out1.length - 1].payload;
      expect(q.source).to.equal('model');
      expect(q.features['current.mean']).to.include.keys('edges', 'probabilities', 'mean', 'std', 'count');
      // and it sets the baseline again
      ctx.send({ baseline: q });
      ctx.send({ baseline: 'get' });
      await ctx.settled();
      const q2 = ctx.out1[ctx.out1.length - 1].payload;
      expect(q2.source).to.equal('message');
      expect(q2.features['current.mean'].edges).to.deep.equal(q.features['current.mean'].edges);
      expect(ctx.errs).to.deep.equal([]);
    });

    it('msg.reset empties the window and returns the state to ok', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA, everyWindow: true });
      await baselines(ctx);
      ctx.feed(pumpRows(80, 90, 3));
      await ctx.settled();
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift']);
      await waitFor('red', () => (lastStatus(ctx.n).fill === 'red' ? true : undefined));
      ctx.send({ reset: true });
      await ctx.settled();
      expect(lastStatus(ctx.n)).to.deep.equal({ fill: 'green', shape: 'dot', text: 'ok' });
      const before = ctx.reports().length;
      // an empty window: the next test after a whole window
      ctx.feed(pumpRows(39, 91, 3));
      await ctx.settled();
      expect(ctx.reports().length).to.equal(before);
      ctx.feed(pumpRows(1, 92, 3));
      await ctx.settled();
      expect(ctx.reports().length).to.equal(before + 1);
      expect(ctx.reports()[before].drift).to.include({ state: 'ok', level: 'drift' });
      ctx.feed(pumpRows(20, 93, 3));
      await ctx.settled();
      // the reset's return to ok is announced too, then the drift again
      expect(ctx.out2.map((m) => [m.drift.previous, m.payload])).to.deep.equal([['ok', 'drift'], ['drift', 'ok'], ['ok', 'drift']]);
      expect(ctx.out2[1].drift.reason).to.equal('reset');
      // msg.reset = false (or anything but true) is data, not a reset
      ctx.send({ reset: 'yes' });
      await ctx.settled();
      expect(ctx.errs.map((e) => e.error.message)).to.deep.equal(['expected msg.payload to be a feature vector (number array, typed array or array of rows, with msg.features.names), got undefined']);
    });
  });

  // -------------------------------------------------------------------------
  // Streaming detectors
  // -------------------------------------------------------------------------

  describe('stream mode', () => {
    it('ADWIN on a mean-shifted number stream raises drift on output 2, then clears', async () => {
      const ctx = await load({ mode: 'stream', detector: 'adwin', clear: 5 });
      const g = gauss(mulberry32(300));
      const values = [...Array.from({ length: 1000 }, () => 0.2 + 0.05 * g()), ...Array.from({ length: 600 }, () => 0.35 + 0.05 * g())];
      for (const v of values) ctx.send({ payload: v, topic: 'score' });
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.out1).to.have.length(0);
      expect(ctx.out2.length).to.be.at.least(2);
      const first = ctx.out2[0];
      expect(first.payload).to.equal('drift');
      expect(first.topic).to.equal('score');
      expect(first.drift).to.include({ state: 'drift', previous: 'ok', level: 'drift', method: 'adwin' });
      expect(first.drift.evaluations).to.be.within(1001, 1200);
      expect(first.drift.features).to.deep.equal([]);
      expect(first.drift.detector).to.include.keys('width', 'estimation', 'detections');
      expect(first.drift.baseline).to.deep.equal({ source: 'stream', features: 0 });
      // a detection is raised at once and cleared after 5 updates without one
      expect(ctx.out2[1]).to.deep.include({ payload: 'ok' });
      expect(ctx.out2[1].drift.previous).to.equal('drift');
      expect(ctx.out2[1].drift.evaluations - first.drift.evaluations).to.equal(5);
      ctx.out2.forEach((m, i) => expect(m.payload).to.equal(i % 2 ? 'ok' : 'drift'));
      await waitFor('status', () => (String(lastStatus(ctx.n).text).includes('1600 updates') ? true : undefined));
    });

    it('DDM on a 0/1 error stream (numbers or booleans): warn, then drift; other values are refused', async () => {
      const ctx = await load({ mode: 'stream', detector: 'ddm', everyWindow: true });
      const rand = mulberry32(310);
      for (let i = 0; i < 1000; i++) ctx.send({ payload: rand() < 0.1 ? 1 : 0 });
      await ctx.settled();
      // at a steady error rate DDM warns now and then (its 2-sigma warning level), never drifts
      expect(ctx.out2.map((m) => m.payload), 'no drift at a steady error rate').to.not.include('drift');
      const steady = ctx.out2.length;
      for (let i = 0; i < 500; i++) ctx.send({ payload: rand() < 0.5 });
      ctx.send({ payload: 2 });
      await ctx.settled();
      expect(ctx.errs.map((e) => e.error.message)).to.deep.equal(['expected DDM to get a 0/1 error stream (1 = wrong prediction), got 2']);
      expect(ctx.reports()).to.have.length(1500);
      const after = ctx.out2.slice(steady);
      expect(after.length).to.be.at.least(2);
      expect(after[0].payload, 'DDM warns before it drifts').to.equal('warn');
      expect(after[0].drift.previous).to.equal('ok');
      expect(after[1].payload).to.equal('drift');
      expect(after[1].drift).to.include({ previous: 'warn', method: 'ddm' });
      expect(after[1].drift.evaluations).to.be.within(1001, 1200);
      expect(after[1].drift.detector).to.be.an('object');
    });

    it('a named feature of a features message as the signal (Page-Hinkley)', async () => {
      const ctx = await load({ mode: 'stream', detector: 'page-hinkley', signal: 'vibration.rms', detectorParams: 'threshold=10, min_instances=30' });
      ctx.feed(pumpRows(300, 320));
      await ctx.settled();
      expect(ctx.out2).to.have.length(0);
      ctx.feed(pumpRows(200, 321).map((r) => [r[0] + 0.3, r[1], r[2], r[3]]));
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.out2[0].payload).to.equal('drift');
      expect(ctx.out2[0].drift.method).to.equal('page-hinkley');
      expect(ctx.out2[0].drift.evaluations).to.be.within(301, 400);
      // a shift of another feature is not this signal
      const ctx2 = await (async () => {
        await helper.unload();
        return load({ mode: 'stream', detector: 'page-hinkley', signal: 'vibration.rms', detectorParams: 'threshold=10, min_instances=30' });
      })();
      ctx2.feed(pumpRows(300, 320));
      ctx2.feed(pumpRows(200, 321).map((r) => [r[0], r[1], r[2] + 10, r[3]]));
      ctx2.send({ payload: [1, 2], features: { names: ['a', 'b'] } });
      ctx2.send({ payload: 1.2 });
      await ctx2.settled();
      expect(ctx2.out2).to.have.length(0);
      expect(ctx2.errs.map((e) => e.error.message)).to.deep.equal([
        'expected a feature named "vibration.rms" in msg.features.names, got a, b',
        'expected a features message with msg.features.names to pick the signal "vibration.rms" from, got none',
      ]);
    });

    it('refuses strings and non-finite values', async () => {
      const ctx = await load({ mode: 'stream', detector: 'adwin', everyWindow: true });
      ctx.send({ payload: 'high' });
      ctx.send({ payload: NaN });
      ctx.send({ payload: [1, 'x'] });
      ctx.send({ payload: 0.5 });
      await ctx.settled();
      expect(ctx.errs.map((e) => e.error.message)).to.deep.equal([
        'expected msg.payload to be a number (a score, a prediction error, 0/1 for DDM) or an array of numbers, got the string "high"',
        'expected finite numbers for the detector, got NaN at index 0',
        'expected msg.payload to be a number (a score, a prediction error, 0/1 for DDM) or an array of numbers, got an array holding the string "x" at index 1',
      ]);
      expect(ctx.reports()).to.have.length(1);
      expect(ctx.reports()[0].drift.evaluations).to.equal(1);
    });

    it('a refused array changes nothing', async () => {
      const ctx = await load({ mode: 'stream', detector: 'adwin', everyWindow: true });
      ctx.send({ payload: [0.1, 0.2, 0.3, NaN] });
      await ctx.settled();
      expect(ctx.errs.map((e) => e.error.message)).to.deep.equal(['expected finite numbers for the detector, got NaN at index 3']);
      ctx.send({ payload: 0.5 });
      await ctx.settled();
      expect(ctx.reports()[0].drift.evaluations, 'updates counted after a refused message').to.equal(1);
    });

    it('an array message whose values raise and clear drift reports both changes', async () => {
      const ctx = await load({ mode: 'stream', detector: 'adwin', clear: 5 });
      const g = gauss(mulberry32(300));
      const values = [...Array.from({ length: 1000 }, () => 0.2 + 0.05 * g()), ...Array.from({ length: 600 }, () => 0.35 + 0.05 * g())];
      ctx.send({ payload: values });
      await ctx.settled();
      expect(ctx.errs).to.deep.equal([]);
      expect(ctx.out2.length).to.be.at.least(1);
      expect(ctx.out2[0].payload, 'the first state change on output 2').to.equal('drift');
    });
  });

  // -------------------------------------------------------------------------
  // Bad input, bad configuration
  // -------------------------------------------------------------------------

  describe('bad input and configuration', () => {
    it('bad messages fail with what was expected; accepted vectors in between are not lost', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA, everyWindow: true });
      await baselines(ctx);
      const good = pumpRows(60, 400);
      const bad: Array<Record<string, unknown>> = [
        { payload: 'hello' },
        { payload: [1, 2, 3] },
        { payload: [1, 2], features: { names: ['a', 'b'] } },
        { payload: [1, 2, 3], features: { names: NAMES } },
        { payload: [[1, 2, 3, 4], [1, 2]], features: { names: NAMES } },
        { payload: new Float64Array(8), features: { names: NAMES, shape: [3, 4] } },
        { model: { name: 'gone', path: path.join(dir, 'missing.onnx') } },
        { model: { name: 'plain', version: '1', path: plain } },
        { model: { name: 'plain', version: '1', metadata: { name: 'plain' } } },
        { model: { name: 'junk', path: garbage } },
        { baseline: { foo: 1 } },
        { baseline: [1, 2] },
      ];
      const expected: Array<string | RegExp> = [
        'expected msg.payload to be a feature vector (number array, typed array or array of rows, with msg.features.names), got the string "hello"',
        "expected msg.features.names, or 4 values in the baseline's feature order, got 3 values without names",
        'expected features named as in the baseline (vibration.rms, vibration.kurtosis, temperature.mean, current.mean), got a, b',
        'expected as many values as msg.features.names (4), got 3',
        'expected every row of msg.payload to have 4 values, row 1 has 2',
        'expected msg.features.shape [rows, k] to match the 8 values of msg.payload, got [3,4]',
        new RegExp(`^cannot read the reference of the model ${path.join(dir, 'missing.onnx').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT: no such file or directory`),
        'the model plain carries no reference distribution (metadata "reference"): expected a model written by this package, a baseline file, or learning',
        'the model plain carries no reference distribution (metadata "reference"): expected a model written by this package, a baseline file, or learning',
        /^cannot read the reference of the model .*garbage\.onnx: /,
        'expected a baseline object with "features": { name: values | { edges, ... } }',
        'expected a baseline object { features: { name: values | { edges, ... } } }, got an array',
      ];
      // interleaved: bad, 5 good, bad, 5 good, ...
      let g = 0;
      for (const b of bad) {
        ctx.send({ ...b, tag: bad.indexOf(b) });
        ctx.feed(good.slice(g, g + 5));
        g += 5;
      }
      await ctx.settled();
      const texts = ctx.errs.map((e) => e.error.message);
      expect(texts).to.have.length(bad.length);
      // the model messages answer asynchronously: compare as sets, each with its own text
      const byMsg = ctx.errs.map((e) => [e.tag as number, e.error.message as string] as const);
      for (const [i, text] of byMsg) {
        expect(i, text).to.be.at.least(0);
        const want = expected[i];
        if (typeof want === 'string') expect(text, `message ${i}`).to.equal(want);
        else expect(text, `message ${i}`).to.match(want);
      }
      expect(new Set(byMsg.map(([i]) => i)).size).to.equal(bad.length);
      for (const e of ctx.errs) expect(e.error.source.id).to.equal('d');
      // 60 good vectors went in: tests at 40 and 60, the baseline is still model 1
      expect(ctx.reports()).to.have.length(2);
      expect(ctx.reports()[0].drift.features.every((f: any) => f.count === 40)).to.equal(true);
      expect(ctx.reports()[1].drift.baseline).to.include({ name: 'pump', version: '1' });
      expect(ctx.reports().every((m) => m.drift.state === 'ok')).to.equal(true);
      // and it keeps working: a shifted stream is reported
      ctx.feed(pumpRows(60, 401, 3));
      await ctx.settled();
      expect(ctx.out2.map((m) => m.payload)).to.deep.equal(['drift']);
    });

    it('a model message with a malformed reference fails through done(err)', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA });
      await baselines(ctx);
      const mochaListeners = process.listeners('unhandledRejection');
      process.removeAllListeners('unhandledRejection');
      const rejections: unknown[] = [];
      const mine = (r: unknown) => rejections.push(r);
      process.on('unhandledRejection', mine);
      try {
        const badRef = { probabilities: [0, 0.5, 1], features: { 'vibration.rms': { edges: [3, 2, 1], mean: 2, std: 1, count: 100 } } };
        ctx.send(modelMsg({ name: 'broken', version: '1', features: ['vibration.rms'], reference: badRef }));
        await waitFor('an error or a rejection', () => (ctx.errs.length || rejections.length ? true : undefined));
        await sleep(50);
      } finally {
        process.removeListener('unhandledRejection', mine);
        for (const l of mochaListeners) process.on('unhandledRejection', l as any);
      }
      expect(rejections.map((r) => String((r as Error)?.message ?? r)), 'unhandled rejections').to.deep.equal([]);
      expect(ctx.errs.map((e) => e.error.message)).to.deep.equal(['expected feature "vibration.rms" of the reference to have non-decreasing edges']);
    });

    it('a model whose reference shares no feature with the configured features fails through done(err)', async () => {
      const ctx = await load({ ...WIN, features: 'vibration.rms, current.mean' });
      const mochaListeners = process.listeners('unhandledRejection');
      process.removeAllListeners('unhandledRejection');
      const rejections: unknown[] = [];
      const mine = (r: unknown) => rejections.push(r);
      process.on('unhandledRejection', mine);
      try {
        const other = referenceFromData(['x', 'y'], pumpRows(100, 410).map((r) => [r[0], r[1]]));
        ctx.send(modelMsg({ name: 'other', version: '1', features: ['x', 'y'], reference: other }));
        await waitFor('an error or a rejection', () => (ctx.errs.length || rejections.length ? true : undefined));
        await sleep(50);
      } finally {
        process.removeListener('unhandledRejection', mine);
        for (const l of mochaListeners) process.on('unhandledRejection', l as any);
      }
      expect(rejections.map((r) => String((r as Error)?.message ?? r)), 'unhandled rejections').to.deep.equal([]);
      expect(ctx.errs.map((e) => e.error.message)).to.deep.equal(['expected the baseline to describe the watched features (vibration.rms, current.mean), it has x, y']);
    });

    it('the configured features: only those are tested', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA, features: 'vibration.rms, current.mean', everyWindow: true });
      await baselines(ctx);
      // only temperature shifts: not watched
      ctx.feed(pumpRows(100, 420).map((r) => [r[0], r[1], r[2] + 20, r[3]]));
      await ctx.settled();
      expect(ctx.reports()[0].drift.features.map((f: any) => f.name)).to.deep.equal(['vibration.rms', 'current.mean']);
      expect(ctx.out2).to.have.length(0);
      ctx.feed(pumpRows(60, 421).map((r) => [r[0] + 1, r[1], r[2], r[3]]));
      await ctx.settled();
      // one of two watched features drifted: share 0.5 = drift
      expect(ctx.out2.map((m) => [m.payload, m.drift.drifted])).to.deep.equal([['drift', ['vibration.rms']]]);
    });

    it('a distance test on a window too small for its threshold: a warning at deploy', async () => {
      const ctx = await load({ method: 'psi', windowSize: 30, evaluateEvery: 10 });
      expect(ctx.n.warn.args.map((a) => String(a[0]))).to.deep.equal([
        'psi on a window of 30 vectors: sampling noise alone gives about 0.30 with no drift, against a threshold of 0.2; use a window of 100 or more, a higher threshold, or the KS test',
      ]);
      await helper.unload();
      const ok = await load({ method: 'psi', windowSize: 100, evaluateEvery: 10 });
      expect(ok.n.warn.args).to.deep.equal([]);
    });

    const badConfigs: Array<[Record<string, unknown>, string]> = [
      [{ alpha: 2 }, 'expected alpha in (0, 1), got 2'],
      [{ windowSize: 3 }, 'expected window size an integer from 5 to 100000, got 3'],
      [{ warnShare: 0.8, driftShare: 0.5 }, 'expected warn share in (0, drift share 0.5], got 0.8'],
      [{ method: 'chi2' }, 'expected method ks | psi | wasserstein | js, got chi2'],
      [{ mode: 'batch' }, 'expected mode window | stream, got batch'],
      [{ baselineSource: 'file', baselineFile: ' ' }, 'expected baseline file a path to a JSON file, got ""'],
      [{ baselineSource: 'learn', learnSize: 1 }, 'expected learn size an integer from 2 to 100000, got 1'],
      [{ mode: 'stream', detector: 'cusum' }, 'expected detector adwin | page-hinkley | kswin | ddm, got cusum'],
      [{ mode: 'stream', detectorParams: 'delta=2' }, 'expected ADWIN delta in (0, 1), got 2'],
      [{ mode: 'stream', detectorParams: 'delta' }, 'expected detector parameters as name=value pairs separated by commas (e.g. "delta=0.002, clock=32"), got "delta"'],
    ];
    it('a bad configuration: red status, an error at deploy, every message fails with the reason', async () => {
      for (const [props, reason] of badConfigs) {
        const ctx = await load(props);
        expect(errorsLogged(ctx.n), JSON.stringify(props)).to.deep.equal([`invalid configuration: ${reason}`]);
        expect(statuses(ctx.n), JSON.stringify(props)).to.deep.equal([{ fill: 'red', shape: 'ring', text: 'invalid configuration' }]);
        ctx.send({ payload: 1 });
        ctx.send(modelMsg(META_A));
        await ctx.settled();
        expect(ctx.errs.map((e) => e.error.message), JSON.stringify(props)).to.deep.equal([`invalid configuration: ${reason}`, `invalid configuration: ${reason}`]);
        await helper.unload();
      }
    });
  });

  // -------------------------------------------------------------------------
  // The report endpoint
  // -------------------------------------------------------------------------

  describe('GET /mlops-drift-detect/:id/report', () => {
    it('the last report with histograms of the reference and the current window; 404 for an unknown id', async () => {
      const ctx = await load({ ...WIN, modelPath: modelA });
      await baselines(ctx);
      let res = await helper.request().get(`/${NS}/d/report`).expect(200);
      expect(res.body.phase).to.equal('running');
      expect(res.body.report).to.equal(null);
      expect(res.body.baseline).to.include({ source: 'model', features: 4 });
      expect(res.body.baseline.origin).to.include({ name: 'pump', version: '1', path: modelA });
      ctx.feed(pumpRows(50, 500));
      ctx.feed(pumpRows(30, 501, 3));
      await ctx.settled();
      res = await helper.request().get(`/${NS}/d/report`).expect(200);
      expect(res.body.report.evaluations).to.equal(evaluationsAfter(80));
      expect(res.body.report.features.map((f: any) => f.name)).to.deep.equal(NAMES);
      const h = res.body.histograms;
      expect(h.map((x: any) => x.name)).to.deep.equal(NAMES);
      for (const x of h) {
        expect(x.bins).to.have.length(11); // the deciles of the model's reference
        expect(x.bins).to.deep.equal(REF_A.features[x.name].edges.filter((_e: number, i: number) => [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1].some((p) => Math.abs(REF_A.probabilities[i] - p) < 1e-9)));
        expect(x.expected).to.have.length(10);
        expect(x.actual).to.have.length(10);
        expect(x.expected.reduce((a: number, b: number) => a + b, 0)).to.be.closeTo(1, 1e-9);
        expect(x.actual.reduce((a: number, b: number) => a + b, 0)).to.be.closeTo(1, 1e-9);
        // 30 of the 40 values in the window are shifted by 3 std: most in the last (open) bin
        expect(x.actual[9]).to.be.at.least(0.6);
      }
      res = await helper.request().get(`/${NS}/nope/report`).expect(404);
      expect(res.body).to.deep.equal({ error: 'this node is not deployed' });
      await helper.unload();
      // a closed node is gone from the endpoint
      await helper.request().get(`/${NS}/d/report`).expect(404);
    });

    it('in stream mode: the last report, no histograms', async () => {
      const ctx = await load({ mode: 'stream', detector: 'page-hinkley' });
      for (let i = 0; i < 10; i++) ctx.send({ payload: i / 10 });
      await ctx.settled();
      const res = await helper.request().get(`/${NS}/d/report`).expect(200);
      expect(res.body.phase).to.equal('running');
      expect(res.body.report.evaluations).to.equal(10);
      expect(res.body.report.method).to.equal('page-hinkley');
      expect(res.body.baseline).to.equal(null);
      expect(res.body.histograms).to.deep.equal([]);
    });
  });

  // -------------------------------------------------------------------------
  // Close
  // -------------------------------------------------------------------------

  it('redeploys 50 times (a model read in flight, a throttled status pending): every close finishes, no timer or node left behind', async () => {
    const timers = () => (process as any).getActiveResourcesInfo().filter((r: string) => r === 'Timeout').length;
    // one warm-up deploy so that lazily created timers of the runtime exist before counting
    let ctx = await load({ ...WIN, modelPath: modelA });
    await baselines(ctx);
    await helper.unload();
    await sleep(50);
    const t0 = timers();
    const rows = pumpRows(30, 600);
    let pendingSeen = 0;
    for (let k = 0; k < 50; k++) {
      const props = k % 3 === 0 ? { ...WIN, modelPath: modelA } : k % 3 === 1 ? { mode: 'stream', detector: 'kswin' } : { ...WIN, baselineSource: 'learn', learnSize: 10 };
      ctx = await load(props);
      if (k % 3 !== 0) {
        ctx.feed(rows);
        await ctx.settled();
        // a throttled status update is now pending: the timer close must clear
        pendingSeen = Math.max(pendingSeen, timers() - t0);
      } else ctx.send(modelMsg(META_A));
      // the close finishes (Node-RED reports one that outlasts its close timeout on the node); the
      // helper restores its spies when unload() starts, so a wrapper of our own sees that report
      const proto = (helper as any)._NodePrototype;
      const unloading = helper.unload();
      const error = proto.error;
      const closeErrors: string[] = [];
      proto.error = function (this: any, ...a: any[]) {
        if (this.id === 'd') closeErrors.push(String(a[0]?.message ?? a[0]));
        return error.apply(this, a);
      };
      try {
        await unloading;
      } finally {
        proto.error = error;
      }
      expect(closeErrors, `errors during close #${k}`).to.deep.equal([]);
      expect(timers(), `timers after close #${k}`).to.be.at.most(t0);
      await helper.request().get(`/${NS}/d/report`).expect(404);
    }
    // a pending status update or file read must not fire on a closed node (it would throw or log)
    await sleep(700);
    expect(timers()).to.be.at.most(t0);
    expect(pendingSeen, 'a status timer was pending before each close (so the check above means something)').to.be.at.least(1);
  });
});

describe('mlops-drift-detect i18n catalogs and help', () => {
  const src = ['nodes/mlops-drift-detect.ts', 'nodes/lib/drift/controller.ts', 'nodes/lib/drift/monitor.ts', 'nodes/lib/drift/baseline.ts', ...fs.readdirSync(path.join(ROOT, 'nodes/lib/drift/detectors')).map((f) => `nodes/lib/drift/detectors/${f}`)]
    .map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8'))
    .join('\n');
  const html = fs.readFileSync(path.join(ROOT, `nodes/${NS}.html`), 'utf8');
  const keys = new Set<string>();
  for (const m of src.matchAll(/\bt(?:Or)?\(\s*[`']([a-zA-Z.]+)[`']/g)) keys.add(m[1]);
  for (const m of src.matchAll(/new (?:MonitorError|DriftInputError|BaselineError|DetectorParamError)\(\s*'([a-zA-Z]+)'/g)) keys.add(`errors.${m[1]}`);
  for (const m of html.matchAll(/mlops-drift-detect\.([a-zA-Z]+\.[a-zA-Z0-9]+)/g)) keys.add(m[1]);
  for (const s of ['ok', 'warn', 'drift']) keys.add(`state.${s}`);

  for (const lang of ['en-US', 'de']) {
    it(`${lang}: every key the node uses exists; help has Inputs, Outputs, Details`, () => {
      const cat = JSON.parse(fs.readFileSync(path.join(ROOT, `locales/${lang}/${NS}.json`), 'utf8'))[NS];
      const missing = [...keys].filter((k) => typeof k.split('.').reduce((o: any, p) => (o ? o[p] : undefined), cat) !== 'string');
      expect(missing).to.deep.equal([]);
      expect(keys.size).to.be.greaterThan(60);
      const help = fs.readFileSync(path.join(ROOT, `locales/${lang}/${NS}.html`), 'utf8');
      expect(help).to.contain(`data-help-name="${NS}"`);
      expect(help).to.match(/<h3>(Inputs|Eingaben|Eingänge)<\/h3>[\s\S]*<h3>(Outputs|Ausgaben|Ausgänge)<\/h3>[\s\S]*<h3>Details<\/h3>/);
    });
  }

  it('every __placeholder__ of an error text is a parameter the code passes', () => {
    // the parameters of each error code, from `new XError('code', { a, b: ... }`
    const params = new Map<string, Set<string>>();
    for (const m of src.matchAll(/new (?:MonitorError|DriftInputError|BaselineError|DetectorParamError)\(\s*'([a-zA-Z]+)',\s*\{([^}]*)\}/g)) {
      const names = new Set([...m[2].matchAll(/([A-Za-z_]\w*)\s*(?::|,|$)/g)].map((x) => x[1]).filter((x) => !['String', 'JSON'].includes(x)));
      const s = params.get(m[1]) ?? new Set<string>();
      for (const n of names) s.add(n);
      params.set(m[1], s);
    }
    expect(params.size).to.be.greaterThan(20);
    for (const lang of ['en-US', 'de']) {
      const errors = JSON.parse(fs.readFileSync(path.join(ROOT, `locales/${lang}/${NS}.json`), 'utf8'))[NS].errors as Record<string, string>;
      const bad: string[] = [];
      for (const [code, text] of Object.entries(errors)) {
        const have = params.get(code);
        if (!have) continue;
        for (const v of text.matchAll(/__(\w+)__/g)) if (!have.has(v[1])) bad.push(`${lang} errors.${code}: __${v[1]}__`);
      }
      expect(bad).to.deep.equal([]);
    }
  });

  it('the example flow is valid flow JSON using this node', () => {
    const flowJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/drift-detect.json'), 'utf8'));
    expect(flowJson).to.be.an('array');
    const ids = new Set(flowJson.map((n: { id: string }) => n.id));
    expect(ids.size).to.equal(flowJson.length);
    expect(flowJson.some((n: { type: string }) => n.type === NS)).to.equal(true);
    for (const n of flowJson) for (const w of n.wires ?? []) for (const id of w) expect(ids.has(id), id).to.equal(true);
  });
});
