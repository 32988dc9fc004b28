/**
 * feature window: Node-RED glue. The behaviour lives in lib/window/feature-window.ts.
 */
import type { NodeAPI, Node, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import {
  FeatureBatch, FeatureWindow, FeatureWindowConfig, FeatureWindowError, FeatureOutput, RateLimiter,
  RawFeatureWindowConfig, parseConfig,
} from './lib/window/feature-window';

interface FeatureWindowNodeDef extends NodeDef, RawFeatureWindowConfig {
  batchOutput?: boolean;
}

/** Input properties that describe the samples and do not carry over to the features. */
const SAMPLE_PROPS = ['payload', 'timestamps', 'serverTimestamps', 'quality'];
const STATUS_INTERVAL_MS = 500;
const WARN_INTERVAL_MS = 10000;

export = function (RED: NodeAPI) {
  function FeatureWindowNode(this: Node, def: FeatureWindowNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = (key: string, params?: Record<string, unknown>) => RED._(`mlops-feature-window.${key}`, params as never);
    const errorText = (e: FeatureWindowError) => t(`errors.${e.code}`, e.params);

    let fw: FeatureWindow | null = null;
    let configError: string | null = null;
    try {
      const cfg: FeatureWindowConfig = parseConfig(def);
      fw = new FeatureWindow(cfg);
    } catch (e) {
      configError = e instanceof FeatureWindowError ? errorText(e) : String(e);
      node.error(t('errors.config', { reason: configError }));
      node.status({ fill: 'red', shape: 'ring', text: t('status.badConfig') });
    }
    const batchOutput = def.batchOutput === true;

    const limiter = new RateLimiter(WARN_INTERVAL_MS);
    if (fw) {
      fw.onIssue = (kind, channel) => {
        const n = limiter.hit(kind, Date.now());
        if (n > 0) node.warn(t(`warn.${kind}`, { channel, count: n, policy: fw ? t(`policy.${fw.config.badSample}`) : '' }));
      };
      node.status({ fill: 'grey', shape: 'ring', text: t('status.waiting') });
    }

    let lastStatus = 0;
    let statusTimer: NodeJS.Timeout | null = null;
    const showStatus = () => {
      statusTimer = null;
      lastStatus = Date.now();
      if (fw) node.status({ fill: 'green', shape: 'dot', text: t('status.running', { channels: fw.channelCount, windows: fw.outputs }) });
    };
    const updateStatus = () => {
      if (statusTimer) return;
      const wait = lastStatus + STATUS_INTERVAL_MS - Date.now();
      if (wait <= 0) showStatus();
      else statusTimer = setTimeout(showStatus, wait);
    };

    /** The input's properties that carry over to the outputs. */
    const carried = (msg: NodeMessageInFlow): Record<string, unknown> => {
      const base: Record<string, unknown> = {};
      for (const k of Object.keys(msg)) if (!SAMPLE_PROPS.includes(k)) base[k] = (msg as Record<string, unknown>)[k];
      return base;
    };

    /** One message per window (FeaturesMessage). */
    const build = (msg: NodeMessageInFlow, outs: FeatureOutput[]): NodeMessage[] => {
      const base = carried(msg);
      return outs.map((o) => {
        const m: Record<string, unknown> = { ...base, payload: o.payload, features: { names: o.names, window: o.window } };
        if (o.channel !== undefined) m.topic = o.channel;
        return m as NodeMessage;
      });
    };

    /** Batch output: one message in all (combined) or per channel, rows packed (FeaturesBatchMessage). */
    const buildBatch = (msg: NodeMessageInFlow, batches: FeatureBatch[]): NodeMessage[] => {
      const base = carried(msg);
      return batches.map((b) => {
        const m: Record<string, unknown> = {
          ...base,
          payload: b.payload,
          features: { names: b.names, shape: b.shape, window: b.window, windows: b.windows },
        };
        if (b.channel !== undefined) m.topic = b.channel;
        return m as NodeMessage;
      });
    };

    node.on('input', (msg, send, done) => {
      if (!fw) {
        done(new Error(t('errors.config', { reason: configError })));
        return;
      }
      try {
        const m = msg as NodeMessageInFlow & { timestamps?: unknown; quality?: unknown };
        const opts = { topic: m.topic, timestamps: m.timestamps, quality: m.quality, now: Date.now() };
        const msgs = batchOutput ? buildBatch(msg, fw.ingestBatch(m.payload, opts)) : build(msg, fw.ingest(m.payload, opts));
        if (msgs.length > 0) send(msgs.length === 1 ? msgs[0] : [msgs]);
        updateStatus();
        done();
      } catch (e) {
        if (e instanceof FeatureWindowError) done(new Error(errorText(e)));
        else done(e instanceof Error ? e : new Error(String(e)));
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = null;
      if (fw) { fw.reset(); fw.onIssue = null; }
      fw = null;
      node.status({});
      done();
    });
  }

  RED.nodes.registerType('mlops-feature-window', FeatureWindowNode);
};
