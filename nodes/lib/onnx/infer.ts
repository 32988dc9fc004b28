/**
 * What `onnx infer` does around the session host, without Node-RED: its configuration, the
 * prediction message built from a result, the status, and the editor's view of a model file.
 */
import { choiceField, numberField, optionalNumberField } from '../node-red/config';
import type { StatusShape } from '../node-red/status';
import type { ModelRef, PredictionMessage } from '../messages';
import type { GraphOptimizationLevel, HostOptions, InferResult, LoadedModel, SessionHost } from './host';
import { friendly, outputShapes, plainOutputs, type OutputForm } from './io';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { commonError, isCoded } from '../node-red/errors';
import { readModelFile } from './model-file';

export interface RawInferConfig {
  modelPath?: string;
  output?: string;
  threshold?: string | number;
  batchSize?: string | number;
  batchWaitMs?: string | number;
  threads?: string | number;
  optimization?: string;
  direct?: boolean;
}

export interface InferConfig {
  modelPath: string;
  form: OutputForm;
  /** undefined: the model's own threshold, else 0.5. */
  threshold?: number;
  host: HostOptions;
}

const FORMS: OutputForm[] = ['score', 'label', 'vector'];
const LEVELS: GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'all'];

/** Throws a coded error naming the first field that holds a bad value. */
export function parseInferConfig(d: RawInferConfig): InferConfig {
  return {
    modelPath: String(d.modelPath ?? '').trim(),
    form: choiceField(d, 'output', FORMS, 'score'),
    threshold: optionalNumberField(d, 'threshold', {}),
    host: {
      intraOpNumThreads: numberField(d, 'threads', { default: 1, min: 1, max: 64, integer: true }),
      graphOptimizationLevel: choiceField(d, 'optimization', LEVELS, 'all'),
      batchSize: numberField(d, 'batchSize', { default: 1, min: 1, max: 65536, integer: true }),
      batchWaitMs: numberField(d, 'batchWaitMs', { default: 0, min: 0, max: 60000 }),
      direct: d.direct === false ? 'never' : 'auto',
    },
  };
}

export const modelRef = (m: LoadedModel): ModelRef => ({ name: m.name, version: m.version, digest: m.digest });
export const modelLabel = (m: { name: string; version?: string }) => `${m.name} ${m.version ?? ''}`.trim();

/** The prediction properties of a scored message. */
export function prediction(r: InferResult, config: InferConfig): Omit<PredictionMessage, 'topic'> {
  const model = r.model;
  const md = model.metadata;
  const inference: PredictionMessage['inference'] = {
    model: modelRef(model),
    latencyMs: r.latencyMs,
    batchSize: r.runRows,
    rows: r.rows,
    shapes: outputShapes(r.outputs),
  };
  if (r.switchedFrom !== undefined) inference.switchedFrom = r.switchedFrom ? modelRef(r.switchedFrom) : null;
  let payload = friendly(r.outputs, model.outputs.map((o) => o.name), config.form, { classes: md.classes, threshold: config.threshold ?? md.output?.threshold }, r.batched);
  const range = config.form === 'score' ? targetRange(md.output?.range) : undefined;
  if (range) {
    const c = clampScores(payload, range);
    payload = c.payload;
    if (c.below + c.above > 0) inference.clamped = { range, below: c.below, above: c.above };
  }
  return {
    payload,
    outputs: plainOutputs(r.outputs),
    inference,
  } satisfies Omit<PredictionMessage, 'topic'>;
}

/** A usable training target range [min, max] from metadata, else undefined. */
export function targetRange(v: unknown): [number, number] | undefined {
  return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) && v[0] <= v[1] ? [v[0], v[1]] : undefined;
}

/** A score (or one per row) clamped to [min, max], counting the values below and above. */
export function clampScores(payload: unknown, [lo, hi]: [number, number]): { payload: unknown; below: number; above: number } {
  let below = 0;
  let above = 0;
  const one = (v: unknown) => {
    if (typeof v !== 'number' || Number.isNaN(v)) return v;
    if (v < lo) return below++, lo;
    if (v > hi) return above++, hi;
    return v;
  };
  return { payload: Array.isArray(payload) ? payload.map(one) : one(payload), below, above };
}

/** The node's status: the model and its rate (rows/s) or latency; `t` gives the texts. */
export class InferStatus {
  private lastAt = 0;
  private rowsAt = 0;

  constructor(private readonly host: SessionHost, private readonly t: (key: string, vars?: Record<string, string | number>) => string) {}

  render(now = Date.now()): StatusShape {
    const { host, t } = this;
    const m = host.model;
    const dt = (now - this.lastAt) / 1000;
    const rows = host.stats.rows - this.rowsAt;
    this.lastAt = now;
    this.rowsAt = host.stats.rows;
    if (!m) return host.isLoading ? { fill: 'yellow', shape: 'ring', text: t('status.loading') } : { fill: 'red', shape: 'ring', text: t('status.noModel') };
    const model = modelLabel(m);
    const text =
      rows > 0 && dt > 0 && dt < 10 && rows / dt >= 2
        ? t('status.rate', { model, rate: Math.round(rows / dt) })
        : host.stats.messages > 0
          ? t('status.latency', { model, ms: host.stats.lastLatencyMs.toFixed(2) })
          : t('status.ready', { model, mode: t(`mode.${m.mode}`) });
    return { fill: host.isLoading ? 'yellow' : 'green', shape: 'dot', text };
  }
}

/**
 * The model file `raw` names for the inspect endpoint, which only reads model files under the
 * user directory or a models folder the settings name (`modelDirs`, relative to the user
 * directory): relative to the user directory, or absolute inside one of them; `..` escapes and
 * symbolic links leading out are refused (checked again after resolving links), without telling
 * whether such a file exists. Resolves to the real path and the path to show: relative to the
 * user directory (the user directory itself is never named).
 */
export async function userDirModel(raw: string, userDir: string, modelDirs: string[] = []): Promise<{ file: string; rel: string }> {
  const outside = () => commonError('modelOutsideUserDir', { path: raw }, `only model files in the Node-RED user directory can be inspected, got ${raw}`);
  const under = (root: string, p: string) => {
    const rel = path.relative(root, p);
    return rel !== '' && rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel) ? rel : undefined;
  };
  const base = path.resolve(userDir);
  const roots = [base, ...modelDirs.map((d) => path.resolve(base, d))];
  const abs = path.resolve(base, raw);
  if (raw.includes('\0') || !roots.some((r) => under(r, abs))) throw outside();
  let real: string;
  try {
    real = await fsp.realpath(abs);
  } catch {
    throw commonError('modelNotFound', { path: raw }, `no model file ${raw} in the Node-RED user directory`);
  }
  const realRoots = await Promise.all(roots.map((r) => fsp.realpath(r).catch(() => r)));
  if (!realRoots.some((r) => under(r, real))) throw outside();
  return { file: real, rel: under(base, abs) ?? raw };
}

/** What the edit dialog shows of a model file: inputs, outputs and metadata, read without a session. `shown`: the path the answer names. */
export async function inspectModel(file: string, shown = file) {
  let m: Awaited<ReturnType<typeof readModelFile>>;
  try {
    m = await readModelFile(file);
  } catch (e) {
    // The reader's texts name the file it read: name the shown path instead.
    if (isCoded(e) && shown !== file) {
      for (const [k, v] of Object.entries(e.params)) if (typeof v === 'string') e.params[k] = v.split(file).join(shown);
      e.message = e.message.split(file).join(shown);
    }
    throw e;
  }
  const md = m.metadata ?? {};
  const features = Array.isArray(md.features) ? md.features : undefined;
  return {
    path: shown,
    size: m.size,
    digest: m.digest,
    producer: `${m.info.producerName} ${m.info.producerVersion}`.trim(),
    opset: m.info.opset,
    inputs: m.info.inputs.map((i) => ({ name: i.name, type: i.elemType, shape: i.shape })),
    outputs: m.info.outputs.map((o) => ({ name: o.name, type: o.elemType, shape: o.shape })),
    metadata: {
      name: md.name,
      version: md.version,
      kind: md.kind,
      features: features?.length,
      featureNames: features?.slice(0, 50),
      classes: md.classes,
      output: md.output,
    },
  };
}
