/**
 * opcua read: channels of an OPC UA endpoint as samples messages, from a subscription
 * (one message per publish cycle) or read once per input message.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { CodedError } from './lib/node-red/errors';
import { texts } from './lib/node-red/i18n';
import { refuseInput, settle } from './lib/node-red/node';
import { ThrottledStatus, type StatusShape } from './lib/node-red/status';
import type { EndpointConfigNode, StateInfo } from './lib/opcua/connection';
import { firstLine, readError } from './lib/opcua/errors';
import { ChannelSubscription, parseChannels, queueLoss, readOnce, settingsFromConfig, type ChannelSpec, type SubscriptionSettings } from './lib/opcua/reader';

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

type EndpointNode = Node & EndpointConfigNode;

export = function (RED: NodeAPI) {
  const tx = texts(RED, 'mlops-opcua-read');

  function MlopsOpcuaRead(this: Node, config: ReadDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const endpoint = RED.nodes.getNode(config.endpoint) as unknown as EndpointNode | null;

    let channels: ChannelSpec[];
    let settings: SubscriptionSettings;
    try {
      channels = parseChannels(config.channels);
      settings = settingsFromConfig(config);
      if (!endpoint) throw readError('noEndpoint', {}, "no OPC UA endpoint is configured: choose or add one in the node's dialog");
      if (!endpoint.connection) throw readError('badEndpoint', { error: endpoint.configError ?? '' }, `the OPC UA endpoint configuration is invalid: ${endpoint.configError ?? ''}`);
    } catch (e) {
      refuseInput(node, tx, e);
      return;
    }
    const connection = endpoint.connection;
    const describe = (info: StateInfo) => endpoint.describe?.(info) ?? info.detail ?? '';

    const subscribe = config.mode !== 'read';
    let problem: CodedError | undefined;
    let active = 0;
    let lost = 0;
    let lostWarnedAt = 0;

    const render = (): StatusShape => {
      const info = connection.state;
      switch (info.state) {
        case 'connected':
          if (subscription && !subscription.ready && !problem) return { fill: 'yellow', shape: 'dot', text: tx.t('status.subscribing') };
          if (lost) return { fill: 'yellow', shape: 'dot', text: tx.t('status.lost', { lost }) };
          return problem
            ? { fill: 'yellow', shape: 'dot', text: tx.t('status.partial', { active, total: channels.length }) }
            : { fill: 'green', shape: 'dot', text: subscribe ? tx.t('status.subscribed', { count: channels.length }) : tx.t('status.connected') };
        case 'connecting':
          return { fill: 'yellow', shape: 'ring', text: tx.t('status.connecting') };
        case 'reconnecting':
          return { fill: 'yellow', shape: 'ring', text: tx.t('status.reconnecting', { attempt: info.attempt ?? 0, detail: describe(info) }) };
        case 'untrusted':
          return { fill: 'red', shape: 'ring', text: tx.t('status.untrusted') };
        case 'refused':
          return { fill: 'red', shape: 'ring', text: tx.t('status.refused') };
        case 'denied':
          return { fill: 'red', shape: 'ring', text: tx.t('status.denied') };
        default:
          return { fill: 'grey', shape: 'ring', text: tx.t('status.disconnected') };
      }
    };
    // Status texts are cut to fit under the node; the full reason is in the endpoint's log.
    const status = new ThrottledStatus(node, render, 200);
    const onState = () => status.update(true);
    connection.on('state', onState);

    const topic = config.topic || undefined;
    const subscription = subscribe
      ? new ChannelSubscription(connection, channels, settings, {
          samples: (m) => node.send((topic ? { ...m, topic } : m) as unknown as NodeMessageInFlow),
          problem: (e) => {
            problem = e;
            node.warn(tx.errorText(e));
            status.update(true);
          },
          revised: (r) => {
            // once per subscription the server creates, and only when it changed something
            const list = r.changed.map((c) => tx.t(`revised.${c.setting}`, { requested: c.requested, revised: c.revised })).join(', ');
            node.warn(tx.t('revised.message', { list }));
          },
          overflow: (_n, total) => {
            lost = total;
            // the first loss at once, then at most one warning a minute with the running total
            if (Date.now() - lostWarnedAt >= 60000) {
              lostWarnedAt = Date.now();
              node.warn(tx.t('errors.overflow', { lost: total }));
            }
            status.update();
          },
          active: (count) => {
            active = count;
            if (count === channels.length) problem = undefined;
            status.update(true);
          },
        })
      : undefined;

    // settings that make the server drop changes (a 10 Hz signal published every 500 ms through a queue of 1 keeps one in five)
    const loss = subscribe ? queueLoss(settings) : undefined;
    if (loss) node.warn(tx.t('errors.queueLoss', { ...loss, sampling: settings.samplingIntervalMs, publishing: settings.publishingIntervalMs, queue: settings.queueSize }));
    connection.register(node);
    subscription?.start();
    status.update(true);

    node.on('input', (msg: NodeMessageInFlow, send: (m: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      settle(tx, done, async () => {
        const session = connection.session;
        if (!session) {
          const { state } = connection.state;
          const detail = describe(connection.state);
          throw readError('notConnected', { state: detail ? `${state}: ${detail}` : state }, `not connected to the OPC UA server (${detail ? `${state}: ${detail}` : state}): the message was not read; expected a connected endpoint (its status says why it is not)`);
        }
        const samples = await readOnce(session, channels).catch((e: unknown) => {
          throw readError('readFailed', { error: firstLine(e) }, `reading from the OPC UA server failed: ${firstLine(e)}`);
        });
        const out = Object.assign(msg, samples) as NodeMessageInFlow & Record<string, unknown>;
        if (topic) out.topic = topic;
        send(out);
      }, (text) => node.error(text, {})); // a message Node-RED cannot copy: the error with a fresh one
    });

    node.on('close', (removed: boolean, done: () => void) => {
      connection.off('state', onState);
      status.close(removed);
      const stopping = subscription ? subscription.stop() : Promise.resolve();
      stopping
        .then(() => connection.deregister(node))
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType('mlops-opcua-read', MlopsOpcuaRead as never);
};
