/**
 * The message contracts between the nodes of this package, in one place.
 * Each node's help text documents the part it reads or writes.
 */
import { commonError } from './node-red/errors';

/** OPC UA quality of one value, as passed on by `opcua read`. */
export interface SampleQuality {
  /** true when the status code is Good (or GoodXxx). */
  good: boolean;
  /** The status code name, e.g. "Good", "BadCommunicationError", "UncertainLastUsableValue". */
  status: string;
  /** The numeric status code. */
  code: number;
}

/**
 * samples: one publish cycle of OPC UA data changes, aligned by channel name.
 * `payload` holds the value of every channel that changed in that cycle; a value with bad
 * quality is still present (as received, possibly null) and marked in `quality`.
 * A plain number in `payload` with `topic` as the channel name is accepted by consumers too.
 */
export interface SamplesMessage {
  /** A value per channel; an array of values when the reader batches (queue size above 1). */
  payload: Record<string, unknown>;
  /** Source timestamps (ms since epoch) per channel, an array where payload holds one. */
  timestamps: Record<string, number | number[]>;
  /** Server timestamps (ms since epoch) per channel, where the server sent one. */
  serverTimestamps?: Record<string, number | number[]>;
  quality: Record<string, SampleQuality | SampleQuality[]>;
  topic?: string;
}

/** features: one feature vector of a window, in a fixed order. */
export interface FeaturesMessage {
  payload: number[];
  features: {
    /** Names in the same order as payload, `<channel>.<feature>` e.g. "vibration.rms". */
    names: string[];
    window: { start: number; end: number; count: number };
  };
  topic?: string;
}

/**
 * features, batched (feature window with "batch" set): every window one input message completed,
 * packed row by row into one typed array, ready for a model's [rows, k] input tensor. Per-channel
 * mode sends one such message per channel, with `topic` = channel.
 */
export interface FeaturesBatchMessage {
  /** rows x k values, row-major, oldest row first: row r is payload.subarray(r * k, (r + 1) * k). */
  payload: Float64Array;
  features: {
    /** k names, in row order, as in FeaturesMessage. */
    names: string[];
    /** [rows, k] */
    shape: [number, number];
    /** The span: start of the first row's window, end and count of the last. */
    window: { start: number; end: number; count: number };
    /** The window of each row. */
    windows: { start: Float64Array; end: Float64Array; count: Uint32Array };
  };
  topic?: string;
}

/** The model a prediction or a swap names. */
export interface ModelRef {
  name: string;
  version: string;
  /** "sha256:<hex>" of the model file. */
  digest: string;
}

/** prediction: the output of `onnx infer` (the input's other properties are kept). */
export interface PredictionMessage {
  /** The friendliest form: a score, a label, a vector, or one of them per row for a batch. */
  payload: unknown;
  /** Every output of the model as plain number arrays, by output name. */
  outputs: Record<string, number[]>;
  inference: {
    model: ModelRef;
    latencyMs: number;
    /** Rows in the run this message was part of (micro-batching joins messages), and rows of this message. */
    batchSize: number;
    rows: number;
    /** The shape of each output for this message. */
    shapes: Record<string, number[]>;
    /** On the first message a new model scored: the model before it (null when there was none). */
    switchedFrom?: ModelRef | null;
    /**
     * When a regressor's score fell outside its training target range (metadata output.range) and
     * was clamped to it: the range and how many rows lay below and above it (the raw values stay
     * in `outputs`). Outside its training range the model extrapolates.
     */
    clamped?: { range: [number, number]; below: number; above: number };
  };
  topic?: string;
}

/** model: what `registry pull` and `retrain trigger` emit and `onnx infer` / `drift detect` accept. */
export interface ModelInfo extends ModelRef {
  path: string;
  format: 'onnx';
  metadata: Record<string, unknown>;
  source: string;
}

/** registry: what `registry pull` adds beside `msg.model`. */
export interface RegistryInfo {
  /** What was asked for ("models/bearing-fault:^1.2") and what it resolved to ("models/bearing-fault:1.3.0"). */
  requested: string;
  reference: string;
  /** The manifest's digest (OCI sources), or the model file's (MLflow, URL). */
  digest: string;
  /** The signature check: verified with the key of this fingerprint, or not checked (no key configured). */
  signature: { verified: boolean; key?: string };
  /** Where it came from: 'oci', 'layout', 'mlflow', 'url', or 'store' (restored or rolled back without a network). */
  source: 'oci' | 'layout' | 'mlflow' | 'url' | 'store';
  /** Milliseconds per step (resolve, verify, download, total). */
  timings: Record<string, number>;
}

/**
 * A model message: `msg.model` is an object (not an array) describing a model. The fields are
 * checked by the node that uses it (onnx infer needs a path, drift detect a reference or a path).
 */
export function isModelMessage(msg: unknown): msg is { model: Partial<ModelInfo> } {
  const m = (msg as { model?: unknown } | null | undefined)?.model;
  return m !== null && typeof m === 'object' && !Array.isArray(m) && !ArrayBuffer.isView(m);
}

/**
 * The model a message carries: undefined when it has no msg.model; a coded error when msg.model
 * is there but describes no model (an array, {}, a path that is not a text, a name alone), so a
 * message that is not a model message changes nothing.
 */
export function modelOf(msg: unknown): Partial<ModelInfo> | undefined {
  const m = (msg as { model?: unknown } | null | undefined)?.model;
  if (m === undefined || m === null) return undefined;
  if (isModelMessage(msg)) {
    const { path, metadata } = msg.model as { path?: unknown; metadata?: unknown };
    const pathOk = path === undefined || (typeof path === 'string' && path.trim() !== '');
    const hasOne = path !== undefined || (metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata));
    if (pathOk && hasOne) return msg.model;
  }
  const got = describeValue(m);
  throw commonError('notModel', { got }, `msg.model must describe a model: an object with "path" (the .onnx file) or "metadata", got ${got}`);
}

/** A short description of a value for an error text: its kind and, for small values, the value. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty array' : `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return (v as object).constructor?.name ?? 'a typed array';
  if (typeof v === 'object') {
    const keys = Object.keys(v as object);
    return keys.length === 0 ? 'an empty object' : `an object with ${keys.slice(0, 5).map((k) => JSON.stringify(k)).join(', ')}${keys.length > 5 ? ', ...' : ''}`;
  }
  if (typeof v === 'string') return `the text ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === 'bigint') return `the BigInt ${v}`;
  return `${typeof v} ${String(v)}`;
}

export type DriftLevel = 'ok' | 'warn' | 'drift';

/** One feature's part of a data-drift report. */
export interface DriftFeatureReport {
  name: string;
  /** Whether this feature counts as drifted by the node's method. */
  drifted: boolean;
  /** The method's statistic and (KS) its p-value after the multiple-testing correction. */
  statistic: number;
  pValue?: number;
  /** Every statistic, whatever the method: KS D and raw p-value, PSI, normalised Wasserstein, Jensen-Shannon distance. */
  ks: number;
  ksPValue: number;
  psi: number;
  wasserstein: number;
  js: number;
  /** The current window: finite values in it, their mean and standard deviation. */
  count: number;
  mean: number;
  std: number;
  reference: { mean: number; std: number; count: number };
  /** The window's median above or below the reference's. */
  direction?: 'above' | 'below';
  /** Dependent vectors (KS against a model's reference): the window's effective number of independent values, and the stream's lag-1 autocorrelation it comes from. */
  effectiveCount?: number;
  autocorrelation?: number;
}

/**
 * drift report: `msg.drift`, from `drift detect`. Data drift (window tests): `statistic` is the share
 * of drifted features, `threshold` the share that means drift, `features` per feature. A streaming
 * detector: `statistic` is the detector's own (e.g. Page-Hinkley's cumulative sum), `features` empty.
 */
export interface DriftReport {
  state: DriftLevel;
  /** The state before this report, on a state change. */
  previous?: DriftLevel;
  /** The level this evaluation alone gave (before hysteresis). */
  level: DriftLevel;
  /** 'ks' | 'psi' | 'wasserstein' | 'js' | 'adwin' | 'page-hinkley' | 'kswin' | 'ddm' */
  method: string;
  statistic: number;
  /** The smallest corrected KS p-value (KS), undefined otherwise. */
  pValue?: number;
  threshold: number;
  /** Names of the drifted features. */
  drifted: string[];
  features: DriftFeatureReport[];
  /** When the current state began (ms since epoch), and when this evaluation ran. */
  since: number;
  at: number;
  /** Evaluations (window mode) or updates (streaming) so far. */
  evaluations: number;
  baseline: { source: string; name?: string; version?: string; digest?: string; path?: string; features: number };
  /** Why the state changed without a test: 'baseline' (a new baseline) or 'reset' (msg.reset, a new model for a detector). */
  reason?: 'baseline' | 'reset';
  /** Streaming detectors: the detector's state (e.g. ADWIN width and estimate). */
  detector?: Record<string, number>;
  /**
   * Window tests, question 2, distribution shift (has the mix of inputs moved?): its own level, the
   * share of drifted features, and whether the KS counted dependent vectors by their effective number.
   */
  shift?: { level: DriftLevel; share: number; drifted: number; tested: number; dependence: 'effective' | 'independent' };
  /**
   * Question 1, out of domain (is the model fed inputs unlike its training data?), when the baseline
   * is a model's with a domain: the share of the window's vectors out of domain (false-alarm rate
   * `alpha` per vector on training-like data), the distance threshold, the largest distance, and the
   * features that stood out most in the flagged vectors, with their side.
   */
  domain?: { level: DriftLevel; share: number; flagged: number; checked: number; threshold: number; alpha: number; maxDistance: number; features: Array<{ name: string; direction: 'above' | 'below'; vectors: number }> };
  /** Which question raised the level: 'domain', 'shift', both, or none. */
  fired?: Array<'domain' | 'shift'>;
}

/** What the approval gate decided. */
export type ApprovalDecision = 'approved' | 'rejected' | 'expired';
/** Where a decision came from: the editor's sidebar, the admin HTTP API, a message in the flow, a signed MQTT message, or a rule of the gate. */
export type ApprovalChannel = 'editor' | 'api' | 'flow' | 'mqtt' | 'auto';

/** approval: what `approval gate` adds to the message it held, on output 1 (approved) or 2 (rejected, expired). */
export interface ApprovalInfo {
  /** The request's id, as listed in the sidebar and the admin API. */
  id: string;
  decision: ApprovalDecision;
  /** Who decided: the user name (editor, api), the name a flow message gave, the approver key's name (mqtt), or the rule (auto). */
  by: string;
  /** When (ISO 8601). */
  at: string;
  comment?: string;
  channel: ApprovalChannel;
  /** Why, for an expiry or a rule: 'timeout', 'superseded', 'capacity', 'approved before', 'metrics'. */
  reason?: string;
  /** Four eyes: every approver, in order. */
  approvers?: string[];
  /** Passed on after a restart: the decision was committed before Node-RED stopped, its message had not left yet. */
  recovered?: boolean;
}

/**
 * evaluation: candidate and deployed model measured on the same held-out data (what `retrain
 * trigger` adds beside `msg.model`); the approval gate shows the two side by side and its
 * auto-approve rule compares them.
 */
export interface EvaluationInfo {
  candidate: Record<string, number>;
  deployed?: Record<string, number>;
  rows?: number;
}
