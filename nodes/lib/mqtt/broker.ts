/**
 * One shared MQTT connection per broker config node (one MQTT.js client), reference-counted by
 * the nodes that use it, like the core `mqtt-broker` node: the first `register` connects, the
 * last `deregister` (with autoDisconnect, i.e. the user was removed or the flow stopped) ends the
 * client. Subscriptions are kept here per topic filter and owner, so one owner's handler is
 * removed without touching the others; the client gets one 'message' listener of ours and every
 * listener this class adds to the client is tracked and removed one by one (never
 * removeAllListeners, which would take MQTT.js's own listeners too).
 *
 * Reconnection: MQTT.js reconnects forever every `reconnectPeriodMs` (also after the broker
 * refused the connection, e.g. bad credentials, so a fixed password file is picked up). With a
 * clean session the broker forgets subscriptions, so every (re)connect subscribes all topic
 * filters again (MQTT.js's own resubscribe is off, so nothing is subscribed twice). Nothing here
 * throws into the caller's event loop: failures become state changes ('state' events).
 */
import { EventEmitter } from 'events';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { CodedError, oneOrAll, type Params } from '../node-red/errors';

/** The broker node's catalog (locales/<lang>/mlops-mqtt-broker.json, "errors"). */
export const BROKER_NS = 'mlops-mqtt-broker';

export class BrokerError extends CodedError {
  constructor(code: string, params: Params, message: string) {
    super(code, params, message, BROKER_NS);
  }
}

export type QoS = 0 | 1 | 2;

export interface BrokerOptions {
  /** mqtt://, mqtts://, ws:// or wss:// with a host and an optional port (and path for ws). */
  url: string;
  /** Empty: a stable id from nodeId and the host name (see defaultClientId). */
  clientId?: string;
  /** The config node's id, for the default client id. */
  nodeId?: string;
  /** PEM file of the CA that signed the broker's certificate (mqtts/wss); the system CAs otherwise. */
  caFile?: string;
  /** Verify the broker's certificate (on unless explicitly turned off). */
  rejectUnauthorized?: boolean;
  username?: string;
  password?: string;
  /** Seconds; 0 turns keepalive off. */
  keepalive?: number;
  cleanSession?: boolean;
  /** Delay between reconnection attempts (MQTT.js reconnectPeriod). */
  reconnectPeriodMs?: number;
  /** How long one connection attempt may take. */
  connectTimeoutMs?: number;
  /** Longest wait for a clean end (then the client is ended by force); within Node-RED's 15 s close timeout. */
  endTimeoutMs?: number;
}

export type BrokerState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'error';

export interface BrokerStateInfo {
  state: BrokerState;
  /** Why (state error, and reconnecting when known), as a coded error for the user's language. */
  reason?: CodedError;
  /** The same in English, for logs. */
  detail?: string;
}

/** What a node using the broker finds on its config node. */
export interface BrokerConfigNode {
  /** Undefined when the configuration is invalid; configError then says why. */
  connection?: MqttBroker;
  configError?: string;
  /** A state's text in the user's language (the broker node owns the catalog). */
  describe?(info: BrokerStateInfo): string;
}

export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

export const URL_PATTERN = /^(mqtts?|wss?):\/\/(\[[0-9A-Fa-f:.]+\]|[^/\s:@[\]]+)(:\d{1,5})?(\/\S*)?$/;
const TLS_PROTOCOLS = new Set(['mqtts', 'wss']);
/** MQTT 3.1.1 servers must accept ids of 1 to 23 characters [0-9a-zA-Z]; mosquitto takes more. */
const MAX_CLIENT_ID = 65535;

/**
 * The default client id: stable for one config node on one machine ("mlops-" and 16 hex of the
 * sha256 of host name and node id, 22 characters). The node id alone would be the same on every
 * gateway of a fleet running the same flow, and a broker drops a client when another connects
 * with its id.
 */
export function defaultClientId(nodeId: string, host = os.hostname()): string {
  return `mlops-${createHash('sha256').update(`${host}\0${nodeId}`).digest('hex').slice(0, 16)}`;
}

/** Every problem of the options as a coded error (empty when fine). */
export function validateBrokerOptions(o: Partial<BrokerOptions>): CodedError[] {
  const errors: CodedError[] = [];
  const url = String(o.url ?? '');
  const m = URL_PATTERN.exec(url);
  const port = m?.[3] ? Number(m[3].slice(1)) : 1;
  if (!m || port < 1 || port > 65535) {
    errors.push(new BrokerError('badUrl', { url }, `broker URL must look like mqtt://host:1883, mqtts://host:8883, ws://host:8080/mqtt or wss://host/mqtt, got "${url}"`));
  }
  if (o.clientId !== undefined && (typeof o.clientId !== 'string' || o.clientId.length > MAX_CLIENT_ID || /[\u0000-\u001f]/.test(o.clientId))) {
    errors.push(new BrokerError('badClientId', {}, 'client id must be text without control characters (up to 23 letters and digits work with every broker)'));
  }
  const ka = o.keepalive ?? 60;
  if (!Number.isInteger(ka) || ka < 0 || ka > 65535) {
    errors.push(new BrokerError('badKeepalive', { got: String(o.keepalive) }, `keepalive must be a whole number of seconds from 0 to 65535, got ${o.keepalive}`));
  }
  if (o.password && !o.username) errors.push(new BrokerError('noUsername', {}, 'a password needs a username'));
  if (o.caFile && m && !TLS_PROTOCOLS.has(m[1])) {
    errors.push(new BrokerError('caWithoutTls', { url }, `a CA file needs an mqtts:// or wss:// URL, got "${url}"`));
  }
  return errors;
}

/** MQTT topic filter matching (+ one level, # the rest; $-topics only by filters starting with $; $share/<group>/ stripped). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;
  if (topic.startsWith('$') && !f.startsWith('$')) return false;
  const fl = f.split('/');
  const tl = topic.split('/');
  for (let i = 0; i < fl.length; i++) {
    if (fl[i] === '#') return i === fl.length - 1;
    if (i >= tl.length) return false;
    if (fl[i] !== '+' && fl[i] !== tl[i]) return false;
  }
  return fl.length === tl.length;
}

/** A topic filter as MQTT allows it; a topic name to publish to (no wildcards). */
export function checkTopic(topic: unknown, filter: boolean): string {
  const t = typeof topic === 'string' ? topic : '';
  const levels = t.split('/');
  const ok =
    t.length > 0 &&
    Buffer.byteLength(t) <= 65535 &&
    !t.includes('\u0000') &&
    (filter ? levels.every((l, i) => (l.includes('#') ? l === '#' && i === levels.length - 1 : !l.includes('+') || l === '+')) : !/[+#]/.test(t));
  if (!ok) {
    throw filter
      ? new BrokerError('badFilter', { topic: String(topic) }, `expected a topic filter (levels separated by "/", "+" or a final "#" as whole levels), got ${JSON.stringify(topic)}`)
      : new BrokerError('badTopic', { topic: String(topic) }, `expected a topic to publish to (not empty, no "+" or "#"), got ${JSON.stringify(topic)}`);
  }
  return t;
}

function checkQos(qos: unknown): QoS {
  if (qos === 0 || qos === 1 || qos === 2) return qos;
  throw new BrokerError('badQos', { got: String(qos) }, `QoS must be 0, 1 or 2, got ${String(qos)}`);
}

/** A connection failure in the user's language: the CONNACK refusals by code, anything else by its message. */
export function connectionError(err: Error & { code?: unknown }): BrokerError {
  const code = err.code;
  const error = String(err.message ?? err).split('\n')[0];
  if (code === 4 || code === 134) return new BrokerError('badCredentials', { error }, `the broker refused the user name or password (${error}): check the credentials`);
  if (code === 5 || code === 135) return new BrokerError('notAuthorized', { error }, `the broker refused this client (${error}): check the user name and password, and whether the broker lets this user connect`);
  if (code === 2 || code === 133) return new BrokerError('badIdentifier', { error }, `the broker refused the client id (${error})`);
  if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME/i.test(code)) {
    return new BrokerError('tls', { error }, `the broker's certificate was not accepted (${error}): give the CA file that signed it`);
  }
  return new BrokerError('failed', { error }, error);
}

interface Subscription {
  qos: QoS;
  handler: MessageHandler;
  /** Topic -> sha1 of the last payload this owner got on it: a retained copy of it is not delivered again. */
  last: Map<string, string>;
}

/** Topics remembered per owner and filter for the retained-message check (oldest forgotten first). */
const LAST_SEEN_MAX = 1024;

export class MqttBroker extends EventEmitter {
  readonly url: string;
  readonly clientId: string;
  private readonly clientOptions: IClientOptions;
  private readonly endTimeoutMs: number;
  private readonly users = new Set<object>();
  /** Topic filter -> owner -> subscription. */
  private readonly subscriptions = new Map<string, Map<object, Subscription>>();
  private client?: MqttClient;
  /** Listeners this class put on the client, removed one by one. */
  private clientListeners: Array<{ event: string; listener: (...args: any[]) => void }> = [];
  private info: BrokerStateInfo = { state: 'idle' };
  private ending?: Promise<void>;

  constructor(options: BrokerOptions) {
    super();
    const problems = validateBrokerOptions(options);
    if (problems.length) throw oneOrAll(problems);
    this.url = options.url;
    this.clientId = options.clientId || defaultClientId(options.nodeId ?? 'mlops');
    const protocol = options.url.slice(0, options.url.indexOf(':'));
    let ca: Buffer | undefined;
    if (options.caFile) {
      try {
        ca = fs.readFileSync(options.caFile);
      } catch (e) {
        const error = (e as Error).message;
        throw new BrokerError('caFile', { file: options.caFile, error }, `cannot read the CA file ${options.caFile}: ${error}`);
      }
    }
    this.endTimeoutMs = options.endTimeoutMs ?? 3000;
    this.clientOptions = {
      clientId: this.clientId,
      username: options.username || undefined,
      password: options.username ? options.password ?? '' : undefined,
      keepalive: options.keepalive ?? 60,
      clean: options.cleanSession ?? true,
      reconnectPeriod: options.reconnectPeriodMs ?? 5000,
      connectTimeout: options.connectTimeoutMs ?? 10000,
      reconnectOnConnackError: true,
      resubscribe: false,
      protocolVersion: 4,
      ...(TLS_PROTOCOLS.has(protocol) ? { rejectUnauthorized: options.rejectUnauthorized !== false, ...(ca ? { ca } : {}) } : {}),
    };
  }

  get state(): BrokerStateInfo {
    return this.info;
  }

  get connected(): boolean {
    return this.info.state === 'connected';
  }

  /** How many nodes use this connection. */
  get userCount(): number {
    return this.users.size;
  }

  /** The topic filters subscribed now and how many owners each has. */
  subscribed(): Record<string, number> {
    return Object.fromEntries([...this.subscriptions].map(([t, owners]) => [t, owners.size]));
  }

  /** A node starts using the connection: the first one connects. */
  register(user: object): void {
    this.users.add(user);
    if (this.users.size === 1 && !this.client) this.connect();
  }

  /**
   * A node stops using the connection; its subscriptions go with it. When it was the last user
   * and `autoDisconnect` is set (the core node passes `removed`; here the default), the client
   * ends; `done` is called once that is over.
   */
  deregister(user: object, done?: () => void, autoDisconnect = true): Promise<void> {
    this.users.delete(user);
    for (const topic of [...this.subscriptions.keys()]) this.unsubscribe(topic, user);
    const p = autoDisconnect && this.users.size === 0 ? this.end() : Promise.resolve();
    return p.then(() => done?.());
  }

  /**
   * Adds `owner`'s handler for a topic filter (replacing its previous handler for the same
   * filter); the broker is asked once per filter, with the highest QoS its owners want.
   *
   * Retained messages: an owner joining a filter others subscribed already gets them too (the
   * filter is subscribed again, so the broker sends them again), and an owner never gets a
   * retained message identical to the last message it got on that topic (the copies a later
   * owner or a reconnection brings): an announcement retained on the broker arrives once per node.
   */
  subscribe(topic: string, qos: QoS, handler: MessageHandler, owner: object): void {
    checkTopic(topic, true);
    checkQos(qos);
    let owners = this.subscriptions.get(topic);
    const isNew = !owners?.has(owner);
    const before = owners ? maxQos(owners) : -1;
    if (!owners) this.subscriptions.set(topic, (owners = new Map()));
    owners.set(owner, { qos, handler, last: owners.get(owner)?.last ?? new Map() });
    if ((isNew || maxQos(owners) !== before) && this.client?.connected) this.client.subscribe(topic, { qos: maxQos(owners) }, (err) => err && this.failed(err));
  }

  /** Removes only `owner`'s handler for the filter; the broker subscription ends with the last one. */
  unsubscribe(topic: string, owner: object): void {
    const owners = this.subscriptions.get(topic);
    if (!owners || !owners.delete(owner)) return;
    if (owners.size === 0) {
      this.subscriptions.delete(topic);
      if (this.client?.connected) this.client.unsubscribe(topic, () => undefined);
    }
  }

  /** Publishes; refused (with the state) while not connected, so nothing piles up offline. */
  publish(topic: string, payload: string | Buffer, o: { qos?: QoS; retain?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        checkTopic(topic, false);
        const qos = checkQos(o.qos ?? 0);
        const client = this.client;
        if (!client || !client.connected) {
          const state = this.info.state;
          throw new BrokerError('notConnected', { url: this.url, state }, `not connected to the broker ${this.url} (state ${state}): publish again once connected`);
        }
        client.publish(topic, payload, { qos, retain: o.retain === true }, (err) => (err ? reject(connectionError(err)) : resolve()));
      } catch (e) {
        reject(e);
      }
    });
  }

  /** Ends the client whatever the users (the config node closes); resolves within endTimeoutMs. */
  close(): Promise<void> {
    this.users.clear();
    this.subscriptions.clear();
    return this.end();
  }

  private connect(): void {
    this.setState({ state: 'connecting' });
    const client = mqtt.connect(this.url, this.clientOptions);
    this.client = client;
    this.on_(client, 'connect', () => {
      this.setState({ state: 'connected' });
      this.resubscribe(client);
    });
    this.on_(client, 'reconnect', () => {
      // a refusal (credentials, TLS) stays the state while retrying: it needs a person
      if (this.info.state !== 'error') this.setState({ state: 'reconnecting', reason: this.info.reason, detail: this.info.detail });
    });
    this.on_(client, 'close', () => {
      if (this.info.state === 'connected') this.setState({ state: 'reconnecting' });
    });
    this.on_(client, 'error', (err: Error) => this.failed(err));
    this.on_(client, 'message', (topic: string, payload: Buffer, packet: IPublishPacket) => this.dispatch(topic, payload, packet));
  }

  private resubscribe(client: MqttClient): void {
    for (const [topic, owners] of this.subscriptions) {
      client.subscribe(topic, { qos: maxQos(owners) }, (err) => err && this.failed(err));
    }
  }

  private dispatch(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const hash = createHash('sha1').update(payload).digest('base64');
    for (const [filter, owners] of this.subscriptions) {
      if (!topicMatches(filter, topic)) continue;
      for (const s of [...owners.values()]) {
        if (packet.retain && s.last.get(topic) === hash) continue;
        s.last.delete(topic);
        s.last.set(topic, hash);
        if (s.last.size > LAST_SEEN_MAX) s.last.delete(s.last.keys().next().value as string);
        try {
          s.handler(topic, payload, packet);
        } catch (e) {
          this.emit('handlerError', e);
        }
      }
    }
  }

  private failed(err: Error): void {
    const reason = connectionError(err);
    this.setState({ state: 'error', reason, detail: reason.message });
  }

  private end(): Promise<void> {
    const client = this.client;
    if (!client) return this.ending ?? Promise.resolve();
    this.client = undefined;
    this.ending = new Promise<void>((resolve) => {
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        for (const { event, listener } of this.clientListeners) (client as unknown as EventEmitter).removeListener(event, listener);
        this.clientListeners = [];
        // MQTT.js may still emit an error while ending: a listener of no consequence keeps it from throwing
        client.on('error', () => undefined);
        this.ending = undefined;
        if (!this.client) this.setState({ state: 'disconnected' });
        resolve();
      };
      const timer = setTimeout(() => client.end(true, {}, finish), this.endTimeoutMs);
      // A clean DISCONNECT when connected. Not connected (connecting to a broker that does not
      // answer, between attempts), MQTT.js's clean end leaves the socket open until the other
      // side closes it: destroy it.
      client.end(!client.connected, {}, finish);
    });
    return this.ending;
  }

  private on_(client: MqttClient, event: string, listener: (...args: any[]) => void): void {
    this.clientListeners.push({ event, listener });
    (client as unknown as EventEmitter).on(event, listener);
  }

  private setState(info: BrokerStateInfo): void {
    const same = info.state === this.info.state && info.reason?.message === this.info.reason?.message;
    this.info = info;
    if (!same) this.emit('state', info);
  }
}

function maxQos(owners: Map<object, Subscription>): QoS {
  let q: QoS = 0;
  for (const s of owners.values()) if (s.qos > q) q = s.qos;
  return q;
}
