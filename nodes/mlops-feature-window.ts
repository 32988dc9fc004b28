/**
 * feature window: Node-RED glue. The behaviour lives in lib/window/ (feature-window.ts: the
 * windows of every channel; messages.ts: the output messages).
 */
import type { NodeAPI, Node, NodeDef, NodeMessageInFlow } from 'node-red';
import { texts } from './lib/node-red/i18n';
import { refuseInput, settle } from './lib/node-red/node';
import { ThrottledStatus } from './lib/node-red/status';
import { FeatureWindow, RateLimiter, type RawFeatureWindowConfig, parseConfig } from './lib/window/feature-window';
import { batchMessages, featureMessages } from './lib/window/messages';

const NS = 'mlops-feature-window';
const WARN_INTERVAL_MS = 10000;

export = function (RED: NodeAPI) {
  const tx = texts(RED, NS);
  const { t } = tx;

  function FeatureWindowNode(this: Node, def: NodeDef & RawFeatureWindowConfig & { batchOutput?: boolean }) {
    RED.nodes.createNode(this, def);
    const node = this;
    let fw: FeatureWindow;
    try {
      fw = new FeatureWindow(parseConfig(def));
    } catch (e) {
      refuseInput(node, tx, e);
      return;
    }
    const batchOutput = def.batchOutput === true;

    const limiter = new RateLimiter(WARN_INTERVAL_MS);
    fw.onIssue = (kind, channel) => {
      // a clock jump is warned once per channel (each starts afresh); the rest once per kind and interval
      const n = limiter.hit(kind === 'clockJump' ? `${kind}:${channel}` : kind, Date.now());
      if (n > 0) node.warn(t(`warn.${kind}`, { channel, count: n, policy: t(`policy.${fw.config.badSample}`) }));
    };
    const status = new ThrottledStatus(node, () => ({ fill: 'green', shape: 'dot', text: t('status.running', { channels: fw.channelCount, windows: fw.outputs }) }));
    status.set({ fill: 'grey', shape: 'ring', text: t('status.waiting') });

    // an error for a message Node-RED could not copy: to the Catch nodes with a fresh message
    const reportError = (text: string) => node.error(text, {});
    node.on('input', (msg, send, done) =>
      settle(tx, done, () => {
        const m = msg as NodeMessageInFlow & { timestamps?: unknown; quality?: unknown };
        const opts = { topic: m.topic, timestamps: m.timestamps, quality: m.quality, now: Date.now() };
        const out = batchOutput ? batchMessages(msg, fw.ingestBatch(m.payload, opts)) : featureMessages(msg, fw.ingest(m.payload, opts));
        status.update();
        if (out.length > 0) send((out.length === 1 ? out[0] : [out]) as never);
      }, reportError),
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close(true);
      fw.reset();
      fw.onIssue = null;
      done();
    });
  }

  RED.nodes.registerType(NS, FeatureWindowNode as never);
};
