/**
 * The reference ("baseline") a drift monitor compares current data against, per feature.
 *
 * A baseline comes from one of three places:
 *  - a model's metadata (`reference`: quantile edges of each feature in the training data, see
 *    lib/model/metadata.ts): a quantile sketch, whose CDF is taken as piecewise linear between the
 *    edges, with the training row count as its sample size;
 *  - the first N feature vectors the node sees (learned): a sorted sample per feature;
 *  - a JSON file or a `msg.baseline` object: either form (see `baselineFromJson`).
 *
 * Binning convention (PSI and Jensen-Shannon): the bins are the reference's quantile bins, the
 * edges at `BIN_PROBABILITIES` (deciles) of a sample baseline, or a sketch's own edges. The first
 * and last bins are open-ended (values below the reference minimum count in the first bin, above
 * the maximum in the last). The expected share of a bin is the reference mass in it.
 */
import { DriftError } from './errors';
import type { ModelMetadata } from '../model-metadata';
import { domainCheck, type DomainReference } from './domain';
import { binCounts, expectedBinProportions, quantileEdges } from './stats';

export const BIN_PROBABILITIES = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

export type BaselineSource = 'model' | 'learned' | 'file' | 'message';

export interface FeatureBaseline {
  name: string;
  /** Sorted reference sample (learned or from a file with values); absent for a sketch. */
  sample?: Float64Array;
  /** Quantile edges at `probabilities` (from the sketch, or computed from the sample). */
  edges: Float64Array;
  probabilities: Float64Array;
  mean: number;
  /** Population standard deviation. */
  std: number;
  /** Reference sample size (a sketch's training row count). */
  count: number;
  /** Bin boundaries for PSI / Jensen-Shannon (the first and last bins are open-ended). */
  bins: Float64Array;
  /** Reference share of each of the bins.length - 1 bins (sums to 1). */
  expected: Float64Array;
}

export interface Baseline {
  source: BaselineSource;
  /** The model it came from, or a file path. */
  origin?: { name?: string; version?: string; digest?: string; path?: string };
  features: FeatureBaseline[];
  byName: Map<string, number>;
  createdAt: number;
  /** A model's training domain (checked when valid), for the out-of-domain question. */
  domain?: DomainReference;
}

/** A baseline that cannot be built: says what was expected. */
export class BaselineError extends DriftError {}

// ---------------------------------------------------------------------------
// Building baselines
// ---------------------------------------------------------------------------

function fromSample(name: string, values: ArrayLike<number>): FeatureBaseline {
  const finite: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) finite.push(values[i]);
  if (finite.length < 2) {
    throw new BaselineError('tooFewValues', { feature: name, count: finite.length }, `expected at least 2 finite reference values for feature "${name}", got ${finite.length}`);
  }
  const sample = Float64Array.from(finite).sort();
  let sum = 0;
  for (const v of sample) sum += v;
  const mean = sum / sample.length;
  let ss = 0;
  for (const v of sample) ss += (v - mean) * (v - mean);
  const probabilities = Float64Array.from(BIN_PROBABILITIES);
  const edges = Float64Array.from(quantileEdges(sample, BIN_PROBABILITIES));
  const expected = binCounts(edges, sample).map((c) => c / sample.length);
  return { name, sample, edges, probabilities, mean, std: Math.sqrt(ss / sample.length), count: sample.length, bins: edges, expected };
}

function fromSketch(name: string, edgesIn: unknown, probsIn: unknown, mean: unknown, std: unknown, count: unknown): FeatureBaseline {
  const bad = (what: string) => new BaselineError('badSketch', { feature: name, what }, `expected feature "${name}" of the reference to have ${what}`);
  if (!Array.isArray(edgesIn) || edgesIn.length < 2 || !edgesIn.every((v) => typeof v === 'number' && Number.isFinite(v))) throw bad('at least 2 finite quantile edges');
  if (!Array.isArray(probsIn) || probsIn.length !== edgesIn.length) throw bad(`as many probabilities as edges (${edgesIn.length})`);
  for (let i = 0; i < edgesIn.length; i++) {
    const pi = probsIn[i];
    if (typeof pi !== 'number' || !(pi >= 0 && pi <= 1) || (i > 0 && !(pi > probsIn[i - 1]))) throw bad('increasing probabilities in [0, 1]');
    if (i > 0 && edgesIn[i] < edgesIn[i - 1]) throw bad('non-decreasing edges');
  }
  const edges = Float64Array.from(edgesIn as number[]);
  const probabilities = Float64Array.from(probsIn as number[]);
  const n = typeof count === 'number' && count >= 2 ? Math.floor(count) : 1000;
  // A sketch without a mean/std gets them from its piecewise-linear distribution.
  let m = typeof mean === 'number' && Number.isFinite(mean) ? mean : NaN;
  let s = typeof std === 'number' && Number.isFinite(std) ? std : NaN;
  if (!Number.isFinite(m) || !Number.isFinite(s)) {
    let m1 = 0;
    let m2 = 0;
    for (let i = 0; i + 1 < edges.length; i++) {
      const w = probabilities[i + 1] - probabilities[i];
      const a = edges[i];
      const b = edges[i + 1];
      m1 += (w * (a + b)) / 2;
      m2 += (w * (a * a + a * b + b * b)) / 3;
    }
    const mass = probabilities[probabilities.length - 1] - probabilities[0];
    m = m1 / mass;
    s = Math.sqrt(Math.max(0, m2 / mass - m * m));
  }
  // PSI / JS bins: the deciles where the sketch has them (finer tail quantiles would make bins of
  // 0.5 % expected mass, all noise in a window of a hundred values), else every edge.
  const at = BIN_PROBABILITIES.map((q) => probabilities.findIndex((x) => Math.abs(x - q) < 1e-9));
  const bins = at.every((i) => i >= 0) ? Float64Array.from(at, (i) => edges[i]) : edges;
  const binP = bins === edges ? probabilities : Float64Array.from(BIN_PROBABILITIES);
  return { name, edges, probabilities, mean: m, std: s, count: n, bins, expected: expectedBinProportions(bins, binP) };
}

function make(source: BaselineSource, features: FeatureBaseline[], origin?: Baseline['origin']): Baseline {
  if (features.length === 0) throw new BaselineError('empty', {}, 'expected a reference with at least one feature, got none');
  return { source, origin, features, byName: new Map(features.map((f, i) => [f.name, i])), createdAt: Date.now() };
}

/** A baseline from a model's metadata (its `reference`), or undefined when the model carries none. */
export function baselineFromModel(md: Partial<ModelMetadata> | undefined, origin?: Baseline['origin']): Baseline | undefined {
  const ref = md?.reference;
  if (!ref || typeof ref !== 'object' || !ref.features || typeof ref.features !== 'object') return undefined;
  const order = Array.isArray(md?.features) ? md!.features.filter((f) => f in ref.features) : [];
  const names = [...order, ...Object.keys(ref.features).filter((f) => !order.includes(f))];
  const features = names
    .filter((name) => (ref.features[name]?.count ?? 0) > 0)
    .map((name) => {
      const f = ref.features[name];
      return fromSketch(name, f.edges, ref.probabilities, f.mean, f.std, f.count);
    });
  const b = make('model', features, { name: md?.name, version: md?.version, ...origin });
  if (domainCheck(md?.domain)) b.domain = md!.domain;
  return b;
}

/** A baseline from reference samples, one array of values per feature name. */
export function baselineFromSamples(columns: Record<string, ArrayLike<number>>, source: BaselineSource = 'learned', origin?: Baseline['origin']): Baseline {
  return make(source, Object.entries(columns).map(([name, values]) => fromSample(name, values)), origin);
}

/**
 * A baseline from JSON (a file or `msg.baseline`). Accepted forms:
 *  - `{ features: { name: [values...] } }` or `{ features: { name: { values: [...] } } }`: samples;
 *  - `{ probabilities: [...], features: { name: { edges: [...], mean?, std?, count? } } }`: a sketch,
 *    the shape of a model's `reference` (and of `baselineToJson`);
 *  - a whole model metadata object with a `reference` in it.
 */
export function baselineFromJson(obj: unknown, source: BaselineSource = 'file', origin?: Baseline['origin']): Baseline {
  const o = obj as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || Array.isArray(o)) {
    throw new BaselineError('notObject', { got: Array.isArray(o) ? 'an array' : typeof o }, `expected a baseline object { features: { name: values | { edges, ... } } }, got ${Array.isArray(o) ? 'an array' : typeof o}`);
  }
  if (o.reference && typeof o.reference === 'object') {
    const b = baselineFromJson(o.reference, source, { name: o.name as string, version: o.version as string, ...origin });
    if (domainCheck(o.domain)) b.domain = o.domain as DomainReference;
    return b;
  }
  const feats = o.features as Record<string, unknown> | undefined;
  if (!feats || typeof feats !== 'object' || Array.isArray(feats)) {
    throw new BaselineError('noFeatures', {}, 'expected a baseline object with "features": { name: values | { edges, ... } }');
  }
  const features = Object.entries(feats).map(([name, f]) => {
    if (Array.isArray(f)) return fromSample(name, f as number[]);
    const fo = f as Record<string, unknown> | null;
    if (fo && Array.isArray(fo.values)) return fromSample(name, fo.values as number[]);
    if (fo && Array.isArray(fo.edges)) return fromSketch(name, fo.edges, fo.probabilities ?? o.probabilities, fo.mean, fo.std, fo.count);
    throw new BaselineError('badFeature', { feature: name }, `expected feature "${name}" of the baseline to be an array of values, { values: [...] } or { edges: [...] }`);
  });
  const b = make(source, features, origin);
  // a domain written by baselineToJson (checked when valid)
  if (domainCheck(o.domain)) b.domain = o.domain as DomainReference;
  return b;
}

/** A baseline as JSON that `baselineFromJson` reads back: samples where it has them, else the sketch; a model's domain with it. */
export function baselineToJson(b: Baseline): Record<string, unknown> {
  // own keys whatever the names (a feature named "__proto__" must not become a prototype)
  const features = Object.fromEntries(
    b.features.map((f) => [
      f.name,
      f.sample ? { values: Array.from(f.sample) } : { edges: Array.from(f.edges), probabilities: Array.from(f.probabilities), mean: f.mean, std: f.std, count: f.count },
    ]),
  );
  return { source: b.source, origin: b.origin, createdAt: new Date(b.createdAt).toISOString(), features, ...(b.domain ? { domain: b.domain } : {}) };
}

/** Collects the first `size` feature vectors into a learned baseline. */
export class BaselineLearner {
  private columns = new Map<string, number[]>();
  private rows = 0;
  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size >= 2)) throw new BaselineError('learnSize', { size }, `expected at least 2 vectors to learn a baseline from, got ${size}`);
  }
  get count(): number {
    return this.rows;
  }
  get done(): boolean {
    return this.rows >= this.size;
  }
  /** Adds one feature vector (names in payload order). */
  add(names: readonly string[], row: ArrayLike<number>, offset = 0): void {
    if (this.done) return;
    for (let i = 0; i < names.length; i++) {
      let col = this.columns.get(names[i]);
      if (!col) this.columns.set(names[i], (col = []));
      col.push(row[offset + i]);
    }
    this.rows++;
  }
  build(): Baseline {
    // A feature that never had two finite values (a channel that was down) is left out.
    const cols = Object.fromEntries([...this.columns].filter(([, v]) => v.filter(Number.isFinite).length >= 2));
    return baselineFromSamples(cols, 'learned');
  }
}
