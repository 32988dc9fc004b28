/**
 * retrain trigger: Node-RED glue. The buffer, the policy, the decisions and the retrain live in
 * lib/retrain/ (controller.ts, actions.ts); this file reads the configuration, picks the action
 * (local training, a pipeline's webhook, MQTT) and wires the controller to the node.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { BrokerConfigNode } from './lib/mqtt/broker';
import { texts } from './lib/node-red/i18n';
import { refuseInput, settle } from './lib/node-red/node';
import { resolveUserPath } from './lib/node-red/paths';
import { ThrottledStatus, type StatusShape } from './lib/node-red/status';
import { localAction, mqttAction, webhookAction, webhookFields, type WebhookCredentials, type WebhookFields } from './lib/retrain/actions';
import { parseRetrainConfig, retrainFolder, RetrainController, type ActionRunner, type RawRetrainConfig, type RetrainConfig } from './lib/retrain/controller';
import type { Decision } from './lib/retrain/policy';
import { parseWebhookConfig } from './lib/retrain/webhook';
import { BufferError } from './lib/retrain/buffer';

const NS = 'mlops-retrain-trigger';

interface Def extends NodeDef, RawRetrainConfig, WebhookFields {
  mqttBroker?: string;
  mqttTopic?: string;
}

export = function (RED: NodeAPI) {
  const tx = texts(RED, NS);

  function MlopsRetrainTrigger(this: Node<WebhookCredentials>, def: Def) {
    RED.nodes.createNode(this, def);
    const node = this;
    const c = node.credentials ?? {};
    const broker = def.action === 'mqtt' ? (RED.nodes.getNode(def.mqttBroker ?? '') as unknown as BrokerConfigNode | null) : null;
    let status: StatusShape = { fill: 'grey', shape: 'ring', text: tx.t('status.starting') };
    const shown = new ThrottledStatus(node, () => status);
    let config: RetrainConfig;
    let action: ActionRunner;
    try {
      config = parseRetrainConfig(def);
      const progress = (text: string) => {
        status = { fill: 'blue', shape: 'dot', text };
        shown.update();
      };
      if (config.action === 'local') action = localAction({ holdout: config.holdout, epochs: config.epochs, progress });
      else if (config.action === 'webhook') {
        const cfg = parseWebhookConfig(webhookFields(def, c, (f) => resolveUserPath(RED, f)));
        action = webhookAction(cfg, { retrying: progress });
      } else {
        const topic = String(def.mqttTopic ?? '').trim();
        if (!broker?.connection) throw new BufferError('noBroker', { reason: broker?.configError ?? '' }, `expected a working MQTT broker config node${broker?.configError ? `: ${broker.configError}` : ''}`);
        if (!topic || /[+#]/.test(topic)) throw new BufferError('mqttTopic', { topic }, `expected a topic to publish the retrain requests to (no + or #), got "${topic}"`);
        action = mqttAction(broker.connection, topic);
      }
    } catch (e) {
      refuseInput(node, tx, e);
      return;
    }
    const connection = config.action === 'mqtt' ? broker?.connection : undefined;
    connection?.register(node);
    shown.update(true);

    const explain = (d: Decision) => tx.t(`decision.${d.reason}`, d.params);
    const controller = new RetrainController(config, resolveUserPath(RED, retrainFolder(node.id)), action, {
      send: (output, m) => node.send((output === 0 ? [m, null] : [null, m]) as unknown as NodeMessageInFlow),
      status: (text, fill) => {
        status = { fill, shape: fill === 'green' || fill === 'blue' ? 'dot' : 'ring', text };
        shown.update(fill === 'red' || fill === 'blue');
      },
      log: (text) => node.log(text),
      warn: (text) => node.warn(text),
      failed: (e) => {
        const text = tx.t('errors.failed', { reason: tx.errorText(e) });
        status = { fill: 'red', shape: 'ring', text };
        shown.update(true);
        node.error(text, { payload: text, topic: 'retrain failed' });
      },
      explain,
    });
    const ready = controller.open();
    ready.catch((e: unknown) => {
      const text = tx.t('errors.open', { reason: tx.errorText(e) });
      node.error(text);
      status = { fill: 'red', shape: 'ring', text };
      shown.update(true);
    });

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      void settle(tx, done, async () => {
        await ready;
        await controller.input(msg as unknown as Record<string, unknown>);
      });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      shown.close();
      ready
        .then(() => controller.close())
        .catch(() => undefined)
        .then(() => connection?.deregister(node))
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType(NS, MlopsRetrainTrigger as never, {
    credentials: { token: { type: 'password' }, username: { type: 'text' }, password: { type: 'password' }, jenkinsToken: { type: 'password' } },
  });
};
