/**
 * drift detect: Node-RED glue. The behaviour lives in lib/drift/ (controller.ts: baseline handling
 * and inputs; monitor.ts: windows, tests, hysteresis; streaming.ts: ADWIN, Page-Hinkley, KSWIN, DDM).
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { baselineFromJson, baselineToJson } from './lib/drift/baseline';
import { type DriftConfig, DriftController, type RawDriftConfig, parseDriftConfig, readModelMetadata } from './lib/drift/controller';
import { windowWarnings } from './lib/drift/monitor';
import type { DriftReport, ModelInfo } from './lib/messages';

interface DriftDef extends NodeDef, RawDriftConfig {
  everyWindow?: boolean;
}

type Done = (err?: Error) => void;
type Send = (m: Array<NodeMessageInFlow | null> | NodeMessageInFlow) => void;
type Coded = { code: string; params: Record<string, string | number>; message: string };

const STATUS_INTERVAL_MS = 500;
const NS = 'mlops-drift-detect';

/** The live nodes, for the editor's report view. */
const live = new Map<string, { controller?: DriftController; last?: DriftReport }>();

export = function (RED: NodeAPI) {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
  const resolvePath = (p: string) => (path.isAbsolute(p) ? p : path.resolve(userDir || process.cwd(), p));
  const t = (key: string, vars?: Record<string, string | number>) => RED._(`${NS}.${key}`, vars);
  // A missing catalog entry (and the test helper's RED._) gives back the key: use the English text then.
  const tOr = (key: string, vars: Record<string, string | number>, english: string) => {
    const text = t(key, vars);
    return text && !text.startsWith(`${NS}.`) ? text : english;
  };
  // Errors of lib/drift carry a code and its parameters: the text comes from the catalog.
  const errorText = (e: unknown): string => {
    const c = e as Partial<Coded> | undefined;
    if (c && typeof c.code === 'string' && c.params && typeof c.params === 'object') return tOr(`errors.${c.code}`, c.params, String(c.message));
    return (e as Error)?.message ?? String(e);
  };

  const modelMetadata = (info: Partial<ModelInfo>) => readModelMetadata(info, resolvePath);

  function MlopsDriftDetect(this: Node, def: DriftDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const entry: { controller?: DriftController; last?: DriftReport } = {};
    live.set(node.id, entry);
    const everyWindow = def.everyWindow === true;

    let config: DriftConfig | undefined;
    let ctl: DriftController | undefined;
    let configError: string | undefined;
    try {
      config = parseDriftConfig(def);
      ctl = new DriftController(config);
      entry.controller = ctl;
      if (config.mode === 'window') for (const w of windowWarnings(config.window)) node.warn(errorText(w));
    } catch (e) {
      configError = errorText(e);
      node.error(tOr('errors.config', { reason: configError }, `invalid configuration: ${configError}`));
      node.status({ fill: 'red', shape: 'ring', text: t('status.badConfig') });
    }

    let closed = false;
    let statusTimer: NodeJS.Timeout | undefined;
    let lastStatus = 0;
    const showStatus = () => {
      statusTimer = undefined;
      if (closed || !ctl) return;
      lastStatus = Date.now();
      const ph = ctl.phase();
      if (ph.kind === 'waiting') node.status({ fill: 'grey', shape: 'ring', text: t('status.waiting') });
      else if (ph.kind === 'learning') node.status({ fill: 'blue', shape: 'ring', text: t('status.learning', { count: ph.count, size: ph.size }) });
      else {
        const r = entry.last;
        const fill = ph.state === 'drift' ? 'red' : ph.state === 'warn' ? 'yellow' : 'green';
        let detail = '';
        if (r && r.features.length > 0) detail = t('status.share', { drifted: r.drifted.length, tested: r.features.length });
        else if (r) detail = t('status.updates', { count: r.evaluations });
        node.status({ fill, shape: 'dot', text: `${t(`state.${ph.state}`)}${detail ? ' · ' + detail : ''}` });
      }
    };
    const updateStatus = (now = false) => {
      if (closed) return;
      if (now) {
        if (statusTimer) clearTimeout(statusTimer);
        showStatus();
      } else if (!statusTimer) statusTimer = setTimeout(showStatus, Math.max(0, lastStatus + STATUS_INTERVAL_MS - Date.now()));
    };
    if (ctl) updateStatus(true);

    /** One message on output 2 per change of state; the input's properties (topic, features.window ...) give it context. */
    const changeMessages = (msg: NodeMessageInFlow, changes: DriftReport[]): NodeMessageInFlow[] =>
      changes.map((change) => {
        const text = { from: t(`state.${change.previous ?? 'ok'}`), to: t(`state.${change.state}`), drifted: change.drifted.slice(0, 5).join(', ') || '-' };
        node.log(t('log.changed', text));
        return { ...msg, _msgid: RED.util.generateId(), payload: change.state, drift: change } as NodeMessageInFlow;
      });
    const emit = (send: Send, first: NodeMessageInFlow | null, second: NodeMessageInFlow[]) => {
      if (first || second.length > 0) send([first, second.length === 0 ? null : second.length === 1 ? second[0] : (second as never)]);
    };
    /** A new baseline: the last report no longer applies; a return to ok goes out on output 2. */
    const baselineChanged = (change: DriftReport | undefined, send: Send, msg: NodeMessageInFlow) => {
      entry.last = undefined;
      if (change) emit(send, null, changeMessages(msg, [change]));
      updateStatus(true);
    };
    const noReference = (model: string) =>
      new Error(tOr('errors.noReference', { model }, `the model ${model} carries no reference distribution (metadata "reference"): expected a model written by this package, a baseline file, or learning`));
    const readFailed = (p: string, e: unknown) =>
      new Error(tOr('errors.modelRead', { path: p, reason: errorText(e) }, `cannot read the reference of the model ${p}: ${errorText(e)}`));
    const failStatus = () => node.status({ fill: 'red', shape: 'ring', text: t('status.noBaseline') });

    // Messages wait while a model's reference is read, so none is judged against the wrong
    // baseline (or refused for having none yet); otherwise they are handled at once.
    let queue: Promise<void> | undefined;
    const serial = (job: () => Promise<void> | void) => {
      if (!queue) {
        const r = job();
        if (!r) return;
        queue = r;
      } else queue = queue.then(job);
      const mine = queue;
      void mine.finally(() => {
        if (queue === mine) queue = undefined;
      });
    };

    // The baseline at deploy: a model file or a JSON file.
    if (ctl && config) {
      if (config.baselineSource === 'model' && config.modelPath) {
        const p = config.modelPath;
        serial(() =>
          modelMetadata({ path: p })
            .then(
              (md) => {
                if (closed) return;
                if (ctl!.onModel(md, { path: p }).result === 'noReference') {
                  node.error(noReference(p).message);
                  failStatus();
                  return;
                }
                node.log(t('log.baseline', { source: `${md?.name ?? p} ${md?.version ?? ''}`.trim(), features: ctl!.baseline!.features.length }));
                updateStatus(true);
              },
              (e: unknown) => {
                if (closed) return;
                node.error(readFailed(p, e).message);
                failStatus();
              },
            )
            .catch((e: unknown) => {
              if (closed) return;
              node.error(errorText(e));
              failStatus();
            }),
        );
      } else if (config.baselineSource === 'file') {
        const p = config.baselineFile;
        serial(() =>
          fsp
            .readFile(resolvePath(p), 'utf8')
            .then((text) => {
              if (closed) return;
              const b = baselineFromJson(JSON.parse(text), 'file', { path: p });
              ctl!.setBaseline(b);
              node.log(t('log.baseline', { source: p, features: b.features.length }));
              updateStatus(true);
            })
            .catch((e: Error) => {
              if (closed) return;
              const reason = errorText(e);
              node.error(tOr('errors.baselineFile', { path: p, reason }, `cannot use the baseline file ${p}: ${reason}`));
              failStatus();
            }),
        );
      }
    }

    /** Everything but model messages: synchronous. */
    const handle = (c: DriftController, msg: NodeMessageInFlow, send: Send, done: Done) => {
      const m = msg as NodeMessageInFlow & { baseline?: unknown; reset?: unknown; features?: { names?: unknown; shape?: unknown } };
      try {
        if (m.baseline !== undefined) {
          if (m.baseline === 'get') {
            const b = c.baseline;
            send([Object.assign(msg, { payload: b ? baselineToJson(b) : null }), null]);
          } else baselineChanged(c.onBaselineMessage(m.baseline), send, msg);
        } else if (m.reset === true) {
          baselineChanged(c.reset(), send, msg);
        } else {
          const out = c.ingest(m.payload, m.features);
          if (out.report) entry.last = out.report;
          emit(send, everyWindow && out.report ? Object.assign(msg, { drift: out.report }) : null, changeMessages(msg, out.changes));
          updateStatus(out.changes.length > 0);
        }
        done();
      } catch (e) {
        done(new Error(errorText(e)));
        updateStatus();
      }
    };

    /** A model message: its reference (from the message, else the file) becomes the baseline. */
    const handleModel = (c: DriftController, msg: NodeMessageInFlow, info: Partial<ModelInfo>, send: Send, done: Done) =>
      modelMetadata(info)
        .then(
          (md) => {
            if (closed) return done();
            const origin = { name: info.name ?? md?.name, version: info.version ?? md?.version, digest: info.digest, path: info.path };
            const r = c.onModel(md, origin);
            if (r.result === 'noReference') return done(noReference(`${origin.name ?? info.path ?? '?'}`));
            if (r.result === 'replaced') node.log(t('log.baseline', { source: `${origin.name ?? ''} ${origin.version ?? ''}`.trim(), features: c.baseline!.features.length }));
            baselineChanged(r.change, send, msg);
            done();
          },
          (e: unknown) => done(readFailed(String(info.path), e)),
        )
        // a reference that cannot be used (malformed, no watched feature in it)
        .catch((e: unknown) => done(new Error(errorText(e))));

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      if (!ctl) {
        done(new Error(tOr('errors.config', { reason: configError ?? '' }, `invalid configuration: ${configError}`)));
        return;
      }
      const c = ctl;
      const model = (msg as { model?: unknown }).model;
      if (model !== undefined && model !== null && typeof model === 'object') serial(() => handleModel(c, msg, model as Partial<ModelInfo>, send, done));
      else serial(() => handle(c, msg, send, done));
    });

    node.on('close', (removed: boolean, done: () => void) => {
      closed = true;
      if (statusTimer) clearTimeout(statusTimer);
      live.delete(node.id);
      if (removed) node.status({});
      done();
    });
  }

  RED.nodes.registerType(NS, MlopsDriftDetect as never);

  // The edit dialog shows the last report: per-feature statistics and the distributions.
  RED.httpAdmin.get(`/${NS}/:id/report`, RED.auth.needsPermission(`${NS}.read`), (req, res) => {
    const e = live.get(String(req.params.id));
    if (!e || !e.controller) {
      res.status(404).json({ error: String(RED._(`${NS}.errors.notDeployed`)) });
      return;
    }
    const c = e.controller;
    const b = c.baseline;
    res.json({
      phase: c.phase().kind,
      report: e.last ?? null,
      baseline: b ? { source: b.source, origin: b.origin, features: b.features.length, createdAt: b.createdAt } : null,
      histograms: c.window && b ? c.window.histograms() : [],
    });
  });
};
