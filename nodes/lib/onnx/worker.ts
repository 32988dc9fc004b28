/**
 * The session worker: one onnxruntime-node session per worker thread, created from the model
 * file at workerData.path, so that both the (synchronous) session creation and every run stay off
 * the Node-RED event loop. A model swap starts a new worker; ending the old one frees its native
 * memory (creating and releasing sessions in one thread grows it: onnxruntime issue 25325).
 *
 * The worker also reads the file, hashes it (sha256) and reads its description, so a model of tens
 * of MB costs the event loop nothing. Protocol (host.ts): workerData = WorkerInit; the worker
 * posts `ready` or `error` once, then
 * answers every `run` with `result` or `failed`.
 */
import { parentPort, workerData } from 'worker_threads';
import type * as Ort from 'onnxruntime-node';
import type { Feeds, TensorSpec, TypedData, WireTensor } from './io';
import { decodeModelFile, readModelFileSync, type ModelFile } from './model-file';
import type { OnnxModelInfo } from './proto';

export interface WorkerInit {
  /** The .onnx file: read, hashed and checked here, off the event loop. */
  path: string;
  options: { intraOpNumThreads?: number; interOpNumThreads?: number; graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all' };
  /** Time a few batch-1 runs after the load (decides the direct path). */
  probe?: boolean;
  /** Largest model file read (bytes; default: the reader's, 2 GiB). */
  maxBytes?: number;
  /** Send the verified bytes back with `ready` when the file has at most this many (the direct path creates its session from them). */
  sendBytesMax?: number;
  /** The bytes already read and verified (a direct model's worker, started when a run needs it): not read again. */
  bytes?: Uint8Array;
}

/** Most values a probe feed may hold, all inputs together (4 MB of float32): a declared [1, 1e9] input is not probed. */
export const PROBE_MAX_VALUES = 1 << 20;

/**
 * `close`: finish the run in progress, skip the rest, release the session and end the thread.
 * (Ending a worker with terminate() while onnxruntime runs in it aborts the whole process.)
 */
export type ToWorker = { op: 'run'; id: number; feeds: Feeds } | { op: 'close' };
export type FromWorker =
  | { op: 'ready'; inputs: TensorSpec[]; outputs: TensorSpec[]; info: OnnxModelInfo; digest: string; size: number; loadMs: number; probeRunMs?: number; probeRun64Ms?: number; bytes?: Uint8Array }
  | { op: 'error'; code: 'read' | 'corrupt' | 'session'; message: string }
  | { op: 'result'; id: number; outputs: Feeds; runMs: number }
  | { op: 'failed'; id: number; message: string };

/** Input and output descriptions of a session, as plain objects. */
export function specsOf(list: readonly Ort.InferenceSession.ValueMetadata[]): TensorSpec[] {
  return list.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));
}

/** The probe's shape of every input: fixed dims as declared, a free batch dim `rows`, other free dims 1. */
export function probeDims(inputs: TensorSpec[], rows: number): number[][] {
  return inputs.map((s) => s.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 && s.shape.length >= 2 ? rows : 1)));
}

/** Values in feeds of these shapes, all inputs together. */
const valuesOf = (all: number[][]) => all.reduce((t, dims) => t + dims.reduce((a, b) => a * b, 1), 0);

/** Values in the probe's feeds, all inputs together. */
export function probeValues(inputs: TensorSpec[], rows: number): number {
  return valuesOf(probeDims(inputs, rows));
}

/**
 * Zero feeds of one row for every input (free dims = 1), or undefined when a type is not numeric
 * or the feeds would hold more than `maxValues` values (the model is then not probed).
 */
export function probeFeeds(ort: typeof Ort, inputs: TensorSpec[], rows = 1, maxValues = PROBE_MAX_VALUES): Record<string, Ort.Tensor> | undefined {
  const feeds: Record<string, Ort.Tensor> = {};
  const all = probeDims(inputs, rows);
  if (!(valuesOf(all) <= maxValues)) return undefined;
  for (const [k, s] of inputs.entries()) {
    const dims = all[k];
    const n = dims.reduce((a, b) => a * b, 1);
    let data: TypedData;
    if (s.type === 'float32') data = new Float32Array(n);
    else if (s.type === 'float64') data = new Float64Array(n);
    else if (s.type === 'int32') data = new Int32Array(n);
    else if (s.type === 'int64') data = new BigInt64Array(n);
    else return undefined;
    feeds[s.name] = new ort.Tensor(s.type as 'float32', data as Float32Array, dims);
  }
  return feeds;
}

/** Median time of some runs (ms) after a warm-up, at most about 100 ms spent. */
export async function probeRun(session: Ort.InferenceSession, feeds: Record<string, Ort.Tensor>): Promise<number> {
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < 200 && (i < 3 || performance.now() - t0 < 100); i++) {
    const s = performance.now();
    await session.run(feeds);
    if (i >= 2) times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return times.length ? times[times.length >> 1] : Infinity;
}

export function toOrtFeeds(ort: typeof Ort, feeds: Feeds): Record<string, Ort.Tensor> {
  const out: Record<string, Ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
  return out;
}

export function fromOrtOutputs(result: Record<string, Ort.Tensor>): Feeds {
  const out: Feeds = {};
  for (const [name, t] of Object.entries(result)) {
    out[name] = { type: t.type, dims: [...t.dims], data: t.data as TypedData } as WireTensor;
  }
  return out;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const init = workerData as WorkerInit;
  // Listen from the start: a close may come while the session is still being created.
  let closing = false;
  let active = 0;
  let session: Ort.InferenceSession | undefined;
  const queue: ToWorker[] = [];
  let failed = false;
  let onMessage: (m: ToWorker) => void = (m) => {
    if (m.op === 'close') {
      closing = true;
      if (failed) process.exit(0);
    } else queue.push(m);
  };
  port.on('message', (m: ToWorker) => onMessage(m));
  const finish = async () => {
    try {
      await session?.release();
    } catch {
      /* ending anyway */
    }
    process.exit(0);
  };
  let ort: typeof Ort;
  let file: ModelFile;
  const fail = (code: 'read' | 'corrupt' | 'session', e: unknown) => {
    failed = true;
    port.postMessage({ op: 'error', code, message: (e as Error)?.message ?? String(e) } satisfies FromWorker);
    if (closing) process.exit(0);
  };
  let t1 = performance.now();
  try {
    file = init.bytes ? decodeModelFile(Buffer.from(init.bytes.buffer, init.bytes.byteOffset, init.bytes.length), init.path) : readModelFileSync(init.path, { maxBytes: init.maxBytes });
  } catch (e) {
    fail((e as { code?: string }).code === 'modelCorrupt' ? 'corrupt' : 'read', { message: (e as { params: { reason: string } }).params.reason });
    return;
  }
  const { bytes, digest, info } = file;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    ort = require('onnxruntime-node') as typeof Ort;
    t1 = performance.now();
    session = await ort.InferenceSession.create(bytes, init.options);
  } catch (e) {
    fail('session', e);
    return;
  }
  if (closing) return void finish();
  // Session creation alone (what the direct path repeats on the Node-RED thread).
  const loadMs = performance.now() - t1;
  const inputs = specsOf(session.inputMetadata);
  const outputs = specsOf(session.outputMetadata);
  let probeRunMs: number | undefined;
  let probeRun64Ms: number | undefined;
  if (init.probe) {
    const feeds = probeFeeds(ort, inputs);
    if (feeds) {
      try {
        probeRunMs = await probeRun(session, feeds);
        const feeds64 = probeRunMs < 1 ? probeFeeds(ort, inputs, 64) : undefined;
        if (feeds64) probeRun64Ms = await probeRun(session, feeds64);
      } catch {
        probeRunMs = undefined;
      }
    }
  }
  // A copy of the bytes read and hashed here: the direct path's session is created from exactly these.
  const sent = init.sendBytesMax !== undefined && bytes.length <= init.sendBytesMax ? new Uint8Array(bytes) : undefined;
  port.postMessage({ op: 'ready', inputs, outputs, info, digest, size: bytes.length, loadMs, probeRunMs, probeRun64Ms, bytes: sent } satisfies FromWorker);

  // a close that came during the probe (a redeploy while the model loads): nobody waits for this
  // session any more; without this the worker, its session and its thread stayed for good
  if (closing) return void finish();
  const sess = session;
  onMessage = (m: ToWorker) => {
    if (m.op === 'close') {
      closing = true;
      if (active === 0) void finish();
      return;
    }
    if (closing) return;
    const s = performance.now();
    active++;
    sess.run(toOrtFeeds(ort, m.feeds)).then(
      (res) => {
        const outputs = fromOrtOutputs(res as Record<string, Ort.Tensor>);
        const msg: FromWorker = { op: 'result', id: m.id, outputs, runMs: performance.now() - s };
        const transfer = [...new Set(Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer))];
        try {
          port.postMessage(msg, transfer);
        } catch {
          // A buffer that cannot be transferred (external memory): copy instead.
          port.postMessage(msg);
        }
      },
      (e: Error) => port.postMessage({ op: 'failed', id: m.id, message: e?.message ?? String(e) } satisfies FromWorker),
    ).finally(() => {
      active--;
      if (closing && active === 0) void finish();
    });
  };
  for (const m of queue.splice(0)) onMessage(m);
}

if (parentPort && workerData && typeof (workerData as WorkerInit).path === 'string') void main();
