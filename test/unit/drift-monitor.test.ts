/**
 * The drift monitor without Node-RED: baselines (model sketch, samples, JSON), the incremental
 * window against a recomputation from scratch, each method on real shifts and on no shift,
 * hysteresis, and the controller's baseline handling and inputs.
 */
import { expect } from 'chai';
import { referenceFromData } from '../../nodes/lib/model/export';
import {
  BaselineLearner, baselineFromJson, baselineFromModel, baselineFromSamples, baselineToJson,
} from '../../nodes/lib/drift/baseline';
import { DriftController, featureRows, parseDriftConfig, parseParams, signalValues } from '../../nodes/lib/drift/controller';
import { featureStats, Hysteresis, StreamMonitor, WINDOW_DEFAULTS, WindowMonitor, windowWarnings } from '../../nodes/lib/drift/monitor';
import { ks2samp } from '../../nodes/lib/drift/ks';
import { domainFromData } from '../../nodes/lib/drift/domain';
import { binIndex, ksStatisticSketch, sketchCdf as cdfRight, sketchCdfLeft as cdfLeft } from '../../nodes/lib/drift/stats';
import { gaussian, mulberry32 } from '../../nodes/lib/random';

/** n rows of k features, feature j ~ N(mu + j, 1 + j/10). */
function rows(seed: number, n: number, k: number, mu = 0, scale = 1): number[][] {
  const g = gaussian(seed);
  return Array.from({ length: n }, () => Array.from({ length: k }, (_, j) => mu + j + scale * (1 + j / 10) * g()));
}

const names = (k: number) => Array.from({ length: k }, (_, j) => `ch.f${j}`);

function modelBaseline(k = 4, n = 5000, seed = 1) {
  const md = { name: 'm', version: '1.0.0', features: names(k), reference: referenceFromData(names(k), rows(seed, n, k)) };
  return baselineFromModel(md, { digest: 'sha256:abc' })!;
}

function feed(m: WindowMonitor, data: number[][], nm = names(data[0].length)) {
  const reports = [];
  for (const row of data) {
    const r = m.ingest(row, 1, row.length, nm);
    if (r) reports.push(r);
  }
  return reports;
}

describe('drift baseline', () => {
  it('the sketch CDF is piecewise linear through the quantiles, with jumps at repeated edges', () => {
    const e = [0, 1, 1, 3];
    const p = [0, 0.25, 0.5, 1];
    expect(cdfRight(e, p, -1)).to.equal(0);
    expect(cdfRight(e, p, 0.5)).to.be.closeTo(0.125, 1e-12);
    expect(cdfLeft(e, p, 1)).to.be.closeTo(0.25, 1e-12); // before the jump at 1
    expect(cdfRight(e, p, 1)).to.be.closeTo(0.5, 1e-12); // after it
    expect(cdfRight(e, p, 2)).to.be.closeTo(0.75, 1e-12);
    expect(cdfRight(e, p, 3)).to.equal(1);
    expect(cdfLeft(e, p, 3)).to.be.closeTo(1, 1e-12);
    expect(cdfRight(e, p, 9)).to.equal(1);
  });

  it('the KS statistic against a sketch equals the two-sample statistic against a dense sample of the same piecewise-linear distribution', () => {
    const edges = [-2, -1, 0, 0.5, 2];
    const probs = [0, 0.2, 0.5, 0.7, 1];
    // a dense sample of the piecewise-linear distribution: its quantiles at (i + 0.5) / N
    const N = 200000;
    const dense = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const q = (i + 0.5) / N;
      let s = 0;
      while (probs[s + 1] < q) s++;
      dense[i] = edges[s] + ((q - probs[s]) / (probs[s + 1] - probs[s])) * (edges[s + 1] - edges[s]);
    }
    const g = gaussian(3);
    for (const shift of [0, 0.3, 1]) {
      const cur = Float64Array.from({ length: 150 }, () => 0.5 * g() + shift).sort();
      const d = ksStatisticSketch(cur, cur.length, edges, probs);
      expect(d).to.be.closeTo(ks2samp(cur, dense).statistic, 2e-5);
    }
  });

  it('a model\'s reference becomes a baseline in the model\'s feature order, deciles expecting 10 % each', () => {
    const b = modelBaseline(4);
    expect(b.source).to.equal('model');
    expect(b.origin).to.deep.include({ name: 'm', version: '1.0.0', digest: 'sha256:abc' });
    expect(b.features.map((f) => f.name)).to.deep.equal(names(4));
    for (const f of b.features) {
      expect(f.sample).to.equal(undefined);
      expect(f.expected.length).to.equal(10);
      for (const e of f.expected) expect(e).to.be.closeTo(0.1, 1e-12);
      expect(f.count).to.equal(5000);
    }
    expect(b.features[2].mean).to.be.closeTo(2, 0.05);
    expect(baselineFromModel({ name: 'x' })).to.equal(undefined);
  });

  it('a constant feature in a sketch puts all its expected mass where current values of that constant land', () => {
    const b = baselineFromJson({ probabilities: [0, 0.5, 1], features: { c: { edges: [3, 3, 3] } } });
    const f = b.features[0];
    expect(f.expected[binIndex(f.bins, 3)]).to.be.closeTo(1, 1e-12);
    expect(f.std).to.equal(0);
  });

  it('samples, JSON in every accepted form, and the round trip through baselineToJson', () => {
    const s = baselineFromSamples({ a: [3, 1, 2, NaN, 5, 4], b: [1, 1, 1, 2] });
    expect(Array.from(s.features[0].sample!)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(s.features[0].mean).to.equal(3);
    const back = baselineFromJson(baselineToJson(s));
    expect(Array.from(back.features[1].sample!)).to.deep.equal([1, 1, 1, 2]);
    const m = modelBaseline(2);
    const mb = baselineFromJson(baselineToJson(m));
    expect(Array.from(mb.features[1].edges)).to.deep.equal(Array.from(m.features[1].edges));
    expect(baselineFromJson({ features: { a: { values: [1, 2, 3] } } }).features[0].count).to.equal(3);
    expect(baselineFromJson({ name: 'n', reference: m && referenceFromData(['x'], [[1], [2], [3]]) }).features[0].name).to.equal('x');
  });

  it('a model\'s training domain travels with its baseline through a file (baselineToJson) and a metadata object; a damaged one is left out', () => {
    const x = rows(3, 200, 3);
    const names = ['a', 'b', 'c'];
    const md = { name: 'm', version: '1', kind: 'regressor' as const, features: names, reference: referenceFromData(names, x), domain: domainFromData(names, x) };
    const fromModel = baselineFromModel(md)!;
    expect(fromModel.domain).to.deep.equal(md.domain);
    const json = JSON.parse(JSON.stringify(baselineToJson(fromModel)));
    expect(baselineFromJson(json).domain).to.deep.equal(md.domain);
    expect(baselineFromJson(JSON.parse(JSON.stringify(md))).domain).to.deep.equal(md.domain);
    // a file baseline of samples has no domain; a damaged domain is not used
    expect(baselineFromJson(baselineToJson(baselineFromSamples({ a: [1, 2, 3] })))).to.not.have.property('domain');
    expect(baselineFromJson({ ...json, domain: { ...md.domain, mean: [1] } })).to.not.have.property('domain');
    // a training reference from a file is tested as one (dependent vectors: auto -> effective count), with its domain
    const mon = new WindowMonitor({ windowSize: 10 }, baselineFromJson(json), 0);
    let r;
    for (const v of rows(4, 10, 3)) r = mon.ingest(v, 1, 3, names, 0) ?? r;
    expect(r!.shift!.dependence).to.equal('effective');
    expect(r!.domain).to.not.equal(undefined);
    const learned = new WindowMonitor({ windowSize: 10 }, baselineFromSamples({ a: x.map((v) => v[0]), b: x.map((v) => v[1]), c: x.map((v) => v[2]) }), 0);
    for (const v of rows(4, 10, 3)) r = learned.ingest(v, 1, 3, names, 0) ?? r;
    expect(r!.shift!.dependence).to.equal('independent');
  });

  it('rejects malformed baselines with what was expected', () => {
    expect(() => baselineFromJson([1, 2])).to.throw(/expected a baseline object/);
    expect(() => baselineFromJson({ features: { a: 'x' } })).to.throw(/feature "a" of the baseline to be an array of values/);
    expect(() => baselineFromJson({ features: { a: [1] } })).to.throw(/at least 2 finite reference values for feature "a", got 1/);
    expect(() => baselineFromJson({ probabilities: [0, 1], features: { a: { edges: [2, 1] } } })).to.throw(/non-decreasing edges/);
    expect(() => baselineFromJson({ features: { a: { edges: [1, 2] } } })).to.throw(/as many probabilities as edges/);
    expect(() => baselineFromJson({ features: {} })).to.throw(/at least one feature/);
  });

  it('learns from the first N vectors and leaves out a feature that had no values', () => {
    const L = new BaselineLearner(3);
    L.add(['a', 'b'], [1, NaN]);
    L.add(['a', 'b'], [2, NaN]);
    expect(L.done).to.equal(false);
    L.add(['a', 'b'], [3, NaN]);
    L.add(['a', 'b'], [99, 99]); // past N: ignored
    expect(L.done).to.equal(true);
    const b = L.build();
    expect(b.features.map((f) => f.name)).to.deep.equal(['a']);
    expect(Array.from(b.features[0].sample!)).to.deep.equal([1, 2, 3]);
  });
});

describe('drift window monitor', () => {
  it('the incremental window gives the same statistics as a recomputation from scratch (with missing values)', () => {
    const k = 3;
    const W = 40;
    const b = baselineFromSamples(Object.fromEntries(names(k).map((n, j) => [n, rows(5, 300, k).map((r) => r[j])])));
    const m = new WindowMonitor({ windowSize: W, evaluateEvery: 7 }, b);
    const data = rows(6, 500, k, 0.2);
    const r = mulberry32(9);
    for (const row of data) if (r() < 0.1) row[Math.floor(r() * k)] = NaN;
    const history: number[][] = [];
    let checked = 0;
    for (const row of data) {
      history.push(row);
      const rep = m.ingest(row, 1, k, names(k));
      if (!rep) continue;
      for (let j = 0; j < k; j++) {
        const win = history.slice(-W).map((x) => x[j]).filter(Number.isFinite).sort((x, y) => x - y);
        const ref = b.features[j];
        const counts = new Float64Array(ref.bins.length - 1);
        for (const v of win) counts[binIndex(ref.bins, v)]++;
        const naive = featureStats(Float64Array.from(win), win.length, counts, ref);
        const f = rep.features.find((x) => x.name === ref.name)!;
        expect(f.count).to.equal(win.length);
        expect(f.ks).to.be.closeTo(naive.ks, 1e-12);
        expect(f.ksPValue).to.be.closeTo(naive.ksPValue, 1e-12);
        expect(f.psi).to.be.closeTo(naive.psi, 1e-12);
        expect(f.wasserstein).to.be.closeTo(naive.wasserstein, 1e-12);
        expect(f.js).to.be.closeTo(naive.js, 1e-12);
        checked++;
      }
    }
    expect(checked).to.be.greaterThan(150);
  });

  it('waits for a full window, then tests every N vectors', () => {
    const m = new WindowMonitor({ windowSize: 20, evaluateEvery: 5 }, modelBaseline(4));
    const reps = feed(m, rows(2, 60, 4));
    expect(reps.length).to.equal(9); // at 20, 25, ..., 60
    expect(reps[0].evaluations).to.equal(1);
    expect(m.windowFill).to.equal(20);
  });

  for (const method of ['ks', 'psi', 'wasserstein', 'js'] as const) {
    it(`${method}: no drift on data from the reference distribution, drift on a shift of one standard deviation`, () => {
      const m = new WindowMonitor({ method, windowSize: 200, evaluateEvery: 20 }, modelBaseline(4, 20000));
      const calm = feed(m, rows(11, 3000, 4));
      const alarms = calm.filter((r) => r.level !== 'ok').length;
      expect(alarms / calm.length, `${alarms} of ${calm.length} tests alarmed`).to.be.at.most(0.05);
      expect(m.hysteresis.state).to.equal('ok');
      // all features shift by one standard deviation
      const shifted = rows(12, 400, 4).map((r) => r.map((v, j) => v + (1 + j / 10)));
      const reps = feed(m, shifted);
      expect(m.hysteresis.state).to.equal('drift');
      const change = reps.find((r) => r.previous !== undefined)!;
      expect(change.previous).to.equal('ok');
      expect(change.drifted.length).to.be.at.least(2);
      expect(change.statistic).to.be.at.least(0.5);
    });
  }

  it('KS p-values are corrected across features (Bonferroni is stricter than none)', () => {
    const b = modelBaseline(4, 20000);
    const data = rows(21, 200, 4).map((r) => r.map((v, j) => v + 0.25 * (1 + j / 10)));
    const strict = new WindowMonitor({ windowSize: 200, evaluateEvery: 200, correction: 'bonferroni' }, b);
    const loose = new WindowMonitor({ windowSize: 200, evaluateEvery: 200, correction: 'none' }, b);
    const s = feed(strict, data)[0];
    const l = feed(loose, data)[0];
    s.features.forEach((f, i) => expect(f.pValue).to.be.closeTo(Math.min(1, 4 * l.features[i].pValue!), 1e-12));
    expect(s.pValue).to.equal(Math.min(...s.features.map((f) => f.pValue!)));
  });

  it('a new baseline keeps the window, rebins it and starts the state from ok', () => {
    const m = new WindowMonitor({ windowSize: 50, evaluateEvery: 10, confirm: 1 }, modelBaseline(4));
    feed(m, rows(3, 50, 4, 3));
    expect(m.hysteresis.state).to.equal('drift');
    const shiftedRef = baselineFromModel({ features: names(4), reference: referenceFromData(names(4), rows(4, 5000, 4, 3)) })!;
    expect(m.setBaseline(shiftedRef)).to.equal(true);
    expect(m.hysteresis.state).to.equal('ok');
    expect(m.windowFill).to.equal(50);
    const r = m.evaluate();
    expect(r.level).to.equal('ok');
  });

  it('watches only the features named, and says what it expected of inputs', () => {
    const m = new WindowMonitor({ windowSize: 10, evaluateEvery: 10, features: ['ch.f1', 'ch.f3'] }, modelBaseline(4));
    const [r] = feed(m, rows(3, 10, 4));
    expect(r.features.map((f) => f.name)).to.deep.equal(['ch.f1', 'ch.f3']);
    expect(() => m.ingest([1, 2, 3], 1, 3)).to.throw(/expected msg.features.names, or 4 values in the baseline's feature order, got 3 values without names/);
    expect(() => m.ingest([1, 2], 1, 2, ['x', 'y'])).to.throw(/expected features named as in the baseline/);
    expect(() => new WindowMonitor({ windowSize: 10, features: ['nope'] }, modelBaseline(2))).to.throw(/expected the baseline to describe the watched features \(nope\)/);
    expect(() => new WindowMonitor({ alpha: 2 })).to.throw(/expected alpha in \(0, 1\), got 2/);
    expect(() => new WindowMonitor({ warnShare: 0.9, driftShare: 0.5 })).to.throw(/warn share/);
  });

  it('a feature with mostly missing values is not tested, the others are', () => {
    const m = new WindowMonitor({ windowSize: 20, evaluateEvery: 20 }, modelBaseline(3));
    const data = rows(8, 20, 3).map((r, i) => [r[0], i < 5 ? r[1] : NaN, r[2]]);
    const [r] = feed(m, data, names(3));
    expect(r.features.map((f) => f.name)).to.deep.equal(['ch.f0', 'ch.f2']);
  });

  it('packed batches give the same report as the same rows one by one', () => {
    const data = rows(31, 120, 4, 0.5);
    const one = new WindowMonitor({ windowSize: 100, evaluateEvery: 20 }, modelBaseline(4));
    const reps = feed(one, data);
    const batch = new WindowMonitor({ windowSize: 100, evaluateEvery: 20 }, modelBaseline(4));
    const r = batch.ingest(Float64Array.from(data.flat()), 120, 4, names(4))!;
    const last = reps[reps.length - 1];
    expect(r.features.map((f) => f.ks)).to.deep.equal(last.features.map((f) => f.ks));
    expect(r.evaluations).to.equal(1);
  });

  it('warns about PSI, Wasserstein and JS on windows too small for their thresholds, not about KS', () => {
    const w = (over: object) => windowWarnings({ ...WINDOW_DEFAULTS, ...over });
    expect(w({ method: 'psi', windowSize: 30 })[0].message).to.match(/psi on a window of 30 vectors: sampling noise alone gives about 0.30/);
    expect(w({ method: 'js', windowSize: 30 })).to.have.length(1);
    expect(w({ method: 'wasserstein', windowSize: 30, wassersteinThreshold: 1 })).to.have.length(0);
    expect(w({ method: 'ks', windowSize: 10 })).to.have.length(0);
    expect(w({ method: 'psi', windowSize: 100 })).to.have.length(0);
  });

  it('histograms give the reference and current share of each bin', () => {
    const m = new WindowMonitor({ windowSize: 30, evaluateEvery: 30 }, modelBaseline(2));
    feed(m, rows(3, 30, 2));
    const data = rows(3, 30, 2);
    const h = m.histograms();
    expect(h.length).to.equal(2);
    expect(h[1].current).to.deep.equal([Math.min(...data.map((r) => r[1])), Math.max(...data.map((r) => r[1]))]);
    expect(h[0].bins.length).to.equal(11);
    expect(h[0].actual.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-12);
    expect(h[0].expected.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-12);
  });
});

describe('drift hysteresis', () => {
  it('rises after `confirm` levels in a row and falls after `clear` in a row below', () => {
    const h = new Hysteresis(3, 4, 0);
    const seq = ['drift', 'drift', 'ok', 'drift', 'drift', 'drift', 'ok', 'ok', 'ok', 'drift', 'ok', 'ok', 'ok', 'ok'] as const;
    const states = seq.map((l, i) => (h.update(l, i), h.state));
    expect(states).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'ok', 'drift', 'drift', 'drift', 'drift', 'drift', 'drift', 'drift', 'drift', 'ok']);
    expect(h.since).to.equal(13);
  });

  it('falls to warn when the quiet period still held warnings, and a noisy boundary does not flap', () => {
    const h = new Hysteresis(2, 3, 0);
    for (const l of ['drift', 'drift'] as const) h.update(l, 0);
    expect(h.state).to.equal('drift');
    for (const l of ['warn', 'ok', 'warn'] as const) h.update(l, 1);
    expect(h.state).to.equal('warn');
    // alternating at the drift boundary: no state change at all
    let changes = 0;
    for (let i = 0; i < 100; i++) if (h.update(i % 2 ? 'drift' : 'warn', i)) changes++;
    expect(changes).to.equal(0);
    expect(h.state).to.equal('warn');
  });
});

describe('drift controller', () => {
  const cfg = (over: Record<string, unknown> = {}) => parseDriftConfig({ windowSize: 20, evaluateEvery: 5, confirm: 1, ...over } as never);

  it('parses the node\'s properties and rejects bad ones with what was expected', () => {
    const c = cfg({ method: 'psi', detectorParams: 'delta=0.01, mode=up' });
    expect(c.window.method).to.equal('psi');
    expect(c.window.windowSize).to.equal(20);
    expect(c.detectorParams).to.deep.equal({ delta: 0.01, mode: 'up' });
    expect(() => parseDriftConfig({ mode: 'x' })).to.throw(/expected mode window \| stream, got x/);
    expect(() => parseDriftConfig({ baselineSource: 'file' })).to.throw(/baseline file/);
    expect(() => parseParams('delta')).to.throw(/name=value pairs/);
    expect(() => new DriftController(parseDriftConfig({ windowSize: 'abc' }))).to.throw(/expected window size an integer/);
    // bounded memory
    expect(() => new DriftController(parseDriftConfig({ windowSize: 200000 }))).to.throw(/expected window size an integer from 5 to 100000, got 200000/);
    expect(() => parseDriftConfig({ baselineSource: 'learn', learnSize: 1e6 })).to.throw(/expected learn size an integer from 2 to 100000/);
    expect(() => new DriftController(parseDriftConfig({ mode: 'stream', detector: 'adwin', detectorParams: 'delta=3' }))).to.throw(/ADWIN delta/);
  });

  it('reads feature rows in every form and says what it expected of anything else', () => {
    expect(featureRows([1, 2, 3], { names: ['a', 'b', 'c'] })).to.deep.include({ rows: 1, k: 3 });
    expect(featureRows([[1, 2], [3, 4]], undefined)).to.deep.include({ rows: 2, k: 2 });
    expect(featureRows(new Float64Array(6), { shape: [3, 2] })).to.deep.include({ rows: 3, k: 2 });
    expect(() => featureRows(new Float64Array(6), { shape: [4, 2] })).to.throw(/shape/);
    expect(() => featureRows('hello', undefined)).to.throw(/expected msg.payload to be a feature vector .* got the string "hello"/);
    expect(() => featureRows([[1, 2], [3]], undefined)).to.throw(/row 1 has 1/);
    expect(Array.from(signalValues(7, undefined, ''))).to.deep.equal([7]);
    expect(Array.from(signalValues(true, undefined, ''))).to.deep.equal([1]);
    expect(Array.from(signalValues([[1, 2], [3, 4]], { names: ['a', 'b'] }, 'b'))).to.deep.equal([2, 4]);
    expect(() => signalValues({}, undefined, '')).to.throw(/expected msg.payload to be a number/);
    expect(() => signalValues([1, 2], { names: ['a', 'b'] }, 'c')).to.throw(/feature named "c"/);
  });

  it('model mode: waits for a model, takes its reference, and a later model replaces it', () => {
    const c = new DriftController(cfg());
    expect(c.phase().kind).to.equal('waiting');
    expect(() => c.ingest([1, 2, 3, 4], { names: names(4) })).to.throw(/no baseline yet/);
    const md = { name: 'm', version: '1', features: names(4), reference: referenceFromData(names(4), rows(1, 2000, 4)) };
    expect(c.onModel(md, {}).result).to.equal('replaced');
    expect(c.onModel({ name: 'bare' }, {}).result).to.equal('noReference');
    expect(c.baseline!.origin!.name).to.equal('m'); // kept after a model without reference
    let change;
    for (const r of rows(2, 40, 4, 4)) change = c.ingest(r, { names: names(4) }).changes[0] ?? change;
    expect(change!.state).to.equal('drift');
    const md2 = { name: 'm', version: '2', features: names(4), reference: referenceFromData(names(4), rows(3, 2000, 4, 4)) };
    const back = c.onModel(md2, {}).change!;
    expect(back).to.deep.include({ state: 'ok', previous: 'drift', reason: 'baseline' });
    expect(c.phase()).to.deep.include({ kind: 'running', state: 'ok' });
    expect(c.baseline!.origin!.version).to.equal('2');
  });

  it('learn mode: learns from the first vectors (also part of a batch), then tests; a new model means learning again', () => {
    const c = new DriftController(cfg({ baselineSource: 'learn', learnSize: 30 }));
    expect(c.phase()).to.deep.equal({ kind: 'learning', count: 0, size: 30 });
    const data = rows(4, 50, 3);
    const out = c.ingest(Float64Array.from(data.flat()), { names: names(3), shape: [50, 3] });
    expect(c.baseline!.source).to.equal('learned');
    expect(c.baseline!.features[0].count).to.equal(30);
    expect(c.window!.windowFill).to.equal(20); // the other 20 rows of the batch
    expect(out.report!.level).to.equal('ok');
    expect(c.onModel(undefined, {}).result).to.equal('relearning');
    expect(c.phase().kind).to.equal('learning');
    expect(() => new DriftController(cfg({ baselineSource: 'learn' })).ingest([1, 2], undefined)).to.throw(/names/);
  });

  it('msg.baseline sets a baseline or starts learning; reset empties the window', () => {
    const c = new DriftController(cfg());
    c.onBaselineMessage({ features: { a: [1, 2, 3, 4, 5, 6, 7, 8] } });
    expect(c.baseline!.source).to.equal('message');
    for (let i = 0; i < 20; i++) c.ingest([i % 8], { names: ['a'] });
    expect(c.window!.windowFill).to.equal(20);
    c.reset();
    expect(c.window!.windowFill).to.equal(0);
    c.onBaselineMessage('learn');
    expect(c.phase().kind).to.equal('learning');
    expect(() => c.onBaselineMessage(42)).to.throw(/expected a baseline object/);
    // reset while learning starts the learning again
    c.ingest([1], { names: ['a'] });
    c.reset();
    expect(c.phase()).to.deep.include({ kind: 'learning', count: 0 });
  });

  it('stream mode: ADWIN on a signal raises drift at once on a mean shift and clears after quiet updates', () => {
    const c = new DriftController(parseDriftConfig({ mode: 'stream', detector: 'adwin', clear: 50 }));
    const g = gaussian(5);
    const changes = [];
    for (let i = 0; i < 3000; i++) {
      const o = c.ingest(i < 1500 ? g() * 0.1 : 1 + g() * 0.1, undefined);
      for (const ch of o.changes) changes.push({ i, state: ch.state, previous: ch.previous });
    }
    expect(changes[0].state).to.equal('drift');
    expect(changes[0].i).to.be.within(1500, 1600);
    expect(changes[1]).to.deep.include({ state: 'ok', previous: 'drift' });
    const rep = c.ingest(1, undefined).report!;
    expect(rep.method).to.equal('adwin');
    expect(rep.detector!.width).to.be.greaterThan(0);
  });

  it('stream mode: a message is checked whole before any value reaches the detector, and every change in it is reported', () => {
    const c = new DriftController(parseDriftConfig({ mode: 'stream', detector: 'adwin', clear: 5 }));
    expect(() => c.ingest([1, 2, NaN], undefined)).to.throw(/finite numbers for the detector, got NaN at index 2/);
    expect(c.stream!.detector.n).to.equal(0);
    const g = gaussian(6);
    const values = Array.from({ length: 3000 }, (_, i) => (i < 1500 ? 0.1 * g() : 1 + 0.1 * g()));
    const out = c.ingest(values, undefined);
    expect(out.changes.map((r) => r.state)).to.deep.equal(['drift', 'ok']);
    expect(c.onBaselineMessage.bind(c, 'learn')).to.throw(/streaming detector has no baseline/);
    // a new model: the detector starts again
    expect(c.onModel(undefined, {}).result).to.equal('reset');
    expect(c.stream!.detector.n).to.equal(0);
  });

  it('stream mode: DDM takes a 0/1 stream only, and warns before drift on a rising error rate', () => {
    const c = new DriftController(parseDriftConfig({ mode: 'stream', detector: 'ddm', clear: 1000 }));
    expect(() => c.ingest(0.5, undefined)).to.throw(/0\/1 error stream/);
    const r = mulberry32(8);
    const states: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const o = c.ingest(r() < (i < 1000 ? 0.1 : 0.4) ? 1 : 0, undefined);
      for (const ch of o.changes) states.push(ch.state);
    }
    expect(states[0]).to.equal('warn');
    expect(states.indexOf('drift')).to.be.greaterThan(0);
    expect(new StreamMonitor({ detector: 'kswin', clear: 1 }).report().baseline.source).to.equal('stream');
  });
});
