/**
 * opcua read: channels of an OPC UA endpoint as samples messages, from a subscription
 * (one message per publish cycle) or read once per input message.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import type { EndpointConfigNode, StateInfo } from './lib/opcua/connection';
import { ChannelSubscription, DEFAULT_SETTINGS, parseChannels, readOnce, validateSettings, type ChannelSpec, type SubscriptionSettings } from './lib/opcua/reader';

interface ReadDef extends NodeDef {
  endpoint: string;
  channels: unknown;
  mode: 'subscribe' | 'read';
  samplingInterval: string | number;
  publishingInterval: string | number;
  queueSize: string | number;
  deadband: string | number;
  topic?: string;
}

function num(v: unknown, fallback: number): number {
  return v === undefined || v === null || v === '' ? fallback : Number(v);
}

export = function (RED: NodeAPI) {
  function MlopsOpcuaRead(this: Node, config: ReadDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const endpoint = RED.nodes.getNode(config.endpoint) as unknown as (Node & EndpointConfigNode) | null;
    const connection = endpoint?.connection;
    const t = (key: string, vars?: Record<string, string | number>) => RED._(`mlops-opcua-read.${key}`, vars);

    let channels: ChannelSpec[] = [];
    let settings: SubscriptionSettings = DEFAULT_SETTINGS;
    let configError: string | undefined;
    try {
      channels = parseChannels(config.channels);
      settings = {
        samplingIntervalMs: num(config.samplingInterval, DEFAULT_SETTINGS.samplingIntervalMs),
        publishingIntervalMs: num(config.publishingInterval, DEFAULT_SETTINGS.publishingIntervalMs),
        queueSize: num(config.queueSize, DEFAULT_SETTINGS.queueSize),
        deadband: num(config.deadband, DEFAULT_SETTINGS.deadband),
      };
      const problems = validateSettings(settings);
      if (problems.length) throw new Error(problems.join('; '));
      if (!endpoint) throw new Error(t('errors.noEndpoint'));
      if (!connection) throw new Error(t('errors.badEndpoint', { error: endpoint.configError ?? '' }));
    } catch (e) {
      configError = (e as Error).message;
    }
    if (configError || !connection) {
      node.error(configError);
      node.status({ fill: 'red', shape: 'ring', text: t('status.config') });
      node.on('input', (_msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => done(new Error(configError)));
      return;
    }

    const subscribe = config.mode !== 'read';
    let problem: string | undefined;
    let active = 0;

    const showStatus = (info: StateInfo = connection.state) => {
      let s: NodeStatus;
      switch (info.state) {
        case 'connected':
          s = problem
            ? { fill: 'yellow', shape: 'dot', text: t('status.partial', { active, total: channels.length }) }
            : { fill: 'green', shape: 'dot', text: subscribe ? t('status.subscribed', { count: channels.length }) : t('status.connected') };
          break;
        case 'connecting':
          s = { fill: 'yellow', shape: 'ring', text: t('status.connecting') };
          break;
        case 'reconnecting':
          s = { fill: 'yellow', shape: 'ring', text: t('status.reconnecting', { attempt: info.attempt ?? 0, detail: (info.detail ?? '').slice(0, 50) }) };
          break;
        case 'untrusted':
          s = { fill: 'red', shape: 'ring', text: t('status.untrusted') };
          break;
        case 'denied':
          s = { fill: 'red', shape: 'ring', text: t('status.denied') };
          break;
        default:
          s = { fill: 'grey', shape: 'ring', text: t('status.disconnected') };
      }
      node.status(s);
    };

    const onState = (info: StateInfo) => showStatus(info);
    connection.on('state', onState);

    const topic = config.topic || undefined;
    const subscription = subscribe
      ? new ChannelSubscription(connection, channels, settings, {
          samples: (m) => node.send((topic ? { ...m, topic } : m) as unknown as NodeMessageInFlow),
          problem: (text) => {
            problem = text;
            node.warn(text);
            showStatus();
          },
          active: (count) => {
            active = count;
            if (count === channels.length) problem = undefined;
            showStatus();
          },
        })
      : undefined;

    connection.register(node);
    subscription?.start();
    showStatus();

    node.on('input', (msg: NodeMessageInFlow, send: (m: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      const session = connection.session;
      if (!session) {
        done(new Error(t('errors.notConnected', { state: connection.state.state, detail: connection.state.detail ?? '' })));
        return;
      }
      readOnce(session, channels).then(
        (samples) => {
          const out = msg as NodeMessageInFlow & Record<string, unknown>;
          Object.assign(out, samples);
          if (topic) out.topic = topic;
          send(out);
          done();
        },
        (err: Error) => done(new Error(t('errors.readFailed', { error: err.message }))),
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      connection.off('state', onState);
      const stopping = subscription ? subscription.stop() : Promise.resolve();
      stopping
        .then(() => connection.deregister(node))
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType('mlops-opcua-read', MlopsOpcuaRead as never);
};
