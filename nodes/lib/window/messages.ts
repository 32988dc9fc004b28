/**
 * The feature window's output messages: one FeaturesMessage per window, or packed
 * FeaturesBatchMessages; the input's other properties (topic, _msgid, anything a flow set) carry over.
 */
import type { FeaturesBatchMessage, FeaturesMessage } from '../messages';
import type { FeatureBatch, FeatureOutput } from './feature-window';

/** Input properties that describe the samples and do not carry over to the features. */
const SAMPLE_PROPS = new Set(['payload', 'timestamps', 'serverTimestamps', 'quality']);

function carried(msg: object): Record<string, unknown> {
  const base: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) if (!SAMPLE_PROPS.has(k)) base[k] = v;
  return base;
}

/** One message per window; per-channel windows have the channel as topic. */
export function featureMessages(msg: object, outs: FeatureOutput[]): Array<FeaturesMessage & Record<string, unknown>> {
  const base = carried(msg);
  return outs.map((o) => {
    const m = { ...base, payload: o.payload, features: { names: o.names, window: o.window } } satisfies FeaturesMessage;
    return o.channel !== undefined ? { ...m, topic: o.channel } : m;
  });
}

/** Batch output: one message in all (combined) or per channel, rows packed. */
export function batchMessages(msg: object, batches: FeatureBatch[]): Array<FeaturesBatchMessage & Record<string, unknown>> {
  const base = carried(msg);
  return batches.map((b) => {
    const m = { ...base, payload: b.payload, features: { names: b.names, shape: b.shape, window: b.window, windows: b.windows } } satisfies FeaturesBatchMessage;
    return b.channel !== undefined ? { ...m, topic: b.channel } : m;
  });
}
