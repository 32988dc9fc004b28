/**
 * drift detect's controller under hostile input (issue 9): a message naming more features than the
 * node keeps is refused before it costs memory; a feature named "__proto__" stays a feature.
 */
import { expect } from 'chai';
import { DriftController, MAX_FEATURES, parseDriftConfig } from '../../nodes/lib/drift/controller';

describe('drift controller, hostile input', () => {
  it('refuses a vector wider than max features, saying the bound, and keeps working', () => {
    const c = new DriftController(parseDriftConfig({ baselineSource: 'learn', learnSize: 3 }));
    const names = Array.from({ length: MAX_FEATURES + 1 }, (_, i) => `f${i}`);
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 40; i++) {
      expect(() => c.input({ payload: new Float64Array(names.length), features: { names } })).to.throw(
        `expected at most ${MAX_FEATURES} features per vector (Features, "at most" in the node; each is kept for the whole window), got ${MAX_FEATURES + 1}`,
      );
    }
    // nothing was kept: the 40 refused vectors hold no memory (before: +1 GB for 40 x 100 000)
    expect(process.memoryUsage().rss - rss0).to.be.below(200e6);
    expect(c.phase()).to.deep.equal({ kind: 'learning', count: 0, size: 3 });
    for (let i = 0; i < 3; i++) c.input({ payload: [i, 2 * i], features: { names: ['a', 'b'] } });
    expect(c.phase().kind).to.equal('running');
  });

  it('max features is configurable and checked', () => {
    const c = new DriftController(parseDriftConfig({ baselineSource: 'learn', learnSize: 3, maxFeatures: 2 }));
    expect(() => c.input({ payload: [1, 2, 3], features: { names: ['a', 'b', 'c'] } })).to.throw(/expected at most 2 features per vector/);
    expect(() => parseDriftConfig({ maxFeatures: 0 })).to.throw('expected max features an integer from 1 to 1000000, got 0');
    expect(() => parseDriftConfig({ maxFeatures: 'many' })).to.throw('expected max features an integer from 1 to 1000000, got many');
  });

  it('a feature named "__proto__" round-trips through msg.baseline = "get" as an own key', () => {
    const c = new DriftController(parseDriftConfig({ baselineSource: 'learn', learnSize: 5 }));
    c.input({ baseline: JSON.parse('{"features":{"__proto__":[1,2,3,4,5],"b":[1,2,3,4,5]}}') });
    const out = c.input({ baseline: 'get' });
    expect(out.kind).to.equal('get');
    const features = (out as { baseline: { features: Record<string, unknown> } }).baseline.features;
    expect(Object.keys(features)).to.deep.equal(['__proto__', 'b']);
    expect(Object.getPrototypeOf(features)).to.equal(Object.prototype);
    expect(({} as Record<string, unknown>).values).to.equal(undefined); // Object.prototype untouched
    // learned too
    const l = new DriftController(parseDriftConfig({ baselineSource: 'learn', learnSize: 3 }));
    for (let i = 0; i < 3; i++) l.input({ payload: [i, i + 1], features: { names: ['__proto__', 'b'] } });
    expect(l.baseline!.features.map((f) => f.name)).to.deep.equal(['__proto__', 'b']);
  });
});
