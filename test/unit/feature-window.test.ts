import { expect } from 'chai';
import { mulberry32 } from '../../scripts/simulator/machine';
import * as ss from 'simple-statistics';
import { fft, bandEnergies, nextPow2, BandSpec } from '../../nodes/lib/window/fft';
import { ChannelWindow, ChannelWindowOptions, FEATURE_NAMES, FeatureName, FUSED_MIN_HOP } from '../../nodes/lib/window/running-window';
import {
  FeatureBatch, FeatureOutput, FeatureWindow, FeatureWindowError, parseConfig, RateLimiter, RawFeatureWindowConfig, MAX_AUTO_CHANNELS,
} from '../../nodes/lib/window/feature-window';

// ---------------------------------------------------------------- helpers

/** Deterministic PRNG (the simulator's mulberry32) so failures reproduce. */
const rng = mulberry32;
function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

const ALL: FeatureName[] = [...FEATURE_NAMES];

/**
 * The oracle: simple-statistics on the same window. x axis of the slope: `axis` (index or seconds).
 * The shift-invariant features (std, skewness, kurtosis, slope) are given x - x[0] and axis - axis[0]
 * (same mathematical value; the subtraction is exact for data near a large offset): simple-statistics
 * takes deviations from a mean rounded to the data's ulp, which at an offset of 1e8 std (1e6 with
 * noise 0.01) costs it ~1e-8 of the skewness, and epoch seconds (1.7e9) as a regression axis lose
 * 5e-5 of the sample spacing before it even starts. Without the shift the oracle, not the node,
 * would miss 1e-9 (checked with exact rational arithmetic in Python on one such window).
 */
function oracle(xs: number[], axis: number[]): Record<FeatureName, number> {
  const rms = ss.rootMeanSquare(xs);
  const mx = ss.max(xs);
  const mn = ss.min(xs);
  const sh = xs.map((x) => x - xs[0]);
  const ax = axis.map((u) => u - axis[0]);
  return {
    mean: ss.mean(xs),
    std: ss.standardDeviation(sh),
    min: mn,
    max: mx,
    rms,
    p2p: mx - mn,
    skewness: ss.sampleSkewness(sh),
    kurtosis: ss.sampleKurtosis(sh),
    crest: Math.max(Math.abs(mx), Math.abs(mn)) / rms,
    slope: ss.linearRegression(sh.map((x, i) => [ax[i], x])).m,
  };
}

/**
 * Agreement to 1e-9 relative, with an absolute floor near zero:
 * |got - want| <= 1e-9 * max(|want|, floor), floor = 1e-6 * max|x| for the features in the
 * signal's unit (mean, std, min, max, rms, p2p), 1e-3 for skewness, kurtosis and crest, and
 * 1e-6 * std(x) / std(axis) for the slope.
 */
function expectClose(got: number[], xs: number[], axis: number[], features: FeatureName[], what: string): void {
  const want = oracle(xs, axis);
  const scale = Math.max(...xs.map(Math.abs));
  const sx = ss.standardDeviation(xs);
  const su = ss.standardDeviation(axis);
  features.forEach((f, i) => {
    const floor = f === 'skewness' || f === 'kurtosis' || f === 'crest' ? 1e-3 : f === 'slope' ? (1e-6 * sx) / su : 1e-6 * scale;
    const tol = 1e-9 * Math.max(Math.abs(want[f]), floor);
    const err = Math.abs(got[i] - want[f]);
    if (!(err <= tol)) {
      throw new Error(`${what}: ${f} = ${got[i]}, simple-statistics says ${want[f]} (|err| ${err} > ${tol})`);
    }
  });
}

interface Emitted { values: number[]; start: number; end: number; count: number }

/** Feed a window sample by sample with push(), or (batch) through the pushRun() hot path. */
function run(opts: Partial<ChannelWindowOptions>, xs: ArrayLike<number>, ts?: ArrayLike<number>, batch = false): { win: ChannelWindow; out: Emitted[] } {
  const win = new ChannelWindow({
    kind: 'count', size: 64, duration: 0, hop: 1, maxSamples: 0, features: ALL, bands: null, strategy: 'auto', ...opts,
  });
  const out: Emitted[] = [];
  win.onWindow = (values, start, end, count) => out.push({ values: values.slice(), start, end, count });
  if (batch) {
    const tsArr = ts ?? Array.from({ length: xs.length }, (_, i) => i * 10);
    let i = 0;
    while (i < xs.length) {
      i = win.pushRun(xs, i, xs.length, tsArr, 0, 0, xs.length - 1);
      if (win.stop !== 0) throw new Error(`pushRun stopped (${win.stop}) at ${i}`);
    }
  } else {
    for (let i = 0; i < xs.length; i++) win.push(xs[i], ts ? ts[i] : i * 10);
  }
  return { win, out };
}

/** Check every window of a count-window run against the oracle. */
function checkCount(xs: number[], size: number, hop: number, strategy: 'incremental' | 'fused', what: string): number {
  const { win, out } = run({ size, hop, strategy }, xs);
  expect(win.fused).to.equal(strategy === 'fused');
  // expected window ends: first at size-1, then every hop
  const ends: number[] = [];
  for (let e = size - 1; e < xs.length; e += hop) ends.push(e);
  expect(out.length).to.equal(ends.length);
  const axis = Array.from({ length: size }, (_, i) => i);
  out.forEach((o, k) => {
    const e = ends[k];
    const w = xs.slice(e - size + 1, e + 1);
    expect(o.count).to.equal(size);
    expect(o.start).to.equal((e - size + 1) * 10);
    expect(o.end).to.equal(e * 10);
    expectClose(o.values, w, axis, ALL, `${what} window ending at ${e}`);
  });
  // the batch hot path (pushRun) gives bit-identical windows
  const batched = run({ size, hop, strategy }, xs, undefined, true);
  expect(batched.out).to.deep.equal(out);
  return out.length;
}

// ---------------------------------------------------------------- FFT

function naiveDft(x: number[]): { re: number[]; im: number[] } {
  const n = x.length;
  const re: number[] = [];
  const im: number[] = [];
  for (let k = 0; k < n; k++) {
    let a = 0, b = 0;
    for (let j = 0; j < n; j++) {
      a += x[j] * Math.cos((2 * Math.PI * j * k) / n);
      b -= x[j] * Math.sin((2 * Math.PI * j * k) / n);
    }
    re.push(a); im.push(b);
  }
  return { re, im };
}

/** Band energies straight from the definition with a naive DFT of the padded, mean-removed window. */
function naiveBands(x: number[], spec: BandSpec): number[] {
  const m = x.length;
  const n = Math.max(2, nextPow2(m));
  const mean = ss.mean(x);
  const y = x.map((v) => v - mean).concat(new Array(n - m).fill(0));
  const { re, im } = naiveDft(y);
  const count = 'count' in spec ? spec.count : spec.edgesHz.length - 1;
  const bands = new Array(count).fill(0);
  for (let k = 1; k <= n / 2; k++) {
    const p = (re[k] ** 2 + im[k] ** 2) * (k === n / 2 ? 1 : 2) / (n * m);
    if ('count' in spec) {
      const lo = k / (n / 2);
      const b = Math.min(count - 1, Math.max(0, Math.ceil(lo * count) - 1));
      bands[b] += p;
    } else {
      const f = (k * spec.sampleRate) / n;
      const e = spec.edgesHz;
      for (let b = 0; b < count; b++) {
        if (f >= e[b] && (f < e[b + 1] || (b === count - 1 && f === e[b + 1]))) { bands[b] += p; break; }
      }
    }
  }
  return bands;
}

describe('fft', () => {
  it('matches a naive DFT for power-of-two sizes', () => {
    const r = rng(1);
    for (const n of [1, 2, 4, 8, 64, 256]) {
      const x = Array.from({ length: n }, () => gauss(r));
      const re = Float64Array.from(x);
      const im = new Float64Array(n);
      fft(re, im);
      const want = naiveDft(x);
      for (let k = 0; k < n; k++) {
        expect(re[k]).to.be.closeTo(want.re[k], 1e-9 * n);
        expect(im[k]).to.be.closeTo(want.im[k], 1e-9 * n);
      }
    }
  });

  it('rejects sizes that are not a power of two', () => {
    expect(() => fft(new Float64Array(6), new Float64Array(6))).to.throw(/power of two/);
  });

  it('band energies (equal bands) match a naive DFT on padded windows and sum to the variance', () => {
    const r = rng(2);
    for (const m of [5, 100, 128, 300]) {
      const x = Array.from({ length: m }, (_, i) => 3 + Math.sin(i * 0.7) + 0.5 * Math.sin(i * 2.1) + 0.1 * gauss(r));
      for (const count of [1, 3, 8]) {
        const out: number[] = [];
        bandEnergies(x, 0, -1, m, ss.mean(x), { count }, out, 0, {});
        const want = naiveBands(x, { count });
        want.forEach((w, b) => expect(Math.abs(out[b] - w)).to.be.at.most(1e-9 * Math.max(w, 1e-3)));
        const total = out.reduce((a, b) => a + b, 0);
        expect(total).to.be.closeTo(ss.variance(x), 1e-9 * ss.variance(x));
      }
    }
  });

  it('band energies with edges in Hz put a tone in the right band', () => {
    const fs = 1000;
    const x = Array.from({ length: 512 }, (_, i) => Math.sin((2 * Math.PI * 150 * i) / fs));
    const spec: BandSpec = { edgesHz: [0, 100, 200, 500], sampleRate: fs };
    const out: number[] = [];
    bandEnergies(x, 0, -1, x.length, ss.mean(x), spec, out, 0, {});
    const want = naiveBands(x, spec);
    want.forEach((w, b) => expect(Math.abs(out[b] - w)).to.be.at.most(1e-9 * Math.max(w, 1e-3)));
    expect(out[1]).to.be.greaterThan(0.99 * (out[0] + out[1] + out[2]));
  });
});

// ---------------------------------------------------------------- count windows

describe('ChannelWindow count windows vs simple-statistics', () => {
  const r = rng(3);
  const noise = Array.from({ length: 3000 }, () => gauss(r));
  const skewed = Array.from({ length: 3000 }, () => Math.exp(gauss(r))); // log-normal: skewness, kurtosis far from 0

  for (const strategy of ['incremental', 'fused'] as const) {
    it(`${strategy}: sliding hop 1, W=64, every window`, () => {
      expect(checkCount(noise.slice(0, 1500), 64, 1, strategy, strategy)).to.equal(1437);
      checkCount(skewed.slice(0, 1500), 64, 1, strategy, `${strategy} log-normal`);
    });

    it(`${strategy}: W=1024, hop 1 (several recompute periods)`, () => {
      checkCount(skewed, 1024, 1, strategy, strategy);
    });

    it(`${strategy}: large hops, tumbling and hop > size`, () => {
      checkCount(noise, 256, 100, strategy, `${strategy} hop 100`);
      checkCount(noise, 100, 100, strategy, `${strategy} tumbling`);
      checkCount(noise, 50, 173, strategy, `${strategy} hop > size`);
      checkCount(noise, 4, 1, strategy, `${strategy} smallest kurtosis window`);
    });

    it(`${strategy}: large offset (temperature ~350, std 0.01) keeps 1e-9`, () => {
      const temp = noise.map((z, i) => 350 + 0.01 * z + 1e-6 * i);
      checkCount(temp, 1024, 1, strategy, `${strategy} temperature`);
      checkCount(temp.map((v) => v * 1e6), 64, 3, strategy, `${strategy} offset 3.5e8`);
    });

    it(`${strategy}: a step from 0 to 1e6 with noise 0.01 (mean drifts away from the reference)`, () => {
      const xs = noise.slice(0, 1200).map((z, i) => (i < 600 ? 0 : 1e6) + 0.01 * z);
      checkCount(xs, 256, 1, strategy, `${strategy} step`);
    });
  }

  it('the incremental path re-centres when the mean drifts (step change)', () => {
    const xs = noise.slice(0, 1200).map((z, i) => (i < 600 ? 0 : 1e6) + 0.01 * z);
    const { win } = run({ size: 256, hop: 1, strategy: 'incremental' }, xs);
    expect(win.driftRecomputes).to.be.greaterThan(0);
    // and stays cheap: far fewer recomputes than windows
    expect(win.driftRecomputes).to.be.lessThan(100);
  });

  it('a constant (stuck) signal gives std 0, skewness/kurtosis/slope 0, no recompute storm', () => {
    const xs = new Array(2000).fill(0.1);
    for (const strategy of ['incremental', 'fused'] as const) {
      const { win, out } = run({ size: 128, hop: 1, strategy }, xs);
      const last = out[out.length - 1].values;
      expect(last[0]).to.be.closeTo(0.1, 1e-15);
      expect(last[1]).to.be.at.most(1e-12);
      expect(last[6]).to.equal(0);
      expect(last[7]).to.equal(0);
      expect(last[8]).to.be.closeTo(1, 1e-12);
      expect(Math.abs(last[9])).to.be.at.most(1e-15);
      expect(win.driftRecomputes).to.be.lessThan(5);
    }
  });

  it('auto picks incremental below FUSED_MIN_HOP and fused from it (and for tumbling)', () => {
    const mk = (size: number, hop: number) => new ChannelWindow({
      kind: 'count', size, duration: 0, hop, maxSamples: 0, features: ALL, bands: null, strategy: 'auto',
    });
    expect(mk(1024, 1).fused).to.equal(false);
    expect(mk(1024, FUSED_MIN_HOP - 1).fused).to.equal(false);
    expect(mk(1024, FUSED_MIN_HOP).fused).to.equal(true);
    expect(mk(1024, 256).fused).to.equal(true);
    expect(mk(4096, 4096).fused).to.equal(true);
    expect(mk(FUSED_MIN_HOP * 4, 1).fused).to.equal(true);
  });

  it('a subset of features comes out in the fixed order, with band energies last', () => {
    const xs = noise.slice(0, 300).map((z, i) => z + Math.sin(i));
    const features: FeatureName[] = ['slope', 'rms', 'mean'];
    for (const strategy of ['incremental', 'fused'] as const) {
      const { out } = run({ size: 200, hop: 50, strategy, features, bands: { count: 4 } }, xs);
      expect(out.length).to.equal(3);
      const w = xs.slice(100, 300);
      const o = out[2].values;
      expect(o.length).to.equal(3 + 4);
      expectClose(o.slice(0, 3), w, w.map((_, i) => i), ['mean', 'rms', 'slope'], strategy);
      const want = naiveBands(w, { count: 4 });
      want.forEach((b, k) => expect(Math.abs(o[3 + k] - b)).to.be.at.most(1e-9 * Math.max(b, 1e-3)));
    }
  });

  it('holds at most `size` samples however long it runs (bounded memory)', () => {
    const { win, out } = run({ size: 100, hop: 1, strategy: 'incremental' }, noise.concat(noise, noise));
    expect(win.n).to.equal(100);
    expect(win.capacity).to.equal(128);
    expect(out.length).to.equal(9000 - 99);
  });

  it('reset() starts the window over', () => {
    const { win, out } = run({ size: 10, hop: 1, strategy: 'incremental' }, noise.slice(0, 20));
    expect(out.length).to.equal(11);
    win.reset();
    for (let i = 0; i < 9; i++) win.push(noise[i], 1000 + i);
    expect(out.length).to.equal(11);
    win.push(noise[9], 2000);
    expect(out.length).to.equal(12);
    expectClose(out[11].values, noise.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ALL, 'after reset');
  });
});

// ---------------------------------------------------------------- time windows

describe('ChannelWindow time windows vs simple-statistics', () => {
  /** irregular timestamps, ~`rate` samples per second, starting at an epoch-like time */
  function series(n: number, seed: number, t0 = 1.7e12 + 37): { xs: number[]; ts: number[] } {
    const r = rng(seed);
    const xs: number[] = [];
    const ts: number[] = [];
    let t = t0;
    for (let i = 0; i < n; i++) {
      t += 1 + Math.floor(r() * 9); // 1..9 ms apart
      ts.push(t);
      xs.push(20 + 0.002 * i + Math.exp(gauss(r)));
    }
    return { xs, ts };
  }

  function checkTime(duration: number, hop: number, strategy: 'incremental' | 'fused' | 'auto', n: number, seed: number): { win: ChannelWindow; count: number } {
    const { xs, ts } = series(n, seed);
    const { win, out } = run({ kind: 'time', size: 0, duration, hop, maxSamples: 1 << 16, strategy }, xs, ts);
    expect(run({ kind: 'time', size: 0, duration, hop, maxSamples: 1 << 16, strategy }, xs, ts, true).out).to.deep.equal(out);
    // the expected windows: ends at multiples of hop, the first one full after the first sample
    let end = Math.ceil((ts[0] + duration) / hop) * hop;
    const wantEnds: number[] = [];
    while (end <= ts[ts.length - 1]) { wantEnds.push(end); end += hop; }
    expect(out.length).to.equal(wantEnds.length);
    out.forEach((o, k) => {
      expect(o.end).to.equal(wantEnds[k]);
      expect(o.start).to.equal(wantEnds[k] - duration);
      const idx = ts.map((t, i) => (t >= o.start && t < o.end ? i : -1)).filter((i) => i >= 0);
      expect(o.count).to.equal(idx.length);
      const w = idx.map((i) => xs[i]);
      const axis = idx.map((i) => (ts[i] - ts[0]) / 1000);
      expectClose(o.values, w, axis, ALL, `${strategy} time window ending ${o.end}`);
    });
    return { win, count: out.length };
  }

  for (const strategy of ['incremental', 'fused'] as const) {
    it(`${strategy}: duration 1000 ms, hop 50 ms, irregular timestamps (slope per second)`, () => {
      const { win, count } = checkTime(1000, 50, strategy, 6000, 4);
      expect(count).to.be.greaterThan(400);
      expect(win.fused).to.equal(strategy === 'fused');
    });
    it(`${strategy}: tumbling (hop = duration) and hop > duration`, () => {
      checkTime(500, 500, strategy, 3000, 5);
      checkTime(200, 700, strategy, 3000, 6);
    });
  }

  it('auto switches to the fused path when a hop holds many samples, and back', () => {
    // ~200 samples per 1000 ms hop: fused; then ~2 per hop: incremental
    const dense = checkTime(3000, 1000, 'auto', 6000, 7);
    expect(dense.win.fused).to.equal(true);
    const sparse = checkTime(3000, 10, 'auto', 6000, 8);
    expect(sparse.win.fused).to.equal(false);
  });

  it('a gap longer than the duration starts the channel over; no empty windows', () => {
    const xs: number[] = [];
    const ts: number[] = [];
    for (let i = 0; i < 100; i++) { xs.push(i % 7); ts.push(i * 10); }
    for (let i = 0; i < 100; i++) { xs.push(i % 5); ts.push(1e6 + i * 10); }
    const { out } = run({ kind: 'time', size: 0, duration: 200, hop: 100, maxSamples: 1000, strategy: 'incremental' }, xs, ts);
    expect(out.every((o) => o.count >= 4)).to.equal(true);
    // windows ending at 200..900 before the gap, plus the two that still reach into the old samples
    const before = out.filter((o) => o.end <= 1100);
    expect(before.map((o) => o.end)).to.deep.equal([200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100]);
    const after = out.filter((o) => o.end > 1e6);
    expect(after[0].start).to.equal(1e6);
    expect(after.map((o) => o.end)).to.deep.equal([1e6 + 200, 1e6 + 300, 1e6 + 400, 1e6 + 500, 1e6 + 600, 1e6 + 700, 1e6 + 800, 1e6 + 900]);
  });

  it('time windows are bounded by maxSamples (oldest evicted) and say so', () => {
    const n = 50000;
    const xs = Array.from({ length: n }, (_, i) => Math.sin(i));
    const ts = Array.from({ length: n }, (_, i) => 10000 + i * 0.01); // 100 kHz into a 10 s window [10 s, 20 s)
    const { win, out } = run({ kind: 'time', size: 0, duration: 10000, hop: 10000, maxSamples: 3000, strategy: 'incremental' }, xs, ts);
    expect(win.n).to.be.at.most(3000);
    expect(win.capacity).to.equal(4096);
    expect(win.overflowed).to.equal(n - 3000);
    expect(out.length).to.equal(0); // no window closed yet: all within the first 10 s
    win.push(0, 20000);
    expect(out.length).to.equal(1);
    expect(out[0].count).to.equal(3000);
    expectClose(out[0].values, xs.slice(n - 3000), ts.slice(n - 3000).map((t) => (t - 1000) / 1000), ALL, 'capped window');
  });
});

// ---------------------------------------------------------------- the multi-channel engine

function engine(raw: RawFeatureWindowConfig): FeatureWindow {
  return new FeatureWindow(parseConfig(raw));
}

describe('FeatureWindow (channels, input forms, output modes, policies)', () => {
  it('combined: names are <channel>.<feature>, configured channel order then fixed feature order', () => {
    const fw = engine({ channels: 'vibration, temperature', size: 4, hop: 4, features: 'rms,mean', fftChannels: 'vibration', bands: 2 });
    expect(fw.names()).to.deep.equal([
      'vibration.mean', 'vibration.rms', 'vibration.band0', 'vibration.band1', 'temperature.mean', 'temperature.rms',
    ]);
    const outs = [];
    for (let i = 0; i < 4; i++) {
      // temperature listed first in the payload: order still follows the configuration
      outs.push(...fw.ingest({ temperature: 300 + i, vibration: i % 2 ? 1 : -1, other: 5 }, { timestamps: { vibration: 100 + i, temperature: 100 + i }, now: 0 }));
    }
    expect(outs.length).to.equal(1);
    const o = outs[0];
    expect(o.payload.length).to.equal(6);
    expect(o.payload[0]).to.equal(0);
    expect(o.payload[1]).to.equal(1);
    expect(o.payload[2] + o.payload[3]).to.be.closeTo(1, 1e-12); // band energies sum to the variance
    expect(o.payload[3]).to.be.closeTo(1, 1e-12); // alternating signal: all energy at Nyquist
    expect(o.payload[4]).to.equal(301.5);
    expect(o.window).to.deep.equal({ start: 100, end: 103, count: 4 });
    expect(fw.channelNames).to.deep.equal(['vibration', 'temperature']); // 'other' ignored
  });

  it('combined waits until every channel completed a new window', () => {
    const fw = engine({ channels: 'a,b', size: 2, hop: 1, features: 'mean' });
    expect(fw.ingest({ a: 1 }, { now: 1 })).to.have.length(0);
    expect(fw.ingest({ a: 2 }, { now: 2 })).to.have.length(0); // a has a window, b not yet
    expect(fw.ingest({ b: 10 }, { now: 3 })).to.have.length(0);
    const o = fw.ingest({ b: 20 }, { now: 4 });
    expect(o).to.have.length(1);
    expect(o[0].payload).to.deep.equal([1.5, 15]);
    expect(fw.ingest({ b: 30 }, { now: 5 })).to.have.length(0); // a has nothing new
    expect(fw.ingest({ a: 4 }, { now: 6 })[0].payload).to.deep.equal([3, 25]);
  });

  it('batched input: Float64Array and arrays, aligned windows pair up in combined mode', () => {
    const fw = engine({ channels: 'x,y', size: 8, hop: 2, features: 'mean,max' });
    const n = 100;
    const x = Float64Array.from({ length: n }, (_, i) => i);
    const y = Array.from({ length: n }, (_, i) => -i);
    const ts = Array.from({ length: n }, (_, i) => 5000 + i);
    const outs = fw.ingest({ x, y }, { timestamps: { x: ts, y: ts }, now: 0 });
    expect(outs.length).to.equal((n - 8) / 2 + 1);
    outs.forEach((o, k) => {
      const end = 7 + 2 * k;
      expect(o.payload).to.deep.equal([end - 3.5, end, -(end - 3.5), -(end - 7)]);
      expect(o.window).to.deep.equal({ start: 5000 + end - 7, end: 5000 + end, count: 8 });
    });
  });

  it('batched input without per-sample timestamps: back-dated from the scalar by the sample rate, or all at arrival', () => {
    const fw = engine({ channels: 'x', size: 4, hop: 4, features: 'mean', sampleRate: 100, output: 'channel' });
    const o = fw.ingest({ x: [1, 2, 3, 4, 5, 6, 7, 8] }, { timestamps: { x: 10000 }, now: 0 });
    expect(o.map((w) => w.window)).to.deep.equal([
      { start: 9930, end: 9960, count: 4 }, { start: 9970, end: 10000, count: 4 },
    ]);
    const fw2 = engine({ channels: 'x', size: 4, hop: 4, features: 'mean', output: 'channel' });
    const o2 = fw2.ingest({ x: [1, 2, 3, 4] }, { now: 777 });
    expect(o2[0].window).to.deep.equal({ start: 777, end: 777, count: 4 });
  });

  it('a plain number or array with msg.topic as the channel; no topic is an error', () => {
    const fw = engine({ size: 3, hop: 1, features: 'mean', output: 'channel' });
    fw.ingest(1, { topic: 'p', now: 1 });
    fw.ingest([2], { topic: 'p', now: 2 });
    const o = fw.ingest(new Float32Array([3, 4]), { topic: 'p', now: 3 });
    expect(o.map((w) => w.payload[0])).to.deep.equal([2, 3]);
    expect(o[0].channel).to.equal('p');
    expect(o[0].names).to.deep.equal(['p.mean']);
    expect(() => fw.ingest(5, { now: 4 })).to.throw(FeatureWindowError).with.property('code', 'noTopic');
  });

  it('wrong payload types throw a FeatureWindowError saying what came', () => {
    const fw = engine({ size: 4, hop: 1 });
    for (const [p, type] of [['12', '"12"'], [true, 'true'], [null, 'null'], [undefined, 'undefined']] as const) {
      try {
        fw.ingest(p, { topic: 't', now: 0 });
        expect.fail('no error');
      } catch (e) {
        expect(e).to.be.instanceOf(FeatureWindowError);
        expect((e as FeatureWindowError).code).to.equal('badPayload');
        expect((e as FeatureWindowError).params.type).to.equal(type);
      }
    }
    expect(() => fw.ingest({ a: [1, 2] }, { timestamps: { a: [1] }, now: 0 })).to.throw(FeatureWindowError).with.property('code', 'timestampsLength');
  });

  it('per-channel mode emits one output per channel window with the channel', () => {
    const fw = engine({ channels: 'a,b', size: 2, hop: 2, features: 'min', output: 'channel' });
    const o = fw.ingest({ a: [1, 2, 3, 4], b: [5, 6] }, { now: 0 });
    expect(o.map((w) => [w.channel, w.payload[0]])).to.deep.equal([['a', 1], ['b', 5], ['a', 3]]);
  });

  it('auto channels: order of first appearance, capped with a warning', () => {
    const fw = engine({ size: 2, hop: 1, features: 'mean' });
    const issues: string[] = [];
    fw.onIssue = (k, c) => issues.push(`${k}:${c}`);
    fw.ingest({ z: 1, a: 2 }, { now: 0 });
    fw.ingest({ m: 1, a: 2 }, { now: 1 });
    expect(fw.channelNames).to.deep.equal(['z', 'a', 'm']);
    const many: Record<string, number> = {};
    for (let i = 0; i < MAX_AUTO_CHANNELS + 10; i++) many[`c${i}`] = i;
    fw.ingest(many, { now: 2 });
    expect(fw.channelCount).to.equal(MAX_AUTO_CHANNELS);
    expect(issues.filter((s) => s.startsWith('tooManyChannels')).length).to.equal(13);
  });

  describe('bad samples and out-of-order timestamps', () => {
    const feed = (policy: string) => {
      const fw = engine({ channels: 'a', size: 3, hop: 1, features: 'mean,max', badSample: policy, output: 'channel' });
      const issues: string[] = [];
      fw.onIssue = (k) => issues.push(k);
      const out: number[][] = [];
      const inputs: [unknown, number][] = [[1, 1], [2, 2], [3, 3], [NaN, 4], [4, 5], ['x', 6], [null, 7], [Infinity, 8], [5, 9], [6, 3], [7, 10]];
      for (const [v, t] of inputs) out.push(...fw.ingest({ a: v }, { timestamps: { a: t }, now: 0 }).map((o) => o.payload));
      return { out, issues };
    };
    it('skip: drops them', () => {
      const { out, issues } = feed('skip');
      // windows: [1,2,3] [2,3,4] [3,4,5] [4,5,7]  (6 at t=3 is out of order)
      expect(out).to.deep.equal([[2, 3], [3, 4], [4, 5], [16 / 3, 7]]);
      expect(issues).to.deep.equal(['badValue', 'badValue', 'badValue', 'badValue', 'outOfOrder']);
    });
    it('hold: repeats the last good value; out-of-order samples get the last timestamp', () => {
      const { out } = feed('hold');
      // values: 1 2 3 3 4 4 4 4 5 6 7
      expect(out.map((o) => o[0])).to.deep.equal([2, 8 / 3, 10 / 3, 11 / 3, 4, 4, 13 / 3, 5, 6]);
    });
    it('reset: starts the channel over', () => {
      const { out } = feed('reset');
      // 1 2 3 | reset | 4 | reset | reset | reset | 5 | 6 out of order: reset, then 6 7
      expect(out).to.deep.equal([[2, 3]]);
    });
    it('a sample with bad OPC UA quality is a bad sample', () => {
      const fw = engine({ channels: 'a', size: 2, hop: 1, features: 'mean', output: 'channel' });
      const issues: string[] = [];
      fw.onIssue = (k) => issues.push(k);
      fw.ingest({ a: 1 }, { now: 0, quality: { a: { good: true, status: 'Good', code: 0 } } });
      expect(fw.ingest({ a: 100 }, { now: 1, quality: { a: { good: false, status: 'BadSensorFailure', code: 0x808b0000 } } })).to.have.length(0);
      expect(fw.ingest({ a: 3 }, { now: 2 })[0].payload).to.deep.equal([2]);
      expect(issues).to.deep.equal(['badValue']);
    });
    it('per-sample qualities (a batch from opcua read) mark only the bad samples', () => {
      const fw = engine({ channels: 'a', size: 2, hop: 1, features: 'mean', output: 'channel' });
      const issues: string[] = [];
      fw.onIssue = (k) => issues.push(k);
      const good = { good: true, status: 'Good', code: 0 };
      const bad = { good: false, status: 'BadSensorFailure', code: 0x808b0000 };
      const out = fw.ingest({ a: [1, 100, 3, 5] }, { now: 0, timestamps: { a: [0, 1, 2, 3] }, quality: { a: [good, bad, good, good] } });
      expect(out.map((o) => o.payload)).to.deep.equal([[2], [4]]);
      expect(issues).to.deep.equal(['badValue']);
    });
  });

  describe('ingestBatch: the same outputs packed row by row', () => {
    /** Feed the same messages to two engines, one through ingest, one through ingestBatch; unpack the batches. */
    function both(raw: RawFeatureWindowConfig, msgs: { payload: unknown; timestamps?: unknown; quality?: unknown; topic?: unknown }[]) {
      const a = engine(raw);
      const b = engine(raw);
      const single: FeatureOutput[] = [];
      const batches: FeatureBatch[] = [];
      msgs.forEach((m, i) => {
        single.push(...a.ingest(m.payload, { ...m, now: 1000 + i }));
        batches.push(...b.ingestBatch(m.payload, { ...m, now: 1000 + i }));
      });
      const unpacked: FeatureOutput[] = [];
      for (const x of batches) {
        const [rows, k] = x.shape;
        expect(x.payload).to.be.instanceOf(Float64Array);
        expect(x.payload.length).to.equal(rows * k);
        expect(x.names).to.have.length(k);
        expect(x.windows.start).to.have.length(rows);
        expect(x.window).to.deep.equal({ start: x.windows.start[0], end: x.windows.end[rows - 1], count: x.windows.count[rows - 1] });
        for (let r = 0; r < rows; r++) {
          const o: FeatureOutput = {
            payload: Array.from(x.payload.subarray(r * k, (r + 1) * k)),
            names: x.names,
            window: { start: x.windows.start[r], end: x.windows.end[r], count: x.windows.count[r] },
          };
          if (x.channel !== undefined) o.channel = x.channel;
          unpacked.push(o);
        }
      }
      expect(b.outputs).to.equal(a.outputs);
      return { single, batches, unpacked };
    }

    it('combined, several channels with FFT bands, hop 1 and misaligned batches: identical values (bit for bit)', () => {
      const n = 600;
      const r = rng(7);
      const x = Float64Array.from({ length: n }, (_, i) => 350 + Math.sin(i / 7) + 0.01 * r());
      const y = Array.from({ length: n }, (_, i) => Math.cos(i / 3));
      const msgs = [];
      for (let off = 0; off < n; off += 150) {
        msgs.push({ payload: { x: x.subarray(off, off + 150), y: y.slice(off, off + (off === 150 ? 100 : 150)) } });
      }
      const { single, batches, unpacked } = both({ channels: 'x,y', size: 64, hop: 1, fftChannels: 'y', bands: 3 }, msgs);
      expect(single.length).to.be.greaterThan(400);
      expect(batches.every((bt) => bt.shape[1] === 10 + 13 && bt.channel === undefined)).to.equal(true);
      expect(unpacked).to.deep.equal(single);
    });

    it('per channel: one batch per channel in channel order, identical to the per-window outputs of each channel', () => {
      const msgs = [{ payload: { b: [3, 4, 9, 1], a: [1, 5, 2, 7, 0, 8] } }, { payload: { a: [4] } }];
      const { single, batches, unpacked } = both({ channels: 'a,b', size: 2, hop: 1, features: 'max,mean', output: 'channel' }, msgs);
      expect(batches.map((bt) => [bt.channel, bt.shape])).to.deep.equal([['a', [5, 2]], ['b', [3, 2]], ['a', [1, 2]]]);
      const byChannel = (os: FeatureOutput[], c: string) => os.filter((o) => o.channel === c);
      for (const c of ['a', 'b']) expect(byChannel(unpacked, c)).to.deep.equal(byChannel(single, c));
    });

    it('time windows, bad samples and a topic payload: identical; no window, no batch', () => {
      const ts = Array.from({ length: 300 }, (_, i) => 10 * i + (i % 3));
      const v: unknown[] = ts.map((t) => Math.sin(t / 100));
      v[17] = NaN; v[120] = 'x';
      const msgs = [
        { payload: v.slice(0, 5), timestamps: ts.slice(0, 5), topic: 's' },
        { payload: v.slice(5, 200), timestamps: ts.slice(5, 200), topic: 's' },
        { payload: v.slice(200), timestamps: ts.slice(200), topic: 's' },
      ];
      const { single, batches, unpacked } = both({ windowKind: 'time', duration: 500, hopMs: 100, badSample: 'hold' }, msgs);
      expect(batches.length).to.equal(2); // the first message completes no window
      expect(unpacked).to.deep.equal(single);
    });
  });

  it('never crashes on junk inside a valid payload object', () => {
    const fw = engine({ size: 4, hop: 1 });
    expect(() => fw.ingest({ a: {}, b: [1, 'x', null, {}], c: new Date() }, { now: 0 })).to.not.throw();
  });
});

describe('parseConfig', () => {
  const bad: [RawFeatureWindowConfig, string][] = [
    [{ size: 0 }, 'range'],
    [{ size: 'abc' }, 'range'],
    [{ size: 10, hop: 0 }, 'range'],
    [{ size: 1.5 }, 'range'],
    [{ size: 3, features: 'kurtosis' }, 'sizeTooSmall'],
    [{ features: 'mean,wobble' }, 'feature'],
    [{ features: '' }, 'noFeatures'],
    [{ windowKind: 'sessions' }, 'windowKind'],
    [{ windowKind: 'time', duration: -5 }, 'range'],
    [{ windowKind: 'time', duration: 100, hopMs: 0 }, 'range'],
    [{ fftChannels: '*', bandEdges: '0,100,50', sampleRate: 1000 }, 'bandEdges'],
    [{ fftChannels: '*', bandEdges: '0,100,200' }, 'edgesNeedRate'],
    [{ fftChannels: '*', bands: 0 }, 'range'],
    [{ badSample: 'ignore' }, 'badSample'],
    [{ output: 'both' }, 'output'],
    [{ channels: 'a,b,a' }, 'duplicateChannel'],
  ];
  for (const [raw, code] of bad) {
    it(`rejects ${JSON.stringify(raw)} with ${code}`, () => {
      expect(() => parseConfig(raw)).to.throw(FeatureWindowError).with.property('code', code);
    });
  }
  it('tumbling sets hop = size; defaults are sane', () => {
    const c = parseConfig({ size: 128, hop: 3, windowType: 'tumbling' });
    expect(c.hop).to.equal(128);
    const d = parseConfig({});
    expect(d).to.include({ kind: 'count', size: 1024, hop: 1, badSample: 'skip', output: 'combined', strategy: 'auto' });
    expect(d.features).to.deep.equal([...FEATURE_NAMES]);
    expect(d.bands).to.equal(null);
    const e = parseConfig({ fftChannels: 'v', bandEdges: '10, 100, 400', sampleRate: 1000 });
    expect(e.bands).to.deep.equal({ edgesHz: [10, 100, 400], sampleRate: 1000 });
  });
});

describe('RateLimiter', () => {
  it('lets the first through, then one per interval with the count held back', () => {
    const r = new RateLimiter(1000);
    expect(r.hit('a', 0)).to.equal(1);
    expect(r.hit('a', 10)).to.equal(0);
    expect(r.hit('a', 20)).to.equal(0);
    expect(r.hit('b', 30)).to.equal(1);
    expect(r.hit('a', 1000)).to.equal(3);
    expect(r.hit('a', 1001)).to.equal(0);
  });
});
