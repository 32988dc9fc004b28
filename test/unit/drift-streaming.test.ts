import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import {
  ADWIN, DDM, DETECTOR_KINDS, DetectorParamError, KSWIN, PageHinkley, createDetector,
  type DetectorKind, type StreamingDetector,
} from '../../nodes/lib/drift/detectors';
import { mulberry32 } from '../../nodes/lib/random';

// ---------------------------------------------------------------- fixture and helpers

/** Streams of River's doctests and the indices they print (scripts/fixtures/river_streams.py). */
interface RiverCase {
  id: string;
  detector: DetectorKind;
  source: string;
  params: Record<string, number | string>;
  expected: { drifts: number[]; firstWarnings?: number[] };
  values: number[];
}
const FIXTURE = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'drift', 'river-streams.json'), 'utf8')) as { cases: RiverCase[] };
function riverCase(id: string): RiverCase {
  const c = FIXTURE.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id} in river-streams.json`);
  return c;
}

interface Run { drifts: number[]; warnings: number[] }
function run(d: StreamingDetector, xs: Iterable<number>, offset = 0): Run {
  const out: Run = { drifts: [], warnings: [] };
  let i = offset;
  for (const x of xs) {
    d.update(x);
    if (d.driftDetected) out.drifts.push(i);
    if (d.warningDetected) out.warnings.push(i);
    i++;
  }
  return out;
}

/** What River's DDM doctest prints: the first warning after the start and after each drift. */
function firstWarnings(r: Run): number[] {
  const out: number[] = [];
  let armed = true;
  const events = [...r.warnings.map((i) => [i, 0]), ...r.drifts.map((i) => [i, 1])].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [i, isDrift] of events) {
    if (isDrift) armed = true;
    else if (armed) {
      out.push(i);
      armed = false;
    }
  }
  return out;
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}
/** n values mu + sd * N(0, 1), deterministic (mulberry32). */
function normal(seed: number, n: number, mu = 0, sd = 1): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => mu + sd * gauss(r));
}
/** n Bernoulli(p) errors, deterministic. */
function bernoulli(seed: number, n: number, p: number): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => (r() < p ? 1 : 0));
}

const SEEDS = [1, 2, 3, 4, 5];

// ---------------------------------------------------------------- River's published points

describe('drift streaming: River doctest detection points', () => {
  it('ADWIN (defaults) detects exactly at 1023 on the river/drift/adwin.py doctest stream, nowhere else', () => {
    const c = riverCase('adwin-doctest');
    expect(c.expected.drifts).to.deep.equal([1023]);
    expect(run(createDetector('adwin', c.params), c.values).drifts).to.deep.equal(c.expected.drifts);
  });

  it('ADWIN detects exactly at 1023, 2015, 3007 on test_adwin_regression.py test_multiple_drifts (River drops the window after each)', () => {
    const c = riverCase('adwin-multiple-drifts');
    expect(c.expected.drifts).to.deep.equal([1023, 2015, 3007]);
    expect(run(new ADWIN(), c.values).drifts).to.deep.equal(c.expected.drifts);
  });

  it('Page-Hinkley (defaults, mode both) detects exactly at 1006 on the page_hinkley.py doctest stream, nowhere else', () => {
    const c = riverCase('page-hinkley-doctest');
    expect(c.expected.drifts).to.deep.equal([1006]);
    expect(run(createDetector('page-hinkley', c.params), c.values).drifts).to.deep.equal(c.expected.drifts);
  });

  it('DDM (defaults) drifts exactly at 1334 and first warns at 1084 and 1492 on the binary/ddm.py doctest stream', () => {
    const c = riverCase('ddm-doctest');
    expect(c.expected).to.deep.equal({ drifts: [1334], firstWarnings: [1084, 1492] });
    const r = run(createDetector('ddm', c.params), c.values);
    expect(r.drifts).to.deep.equal(c.expected.drifts);
    expect(firstWarnings(r)).to.deep.equal(c.expected.firstWarnings);
    // the warning zone leads up to the drift, and the drift update itself is not a warning
    expect(r.warnings).to.include(1333);
    expect(r.warnings).to.not.include(1334);
  });

  // River samples the older part of the window with Python's random (seed=42 in the doctest),
  // which JavaScript cannot reproduce; here mulberry32 draws it. The recent window R (last 30) holds
  // k = i - 999 post-change values at index i, so D >= k/30 whatever the sample: at 1016 (k = 17)
  // every sample gives p <= 1e-4, so no seed can detect later than River. A sample of the 0/1
  // section whose share of zeros differs from R's pre-change part adds to D and can fire a few
  // updates earlier: over seeds 0..199, 174 detect at 1016 and the rest at 1011..1015.
  it('KSWIN (alpha 1e-4) detects once, at River\'s 1016 or at most 6 updates earlier (tolerance -6..0), mulberry32 seeds 0-49', () => {
    const c = riverCase('kswin-doctest');
    expect(c.expected.drifts).to.deep.equal([1016]);
    expect(c.params).to.deep.equal({ alpha: 0.0001 });
    let exact = 0;
    for (let seed = 0; seed < 50; seed++) {
      const r = run(createDetector('kswin', { ...c.params, seed }), c.values);
      expect(r.drifts, `seed ${seed}`).to.have.length(1);
      expect(r.drifts[0], `seed ${seed}`).to.be.within(1016 - 6, 1016);
      if (r.drifts[0] === 1016) exact++;
    }
    expect(exact).to.be.at.least(40); // 45 of 50
  });
});

// ---------------------------------------------------------------- ADWIN

describe('drift streaming: ADWIN', () => {
  it('has River\'s defaults', () => {
    const a = new ADWIN();
    expect([a.delta, a.clock, a.maxBuckets, a.minWindowLength, a.gracePeriod]).to.deep.equal([0.002, 32, 5, 5, 10]);
    expect(a.kind).to.equal('adwin');
    expect(a.warningDetected).to.equal(false);
  });

  it('no false alarm on 100 000 stationary N(0, 1) updates (5 seeds)', () => {
    for (const seed of SEEDS) {
      const a = new ADWIN();
      expect(run(a, normal(seed, 100000)).drifts, `seed ${seed}`).to.have.length(0);
      expect(a.n).to.equal(100000);
      expect(a.state().detections).to.equal(0);
      expect(a.state().width).to.equal(100000); // never cut
    }
  });

  it('detects a 1-sigma mean shift within 64 updates (two clock ticks), 5 seeds', () => {
    for (const seed of SEEDS) {
      const r = run(new ADWIN(), [...normal(seed, 2000), ...normal(seed + 100, 1000, 1)]);
      expect(r.drifts.length, `seed ${seed}`).to.be.at.least(1);
      expect(r.drifts[0], `seed ${seed}`).to.be.within(2000, 2000 + 64);
    }
  });

  it('keeps width, total and variance (sum of squared deviations) of its window exactly', () => {
    const a = new ADWIN();
    const xs = normal(999, 500, 5, 2);
    xs.forEach((x, i) => {
      a.update(x);
      expect(a.state().width).to.equal(i + 1);
    });
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const ss = xs.reduce((s, x) => s + (x - mean) ** 2, 0);
    const st = a.state();
    expect(st.total).to.be.closeTo(mean * 500, 1e-9);
    expect(st.estimation).to.be.closeTo(mean, 1e-12);
    expect(st.variance).to.be.closeTo(ss, ss * 1e-10);
    expect(st.varianceInWindow).to.be.closeTo(ss / 500, 1e-10);
    // exponential histogram: 500 values in a handful of buckets (at most 5 + 1 per size)
    expect(st.buckets).to.be.lessThan(6 * 9);
  });

  it('drops the oldest buckets on a cut, then the whole window on the next update (River rebuilds its helper)', () => {
    const a = new ADWIN({ clock: 1 });
    for (let i = 0; i < 500; i++) a.update(0);
    let at = -1;
    for (let i = 0; i < 500 && at < 0; i++) {
      a.update(100);
      if (a.driftDetected) at = i;
    }
    expect(at).to.be.at.least(0);
    const st = a.state();
    expect(st.width).to.be.lessThan(500 + at + 1); // the cut dropped old buckets
    expect(st.statistic).to.be.greaterThan(st.threshold);
    a.update(50);
    expect(a.driftDetected).to.equal(false);
    expect(a.state().width).to.equal(1);
    expect(a.state().estimation).to.equal(50);
    expect(a.state().detections).to.equal(1);
  });

  it('does not test before the window is longer than grace_period', () => {
    const a = new ADWIN({ gracePeriod: 100, clock: 1 });
    const r = run(a, [...Array(50).fill(0), ...Array(50).fill(1000)]);
    expect(r.drifts).to.have.length(0);
  });

  it('reset() clears the window, n and the detection count; the same stream then gives the same points', () => {
    const c = riverCase('adwin-multiple-drifts');
    const a = new ADWIN();
    run(a, c.values);
    expect(a.state().detections).to.equal(3);
    a.reset();
    expect(a.n).to.equal(0);
    expect(a.driftDetected).to.equal(false);
    expect(a.state()).to.include({ width: 0, total: 0, variance: 0, estimation: 0, detections: 0, buckets: 0 });
    expect(run(a, c.values).drifts).to.deep.equal([1023, 2015, 3007]);
  });

  it('grows its bucket rows with the window (2^16 values, max_buckets 1: 16 rows) and keeps its sums exact', () => {
    const a = new ADWIN({ maxBuckets: 1, clock: 1 << 30 });
    const n = 1 << 16;
    let total = 0;
    for (let i = 0; i < n; i++) {
      a.update(i % 7);
      total += i % 7;
    }
    const st = a.state();
    expect(st.width).to.equal(n);
    expect(st.total).to.equal(total);
    expect(st.buckets).to.be.within(1, 2 * 17);
    const mean = total / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (i % 7 - mean) ** 2;
    expect(st.variance).to.be.closeTo(ss, ss * 1e-9);
  });
});

// ---------------------------------------------------------------- Page-Hinkley

describe('drift streaming: Page-Hinkley', () => {
  it('has River\'s defaults', () => {
    const p = new PageHinkley();
    expect([p.minInstances, p.delta, p.threshold, p.alpha, p.mode]).to.deep.equal([30, 0.005, 50, 1 - 0.0001, 'both']);
    expect(p.warningDetected).to.equal(false);
  });

  // the threshold is in the data's units: on N(0, 1) noise the faded cumulative sum itself
  // wanders by ~70 (1 / sqrt(1 - alpha^2)) and PH with threshold 50 fires every ~1600 updates
  it('no false alarm on 100 000 stationary N(0, 0.1) updates (5 seeds)', () => {
    for (const seed of SEEDS) {
      expect(run(new PageHinkley(), normal(seed, 100000, 0, 0.1)).drifts, `seed ${seed}`).to.have.length(0);
    }
  });

  it('detects a +1 (10 sigma) mean shift within 60 updates, and a -1 shift too (mode both), 5 seeds', () => {
    for (const seed of SEEDS) {
      const up = run(new PageHinkley(), [...normal(seed, 2000, 0, 0.1), ...normal(seed + 100, 1000, 1, 0.1)]);
      expect(up.drifts[0], `seed ${seed}`).to.be.within(2000, 2060);
      const down = run(new PageHinkley(), [...normal(seed, 2000, 0, 0.1), ...normal(seed + 100, 1000, -1, 0.1)]);
      expect(down.drifts[0], `seed ${seed}`).to.be.within(2000, 2060);
    }
  });

  it('mode up ignores a decrease, mode down ignores an increase', () => {
    for (const seed of SEEDS) {
      const inc = [...normal(seed, 2000, 0, 0.1), ...normal(seed + 100, 1000, 1, 0.1)];
      const dec = [...normal(seed, 2000, 0, 0.1), ...normal(seed + 100, 1000, -1, 0.1)];
      expect(run(new PageHinkley({ mode: 'up' }), dec).drifts).to.have.length(0);
      expect(run(new PageHinkley({ mode: 'down' }), inc).drifts).to.have.length(0);
      expect(run(new PageHinkley({ mode: 'up' }), inc).drifts[0]).to.be.within(2000, 2060);
      expect(run(new PageHinkley({ mode: 'down' }), dec).drifts[0]).to.be.within(2000, 2060);
    }
  });

  it('does not detect before min_instances updates', () => {
    const p = new PageHinkley({ minInstances: 30, threshold: 1 });
    const r = run(p, [0, ...Array(40).fill(100)]);
    expect(r.drifts[0]).to.equal(29);
  });

  it('reports its cumulative sums; reset() clears them, n and the detection count', () => {
    const p = new PageHinkley();
    const c = riverCase('page-hinkley-doctest');
    run(p, c.values.slice(0, 1007));
    const st = p.state();
    expect(p.driftDetected).to.equal(true);
    expect(st.statistic).to.be.greaterThan(50);
    expect(st.statistic).to.equal(Math.max(st.testIncrease, st.testDecrease));
    expect(st.testIncrease).to.equal(st.sumIncrease - st.minIncrease);
    expect(st.testDecrease).to.equal(st.maxDecrease - st.sumDecrease);
    expect(st.width).to.equal(1007);
    p.reset();
    expect(p.n).to.equal(0);
    expect(p.driftDetected).to.equal(false);
    expect(p.state()).to.include({ statistic: 0, width: 0, mean: 0, sumIncrease: 0, sumDecrease: 0, maxDecrease: -1, detections: 0 });
    expect(run(p, c.values).drifts).to.deep.equal([1006]);
  });
});

// ---------------------------------------------------------------- KSWIN

describe('drift streaming: KSWIN', () => {
  it('has River\'s defaults', () => {
    const k = new KSWIN({ seed: 1 });
    expect([k.alpha, k.windowSize, k.statSize]).to.deep.equal([0.005, 100, 30]);
    expect(k.warningDetected).to.equal(false);
  });

  it('does not test before its window is full (100 updates)', () => {
    const k = new KSWIN({ seed: 1 });
    for (let i = 0; i < 99; i++) k.update(i < 70 ? 0 : 100);
    expect(k.state().width).to.equal(99);
    expect(k.state().pValue).to.be.NaN;
    k.update(100);
    expect(k.driftDetected).to.equal(true); // R = 30 x 100 against a sample of zeros
    expect(k.state()).to.include({ statistic: 1, width: 30 }); // River keeps only R ...
    k.update(5);
    expect(k.state().width).to.equal(1); // ... and the next update starts over
  });

  it('no false alarm on 20 000 stationary N(0, 1) updates at alpha 1e-4 (River\'s doctest alpha, seed 3)', () => {
    const k = new KSWIN({ alpha: 0.0001, seed: 3 });
    expect(run(k, normal(1003, 20000)).drifts).to.have.length(0);
    expect(k.n).to.equal(20000);
  });

  it('detects a 3-sigma mean shift within 30 updates (alpha 1e-4), 5 seeds', () => {
    for (const seed of SEEDS) {
      const r = run(new KSWIN({ alpha: 0.0001, seed }), [...normal(seed + 1000, 2000), ...normal(seed + 2000, 1000, 3)]);
      expect(r.drifts.length, `seed ${seed}`).to.be.at.least(1);
      expect(r.drifts[0], `seed ${seed}`).to.be.within(2000, 2030);
    }
  });

  it('is reproducible for a seed and reseeds on reset(), as River reseeds Python\'s random', () => {
    const xs = normal(7, 3000);
    /** p-value after each update */
    const trace = (k: KSWIN): number[] => xs.map((x) => (k.update(x), k.state().pValue));
    const a = new KSWIN({ seed: 11 });
    const first = trace(a);
    expect(first.filter((p) => !Number.isNaN(p)).length).to.be.greaterThan(2000);
    a.reset();
    expect(a.n).to.equal(0);
    expect(a.state()).to.include({ width: 0, detections: 0 });
    expect(trace(a)).to.deep.equal(first);
    expect(trace(new KSWIN({ seed: 11 }))).to.deep.equal(first);
    // another seed draws other samples
    expect(trace(new KSWIN({ seed: 12 }))).to.not.deep.equal(first);
  });

  it('reports the last statistic, its p-value and alpha', () => {
    const k = new KSWIN({ alpha: 0.0001, seed: 5 });
    const r = run(k, normal(5, 150));
    expect(r.drifts).to.have.length(0);
    const st = k.state();
    expect(st.width).to.equal(100);
    expect(st.statistic).to.be.within(0, 1);
    expect(st.pValue).to.be.within(0, 1);
    expect(st.threshold).to.equal(0.0001);
    expect(st.minStatistic).to.equal(0.1);
    expect(Math.round(st.statistic * 30)).to.be.closeTo(st.statistic * 30, 1e-9); // D on the 1/30 lattice
  });
});

// ---------------------------------------------------------------- DDM

describe('drift streaming: DDM', () => {
  it('has River\'s defaults', () => {
    const d = new DDM();
    expect([d.warmStart, d.warningThreshold, d.driftThreshold]).to.deep.equal([30, 2, 3]);
  });

  it('no drift on 100 000 stationary Bernoulli(0.2) errors (5 seeds)', () => {
    for (const seed of SEEDS) {
      expect(run(new DDM(), bernoulli(seed, 100000, 0.2)).drifts, `seed ${seed}`).to.have.length(0);
    }
  });

  it('warns before it detects a rise of the error rate from 0.2 to 0.5 (within 600 updates), 5 seeds', () => {
    for (const seed of SEEDS) {
      const r = run(new DDM(), [...bernoulli(seed, 2000, 0.2), ...bernoulli(seed + 100, 1000, 0.5)]);
      expect(r.drifts.length, `seed ${seed}`).to.be.at.least(1);
      const drift = r.drifts[0];
      expect(drift, `seed ${seed}`).to.be.within(2000, 2600);
      const warnedAfterShift = r.warnings.filter((i) => i >= 2000 && i < drift);
      expect(warnedAfterShift.length, `seed ${seed}`).to.be.at.least(1);
      expect(r.warnings).to.not.include(drift); // a drift clears the warning
    }
  });

  it('signals nothing during the warm start', () => {
    const d = new DDM({ warmStart: 30 });
    const r = run(d, [...Array(10).fill(0), ...Array(20).fill(1)]);
    expect(r).to.deep.equal({ drifts: [], warnings: [] });
    expect(d.state().pMin).to.be.NaN;
  });

  it('reports p_min, s_min and the error rate; reset() clears them, n and the detection count', () => {
    const d = new DDM();
    const c = riverCase('ddm-doctest');
    run(d, c.values.slice(0, 1335));
    expect(d.driftDetected).to.equal(true);
    const st = d.state();
    expect(st.statistic).to.equal(st.errorRate + st.std);
    expect(st.statistic).to.be.greaterThan(st.threshold);
    expect(st.threshold).to.equal(st.pMin + 3 * st.sMin);
    expect(st.warningThreshold).to.equal(st.pMin + 2 * st.sMin);
    expect(st.width).to.equal(1335);
    d.update(0); // River: the update after a drift starts over
    expect(d.state()).to.include({ width: 1, errorRate: 0, detections: 1 });
    d.reset();
    expect(d.n).to.equal(0);
    expect([d.driftDetected, d.warningDetected]).to.deep.equal([false, false]);
    expect(d.state()).to.include({ width: 0, detections: 0 });
    expect(run(d, c.values).drifts).to.deep.equal([1334]);
  });
});

// ---------------------------------------------------------------- createDetector

describe('drift streaming: createDetector', () => {
  it('builds every kind with River\'s defaults, behind one interface', () => {
    for (const kind of DETECTOR_KINDS) {
      const d = createDetector(kind, kind === 'kswin' ? { seed: 1 } : {});
      expect(d.kind).to.equal(kind);
      expect(d.n).to.equal(0);
      for (let i = 0; i < 200; i++) d.update(i % 2);
      expect(d.n).to.equal(200);
      expect(d.warningDetected).to.be.a('boolean');
      const st = d.state();
      for (const key of ['statistic', 'threshold', 'width', 'detections']) expect(st[key], `${kind} ${key}`).to.be.a('number');
      d.reset();
      expect(d.n).to.equal(0);
    }
    expect((createDetector('adwin') as ADWIN).delta).to.equal(0.002);
  });

  it('takes River\'s snake_case names, camelCase, and numeric strings', () => {
    const a = createDetector('adwin', { delta: '0.01', grace_period: 30, maxBuckets: 7 }) as ADWIN;
    expect([a.delta, a.gracePeriod, a.maxBuckets, a.clock]).to.deep.equal([0.01, 30, 7, 32]);
    const p = createDetector('page-hinkley', { mode: 'down', min_instances: '10', threshold: 20 }) as PageHinkley;
    expect([p.mode, p.minInstances, p.threshold]).to.deep.equal(['down', 10, 20]);
    const k = createDetector('kswin', { window_size: 60, statSize: 20, seed: '3', alpha: 0.01 }) as KSWIN;
    expect([k.windowSize, k.statSize, k.seed, k.alpha]).to.deep.equal([60, 20, 3, 0.01]);
    const d = createDetector('ddm', { warm_start: 100, warning_threshold: 1.5, drift_threshold: '2.5' }) as DDM;
    expect([d.warmStart, d.warningThreshold, d.driftThreshold]).to.deep.equal([100, 1.5, 2.5]);
  });

  it('rejects invalid parameters with clear errors', () => {
    const bad: [DetectorKind, Record<string, number | string>, string][] = [
      ['adwin', { delta: 2 }, 'expected ADWIN delta in (0, 1), got 2'],
      ['adwin', { delta: 0 }, 'expected ADWIN delta in (0, 1), got 0'],
      ['adwin', { clock: 0 }, 'expected ADWIN clock an integer of at least 1, got 0'],
      ['adwin', { max_buckets: 2.5 }, 'expected ADWIN max_buckets an integer from 1 to 1000, got 2.5'],
      ['adwin', { min_window_length: 0 }, 'expected ADWIN min_window_length an integer of at least 1, got 0'],
      ['adwin', { grace_period: -1 }, 'expected ADWIN grace_period an integer of at least 0, got -1'],
      ['adwin', { delta: 'abc' }, "expected ADWIN delta to be a number, got 'abc'"],
      ['adwin', { delta: '' }, "expected ADWIN delta to be a number, got ''"],
      ['adwin', { window: 5 }, "unknown ADWIN parameter 'window' (expected one of delta, clock, max_buckets, min_window_length, grace_period)"],
      ['page-hinkley', { mode: 'sideways' }, "expected Page-Hinkley mode up | down | both, got 'sideways'"],
      ['page-hinkley', { threshold: 0 }, 'expected Page-Hinkley threshold a positive number, got 0'],
      ['page-hinkley', { alpha: 1.5 }, 'expected Page-Hinkley alpha in (0, 1], got 1.5'],
      ['page-hinkley', { delta: -1 }, 'expected Page-Hinkley delta a number of at least 0, got -1'],
      ['page-hinkley', { min_instances: 0 }, 'expected Page-Hinkley min_instances an integer of at least 1, got 0'],
      ['kswin', { alpha: 1 }, 'expected KSWIN alpha in (0, 1), got 1'],
      ['kswin', { window_size: 50 }, 'expected KSWIN window_size an integer of at least 2 * stat_size = 60 (the sample is drawn from the first window_size - stat_size values), got 50'],
      ['kswin', { stat_size: 0 }, 'expected KSWIN stat_size an integer of at least 1, got 0'],
      ['kswin', { seed: 1.5 }, 'expected KSWIN seed an integer, got 1.5'],
      ['ddm', { drift_threshold: -3 }, 'expected DDM drift_threshold a positive number, got -3'],
      ['ddm', { warning_threshold: 0 }, 'expected DDM warning_threshold a positive number, got 0'],
      ['ddm', { warm_start: 1.5 }, 'expected DDM warm_start an integer of at least 0, got 1.5'],
    ];
    for (const [kind, params, message] of bad) {
      expect(() => createDetector(kind, params), `${kind} ${JSON.stringify(params)}`).to.throw(DetectorParamError, message);
    }
    expect(() => createDetector('cusum' as DetectorKind)).to.throw(DetectorParamError, "expected detector adwin | page-hinkley | kswin | ddm, got 'cusum'");
    expect(() => new ADWIN({ delta: 2 })).to.throw(DetectorParamError, 'expected ADWIN delta in (0, 1), got 2');
  });

  it('rejects a non-finite value in update()', () => {
    for (const kind of DETECTOR_KINDS) {
      const d = createDetector(kind, { ...(kind === 'kswin' ? { seed: 1 } : {}) });
      expect(() => d.update(NaN), kind).to.throw(RangeError, 'expected a finite number to update the detector, got NaN');
      expect(() => d.update(Infinity), kind).to.throw(RangeError);
      expect(d.n).to.equal(0);
    }
  });
});
