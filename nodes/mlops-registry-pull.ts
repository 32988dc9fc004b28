/**
 * registry pull: Node-RED glue. The pulls, the restore, the poll, announcements and the status live
 * in lib/registry/controller.ts (on lib/registry/pull.ts); this file reads the configuration and
 * wires the controller to the node, the registry node and the MQTT broker node.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { BrokerConfigNode } from './lib/mqtt/broker';
import { texts } from './lib/node-red/i18n';
import { refuseInput, settle } from './lib/node-red/node';
import { resolveUserPath } from './lib/node-red/paths';
import { parsePullConfig, PullController, storeFolder, type PullConfig, type RawPullConfig } from './lib/registry/controller';
import type { RegistryConfig } from './lib/registry/pull';

const NS = 'mlops-registry-pull';

export = function (RED: NodeAPI) {
  const tx = texts(RED, NS);

  function MlopsRegistryPull(this: Node, def: NodeDef & RawPullConfig & { registry?: string }) {
    RED.nodes.createNode(this, def);
    const node = this;
    const registry = RED.nodes.getNode(def.registry ?? '') as unknown as RegistryConfig | null;
    const broker = def.mqttBroker ? (RED.nodes.getNode(def.mqttBroker) as unknown as BrokerConfigNode | null) : null;
    let config: PullConfig;
    try {
      const settings = typeof registry?.settings === 'function' ? registry.settings() : undefined;
      config = parsePullConfig(def, settings, broker?.connection ? undefined : (broker?.configError ?? ''));
    } catch (e) {
      refuseInput(node, tx, e);
      return;
    }
    const controller = new PullController(config, resolveUserPath(RED, storeFolder(node.id)), {
      tx,
      send: (m) => node.send(m as NodeMessageInFlow),
      status: (s) => node.status(s),
      log: (text) => node.log(text),
      warn: (text) => node.warn(text),
      error: (text) => node.error(text),
    });

    // An announcement ("model X v7 released") pulls the manifest it names.
    const connection = config.topic ? broker?.connection : undefined;
    if (connection) {
      connection.register(node);
      connection.subscribe(config.topic!, 1, (_topic, payload) => controller.announce(payload), node);
    }

    node.on('input', (msg: NodeMessageInFlow, send: (m: NodeMessageInFlow) => void, done: (err?: Error) => void) =>
      controller.queue(() => settle(tx, done, () => controller.input(msg as unknown as Record<string, unknown>, (m) => send(m as NodeMessageInFlow)))),
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      if (connection) connection.unsubscribe(config.topic!, node);
      controller
        .close()
        .then(() => connection?.deregister(node))
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType(NS, MlopsRegistryPull as never);
};
