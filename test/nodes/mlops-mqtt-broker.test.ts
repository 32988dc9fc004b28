/**
 * mqtt broker config node inside Node-RED (node-red-node-test-helper) against a real Debian
 * mosquitto started by each test on 127.0.0.1 (test/support/mosquitto.ts), no mocks: users share
 * one client connection (counted by the broker's $SYS/broker/clients/connected and its
 * connection log), a message reaches every subscriber, deregistering removes one user's handler
 * only, the last user ends the connection, redeploys leave no client behind, wrong credentials
 * give an error state, and a killed broker is reconnected to with the subscriptions back.
 *
 * The users are a small test node type below that uses the broker as registry pull and retrain
 * trigger do: register on start, subscribe, show the broker's state, deregister on close.
 */
import { expect } from 'chai';
import * as net from 'net';
import mqtt, { type MqttClient } from 'mqtt';
import type { NodeAPI } from 'node-red';
import { helper, sleep, stopHelper, waitFor } from '../support/red';
import { Mosquitto } from '../support/mosquitto';
import { MqttBroker as MqttBrokerClass, checkTopic, defaultClientId, topicMatches, validateBrokerOptions, type BrokerConfigNode, type BrokerStateInfo, type MqttBroker } from '../../nodes/lib/mqtt/broker';
import brokerNode = require('../../nodes/mlops-mqtt-broker');

const TOPIC = 'mlops/announce/bearing-fault';

type UserNode = {
  id: string;
  received: Array<{ topic: string; payload: string }>;
  lastStatus?: { fill?: string; text?: string };
  broker?: BrokerConfigNode;
};

/** A node that uses the broker: register, subscribe to its topic, show the state, deregister on close. */
function userNodeType(RED: NodeAPI) {
  function TestMqttUser(this: any, config: { broker: string; topic: string }) {
    RED.nodes.createNode(this, config as never);
    const node = this as UserNode & { status(s: unknown): void; on(e: string, f: (...a: any[]) => void): void };
    node.received = [];
    const broker = RED.nodes.getNode(config.broker) as unknown as BrokerConfigNode | null;
    node.broker = broker ?? undefined;
    const connection = broker?.connection;
    if (!connection) {
      node.status({ fill: 'red', shape: 'ring', text: broker?.configError ?? 'no broker' });
      return;
    }
    const show = (info: BrokerStateInfo) => {
      node.lastStatus = { fill: info.state === 'connected' ? 'green' : info.state === 'error' ? 'red' : 'yellow', text: broker!.describe!(info) };
      node.status(node.lastStatus);
    };
    connection.on('state', show);
    connection.register(node);
    connection.subscribe(config.topic, 1, (topic, payload) => node.received.push({ topic, payload: payload.toString() }), node);
    show(connection.state);
    node.on('close', (removed: boolean, done: () => void) => {
      connection.removeListener('state', show);
      void connection.deregister(node, done, true);
    });
  }
  RED.nodes.registerType('test-mqtt-user', TestMqttUser as never);
}

/** A client of the test's own, counting the broker's clients through $SYS (mosquitto publishes it every second, retained). */
class Probe {
  connected = -1;
  private constructor(readonly client: MqttClient) {}
  static async open(url: string): Promise<Probe> {
    const client = await mqtt.connectAsync(url, { clientId: `probe-${process.pid}-${Date.now()}`, reconnectPeriod: 200 });
    const p = new Probe(client);
    client.on('message', (topic, payload) => {
      if (topic === '$SYS/broker/clients/connected') p.connected = Number(payload.toString());
    });
    await client.subscribeAsync('$SYS/broker/clients/connected');
    return p;
  }
  /** Waits until the broker counts `n` clients besides this probe. */
  others(n: number, timeoutMs = 8000): Promise<number> {
    return waitFor(`${n} client(s) besides the probe at the broker (now ${this.connected - 1})`, () => (this.connected === n + 1 ? n : undefined), timeoutMs);
  }
  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

function flow(brokerProps: Record<string, unknown> = {}, users = ['u1', 'u2']) {
  return [
    { id: 'b1', type: 'mlops-mqtt-broker', name: 'test broker', url: '', clientId: '', caFile: '', keepalive: 60, cleanSession: true, ...brokerProps },
    ...users.map((id) => ({ id, type: 'test-mqtt-user', broker: 'b1', topic: TOPIC })),
  ];
}

const newClientLines = (m: Mosquitto, clientId: string) => m.output.split('\n').filter((l) => l.includes('New client connected') && l.includes(` as ${clientId} `)).length;

describe('mlops-mqtt-broker (Node-RED, real mosquitto)', function () {
  this.timeout(60000);
  let mosquitto: Mosquitto | undefined;
  let probe: Probe | undefined;

  beforeEach(() => {
    helper.settings({ mqttReconnectTime: 250 });
  });

  afterEach(async () => {
    await stopHelper();
    await probe?.close();
    probe = undefined;
    await mosquitto?.stop();
    mosquitto = undefined;
  });

  const loaded = async (props: Record<string, unknown> = {}, users?: string[], credentials?: Record<string, unknown>) => {
    await helper.load([brokerNode, userNodeType] as never, flow(props, users), (credentials ?? {}) as never);
    return {
      broker: helper.getNode('b1') as unknown as BrokerConfigNode & { connection: MqttBroker },
      user: (id: string) => helper.getNode(id) as unknown as UserNode,
    };
  };

  it('two users share one client connection; a message reaches every subscriber; deregistering one removes only its handler; the last one ends the connection', async () => {
    mosquitto = await Mosquitto.start();
    probe = await Probe.open(mosquitto.url);
    await probe.others(0);
    const { broker, user } = await loaded({ url: mosquitto.url });
    const c = broker.connection;
    await waitFor('connected', () => (c.state.state === 'connected' ? true : undefined));
    expect(c.userCount).to.equal(2);
    expect(c.clientId).to.match(/^mlops-[0-9a-f]{16}$/);
    expect(await probe.others(1), 'one client connection for both users').to.equal(1);
    expect(newClientLines(mosquitto, c.clientId), mosquitto.output).to.equal(1);
    expect(user('u1').lastStatus).to.deep.equal({ fill: 'green', text: 'connected' });
    expect(c.subscribed()).to.deep.equal({ [TOPIC]: 2 });

    await probe.client.publishAsync(TOPIC, '{"reference":"models/bearing-fault:1.3.0"}', { qos: 1 });
    await waitFor('both users got the message', () => (user('u1').received.length === 1 && user('u2').received.length === 1 ? true : undefined));
    expect(user('u1').received[0]).to.deep.equal({ topic: TOPIC, payload: '{"reference":"models/bearing-fault:1.3.0"}' });
    await probe.client.publishAsync('mlops/other', 'x', { qos: 1 });

    // u1 stops using the connection: its handler goes, u2's stays, the client stays connected
    await c.deregister(user('u1'), undefined, true);
    expect(c.userCount).to.equal(1);
    expect(c.subscribed()).to.deep.equal({ [TOPIC]: 1 });
    expect(c.state.state).to.equal('connected');
    await probe.client.publishAsync(TOPIC, 'second', { qos: 1 });
    await waitFor('u2 got the second message', () => (user('u2').received.length === 2 ? true : undefined));
    await sleep(200);
    expect(user('u1').received.map((m) => m.payload), 'u1 deregistered: nothing more').to.deep.equal(['{"reference":"models/bearing-fault:1.3.0"}']);
    expect(user('u2').received.map((m) => m.topic), 'no message of another topic').to.deep.equal([TOPIC, TOPIC]);
    expect(await probe.others(1)).to.equal(1);

    // the last user ends the connection
    let done = false;
    await c.deregister(user('u2'), () => (done = true), true);
    expect(done, 'done called').to.equal(true);
    expect(c.state.state).to.equal('disconnected');
    expect(c.userCount).to.equal(0);
    expect(await probe.others(0), 'the client left the broker').to.equal(0);
  });

  it('a retained announcement reaches each user once: also a user that joins later, without a second copy for the others', async () => {
    mosquitto = await Mosquitto.start();
    probe = await Probe.open(mosquitto.url);
    await probe.client.publishAsync(TOPIC, 'retained v7', { qos: 1, retain: true });
    const { broker, user } = await loaded({ url: mosquitto.url }, ['u1']);
    const c = broker.connection;
    await waitFor('u1 got the retained message', () => (user('u1').received.length === 1 ? true : undefined));
    // a second node subscribes the same filter while connected
    const late = { received: [] as string[] };
    const early = { received: [] as string[] };
    c.register(late);
    c.subscribe(TOPIC, 1, (_t, p) => late.received.push(p.toString()), late);
    await waitFor('the late user got the retained message', () => (late.received.length === 1 ? true : undefined));
    c.register(early); // a third joins on another filter matching the topic
    c.subscribe('mlops/announce/+', 0, (_t, p) => early.received.push(p.toString()), early);
    await waitFor('the wildcard user got the retained message', () => (early.received.length === 1 ? true : undefined));
    await probe.client.publishAsync(TOPIC, 'live v8', { qos: 1 });
    await waitFor('everyone got the live message', () => (user('u1').received.length === 2 && late.received.length === 2 && early.received.length === 2 ? true : undefined));
    await sleep(200);
    expect(user('u1').received.map((m) => m.payload), 'u1: no second copy of the retained message').to.deep.equal(['retained v7', 'live v8']);
    expect(late.received).to.deep.equal(['retained v7', 'live v8']);
    expect(early.received).to.deep.equal(['retained v7', 'live v8']);
    expect(c.subscribed()).to.deep.equal({ [TOPIC]: 2, 'mlops/announce/+': 1 });
    await c.deregister(late);
    await c.deregister(early);
    await probe.client.publishAsync(TOPIC, '', { qos: 1, retain: true }); // clears the retained message
  });

  it('20 redeploys leave no client behind (one connection at the broker, each ended cleanly)', async () => {
    mosquitto = await Mosquitto.start();
    probe = await Probe.open(mosquitto.url);
    const { broker } = await loaded({ url: mosquitto.url });
    const clientId = broker.connection.clientId;
    await waitFor('connected', () => (broker.connection.state.state === 'connected' ? true : undefined));
    const f = flow({ url: mosquitto.url });
    for (let i = 0; i < 20; i++) {
      await helper.setFlows(f as never, 'full');
      const b = helper.getNode('b1') as unknown as BrokerConfigNode & { connection: MqttBroker };
      await waitFor(`connected after redeploy ${i + 1}`, () => (b.connection.state.state === 'connected' ? true : undefined));
    }
    expect(await probe.others(1), 'one client after 20 redeploys').to.equal(1);
    await waitFor('21 connections logged', () => (newClientLines(mosquitto!, clientId) === 21 ? true : undefined), 5000).catch(() => undefined);
    expect(newClientLines(mosquitto, clientId), mosquitto.output).to.equal(21);
    // each old client said goodbye itself: the broker never had to drop one for a new one with its id
    expect(mosquitto.output, mosquitto.output).to.not.match(/already connected, closing old connection/);
    expect(mosquitto.output.split('\n').filter((l) => l.includes(`Client ${clientId} disconnected.`)).length, mosquitto.output).to.equal(20);
    await helper.unload();
    expect(await probe.others(0), 'none after the flow stopped').to.equal(0);
  });

  it('wrong credentials: an error state saying the broker refused them; right ones connect', async () => {
    mosquitto = await Mosquitto.start({ user: { username: 'gateway', password: 'right-password' } });
    const { broker, user } = await loaded({ url: mosquitto.url }, ['u1'], { b1: { username: 'gateway', password: 'wrong-password' } });
    const state = await waitFor('error state', () => (broker.connection.state.state === 'error' ? broker.connection.state : undefined));
    // mosquitto 2 answers a wrong password on MQTT 3.1.1 with "not authorized" (return code 5)
    expect(state.reason?.code).to.equal('notAuthorized');
    expect(user('u1').lastStatus?.fill).to.equal('red');
    expect(user('u1').lastStatus?.text).to.equal('the broker refused this client (Connection refused: Not authorized): check the user name and password, and whether the broker lets this user connect');
    // retries stay an error (it needs a person), and are not logged at every attempt
    await sleep(1000);
    expect(broker.connection.state.state).to.equal('error');
    const warn = (broker as unknown as { warn: { args: unknown[][] } }).warn;
    expect(warn.args.length, JSON.stringify(warn.args)).to.equal(1);
    await helper.unload();

    const ok = await loaded({ url: mosquitto.url }, ['u1'], { b1: { username: 'gateway', password: 'right-password' } });
    await waitFor('connected with the right password', () => (ok.broker.connection.state.state === 'connected' ? true : undefined));
    expect(ok.user('u1').lastStatus).to.deep.equal({ fill: 'green', text: 'connected' });
  });

  it('mqtts: the broker certificate is verified (refused without its CA file, connected with it)', async () => {
    mosquitto = await Mosquitto.start({ tls: true });
    const { broker, user } = await loaded({ url: mosquitto.tlsUrl }, ['u1']);
    const state = await waitFor('TLS error state', () => (broker.connection.state.state === 'error' ? broker.connection.state : undefined));
    expect(state.reason?.code, state.detail).to.equal('tls');
    expect(user('u1').lastStatus?.text).to.match(/^the broker's certificate was not accepted \(self[- ]signed certificate\): give the CA file that signed it$/);
    await helper.unload();

    const ok = await loaded({ url: mosquitto.tlsUrl, caFile: mosquitto.caFile }, ['u1']);
    await waitFor('connected over TLS with the CA file', () => (ok.broker.connection.state.state === 'connected' ? true : undefined));
    probe = await Probe.open(mosquitto.url);
    await probe.client.publishAsync(TOPIC, 'over tls', { qos: 1 });
    await waitFor('message over TLS', () => (ok.user('u1').received.length === 1 ? true : undefined));
    expect(ok.user('u1').received[0].payload).to.equal('over tls');
  });

  it('a configuration error is the node error (every problem named), and nothing connects', async () => {
    const { broker, user } = await loaded({ url: 'http://127.0.0.1:1883', keepalive: -1 }, ['u1']);
    expect(broker.connection).to.equal(undefined);
    expect(broker.configError).to.equal(
      'the broker URL must look like mqtt://host:1883, mqtts://host:8883, ws://host:8080/mqtt or wss://host/mqtt, got "http://127.0.0.1:1883"; keepalive must be a whole number of seconds from 0 to 65535, got -1',
    );
    expect((broker as unknown as { error: { args: unknown[][] } }).error.args[0][0]).to.equal(broker.configError);
    expect(user('u1').lastStatus, 'no connection to show a state of').to.equal(undefined);
  });

  it('closes within Node-RED\'s close timeout even when the broker never answers', async () => {
    // a TCP server that accepts and stays silent: the client waits for a CONNACK that never comes
    const sockets: net.Socket[] = [];
    let closed = 0;
    const silent = net.createServer((s) => {
      sockets.push(s);
      s.resume();
      s.on('error', () => undefined);
      s.on('close', () => closed++);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const { broker } = await loaded({ url: `mqtt://127.0.0.1:${port}` }, ['u1', 'u2']);
      await waitFor('a connection at the silent server', () => (sockets.length > 0 ? true : undefined));
      expect(broker.connection.state.state).to.equal('connecting');
      const t0 = Date.now();
      await helper.unload();
      const ms = Date.now() - t0;
      expect(ms, 'close time').to.be.below(5000);
      expect(broker.connection.state.state).to.equal('disconnected');
      await waitFor('the socket closed by the client', () => (closed === sockets.length ? true : undefined), 3000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('broker killed and restarted: reconnects and the subscriptions come back', async () => {
    mosquitto = await Mosquitto.start();
    const { broker, user } = await loaded({ url: mosquitto.url });
    const c = broker.connection;
    await waitFor('connected', () => (c.state.state === 'connected' ? true : undefined));
    const states: string[] = [];
    c.on('state', (i: BrokerStateInfo) => states.push(i.state));
    await mosquitto.kill();
    await waitFor('reconnecting', () => (c.state.state === 'reconnecting' ? true : undefined));
    expect(user('u1').lastStatus?.fill).to.equal('yellow');
    const refused = await c.publish(TOPIC, 'x').then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(refused?.code).to.equal('notConnected');
    expect(refused?.message).to.match(/^not connected to the broker mqtt:\/\/127\.0\.0\.1:\d+ \(state reconnecting\): publish again once connected$/);
    await sleep(700); // several failed attempts
    await mosquitto.start();
    await waitFor('connected again', () => (c.state.state === 'connected' ? true : undefined), 10000);
    expect(states[0]).to.equal('reconnecting');
    expect(states[states.length - 1]).to.equal('connected');
    expect(user('u2').lastStatus?.fill).to.equal('green');
    // the broker forgot everything (no persistence, clean session): the subscriptions were made again
    probe = await Probe.open(mosquitto.url);
    await probe.client.publishAsync(TOPIC, 'after restart', { qos: 1 });
    await waitFor('both users got the message after the restart', () => (user('u1').received.length === 1 && user('u2').received.length === 1 ? true : undefined));
    // and the broker connection publishes again
    await c.publish('mlops/out', 'hello', { qos: 1 });
    expect(await probe.others(1)).to.equal(1);
  });
});

describe('mqtt broker lib: topics, options, client id', () => {
  it('matches topic filters as MQTT does', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a/b', 'a/b', true],
      ['a/+', 'a/b', true],
      ['a/+', 'a/b/c', false],
      ['a/#', 'a', true],
      ['a/#', 'a/b/c', true],
      ['#', 'a/b', true],
      ['#', '$SYS/broker/clients/connected', false],
      ['+/b', '$SYS/b', false],
      ['$SYS/#', '$SYS/broker/clients/connected', true],
      ['$share/group/a/+', 'a/b', true],
      ['a/+/c', 'a//c', true],
      ['a/b', 'a/b/', false],
    ];
    for (const [filter, topic, want] of cases) expect(topicMatches(filter, topic), `${filter} ~ ${topic}`).to.equal(want);
  });

  it('checks filters and topics, saying what was expected', () => {
    expect(checkTopic('a/+/#', true)).to.equal('a/+/#');
    for (const bad of ['', 'a/#/b', 'a/b#', 'a/b+', 7]) expect(() => checkTopic(bad, true), String(bad)).to.throw(/^expected a topic filter/);
    for (const bad of ['', 'a/+', 'a/#']) expect(() => checkTopic(bad, false), bad).to.throw(/^expected a topic to publish to \(not empty, no "\+" or "#"\)/);
  });

  it('validates the options: every problem named', () => {
    expect(validateBrokerOptions({ url: 'mqtt://127.0.0.1:1883' })).to.deep.equal([]);
    for (const url of ['mqtts://broker.example:8883', 'ws://[::1]:8080/mqtt', 'wss://broker.example/mqtt']) expect(validateBrokerOptions({ url }), url).to.deep.equal([]);
    const codes = (o: Parameters<typeof validateBrokerOptions>[0]) => validateBrokerOptions(o).map((e) => e.code);
    expect(codes({ url: 'tcp://host:1883' })).to.deep.equal(['badUrl']);
    expect(codes({ url: 'mqtt://host:70000' })).to.deep.equal(['badUrl']);
    expect(codes({ url: 'mqtt://user:pw@host:1883' })).to.deep.equal(['badUrl']);
    expect(codes({ url: 'mqtt://host', keepalive: 1.5, password: 'x', caFile: '/ca.pem' })).to.deep.equal(['badKeepalive', 'noUsername', 'caWithoutTls']);
    expect(() => new MqttBrokerClass({ url: 'mqtts://127.0.0.1:8883', caFile: '/nonexistent/ca.pem' })).to.throw(/^cannot read the CA file \/nonexistent\/ca\.pem: ENOENT/);
  });

  it('makes a stable default client id per host and node, within MQTT 3.1.1\'s 23 characters', () => {
    const id = defaultClientId('a1b2c3d4e5f60718', 'gateway-17');
    expect(id).to.match(/^mlops-[0-9a-f]{16}$/);
    expect(id.length).to.be.at.most(23);
    expect(defaultClientId('a1b2c3d4e5f60718', 'gateway-17')).to.equal(id);
    expect(defaultClientId('a1b2c3d4e5f60718', 'gateway-18'), 'another gateway of the fleet, same flow').to.not.equal(id);
    expect(defaultClientId('a1b2c3d4e5f60719', 'gateway-17')).to.not.equal(id);
    expect(new MqttBrokerClass({ url: 'mqtt://127.0.0.1:1883', clientId: 'line-3-pull' }).clientId).to.equal('line-3-pull');
  });
});
