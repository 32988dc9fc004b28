/**
 * The two questions of drift detect against a model's own reference (issue 10): out of domain
 * (per vector, lib/drift/domain.ts) and distribution shift on dependent vectors (the KS with an
 * effective sample size), on data with known answers.
 */
import { expect } from 'chai';
import { baselineFromModel } from '../../nodes/lib/drift/baseline';
import { domainCheck, domainFromData } from '../../nodes/lib/drift/domain';
import { WindowMonitor } from '../../nodes/lib/drift/monitor';
import { referenceFromData } from '../../nodes/lib/model/export';
import { fromMetadataProps, toMetadataProps, type ModelMetadata } from '../../nodes/lib/model-metadata';
import { gaussian } from '../../nodes/lib/random';

const NAMES = ['a', 'b', 'c', 'd'];

/** Rows whose features b = 0.95 a + noise (strongly correlated), c and d independent, all about N(0, 1). */
function correlatedRows(seed: number, n: number): number[][] {
  const g = gaussian(seed);
  return Array.from({ length: n }, () => {
    const a = g();
    return [a, 0.95 * a + Math.sqrt(1 - 0.95 ** 2) * g(), g(), g()];
  });
}

function model(rows: number[][], withDomain = true): ModelMetadata {
  return { name: 'm', version: '1', kind: 'regressor', features: NAMES, reference: referenceFromData(NAMES, rows), ...(withDomain ? { domain: domainFromData(NAMES, rows) } : {}) };
}

describe('drift detect: out of domain and distribution shift against the model reference', function () {
  this.timeout(60000);

  describe('out of domain, per vector', () => {
    const train = correlatedRows(1, 20000);
    const ref = domainFromData(NAMES, train);
    const check = domainCheck(ref)!;

    it('flags about alpha of fresh training-like vectors (0.1 %), and none of the training rows beyond it', () => {
      let flagged = 0;
      const fresh = correlatedRows(2, 20000);
      for (const r of fresh) if (check.check(r).out) flagged++;
      // measured 0.12 %
      expect(flagged / fresh.length).to.be.below(0.003);
      let own = 0;
      for (const r of train) if (check.check(r).out) own++;
      expect(own / train.length).to.be.at.most(0.0011);
    });

    it('flags a vector that breaks the training correlation though every feature is within its range, naming the feature and side', () => {
      const v = check.check([2, -2, 0, 0]);
      for (const [j, x] of [[0, 2], [1, -2]]) expect(x).to.be.within(ref.min[j], ref.max[j]);
      expect(v.out).to.equal(true);
      expect(v.distance).to.be.above(check.threshold);
      expect(NAMES[v.feature!]).to.be.oneOf(['a', 'b']);
      // one feature far beyond the training range: that feature, on its side
      const w = check.check([0, 0, -9, 0]);
      expect(w).to.include({ out: true, direction: 'below' });
      expect(NAMES[w.feature!]).to.equal('c');
      expect(check.check([0.1, 0.1, 0.2, -0.3]).out).to.equal(false);
    });

    it('travels in the model metadata; a model written before, or a damaged domain, gives no check', () => {
      const md = fromMetadataProps(toMetadataProps(model(train)))!;
      expect(domainCheck(md.domain)!.threshold).to.equal(check.threshold);
      expect(baselineFromModel(md)!.domain).to.be.an('object');
      expect(baselineFromModel(fromMetadataProps(toMetadataProps(model(train, false))))!.domain).to.equal(undefined);
      expect(domainCheck({ ...ref, mean: [1, 2] })).to.equal(undefined);
      expect(domainCheck({ ...ref, whitening: [NaN] })).to.equal(undefined);
      expect(domainCheck({ ...ref, version: 3 })).to.equal(undefined);
    });

    it('in the window monitor: training-like data stay ok; inputs unlike the training data fire "domain", with the features and their side', () => {
      const b = baselineFromModel(model(train))!;
      const mon = new WindowMonitor({ windowSize: 30, evaluateEvery: 30 }, b, 0);
      const fresh = correlatedRows(3, 300);
      let report = mon.ingest(fresh.flat(), 300, 4, NAMES, 1);
      expect(report!.domain).to.include({ level: 'ok', checked: 30 });
      // the correlation breaks: sensor b reads 2.5 (its std) above its twin a, both within their ranges mostly
      const broken = correlatedRows(4, 60).map(([a, b, c, d]) => [a, b + 2.5, c, d]);
      report = mon.ingest(broken.flat(), 60, 4, NAMES, 2);
      expect(report!.domain!.level).to.equal('drift');
      expect(report!.domain!.share).to.be.above(0.9);
      expect(report!.fired).to.include('domain');
      expect(report!.domain!.features[0]).to.include({ name: 'b', direction: 'above' });
      // a vector without every domain feature is not checked (and does not count)
      const m2 = new WindowMonitor({ windowSize: 30, evaluateEvery: 30 }, b, 0);
      const r2 = m2.ingest(correlatedRows(5, 30).map((r) => r.slice(0, 3)).flat(), 30, 3, NAMES.slice(0, 3), 1);
      expect(r2!.domain).to.include({ checked: 0, level: 'ok' });
    });
  });

  describe('distribution shift on dependent vectors (AR(1) with the reference marginal)', () => {
    const ref = correlatedRows(10, 5000).map((r) => [r[0], r[2], r[3], r[1]]);
    const md = model(ref, false);

    /** Share of evaluations whose shift level is not ok: 40 streams of 20 non-overlapping windows of 30. */
    function falseAlarms(phi: number, dependence: 'auto' | 'independent'): number {
      let alarms = 0;
      let evals = 0;
      for (let s = 0; s < 40; s++) {
        const g = gaussian(100 + s);
        const mon = new WindowMonitor({ windowSize: 30, evaluateEvery: 30, dependence }, baselineFromModel(md)!, 0);
        const x = NAMES.map(() => g());
        for (let t = 0; t < 600; t++) {
          for (let j = 0; j < 4; j++) x[j] = phi * x[j] + Math.sqrt(1 - phi * phi) * g();
          const r = mon.ingest(x, 1, 4, NAMES, t);
          if (r) {
            evals++;
            if (r.shift!.level !== 'ok') alarms++;
          }
        }
      }
      return alarms / evals;
    }

    it('stays within twice its nominal false-alarm rate (alpha 0.05) at phi 0, 0.9 and 0.97; taken as independent it does not', () => {
      const rates: Record<string, number> = {};
      for (const phi of [0, 0.9, 0.97]) {
        rates[`effective ${phi}`] = falseAlarms(phi, 'auto');
        rates[`independent ${phi}`] = falseAlarms(phi, 'independent');
      }
      console.log(`      false alarms per evaluation: ${Object.entries(rates).map(([k, v]) => `${k}: ${(v * 100).toFixed(1)} %`).join(', ')}`);
      for (const phi of [0, 0.9, 0.97]) expect(rates[`effective ${phi}`], `phi ${phi}`).to.be.at.most(0.1);
      expect(rates['independent 0.9']).to.be.above(0.4);
      expect(rates['independent 0.97']).to.be.above(0.6);
    });

    it('still finds a real shift of the mix on dependent data with a window long enough: offset 2 stds, phi 0.9, window 200, within one window', () => {
      // at phi 0.9 a window of 30 holds about 1.6 independent values (30 x 0.1 / 1.9): too few to tell
      // a shift from chance, which the report says (effectiveCount); a window of 200 holds about 10
      const g = gaussian(7);
      const mon = new WindowMonitor({ windowSize: 200, evaluateEvery: 20 }, baselineFromModel(md)!, 0);
      const x = NAMES.map(() => g());
      let at = -1;
      for (let t = 0; t < 900 && at < 0; t++) {
        for (let j = 0; j < 4; j++) x[j] = 0.9 * x[j] + Math.sqrt(1 - 0.81) * g();
        const off = t >= 300 ? 2 : 0;
        const r = mon.ingest(x.map((v) => v + off), 1, 4, NAMES, t);
        if (r && t >= 300 && r.shift!.level !== 'ok') {
          at = t;
          expect(r.features.every((f) => f.direction === 'above')).to.equal(true);
        }
      }
      expect(at, 'vector at which the shift fired').to.be.within(300, 300 + 200);
    });
  });
});
