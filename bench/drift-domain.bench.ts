/**
 * The cost of the out-of-domain check and the dependence-aware KS (issue 10):
 *   npx tsx bench/drift-domain.bench.ts        (npm run bench:drift-domain)
 * At 40 and 200 features, vectors/s of the window monitor (window 30, test every 10, KS) against a
 * model's reference: with the training domain (out of domain per vector + effective-count KS)
 * beside the same monitor on the same reference without a domain and with the vectors taken as
 * independent (the KS monitor as it was), in the same run, as a ratio; and the domain check alone
 * per vector. Median of 3 timed runs after a warm-up; no assertions (the machine is shared).
 */
import { baselineFromModel } from '../nodes/lib/drift/baseline';
import { domainCheck, domainFromData } from '../nodes/lib/drift/domain';
import { WindowMonitor } from '../nodes/lib/drift/monitor';
import { referenceFromData } from '../nodes/lib/model/export';
import type { ModelMetadata } from '../nodes/lib/model-metadata';
import { gaussian } from '../nodes/lib/random';

function rows(k: number, n: number, seed: number): number[][] {
  const g = gaussian(seed);
  return Array.from({ length: n }, () => {
    const common = g();
    return Array.from({ length: k }, (_, j) => (j % 2 ? 0.8 * common + 0.6 * g() : g()));
  });
}

function median3(f: () => number): number {
  f();
  const t = [f(), f(), f()].sort((a, b) => a - b);
  return t[1];
}

for (const k of [40, 200]) {
  const names = Array.from({ length: k }, (_, j) => `f${j}`);
  const train = rows(k, 5000, 1);
  const plain: ModelMetadata = { name: 'm', version: '1', kind: 'regressor', features: names, reference: referenceFromData(names, train) };
  const withDomain: ModelMetadata = { ...plain, domain: domainFromData(names, train) };
  const stream = rows(k, 3000, 2).flat();
  const n = stream.length / k;
  // one vector per call, as messages arrive
  const vecs = Array.from({ length: n }, (_, i) => stream.slice(i * k, i * k + k));
  const rateOf = (md: ModelMetadata, dependence: 'auto' | 'independent') =>
    median3(() => {
      const mon = new WindowMonitor({ windowSize: 30, evaluateEvery: 10, dependence }, baselineFromModel(md)!, 0);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) mon.ingest(vecs[i], 1, k, names, i);
      return n / (Number(process.hrtime.bigint() - t0) / 1e9);
    });
  const before = rateOf(plain, 'independent');
  const now = rateOf(withDomain, 'auto');
  const check = domainCheck(withDomain.domain)!;
  const alone = median3(() => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) check.check(vecs[i]);
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  });
  console.log(`${k} features: monitor with domain + effective KS ${now.toFixed(0)} vectors/s, baseline (KS monitor, no domain, independent) ${before.toFixed(0)} vectors/s, ratio ${(now / before).toFixed(2)}x; domain check alone ${alone.toFixed(0)} vectors/s (${(1e6 / alone).toFixed(1)} µs per vector)`);
}
