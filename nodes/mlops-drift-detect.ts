/**
 * drift detect: Node-RED glue. The behaviour lives in lib/drift/ (controller.ts: configuration,
 * baselines, inputs; monitor.ts: windows, tests, hysteresis; detectors/: ADWIN, Page-Hinkley, KSWIN, DDM).
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { applyModelMessage, type BaselineLoaded, DriftController, loadConfiguredBaseline, parseDriftConfig, type RawDriftConfig } from './lib/drift/controller';
import { windowWarnings } from './lib/drift/monitor';
import { modelOf, type DriftReport } from './lib/messages';
import { texts } from './lib/node-red/i18n';
import { refuseInput, settle } from './lib/node-red/node';
import { pathResolver } from './lib/node-red/paths';
import { Serial } from './lib/node-red/serial';
import { ThrottledStatus, type StatusShape } from './lib/node-red/status';

type Done = (err?: Error) => void;
type Send = (m: Array<NodeMessageInFlow | NodeMessageInFlow[] | null>) => void;

const NS = 'mlops-drift-detect';
/** Longest wait of the messages behind a model message for its reference. */
const MODEL_HOLD_MS = 2000;

/** The live nodes, for the editor's report view. */
const live = new Map<string, { controller: DriftController; last?: DriftReport }>();

export = function (RED: NodeAPI) {
  const resolvePath = pathResolver(RED);
  const tx = texts(RED, NS);
  const { t } = tx;

  function MlopsDriftDetect(this: Node, def: NodeDef & RawDriftConfig & { everyWindow?: boolean }) {
    RED.nodes.createNode(this, def);
    const node = this;
    let ctl: DriftController;
    try {
      ctl = new DriftController(parseDriftConfig(def));
    } catch (e) {
      refuseInput(node, tx, e);
      return;
    }
    if (ctl.window) for (const w of windowWarnings(ctl.config.window)) node.warn(tx.errorText(w));
    const entry: { controller: DriftController; last?: DriftReport } = { controller: ctl };
    live.set(node.id, entry);
    const everyWindow = def.everyWindow === true;
    let closed = false;

    const render = (): StatusShape => {
      const ph = ctl.phase();
      if (ph.kind === 'waiting') return { fill: 'grey', shape: 'ring', text: t('status.waiting') };
      if (ph.kind === 'learning') return { fill: 'blue', shape: 'ring', text: t('status.learning', { count: ph.count, size: ph.size }) };
      const r = entry.last;
      // a window test: out of domain when that fired (the model's output cannot be trusted), the share of drifted features unless only that fired
      const parts: string[] = [];
      if (r && r.features.length === 0) parts.push(t('status.updates', { count: r.evaluations }));
      else if (r) {
        const domain = r.domain && r.fired?.includes('domain');
        if (domain) parts.push(t('status.domain', { share: Math.round(r.domain!.share * 100) }));
        if (!domain || r.fired?.includes('shift')) parts.push(t('status.share', { drifted: r.drifted.length, tested: r.features.length }));
      }
      const detail = parts.join(' · ');
      return { fill: ph.state === 'drift' ? 'red' : ph.state === 'warn' ? 'yellow' : 'green', shape: 'dot', text: `${t(`state.${ph.state}`)}${detail ? ' · ' + detail : ''}` };
    };
    const status = new ThrottledStatus(node, render, 500);
    status.update(true);

    /** One message on output 2 per change of state; the input's properties (topic, features.window ...) give it context. */
    const changeMessages = (msg: NodeMessageInFlow, changes: DriftReport[]) =>
      changes.map((change) => {
        const domain = change.fired?.includes('domain') ? change.domain!.features.slice(0, 3).map((f) => `${f.name} ${t(`direction.${f.direction}`)}`) : [];
        const what = [...(domain.length ? [t('log.outOfDomain', { features: domain.join(', ') })] : []), ...(change.drifted.length ? [change.drifted.slice(0, 5).join(', ')] : [])];
        node.log(t('log.changed', { from: t(`state.${change.previous ?? 'ok'}`), to: t(`state.${change.state}`), drifted: what.join('; ') || '-' }));
        return { ...msg, _msgid: RED.util.generateId(), payload: change.state, drift: change } as NodeMessageInFlow;
      });
    const emit = (send: Send, first: NodeMessageInFlow | null, second: NodeMessageInFlow[]) => {
      if (first || second.length > 0) send([first, second.length === 0 ? null : second.length === 1 ? second[0] : second]);
    };
    /** A new baseline: the last report no longer applies; a return to ok goes out on output 2. */
    const baselineChanged = (send: Send, msg: NodeMessageInFlow, change?: DriftReport, loaded?: BaselineLoaded) => {
      entry.last = undefined;
      if (loaded) node.log(t('log.baseline', loaded as never));
      if (change) emit(send, null, changeMessages(msg, [change]));
      status.update(true);
    };

    // an error for a message Node-RED could not copy: to the Catch nodes with a fresh message
    const reportError = (text: string) => node.error(text, {});
    // Messages wait while a model's reference is read, so none is judged against the wrong baseline;
    // behind a model message at most MODEL_HOLD_MS (a hung mount): they are then judged against the
    // baseline in force, and the model's reference applies when its read ends (model messages in turn).
    const serial = new Serial();
    let models: Promise<unknown> = Promise.resolve();
    serial.run(() =>
      loadConfiguredBaseline(ctl, resolvePath).then(
        (loaded) => {
          if (closed) return;
          if (loaded) node.log(t('log.baseline', loaded as never));
          status.update(true);
        },
        (e: unknown) => {
          if (closed) return;
          node.error(tx.errorText(e));
          status.set({ fill: 'red', shape: 'ring', text: t('status.noBaseline') });
        },
      ),
    );

    // settle: anything thrown, also by Node-RED while sending (cloning a message it cannot copy), fails this message only
    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) =>
      serial.run(() =>
        settle(tx, done, () => {
          const model = modelOf(msg); // a msg.model that describes no model fails, and changes nothing
          if (model) {
            const applied = models.then(() => applyModelMessage(ctl, model, resolvePath)).then(({ change, loaded }) => void (!closed && baselineChanged(send, msg, change, loaded)));
            models = applied.catch(() => undefined);
            return applied;
          }
          const out = ctl.input(msg as never);
          if (out.kind === 'get') send([Object.assign(msg, { payload: out.baseline }), null]);
          else if (out.kind === 'baseline') baselineChanged(send, msg, out.change);
          else {
            const { report, changes } = out.outcome;
            if (report) entry.last = report;
            status.update(changes.length > 0);
            emit(send, everyWindow && report ? Object.assign(msg, { drift: report }) : null, changeMessages(msg, changes));
          }
        }, reportError),
      MODEL_HOLD_MS),
    );

    node.on('close', (removed: boolean, done: () => void) => {
      closed = true;
      status.close(removed);
      live.delete(node.id);
      done();
    });
  }

  RED.nodes.registerType(NS, MlopsDriftDetect as never);

  // The edit dialog shows the last report: per-feature statistics and the distributions.
  RED.httpAdmin.get(`/${NS}/:id/report`, RED.auth.needsPermission(`${NS}.read`), (req, res) => {
    const e = live.get(String(req.params.id));
    if (!e) return void res.status(404).json({ error: t('errors.notDeployed') });
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
