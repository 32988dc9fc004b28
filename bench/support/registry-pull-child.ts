/**
 * One measured pull for bench/registry-pull.bench.ts, in a process of its own so that its peak
 * RSS is the pull's alone:
 *   node --expose-gc -r tsx/cjs bench/support/registry-pull-child.ts '<json Job>'
 * Modes:
 *   pull      ModelPuller.pull end to end (tags, version selection, manifest, cosign signature,
 *             the model layer streamed into a fresh ModelStore with its sha256, then the file read
 *             as an ONNX model for its metadata and added to the store's index)
 *   transfer  the steps that move and verify the bytes only: DistributionClient.manifest,
 *             verifyManifestSignature, fetchModel into a fresh ModelStore (sha256 streamed)
 * Everything is imported and the store opened before the clock starts; the peak RSS is reset
 * (/proc/self/clear_refs "5") right before the pull, so VmHWM afterwards is the pull's peak.
 * Prints one JSON line (Result) on stdout.
 */
import * as fs from 'fs';
import { performance } from 'perf_hooks';
import { fetchModel } from '../../nodes/lib/registry/artifact';
import { verifyManifestSignature } from '../../nodes/lib/registry/cosign';
import { DistributionClient } from '../../nodes/lib/registry/distribution';
import { ModelPuller } from '../../nodes/lib/registry/pull';
import { ModelStore } from '../../nodes/lib/registry/store';

export interface Job {
  mode: 'pull' | 'transfer';
  url: string;
  repository: string;
  tag: string;
  publicKey: string;
  storeDir: string;
}

export interface Result {
  ms: number;
  bytes: number;
  digest: string;
  /** kB, from /proc/self/status. */
  rssBefore: number;
  hwmBefore: number;
  hwmAfter: number;
  rssAfter: number;
  /** Whether the peak could be reset right before the pull (else hwmBefore may hold start-up's peak). */
  peakReset: boolean;
  timings?: Record<string, number>;
}

function status(): { rss: number; hwm: number } {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as Job;
  const store = await ModelStore.open(job.storeDir);
  const gc = (global as { gc?: () => void }).gc;
  gc?.();
  let peakReset = true;
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    peakReset = false;
  }
  const before = status();
  const t0 = performance.now();
  let out: { bytes: number; digest: string; timings?: Record<string, number> };
  if (job.mode === 'pull') {
    const puller = new ModelPuller({ kind: 'oci', location: job.url, publicKey: job.publicKey }, job.repository, store);
    try {
      const r = await puller.pull(job.tag);
      if (!r.registry.signature.verified) throw new Error('the pull did not verify the signature');
      out = { bytes: fs.statSync(r.model.path).size, digest: r.model.digest, timings: r.registry.timings };
    } finally {
      puller.close();
    }
  } else {
    const client = new DistributionClient({ url: job.url });
    try {
      const m = await client.manifest(job.repository, job.tag);
      const s = await verifyManifestSignature(client, job.repository, m.digest, job.publicKey);
      if (!s.verified) throw new Error('signature not verified');
      const got = await fetchModel(client, job.repository, m.digest, store);
      out = { bytes: got.size, digest: got.digest };
    } finally {
      client.close();
    }
  }
  const ms = performance.now() - t0;
  const after = status();
  const r: Result = { ms, ...out, rssBefore: before.rss, hwmBefore: before.hwm, hwmAfter: after.hwm, rssAfter: after.rss, peakReset };
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error((e as Error)?.stack ?? String(e));
    process.exit(1);
  },
);
