/**
 * Streaming drift detectors that reproduce River's (https://github.com/online-ml/river, river/drift/)
 * detection points: ADWIN, Page-Hinkley, KSWIN and DDM, one small class a file on the protocol of
 * ./base (River's DriftDetector), no dependencies. This file holds the one list of detector kinds
 * and createDetector.
 *
 * Checked against the indices River's doctests print on the same streams
 * (test/unit/drift-streaming.test.ts, fixture built by scripts/fixtures/river_streams.py).
 * `update` allocates nothing (but for the small result object of KSWIN's two-sample test, ../ks).
 */
import { type DetectorClass, DetectorParamError, show, type StreamingDetector } from './base';
import { ADWIN } from './adwin';
import { DDM } from './ddm';
import { KSWIN } from './kswin';
import { PageHinkley } from './page-hinkley';

export { Detector, DetectorParamError, type DetectorState, type ParamSpec, type StreamingDetector } from './base';
export { ADWIN, type ADWINOptions } from './adwin';
export { PageHinkley, type PageHinkleyMode, type PageHinkleyOptions } from './page-hinkley';
export { KSWIN, type KSWINOptions } from './kswin';
export { DDM, type DDMOptions } from './ddm';

/** The detector kinds (the `detector` setting of drift detect), in the order the editor lists them. */
export const DETECTOR_KINDS = Object.freeze(['adwin', 'page-hinkley', 'kswin', 'ddm'] as const);
export type DetectorKind = (typeof DETECTOR_KINDS)[number];

/** The class of each kind (the type asks for every kind, and only those). */
const CLASSES: Record<DetectorKind, DetectorClass> = { adwin: ADWIN, 'page-hinkley': PageHinkley, kswin: KSWIN, ddm: DDM };

function snake(key: string): string {
  return key
    .trim()
    .replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
    .replace(/-/g, '_');
}

/**
 * A detector of `kind` with River's defaults, overridden by `params` (River's names, e.g.
 * { delta: 0.01, grace_period: 30 }, or camelCase; numbers may come as numeric strings, as from
 * a form). Throws DetectorParamError on an unknown kind, an unknown parameter or a bad value.
 */
export function createDetector(kind: DetectorKind, params: Record<string, number | string> = {}): StreamingDetector {
  if (!DETECTOR_KINDS.includes(kind)) {
    throw new DetectorParamError('kind', { expected: DETECTOR_KINDS.join(' | '), got: show(kind) }, `expected detector ${DETECTOR_KINDS.join(' | ')}, got ${show(kind)}`);
  }
  const cls = CLASSES[kind];
  const specs = cls.params;
  const opts: Record<string, number | string> = {};
  for (const [key, raw] of Object.entries(params)) {
    if (raw === undefined) continue;
    const spec = specs.find((s) => s.name === snake(key));
    if (!spec) {
      throw new DetectorParamError(
        'unknownParam',
        { detector: cls.label, name: key, expected: specs.map((s) => s.name).join(', ') },
        `unknown ${cls.label} parameter '${key}' (expected one of ${specs.map((s) => s.name).join(', ')})`,
      );
    }
    if (spec.text) {
      opts[spec.option] = typeof raw === 'string' ? raw.trim() : (raw as unknown as string);
      continue;
    }
    let v: number;
    if (typeof raw === 'number') v = raw;
    else if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) v = Number(raw);
    else {
      throw new DetectorParamError('param', { detector: cls.label, name: spec.name, expected: 'a number', got: show(raw) }, `expected ${cls.label} ${spec.name} to be a number, got ${show(raw)}`);
    }
    opts[spec.option] = v;
  }
  return new cls(opts);
}
