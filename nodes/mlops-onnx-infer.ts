/**
 * onnx infer: Node-RED glue. The session host (a worker thread per model, hot swap, micro-batching)
 * lives in lib/onnx/host.ts, the configuration, prediction and status in lib/onnx/infer.ts, the
 * input and output mapping in lib/onnx/io.ts.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { modelOf } from './lib/messages';
import { refuseInput, settle } from './lib/node-red/node';
import { texts } from './lib/node-red/i18n';
import { pathResolver, userDir } from './lib/node-red/paths';
import { ThrottledStatus } from './lib/node-red/status';
import { SessionHost, type LoadedModel } from './lib/onnx/host';
import { setModelFileLimits } from './lib/onnx/model-file';
import { InferStatus, inspectModel, modelLabel, userDirModel, parseInferConfig, prediction, type InferConfig, type RawInferConfig } from './lib/onnx/infer';

const NS = 'mlops-onnx-infer';
const CLOSE_GRACE_MS = 3000;

export = function (RED: NodeAPI) {
  const resolvePath = pathResolver(RED);
  const tx = texts(RED, NS);
  const { t } = tx;
  // Model files: at most settings.mlopsModelMaxBytes bytes (default 2 GiB), read within
  // settings.mlopsModelReadTimeoutMs (default 30 s), for every reader in this process.
  const settings = RED.settings as unknown as { mlopsModelMaxBytes?: unknown; mlopsModelReadTimeoutMs?: unknown; mlopsModelDirs?: unknown };
  const setting = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);
  const maxModelBytes = setting(settings.mlopsModelMaxBytes);
  setModelFileLimits({ maxBytes: maxModelBytes, timeoutMs: setting(settings.mlopsModelReadTimeoutMs) });

  function MlopsOnnxInfer(this: Node, def: NodeDef & RawInferConfig) {
    RED.nodes.createNode(this, def);
    const node = this;
    let config: InferConfig;
    try {
      config = parseInferConfig(def);
    } catch (e) {
      refuseInput(node, tx, e);
      return;
    }
    const host = new SessionHost({ ...config.host, maxModelBytes: maxModelBytes ? Math.floor(maxModelBytes) : undefined });
    const view = new InferStatus(host, t);
    const status = new ThrottledStatus(node, () => view.render(), 1000);

    host.on('moved', (m: LoadedModel, ms: number) => {
      node.warn(t('log.moved', { model: modelLabel(m), ms: ms.toFixed(0) }));
      status.update(true);
    });
    host.on('died', (err: Error) => {
      node.error(t('errors.workerDied', { reason: err.message }));
      status.update(true);
    });

    const load = (req: { path: string; name?: string; version?: string; digest?: string }) => {
      const p = host.load({ ...req, path: resolvePath(req.path) });
      status.update(true);
      return p.then(
        (m) => {
          node.log(t('log.loaded', { model: modelLabel(m), digest: m.digest, mode: m.mode, ms: m.loadMs.toFixed(0) }));
          status.update(true);
          return m;
        },
        (e: unknown) => {
          status.update(true);
          throw e;
        },
      );
    };

    if (config.modelPath) load({ path: config.modelPath }).catch((e) => node.error(t('errors.initialLoad', { reason: tx.errorText(e) })));
    else status.update(true);

    // an error for a message Node-RED could not copy: to the Catch nodes with a fresh message
    const reportError = (text: string) => node.error(text, {});
    // settle: anything thrown, also by Node-RED while sending (cloning a message it cannot copy), fails this message only
    node.on('input', (msg: NodeMessageInFlow, send: (m: NodeMessageInFlow) => void, done: (err?: Error) => void) =>
      void settle(tx, done, () => {
        const model = modelOf(msg); // a msg.model that describes no model fails, and changes nothing
        if (model) {
          if (model.format !== undefined && model.format !== 'onnx') throw new Error(t('errors.modelFormat', { format: String(model.format) }));
          if (typeof model.path !== 'string' || !model.path) throw new Error(t('errors.modelPath'));
          return load({ path: model.path, name: model.name, version: model.version, digest: model.digest }).catch((e) => {
            throw new Error(t('errors.swapFailed', { reason: tx.errorText(e) }));
          });
        }
        const m = msg as NodeMessageInFlow & { features?: { shape?: unknown } };
        return host.infer(m.payload, m.features).then(
          (r) => {
            Object.assign(m, prediction(r, config));
            if (r.switchedFrom) node.log(t('log.switched', { from: modelLabel(r.switchedFrom), to: modelLabel(r.model), msgid: String(m._msgid) }));
            status.update();
            send(m);
          },
          (e) => {
            status.update();
            throw e;
          },
        );
      }, reportError),
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      host
        .close(CLOSE_GRACE_MS)
        .catch(() => undefined)
        .then(() => {
          host.removeAllListeners();
          done();
        });
    });
  }

  RED.nodes.registerType(NS, MlopsOnnxInfer as never);

  // The edit dialog shows a model's inputs, outputs and metadata: read from the file, no session.
  RED.httpAdmin.get(`/${NS}/inspect`, RED.auth.needsPermission(`${NS}.read`), (req, res) => {
    const raw = typeof req.query.path === 'string' ? req.query.path.trim() : '';
    if (!raw) return void res.status(400).json({ error: t('errors.modelPath') });
    // Only model files under the user directory, named relative to it (never the absolute path).
    const status: Record<string, number> = { modelOutsideUserDir: 403, modelNotFound: 404, modelRead: 404, modelCorrupt: 422, modelNotFile: 422, modelTooLarge: 413, modelReadTimeout: 504 };
    // settings.mlopsModelDirs: further model folders (e.g. a link into the user directory that leads out of it).
    const dirs = Array.isArray(settings.mlopsModelDirs) ? settings.mlopsModelDirs.filter((d): d is string => typeof d === 'string' && d !== '') : [];
    userDirModel(raw, userDir(RED), dirs)
      .then(({ file, rel }) => inspectModel(file, rel))
      .then(
        (info) => res.json(info),
        (e: { code?: string }) => res.status(status[e.code ?? ''] ?? 500).json({ error: tx.errorText(e), path: raw }),
      );
  });
};
