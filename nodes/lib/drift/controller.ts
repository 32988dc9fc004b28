/**
 * What `drift detect` does with each message, without Node-RED: the node's configuration, where
 * the baseline comes from (a model, learning, a file, a message), and feeding feature vectors or
 * a single signal to the monitors. The node file is glue around this.
 */
import { DriftError } from './errors';
import { promises as fsp } from 'fs';
import type { DriftLevel, DriftReport, ModelInfo } from '../messages';
import type { ModelMetadata } from '../model-metadata';
import { causedBy, isCoded } from '../node-red/errors';
import { readModelFile } from '../onnx/model-file';
import { type Baseline, BaselineLearner, baselineFromJson, baselineFromModel, baselineToJson } from './baseline';
import { type Correction, type DataMethod, DATA_METHODS, MonitorError, StreamMonitor, WINDOW_DEFAULTS, WindowMonitor, type WindowMonitorConfig } from './monitor';
import { DETECTOR_KINDS as DETECTORS, type DetectorKind } from './detectors';

export type DriftMode = 'window' | 'stream';
export type BaselineMode = 'model' | 'learn' | 'file';

/** The node's properties as the editor stores them (strings or numbers). */
export interface RawDriftConfig {
  mode?: string;
  baselineSource?: string;
  modelPath?: string;
  baselineFile?: string;
  learnSize?: string | number;
  method?: string;
  windowSize?: string | number;
  evaluateEvery?: string | number;
  alpha?: string | number;
  correction?: string;
  /** KS on dependent vectors: auto | effective | independent. */
  dependence?: string;
  /** Out of domain: false-alarm rate per vector (default 0.001). */
  domainAlpha?: string | number;
  psiThreshold?: string | number;
  wassersteinThreshold?: string | number;
  jsThreshold?: string | number;
  warnShare?: string | number;
  driftShare?: string | number;
  confirm?: string | number;
  clear?: string | number;
  features?: string;
  detector?: string;
  signal?: string;
  /** Detector parameters, River's names: "delta=0.002, clock=32" or an object. */
  detectorParams?: string | Record<string, number | string>;
  /** Most features one vector may have (memory: the window keeps every value of every feature). */
  maxFeatures?: string | number;
}

export interface DriftConfig {
  mode: DriftMode;
  baselineSource: BaselineMode;
  modelPath: string;
  baselineFile: string;
  learnSize: number;
  window: WindowMonitorConfig;
  detector: DetectorKind;
  detectorParams: Record<string, number | string>;
  signal: string;
  clear: number;
  maxFeatures: number;
}

function num(v: unknown, fallback: number): number {
  if (v === undefined || v === null || v === '') return fallback;
  const n = Number(v);
  return Number.isFinite(n) ? n : NaN;
}

/** "delta=0.002, clock=32" (or an object) as detector parameters. */
export function parseParams(raw: RawDriftConfig['detectorParams']): Record<string, number | string> {
  if (raw && typeof raw === 'object') return { ...raw };
  const out: Record<string, number | string> = {};
  for (const part of String(raw ?? '').split(/[,;\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const m = /^([A-Za-z_][\w]*)\s*[=:]\s*(\S+)$/.exec(t);
    if (!m) throw new MonitorError('params', { got: t }, `expected detector parameters as name=value pairs separated by commas (e.g. "delta=0.002, clock=32"), got "${t}"`);
    const n = Number(m[2]);
    out[m[1]] = Number.isFinite(n) ? n : m[2];
  }
  return out;
}

export function parseDriftConfig(d: RawDriftConfig): DriftConfig {
  const mode = (d.mode || 'window') as DriftMode;
  if (mode !== 'window' && mode !== 'stream') throw new MonitorError('setting', { name: 'mode', expected: 'window | stream', got: String(d.mode) }, `expected mode window | stream, got ${String(d.mode)}`);
  const baselineSource = (d.baselineSource || 'model') as BaselineMode;
  if (!['model', 'learn', 'file'].includes(baselineSource)) {
    throw new MonitorError('setting', { name: 'baseline', expected: 'model | learn | file', got: String(d.baselineSource) }, `expected baseline model | learn | file, got ${String(d.baselineSource)}`);
  }
  const W = WINDOW_DEFAULTS;
  const window: WindowMonitorConfig = {
    method: (d.method || W.method) as DataMethod,
    windowSize: num(d.windowSize, W.windowSize),
    evaluateEvery: num(d.evaluateEvery, W.evaluateEvery),
    alpha: num(d.alpha, W.alpha),
    correction: (d.correction || W.correction) as Correction,
    psiThreshold: num(d.psiThreshold, W.psiThreshold),
    wassersteinThreshold: num(d.wassersteinThreshold, W.wassersteinThreshold),
    jsThreshold: num(d.jsThreshold, W.jsThreshold),
    warnShare: num(d.warnShare, W.warnShare),
    driftShare: num(d.driftShare, W.driftShare),
    confirm: num(d.confirm, W.confirm),
    clear: num(d.clear, W.clear),
    features: String(d.features ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    dependence: (d.dependence || W.dependence) as WindowMonitorConfig['dependence'],
    domainAlpha: num(d.domainAlpha, W.domainAlpha!),
  };
  const learnSize = num(d.learnSize, 200);
  // bounded memory: the learned sample and the window hold every value of every feature
  if (baselineSource === 'learn' && !(Number.isInteger(learnSize) && learnSize >= 2 && learnSize <= 100000)) {
    throw new MonitorError('setting', { name: 'learn size', expected: 'an integer from 2 to 100000', got: String(d.learnSize) }, `expected learn size an integer from 2 to 100000, got ${String(d.learnSize)}`);
  }
  if (baselineSource === 'file' && !String(d.baselineFile ?? '').trim()) {
    throw new MonitorError('setting', { name: 'baseline file', expected: 'a path to a JSON file', got: '""' }, 'expected baseline file a path to a JSON file, got ""');
  }
  const maxFeatures = num(d.maxFeatures, MAX_FEATURES);
  if (!(Number.isInteger(maxFeatures) && maxFeatures >= 1 && maxFeatures <= 1000000)) {
    throw new MonitorError('setting', { name: 'max features', expected: 'an integer from 1 to 1000000', got: String(d.maxFeatures) }, `expected max features an integer from 1 to 1000000, got ${String(d.maxFeatures)}`);
  }
  const detector = (d.detector || 'adwin') as DetectorKind;
  if (mode === 'stream' && !DETECTORS.includes(detector)) {
    throw new MonitorError('setting', { name: 'detector', expected: DETECTORS.join(' | '), got: String(d.detector) }, `expected detector ${DETECTORS.join(' | ')}, got ${String(d.detector)}`);
  }
  if (mode === 'window' && !DATA_METHODS.includes(window.method)) {
    throw new MonitorError('setting', { name: 'method', expected: DATA_METHODS.join(' | '), got: String(d.method) }, `expected method ${DATA_METHODS.join(' | ')}, got ${String(d.method)}`);
  }
  return {
    mode,
    baselineSource,
    modelPath: String(d.modelPath ?? '').trim(),
    baselineFile: String(d.baselineFile ?? '').trim(),
    learnSize,
    window,
    detector,
    detectorParams: parseParams(d.detectorParams),
    signal: String(d.signal ?? '').trim(),
    clear: num(d.clear, W.clear),
    maxFeatures,
  };
}

/**
 * The metadata (with the reference) a model message's model carries: msg.model.metadata when it
 * has a reference, else read from the ONNX file at msg.model.path (resolved by `resolvePath`).
 */
export async function readModelMetadata(info: Partial<ModelInfo>, resolvePath: (p: string) => string): Promise<Partial<ModelMetadata> | undefined> {
  const md = info.metadata as Partial<ModelMetadata> | undefined;
  if (md && typeof md === 'object' && md.reference) return md;
  if (typeof info.path !== 'string' || !info.path) return md;
  try {
    return (await readModelFile(resolvePath(info.path))).metadata ?? md;
  } catch (e) {
    const reason = isCoded(e) ? String(e.params.reason) : (e as Error).message;
    throw new DriftError('modelRead', { path: info.path, reason }, `cannot read the reference of the model ${info.path}: ${reason}`);
  }
}

const noReference = (model: string) =>
  new DriftError('noReference', { model }, `the model ${model} carries no reference distribution (metadata "reference"): expected a model written by this package, a baseline file, or learning`);

/** Where a new baseline came from and how many features it has, for the log. */
export interface BaselineLoaded {
  source: string;
  features: number;
}

/**
 * The baseline the configuration names, loaded at deploy: the reference of a model file, or a
 * JSON file. Undefined when there is none to load (learning, or waiting for a model message).
 */
export async function loadConfiguredBaseline(c: DriftController, resolvePath: (p: string) => string): Promise<BaselineLoaded | undefined> {
  const { baselineSource, modelPath, baselineFile } = c.config;
  if (baselineSource === 'model' && modelPath) {
    const md = await readModelMetadata({ path: modelPath }, resolvePath);
    if (c.onModel(md, { path: modelPath }).result === 'noReference') throw noReference(modelPath);
    return { source: `${md?.name ?? modelPath} ${md?.version ?? ''}`.trim(), features: c.baseline!.features.length };
  }
  if (baselineSource === 'file') {
    let b: Baseline;
    try {
      b = baselineFromJson(JSON.parse(await fsp.readFile(resolvePath(baselineFile), 'utf8')), 'file', { path: baselineFile });
    } catch (e) {
      const reason = (e as Error).message;
      throw causedBy(new DriftError('baselineFile', { path: baselineFile, reason }, `cannot use the baseline file ${baselineFile}: ${reason}`), e);
    }
    c.setBaseline(b);
    return { source: baselineFile, features: b.features.length };
  }
  return undefined;
}

/**
 * A model message: its reference (from the message, else its file) becomes the baseline, or the
 * baseline is learned again, or the detector starts again. `loaded` says what to log.
 */
export async function applyModelMessage(
  c: DriftController,
  info: Partial<ModelInfo>,
  resolvePath: (p: string) => string,
  now = Date.now(),
): Promise<{ change?: DriftReport; loaded?: BaselineLoaded }> {
  const md = await readModelMetadata(info, resolvePath);
  const origin = { name: info.name ?? md?.name, version: info.version ?? md?.version, digest: info.digest, path: info.path };
  const r = c.onModel(md, origin, now);
  if (r.result === 'noReference') throw noReference(`${origin.name ?? info.path ?? '?'}`);
  const loaded = r.result === 'replaced' ? { source: `${origin.name ?? ''} ${origin.version ?? ''}`.trim(), features: c.baseline!.features.length } : undefined;
  return { change: r.change, loaded };
}

/** What a message other than a model message led to. */
export type InputOutcome =
  /** msg.baseline = "get": the baseline as JSON (null: none yet). */
  | { kind: 'get'; baseline: unknown }
  /** A new baseline (msg.baseline) or msg.reset: the last report no longer applies; the return to ok, if it was not ok. */
  | { kind: 'baseline'; change?: DriftReport }
  | { kind: 'data'; outcome: DriftOutcome };

/** An input the node cannot use: says what was expected. */
export class DriftInputError extends DriftError {}

interface FeaturesMeta {
  names?: unknown;
  shape?: unknown;
}

/** The default bound on features per vector: a window of 100 vectors of 10 000 features is 8 MB per copy. */
export const MAX_FEATURES = 10000;

/** Rows of feature vectors from a features message (one vector, an array of rows, or a packed batch), at most `maxFeatures` wide. */
export function featureRows(payload: unknown, features: FeaturesMeta | undefined, maxFeatures = MAX_FEATURES): { data: ArrayLike<number>; rows: number; k: number; names?: string[] } {
  const r = featureRowsOf(payload, features);
  if (r.k > maxFeatures) {
    throw new DriftInputError('tooManyFeatures', { k: r.k, max: maxFeatures }, `expected at most ${maxFeatures} features per vector (Features, "at most" in the node; each is kept for the whole window), got ${r.k}`);
  }
  return r;
}

function featureRowsOf(payload: unknown, features: FeaturesMeta | undefined): { data: ArrayLike<number>; rows: number; k: number; names?: string[] } {
  const names = Array.isArray(features?.names) && features!.names.every((n) => typeof n === 'string') ? (features!.names as string[]) : undefined;
  const shape = features?.shape;
  if (ArrayBuffer.isView(payload) && !(payload instanceof DataView)) {
    const arr = payload as unknown as ArrayLike<number>;
    if (Array.isArray(shape) && shape.length === 2) {
      const [rows, k] = shape as number[];
      if (!(Number.isInteger(rows) && Number.isInteger(k) && rows * k === arr.length)) {
        throw new DriftInputError('shape', { shape: JSON.stringify(shape), length: arr.length }, `expected msg.features.shape [rows, k] to match the ${arr.length} values of msg.payload, got ${JSON.stringify(shape)}`);
      }
      return { data: arr, rows, k, names };
    }
    return { data: arr, rows: 1, k: arr.length, names };
  }
  if (Array.isArray(payload) && payload.length > 0) {
    if (Array.isArray(payload[0]) || ArrayBuffer.isView(payload[0])) {
      const k = (payload[0] as ArrayLike<number>).length;
      const data = new Float64Array(payload.length * k);
      payload.forEach((row, r) => {
        const rr = row as ArrayLike<number>;
        if (!rr || rr.length !== k) throw new DriftInputError('ragged', { row: r, k, got: rr?.length ?? 'none' }, `expected every row of msg.payload to have ${k} values, row ${r} has ${rr?.length ?? 'none'}`);
        for (let i = 0; i < k; i++) data[r * k + i] = typeof rr[i] === 'number' ? rr[i] : NaN;
      });
      return { data, rows: payload.length, k, names };
    }
    if (payload.every((v) => typeof v === 'number' || v === null)) {
      return { data: payload.map((v) => (v === null ? NaN : v)) as number[], rows: 1, k: payload.length, names };
    }
  }
  throw new DriftInputError('notFeatures', { got: describe(payload) },
    `expected msg.payload to be a feature vector (number array, typed array or array of rows, with msg.features.names), got ${describe(payload)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    if (v.length === 0) return 'an empty array';
    const i = v.findIndex((e) => typeof e !== 'number');
    return i < 0 ? `an array of ${v.length} numbers` : `an array holding ${describe(v[i])} at index ${i}`;
  }
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v === 'string' ? `the string "${v.slice(0, 40)}"` : typeof v;
}

/** The values of a single signal in a message: a number, a boolean, an array, or one named feature of a features message. */
export function signalValues(payload: unknown, features: FeaturesMeta | undefined, signal: string): ArrayLike<number> {
  if (signal) {
    const names = features?.names;
    if (!Array.isArray(names)) {
      throw new DriftInputError('noSignalNames', { signal }, `expected a features message with msg.features.names to pick the signal "${signal}" from, got none`);
    }
    const i = names.indexOf(signal);
    if (i < 0) throw new DriftInputError('noSignal', { signal, names: names.slice(0, 10).join(', ') }, `expected a feature named "${signal}" in msg.features.names, got ${names.slice(0, 10).join(', ')}`);
    const { data, rows, k } = featureRows(payload, features);
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) out[r] = data[r * k + i];
    return out;
  }
  if (typeof payload === 'number') return [payload];
  if (typeof payload === 'boolean') return [payload ? 1 : 0];
  if (ArrayBuffer.isView(payload) && !(payload instanceof DataView)) return payload as unknown as ArrayLike<number>;
  if (Array.isArray(payload) && payload.every((v) => typeof v === 'number' || typeof v === 'boolean')) return payload.map(Number);
  throw new DriftInputError('notSignal', { got: describe(payload) }, `expected msg.payload to be a number (a score, a prediction error, 0/1 for DDM) or an array of numbers, got ${describe(payload)}`);
}

/** What one message led to: reports for the first output (every evaluation) and state changes (second). */
export interface DriftOutcome {
  /** The last evaluation of this message, if any. */
  report?: DriftReport;
  /** Every change of state during this message, in order (an array of values can hold several). */
  changes: DriftReport[];
}

export type DriftPhase = { kind: 'waiting' } | { kind: 'learning'; count: number; size: number } | { kind: 'running'; state: DriftLevel; report?: DriftReport };

/** The node's behaviour: baseline handling and the monitor. */
export class DriftController {
  readonly window?: WindowMonitor;
  stream?: StreamMonitor;
  private learner?: BaselineLearner;

  constructor(
    readonly config: DriftConfig,
    now = Date.now(),
  ) {
    if (config.mode === 'window') {
      this.window = new WindowMonitor(config.window, undefined, now);
      if (config.baselineSource === 'learn') this.learner = new BaselineLearner(config.learnSize);
    } else {
      this.stream = new StreamMonitor({ detector: config.detector, params: config.detectorParams, clear: config.clear }, now);
    }
  }

  get baseline(): Baseline | undefined {
    return this.window?.currentBaseline;
  }

  phase(): DriftPhase {
    if (this.stream) return { kind: 'running', state: this.stream.hysteresis.state };
    if (this.learner) return { kind: 'learning', count: this.learner.count, size: this.learner.size };
    if (!this.window!.hasBaseline) return { kind: 'waiting' };
    return { kind: 'running', state: this.window!.hysteresis.state, report: this.window!.last };
  }

  /** A new baseline (from a model, a file or a message); the report of the return to ok when it ended a warn or drift. */
  setBaseline(b: Baseline, now = Date.now()): DriftReport | undefined {
    const w = this.window!;
    this.learner = undefined;
    const previous = w.hysteresis.state;
    return w.setBaseline(b, now) ? w.resetReport(previous, 'baseline', now) : undefined;
  }

  /** Learn a new baseline from the next vectors (a new model in learn mode, or msg.baseline = "learn"). */
  relearn(size = this.config.learnSize): void {
    this.learner = new BaselineLearner(size);
  }

  /**
   * A model message: its reference replaces the baseline ('model' and 'file' modes); in 'learn'
   * mode the baseline is learned again from the next vectors. Returns what happened.
   */
  onModel(md: Partial<ModelMetadata> | undefined, origin: Baseline['origin'], now = Date.now()): { result: 'replaced' | 'relearning' | 'noReference' | 'reset'; change?: DriftReport } {
    if (!this.window) {
      // a new model scores differently: the detector starts again, so the swap is not called drift
      return { result: 'reset', change: this.reset(now) };
    }
    if (this.config.baselineSource === 'learn') {
      this.relearn();
      return { result: 'relearning' };
    }
    const b = baselineFromModel(md, origin);
    if (!b) return { result: 'noReference' };
    return { result: 'replaced', change: this.setBaseline(b, now) };
  }

  /** msg.reset: an empty window (or a fresh detector) and the state back to ok; learning starts again. The report of the return to ok, if it was not ok. */
  reset(now = Date.now()): DriftReport | undefined {
    if (this.window) {
      const previous = this.window.hysteresis.state;
      this.window.reset(now);
      if (this.learner) this.relearn(this.learner.size);
      return previous !== 'ok' ? this.window.resetReport(previous, 'reset', now) : undefined;
    }
    const old = this.stream!;
    this.stream = new StreamMonitor(old.config, now);
    if (old.hysteresis.state === 'ok') return undefined;
    return { ...this.stream.report(), previous: old.hysteresis.state, reason: 'reset' };
  }

  /** msg.baseline: an object (a baseline), or "learn". */
  onBaselineMessage(v: unknown, now = Date.now()): DriftReport | undefined {
    if (!this.window) {
      throw new DriftInputError('streamBaseline', {}, 'a streaming detector has no baseline: expected msg.baseline only in the data-drift mode (msg.reset starts the detector again)');
    }
    if (v === 'learn') {
      this.relearn();
      return undefined;
    }
    return this.setBaseline(baselineFromJson(v, 'message'), now);
  }

  /** A message that is not a model message: msg.baseline, msg.reset, or data. Throws what the message got wrong. */
  input(msg: { payload?: unknown; baseline?: unknown; reset?: unknown; features?: FeaturesMeta }, now = Date.now()): InputOutcome {
    if (msg.baseline === 'get') return { kind: 'get', baseline: this.baseline ? baselineToJson(this.baseline) : null };
    if (msg.baseline !== undefined) return { kind: 'baseline', change: this.onBaselineMessage(msg.baseline, now) };
    if (msg.reset === true) return { kind: 'baseline', change: this.reset(now) };
    return { kind: 'data', outcome: this.ingest(msg.payload, msg.features, now) };
  }

  /** A data message: feature vectors (window mode) or signal values (stream mode). */
  ingest(payload: unknown, features: FeaturesMeta | undefined, now = Date.now()): DriftOutcome {
    const out: DriftOutcome = { changes: [] };
    if (this.stream) {
      const st = this.stream;
      const values = signalValues(payload, features, this.config.signal);
      // the whole message is checked before any of it reaches the detector
      for (let i = 0; i < values.length; i++) st.check(+values[i], i);
      for (let i = 0; i < values.length; i++) if (st.update(+values[i], now)) out.changes.push(st.report());
      out.report = st.report();
      return out;
    }
    let { data, rows, k, names } = featureRows(payload, features, this.config.maxFeatures);
    const w = this.window!;
    if (this.learner) {
      const L = this.learner;
      const lnames = names ?? (w.hasBaseline ? w.currentBaseline!.features.map((f) => f.name) : undefined);
      if (!lnames || lnames.length !== k) {
        throw new DriftInputError('learnNames', { k, got: names ? `${names.length} names` : 'no names' }, `expected msg.features.names with the ${k} values to learn a baseline from, got ${names ? names.length + ' names' : 'no names'}`);
      }
      let r = 0;
      for (; r < rows && !L.done; r++) L.add(lnames, data, r * k);
      if (!L.done) return out;
      const change = this.setBaseline(L.build(), now);
      if (change) out.changes.push(change);
      if (r === rows) return out;
      // the rest of this batch is current data
      data = Array.prototype.slice.call(data, r * k) as number[];
      rows -= r;
    }
    if (!w.hasBaseline) {
      throw new DriftInputError('noBaseline', {}, 'no baseline yet: expected a model message (msg.model) with a reference, or msg.baseline, before feature vectors');
    }
    const report = w.ingest(data, rows, k, names, now);
    if (report) {
      out.report = report;
      if (report.previous !== undefined) out.changes.push(report);
    }
    return out;
  }
}
