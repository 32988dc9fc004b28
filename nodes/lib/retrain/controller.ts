/**
 * What a retrain trigger node does, without Node-RED: it buffers the feature vectors (and labels)
 * that pass, follows the drift reports and the model deployed now, asks the policy at every drift
 * report and request, and when it says go, snapshots the buffer into a dataset and acts: trains a
 * candidate on the gateway (in a worker), posts the request to a pipeline, or publishes it over
 * MQTT. Every decision, taken or not, leaves on output 2 and shows in the status.
 *
 * Files, per node under the user directory (mlops-retrain/<node id>/): buffer/ (the training
 * data), datasets/ (snapshots with their manifests), candidates/ (models trained here),
 * state.json (the policy's memory, the model deployed now, the candidate pending).
 */
import * as fsp from 'fs/promises';
import * as path from 'path';
import type { DriftReport, ModelInfo } from '../messages';
import { choiceField, numberField } from '../node-red/config';
import { writeAtomic } from '../registry/store';
import { TrainingBuffer, type DatasetManifest } from './buffer';
import { decide, observeDrift, started, type Decision, type PolicyConfig, type PolicyState } from './policy';

export type Action = 'local' | 'webhook' | 'mqtt';

export interface RawRetrainConfig {
  action?: string;
  holdMinutes?: string | number;
  cooldownMinutes?: string | number;
  minRows?: string | number;
  maxPerDay?: string | number;
  bufferMB?: string | number;
  holdout?: string | number;
  epochs?: string | number;
}

export interface RetrainConfig {
  action: Action;
  policy: PolicyConfig;
  bufferBytes: number;
  /** Local training: the share of the newest rows held out for the evaluation, and epochs. */
  holdout: number;
  epochs: number;
}

export function parseRetrainConfig(d: RawRetrainConfig): RetrainConfig {
  return {
    action: choiceField(d, 'action', ['local', 'webhook', 'mqtt'] as const, 'local'),
    policy: {
      holdMs: numberField(d, 'holdMinutes', { default: 5, min: 0, max: 7 * 1440 }) * 60_000,
      cooldownMs: numberField(d, 'cooldownMinutes', { default: 60, min: 0, max: 30 * 1440 }) * 60_000,
      minRows: numberField(d, 'minRows', { default: 500, min: 0, max: 10_000_000, integer: true }),
      maxPerDay: numberField(d, 'maxPerDay', { default: 3, min: 1, max: 100, integer: true }),
    },
    bufferBytes: numberField(d, 'bufferMB', { default: 50, min: 1, max: 10_000 }) * 1024 * 1024,
    holdout: numberField(d, 'holdout', { default: 20, min: 5, max: 50 }) / 100,
    epochs: numberField(d, 'epochs', { default: 60, min: 1, max: 10_000, integer: true }),
  };
}

/** One folder per node, under the user directory. */
export const retrainFolder = (nodeId: string) => path.join('mlops-retrain', nodeId.replace(/[^A-Za-z0-9_.-]/g, '_'));

/** What happens on "go": the action's own part (train here, post, publish); resolves with the message for output 1. */
export type ActionRunner = (job: RetrainJob) => Promise<Record<string, unknown>>;

export interface RetrainJob {
  decision: Decision;
  /** The snapshot (none for a pipeline or service when the buffer is empty). */
  dataset?: DatasetManifest;
  /** The dataset's manifest file ('' without one). */
  manifestFile: string;
  deployed?: Partial<ModelInfo>;
  drift?: Partial<DriftReport>;
  /** Where a local candidate goes. */
  candidatesDir: string;
  signal: AbortSignal;
}

export interface RetrainIo {
  /** Output 0: the candidate or the pipeline's answer; 1: every decision. */
  send(output: 0 | 1, msg: Record<string, unknown>): void;
  /** The status shows the last decision (or a retrain's progress). */
  status(text: string, fill: 'green' | 'yellow' | 'blue' | 'red' | 'grey'): void;
  log(text: string): void;
  warn(text: string): void;
  /** A retrain failed (after its message was done): to the log and a Catch node. */
  failed(e: unknown): void;
  /** A decision in the user's language. */
  explain(d: Decision): string;
}

/** msg.features of a features message (one window, or a batch with one window per row). */
type Features = { names?: unknown; window?: { start?: unknown; end?: unknown }; shape?: unknown; windows?: { start?: ArrayLike<number>; end?: ArrayLike<number> } };

interface Persisted {
  policy: Omit<PolicyState, 'running'>;
  deployed?: Partial<ModelInfo>;
  lastRetrainAt?: number;
  /** A retrain that started and has not ended (a kill): undone at the next open. */
  running?: { at: number; previous: number };
}

const asNumberArray = (v: unknown): number[] | undefined => (Array.isArray(v) ? (v as number[]) : ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : undefined);

export class RetrainController {
  private buffer!: TrainingBuffer;
  private state: PolicyState = { retrains: [] };
  private deployed?: Partial<ModelInfo>;
  private drift?: Partial<DriftReport>;
  private lastRetrainAt = 0;
  private abort?: AbortController;
  private running?: Promise<void>;
  /** The retrain running now: when it started, and the last one before it. */
  private started?: { at: number; previous: number };

  constructor(
    private readonly config: RetrainConfig,
    private readonly dir: string,
    private readonly run: ActionRunner,
    private readonly io: RetrainIo,
    private readonly now: () => number = Date.now,
  ) {}

  private get stateFile(): string {
    return path.join(this.dir, 'state.json');
  }

  async open(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    this.buffer = await TrainingBuffer.open(path.join(this.dir, 'buffer'), { maxBytes: this.config.bufferBytes });
    try {
      const p = JSON.parse(await fsp.readFile(this.stateFile, 'utf8')) as Persisted;
      this.state = { retrains: Array.isArray(p.policy?.retrains) ? p.policy.retrains : [], driftSince: p.policy?.driftSince, pending: p.policy?.pending };
      this.deployed = p.deployed;
      this.lastRetrainAt = p.lastRetrainAt ?? 0;
      // killed during a retrain: it did not happen (its data and the day's count are given back)
      if (p.running) {
        this.undo(p.running);
        await this.save();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.io.warn(`state.json of the retrain trigger could not be read, starting afresh: ${(e as Error).message}`);
    }
    const s = this.buffer.stats();
    this.io.status(`${s.rows} rows buffered${this.state.pending ? `; ${this.state.pending.name} ${this.state.pending.version} waits for approval` : ''}`, 'grey');
  }

  private save(): Promise<void> {
    const { running: _r, ...policy } = this.state;
    const p: Persisted = { policy, deployed: this.deployed, lastRetrainAt: this.lastRetrainAt, running: this.started };
    return writeAtomic(this.stateFile, JSON.stringify(p));
  }

  /** A retrain that failed or was cut short: as if it had not started. */
  private undo(r: { at: number; previous: number }): void {
    this.state.retrains = this.state.retrains.filter((t) => t !== r.at);
    this.lastRetrainAt = r.previous;
  }

  /** One input message: features to buffer, a label, a model (deployed or decided), a drift report, a request. */
  async input(msg: Record<string, unknown>): Promise<void> {
    const features = msg.features as Features | undefined;
    if (msg.model && typeof msg.model === 'object') return this.model(msg);
    const x = asNumberArray(msg.payload);
    if (x && features && Array.isArray(features.names)) this.addFeatures(x, features, msg);
    if (msg.label !== undefined) {
      const t = Number(msg.labelTime ?? msg.timestamp);
      const matched = this.buffer.label({ value: msg.label as number | string, id: typeof msg.labelId === 'string' ? msg.labelId : undefined, t: Number.isFinite(t) ? t : undefined });
      if (!matched) this.io.log(`a label (${String(msg.label)}) found no buffered window to join (by id, or by time within the window's length): not kept`);
    }
    if (msg.drift && typeof msg.drift === 'object') {
      const report = msg.drift as Partial<DriftReport>;
      // a report judged against another model than the one deployed now (it was in flight at a switch) says nothing of this one
      const against = report.baseline?.digest;
      if (against && this.deployed?.digest && against !== this.deployed.digest) return;
      this.drift = report;
      observeDrift(this.state, String(this.drift.state), this.now(), Number(this.drift.since));
      await this.evaluate(false);
    } else if (msg.retrain === true || msg.topic === 'retrain') {
      await this.evaluate(true);
    }
  }

  private addFeatures(x: number[], f: Features, msg: Record<string, unknown>): void {
    const names = f.names as string[];
    const shape = f.shape as [number, number] | undefined;
    const id = typeof msg.windowId === 'string' ? msg.windowId : undefined;
    // the window's start too: a label by time joins the window within its length
    const span = (end: unknown, start: unknown) => {
      const t = Number.isFinite(Number(end)) ? Number(end) : this.now();
      const s = Number(start);
      return Number.isFinite(s) && s <= t ? { t, start: s } : { t };
    };
    if (Array.isArray(shape) && shape.length === 2 && shape[0] * shape[1] === x.length) {
      for (let r = 0; r < shape[0]; r++) this.buffer.add({ ...span(f.windows?.end?.[r], f.windows?.start?.[r]), features: x.slice(r * shape[1], (r + 1) * shape[1]), names });
      return;
    }
    this.buffer.add({ ...span(f.window?.end, f.window?.start), id, features: x, names });
  }

  /** A model message: the model deployed now (approved, or at start), or a candidate's fate. */
  private async model(msg: Record<string, unknown>): Promise<void> {
    const m = msg.model as Partial<ModelInfo>;
    const approval = msg.approval as { decision?: string } | undefined;
    const pending = this.state.pending;
    if (approval && approval.decision !== 'approved') {
      if (pending && (!pending.digest || pending.digest === m.digest) && m.digest !== pending.replaces) {
        this.io.log(`candidate ${pending.name} ${pending.version} was ${approval.decision}: the cooldown runs from its retrain`);
        this.state.pending = undefined;
      }
    } else {
      // a new model deployed: drift so far was judged against the old one, its clock starts again
      if (m.digest !== this.deployed?.digest) observeDrift(this.state, 'ok', this.now());
      this.deployed = { name: m.name, version: m.version, digest: m.digest, path: m.path, metadata: m.metadata, source: m.source, format: 'onnx' };
      // the candidate approved, or a pipeline's new model (not the one deployed when it was asked: registry pull sends that again at every start)
      if (pending && (pending.digest ? pending.digest === m.digest : m.digest !== pending.replaces)) this.state.pending = undefined;
    }
    await this.save();
  }

  /** Asks the policy; acts on "go". */
  private async evaluate(requested: boolean): Promise<void> {
    const names = Array.isArray(this.deployed?.metadata?.features) ? (this.deployed!.metadata!.features as string[]) : undefined;
    const d = decide(this.config.policy, this.state, { now: this.now(), newRows: this.buffer.rowsSince(this.lastRetrainAt, names), requested, state: String(this.drift?.state ?? 'ok') });
    this.io.send(1, { payload: this.io.explain(d), retrain: d, topic: 'retrain decision' });
    this.io.status(this.io.explain(d), d.act ? 'blue' : d.reason === 'noDrift' ? 'green' : 'yellow');
    if (!d.act) return;
    started(this.state, d.at);
    this.started = { at: d.at, previous: this.lastRetrainAt };
    this.lastRetrainAt = d.at;
    await this.save();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.running = this.retrain(d, signal)
      .catch(async (e: unknown) => {
        // a failed retrain used up neither the data nor the day's count
        this.undo(this.started!);
        if (!signal.aborted) this.io.failed(e);
      })
      .finally(async () => {
        this.state.running = false;
        this.started = undefined;
        this.abort = undefined;
        this.running = undefined;
        await this.save().catch((e: Error) => this.io.warn(`state.json of the retrain trigger could not be written: ${e.message}`));
      });
  }

  private async retrain(d: Decision, signal: AbortSignal): Promise<void> {
    try {
      await this.buffer.flush();
      const datasets = path.join(this.dir, 'datasets');
      const names = Array.isArray(this.deployed?.metadata?.features) ? (this.deployed!.metadata!.features as string[]) : undefined;
      // a pipeline or a training service may train on data of its own: no rows, no dataset
      const dataset = this.buffer.stats().rows || this.config.action === 'local' ? await this.buffer.snapshot(datasets, names ? { names } : undefined) : undefined;
      const manifestFile = dataset ? path.join(datasets, path.basename(dataset.file).replace(/\.jsonl$/, '.json')) : '';
      const out = await this.run({ decision: d, dataset, manifestFile, deployed: this.deployed, drift: this.drift, candidatesDir: path.join(this.dir, 'candidates'), signal });
      const model = out.model as Partial<ModelInfo> | undefined;
      // a local candidate waits by its digest; a pipeline's model by being another than the one deployed now
      this.state.pending = { name: model?.name ?? this.deployed?.name ?? 'model', version: model?.version ?? 'from the pipeline', digest: model?.digest, replaces: this.deployed?.digest, since: this.now() };
      await this.save();
      this.io.send(0, { ...out, dataset, drift: this.drift, retrain: d });
      this.io.status(model ? `candidate ${model.name} ${model.version}: waits for approval` : 'request sent: waiting for the new model', 'blue');
    } catch (e) {
      if (signal.aborted) throw new Error('aborted');
      throw e;
    }
  }

  async close(): Promise<void> {
    this.abort?.abort();
    await this.running?.catch(() => undefined);
    await this.buffer?.close();
  }
}
