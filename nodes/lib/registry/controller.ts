/**
 * What a registry pull node does around ModelPuller, without Node-RED: its configuration, one pull
 * at a time (input, poll, announcement), the restore at start, the backoff of an unreachable
 * registry, model messages and the status. The node file wires it to Node-RED.
 */
import * as path from 'path';
import { numberField } from '../node-red/config';
import type { Texts } from '../node-red/i18n';
import { Serial } from '../node-red/serial';
import type { StatusShape } from '../node-red/status';
import { parseAnnouncement } from './announce';
import { Outage } from './outage';
import { ModelPuller, PullError, type PullResult, type RegistrySettings } from './pull';
import { ModelStore } from './store';

export interface RawPullConfig {
  model?: string;
  version?: string;
  sha256?: string;
  pollInterval?: string | number;
  deployOnStart?: boolean;
  keep?: string | number;
  maxMB?: string | number;
  mqttBroker?: string;
  mqttTopic?: string;
}

export interface PullConfig {
  settings: RegistrySettings;
  model: string;
  /** The version asked for (for a URL registry: the expected sha256). */
  version: string;
  pollMs: number;
  keep: number;
  maxBytes: number;
  deployOnStart: boolean;
  /** The announcement topic, when a broker is configured. */
  topic?: string;
}

/** Throws a coded error naming the first setting that cannot work. `brokerError`: undefined for a working broker, '' for none configured. */
export function parsePullConfig(d: RawPullConfig, settings: RegistrySettings | undefined, brokerError?: string): PullConfig {
  if (!settings) throw new PullError('noRegistry', {}, 'expected a registry (an mlops-registry config node)');
  const poll = numberField(d, 'pollInterval', { default: 0, min: 0, max: 7 * 86400 });
  if (poll > 0 && poll < 10) throw new PullError('pollInterval', { value: poll }, `pollInterval must be 0 (off) or at least 10 seconds, got ${poll}`);
  const c: PullConfig = {
    settings,
    model: String(d.model ?? '').trim(),
    version: settings.kind === 'url' ? String(d.sha256 ?? '').trim() : String(d.version ?? '').trim() || 'latest',
    pollMs: poll * 1000,
    keep: numberField(d, 'keep', { default: 5, min: 1, max: 100, integer: true }),
    maxBytes: numberField(d, 'maxMB', { default: 2048, min: 1, max: 65536 }) * 1024 * 1024,
    deployOnStart: d.deployOnStart !== false,
  };
  if (d.mqttBroker) {
    // announcements name an OCI manifest (a reference and its digest), never the model itself
    const kind = settings.kind;
    if (kind !== 'oci' && kind !== 'layout') throw new PullError('announceKind', { kind }, `MQTT announcements name an OCI manifest digest: expected an OCI registry or layout folder, got a ${kind} registry`);
    c.topic = String(d.mqttTopic ?? '').trim();
    if (!c.topic) throw new PullError('noTopic', {}, 'expected the MQTT topic to subscribe to for announcements, e.g. models/announce/#');
    if (brokerError !== undefined) throw new PullError('noBroker', { reason: brokerError }, `expected a working MQTT broker config node${brokerError ? `: ${brokerError}` : ''}`);
  }
  return c;
}

/** One store per pull node, under the user directory. */
export const storeFolder = (nodeId: string) => path.join('mlops-models', 'store', nodeId.replace(/[^A-Za-z0-9_.-]/g, '_'));

/** What the controller needs of its node. */
export interface PullNodeIo {
  tx: Texts;
  send(msg: Record<string, unknown>): void;
  status(s: StatusShape): void;
  log(text: string): void;
  warn(text: string): void;
  error(text: string): void;
}

type Msg = Record<string, unknown> & { version?: unknown; rollback?: unknown };

export class PullController {
  private readonly ready: Promise<ModelPuller>;
  private puller?: ModelPuller;
  private readonly serial = new Serial();
  private readonly outage = new Outage();
  private retry?: NodeJS.Timeout;
  private readonly timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly c: PullConfig,
    storeDir: string,
    private readonly io: PullNodeIo,
  ) {
    this.ready = ModelStore.open(storeDir, { keep: c.keep, maxBytes: c.maxBytes }).then((store) => (this.puller = new ModelPuller(c.settings, c.model, store)));
    void this.ready.then(
      (p) => this.start(p),
      (e) => {
        io.error(io.tx.errorText(e));
        this.failed(e);
      },
    );
    // the pull before still runs, or the registry is out and a retry is due
    if (c.pollMs) this.timer = setInterval(() => !this.serial.busy && this.outage.reason === undefined && this.autoPull(c.version, 'errors.poll'), c.pollMs);
  }

  /** A restart offline deploys the model deployed last, from the store. */
  private start(p: ModelPuller): void {
    if (this.closed) return;
    this.status({ fill: 'grey', shape: 'ring', text: this.io.tx.t('status.ready') + this.unchecked() });
    if (!this.c.deployOnStart) return;
    this.serial.run(() =>
      p.restore().then(
        async (r) => {
          if (!r || this.closed) return;
          await this.emit(p, r, (m) => this.io.send(m));
          this.show(r, 'status.restored');
        },
        (e) => {
          this.io.error(this.io.tx.t('errors.restore', { reason: this.io.tx.errorText(e) }));
          this.failed(e);
        },
      ),
    );
  }

  /** An input message: msg.rollback takes a kept version, else a pull (msg.version overrides); rejects with the reason. */
  input(msg: Msg, send: (m: Record<string, unknown>) => void): Promise<void> {
    return this.ready.then(async (p) => {
      if (msg.rollback !== undefined) {
        if (typeof msg.rollback !== 'string' || !msg.rollback.trim()) throw new PullError('badRollback', { got: typeof msg.rollback }, 'msg.rollback must be a version or digest kept in the local store');
        const r = await p.rollback(msg.rollback);
        await this.emit(p, r, send, msg);
        this.show(r, 'status.rolledBack');
        return;
      }
      if (msg.version !== undefined && (typeof msg.version !== 'string' || !msg.version.trim())) throw new PullError('badVersion', { got: typeof msg.version }, 'msg.version must be a text: a tag, latest, a semver range or a digest');
      await this.pull(p, typeof msg.version === 'string' ? msg.version : this.c.version, true, send, msg).catch((e) => {
        this.failed(e);
        throw e;
      });
    });
  }

  /** Runs a job in turn with the pulls (an input's settle). */
  queue(job: () => void | Promise<unknown>): void {
    this.serial.run(job);
  }

  /** An MQTT announcement: pulls the manifest it names when it is for this repository. */
  announce(payload: Buffer | Uint8Array | string): void {
    let a;
    try {
      a = parseAnnouncement(payload, { repository: this.c.model });
    } catch (e) {
      this.io.warn(this.io.tx.t('errors.announcement', { reason: this.io.tx.errorText(e) }));
      return;
    }
    if (a.ignored) return;
    clearTimeout(this.retry); // the announced model replaces any retry due
    this.autoPull(a.digest, 'errors.announced');
  }

  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    return this.ready.then(
      (p) => p.close(),
      () => undefined,
    );
  }

  /**
   * Pulls nobody waits for (poll, announcement): an unreachable registry leaves the model in use,
   * is retried with backoff, and logged once when it starts and once when it ends.
   */
  private autoPull(want: string, errorKey: string): void {
    const { tx } = this.io;
    this.serial.run(() =>
      this.ready
        .then((p) => this.pull(p, want, false, (m) => this.io.send(m)))
        .then(
          (r) => {
            if (this.outage.succeeded()) this.io.log(tx.t('log.recovered', { model: r.model.name, version: r.model.version }));
          },
          (e) => {
            if (this.closed) return;
            const reason = tx.errorText(e);
            const { log, retryInMs } = this.outage.failed(reason);
            if (log) this.io.error(tx.t(errorKey, { reason }));
            this.failed(e);
            clearTimeout(this.retry);
            this.retry = setTimeout(() => this.autoPull(want, errorKey), retryInMs);
          },
        ),
    );
  }

  /** One pull: emitted when asked for (input), or when it is another model than the one deployed. */
  private async pull(p: ModelPuller, want: string, always: boolean, send: (m: Record<string, unknown>) => void, msg?: Msg): Promise<PullResult> {
    this.status({ fill: 'yellow', shape: 'ring', text: this.io.tx.t('status.pulling') });
    const r = await p.pull(want);
    if (always || r.changed) {
      await this.emit(p, r, send, msg);
      this.show(r, 'status.pulled');
    } else this.show(r, 'status.upToDate');
    return r;
  }

  /** Emits a model message (a new message, or the input one) and records the deploy. */
  private async emit(p: ModelPuller, r: PullResult, send: (m: Record<string, unknown>) => void, msg: Msg = {}): Promise<void> {
    await p.deployed(r);
    send(Object.assign(msg, { model: r.model, registry: r.registry }));
  }

  private status(s: StatusShape): void {
    if (!this.closed) this.io.status(s);
  }

  private unchecked(): string {
    return this.puller && !this.puller.checksSignatures && this.c.settings.kind !== 'url' ? ` · ${this.io.tx.t('status.unsigned')}` : '';
  }

  private show(r: PullResult, key: string): void {
    const { t } = this.io.tx;
    this.status({ fill: 'green', shape: 'dot', text: t(key, { model: r.model.name, version: r.model.version }) + (r.registry.signature.verified ? ` · ${t('status.verified')}` : this.unchecked()) });
  }

  private failed(e: unknown): void {
    this.status({ fill: 'red', shape: 'ring', text: this.io.tx.t('status.failed', { reason: this.io.tx.errorText(e) }) });
  }
}
