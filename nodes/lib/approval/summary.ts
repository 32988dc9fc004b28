/**
 * What a person sees of a request before deciding: a title and a summary built from the held
 * message. For a model message: name, version, digest, where it came from, the signature result,
 * its metrics beside those of the model deployed now, and the drift report that led to it.
 */
import type { DriftReport, EvaluationInfo, ModelInfo, RegistryInfo } from '../messages';

export interface ModelSummary {
  name: string;
  version: string;
  digest: string;
  source?: string;
  reference?: string;
  /** The registry's signature check; undefined when the message carries no registry part. */
  signature?: { verified: boolean; key?: string };
}

/** One metric, candidate beside deployed; `better` when the direction of the metric is known. */
export interface MetricRow {
  name: string;
  candidate?: number;
  deployed?: number;
  /** 'higher' or 'lower' is better; undefined for a metric whose direction is not known. */
  goal?: 'higher' | 'lower';
  better?: boolean;
}

export interface RequestSummary {
  title: string;
  model?: ModelSummary;
  /** The model deployed now (the one this gate approved last for the same name), when known. */
  deployed?: { name: string; version: string; digest: string };
  metrics: MetricRow[];
  /** Where the candidate's and the deployed model's metrics come from. */
  metricsFrom?: 'evaluation' | 'metadata';
  drift?: { state: string; method: string; fired?: string[]; at?: number; text: string };
  /** A message that is not a model message: its topic and a preview of its payload. */
  text?: string;
}

/** The model deployed now, as the gate remembers it from its last approval. */
export interface DeployedModel {
  name: string;
  version: string;
  digest: string;
  metrics?: Record<string, number>;
  /** Its input features (metadata), which the flow feeds. */
  features?: string[];
}

/** A model message's input features (its metadata), when it lists them. */
export function modelFeatures(msg: Record<string, unknown>): string[] | undefined {
  const f = ((msg.model as { metadata?: { features?: unknown } } | undefined)?.metadata)?.features;
  return Array.isArray(f) && f.length && f.every((n) => typeof n === 'string') ? (f as string[]) : undefined;
}

const HIGHER = /^(acc|accuracy|auc|roc_?auc|pr_?auc|f1|f1_?score|precision|recall|r2|r_?squared|balanced_?accuracy|specificity|sensitivity|tpr|lead)$/i;
const LOWER = /^(rmse|mse|mae|mape|loss|error|log_?loss|phm08|score_?phm08|fpr|false_?alarm(_?rate)?|brier|latency(_?ms)?|out_?of_?domain)$/i;

/** Whether a higher or a lower value of a metric is better, by its name; undefined when unknown. */
export function metricGoal(name: string): 'higher' | 'lower' | undefined {
  const base = name.replace(/^(test|val|validation|holdout|held_?out)[._-]?/i, '');
  if (HIGHER.test(base)) return 'higher';
  if (LOWER.test(base)) return 'lower';
  return undefined;
}

const numbers = (m: unknown): Record<string, number> => {
  const out: Record<string, number> = {};
  if (m && typeof m === 'object' && !Array.isArray(m)) {
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  return out;
};

/** Candidate and deployed metrics side by side, in the candidate's order, then metrics only the deployed model has. */
export function compareMetrics(candidate: Record<string, number>, deployed: Record<string, number> | undefined): MetricRow[] {
  const names = [...Object.keys(candidate), ...Object.keys(deployed ?? {}).filter((k) => !(k in candidate))];
  return names.map((name) => {
    const row: MetricRow = { name, candidate: candidate[name], deployed: deployed?.[name], goal: metricGoal(name) };
    if (row.goal && row.candidate !== undefined && row.deployed !== undefined) row.better = row.goal === 'higher' ? row.candidate >= row.deployed : row.candidate <= row.deployed;
    return row;
  });
}

/**
 * Whether every metric of known direction that both models have is at least as good for the
 * candidate, by `margin` (a fraction of the deployed value: 0.01 = 1 % better); false when no such
 * metric exists (nothing to compare is no evidence).
 */
export function atLeastAsGood(rows: MetricRow[], margin: number): boolean {
  const comparable = rows.filter((r) => r.goal && r.candidate !== undefined && r.deployed !== undefined);
  if (!comparable.length) return false;
  return comparable.every((r) => {
    const need = Math.abs(r.deployed!) * margin;
    return r.goal === 'higher' ? r.candidate! >= r.deployed! + need : r.candidate! <= r.deployed! - need;
  });
}

function driftText(d: Partial<DriftReport>): string {
  const parts = [`${d.state ?? '?'} (${d.method ?? '?'})`];
  if (d.fired?.length) parts.push(`fired: ${d.fired.join(', ')}`);
  if (d.domain) parts.push(`out of domain: ${d.domain.flagged} of ${d.domain.checked} vectors`);
  if (d.shift) parts.push(`shifted: ${d.shift.drifted} of ${d.shift.tested} features`);
  if (!d.domain && !d.shift && d.drifted?.length) parts.push(`drifted: ${d.drifted.slice(0, 5).join(', ')}${d.drifted.length > 5 ? ', …' : ''}`);
  return parts.join('; ');
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 200 ? `${s.slice(0, 199)}…` : s;
}

/** The summary of a held message; `deployed` is the model this gate approved last for the same name. */
export function summarize(msg: Record<string, unknown>, deployedOf: (name: string) => DeployedModel | undefined): RequestSummary {
  const m = msg.model as Partial<ModelInfo> | undefined;
  const isModel = !!m && typeof m === 'object' && !Array.isArray(m) && (typeof m.name === 'string' || typeof m.digest === 'string');
  const driftMsg = msg.drift as Partial<DriftReport> | undefined;
  const drift = driftMsg && typeof driftMsg === 'object' && typeof driftMsg.state === 'string'
    ? { state: driftMsg.state, method: String(driftMsg.method ?? ''), fired: driftMsg.fired, at: driftMsg.at, text: driftText(driftMsg) }
    : undefined;
  if (!isModel) {
    const topic = typeof msg.topic === 'string' && msg.topic ? msg.topic : undefined;
    return { title: topic ?? 'message', metrics: [], drift, text: preview(msg.payload) };
  }
  const reg = msg.registry as Partial<RegistryInfo> | undefined;
  const model: ModelSummary = {
    name: String(m!.name ?? '?'),
    version: String(m!.version ?? '?'),
    digest: String(m!.digest ?? ''),
    source: typeof m!.source === 'string' ? m!.source : undefined,
    reference: typeof reg?.reference === 'string' ? reg.reference : undefined,
    signature: reg?.signature && typeof reg.signature === 'object' ? { verified: reg.signature.verified === true, key: reg.signature.key } : undefined,
  };
  const dep = deployedOf(model.name);
  const deployed = dep && dep.digest !== model.digest ? { name: dep.name, version: dep.version, digest: dep.digest } : undefined;
  const evaluation = msg.evaluation as Partial<EvaluationInfo> | undefined;
  let metrics: MetricRow[];
  let metricsFrom: RequestSummary['metricsFrom'];
  if (evaluation && typeof evaluation === 'object' && evaluation.candidate) {
    metrics = compareMetrics(numbers(evaluation.candidate), evaluation.deployed ? numbers(evaluation.deployed) : undefined);
    metricsFrom = 'evaluation';
  } else {
    const own = numbers((m!.metadata as { metrics?: unknown } | undefined)?.metrics);
    metrics = compareMetrics(own, deployed ? dep?.metrics : undefined);
    metricsFrom = metrics.length ? 'metadata' : undefined;
  }
  return { title: `${model.name} ${model.version}`, model, deployed, metrics, metricsFrom, drift };
}
