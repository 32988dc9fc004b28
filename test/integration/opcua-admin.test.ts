/**
 * The endpoint's admin routes in a real Node-RED with adminAuth, against a real OPC UA server
 * (the simulator) that the flow connects to with SignAndEncrypt: a user who may only read sees
 * the certificates but gets 401 on Trust and Test connection; a user who may write trusts the
 * rejected server certificate, and the deployed flow then connects without a redeploy.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { startSimulator, NODE_IDS, type Simulator } from '../../scripts/simulator/server';
import { startRedProcess, type RedProcess } from '../support/red-process';
import { tmpDir, waitFor } from '../support/red';

const USERS = [
  { username: 'viewer', password: 'only-l00king', permissions: 'read' },
  { username: 'engineer', password: 'may-wr1te', permissions: '*' },
];
const OPCUA_USER = { username: 'operator', password: 'r1ght-pa55' };

interface CertInfo { file: string; subject: string; sha1: string; sha256: string; validFrom: string; validTo: string; validity: string; pem: string }
interface PkiView { folder: string; client: CertInfo; rejected: CertInfo[]; trusted: CertInfo[] }

describe('opcua endpoint admin routes (real Node-RED with adminAuth, real OPC UA server)', function () {
  this.timeout(90000);
  let sim: Simulator;
  let red: RedProcess;
  let dir: string;
  let viewer: string;
  let engineer: string;

  before(async () => {
    dir = tmpDir('opcua-admin');
    sim = await startSimulator({ port: 0, tickMs: 50, quiet: true, pkiFolder: path.join(dir, 'server-pki'), users: [OPCUA_USER] });
    const flows = [
      { id: 'tab', type: 'tab', label: 'opcua' },
      // the URL from the environment, the PKI folder the default one (in the user directory)
      { id: 'ep', type: 'mlops-opcua-endpoint', endpoint: '${MLOPS_TEST_OPCUA}', securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', authType: 'anonymous', trustOnFirstUse: false, pkiFolder: '' },
      { id: 'r', type: 'mlops-opcua-read', z: 'tab', endpoint: 'ep', channels: [{ name: 'vibration', nodeId: NODE_IDS.vibration }], mode: 'subscribe', samplingInterval: 50, publishingInterval: 200, queueSize: 1, deadband: 0, wires: [[]] },
    ];
    red = await startRedProcess(path.join(dir, 'user'), flows, { users: USERS, env: { MLOPS_TEST_OPCUA: sim.endpointUrl } });
    viewer = await red.token(USERS[0].username, USERS[0].password);
    engineer = await red.token(USERS[1].username, USERS[1].password);
  });
  after(async () => {
    await red?.stop();
    await sim?.stop();
    if (process.env.MLOPS_KEEP_E2E) console.log(`      files kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, route: string, token?: string, body?: unknown) =>
    fetch(`${red.url}/mlops-opcua-endpoint/${route}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  const pki = async (token: string) => {
    const r = await call('GET', 'ep/pki', token);
    expect(r.status).to.equal(200);
    return (await r.json()) as PkiView;
  };
  const settings = { endpoint: '${MLOPS_TEST_OPCUA}', securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', authType: 'anonymous' };

  it('lets only a user who may write browse the server (browsing makes Node-RED connect)', async () => {
    expect((await call('GET', 'ep/browse')).status).to.equal(401);
    expect((await call('GET', 'ep/browse', viewer)).status).to.equal(401);
    // the engineer is let through (the server's certificate is not trusted yet: 502 with the reason, not 401)
    const r = await call('GET', 'ep/browse', engineer);
    expect(r.status).to.not.equal(401);
  });

  it('shows the client certificate and the rejected server certificate to a reader; nobody unauthenticated', async () => {
    expect((await call('GET', 'ep/pki')).status).to.equal(401);
    // the flow's first attempt puts the server certificate in rejected/
    let view = await pki(viewer);
    for (const t0 = Date.now(); !view.rejected.length && Date.now() - t0 < 30000; view = await pki(viewer)) await new Promise((r) => setTimeout(r, 300));
    expect(view.folder).to.equal(path.join(red.userDir, 'mlops-opcua-pki')); // relative to the user directory
    expect(view.client.subject).to.match(/CN=node-red-mlops/);
    expect(view.client.sha1).to.match(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(view.client.sha256).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(view.client.validity).to.equal('valid');
    expect(view.client.pem).to.match(/^-----BEGIN CERTIFICATE-----/);
    expect(view.rejected).to.have.length(1);
    expect(view.rejected[0].subject).to.match(/machine simulator/i);
    expect(view.trusted).to.deep.equal([]);
    expect(sim.sessionCount).to.equal(0);
  });

  it('refuses Trust and Test connection to the reader (401), and a bad or unknown fingerprint to anyone (400, 404)', async () => {
    const [cert] = (await pki(viewer)).rejected;
    expect((await call('POST', 'ep/trust', viewer, { fingerprint: cert.sha256 })).status).to.equal(401);
    expect((await call('POST', 'ep/trust', undefined, { fingerprint: cert.sha256 })).status).to.equal(401);
    expect((await call('POST', 'ep/test', viewer, settings)).status).to.equal(401);
    expect(fs.readdirSync(path.join(red.userDir, 'mlops-opcua-pki', 'rejected'))).to.include(cert.file);
    // never a path: a file name or a traversal is no fingerprint
    for (const fingerprint of ['../../settings.js', cert.file, '', 42]) {
      const r = await call('POST', 'ep/trust', engineer, { fingerprint });
      expect(r.status, String(fingerprint)).to.equal(400);
      expect(((await r.json()) as { code: string }).code).to.equal('badFingerprint');
    }
    const unknown = await call('POST', 'ep/trust', engineer, { fingerprint: 'AB'.repeat(20) });
    expect(unknown.status).to.equal(404);
    expect(((await unknown.json()) as { code: string; error: string })).to.include({ code: 'notRejected' });
  });

  it('says why a test connection fails: untrusted, bad URL, unreachable, denied', async () => {
    const test = async (body: Record<string, unknown>) => {
      const r = await call('POST', 'ep/test', engineer, { ...settings, ...body });
      expect(r.status).to.equal(200);
      return (await r.json()) as { ok: boolean; kind: string; code?: string; error?: string };
    };
    expect(await test({})).to.include({ ok: false, kind: 'untrusted', code: 'testUntrusted' });
    const bad = await test({ endpoint: 'opc.tcp://[::1' });
    expect(bad).to.include({ ok: false, kind: 'badConfig', code: 'badUrl' });
    expect(bad.error).to.include('opc.tcp://[::1');
    const port = Number(new URL(sim.endpointUrl.replace('opc.tcp', 'http')).port);
    const unreachable = await test({ endpoint: `opc.tcp://127.0.0.1:${port + 1}`, securityMode: 'None' });
    expect(unreachable).to.include({ ok: false, kind: 'unreachable', code: 'testUnreachable' });
    const denied = await test({ securityMode: 'None', authType: 'username', user: OPCUA_USER.username, password: 'wrong' });
    expect(denied).to.include({ ok: false, kind: 'denied', code: 'testDenied' });
    const noUser = await test({ authType: 'username', user: '' });
    expect(noUser).to.include({ ok: false, kind: 'badConfig', code: 'noUser' });
  });

  it('lets the engineer trust the certificate: the deployed flow connects without a redeploy, and the test succeeds', async () => {
    const [cert] = (await pki(engineer)).rejected;
    const r = await call('POST', 'ep/trust', engineer, { fingerprint: cert.sha1.toLowerCase().replace(/:/g, '') });
    expect(r.status).to.equal(200);
    expect(((await r.json()) as { trusted: CertInfo }).trusted.sha256).to.equal(cert.sha256);
    const view = await pki(viewer);
    expect(view.rejected).to.deep.equal([]);
    expect(view.trusted.map((c) => c.sha256)).to.deep.equal([cert.sha256]);
    await waitFor('the flow subscribed over SignAndEncrypt', () => (sim.subscriptionCount === 1 ? true : undefined), 30000, 100);
    const test = await call('POST', 'ep/test', engineer, settings);
    expect(await test.json()).to.include({ ok: true, kind: 'ok' });
    expect(red.log()).to.not.match(/\[error\]/);
  });
});
