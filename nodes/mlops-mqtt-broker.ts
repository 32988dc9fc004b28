/**
 * Config node: one MQTT broker, one shared MQTT.js client, reference-counted by the nodes that use
 * it (registry pull's announcements, retrain trigger's requests). Thin glue on nodes/lib/mqtt/broker.ts.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { texts } from './lib/node-red/i18n';
import { MqttBroker, type BrokerConfigNode, type BrokerStateInfo } from './lib/mqtt/broker';

interface BrokerSettings {
  url?: string;
  clientId?: string;
  caFile?: string;
  keepalive?: number | string;
  cleanSession?: boolean | string;
}

interface BrokerCredentials {
  username?: string;
  password?: string;
}

type BrokerDef = NodeDef & BrokerSettings;
type BrokerNode = Node<BrokerCredentials> & BrokerConfigNode;

export = function (RED: NodeAPI) {
  const tx = texts(RED, 'mlops-mqtt-broker');
  const text = tx.errorText;
  const settings = RED.settings as unknown as { mqttReconnectTime?: number };

  function MlopsMqttBroker(this: BrokerNode, config: BrokerDef) {
    RED.nodes.createNode(this, config);
    const url = String(config.url ?? '').trim();
    this.describe = (info: BrokerStateInfo) => (info.reason ? text(info.reason) : tx.t(`state.${info.state}`));
    try {
      const keepalive = config.keepalive === undefined || config.keepalive === '' ? 60 : Number(config.keepalive);
      this.connection = new MqttBroker({
        url,
        clientId: String(config.clientId ?? '').trim() || undefined,
        nodeId: this.id,
        caFile: String(config.caFile ?? '').trim() || undefined,
        keepalive,
        cleanSession: !(config.cleanSession === false || config.cleanSession === 'false'),
        username: this.credentials?.username || undefined,
        password: this.credentials?.password || undefined,
        reconnectPeriodMs: Number(settings.mqttReconnectTime) > 0 ? Number(settings.mqttReconnectTime) : 5000,
      });
      const connection = this.connection;
      // One log line per state change, not per attempt: a broker down for hours does not flood the log.
      connection.on('state', (info: BrokerStateInfo) => {
        if (info.state === 'error') this.warn(`${url}: ${this.describe!(info)}`);
        else if (info.state === 'connected') this.log(tx.t('log.connected', { url, clientId: connection.clientId }));
      });
      connection.on('handlerError', (e: unknown) => this.error(text(e)));
    } catch (e) {
      this.connection = undefined;
      this.configError = text(e);
      this.error(this.configError);
    }

    this.on('close', (_removed: boolean, done: () => void) => {
      const c = this.connection;
      if (!c) return done();
      c.close().then(done, done);
    });
  }

  RED.nodes.registerType('mlops-mqtt-broker', MlopsMqttBroker as never, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
