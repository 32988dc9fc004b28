/**
 * opcua read and its endpoint against a real node-opcua server (the simulator), through
 * Node-RED (node-red-node-test-helper) and through the library alone.
 */
import { expect } from 'chai';
import type { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { startSimulator, NODE_IDS, type Simulator } from '../../scripts/simulator/server';
import { OpcuaConnection, type StateInfo } from '../../nodes/lib/opcua/connection';
import { ChannelSubscription } from '../../nodes/lib/opcua/reader';
import type { SamplesMessage } from '../../nodes/lib/messages';
import { helper, sleep, tmpDir, waitFor, stopHelper } from '../support/red';
import endpointNode = require('../../nodes/mlops-opcua-endpoint');
import readNode = require('../../nodes/mlops-opcua-read');

const CHANNELS = [
  { name: 'vibration', nodeId: NODE_IDS.vibration },
  { name: 'temperature', nodeId: NODE_IDS.bearingTemperature },
  { name: 'current', nodeId: NODE_IDS.motorCurrent },
  { name: 'speed', nodeId: NODE_IDS.speed },
];
const USER = { username: 'operator', password: 'r1ght-pa55' };


type Msg = SamplesMessage & { _msgid: string };

describe('opcua read (integration, real OPC UA server)', function () {
  this.timeout(60000);
  let sim: Simulator;
  let clientPki: string;
  let serverPki: string;

  before(async () => {
    serverPki = tmpDir('server-pki');
    sim = await startSimulator({ port: 0, tickMs: 50, quiet: true, pkiFolder: serverPki, users: [USER] });
  });
  after(async () => {
    await sim?.stop();
    fs.rmSync(serverPki, { recursive: true, force: true });
  });
  beforeEach((done) => {
    clientPki = tmpDir('client-pki');
    helper.startServer(done);
  });
  afterEach(async () => {
    await stopHelper();
    fs.rmSync(clientPki, { recursive: true, force: true });
  });

  function flow(read: Record<string, unknown> = {}, endpoint: Record<string, unknown> = {}) {
    return [
      { id: 'ep', type: 'mlops-opcua-endpoint', endpoint: sim.endpointUrl, securityMode: 'None', securityPolicy: 'None', authType: 'anonymous', pkiFolder: clientPki, ...endpoint },
      { id: 'r', type: 'mlops-opcua-read', endpoint: 'ep', channels: CHANNELS, mode: 'subscribe', samplingInterval: 50, publishingInterval: 100, queueSize: 1, deadband: 0, wires: [['out']], ...read },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }

  function collect(id = 'out'): Msg[] {
    const got: Msg[] = [];
    (helper.getNode(id) as unknown as EventEmitter).on('input', (m: Msg) => got.push(m));
    return got;
  }

  function statuses(id = 'r'): Array<{ fill?: string; text?: string }> {
    const s: Array<{ fill?: string; text?: string }> = [];
    (helper.getNode(id) as unknown as EventEmitter).on('call:status', (call: { args: [{ fill?: string; text?: string }] }) => s.push(call.args[0]));
    return s;
  }

  it('subscribes and sends one aligned message per publish cycle with timestamps and quality', async () => {
    await helper.load([endpointNode, readNode], flow());
    const got = collect();
    const st = statuses();
    await waitFor('10 messages', () => (got.length >= 10 ? true : undefined));
    for (const m of got) {
      for (const ch of Object.keys(m.payload)) {
        expect(CHANNELS.map((c) => c.name)).to.include(ch);
        expect(m.payload[ch]).to.be.a('number');
        expect(m.timestamps[ch]).to.be.a('number');
        expect(m.quality[ch]).to.deep.equal({ good: true, status: 'Good', code: 0 });
      }
    }
    // Vibration changes every tick: it is in (nearly) every cycle, with increasing timestamps.
    const vib = got.filter((m) => 'vibration' in m.payload).map((m) => m.timestamps.vibration as number);
    expect(vib.length).to.be.greaterThan(5);
    for (let i = 1; i < vib.length; i++) expect(vib[i]).to.be.greaterThan(vib[i - 1]);
    await waitFor('status subscribed', () => st.find((s) => s.fill === 'green'));
    expect(sim.sessionCount).to.equal(1);
  });

  it('passes bad quality on, marked, without dropping or zeroing the value', async () => {
    await helper.load([endpointNode, readNode], flow());
    const got = collect();
    await waitFor('first message', () => got[0]);
    sim.setQualityBad('bearingTemperature', true);
    try {
      const bad = await waitFor('bad temperature', () => got.find((m) => m.quality.temperature && !(m.quality.temperature as { good: boolean }).good));
      expect(bad.quality.temperature).to.include({ good: false, status: 'BadSensorFailure' });
      expect(bad.payload).to.have.property('temperature');
      expect(bad.payload.temperature).to.not.equal(0);
    } finally {
      sim.setQualityBad('bearingTemperature', false);
    }
  });

  it('sends arrays of all queued values when the queue size is above 1', async () => {
    await helper.load([endpointNode, readNode], flow({ queueSize: 20, publishingInterval: 500, samplingInterval: 10 }));
    const got = collect();
    const m = await waitFor('a message with several vibration values', () => got.find((x) => Array.isArray(x.payload.vibration) && (x.payload.vibration as number[]).length >= 5));
    const ts = m.timestamps.vibration as number[];
    expect(ts).to.have.length((m.payload.vibration as number[]).length);
    for (let i = 1; i < ts.length; i++) expect(ts[i]).to.be.greaterThan(ts[i - 1]);
  });

  it('shares one session between two read nodes on the same endpoint', async () => {
    const f = flow();
    f.push({ id: 'r2', type: 'mlops-opcua-read', endpoint: 'ep', channels: [CHANNELS[3]], mode: 'subscribe', samplingInterval: 50, publishingInterval: 100, queueSize: 1, deadband: 0, wires: [['out2']] } as never);
    f.push({ id: 'out2', type: 'helper' } as never);
    await helper.load([endpointNode, readNode], f);
    const a = collect('out');
    const b = collect('out2');
    await waitFor('messages on both', () => (a.length > 2 && b.length > 0 ? true : undefined));
    expect(sim.sessionCount).to.equal(1);
    expect(sim.subscriptionCount).to.equal(2);
  });

  it('reads once per input message in read mode, keeping the message', async () => {
    await helper.load([endpointNode, readNode], flow({ mode: 'read' }));
    const got = collect();
    const r = helper.getNode('r');
    await waitFor('connected', () => (sim.sessionCount === 1 ? true : undefined));
    await sleep(200);
    r.receive({ payload: 'go', keep: 'me' } as never);
    const m = await waitFor('read result', () => got[0]);
    expect(Object.keys(m.payload).sort()).to.deep.equal(['current', 'speed', 'temperature', 'vibration']);
    expect((m as unknown as { keep: string }).keep).to.equal('me');
    expect(sim.subscriptionCount).to.equal(0);
  });

  it('reports a read while disconnected through done(err) to a Catch node', async () => {
    await helper.load([endpointNode, readNode], flow({ mode: 'read' }, { endpoint: 'opc.tcp://127.0.0.1:1/none' }));
    const caught = collect('caught');
    helper.getNode('r').receive({ payload: 1 } as never);
    const m = await waitFor('caught error', () => caught[0]);
    expect((m as unknown as { error: { message: string } }).error.message).to.match(/notConnected|not connected to the OPC UA server/) // the test helper's RED._ returns keys;
  });

  it('rejects an invalid configuration with a clear error on input and a red status', async () => {
    await helper.load([endpointNode, readNode], flow({ channels: [{ name: 'x', nodeId: 'not a node id' }] }));
    const caught = collect('caught');
    helper.getNode('r').receive({ payload: 1 } as never);
    const m = await waitFor('caught error', () => caught[0]);
    expect((m as unknown as { error: { message: string } }).error.message).to.match(/not a valid NodeId/);
  });

  it('reports a bad subscription setting instead of using it: every input fails naming the field and the value', async () => {
    await helper.load([endpointNode, readNode], flow({ samplingInterval: 'fast', queueSize: '2.5' }));
    const caught = collect('caught');
    helper.getNode('r').receive({ payload: 1 } as never);
    const m = await waitFor('caught error', () => caught[0]);
    expect((m as unknown as { error: { message: string } }).error.message).to.match(/^(Error: )?invalid configuration: samplingInterval must be a number, got "fast"$/);
    expect(sim.sessionCount).to.equal(0); // refused before connecting
  });

  it('survives a server restart mid-stream: reconnects, resumes, no duplicate subscription', async () => {
    await helper.load([endpointNode, readNode], flow());
    const got = collect();
    const st = statuses();
    await waitFor('messages before restart', () => (got.length >= 5 ? true : undefined));
    await sim.stop();
    await waitFor('status reconnecting', () => st.find((s) => /reconnecting/.test(s.text ?? '')));
    await sleep(1500);
    const before = got.length;
    await sim.start();
    await waitFor('messages after restart', () => (got.length >= before + 10 ? true : undefined), 30000);
    expect(sim.sessionCount).to.equal(1);
    expect(sim.subscriptionCount).to.equal(1);
    // No duplicate deliveries: every vibration timestamp after the restart arrives once.
    const after = got.slice(before).filter((m) => 'vibration' in m.payload).map((m) => m.timestamps.vibration);
    expect(new Set(after).size).to.equal(after.length);
    expect(st[st.length - 1].fill).to.equal('green');
  });

  it('starts before the server does: retries with backoff until it is up, then subscribes', async () => {
    await sim.stop();
    try {
      await helper.load([endpointNode, readNode], flow());
      const got = collect();
      const st = statuses();
      await waitFor('a failed first attempt reported', () => st.find((s) => s.fill === 'yellow' && /reconnecting/.test(s.text ?? '')));
      expect(got).to.have.length(0);
    } finally {
      await sim.start();
    }
    const got = collect();
    await waitFor('messages once the server is up', () => got[3], 30000);
    expect(sim.subscriptionCount).to.equal(1);
  });

  it('closes cleanly on redeploy: the server sees the session go', async () => {
    await helper.load([endpointNode, readNode], flow());
    const got = collect();
    await waitFor('messages', () => got[2]);
    const t0 = Date.now();
    await helper.unload();
    expect(Date.now() - t0).to.be.lessThan(5000);
    await waitFor('session closed on the server', () => (sim.sessionCount === 0 ? true : undefined), 5000);
  });

  it('redeploys 30 times without leaking sessions, subscriptions or handles', async () => {
    const handles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    let baseline = 0;
    for (let i = 0; i < 30; i++) {
      await helper.load([endpointNode, readNode], flow());
      const got = collect();
      await waitFor(`messages in deploy ${i}`, () => got[0]);
      await helper.unload();
      if (i === 2) baseline = handles();
    }
    await waitFor('sessions closed on the server', () => (sim.sessionCount === 0 && sim.subscriptionCount === 0 ? true : undefined), 5000);
    expect(handles()).to.be.at.most(baseline + 2);
  });

  it('browses the address space for the editor through the admin endpoint, without a read node', async () => {
    await helper.load([endpointNode, readNode], flow().slice(0, 1));
    const root = await helper.request().get('/mlops-opcua-endpoint/ep/browse').expect(200);
    expect(root.body).to.deep.include({ nodeId: 'ns=1;s=Machine1', browseName: 'Machine1', displayName: 'Machine1', nodeClass: 'Object' });
    const machine = await helper.request().get('/mlops-opcua-endpoint/ep/browse').query({ nodeId: 'ns=1;s=Machine1' }).expect(200);
    const vib = (machine.body as Array<{ nodeId: string; nodeClass: string; dataType?: string }>).find((i) => i.nodeId === NODE_IDS.vibration);
    expect(vib).to.include({ nodeClass: 'Variable', dataType: 'Double' });
    expect((machine.body as Array<{ nodeId: string }>).map((i) => i.nodeId)).to.include(NODE_IDS.operatingCondition);
    await helper.request().get('/mlops-opcua-endpoint/nope/browse').expect(404);
    const bad = await helper.request().get('/mlops-opcua-endpoint/ep/browse').query({ nodeId: 'ns=1;s=NoSuchNode' }).expect(502);
    expect(bad.body.error).to.match(/BadNodeIdUnknown/);
    // the borrowed session is given back
    await waitFor('browse session closed', () => (sim.sessionCount === 0 ? true : undefined), 5000);
  });

  describe('security', () => {
    it('connects with SignAndEncrypt and username/password, credentials kept out of the flow', async () => {
      const f = flow({}, { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', authType: 'username', trustOnFirstUse: true });
      await helper.load([endpointNode, readNode], f, { ep: { user: USER.username, password: USER.password } });
      const got = collect();
      await waitFor('messages', () => got[3]);
      const session = sim.sessionCount;
      expect(session).to.equal(1);
      expect(JSON.stringify(f)).to.not.include(USER.password);
    });

    it('shows access denied for a wrong password', async () => {
      const f = flow({}, { securityMode: 'SignAndEncrypt', securityPolicy: 'Aes128_Sha256_RsaOaep', authType: 'username', trustOnFirstUse: true });
      await helper.load([endpointNode, readNode], f, { ep: { user: USER.username, password: 'wrong' } });
      const st = statuses();
      await waitFor('status denied', () => st.find((s) => s.fill === 'red' && /denied/.test(s.text ?? '')));
    });

    it('does not trust an unknown server certificate: it is rejected until moved to trusted/', async () => {
      const conn = new OpcuaConnection({
        endpointUrl: sim.endpointUrl, securityMode: 'SignAndEncrypt', securityPolicy: 'Aes256_Sha256_RsaPss',
        username: USER.username, password: USER.password, pkiFolder: clientPki, initialDelayMs: 300, maxDelayMs: 600,
      });
      const states: StateInfo[] = [];
      conn.on('state', (s: StateInfo) => states.push(s));
      const user = {};
      conn.register(user);
      try {
        const untrusted = await waitFor('untrusted state', () => states.find((s) => s.state === 'untrusted'));
        expect(untrusted.detail).to.include(path.join(clientPki, 'rejected'));
        const rejected = path.join(clientPki, 'rejected');
        const files = fs.readdirSync(rejected).filter((f) => /\.(pem|der)$/.test(f));
        expect(files).to.have.length(1);
        expect(conn.session).to.equal(undefined);
        // The operator checks the fingerprint and moves the certificate to trusted/certs.
        fs.renameSync(path.join(rejected, files[0]), path.join(clientPki, 'trusted', 'certs', files[0]));
        await waitFor('connected after trusting', () => (conn.state.state === 'connected' ? true : undefined), 20000);
        const received: SamplesMessage[] = [];
        const sub = new ChannelSubscription(conn, CHANNELS, { samplingIntervalMs: 50, publishingIntervalMs: 100, queueSize: 1, deadband: 0 }, {
          samples: (m) => received.push(m), problem: () => undefined, active: () => undefined,
        });
        sub.start();
        await waitFor('samples over the encrypted channel', () => received[2]);
        await sub.stop();
      } finally {
        await conn.deregister(user);
      }
      expect(conn.state.state).to.equal('closed');
    });
  });
});
