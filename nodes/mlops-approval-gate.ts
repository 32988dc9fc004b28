/**
 * approval gate: Node-RED glue. Requests, policies, decisions and the audit trail live in
 * lib/approval/ (gate.ts); this file reads the configuration, opens the gate's request folder and
 * the shared audit log, and wires the decision channels: the flow (msg.approval), the admin HTTP
 * API and the editor's sidebar (lib/approval/admin.ts), and signed decisions over MQTT.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { releaseAuditLog, sharedAuditLog, type AuditLog } from './lib/approval/audit';
import { registerAdminApi, type AdminRED } from './lib/approval/admin';
import { flowDecision, isDecisionMessage, mqttDecision } from './lib/approval/channels';
import { parseGateConfig, requestFolder, type ParsedGateConfig, type RawGateConfig } from './lib/approval/config';
import { GateController } from './lib/approval/gate';
import { hub } from './lib/approval/hub';
import { RequestFiles } from './lib/approval/requests';
import { parseApproverKeys, type ApproverKey } from './lib/approval/signed';
import type { BrokerConfigNode } from './lib/mqtt/broker';
import { texts } from './lib/node-red/i18n';
import { refuseInput, settle } from './lib/node-red/node';
import { resolveUserPath } from './lib/node-red/paths';
import { ThrottledStatus } from './lib/node-red/status';

const NS = 'mlops-approval-gate';

export = function (RED: NodeAPI) {
  const tx = texts(RED, NS);
  registerAdminApi(RED as unknown as AdminRED, tx);

  function MlopsApprovalGate(this: Node, def: NodeDef & RawGateConfig) {
    RED.nodes.createNode(this, def);
    const node = this;
    const broker = def.mqttBroker ? (RED.nodes.getNode(def.mqttBroker) as unknown as BrokerConfigNode | null) : null;
    let config: ParsedGateConfig;
    let keys: ApproverKey[] = [];
    try {
      config = parseGateConfig(def, broker?.connection ? undefined : (broker?.configError ?? ''));
      if (config.topic) keys = parseApproverKeys(def.approverKeys ?? '');
    } catch (e) {
      refuseInput(node, tx, e);
      return;
    }
    if (config.approvals > 1 && !(RED.settings as { adminAuth?: unknown }).adminAuth) node.warn(tx.t('warn.fourEyesNoAuth'));

    let gate: GateController | undefined;
    let audit: AuditLog | undefined;
    const status = new ThrottledStatus(node, () => {
      if (!gate) return { fill: 'grey', shape: 'ring', text: tx.t('status.starting') };
      const oldest = gate.list()[0];
      return oldest
        ? { fill: 'yellow', shape: 'ring', text: tx.t('status.waiting', { count: gate.size, title: oldest.summary.title }) }
        : { fill: 'green', shape: 'dot', text: tx.t('status.none') };
    });
    status.update(true);

    // Opening is asynchronous: messages that arrive meanwhile wait for it.
    const ready = (async () => {
      audit = await sharedAuditLog(resolveUserPath(RED, config.auditFile));
      const files = await RequestFiles.open(resolveUserPath(RED, requestFolder(node.id)));
      const g = new GateController(node.id, def.name || node.id, config, files, audit, {
        send: (output, m) => node.send((output === 0 ? [m, null] : [null, m]) as unknown as NodeMessageInFlow),
        warn: (text) => node.warn(text),
        changed: () => {
          status.update();
          hub.notify();
        },
      });
      await g.start();
      gate = g;
      hub.add(g);
      status.update(true);
      return g;
    })();
    ready.catch((e: unknown) => {
      const text = tx.t('errors.open', { reason: tx.errorText(e) });
      node.error(text);
      status.set({ fill: 'red', shape: 'ring', text });
    });

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      const m = msg as unknown as Record<string, unknown>;
      void settle(tx, done, async () => {
        const g = await ready;
        if (isDecisionMessage(m)) await flowDecision(g, m);
        else await g.request(m);
      });
    });

    const connection = config.topic ? broker?.connection : undefined;
    if (connection) {
      connection.register(node);
      connection.subscribe(config.topic!, 1, (_topic, payload) => {
        ready
          .then((g) => mqttDecision(g, keys, payload))
          .catch((e: unknown) => node.warn(tx.t('warn.mqttRefused', { reason: tx.errorText(e) })));
      }, node);
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      if (connection) connection.unsubscribe(config.topic!, node);
      ready
        .then(async (g) => {
          hub.remove(g);
          await g.close();
        })
        .catch(() => undefined)
        .then(() => (audit ? releaseAuditLog(audit) : undefined))
        .then(() => connection?.deregister(node))
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType(NS, MlopsApprovalGate as never);
};
