/**
 * registry pull: Node-RED glue. Pulling, verifying and storing live in lib/registry/pull.ts (the
 * sources, formats, signatures and the store beside it); this file reads the configuration, runs
 * one pull at a time (input, poll), emits model messages and shows the status.
 */
import * as path from 'path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { numberField } from './lib/node-red/config';
import { texts } from './lib/node-red/i18n';
import { refuseInput, settle } from './lib/node-red/node';
import { resolveUserPath } from './lib/node-red/paths';
import { Serial } from './lib/node-red/serial';
import type { BrokerConfigNode } from './lib/mqtt/broker';
import { parseAnnouncement } from './lib/registry/announce';
import { Outage } from './lib/registry/outage';
import { ModelPuller, PullError, type PullResult, type RegistryConfig } from './lib/registry/pull';
import { ModelStore } from './lib/registry/store';

const NS = 'mlops-registry-pull';

interface PullDef {
  registry?: string;
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

type Status = { fill: 'green' | 'yellow' | 'red' | 'grey'; shape: 'dot' | 'ring'; text: string };

export = function (RED: NodeAPI) {
  const tx = texts(RED, NS);
  const { t } = tx;

  function MlopsRegistryPull(this: Node, def: NodeDef & PullDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const registry = RED.nodes.getNode(def.registry ?? '') as unknown as RegistryConfig | null;
    let pollMs: number;
    let keep: number;
    let maxBytes: number;
    let broker: BrokerConfigNode | undefined;
    const topic = String(def.mqttTopic ?? '').trim();
    try {
      if (!registry || typeof registry.settings !== 'function') throw new PullError('noRegistry', {}, 'expected a registry (an mlops-registry config node)');
      const poll = numberField(def, 'pollInterval', { default: 0, min: 0, max: 7 * 86400 });
      if (poll > 0 && poll < 10) throw new PullError('pollInterval', { value: poll }, `pollInterval must be 0 (off) or at least 10 seconds, got ${poll}`);
      pollMs = poll * 1000;
      keep = numberField(def, 'keep', { default: 5, min: 1, max: 100, integer: true });
      maxBytes = numberField(def, 'maxMB', { default: 2048, min: 1, max: 65536 }) * 1024 * 1024;
      if (def.mqttBroker) {
        // announcements name an OCI manifest (a reference and its digest), never the model itself
        broker = RED.nodes.getNode(def.mqttBroker) as unknown as BrokerConfigNode | undefined;
        const kind = registry.settings().kind;
        if (kind !== 'oci' && kind !== 'layout') throw new PullError('announceKind', { kind }, `MQTT announcements name an OCI manifest digest: expected an OCI registry or layout folder, got a ${kind} registry`);
        if (!topic) throw new PullError('noTopic', {}, 'expected the MQTT topic to subscribe to for announcements, e.g. models/announce/#');
        if (!broker?.connection) throw new PullError('noBroker', { reason: broker?.configError ?? '' }, `expected a working MQTT broker config node${broker?.configError ? `: ${broker.configError}` : ''}`);
      }
    } catch (e) {
      refuseInput(node, tx, e);
      return;
    }
    const settings = registry.settings();
    const version = settings.kind === 'url' ? String(def.sha256 ?? '').trim() : String(def.version ?? '').trim() || 'latest';
    // one store per pull node, under the user directory (the node id is Node-RED's hex id)
    const storeDir = resolveUserPath(RED, path.join('mlops-models', 'store', node.id.replace(/[^A-Za-z0-9_.-]/g, '_')));
    let closed = false;
    const status = (s: Status) => !closed && node.status(s);
    const unchecked = () => (puller && !puller.checksSignatures && settings.kind !== 'url' ? ` · ${t('status.unsigned')}` : '');
    let puller: ModelPuller | undefined;
    const ready: Promise<ModelPuller> = ModelStore.open(storeDir, { keep, maxBytes }).then((store) => (puller = new ModelPuller(settings, String(def.model ?? ''), store)));
    const serial = new Serial();

    const show = (r: PullResult, key: string) =>
      status({ fill: 'green', shape: 'dot', text: t(key, { model: r.model.name, version: r.model.version }) + (r.registry.signature.verified ? ` · ${t('status.verified')}` : unchecked()) });
    const failed = (e: unknown) => status({ fill: 'red', shape: 'ring', text: t('status.failed', { reason: tx.errorText(e) }) });

    /** Emits a model message (a new message, or the input one) and records the deploy. */
    const emit = async (p: ModelPuller, r: PullResult, send: (m: NodeMessageInFlow) => void, msg: NodeMessageInFlow = {} as NodeMessageInFlow) => {
      await p.deployed(r);
      send(Object.assign(msg, { model: r.model, registry: r.registry }));
    };

    /** One pull: emitted when asked for (input), or when it is another model than the one deployed (poll). */
    const pull = (p: ModelPuller, want: string, always: boolean, send: (m: NodeMessageInFlow) => void, msg?: NodeMessageInFlow) => {
      status({ fill: 'yellow', shape: 'ring', text: t('status.pulling') });
      return p.pull(want).then(async (r) => {
        if (always || r.changed) {
          await emit(p, r, send, msg);
          show(r, 'status.pulled');
        } else show(r, 'status.upToDate');
        return r;
      });
    };

    // A restart offline deploys the model deployed last, from the store.
    void ready.then(
      (p) => {
        if (closed) return;
        status({ fill: 'grey', shape: 'ring', text: t('status.ready') + unchecked() });
        if (def.deployOnStart === false) return;
        serial.run(() =>
          p.restore().then(
            async (r) => {
              if (!r || closed) return;
              await emit(p, r, (m) => node.send(m));
              show(r, 'status.restored');
            },
            (e) => {
              node.error(t('errors.restore', { reason: tx.errorText(e) }));
              failed(e);
            },
          ),
        );
      },
      (e) => {
        node.error(tx.errorText(e));
        failed(e);
      },
    );

    // Pulls nobody waits for (poll, announcement): an unreachable registry leaves the model in use,
    // is retried with backoff, and logged once when it starts and once when it ends.
    const outage = new Outage();
    let retry: NodeJS.Timeout | undefined;
    const autoPull = (want: string, errorKey: string) =>
      serial.run(() =>
        ready
          .then((p) => pull(p, want, false, (m) => node.send(m)))
          .then(
            (r) => {
              if (outage.succeeded()) node.log(t('log.recovered', { model: r.model.name, version: r.model.version }));
            },
            (e) => {
              if (closed) return;
              const reason = tx.errorText(e);
              const { log, retryInMs } = outage.failed(reason);
              if (log) node.error(t(errorKey, { reason }));
              failed(e);
              clearTimeout(retry);
              retry = setTimeout(() => autoPull(want, errorKey), retryInMs);
            },
          ),
      );
    const timer = pollMs
      ? setInterval(() => {
          // the pull before still runs, or the registry is out and a retry is due
          if (!serial.busy && outage.reason === undefined) autoPull(version, 'errors.poll');
        }, pollMs)
      : undefined;

    // An announcement ("model X v7 released") pulls the manifest it names, when it is for this repository.
    const connection = broker?.connection;
    if (connection) {
      connection.register(node);
      connection.subscribe(
        topic,
        1,
        (_topic, payload) => {
          let a;
          try {
            a = parseAnnouncement(payload, { repository: String(def.model ?? '').trim() });
          } catch (e) {
            node.warn(t('errors.announcement', { reason: tx.errorText(e) }));
            return;
          }
          if (a.ignored) return;
          clearTimeout(retry); // the announced model replaces any retry due
          autoPull(a.digest, 'errors.announced');
        },
        node,
      );
    }

    node.on('input', (msg: NodeMessageInFlow, send: (m: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      const m = msg as NodeMessageInFlow & { version?: unknown; rollback?: unknown };
      serial.run(
        () =>
          settle(tx, done, async () => {
            const p = await ready;
            if (m.rollback !== undefined) {
              if (typeof m.rollback !== 'string' || !m.rollback.trim()) throw new PullError('badRollback', { got: typeof m.rollback }, 'msg.rollback must be a version or digest kept in the local store');
              const r = await p.rollback(m.rollback);
              await emit(p, r, send, msg);
              show(r, 'status.rolledBack');
              return;
            }
            if (m.version !== undefined && (typeof m.version !== 'string' || !m.version.trim())) throw new PullError('badVersion', { got: typeof m.version }, 'msg.version must be a text: a tag, latest, a semver range or a digest');
            await pull(p, typeof m.version === 'string' ? m.version : version, true, send, msg).catch((e) => {
              failed(e);
              throw e;
            });
          }),
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      if (timer) clearInterval(timer);
      clearTimeout(retry);
      if (connection) connection.unsubscribe(topic, node);
      ready
        .then((p) => p.close(), () => undefined)
        .then(() => (connection ? connection.deregister(node) : undefined))
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType(NS, MlopsRegistryPull as never);
};
