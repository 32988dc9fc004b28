/**
 * Reading channels from an OPC UA endpoint: a subscription of grouped monitored items that
 * yields one samples message per publish cycle, or a one-shot read.
 */
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  TimestampsToReturn,
  resolveNodeId,
  type ClientSession,
  type ClientSubscription,
  type MonitoringParametersOptions,
} from 'node-opcua-client';
import type { SampleQuality, SamplesMessage } from '../messages';
import type { CodedError } from '../node-red/errors';
import { numberField, type NumberRule } from '../node-red/config';
import { firstLine, oneOrAll, readError } from './errors';
import type { OpcuaConnection } from './connection';
import { ClientSubscription as ClientSubscriptionClass } from 'node-opcua-client';
import { hasOverflow, toSample, type DataValueLike, type Sample } from './convert';

export interface ChannelSpec {
  /** Friendly name, the key in msg.payload. */
  name: string;
  /** NodeId in the string form, e.g. "ns=1;s=Machine1.Vibration". */
  nodeId: string;
}

export interface SubscriptionSettings {
  samplingIntervalMs: number;
  publishingIntervalMs: number;
  /** Values queued per item between publishes; above 1 every channel value becomes an array. */
  queueSize: number;
  /** Absolute deadband; 0 turns it off. */
  deadband: number;
}

/** Defaults that lose no change: 100 ms sampling, 500 ms publishing, room for 10 values per publish (5 needed). */
export const DEFAULT_SETTINGS: SubscriptionSettings = { samplingIntervalMs: 100, publishingIntervalMs: 500, queueSize: 10, deadband: 0 };

/**
 * Changes a server can sample per item between two publishes (publishing / sampling, rounded
 * up), when the queue holds fewer: the server then keeps `queueSize` of every `perPublish`
 * changes and drops the rest. Undefined when nothing is lost (or sampling is 0, the server's
 * fastest rate, unknown here).
 */
export function queueLoss(s: Pick<SubscriptionSettings, 'samplingIntervalMs' | 'publishingIntervalMs' | 'queueSize'>): { perPublish: number; kept: number } | undefined {
  if (!(s.samplingIntervalMs > 0)) return undefined;
  const perPublish = Math.ceil(s.publishingIntervalMs / s.samplingIntervalMs - 1e-9);
  return s.queueSize < perPublish ? { perPublish, kept: s.queueSize } : undefined;
}

/**
 * Parses channels from the editor (an array of {name, nodeId}) or from text lines
 * "name = nodeId" / bare "nodeId" (the name then is the NodeId's identifier).
 * Throws a coded error naming every problem (CodedErrors when there are several).
 */
export function parseChannels(input: unknown): ChannelSpec[] {
  let list: Array<{ name?: unknown; nodeId?: unknown }>;
  if (typeof input === 'string') {
    list = input
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const eq = l.match(/^([^=;]+?)\s*=\s*(\S.*)$/);
        return eq && !/^(ns|i|s|g|b|nsu)$/.test(eq[1].trim()) ? { name: eq[1].trim(), nodeId: eq[2].trim() } : { nodeId: l };
      });
  } else if (Array.isArray(input)) {
    list = input as Array<{ name?: unknown; nodeId?: unknown }>;
  } else {
    throw readError('channelsNotList', {}, 'channels must be a list of {name, nodeId} or lines "name = ns=1;s=Tag"');
  }
  const problems: CodedError[] = [];
  const seen = new Set<string>();
  const out: ChannelSpec[] = [];
  list.forEach((c, i) => {
    const nodeId = typeof c?.nodeId === 'string' ? c.nodeId.trim() : '';
    if (!nodeId) {
      problems.push(readError('channelNoNodeId', { channel: i + 1 }, `channel ${i + 1}: a NodeId such as "ns=1;s=Machine1.Speed" is required`));
      return;
    }
    let identifier: string;
    try {
      identifier = String(resolveNodeId(nodeId).value);
    } catch {
      problems.push(readError('channelBadNodeId', { channel: i + 1, nodeId }, `channel ${i + 1}: "${nodeId}" is not a valid NodeId (expected e.g. "ns=1;s=Machine1.Speed" or "ns=2;i=1001")`));
      return;
    }
    const name = typeof c.name === 'string' && c.name.trim() ? c.name.trim() : identifier;
    if (seen.has(name)) problems.push(readError('channelDuplicate', { channel: i + 1, name }, `channel ${i + 1}: the name "${name}" is used twice`));
    seen.add(name);
    out.push({ name, nodeId });
  });
  if (problems.length) throw oneOrAll(problems);
  if (out.length === 0) throw readError('noChannels', {}, 'at least one channel (a NodeId to read) is required');
  return out;
}

/** The rules of the subscription settings, by the read node's configuration field. */
export const SETTING_RULES: Record<'samplingInterval' | 'publishingInterval' | 'queueSize' | 'deadband', NumberRule> = {
  samplingInterval: { default: DEFAULT_SETTINGS.samplingIntervalMs, min: 0 },
  publishingInterval: { default: DEFAULT_SETTINGS.publishingIntervalMs, min: 1 },
  queueSize: { default: DEFAULT_SETTINGS.queueSize, min: 1, max: 10000, integer: true },
  deadband: { default: DEFAULT_SETTINGS.deadband, min: 0 },
};

/**
 * Subscription settings from a node's configuration (fields samplingInterval,
 * publishingInterval, queueSize, deadband): an empty field takes its default, a bad value
 * throws a coded error naming the field and the value.
 */
export function settingsFromConfig(def: object): SubscriptionSettings {
  return {
    samplingIntervalMs: numberField(def, 'samplingInterval', SETTING_RULES.samplingInterval),
    publishingIntervalMs: numberField(def, 'publishingInterval', SETTING_RULES.publishingInterval),
    queueSize: numberField(def, 'queueSize', SETTING_RULES.queueSize),
    deadband: numberField(def, 'deadband', SETTING_RULES.deadband),
  };
}

/** Every problem of settings built in code (empty when fine). */
export function validateSettings(s: SubscriptionSettings): CodedError[] {
  const def = { samplingInterval: s.samplingIntervalMs, publishingInterval: s.publishingIntervalMs, queueSize: s.queueSize, deadband: s.deadband };
  const problems: CodedError[] = [];
  for (const [field, rule] of Object.entries(SETTING_RULES)) {
    try {
      numberField({ [field]: Number.isNaN(def[field as keyof typeof def]) ? 'NaN' : def[field as keyof typeof def] }, field, rule);
    } catch (e) {
      problems.push(e as CodedError);
    }
  }
  return problems;
}

/**
 * Builds one samples message from the values of one publish cycle (or one read).
 * With `arrays`, every channel present carries arrays of values, timestamps and qualities
 * in arrival order; otherwise one value per channel (the last, should a cycle hold several).
 */
export function assembleSamples(names: readonly string[], entries: ReadonlyArray<{ index: number; sample: Sample }>, arrays: boolean): SamplesMessage {
  const payload: Record<string, unknown> = {};
  const timestamps: Record<string, number | number[]> = {};
  const serverTimestamps: Record<string, number | number[]> = {};
  const quality: Record<string, SampleQuality | SampleQuality[]> = {};
  for (const { index, sample } of entries) {
    const ch = names[index];
    if (arrays) {
      ((payload[ch] ??= []) as unknown[]).push(sample.value);
      ((timestamps[ch] ??= []) as number[]).push(sample.timestamp);
      ((quality[ch] ??= []) as SampleQuality[]).push(sample.quality);
      if (sample.serverTimestamp !== undefined) ((serverTimestamps[ch] ??= []) as number[]).push(sample.serverTimestamp);
    } else {
      payload[ch] = sample.value;
      timestamps[ch] = sample.timestamp;
      quality[ch] = sample.quality;
      if (sample.serverTimestamp !== undefined) serverTimestamps[ch] = sample.serverTimestamp;
    }
  }
  return { payload, timestamps, serverTimestamps, quality };
}

/** Reads all channels once. */
export async function readOnce(session: ClientSession, channels: readonly ChannelSpec[]): Promise<SamplesMessage> {
  const dataValues = await session.read(channels.map((c) => ({ nodeId: c.nodeId, attributeId: AttributeIds.Value })), 0);
  const now = Date.now();
  const names = channels.map((c) => c.name);
  return assembleSamples(names, dataValues.map((dv, index) => ({ index, sample: toSample(dv as DataValueLike, now) })), false);
}

/**
 * Publishing interval, keep-alive and lifetime counts that fit the session timeout the server
 * granted: the server ends a session that hears nothing for that long, and node-opcua refuses
 * (NODE-OPCUA-W09) a subscription whose keep-alive interval (interval x count) exceeds it.
 * The keep-alive count is at most 10 and at least 3 (node-opcua's minimum); when even 3
 * intervals do not fit, the publishing interval is shortened.
 */
export function fitToSessionTimeout(publishingIntervalMs: number, sessionTimeoutMs: number): { publishingIntervalMs: number; maxKeepAliveCount: number; lifetimeCount: number } {
  const budget = Number.isFinite(sessionTimeoutMs) && sessionTimeoutMs > 0 ? sessionTimeoutMs * 0.75 : Infinity;
  let interval = publishingIntervalMs;
  let keepAlive = Math.min(10, Math.floor(budget / interval));
  if (keepAlive < 3) {
    keepAlive = 3;
    interval = Math.max(1, Math.floor(budget / 3));
  }
  return { publishingIntervalMs: interval, maxKeepAliveCount: keepAlive, lifetimeCount: Math.max(keepAlive * 3, 12 * keepAlive) };
}

/** The values the server gave where they differ from the requested ones. */
export interface Revisions {
  /** What was asked for and what the server granted, by setting; only the ones that differ. */
  changed: Array<{ setting: 'samplingInterval' | 'publishingInterval' | 'queueSize' | 'maxKeepAliveCount'; requested: number; revised: number }>;
}

export interface SubscriptionHandlers {
  samples(msg: SamplesMessage): void;
  /** Monitored items the server refused (e.g. BadNodeIdUnknown), or a subscription failure. */
  problem(e: CodedError): void;
  /** The subscription is (again) delivering: the number of items monitored. */
  active(itemCount: number): void;
  /** The server revised settings (once per subscription created, only when something differs). */
  revised?(r: Revisions): void;
  /** Values lost to queue overflow (Overflow info bit) in this publish, and the total so far. */
  overflow?(lost: number, total: number): void;
}

/**
 * A subscription that follows the connection: created on every new session, repaired by
 * node-opcua across reconnections, and never duplicated (one live subscription at a time).
 */
export class ChannelSubscription {
  private readonly names: string[];
  private subscription?: ClientSubscription;
  private group?: ClientMonitoredItemGroup;
  private handleToIndex = new Map<number, number>();
  private gen = 0;
  private stopped = false;
  /** Values the server dropped from a full queue (one per Overflow bit seen, at least one value each). */
  lost = 0;
  private readonly onSession = (session: ClientSession) => void this.subscribe(session);

  constructor(
    private readonly connection: OpcuaConnection,
    private readonly channels: readonly ChannelSpec[],
    private readonly settings: SubscriptionSettings,
    private readonly handlers: SubscriptionHandlers,
  ) {
    this.names = channels.map((c) => c.name);
  }

  start(): void {
    this.connection.on('session', this.onSession);
    const session = this.connection.session;
    if (session) void this.subscribe(session);
  }

  private monitoringParameters(): MonitoringParametersOptions {
    const s = this.settings;
    return {
      samplingInterval: s.samplingIntervalMs,
      queueSize: s.queueSize,
      discardOldest: true,
      filter: s.deadband > 0
        ? new DataChangeFilter({ trigger: DataChangeTrigger.StatusValue, deadbandType: DeadbandType.Absolute, deadbandValue: s.deadband })
        : null,
    };
  }

  /** True once the items of the current subscription exist on the server. */
  ready = false;

  private async subscribe(session: ClientSession): Promise<void> {
    const gen = ++this.gen;
    this.ready = false;
    // A new session means the previous client is gone with its subscription.
    this.subscription = undefined;
    this.group = undefined;
    try {
      const s = this.settings;
      const fit = fitToSessionTimeout(s.publishingIntervalMs, session.timeout);
      // node-opcua checks the server's revised values against the session timeout again, inside
      // a callback, where a throw would end the process: the counts above fit, a server that
      // revises the interval upwards only gets node-opcua's warning.
      ClientSubscriptionClass.ignoreNextWarning = true;
      const subscription = await session.createSubscription2({
        requestedPublishingInterval: fit.publishingIntervalMs,
        requestedLifetimeCount: fit.lifetimeCount,
        requestedMaxKeepAliveCount: fit.maxKeepAliveCount,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      });
      if (gen !== this.gen || this.stopped) {
        await subscription.terminate().catch(() => undefined);
        return;
      }
      this.subscription = subscription;
      subscription.on('raw_notification', (nm) => this.onNotification(nm));
      subscription.on('internal_error', (err: Error) => this.handlers.problem(readError('subscriptionError', { error: firstLine(err) }, `subscription: ${firstLine(err)}`)));
      const group = ClientMonitoredItemGroup.create(
        subscription,
        this.channels.map((c) => ({ nodeId: c.nodeId, attributeId: AttributeIds.Value })),
        this.monitoringParameters(),
        TimestampsToReturn.Both,
      );
      this.group = group;
      this.handleToIndex.clear();
      await new Promise<void>((resolve, reject) => {
        group.once('initialized', () => resolve());
        group.once('err', (message: string) => reject(new Error(message)));
      });
      if (gen !== this.gen) return;
      this.mapHandles();
      const refused = group.monitoredItems
        .map((item, i) => ({ item, i }))
        .filter(({ item }) => item.statusCode && !item.statusCode.isGood())
        .map(({ item, i }) => `${this.names[i]} (${this.channels[i].nodeId}): ${item.statusCode.name}`);
      if (refused.length) {
        const params = { count: refused.length, total: this.channels.length, items: refused.join(', ') };
        this.handlers.problem(readError('refused', params, `server refused ${params.count} of ${params.total} items: ${params.items}`));
      }
      this.reportRevisions(subscription, group, fit.maxKeepAliveCount);
      this.ready = true;
      this.handlers.active(this.channels.length - refused.length);
    } catch (e) {
      if (gen === this.gen && !this.stopped) this.handlers.problem(readError('subscriptionFailed', { error: firstLine(e) }, `subscription failed: ${firstLine(e)}`));
    }
  }

  private reportRevisions(subscription: ClientSubscription, group: ClientMonitoredItemGroup, keepAlive: number): void {
    const s = this.settings;
    const changed: Revisions['changed'] = [];
    if (subscription.publishingInterval !== s.publishingIntervalMs) changed.push({ setting: 'publishingInterval', requested: s.publishingIntervalMs, revised: subscription.publishingInterval });
    if (subscription.maxKeepAliveCount !== keepAlive) changed.push({ setting: 'maxKeepAliveCount', requested: keepAlive, revised: subscription.maxKeepAliveCount });
    const items = group.monitoredItems.filter((item) => !item.statusCode || item.statusCode.isGood());
    // one line per setting: the largest revision over the items (they share one request)
    const sampling = Math.max(...items.map((i) => i.monitoringParameters?.samplingInterval ?? s.samplingIntervalMs));
    const queue = Math.min(...items.map((i) => i.monitoringParameters?.queueSize ?? s.queueSize));
    if (items.length && sampling !== s.samplingIntervalMs) changed.push({ setting: 'samplingInterval', requested: s.samplingIntervalMs, revised: sampling });
    if (items.length && queue !== s.queueSize) changed.push({ setting: 'queueSize', requested: s.queueSize, revised: queue });
    this.revisions = { changed };
    if (changed.length) this.handlers.revised?.({ changed });
  }

  /** The last revisions the server made (empty before a subscription exists). */
  revisions: Revisions = { changed: [] };

  private mapHandles(): void {
    this.handleToIndex.clear();
    this.group?.monitoredItems.forEach((item, i) => {
      const handle = item.monitoringParameters?.clientHandle;
      if (handle !== undefined) this.handleToIndex.set(handle, i);
    });
  }

  private onNotification(nm: { notificationData?: unknown[] | null }): void {
    const receivedAt = Date.now();
    const entries: Array<{ index: number; sample: Sample }> = [];
    let remapped = false;
    let overflowed = 0;
    for (const data of nm.notificationData ?? []) {
      const items = (data as { monitoredItems?: Array<{ clientHandle: number; value: DataValueLike }> | null }).monitoredItems;
      if (!items) continue;
      for (const mi of items) {
        let index = this.handleToIndex.get(mi.clientHandle);
        if (index === undefined && !remapped) {
          // handles change when node-opcua recreates the items: map them again, once per cycle
          remapped = true;
          this.mapHandles();
          index = this.handleToIndex.get(mi.clientHandle);
        }
        if (index === undefined) continue;
        if (mi.value?.statusCode && hasOverflow(mi.value.statusCode.value >>> 0)) overflowed++;
        entries.push({ index, sample: toSample(mi.value, receivedAt) });
      }
    }
    if (overflowed) {
      this.lost += overflowed;
      this.handlers.overflow?.(overflowed, this.lost);
    }
    if (entries.length) this.handlers.samples(assembleSamples(this.names, entries, this.settings.queueSize > 1));
  }

  /** Deletes the subscription on the server (when reachable) and stops listening. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.gen++;
    this.connection.off('session', this.onSession);
    const subscription = this.subscription;
    this.subscription = undefined;
    this.group = undefined;
    if (subscription) {
      subscription.removeAllListeners('raw_notification');
      await Promise.race([subscription.terminate().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  }
}
