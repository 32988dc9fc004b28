/**
 * Registry pull of a 50 MB and a 500 MB model, verified (issue 11; the design notes' target: at
 * most 1.2x the time of `curl` fetching the same blob, RSS growth at most 50 MB at 500 MB, the
 * digest streamed):
 *   npx tsx bench/registry-pull.bench.ts        (npm run bench:registry)
 * Debian's docker-registry (/usr/bin/docker-registry, test/support/oci-registry.ts) on 127.0.0.1,
 * its storage in a temporary folder. Each model is a real ONNX file (test/support/onnx-models.ts
 * sumModel, its size made up by a large initializer) pushed as a ModelPack artifact
 * (pushModelPack) and signed in cosign's format (signManifest, a fresh P-256 key).
 *
 * In the same run, in turn (one warm-up round not counted, then BENCH_RUNS rounds, default 5):
 *   curl      `curl -sS --fail -o <file>` GET /v2/<name>/blobs/<digest> of the model layer, to a
 *             file in the same temporary folder: wall time from spawn to exit
 *   curl+fsync  the same, then `sync <file>`: for information only (the store fsyncs what it
 *             writes, curl does not); the target's baseline is plain curl
 *   transfer  DistributionClient.manifest + verifyManifestSignature + fetchModel into a fresh
 *             ModelStore (sha256 streamed, temp file, fsync, rename): the bytes moved and verified
 *   pull      ModelPuller.pull end to end, what `registry pull` runs: tags, version, manifest,
 *             signature, the layer into a fresh store, then the file read as ONNX for its metadata
 * Ours run in a child process (bench/support/registry-pull-child.ts): time measured inside it
 * from the first request to the verified model (node's start-up and module loading excluded),
 * peak RSS (VmHWM, reset right before the pull) minus RSS before the pull. Between runs the
 * outputs are deleted and `sync` runs (not timed), so no run pays for the previous one's writeback.
 * curl writes without fsync; the store fsyncs the blob and its folder (part of what is measured).
 *
 * A benchmark, not a test: the machine is shared, so each run is printed and the ratio given as
 * the median of the per-round ratios with their range. Exit status 1 when a target is missed or
 * a run fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { pushModelPack } from '../nodes/lib/registry/artifact';
import { signManifest } from '../nodes/lib/registry/cosign';
import { DistributionClient } from '../nodes/lib/registry/distribution';
import { OciRegistry, REGISTRY_BIN } from '../test/support/oci-registry';
import { sumModel } from '../test/support/onnx-models';
import type { Job, Result } from './support/registry-pull-child';

const TARGET_RATIO = 1.2;
const TARGET_RSS_MB = 50;
const SIZES_MB = (process.env.BENCH_SIZES_MB ?? '50,500').split(',').map(Number);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const CHILD = path.join(__dirname, 'support', 'registry-pull-child.ts');
const MiB = 1048576;

type Mode = 'curl' | 'curl+fsync' | 'transfer' | 'pull';
const MODES: Mode[] = ['curl', 'curl+fsync', 'transfer', 'pull'];

interface Pushed {
  sizeMb: number;
  repository: string;
  tag: string;
  layerDigest: string;
  layerBytes: number;
}

interface Run {
  ms: number;
  /** MB of peak RSS above RSS before the pull (ours only). */
  growthMb?: number;
  timings?: Record<string, number>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const range = (xs: number[], d = 2) => `${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}`;

/** The process run() waits for (ended on ^C before the folders are removed). */
let current: ChildProcess | undefined;

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    current = p;
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    p.on('error', reject);
    p.on('close', (code) => {
      if (current === p) current = undefined;
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

async function measure(mode: Mode, m: Pushed, registry: OciRegistry, work: string, publicKey: string): Promise<Run> {
  const out = path.join(work, 'out');
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out);
  try {
    if (mode === 'curl' || mode === 'curl+fsync') {
      const file = path.join(out, 'blob');
      const r = await run('curl', ['-sS', '--fail', '-o', file, `${registry.url}/v2/${m.repository}/blobs/${m.layerDigest}`]);
      if (r.code !== 0) throw new Error(`curl exited ${r.code}: ${r.stderr}`);
      let ms = r.ms;
      if (mode === 'curl+fsync') {
        // diagnostic only (the target's baseline is plain curl): what the store's fsync of the file costs
        const s = await run('sync', [file]);
        if (s.code !== 0) throw new Error(`sync exited ${s.code}: ${s.stderr}`);
        ms += s.ms;
      }
      const size = fs.statSync(file).size;
      if (size !== m.layerBytes) throw new Error(`curl fetched ${size} bytes, expected ${m.layerBytes}`);
      return { ms };
    }
    const job: Job = { mode, url: registry.url, repository: m.repository, tag: m.tag, publicKey, storeDir: path.join(out, 'store') };
    const r = await run(process.execPath, ['--expose-gc', '-r', 'tsx/cjs', CHILD, JSON.stringify(job)]);
    if (r.code !== 0) throw new Error(`${mode} child exited ${r.code}: ${r.stderr}`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
    if (res.bytes !== m.layerBytes || res.digest !== m.layerDigest) throw new Error(`${mode}: got ${res.bytes} bytes ${res.digest}, expected ${m.layerBytes} ${m.layerDigest}`);
    if (!res.peakReset) throw new Error(`${mode}: could not reset the peak RSS (/proc/self/clear_refs), so VmHWM would include start-up`);
    return { ms: res.ms, growthMb: (res.hwmAfter - res.rssBefore) / 1024, timings: res.timings };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    spawnSync('sync');
  }
}

async function main(): Promise<number> {
  if (!fs.existsSync(REGISTRY_BIN)) throw new Error(`${REGISTRY_BIN} not found: apt-get install docker-registry`);
  if (spawnSync('curl', ['--version']).status !== 0) throw new Error('curl not found');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-registry-bench-'));
  let registry: OciRegistry | undefined;
  const onSignal = () => {
    // the finally below runs only when main settles: on ^C end the pull or curl running, stop the registry, remove the folders
    const p = current;
    const ended = p && p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('close', r)) : Promise.resolve();
    p?.kill('SIGKILL');
    void ended
      .then(() => registry?.stop())
      .catch(() => undefined)
      .finally(() => {
        fs.rmSync(work, { recursive: true, force: true, maxRetries: 3 });
        process.exit(130);
      });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    registry = await OciRegistry.start();
    const curlVersion = spawnSync('curl', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].split(' ').slice(0, 2).join(' ');
    const regVersion = spawnSync(REGISTRY_BIN, ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ').slice(-1)[0];
    console.log(`registry pull: ModelPack ONNX models from docker-registry ${regVersion} on ${registry.url}, beside ${curlVersion}; node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);

    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const pushed: Pushed[] = [];
    const client = new DistributionClient({ url: registry.url });
    try {
      for (const sizeMb of SIZES_MB) {
        const t0 = performance.now();
        const repository = `bench/model-${sizeMb}mb`;
        let onnx: Uint8Array | undefined = sumModel(1, 24, { padFloats: Math.floor((sizeMb * MiB) / 4), name: `bench-${sizeMb}mb`, version: '1.0.0' });
        const { digest, artifact } = await pushModelPack(client, repository, '1.0.0', onnx, { name: `bench-${sizeMb}mb`, version: '1.0.0' });
        await signManifest(client, repository, digest, keys.privateKey);
        pushed.push({ sizeMb, repository, tag: '1.0.0', layerDigest: artifact.layer.descriptor.digest, layerBytes: artifact.layer.descriptor.size });
        onnx = undefined;
        console.log(`  pushed and signed ${repository}:1.0.0 (${(artifact.layer.descriptor.size / MiB).toFixed(1)} MB ONNX layer ${artifact.layer.descriptor.digest.slice(0, 19)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
    } finally {
      client.close();
    }

    const summary: { m: Pushed; runs: Record<Mode, Run[]> }[] = [];
    let failed = false;
    for (const m of pushed) {
      const mb = m.layerBytes / MiB;
      console.log(`\n${mb.toFixed(1)} MB model, ${RUNS} rounds of ${MODES.join(', ')} (after one warm-up round)`);
      for (const mode of MODES) await measure(mode, m, registry, work, keys.publicKey);
      const runs: Record<Mode, Run[]> = { curl: [], 'curl+fsync': [], transfer: [], pull: [] };
      for (let i = 0; i < RUNS; i++) {
        for (const mode of MODES) runs[mode].push(await measure(mode, m, registry, work, keys.publicKey));
        const c = runs.curl[i];
        const cell = (mode: Mode) => {
          const r = runs[mode][i];
          return `${mode} ${(r.ms / 1000).toFixed(2)} s (${(r.ms / c.ms).toFixed(2)}x curl, ${(mb / (r.ms / 1000)).toFixed(0)} MB/s, RSS +${r.growthMb!.toFixed(1)} MB)`;
        };
        const t = runs.pull[i].timings;
        const cs = runs['curl+fsync'][i];
        console.log(`  round ${i + 1}: curl ${(c.ms / 1000).toFixed(2)} s (${(mb / (c.ms / 1000)).toFixed(0)} MB/s); curl+fsync ${(cs.ms / 1000).toFixed(2)} s; ${cell('transfer')}; ${cell('pull')}` + (t ? ` [pull: resolve ${t.resolve} ms, verify ${t.verify} ms, download ${t.download} ms]` : '') + ` load ${os.loadavg()[0].toFixed(1)}`);
      }
      summary.push({ m, runs });
    }

    console.log('\nsummary (median of the rounds, range in brackets; ratio = ours / curl of the same round)');
    console.log(`  ${'model'.padEnd(8)} ${'what'.padEnd(10)} ${'time s'.padStart(18)} ${'ratio to curl'.padStart(20)} ${'RSS growth MB'.padStart(20)} ${'MB RSS / MB pulled'.padStart(19)}`);
    for (const { m, runs } of summary) {
      const mb = m.layerBytes / MiB;
      for (const mode of MODES) {
        const rs = runs[mode];
        const ms = rs.map((r) => r.ms / 1000);
        const ratios = rs.map((r, i) => r.ms / runs.curl[i].ms);
        const growth = rs.map((r) => r.growthMb ?? NaN);
        const ours = mode === 'transfer' || mode === 'pull';
        const col = (xs: number[], d = 2) => (xs.some(Number.isNaN) ? '-' : `${median(xs).toFixed(d)} [${range(xs, d)}]`);
        console.log(
          `  ${`${mb.toFixed(0)} MB`.padEnd(8)} ${mode.padEnd(10)} ${col(ms).padStart(18)} ${(mode === 'curl' ? '1' : col(ratios)).padStart(20)} ${col(growth, 1).padStart(20)} ${(ours ? (median(growth) / mb).toFixed(3) : '-').padStart(19)}`,
        );
      }
    }
    const big = summary.find((s) => s.m.sizeMb === Math.max(...SIZES_MB))!;
    const bigMb = big.m.layerBytes / MiB;
    console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log(`\ntargets at ${bigMb.toFixed(0)} MB: time at most ${TARGET_RATIO}x curl, RSS growth at most ${TARGET_RSS_MB} MB`);
    for (const mode of ['transfer', 'pull'] as const) {
      const ratio = median(big.runs[mode].map((r, i) => r.ms / big.runs.curl[i].ms));
      const growth = median(big.runs[mode].map((r) => r.growthMb!));
      const okT = ratio <= TARGET_RATIO;
      const okM = growth <= TARGET_RSS_MB;
      if (!okT || !okM) failed = true;
      const synced = median(big.runs[mode].map((r, i) => r.ms / big.runs['curl+fsync'][i].ms));
      console.log(`  ${mode.padEnd(9)} ${ratio.toFixed(2)}x curl: ${okT ? 'met' : 'MISSED'}; RSS +${growth.toFixed(1)} MB: ${okM ? 'met' : 'MISSED'}  (${synced.toFixed(2)}x curl+fsync, for information)`);
    }
    return failed ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await registry?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
