/**
 * What a self-describing model carries in its ONNX metadata_props, and how it is read back.
 * Every value is a string in ONNX; structured values are JSON. Keys are prefixed "mlops.".
 */

import type { DomainReference } from './drift/domain';

export type ModelKind = 'classifier' | 'regressor' | 'autoencoder';

/** 2: adds `domain`. Models written before (1, or no version) still load, with the checks they support. */
export const METADATA_VERSION = 2;

/** Reference distribution of one feature in the training data. */
export interface FeatureReference {
  /** Quantile edges at `ModelMetadata.reference.probabilities` (first = min, last = max). */
  edges: number[];
  mean: number;
  std: number;
  count: number;
}

export interface ModelMetadata {
  name: string;
  version: string;
  kind: ModelKind;
  /** Input feature names in the order the model expects them. */
  features: string[];
  /** Class names of a classifier, in output order (a single-output binary classifier: [negative, positive]). */
  classes?: string[];
  /** Name and meaning of the main output: e.g. "fault probability", "anomaly score", "RUL (cycles)". */
  output?: {
    name: string;
    description?: string;
    threshold?: number;
    /**
     * A regressor's training target range [min, max]: onnx infer clamps the main output to it and
     * says so in `msg.inference.clamped` (outside it the model extrapolates: a RUL of -244 cycles).
     */
    range?: [number, number];
  };
  /** Per-feature training reference, for drift detection (distribution shift). */
  reference?: { probabilities: number[]; features: Record<string, FeatureReference> };
  /** The training inputs' domain, for the out-of-domain check (lib/drift/domain.ts). */
  domain?: DomainReference;
  /** Which keys to expect (METADATA_VERSION when written by this package). */
  metadataVersion?: number;
  /** Evaluation metrics, e.g. { "rmse": 17.2, "auc": 0.97, "testRows": 1000 }. */
  metrics?: Record<string, number | string>;
  /** ISO time the training finished, and how long it took. */
  trainedAt?: string;
  trainingMs?: number;
  /** Where the training data came from: { "source": "...", "rows": 1234, ... }. */
  provenance?: Record<string, unknown>;
}

const PREFIX = 'mlops.';
const STRING_KEYS = new Set(['name', 'version', 'kind', 'trainedAt']);

/** ModelMetadata as ONNX metadata_props. */
export function toMetadataProps(m: ModelMetadata): Record<string, string> {
  const props: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (v === undefined) continue;
    props[PREFIX + k] = STRING_KEYS.has(k) ? String(v) : JSON.stringify(v);
  }
  return props;
}

/**
 * ModelMetadata from ONNX metadata_props; undefined when the model carries none of ours (a
 * model from elsewhere). Malformed JSON values are left out rather than failing the load.
 */
export function fromMetadataProps(props: Record<string, string>): Partial<ModelMetadata> | undefined {
  const out: Record<string, unknown> = {};
  let found = false;
  for (const [key, raw] of Object.entries(props)) {
    if (!key.startsWith(PREFIX)) continue;
    found = true;
    const k = key.slice(PREFIX.length);
    if (STRING_KEYS.has(k)) out[k] = raw;
    else {
      try {
        out[k] = JSON.parse(raw);
      } catch {
        /* left out */
      }
    }
  }
  return found ? (out as Partial<ModelMetadata>) : undefined;
}

/**
 * How a model's features differ from the ones a flow sends: the missing ones (the model needs,
 * the flow does not send), the extra ones (sent, not used), and whether the order differs.
 * undefined when they agree. Both in the order the names were given.
 */
export function featureMismatch(model: readonly string[], sent: readonly string[]): { missing: string[]; extra: string[]; order: boolean } | undefined {
  const have = new Set(sent);
  const need = new Set(model);
  const missing = model.filter((n) => !have.has(n));
  const extra = sent.filter((n) => !need.has(n));
  const order = !missing.length && !extra.length && model.some((n, i) => sent[i] !== n);
  return missing.length || extra.length || order ? { missing, extra, order } : undefined;
}

/** The names of a list, shortened for an error text: "a, b, c and 12 more". */
export function nameList(names: readonly string[], max = 6): string {
  if (!names.length) return 'none';
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
