/**
 * The session host of `onnx infer`: runs onnxruntime-node off the event loop and swaps models
 * without dropping or mis-scoring a message.
 *
 * - Each loaded model lives in its own worker thread (worker.ts), which reads, hashes and checks
 *   the file and creates the session there. Loading a model starts a NEW worker; the current one
 *   keeps serving until the new one is ready, then the swap is a pointer change on this thread.
 *   The old worker finishes what it was given and is ended, which frees its native memory.
 * - A model that fails to load (missing, corrupt, digest mismatch, rejected by onnxruntime) leaves
 *   the current one serving; load() rejects with the reason.
 * - A request is bound to the model that is current when it arrives (its input is checked against
 *   that model) and results are delivered strictly in arrival order, whichever worker produced
 *   them. The first request bound to a new model carries `switchedFrom` (the switch point).
 * - Micro-batching: up to `batchSize` messages or `batchWaitMs` ms gathered into one run; and
 *   (`stack`, on by default) messages that queue up while runs are in flight are stacked into the
 *   next run, which never delays a message but raises throughput under load. Results are split
 *   back per message.
 * - Direct path (`direct: 'auto'`): a model whose batch-1 run, measured in the worker at load, is
 *   below `directMaxRunMs` and whose 64-row run is below 1 ms runs on this thread (a message hop
 *   to a worker costs more than such a run; measured in bench/onnx-infer.bench.ts), with stacked
 *   runs kept to about 1 ms. A model with a longer run always stays in its worker, so it cannot
 *   stall the event loop. Only a graph of operators whose cost cannot depend on input values
 *   (graph-cost.ts) is judged by that probe on zeros. A run larger than about 1 ms by the probe
 *   goes to a worker (started from the verified bytes when the first such run comes), and after
 *   one run on this thread longer than `directMaxStallMs` the model moves there for good ('moved').
 */
import { EventEmitter } from 'events';
import { CodedError } from '../node-red/errors';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type * as Ort from 'onnxruntime-node';
import { featureMismatch, fromMetadataProps, nameList, type ModelMetadata } from '../model-metadata';
import { canBatch, concatFeeds, InferInputError, prepareInputs, splitOutputs, type Feeds, type PreparedInput, type TensorSpec } from './io';
import type { OnnxModelInfo } from './proto';
import { checkModelFile } from './model-file';
import { valueDependentOps } from './graph-cost';
import { fromOrtOutputs, probeValues, toOrtFeeds, type FromWorker, type ToWorker, type WorkerInit } from './worker';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface HostOptions {
  /** onnxruntime intra-op threads (default 1: fastest for small models on 2 cores, leaves a core to Node-RED). */
  intraOpNumThreads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Micro-batch: gather up to N messages into one run (1 = off). */
  batchSize?: number;
  /** Micro-batch: wait at most T ms for N messages. */
  batchWaitMs?: number;
  /** Stack messages that wait while runs are in flight into the next run (default true). */
  stack?: boolean;
  /** Most rows in one stacked run (default 4096; on the direct path about 1 ms worth, by the measured 64-row run). */
  maxBatchRows?: number;
  /** Runs given to a worker at once (default 2: the next one is ready when one finishes). */
  maxInFlight?: number;
  /** 'auto': tiny models run on this thread; 'never': always a worker; 'always' (tests). */
  direct?: 'auto' | 'never' | 'always';
  /** Longest measured batch-1 run (ms) for the direct path (default 0.2; a 64-row run must stay under 1 ms too). */
  directMaxRunMs?: number;
  /** A run on this thread longer than this (ms, default 20) moves the model to its worker. */
  directMaxStallMs?: number;
  /** Longest load (read, check, session, probe) in ms before it fails (default 120 000): a hung mount fails its own load, the next one proceeds. */
  loadTimeoutMs?: number;
  /** Largest model file read (bytes; default: the reader's, 2 GiB). */
  maxModelBytes?: number;
}

/** What to load: a path, with what a model message says about it. */
export interface LoadRequest {
  path: string;
  name?: string;
  version?: string;
  /** "sha256:<hex>": checked against the file; a mismatch refuses the model. */
  digest?: string;
  /** This load's timeout (ms), over the host's loadTimeoutMs. */
  timeoutMs?: number;
}

export interface LoadedModel {
  path: string;
  name: string;
  version: string;
  digest: string;
  size: number;
  metadata: Partial<ModelMetadata>;
  info: OnnxModelInfo;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  loadMs: number;
  /** Median batch-1 and 64-row runs measured in the worker right after the load (ms). */
  probeRunMs?: number;
  probeRun64Ms?: number;
  mode: 'worker' | 'direct';
  /** All inputs have a free batch dimension: messages can be stacked. */
  batchable: boolean;
}

export interface InferResult {
  outputs: Feeds;
  /** Rows of this message. */
  rows: number;
  batched: boolean;
  model: LoadedModel;
  latencyMs: number;
  /** Rows and messages in the run that scored this message. */
  runRows: number;
  runMessages: number;
  /** Set on the first message scored by a newly loaded model: the model before it (null: none). */
  switchedFrom?: LoadedModel | null;
}

/** A host failure: `code` is an i18n key under `errors.`, `params` its values. */
export class HostError extends CodedError {}

interface Backend {
  run(feeds: Feeds): Promise<Feeds>;
  close(): Promise<void>;
  /** Called once when the backend dies by itself (worker crash). */
  onDeath?: (err: Error) => void;
}

function workerEntry(): { file: string; execArgv?: string[] } {
  if (__filename.endsWith('.ts')) {
    // Running from TypeScript source (tests, bench under tsx): the worker needs tsx too.
    return { file: path.join(__dirname, 'worker.ts'), execArgv: ['--require', require.resolve('tsx/cjs')] };
  }
  return { file: path.join(__dirname, 'worker.js') };
}

class WorkerBackend implements Backend {
  private calls = new Map<number, { resolve: (f: Feeds) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private dead?: Error;
  onDeath?: (err: Error) => void;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      if (m.op === 'result' || m.op === 'failed') {
        const c = this.calls.get(m.id);
        if (!c) return;
        this.calls.delete(m.id);
        if (m.op === 'result') c.resolve(m.outputs);
        else c.reject(new Error(m.message));
      }
    });
    const die = (err: Error) => {
      if (this.dead) return;
      this.dead = err;
      for (const c of this.calls.values()) c.reject(err);
      this.calls.clear();
      this.onDeath?.(err);
    };
    worker.on('error', (e) => die(e instanceof Error ? e : new Error(String(e))));
    worker.on('exit', (code) => die(new Error(`the model worker ended (exit code ${code})`)));
  }

  run(feeds: Feeds): Promise<Feeds> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.calls.set(id, { resolve, reject });
      const transfer = [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))];
      this.worker.postMessage({ op: 'run', id, feeds } satisfies ToWorker, transfer);
    });
  }

  /**
   * Asks the worker to finish its current run and end; terminate() only after `timeoutMs`
   * (terminating a thread inside an onnxruntime run aborts the process).
   */
  close(timeoutMs = WORKER_CLOSE_MS): Promise<void> {
    return closeWorker(this.worker, timeoutMs).finally(() => {
      this.dead ??= new Error('closed');
    });
  }
}

/** Longest wait for a worker to finish its run and end by itself. */
const WORKER_CLOSE_MS = 8000;
/** Default longest load. */
const LOAD_TIMEOUT_MS = 120000;
/** Largest model file on the direct path (its bytes come back from the worker). */
const DIRECT_MAX_BYTES = 2 * 1024 * 1024;
/** Longest wait in close() for a worker that was still loading. */
const STARTING_CLOSE_MS = 2000;

function worker_exit(worker: Worker, f: () => void): void {
  if ((worker as unknown as { threadId: number }).threadId < 0) f();
  else worker.once('exit', f);
}

/**
 * A worker whose load failed by timeout or close: told to end once it can (never terminated:
 * that aborts the process inside onnxruntime, and cannot end a thread stuck in a read anyway),
 * and unreferenced so that it never keeps the process alive.
 */
function abandonWorker(worker: Worker): void {
  worker.removeAllListeners('message');
  worker.on('error', () => undefined);
  try {
    worker.postMessage({ op: 'close' } satisfies ToWorker);
  } catch {
    /* ended already */
  }
  worker.unref();
}

function closeWorker(worker: Worker, timeoutMs = WORKER_CLOSE_MS): Promise<void> {
  return new Promise<void>((resolve) => {
    if ((worker as unknown as { threadId: number }).threadId < 0) return resolve();
    const t = setTimeout(() => {
      void worker.terminate().then(() => resolve(), () => resolve());
    }, timeoutMs);
    worker.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    try {
      worker.postMessage({ op: 'close' } satisfies ToWorker);
    } catch {
      clearTimeout(t);
      resolve();
    }
  });
}

/**
 * A worker for bytes already verified (no read, no probe): where a direct model sends the runs
 * too large for the Node-RED thread.
 */
function startBytesWorker(init: WorkerInit): Promise<WorkerBackend> {
  const entry = workerEntry();
  const worker = new Worker(entry.file, { workerData: init, execArgv: entry.execArgv, stdout: false, stderr: false });
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      void closeWorker(worker);
      reject(e);
    };
    worker.once('message', (m: FromWorker) => {
      worker.removeAllListeners('error');
      if (m.op === 'ready') resolve(new WorkerBackend(worker));
      else fail(new Error(m.op === 'error' ? m.message : `unexpected ${m.op} from the model worker`));
    });
    worker.once('error', fail);
  });
}

/**
 * A tiny model on this thread. Runs with more than `maxValues` values (more than about 1 ms by the
 * probe) go to a worker, started from the verified bytes when the first one comes; after a run
 * here longer than `maxStallMs` every run does (`onMoved`).
 */
class DirectBackend implements Backend {
  private moved = false;
  private worker?: Promise<WorkerBackend>;
  onMoved?: (runMs: number) => void;

  constructor(
    private ort: typeof Ort,
    private session: Ort.InferenceSession,
    private workerInit: WorkerInit,
    private maxValues: number,
    private maxStallMs: number,
    private stats: HostStats,
  ) {}

  private inWorker(feeds: Feeds): Promise<Feeds> {
    const w = (this.worker ??= startBytesWorker(this.workerInit));
    return w.then(
      (backend) => {
        // a worker that died is started afresh for the next run
        backend.onDeath = () => {
          if (this.worker === w) this.worker = undefined;
        };
        return backend.run(feeds);
      },
      (e: Error) => {
        if (this.worker === w) this.worker = undefined;
        throw e;
      },
    );
  }

  async run(feeds: Feeds): Promise<Feeds> {
    let values = 0;
    for (const t of Object.values(feeds)) values += t.data.length;
    if (this.moved || values > this.maxValues) return this.inWorker(feeds);
    const t0 = performance.now();
    this.stats.threadRuns++;
    const res = await this.session.run(toOrtFeeds(this.ort, feeds));
    const ms = performance.now() - t0;
    if (ms > this.maxStallMs && !this.moved) {
      this.moved = true;
      void this.session.release().catch(() => undefined);
      this.onMoved?.(ms);
    }
    return fromOrtOutputs(res as Record<string, Ort.Tensor>);
  }

  async close(): Promise<void> {
    if (!this.moved) await this.session.release().catch(() => undefined);
    const w = await this.worker?.catch(() => undefined);
    await w?.close();
  }
}

interface Request {
  prep?: PreparedInput;
  t0: number;
  slot?: Slot;
  resolve: (r: InferResult) => void;
  reject: (e: Error) => void;
  settled?: { ok: InferResult } | { err: Error };
  switchedFrom?: LoadedModel | null;
}

interface Early {
  payload: unknown;
  features: { shape?: unknown; names?: unknown } | undefined;
  req: Request;
}

interface Slot {
  model: LoadedModel;
  backend: Backend;
  waiting: Request[];
  inFlight: number;
  maxInFlight: number;
  maxRows: number;
  timer?: NodeJS.Timeout;
  fresh: boolean;
  previous: LoadedModel | null;
  dead?: Error;
}

export interface HostStats {
  runs: number;
  rows: number;
  messages: number;
  lastLatencyMs: number;
  /** Runs on the Node-RED thread (direct path). */
  threadRuns: number;
}

/**
 * Events: 'loaded' (model, previous), 'switch' (model, previous): the first message bound to a
 * new model, 'died' (err): the current worker ended by itself (no model until the next load),
 * 'moved' (model, runMs): a direct model ran longer than directMaxStallMs and now runs in its worker.
 */
export class SessionHost extends EventEmitter {
  readonly options: Required<HostOptions>;
  private current?: Slot;
  private slots = new Set<Slot>();
  private order: Request[] = [];
  private head = 0;
  private early: Early[] = [];
  private loading = 0;
  private loadChain: Promise<unknown> = Promise.resolve();
  private lastLoadError?: Error;
  private starting = new Map<Worker, (e: Error) => void>();
  private closing = false;
  private drained?: () => void;
  readonly stats: HostStats = { runs: 0, rows: 0, messages: 0, lastLatencyMs: 0, threadRuns: 0 };

  constructor(options: HostOptions = {}) {
    super();
    this.options = {
      intraOpNumThreads: options.intraOpNumThreads ?? 1,
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      batchSize: Math.max(1, Math.floor(options.batchSize ?? 1)),
      batchWaitMs: Math.max(0, options.batchWaitMs ?? 0),
      stack: options.stack ?? true,
      maxBatchRows: options.maxBatchRows ?? 4096,
      maxInFlight: Math.max(1, options.maxInFlight ?? 2),
      direct: options.direct ?? 'auto',
      directMaxRunMs: options.directMaxRunMs ?? 0.2,
      directMaxStallMs: options.directMaxStallMs ?? 20,
      loadTimeoutMs: options.loadTimeoutMs ?? LOAD_TIMEOUT_MS,
      maxModelBytes: options.maxModelBytes ?? 0,
    };
  }

  /** The model that serves new requests, if any. */
  get model(): LoadedModel | undefined {
    return this.current?.model;
  }

  /** Requests accepted and not yet answered. */
  get pending(): number {
    return this.order.length - this.head + this.early.length;
  }

  get isLoading(): boolean {
    return this.loading > 0;
  }

  /**
   * Loads a model in a new worker and swaps to it once it is ready. Loads run one after another.
   * Rejects with a HostError (the current model keeps serving) when the model cannot be used.
   */
  load(req: LoadRequest | string): Promise<LoadedModel> {
    const r = typeof req === 'string' ? { path: req } : req;
    this.loading++;
    const p = this.loadChain.then(() => this.doLoad(r));
    this.loadChain = p.catch(() => undefined);
    p.then(
      () => {
        this.loading--;
        this.lastLoadError = undefined;
      },
      (e: Error) => {
        this.loading--;
        this.lastLoadError = e;
        if (this.loading === 0 && !this.current) this.failEarly(e);
      },
    );
    return p;
  }

  private async doLoad(r: LoadRequest): Promise<LoadedModel> {
    if (this.closing) throw closedError();
    const o = this.options;
    const sessionOptions = { intraOpNumThreads: o.intraOpNumThreads, interOpNumThreads: 1, graphOptimizationLevel: o.graphOptimizationLevel };
    const entry = workerEntry();
    const init: WorkerInit = {
      path: path.resolve(r.path),
      options: sessionOptions,
      probe: o.direct === 'auto',
      maxBytes: o.maxModelBytes > 0 ? o.maxModelBytes : undefined,
      // The direct path creates its session from the bytes the worker read and checked, never from the path again.
      sendBytesMax: o.direct === 'never' ? undefined : o.direct === 'always' ? Number.MAX_SAFE_INTEGER : DIRECT_MAX_BYTES,
    };
    // a device, a FIFO, a folder or a missing file is refused here, without starting a thread for it
    await checkModelFile(init.path, { maxBytes: init.maxBytes }).catch((e: { params?: { reason?: unknown }; message?: string }) => {
      throw loadError(r.path, 'read', String(e.params?.reason ?? e.message));
    });
    if (this.closing) throw closedError();
    const worker = new Worker(entry.file, { workerData: init, execArgv: entry.execArgv, stdout: false, stderr: false });
    const timeoutMs = r.timeoutMs ?? o.loadTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    let ready: Extract<FromWorker, { op: 'ready' }>;
    try {
      ready = await new Promise((resolve, reject) => {
        this.starting.set(worker, reject);
        const onMsg = (m: FromWorker) => {
          if (m.op === 'ready') resolve(m);
          else if (m.op === 'error') reject(loadError(r.path, m.code, m.message));
        };
        worker.on('message', onMsg);
        worker.once('error', (e) => reject(loadError(r.path, 'session', e.message)));
        worker.once('exit', (code) => reject(this.closing ? closedError() : loadError(r.path, 'session', `the model worker ended (exit code ${code})`)));
        timer = setTimeout(() => {
          timedOut = true;
          reject(new HostError('loadTimeout', { path: r.path, ms: timeoutMs }, `the model ${r.path} did not load within ${timeoutMs} ms (a file that never ends, a hung mount?): not loaded`));
        }, timeoutMs);
      });
    } catch (e) {
      clearTimeout(timer);
      this.starting.delete(worker);
      if (timedOut || this.closing) abandonWorker(worker);
      else void closeWorker(worker);
      throw e;
    }
    clearTimeout(timer);
    this.starting.delete(worker);
    worker.removeAllListeners('message').removeAllListeners('error').removeAllListeners('exit');
    if (r.digest && /^sha256:/i.test(r.digest) && r.digest.toLowerCase() !== ready.digest) {
      void closeWorker(worker);
      throw new HostError('digestMismatch', { path: r.path, expected: r.digest, actual: ready.digest }, `the model file ${r.path} has digest ${ready.digest}, the model message says ${r.digest}: not loaded`);
    }
    if (this.closing) {
      void closeWorker(worker);
      throw closedError();
    }
    const metadata = fromMetadataProps(ready.info.metadata) ?? {};
    const model: LoadedModel = {
      path: r.path,
      // a model message's name and version (the registry's tag) before the file's own metadata
      name: r.name || metadata.name || path.basename(r.path).replace(/\.onnx$/i, ''),
      version: r.version || metadata.version || '',
      digest: ready.digest,
      size: ready.size,
      metadata,
      info: ready.info,
      inputs: ready.inputs,
      outputs: ready.outputs,
      loadMs: ready.loadMs,
      probeRunMs: ready.probeRunMs,
      probeRun64Ms: ready.probeRun64Ms,
      mode: 'worker',
      batchable: canBatch(ready.inputs),
    };
    const inWorker = new WorkerBackend(worker);
    let backend: Backend = inWorker;
    const useDirect =
      o.direct === 'always' ||
      (o.direct === 'auto' &&
        valueDependentOps(ready.info.ops).length === 0 &&
        ready.probeRunMs !== undefined &&
        ready.probeRunMs <= o.directMaxRunMs &&
        ready.probeRun64Ms !== undefined &&
        ready.probeRun64Ms <= 1 &&
        ready.loadMs <= 100 &&
        ready.size <= DIRECT_MAX_BYTES);
    // The bytes the worker read and hashed, for the direct path (a test replaces the file here).
    this.emit('verified', model);
    if (useDirect && ready.bytes) {
      // A tiny model: creating its session here costs about its load time measured in the
      // worker (bounded above), and each run microseconds.
      try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const ort = require('onnxruntime-node') as typeof Ort;
        const session = await ort.InferenceSession.create(ready.bytes, sessionOptions);
        const k = directRuns(model);
        const workerInit: WorkerInit = { path: init.path, options: sessionOptions, bytes: ready.bytes };
        backend = new DirectBackend(ort, session, workerInit, o.direct === 'always' ? Infinity : probeValues(model.inputs, 64) * k, o.directMaxStallMs, this.stats);
        void inWorker.close();
        model.mode = 'direct';
      } catch {
        /* stay in the worker */
      }
    }
    if (this.closing) {
      void backend.close();
      throw closedError();
    }
    this.swap(model, backend);
    return model;
  }

  private swap(model: LoadedModel, backend: Backend): void {
    const prev = this.current;
    const direct = model.mode === 'direct';
    const slot: Slot = {
      model,
      backend,
      waiting: [],
      inFlight: 0,
      maxInFlight: direct ? 1 : this.options.maxInFlight,
      // In-thread, a stacked run is kept to about 1 ms (by the measured 64-row run).
      maxRows: direct ? Math.min(this.options.maxBatchRows, 64 * directRuns(model)) : this.options.maxBatchRows,
      fresh: true,
      previous: prev?.model ?? null,
    };
    if (backend instanceof DirectBackend) {
      backend.onMoved = (runMs) => {
        model.mode = 'worker';
        slot.maxInFlight = this.options.maxInFlight;
        slot.maxRows = this.options.maxBatchRows;
        this.emit('moved', model, runMs);
      };
    }
    backend.onDeath = (err) => {
      slot.dead = err;
      for (const r of slot.waiting) this.settle(r, { err: runError(err) });
      slot.waiting = [];
      this.flush();
      if (this.current === slot) {
        this.current = undefined;
        this.emit('died', err);
      }
      this.slots.delete(slot);
    };
    this.slots.add(slot);
    this.current = slot;
    this.emit('loaded', model, prev?.model ?? null);
    if (prev) this.maybeRetire(prev);
    const early = this.early;
    this.early = [];
    for (const e of early) this.bind(slot, e.req, e.payload, e.features);
  }

  /**
   * Scores msg.payload (see io.ts for the forms). Resolves in arrival order; rejects with an
   * InferInputError (input does not fit the model) or a HostError.
   */
  infer(payload: unknown, features?: { shape?: unknown; names?: unknown }): Promise<InferResult> {
    return new Promise<InferResult>((resolve, reject) => {
      const req: Request = { t0: performance.now(), resolve, reject };
      if (this.closing) {
        reject(closedError());
        return;
      }
      this.order.push(req);
      if (this.current) this.bind(this.current, req, payload, features);
      else if (this.loading > 0) this.early.push({ payload, features, req });
      else {
        const reason = this.lastLoadError?.message;
        this.settle(req, { err: noModelError(reason) });
        this.flush();
      }
    });
  }

  private bind(slot: Slot, req: Request, payload: unknown, features: { shape?: unknown; names?: unknown } | undefined): void {
    try {
      checkFeatureNames(slot.model, features?.names);
      req.prep = prepareInputs(payload, slot.model.inputs, features);
    } catch (e) {
      this.settle(req, { err: e as Error });
      this.flush();
      return;
    }
    req.slot = slot;
    if (slot.fresh) {
      slot.fresh = false;
      req.switchedFrom = slot.previous;
      this.emit('switch', slot.model, slot.previous);
    }
    slot.waiting.push(req);
    this.pump(slot);
  }

  private pump(slot: Slot): void {
    const o = this.options;
    while (slot.inFlight < slot.maxInFlight && slot.waiting.length > 0 && !slot.dead) {
      if (o.batchSize > 1 && slot.model.batchable && slot.waiting.length < o.batchSize) {
        const age = performance.now() - slot.waiting[0].t0;
        if (age < o.batchWaitMs) {
          if (!slot.timer) {
            slot.timer = setTimeout(() => {
              slot.timer = undefined;
              this.pump(slot);
            }, Math.max(1, Math.ceil(o.batchWaitMs - age)));
          }
          return;
        }
      }
      const take: Request[] = [slot.waiting.shift()!];
      if (slot.model.batchable) {
        const maxMsgs = o.batchSize > 1 ? (o.stack ? Math.max(o.batchSize, slot.waiting.length + 1) : o.batchSize) : o.stack ? Infinity : 1;
        let rows = take[0].prep!.rows;
        while (slot.waiting.length && take.length < maxMsgs && rows + slot.waiting[0].prep!.rows <= slot.maxRows) {
          const r = slot.waiting.shift()!;
          rows += r.prep!.rows;
          take.push(r);
        }
      }
      this.dispatch(slot, take);
    }
    if (slot.waiting.length === 0 && slot.timer) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
    }
  }

  private dispatch(slot: Slot, reqs: Request[]): void {
    slot.inFlight++;
    const rows = reqs.map((r) => r.prep!.rows);
    const runRows = rows.reduce((a, b) => a + b, 0);
    let feeds: Feeds;
    try {
      feeds = concatFeeds(reqs.map((r) => r.prep!));
    } catch (e) {
      for (const r of reqs) this.settle(r, { err: runError(e as Error) });
      slot.inFlight--;
      this.flush();
      return;
    }
    for (const r of reqs) r.prep = { ...r.prep!, feeds: {} };
    slot.backend.run(feeds).then(
      (outputs) => {
        const parts = splitOutputs(outputs, rows);
        const now = performance.now();
        this.stats.runs++;
        this.stats.rows += runRows;
        this.stats.messages += reqs.length;
        reqs.forEach((r, i) => {
          const latencyMs = now - r.t0;
          this.stats.lastLatencyMs = latencyMs;
          const res: InferResult = { outputs: parts[i], rows: rows[i], batched: r.prep!.batched, model: slot.model, latencyMs, runRows, runMessages: reqs.length };
          if (r.switchedFrom !== undefined) res.switchedFrom = r.switchedFrom;
          this.settle(r, { ok: res });
        });
        this.afterRun(slot);
      },
      (e: Error) => {
        for (const r of reqs) this.settle(r, { err: runError(e) });
        this.afterRun(slot);
      },
    );
  }

  private afterRun(slot: Slot): void {
    slot.inFlight--;
    this.flush();
    this.pump(slot);
    this.maybeRetire(slot);
  }

  private settle(r: Request, s: { ok: InferResult } | { err: Error }): void {
    if (!r.settled) r.settled = s;
  }

  /** Delivers settled requests in arrival order. */
  private flush(): void {
    while (this.head < this.order.length && this.order[this.head].settled) {
      const r = this.order[this.head];
      this.order[this.head++] = undefined as unknown as Request;
      const s = r.settled!;
      if ('ok' in s) r.resolve(s.ok);
      else r.reject(s.err);
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.order.length) {
      this.order = [];
      this.head = 0;
      if (this.early.length === 0 && this.drained) this.drained();
    }
  }

  private maybeRetire(slot: Slot): void {
    if (slot === this.current || slot.inFlight > 0 || slot.waiting.length > 0) return;
    if (!this.slots.delete(slot)) return;
    if (slot.timer) clearTimeout(slot.timer);
    slot.backend.onDeath = undefined;
    void slot.backend.close().catch(() => undefined);
  }

  private failEarly(e: Error): void {
    const early = this.early;
    this.early = [];
    for (const x of early) this.settle(x.req, { err: noModelError(e.message) });
    this.flush();
  }

  /**
   * Stops: new requests are refused, requests already accepted get up to `graceMs` to be
   * answered, the rest are rejected; then every worker is ended. Resolves when all are ended.
   */
  async close(graceMs = 2000): Promise<void> {
    this.closing = true;
    // A load still starting fails now; its worker is told to end, and waited for at most a moment
    // (one stuck in a read that never finishes is left behind, unreferenced).
    const starting = [...this.starting.keys()].map((w) => {
      this.starting.get(w)!(closedError());
      return new Promise<void>((resolve) => {
        const t = setTimeout(resolve, STARTING_CLOSE_MS);
        worker_exit(w, () => {
          clearTimeout(t);
          resolve();
        });
      });
    });
    this.starting.clear();
    this.failEarly(closedError());
    if (this.pending > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.drained = undefined;
    }
    for (let i = this.head; i < this.order.length; i++) this.settle(this.order[i], { err: closedError() });
    this.flush();
    const slots = [...this.slots];
    this.slots.clear();
    this.current = undefined;
    await Promise.all(
      slots.map((s) => {
        if (s.timer) clearTimeout(s.timer);
        s.backend.onDeath = undefined;
        return s.backend.close().catch(() => undefined);
      }),
    );
    await Promise.all(starting);
  }
}

/** How many 64-row runs of a direct model fit in about 1 ms (1 to 16), by its probe. */
function directRuns(model: LoadedModel): number {
  return Math.max(1, Math.min(16, Math.floor(1 / Math.max(model.probeRun64Ms ?? 1, 1e-3))));
}

function loadError(p: string, code: 'read' | 'corrupt' | 'session', reason: string): HostError {
  const key = code === 'read' ? 'loadRead' : code === 'corrupt' ? 'loadCorrupt' : 'loadSession';
  const what = code === 'read' ? 'cannot read the model file' : code === 'corrupt' ? 'not a valid ONNX model' : 'onnxruntime cannot load the model';
  const expected = code === 'corrupt' ? ' (expected an .onnx file, as an ONNX exporter writes it)' : '';
  return new HostError(key, { path: p, reason }, `${what} ${p}: ${reason}${expected}`);
}

function closedError(): HostError {
  return new HostError('closed', {}, 'the node was closed (redeploy or shutdown) before this message was scored');
}

function noModelError(reason?: string): HostError {
  return reason
    ? new HostError('noModelBecause', { reason }, `no model is loaded (${reason}): expected a model path in the node or a model message (msg.model) first`)
    : new HostError('noModel', {}, 'no model is loaded: expected a model path in the node or a model message (msg.model) first');
}

function runError(e: Error): HostError {
  return new HostError('runFailed', { reason: e.message }, `the model run failed: ${e.message}`);
}

/**
 * A features message names its features (msg.features.names): a model whose metadata lists other
 * features, or the same in another order, would score the wrong columns. Refused with what is
 * missing and what is extra; messages without names, or models without feature metadata, pass.
 */
function checkFeatureNames(model: LoadedModel, names: unknown): void {
  const want = model.metadata.features;
  if (!Array.isArray(want) || !want.length || !Array.isArray(names) || !names.length || !names.every((n) => typeof n === 'string')) return;
  const d = featureMismatch(want, names as string[]);
  if (!d) return;
  const params = { model: `${model.name} ${model.version}`.trim(), missing: nameList(d.missing), extra: nameList(d.extra) };
  if (d.order) throw new InferInputError('featureOrder', params, `model ${params.model} takes the features the flow sends in another order: expected msg.features.names in the model's order (its metadata)`);
  throw new InferInputError('featureMismatch', params, `model ${params.model} takes other features than the flow sends: missing ${params.missing}; extra ${params.extra}. Expected msg.features.names to be the model's features`);
}
