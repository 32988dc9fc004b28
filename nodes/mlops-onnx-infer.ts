/**
 * onnx infer: Node-RED glue. The session host (a worker thread per model, hot swap, micro-batching)
 * lives in lib/onnx/host.ts, the input and output mapping in lib/onnx/io.ts.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { fromMetadataProps } from './lib/model/metadata';
import type { ModelInfo } from './lib/messages';
import { HostError, SessionHost, type GraphOptimizationLevel, type InferResult, type LoadedModel } from './lib/onnx/host';
import { friendly, InferInputError, outputShapes, plainOutputs, type OutputForm } from './lib/onnx/io';
import { decodeModelInfo } from './lib/onnx/proto';

interface InferDef extends NodeDef {
  modelPath?: string;
  output?: OutputForm;
  threshold?: string | number;
  batchSize?: string | number;
  batchWaitMs?: string | number;
  threads?: string | number;
  optimization?: GraphOptimizationLevel;
  direct?: boolean;
}

type Done = (err?: Error) => void;
type Send = (m: NodeMessageInFlow) => void;

const STATUS_INTERVAL_MS = 1000;
const CLOSE_GRACE_MS = 3000;
const LEVELS: GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'all'];

function num(v: unknown, fallback: number): number {
  const n = v === undefined || v === null || v === '' ? NaN : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

function modelRef(m: LoadedModel) {
  return { name: m.name, version: m.version, digest: m.digest };
}

export = function (RED: NodeAPI) {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
  const resolvePath = (p: string) => (path.isAbsolute(p) ? p : path.resolve(userDir || process.cwd(), p));

  function MlopsOnnxInfer(this: Node, config: InferDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const t = (key: string, vars?: Record<string, string | number>) => RED._(`mlops-onnx-infer.${key}`, vars);
    // A missing catalog entry (and the test helper's RED._) gives back the key: use the English text then.
    const tOr = (key: string, vars: Record<string, string | number>, english: string) => {
      const text = t(key, vars);
      return text && !text.startsWith('mlops-onnx-infer.') ? text : english;
    };
    const errorText = (e: unknown): string => {
      if (e instanceof InferInputError || e instanceof HostError) return tOr(`errors.${e.code}`, e.params, e.message);
      return (e as Error)?.message ?? String(e);
    };

    const form: OutputForm = config.output === 'label' || config.output === 'vector' ? config.output : 'score';
    const threshold = config.threshold === '' || config.threshold === undefined ? undefined : num(config.threshold, 0.5);
    const host = new SessionHost({
      intraOpNumThreads: Math.max(1, Math.floor(num(config.threads, 1))),
      graphOptimizationLevel: LEVELS.includes(config.optimization as GraphOptimizationLevel) ? config.optimization : 'all',
      batchSize: Math.max(1, Math.floor(num(config.batchSize, 1))),
      batchWaitMs: Math.max(0, num(config.batchWaitMs, 0)),
      direct: config.direct === false ? 'never' : 'auto',
    });

    let closed = false;
    let statusTimer: NodeJS.Timeout | undefined;
    let lastStatus = 0;
    let rowsAtStatus = 0;
    const showStatus = () => {
      statusTimer = undefined;
      if (closed) return;
      const m = host.model;
      const now = Date.now();
      if (!m) {
        node.status(host.isLoading ? { fill: 'yellow', shape: 'ring', text: t('status.loading') } : { fill: 'red', shape: 'ring', text: t('status.noModel') });
      } else {
        const label = m.version ? `${m.name} ${m.version}` : m.name;
        const dt = (now - lastStatus) / 1000;
        const rows = host.stats.rows - rowsAtStatus;
        const text =
          rows > 0 && dt > 0 && dt < 10 && rows / dt >= 2
            ? t('status.rate', { model: label, rate: Math.round(rows / dt) })
            : host.stats.messages > 0
              ? t('status.latency', { model: label, ms: host.stats.lastLatencyMs.toFixed(2) })
              : t('status.ready', { model: label, mode: t(`mode.${m.mode}`) });
        node.status({ fill: host.isLoading ? 'yellow' : 'green', shape: 'dot', text });
      }
      lastStatus = now;
      rowsAtStatus = host.stats.rows;
    };
    const updateStatus = (now = false) => {
      if (closed) return;
      if (now) {
        if (statusTimer) clearTimeout(statusTimer);
        showStatus();
        return;
      }
      if (!statusTimer) statusTimer = setTimeout(showStatus, Math.max(0, lastStatus + STATUS_INTERVAL_MS - Date.now()));
    };

    host.on('died', (err: Error) => {
      node.error(tOr('errors.workerDied', { reason: err.message }, `the model worker ended unexpectedly (${err.message}): no model until the next load`));
      updateStatus(true);
    });

    const load = (req: { path: string; name?: string; version?: string; digest?: string }) => {
      const p = host.load({ ...req, path: resolvePath(req.path) });
      updateStatus(true);
      return p.then(
        (m) => {
          node.log(t('log.loaded', { model: `${m.name} ${m.version}`.trim(), digest: m.digest, mode: m.mode, ms: m.loadMs.toFixed(0) }));
          updateStatus(true);
          return m;
        },
        (e: Error) => {
          updateStatus(true);
          throw e;
        },
      );
    };

    const modelPath = (config.modelPath ?? '').trim();
    if (modelPath) {
      load({ path: modelPath }).catch((e) => {
        const reason = errorText(e);
        node.error(tOr('errors.initialLoad', { reason }, `the configured model could not be loaded: ${reason}`));
      });
    } else {
      updateStatus(true);
    }

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      const m = msg as NodeMessageInFlow & { model?: Partial<ModelInfo>; features?: { shape?: unknown }; outputs?: unknown; inference?: unknown };
      if (m.model !== undefined && m.model !== null && typeof m.model === 'object' && !Array.isArray(m.model)) {
        const info = m.model;
        if (info.format !== undefined && info.format !== 'onnx') {
          done(new Error(tOr('errors.modelFormat', { format: String(info.format) }, `msg.model has format "${String(info.format)}": expected an ONNX model (format "onnx")`)));
          return;
        }
        if (typeof info.path !== 'string' || !info.path) {
          done(new Error(tOr('errors.modelPath', {}, 'msg.model has no path: expected msg.model.path to name the .onnx file')));
          return;
        }
        load({ path: info.path, name: info.name, version: info.version, digest: info.digest }).then(
          () => done(),
          (e) => {
            const reason = errorText(e);
            done(new Error(tOr('errors.swapFailed', { reason }, `model not swapped, the previous model keeps serving: ${reason}`)));
          },
        );
        return;
      }
      host.infer(m.payload, m.features).then(
        (r: InferResult) => {
          const model = r.model;
          const md = model.metadata;
          m.payload = friendly(r.outputs, model.outputs.map((o) => o.name), form, { classes: md.classes, threshold: threshold ?? md.output?.threshold }, r.batched);
          m.outputs = plainOutputs(r.outputs);
          const inference: Record<string, unknown> = {
            model: modelRef(model),
            latencyMs: r.latencyMs,
            batchSize: r.runRows,
            rows: r.rows,
            shapes: outputShapes(r.outputs),
          };
          if (r.switchedFrom !== undefined) {
            inference.switchedFrom = r.switchedFrom ? modelRef(r.switchedFrom) : null;
            if (r.switchedFrom) {
              node.log(t('log.switched', { from: `${r.switchedFrom.name} ${r.switchedFrom.version}`.trim(), to: `${model.name} ${model.version}`.trim(), msgid: String(m._msgid) }));
            }
          }
          m.inference = inference;
          send(m);
          done();
          updateStatus();
        },
        (e) => {
          done(new Error(errorText(e)));
          updateStatus();
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      if (statusTimer) clearTimeout(statusTimer);
      host
        .close(CLOSE_GRACE_MS)
        .catch(() => undefined)
        .then(() => {
          host.removeAllListeners();
          done();
        });
    });
  }

  RED.nodes.registerType('mlops-onnx-infer', MlopsOnnxInfer as never);

  // The edit dialog shows a model's inputs, outputs and metadata: read from the file, no session.
  RED.httpAdmin.get('/mlops-onnx-infer/inspect', RED.auth.needsPermission('mlops-onnx-infer.read'), (req, res) => {
    const raw = typeof req.query.path === 'string' ? req.query.path.trim() : '';
    if (!raw) {
      res.status(400).json({ error: RED._('mlops-onnx-infer.errors.modelPath') });
      return;
    }
    const file = resolvePath(raw);
    fsp
      .readFile(file)
      .then((bytes) => {
        let info;
        try {
          info = decodeModelInfo(bytes);
        } catch (e) {
          res.status(422).json({ error: RED._('mlops-onnx-infer.errors.loadCorrupt', { path: raw, reason: (e as Error).message }), path: file });
          return;
        }
        const md = fromMetadataProps(info.metadata) ?? {};
        res.json({
          path: file,
          size: bytes.length,
          producer: `${info.producerName} ${info.producerVersion}`.trim(),
          opset: info.opset,
          inputs: info.inputs.map((i) => ({ name: i.name, type: i.elemType, shape: i.shape })),
          outputs: info.outputs.map((o) => ({ name: o.name, type: o.elemType, shape: o.shape })),
          metadata: {
            name: md.name,
            version: md.version,
            kind: md.kind,
            features: Array.isArray(md.features) ? md.features.length : undefined,
            featureNames: Array.isArray(md.features) ? md.features.slice(0, 50) : undefined,
            classes: md.classes,
            output: md.output,
          },
        });
      })
      .catch((e: NodeJS.ErrnoException) => {
        res.status(404).json({ error: RED._('mlops-onnx-infer.errors.loadRead', { path: raw, reason: e.code ?? e.message }), path: file });
      });
  });
};
