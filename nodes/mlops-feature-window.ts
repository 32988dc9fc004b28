/**
 * feature window: Node-RED glue. The behaviour lives in lib/feature-window.ts.
 */
import type { NodeAPI, Node, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import {
  FeatureWindow, FeatureWindowConfig, FeatureWindowError, FeatureOutput, RateLimiter,
  RawFeatureWindowConfig, parseConfig,
} from './lib/feature-window';

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

    const build = (msg: NodeMessageInFlow, outs: FeatureOutput[]): NodeMessage[] => {
      const base: Record<string, unknown> = {};
      for (const k of Object.keys(msg)) if (!SAMPLE_PROPS.includes(k)) base[k] = (msg as Record<string, unknown>)[k];
      if (!batchOutput) {
        return outs.map((o) => {
          const m: Record<string, unknown> = { ...base, payload: o.payload, features: { names: o.names, window: o.window } };
          if (o.channel !== undefined) m.topic = o.channel;
          return m as NodeMessage;
        });
      }
      // batch: one message per channel (per-channel mode) or one in all (combined)
      const groups = new Map<string, FeatureOutput[]>();
      for (const o of outs) {
        const key = o.channel ?? '';
        const g = groups.get(key);
        if (g) g.push(o); else groups.set(key, [o]);
      }
      const res: NodeMessage[] = [];
      for (const [key, g] of groups) {
        const first = g[0];
        const last = g[g.length - 1];
        const m: Record<string, unknown> = {
          ...base,
          payload: g.map((o) => o.payload),
          features: {
            names: last.names,
            window: { start: first.window.start, end: last.window.end, count: last.window.count },
            windows: g.map((o) => o.window),
          },
        };
        if (first.channel !== undefined) m.topic = key;
        res.push(m as NodeMessage);
      }
      return res;
    };

    node.on('input', (msg, send, done) => {
      if (!fw) {
        done(new Error(t('errors.config', { reason: configError })));
        return;
      }
      try {
        const m = msg as NodeMessageInFlow & { timestamps?: unknown; quality?: unknown };
        const outs = fw.ingest(m.payload, { topic: m.topic, timestamps: m.timestamps, quality: m.quality, now: Date.now() });
        if (outs.length > 0) {
          const msgs = build(msg, outs);
          send(msgs.length === 1 ? msgs[0] : [msgs]);
        }
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
