/**
 * The feature window: turns samples messages into feature vectors (see messages.ts).
 * Pure TypeScript; the Node-RED glue is nodes/mlops-feature-window.ts.
 */
import { CodedError, type Params } from '../node-red/errors';
import { english } from '../node-red/i18n';
import { BandSpec, bandCount } from './fft';
import {
  ChannelWindow, FEATURE_NAMES, FeatureName, Strategy, minSamplesFor,
  MAX_TIMESTAMP,
} from './running-window';

export { FEATURE_NAMES, FUSED_MIN_HOP, MAX_TIMESTAMP } from './running-window';
export type { FeatureName, Strategy } from './running-window';

/** Channels created from the input when no channel list is configured, at most. */
export const MAX_AUTO_CHANNELS = 256;
/** Largest count window / time-window sample cap accepted. */
export const MAX_WINDOW = 1 << 22;
/** Time windows: the default of the largest step ahead a timestamp may take, in seconds (7 days). */
export const DEFAULT_MAX_JUMP_S = 604800;
/**
 * This many consecutive samples of a channel, each older than the window's newest (or each too far
 * ahead), in order among themselves, are a clock jump: the channel starts afresh from them.
 */
export const CLOCK_JUMP_SAMPLES = 10;

export type BadSamplePolicy = 'skip' | 'hold' | 'reset';
export type OutputMode = 'combined' | 'channel';

export interface FeatureWindowConfig {
  /** channel names in output order; empty: channels in order of first appearance. */
  channels: string[];
  kind: 'count' | 'time';
  /** count windows: samples per window */
  size: number;
  /** count windows: samples between windows */
  hop: number;
  /** time windows: window length in ms */
  duration: number;
  /** time windows: ms between window ends */
  hopMs: number;
  /** time windows: most samples held per channel */
  maxSamples: number;
  /** time windows: a timestamp more than this many ms after the channel's newest is refused */
  maxJumpMs: number;
  features: FeatureName[];
  /** channels that get FFT band energies; '*' = all */
  fftChannels: string[] | '*';
  bands: BandSpec | null;
  /** nominal sample rate in Hz (0 = unknown): band edges in Hz, batch timestamps */
  sampleRate: number;
  badSample: BadSamplePolicy;
  output: OutputMode;
  strategy: Strategy;
  maxChannels: number;
}

/** A configuration or input problem; `code` is the i18n key under `errors.`, the English text from the catalog. */
export class FeatureWindowError extends CodedError {
  constructor(code: string, params: Params = {}) {
    super(code, params, english(`mlops-feature-window.errors.${code}`, params) ?? `${code} ${JSON.stringify(params)}`);
  }
}

/** The raw node properties as the editor stores them. */
export interface RawFeatureWindowConfig {
  channels?: string;
  windowKind?: string;
  windowType?: string;
  size?: number | string;
  hop?: number | string;
  duration?: number | string;
  hopMs?: number | string;
  maxSamples?: number | string;
  /** seconds */
  maxJump?: number | string;
  features?: string | string[];
  fftChannels?: string;
  bands?: number | string;
  bandEdges?: string;
  sampleRate?: number | string;
  badSample?: string;
  output?: string;
  strategy?: string;
}

export function splitList(s: unknown): string[] {
  if (Array.isArray(s)) return s.map(String).map((x) => x.trim()).filter((x) => x.length > 0);
  if (typeof s !== 'string') return [];
  return s.split(/[,\n]/).map((x) => x.trim()).filter((x) => x.length > 0);
}

function num(v: unknown, dflt: number): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  return n;
}

function intIn(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new FeatureWindowError('range', { name, value: String(v), min: lo, max: hi });
  return v;
}

/** Validate the editor's properties; throws FeatureWindowError (codes under `errors.`). */
export function parseConfig(raw: RawFeatureWindowConfig): FeatureWindowConfig {
  const channels = splitList(raw.channels);
  if (new Set(channels).size !== channels.length) throw new FeatureWindowError('duplicateChannel');
  const kind = (raw.windowKind ?? 'count') as 'count' | 'time';
  if (kind !== 'count' && kind !== 'time') throw new FeatureWindowError('windowKind', { value: String(kind) });
  const tumbling = raw.windowType === 'tumbling';
  if (raw.windowType !== undefined && raw.windowType !== '' && raw.windowType !== 'tumbling' && raw.windowType !== 'sliding') {
    throw new FeatureWindowError('windowType', { value: String(raw.windowType) });
  }
  const featureList = splitList(raw.features ?? FEATURE_NAMES.join(','));
  for (const f of featureList) {
    if (!(FEATURE_NAMES as readonly string[]).includes(f)) throw new FeatureWindowError('feature', { value: f, allowed: FEATURE_NAMES.join(', ') });
  }
  const features = FEATURE_NAMES.filter((f) => featureList.includes(f));
  const fftRaw = typeof raw.fftChannels === 'string' ? raw.fftChannels.trim() : '';
  const fftChannels: string[] | '*' = fftRaw === '*' ? '*' : splitList(fftRaw);
  const sampleRate = num(raw.sampleRate, 0);
  if (!(sampleRate >= 0) || !Number.isFinite(sampleRate)) throw new FeatureWindowError('sampleRate', { value: String(raw.sampleRate) });
  let bands: BandSpec | null = null;
  const hasFft = fftChannels === '*' || fftChannels.length > 0;
  if (hasFft) {
    const edges = splitList(raw.bandEdges).map(Number);
    if (edges.length > 0) {
      if (edges.length < 2 || edges.some((e) => !Number.isFinite(e) || e < 0) || edges.some((e, i) => i > 0 && e <= edges[i - 1])) {
        throw new FeatureWindowError('bandEdges', { value: String(raw.bandEdges) });
      }
      if (!(sampleRate > 0)) throw new FeatureWindowError('edgesNeedRate');
      bands = { edgesHz: edges, sampleRate };
    } else {
      bands = { count: intIn('bands', num(raw.bands, 8), 1, 1024) };
    }
  }
  if (features.length === 0 && !hasFft) throw new FeatureWindowError('noFeatures');
  const need = minSamplesFor(features);
  let size = 0, hop = 0, duration = 0, hopMs = 0;
  let maxSamples = 0, maxJumpMs = Infinity;
  if (kind === 'count') {
    size = intIn('size', num(raw.size, 1024), 1, MAX_WINDOW);
    hop = tumbling ? size : intIn('hop', num(raw.hop, 1), 1, MAX_WINDOW);
    if (size < need) throw new FeatureWindowError('sizeTooSmall', { size, need });
  } else {
    duration = num(raw.duration, 1000);
    if (!(duration > 0) || !Number.isFinite(duration)) throw new FeatureWindowError('range', { name: 'duration', value: String(raw.duration), min: 1, max: 'inf' });
    hopMs = tumbling ? duration : num(raw.hopMs, duration);
    if (!(hopMs > 0) || !Number.isFinite(hopMs)) throw new FeatureWindowError('range', { name: 'hopMs', value: String(raw.hopMs), min: 1, max: 'inf' });
    maxSamples = intIn('maxSamples', num(raw.maxSamples, 65536), Math.max(need, 2), MAX_WINDOW);
    // not set (a flow from before the setting): the default, or the window's duration if longer
    const jump = num(raw.maxJump, Math.max(DEFAULT_MAX_JUMP_S, duration / 1000));
    if (!(jump > 0) || !Number.isFinite(jump)) throw new FeatureWindowError('maxJump', { value: String(raw.maxJump) });
    maxJumpMs = jump * 1000;
    // the window must fit: a jump shorter than the window would refuse ordinary samples
    if (maxJumpMs < duration) throw new FeatureWindowError('maxJumpShort', { value: jump, duration });
  }
  const badSample = (raw.badSample || 'skip') as BadSamplePolicy;
  if (!['skip', 'hold', 'reset'].includes(badSample)) throw new FeatureWindowError('badSample', { value: badSample });
  const output = (raw.output || 'combined') as OutputMode;
  if (output !== 'combined' && output !== 'channel') throw new FeatureWindowError('output', { value: output });
  const strategy = (raw.strategy || 'auto') as Strategy;
  if (!['auto', 'incremental', 'fused'].includes(strategy)) throw new FeatureWindowError('strategy', { value: strategy });
  return {
    channels, kind, size, hop, duration, hopMs, maxSamples, maxJumpMs, features, fftChannels, bands, sampleRate,
    badSample, output, strategy, maxChannels: MAX_AUTO_CHANNELS,
  };
}

/** One completed output (a FeaturesMessage's payload and features, plus the channel in per-channel mode). */
export interface FeatureOutput {
  payload: number[];
  names: string[];
  window: { start: number; end: number; count: number };
  /** per-channel mode: the channel */
  channel?: string;
}

/**
 * The outputs of one input message packed row by row (a FeaturesBatchMessage's payload and
 * features): all of them in combined mode, those of one channel in per-channel mode.
 */
export interface FeatureBatch {
  /** rows x k values, row-major, oldest row first: row r is payload.subarray(r * k, (r + 1) * k) */
  payload: Float64Array;
  /** [rows, k] */
  shape: [number, number];
  /** k names, in row order */
  names: string[];
  /** the span: start of the first row, end and count of the last */
  window: { start: number; end: number; count: number };
  /** the window of each row */
  windows: { start: Float64Array; end: Float64Array; count: Uint32Array };
  /** per-channel mode: the channel */
  channel?: string;
}

/**
 * Rows collected for one FeatureBatch, written straight into the typed arrays that take() hands
 * out. They are sized for as many rows as the previous batch had, so that a steady stream of
 * equal batches needs neither growing nor copying; otherwise take() copies to the exact size.
 */
class Rows {
  n = 0;
  k = 0;
  vals = new Float64Array(0);
  private start = new Float64Array(0);
  private end = new Float64Array(0);
  private count = new Uint32Array(0);
  private hint = 16;

  /** Append a row of k values (the same k for all rows of a batch) with its window; returns the offset of its values in `vals`. */
  add(k: number, start: number, end: number, count: number): number {
    if (this.n === 0) { this.k = k; this.resize(this.hint); }
    else if (this.n === this.start.length) this.resize(this.n * 2);
    const r = this.n++;
    this.start[r] = start; this.end[r] = end; this.count[r] = count;
    return r * k;
  }

  /** Fresh arrays for `cap` rows holding the rows so far. */
  private resize(cap: number): void {
    const n = this.n;
    this.vals = fit(new Float64Array(cap * this.k), this.vals, n * this.k);
    this.start = fit(new Float64Array(cap), this.start, n);
    this.end = fit(new Float64Array(cap), this.end, n);
    this.count = fit(new Uint32Array(cap), this.count, n);
  }

  /** The rows as a batch of their own; starts over empty. */
  take(names: string[], channel?: string): FeatureBatch {
    const n = this.n, k = this.k;
    if (n < this.start.length) this.resize(n);
    const b: FeatureBatch = {
      payload: this.vals,
      shape: [n, k],
      names,
      window: { start: this.start[0], end: this.end[n - 1], count: this.count[n - 1] },
      windows: { start: this.start, end: this.end, count: this.count },
    };
    if (channel !== undefined) b.channel = channel;
    this.hint = n;
    this.n = 0;
    // the arrays now belong to the message: hold no reference to them
    this.vals = this.start = this.end = new Float64Array(0);
    this.count = new Uint32Array(0);
    return b;
  }
}

/** `to`, with the first n elements of `from` copied in. */
function fit<T extends Float64Array | Uint32Array>(to: T, from: T, n: number): T {
  if (n > 0) to.set(from.subarray(0, n) as T);
  return to;
}

/** What the node reports through (rate-limited) warnings. */
export type IssueKind = 'badValue' | 'outOfOrder' | 'tooManyChannels' | 'overflow' | 'badTimestamp' | 'jumpAhead' | 'clockJump';

interface Channel {
  name: string;
  win: ChannelWindow;
  names: string[];
  lastGood: number;
  /** combined mode: the vector of the latest window (the ChannelWindow reuses it for the next) */
  latest: number[] | null;
  start: number;
  end: number;
  count: number;
  fresh: boolean;
  overflowSeen: number;
  /** consecutive samples older than the window's newest (2) or too far ahead (3), in order among themselves */
  suspectN: number;
  suspectKind: number;
  suspectT: number;
  /** per-channel mode, ingestBatch: this channel's rows */
  rows: Rows;
}

interface Entry {
  ch: Channel;
  name: string;
  values: ArrayLike<unknown>;
  len: number;
  i: number;
  tsArr: ArrayLike<unknown> | null;
  tsScalar: number;
  step: number;
  bad: boolean;
}

export interface IngestOptions {
  topic?: unknown;
  timestamps?: unknown;
  quality?: unknown;
  /** arrival time, ms */
  now: number;
}

function isNumArray(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

/**
 * What a value is, for an error text, in a notation of no language (as a debugger shows it):
 * undefined, null, 1, 5n, true, "text", Array(2), Float64Array(3), Object, Object: null prototype.
 * Never converts an object to a string (an Object.create(null) value has no toString).
 */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `Array(${v.length})`;
  if (Buffer.isBuffer(v)) return `Buffer(${v.length})`;
  if (ArrayBuffer.isView(v)) {
    const name = Object.getPrototypeOf(v)?.constructor?.name ?? 'TypedArray';
    return v instanceof DataView ? name : `${name}(${(v as unknown as ArrayLike<unknown>).length})`;
  }
  switch (typeof v) {
    case 'undefined': return 'undefined';
    case 'number': case 'boolean': return String(v);
    case 'bigint': return `${v}n`;
    case 'string': return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'symbol': return 'Symbol';
    case 'function': return 'Function';
    default: break;
  }
  if (v instanceof Date) return 'Date';
  return Object.getPrototypeOf(v) === null ? 'Object: null prototype' : 'Object';
}

function bigintError(v: bigint, where = 'msg.payload'): FeatureWindowError {
  return new FeatureWindowError('bigint', { where, value: `${v}n` });
}

/** The multi-channel feature window. Feed it payloads with `ingest`; it returns the completed outputs. */
export class FeatureWindow {
  readonly config: FeatureWindowConfig;
  private readonly byName = new Map<string, Channel>();
  private readonly order: Channel[] = [];
  private combinedNames: string[] | null = null;
  /** ingest: the outputs so far */
  private pending: FeatureOutput[] = [];
  /** ingestBatch (set while it runs): outputs go to rows instead */
  private packed = false;
  /** combined mode, ingestBatch: the rows */
  private readonly rows = new Rows();
  /** outputs produced so far */
  outputs = 0;
  /** channel windows completed so far */
  windows = 0;
  /** called for each problem sample (the node rate-limits its warnings) */
  onIssue: ((kind: IssueKind, channel: string) => void) | null = null;

  constructor(config: FeatureWindowConfig) {
    this.config = config;
    for (const name of config.channels) this.addChannel(name);
  }

  get channelCount(): number { return this.order.length; }
  get channelNames(): string[] { return this.order.map((c) => c.name); }

  /** The channel's window (tests and the bench reach the statistics through it). */
  channelWindow(name: string): ChannelWindow | undefined { return this.byName.get(name)?.win; }

  /** Output names in order (combined mode: of all channels). */
  names(): string[] {
    if (!this.combinedNames) {
      const n: string[] = [];
      for (const c of this.order) n.push(...c.names);
      this.combinedNames = n;
    }
    return this.combinedNames;
  }

  private addChannel(name: string): Channel {
    const cfg = this.config;
    const fft = cfg.fftChannels === '*' || cfg.fftChannels.includes(name);
    const bands = fft ? cfg.bands : null;
    const win = new ChannelWindow({
      kind: cfg.kind,
      size: cfg.size,
      duration: cfg.duration,
      hop: cfg.kind === 'count' ? cfg.hop : cfg.hopMs,
      maxSamples: cfg.maxSamples,
      maxJump: cfg.maxJumpMs,
      features: cfg.features,
      bands,
      strategy: cfg.strategy,
    });
    const names = cfg.features.map((f) => `${name}.${f}`);
    if (bands) for (let b = 0; b < bandCount(bands); b++) names.push(`${name}.band${b}`);
    const ch: Channel = {
      name, win, names, lastGood: NaN, latest: null, start: 0, end: 0, count: 0, fresh: false, overflowSeen: 0, suspectN: 0, suspectKind: 0, suspectT: NaN, rows: new Rows(),
    };
    win.onWindow = (values, start, end, count) => {
      this.windows++;
      if (this.config.output === 'channel') {
        this.outputs++;
        if (this.packed) {
          const o = ch.rows.add(values.length, start, end, count);
          ch.rows.vals.set(values, o);
        } else {
          this.pending.push({ payload: values.slice(), names: ch.names, window: { start, end, count }, channel: ch.name });
        }
      } else {
        ch.latest = values; ch.start = start; ch.end = end; ch.count = count; ch.fresh = true;
      }
    };
    this.byName.set(name, ch);
    this.order.push(ch);
    this.combinedNames = null;
    return ch;
  }

  private channel(name: string): Channel | null {
    const ch = this.byName.get(name);
    if (ch) return ch;
    if (this.config.channels.length > 0) return null; // not configured: ignored
    if (this.order.length >= this.config.maxChannels) {
      this.issue('tooManyChannels', name);
      return null;
    }
    return this.addChannel(name);
  }

  private issue(kind: IssueKind, channel: string): void {
    if (this.onIssue) this.onIssue(kind, channel);
  }

  /** Drop all buffered samples (channels stay). */
  reset(): void {
    for (const c of this.order) { c.win.reset(); c.latest = null; c.fresh = false; c.lastGood = NaN; c.suspectN = 0; }
  }

  /**
   * Feed one message. `payload` is a number or number array (channel = topic), or an object
   * {channel: number | number[] | Float64Array}. Returns the completed outputs, oldest first.
   * Throws FeatureWindowError for input of the wrong type.
   */
  ingest(payload: unknown, opts: IngestOptions): FeatureOutput[] {
    this.packed = false;
    this.feed(payload, opts);
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /**
   * Like ingest, but returns the completed outputs packed: one batch in combined mode, one per
   * channel (in channel order) in per-channel mode; none when no window completed. The values are
   * the same as ingest's, and no object is made per window (the fast path for batched input).
   */
  ingestBatch(payload: unknown, opts: IngestOptions): FeatureBatch[] {
    this.packed = true;
    this.feed(payload, opts);
    const out: FeatureBatch[] = [];
    if (this.config.output === 'combined') {
      if (this.rows.n > 0) out.push(this.rows.take(this.names()));
    } else {
      for (const c of this.order) if (c.rows.n > 0) out.push(c.rows.take(c.names, c.name));
    }
    return out;
  }

  private feed(payload: unknown, opts: IngestOptions): void {
    const entries: Entry[] = [];
    const tsObj = opts.timestamps;
    const qObj = opts.quality && typeof opts.quality === 'object' ? (opts.quality as Record<string, unknown>) : null;
    if (typeof payload === 'number' || isNumArray(payload)) {
      const topic = opts.topic;
      if ((typeof topic !== 'string' || topic === '') && typeof topic !== 'number') {
        throw new FeatureWindowError('noTopic', { type: describeValue(payload), topic: describeValue(topic) });
      }
      const name = String(topic);
      // timestamps: a number / array, or an object keyed by the channel
      const ts = tsObj !== null && typeof tsObj === 'object' && !isNumArray(tsObj) ? (tsObj as Record<string, unknown>)[name] : tsObj;
      const e = this.entry(name, payload, ts, qObj, opts.now);
      if (e) entries.push(e);
    } else if (payload !== null && typeof payload === 'object' && !(payload instanceof Date) && !Buffer.isBuffer(payload)) {
      const p = payload as Record<string, unknown>;
      const tsRec = tsObj !== null && typeof tsObj === 'object' && !isNumArray(tsObj) ? (tsObj as Record<string, unknown>) : null;
      if (this.config.channels.length > 0) {
        // configured channels: only those, in configured order
        for (const c of this.order) {
          if (Object.prototype.hasOwnProperty.call(p, c.name)) {
            const e = this.entry(c.name, p[c.name], tsRec ? tsRec[c.name] : undefined, qObj, opts.now);
            if (e) entries.push(e);
          }
        }
      } else {
        for (const name of Object.keys(p)) {
          const e = this.entry(name, p[name], tsRec ? tsRec[name] : undefined, qObj, opts.now);
          if (e) entries.push(e);
        }
      }
    } else {
      if (typeof payload === 'bigint') throw bigintError(payload);
      throw new FeatureWindowError('badPayload', { type: describeValue(payload) });
    }
    // resolve channels only now: a message that fails validation creates none
    let k0 = 0;
    for (const e of entries) {
      const ch = this.channel(e.name);
      if (ch) { e.ch = ch; entries[k0++] = e; }
    }
    entries.length = k0;
    // lockstep: each round feeds every channel until it completes one window, so that windows
    // of aligned channels in one batch pair up in combined mode
    let active = entries.length;
    while (active > 0) {
      active = 0;
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k];
        if (e.i >= e.len) continue;
        this.feedUntilWindow(e);
        if (e.i < e.len) active++;
      }
      if (this.config.output === 'combined') this.tryCombined();
    }
    for (const c of this.order) {
      if (c.win.overflowed !== c.overflowSeen) { c.overflowSeen = c.win.overflowed; this.issue('overflow', c.name); }
    }
  }

  private entry(name: string, v: unknown, ts: unknown, q: Record<string, unknown> | null, now: number): Entry | null {
    if (typeof v === 'bigint') throw bigintError(v, `msg.payload.${name}`);
    const values: ArrayLike<unknown> = isNumArray(v) ? v : [v];
    const len = values.length;
    let tsArr: ArrayLike<unknown> | null = null;
    let tsScalar = now;
    if (isNumArray(ts)) {
      if (ts.length !== len) throw new FeatureWindowError('timestampsLength', { channel: name, timestamps: ts.length, values: len });
      tsArr = ts;
    } else if (typeof ts === 'number' && Number.isFinite(ts)) {
      tsScalar = ts;
    } else if (ts instanceof Date && Number.isFinite(ts.getTime())) {
      tsScalar = ts.getTime();
    }
    const qual = q ? q[name] : undefined;
    const isBad = (x: unknown) => !!x && typeof x === 'object' && (x as { good?: unknown }).good === false;
    let bad = false;
    let vals = values;
    if (isNumArray(qual)) {
      // one quality per sample (opcua read with a queue size above 1): a bad one becomes NaN,
      // which the bad-sample policy then handles like any other bad value
      let copy: unknown[] | null = null;
      for (let j = 0; j < Math.min(len, qual.length); j++) {
        if (isBad(qual[j])) (copy ??= Array.from(values))[j] = NaN;
      }
      if (copy) vals = copy;
    } else {
      bad = isBad(qual);
    }
    const step = this.config.sampleRate > 0 ? 1000 / this.config.sampleRate : 0;
    // the channel itself is resolved (and possibly created) once the whole message is valid
    return { ch: null as unknown as Channel, name, values: vals, len, i: 0, tsArr, tsScalar, step, bad };
  }

  private feedUntilWindow(e: Entry): void {
    const ch = e.ch;
    const win = ch.win;
    const values = e.values;
    const policy = this.config.badSample;
    const last = e.len - 1;
    while (e.i < e.len) {
      if (!e.bad) {
        // fast path: a run of good samples, until a window completes or a problem sample
        const i0 = e.i;
        e.i = win.pushRun(values, e.i, e.len, e.tsArr, e.tsScalar, e.step, last);
        if (e.i > i0) { ch.lastGood = values[e.i - 1] as number; ch.suspectN = 0; }
        if (win.stop === 0) return;
      }
      // a problem sample: apply the policy
      const i = e.i++;
      let v = values[i] as number;
      let t: number;
      if (e.tsArr) {
        const tv = e.tsArr[i];
        t = typeof tv === 'number' && Number.isFinite(tv) ? tv : e.tsScalar;
      } else {
        t = e.tsScalar - (last - i) * e.step;
      }
      if (e.bad || typeof v !== 'number' || !Number.isFinite(v)) {
        this.issue('badValue', ch.name);
        if (policy === 'reset') { win.reset(); ch.lastGood = NaN; continue; }
        if (policy === 'hold' && ch.lastGood === ch.lastGood) v = ch.lastGood;
        else continue;
      }
      const problem = win.timeProblem(t);
      if (problem !== 0 && this.clockJumped(ch, problem, t)) {
        // a clock that stepped: warned once, the channel starts afresh from this sample
        this.issue('clockJump', ch.name);
        win.reset();
      } else if (problem === 3) {
        // not an epoch time in ms, or too far ahead: refused, never looped over
        this.issue(Math.abs(t) > MAX_TIMESTAMP ? 'badTimestamp' : 'jumpAhead', ch.name);
        continue;
      } else if (problem === 2) {
        this.issue('outOfOrder', ch.name);
        if (policy === 'skip') continue;
        if (policy === 'hold') t = win.lastT;
        else { win.reset(); }
      }
      if (problem === 0) ch.suspectN = 0;
      ch.lastGood = v;
      if (win.push(v, t) > 0) return;
    }
  }

  /**
   * Counts a sample older than the window's newest (problem 2) or too far ahead (3); true on the
   * CLOCK_JUMP_SAMPLES-th in a row of one kind, each not older than the one before it (and within
   * the window's largest jump of it): the source's clock stepped, and this is its new time.
   */
  private clockJumped(ch: Channel, problem: number, t: number): boolean {
    if (Math.abs(t) > MAX_TIMESTAMP) return false;
    const follows = ch.suspectN > 0 && ch.suspectKind === problem && t >= ch.suspectT
      && (this.config.kind !== 'time' || t - ch.suspectT <= this.config.maxJumpMs);
    ch.suspectN = follows ? ch.suspectN + 1 : 1;
    ch.suspectKind = problem;
    ch.suspectT = t;
    if (ch.suspectN < CLOCK_JUMP_SAMPLES) return false;
    ch.suspectN = 0;
    return true;
  }

  private tryCombined(): void {
    const order = this.order;
    if (order.length === 0) return;
    for (let k = 0; k < order.length; k++) if (!order[k].fresh) return;
    let start = Infinity, end = -Infinity, count = Infinity;
    for (let k = 0; k < order.length; k++) {
      const c = order[k];
      if (c.start < start) start = c.start;
      if (c.end > end) end = c.end;
      if (c.count < count) count = c.count;
      c.fresh = false;
    }
    this.outputs++;
    const names = this.names();
    if (this.packed) {
      const rows = this.rows;
      let o = rows.add(names.length, start, end, count);
      const vals = rows.vals;
      for (let k = 0; k < order.length; k++) {
        const v = order[k].latest as number[];
        for (let j = 0; j < v.length; j++) vals[o++] = v[j];
      }
      return;
    }
    const payload: number[] = [];
    for (let k = 0; k < order.length; k++) {
      const v = order[k].latest as number[];
      for (let j = 0; j < v.length; j++) payload.push(v[j]);
    }
    this.pending.push({ payload, names, window: { start, end, count } });
  }
}

/**
 * Rate limit for warnings: the first of a kind passes at once, then at most one per `intervalMs`,
 * reporting how many were held back in between.
 */
export class RateLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(readonly intervalMs = 10000) {}

  /** Returns the number of occurrences this warning stands for (>= 1), or 0 to stay quiet. */
  hit(kind: string, now: number): number {
    const s = this.last.get(kind);
    if (!s) { this.last.set(kind, { at: now, suppressed: 0 }); return 1; }
    if (now - s.at >= this.intervalMs) {
      const n = s.suppressed + 1;
      s.at = now; s.suppressed = 0;
      return n;
    }
    s.suppressed++;
    return 0;
  }
}
