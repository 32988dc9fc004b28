/**
 * opcua read against a small node-opcua server of the test's own, configured to reproduce what an
 * independent server implementation does: status codes of severity Good with info bits or a Good
 * subcode, 64-bit integers beyond 2^53, a short granted session timeout, revised sampling,
 * publishing and queue settings, and queue overflow.
 */
import { expect } from 'chai';
import type { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { DataType, StatusCode, StatusCodes, Variant, VariantArrayType } from 'node-opcua-client';
import { OPCUAServer } from 'node-opcua-server';
import type { UAVariable } from 'node-opcua-address-space';
import { findFreePort } from '../../scripts/simulator/server';
import type { SamplesMessage, SampleQuality } from '../../nodes/lib/messages';
import { helper, tmpDir, waitFor, stopHelper } from '../support/red';
import endpointNode = require('../../nodes/mlops-opcua-endpoint');
import readNode = require('../../nodes/mlops-opcua-read');

type Msg = SamplesMessage & { _msgid: string };

const NS = 'urn:edge-mlops:fault-server';
const BIG = '9007199254740993'; // 2^53 + 1: a number would read 9007199254740992

interface FaultServer {
  url: string;
  server: OPCUAServer;
  /** The session timeout the server grants, whatever the client asks for (0: as requested). */
  grant: { sessionTimeoutMs: number };
  stop(): Promise<void>;
}

async function startFaultServer(opts: { acceptClients?: boolean } = {}): Promise<FaultServer> {
  const port = await findFreePort();
  const pki = tmpDir('fault-server-pki');
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: pki, automaticallyAcceptUnknownCertificate: opts.acceptClients ?? true });
  const server = new OPCUAServer({ port, host: '127.0.0.1', hostname: '127.0.0.1', resourcePath: '/UA/Faults', serverCertificateManager, isAuditing: false });
  await server.initialize();
  const grant = { sessionTimeoutMs: 0 };
  // A server that grants a short session timeout: the request is changed on its way in.
  const proto = server as unknown as { _on_CreateSessionRequest(message: { request: { requestedSessionTimeout: number } }, channel: unknown): Promise<void> };
  const original = proto._on_CreateSessionRequest.bind(server);
  proto._on_CreateSessionRequest = (message, channel) => {
    if (grant.sessionTimeoutMs) message.request.requestedSessionTimeout = grant.sessionTimeoutMs;
    return original(message, channel);
  };
  const ns = server.engine.addressSpace!.registerNamespace(NS);
  nsIndex = ns.index;
  const folder = ns.addObject({ browseName: 'Faults', organizedBy: server.engine.addressSpace!.rootFolder.objects });
  const constant = (name: string, dataType: DataType, value: unknown, code: StatusCode) => {
    const v = ns.addVariable({ componentOf: folder, browseName: name, nodeId: `s=${name}`, dataType: DataType[dataType], minimumSamplingInterval: 50 }) as UAVariable;
    v.setValueFromSource(new Variant({ dataType, arrayType: VariantArrayType.Scalar, value }), code);
    return v;
  };
  constant('GoodClamped', DataType.Double, 1.5, StatusCodes.GoodClamped);
  constant('GoodLocalOverride', DataType.Double, 2.5, StatusCodes.GoodLocalOverride);
  constant('GoodOverflow', DataType.Double, 3.5, StatusCodes.GoodWithOverflowBit);
  constant('Uncertain', DataType.Double, 4.5, StatusCodes.UncertainLastUsableValue);
  constant('Int64Big', DataType.Int64, [0x200000, 1], StatusCodes.Good);
  constant('UInt64Max', DataType.UInt64, [0xffffffff, 0xffffffff], StatusCodes.Good);
  // A fast signal: a new value every 10 ms, sampled at 50 ms at the fastest (the server revises 10 -> 50).
  const fast = ns.addVariable({ componentOf: folder, browseName: 'Fast', nodeId: 's=Fast', dataType: 'Double', minimumSamplingInterval: 50 }) as UAVariable;
  let n = 0;
  const timer = setInterval(() => fast.setValueFromSource(new Variant({ dataType: DataType.Double, value: n++ })), 10);
  await server.start();
  return {
    url: `opc.tcp://127.0.0.1:${port}/UA/Faults`,
    server,
    grant,
    async stop() {
      clearInterval(timer);
      await server.shutdown(0);
      fs.rmSync(pki, { recursive: true, force: true });
    },
  };
}

let nsIndex = 0;
const id = (name: string) => `ns=${nsIndex};s=${name}`;

describe('opcua read against a server configured to reproduce faults (integration)', function () {
  this.timeout(60000);
  let srv: FaultServer;
  let clientPki: string;

  before(async () => {
    const debug = require('node-opcua-debug') as typeof import('node-opcua-debug');
    debug.setWarningLogger(() => undefined);
    srv = await startFaultServer();
  });
  after(async () => {
    await srv?.stop();
  });
  beforeEach((done) => {
    srv.grant.sessionTimeoutMs = 0;
    clientPki = tmpDir('client-pki');
    helper.startServer(done);
  });
  afterEach(async () => {
    await stopHelper();
    fs.rmSync(clientPki, { recursive: true, force: true });
  });

  function flow(channels: Array<{ name: string; nodeId: string }>, read: Record<string, unknown> = {}) {
    return [
      { id: 'ep', type: 'mlops-opcua-endpoint', endpoint: srv.url, securityMode: 'None', securityPolicy: 'None', authType: 'anonymous', pkiFolder: clientPki },
      { id: 'r', type: 'mlops-opcua-read', endpoint: 'ep', channels, mode: 'subscribe', samplingInterval: 50, publishingInterval: 100, queueSize: 1, deadband: 0, wires: [['out']], ...read },
      { id: 'out', type: 'helper' },
    ];
  }
  function collect(): Msg[] {
    const got: Msg[] = [];
    (helper.getNode('out') as unknown as EventEmitter).on('input', (m: Msg) => got.push(m));
    return got;
  }
  function spy(kind: 'warn' | 'status'): unknown[] {
    const calls: unknown[] = [];
    (helper.getNode('r') as unknown as EventEmitter).on(`call:${kind}`, (c: { args: unknown[] }) => calls.push(c.args[0]));
    return calls;
  }

  it('marks Good with a subcode or info bits as good, Uncertain as not good', async () => {
    const names = ['GoodClamped', 'GoodLocalOverride', 'GoodOverflow', 'Uncertain'];
    await helper.load([endpointNode, readNode], flow(names.map((name) => ({ name, nodeId: id(name) }))));
    const got = collect();
    const m = await waitFor('all four channels', () => got.find((x) => names.every((k) => k in x.quality)));
    const q = m.quality as Record<string, SampleQuality>;
    expect(q.GoodClamped).to.include({ good: true, code: StatusCodes.GoodClamped.value });
    expect(q.GoodLocalOverride).to.include({ good: true, code: StatusCodes.GoodLocalOverride.value });
    expect(q.GoodOverflow.good).to.equal(true);
    expect(q.GoodOverflow.code).to.equal(0x480);
    expect(q.Uncertain).to.include({ good: false, code: StatusCodes.UncertainLastUsableValue.value });
    expect(q.Uncertain.status).to.match(/^Uncertain/);
  });

  it('passes Int64 and UInt64 beyond 2^53 exactly, as decimal strings', async () => {
    await helper.load([endpointNode, readNode], flow([{ name: 'big', nodeId: id('Int64Big') }, { name: 'max', nodeId: id('UInt64Max') }]));
    const got = collect();
    const m = await waitFor('both channels', () => got.find((x) => 'big' in x.payload && 'max' in x.payload));
    expect(m.payload.big).to.equal(BIG);
    expect(m.payload.max).to.equal('18446744073709551615');
  });

  it('subscribes when the granted session timeout is shorter than publishing interval x 10 (counts derived from it)', async () => {
    srv.grant.sessionTimeoutMs = 3000; // publishing 1000 ms x keep-alive 10 = 10 s would not fit
    await helper.load([endpointNode, readNode], flow([{ name: 'fast', nodeId: id('Fast') }], { publishingInterval: 1000 }));
    const got = collect();
    await waitFor('a samples message', () => (got.length >= 2 ? true : undefined));
    expect(srv.server.engine.currentSessionCount).to.equal(1);
    type ServerSession = { sessionTimeout: number; publishEngine: { subscriptions: Array<{ maxKeepAliveCount: number; publishingInterval: number }> } };
    const session = Object.values((srv.server.engine as unknown as { _sessions: Record<string, ServerSession> })._sessions)[0];
    expect(session.sessionTimeout).to.equal(3000);
    const s = session.publishEngine.subscriptions[0];
    expect(s.maxKeepAliveCount * s.publishingInterval).to.be.at.most(3000);
  });

  it('reports the values the server revised, once, and counts values lost to queue overflow', async () => {
    await helper.load([endpointNode, readNode], flow([{ name: 'fast', nodeId: id('Fast') }], { samplingInterval: 10, publishingInterval: 20, queueSize: 10000 }));
    const warns = spy('warn');
    const got = collect();
    await waitFor('the revision warning', () => warns.find((w) => /revised/.test(String(w))));
    const revised = warns.filter((w) => /revised/.test(String(w)));
    expect(revised).to.have.length(1);
    expect(String(revised[0])).to.include('sampling 10 -> 50 ms').and.include('publishing 20 -> 50 ms').and.include('queue size 10000 -> 5000');
    await waitFor('messages', () => (got.length >= 3 ? true : undefined));
    await helper.unload();

    // Queue of 2, sampling 50 ms, publishing 500 ms: about 10 samples per publish, 8 of them lost.
    await helper.load([endpointNode, readNode], flow([{ name: 'fast', nodeId: id('Fast') }], { samplingInterval: 50, publishingInterval: 500, queueSize: 2 }));
    const warns2 = spy('warn');
    const st = spy('status') as Array<{ text?: string }>;
    await waitFor('the overflow warning', () => warns2.find((w) => /lost/.test(String(w))));
    await waitFor('the overflow status', () => st.find((s) => /lost to queue overflow/.test(s.text ?? '')));
    // and said at deploy, before any value was lost: these settings drop changes by design
    const logged = (helper.log().args as Array<[{ level: number; id?: string; msg?: unknown }]>).map((a) => a[0]);
    const atDeploy = logged.filter((e) => e.level === 30 && e.id === 'r' && /keeps 2 of every 10 changes/.test(String(e.msg)));
    expect(atDeploy, 'one deploy-time warning').to.have.length(1);
    expect(String(atDeploy[0].msg)).to.include('expected a queue size of 10 or more').and.include('publishing interval of 50 ms');
  });

  it('does not show subscribed before the items exist', async () => {
    await helper.load([endpointNode, readNode], flow([{ name: 'fast', nodeId: id('Fast') }]));
    const st = spy('status') as Array<{ fill?: string; text?: string }>;
    const got = collect();
    await waitFor('a message', () => (got.length ? true : undefined));
    await waitFor('subscribed', () => st.find((s) => /subscribed/.test(s.text ?? '')));
    const firstGreen = st.findIndex((s) => s.fill === 'green');
    expect(st.slice(0, firstGreen).map((s) => s.text)).to.include('subscribing');
    expect(st.map((s) => s.text ?? '').filter((t) => /attempt 0/.test(t))).to.deep.equal([]);
  });

  it('says that the server refused the client certificate and names the file to give its administrator', async () => {
    const strict = await startFaultServer({ acceptClients: false });
    try {
      const strictFlow = [
        { id: 'ep', type: 'mlops-opcua-endpoint', endpoint: strict.url, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', authType: 'anonymous', pkiFolder: clientPki, trustOnFirstUse: true },
        { id: 'r', type: 'mlops-opcua-read', endpoint: 'ep', channels: [{ name: 'fast', nodeId: id('Fast') }], mode: 'subscribe', samplingInterval: 50, publishingInterval: 100, queueSize: 1, deadband: 0, wires: [[]] },
      ];
      await helper.load([endpointNode, readNode], strictFlow);
      const st = spy('status') as Array<{ fill?: string; text?: string }>;
      const ep = helper.getNode('ep') as unknown as EventEmitter;
      const warns: string[] = [];
      ep.on('call:warn', (c: { args: unknown[] }) => warns.push(String(c.args[0])));
      const file = path.join(clientPki, 'own', 'certs', 'client_certificate.pem');
      const warning = await waitFor('the endpoint names the refused client certificate', () => warns.find((w) => w.includes(file)), 30000);
      expect(warning).to.match(/refused (the|our) client certificate/);
      await waitFor('a red status about the client certificate', () => st.find((s) => s.fill === 'red' && /client certificate/.test(s.text ?? '')), 30000);
      expect(st.map((s) => s.text ?? '').filter((t) => /attempt 0|may have been rejected/.test(t))).to.deep.equal([]);
    } finally {
      await helper.unload();
      await strict.stop();
    }
  });

  it('serves a few browses of one endpoint at a time: 30 at once get answers or a clear 429, without a listener leak', async () => {
    await helper.load([endpointNode, readNode], flow([]).slice(0, 1));
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const answers = await Promise.all(Array.from({ length: 30 }, () => helper.request().get('/mlops-opcua-endpoint/ep/browse')));
      const codes = answers.map((a) => a.status);
      expect(codes.filter((c) => c === 200).length).to.be.within(1, 4);
      expect(codes.filter((c) => c !== 200).every((c) => c === 429)).to.equal(true);
      const busy = answers.find((a) => a.status === 429)!;
      expect(busy.body).to.include({ code: 'browseBusy' });
      expect(busy.body.error).to.match(/4 browses of this endpoint are running already/);
      // once they are done, browsing works again
      const again = await helper.request().get('/mlops-opcua-endpoint/ep/browse').expect(200);
      expect((again.body as Array<{ browseName: string }>).map((i) => i.browseName)).to.include('Faults');
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).to.deep.equal([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('disposes its certificate manager on every redeploy (node-opcua-pki keeps a static registry of them)', async () => {
    const { CertificateManager } = require('node-opcua-pki') as { CertificateManager: { checkAllDisposed(): void } };
    // the registry can be read only through checkAllDisposed's error, which lists each active one's folder
    const active = () => {
      try {
        CertificateManager.checkAllDisposed();
        return 0;
      } catch (e) {
        return String((e as Error).message).split('\n').filter((l) => l.includes(clientPki)).length;
      }
    };
    for (let i = 0; i < 20; i++) {
      await helper.load([endpointNode, readNode], flow([{ name: 'fast', nodeId: id('Fast') }]));
      const got = collect();
      if (i % 5 === 0) await waitFor('a message', () => (got.length ? true : undefined));
      await helper.unload();
    }
    expect(active()).to.equal(0);
  });
});
