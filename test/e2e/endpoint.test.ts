/**
 * The endpoint dialog in a real browser (Debian's chromium through playwright-core), in a real
 * Node-RED with adminAuth, against the simulator over SignAndEncrypt: a person who may only read
 * sees the client certificate and the rejected server certificate but no Trust or Test button;
 * an engineer tests the connection (told the certificate is not trusted), trusts it, tests
 * again (connected) and the flow's status turns green. No page errors.
 */
import { expect } from 'chai';
import { X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { startSimulator, NODE_IDS, type Simulator } from '../../scripts/simulator/server';
import { CHROMIUM, launchChromium, watchErrors } from '../support/browser';
import { startRedProcess, type RedProcess } from '../support/red-process';
import { tmpDir, waitFor } from '../support/red';

const USERS = [
  { username: 'viewer', password: 'only-l00king', permissions: 'read' },
  { username: 'engineer', password: 'may-wr1te', permissions: '*' },
];
const READ_NODE = '3c1e5a7c9e1a3c01';
const en = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../locales/en-US/mlops-opcua-endpoint.json'), 'utf8')) as Record<string, { test: Record<string, string>; pki: Record<string, string> }>)['mlops-opcua-endpoint'];

describe('endpoint dialog in chromium (e2e: certificates, Trust, Test connection, permissions)', function () {
  this.timeout(120000);
  let sim: Simulator;
  let red: RedProcess;
  let browser: Browser;
  let dir: string;
  let pki: string;

  before(async () => {
    expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).to.equal(true);
    dir = tmpDir('endpoint-e2e');
    sim = await startSimulator({ port: 0, tickMs: 50, quiet: true, pkiFolder: path.join(dir, 'server-pki') });
    const flows = [
      { id: 'a1b2c3d4e5f60718', type: 'tab', label: 'OPC UA' },
      { id: 'ep', type: 'mlops-opcua-endpoint', name: 'simulator', endpoint: '${MLOPS_TEST_OPCUA}', securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', authType: 'anonymous', trustOnFirstUse: false, pkiFolder: '' },
      { id: READ_NODE, type: 'mlops-opcua-read', z: 'a1b2c3d4e5f60718', name: 'machine', x: 200, y: 120, endpoint: 'ep', channels: [{ name: 'vibration', nodeId: NODE_IDS.vibration }], mode: 'subscribe', samplingInterval: 50, publishingInterval: 200, queueSize: 1, deadband: 0, wires: [[]] },
    ];
    red = await startRedProcess(path.join(dir, 'user'), flows, { users: USERS, env: { MLOPS_TEST_OPCUA: sim.endpointUrl } });
    pki = path.join(red.userDir, 'mlops-opcua-pki');
    await waitFor('the server certificate in rejected/', () => (fs.existsSync(path.join(pki, 'rejected')) && fs.readdirSync(path.join(pki, 'rejected')).some((f) => f.endsWith('.pem')) ? true : undefined), 30000, 200);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await red?.stop();
    await sim?.stop();
    // MLOPS_KEEP_E2E=1 keeps the user directory and the screenshots for a look.
    if (process.env.MLOPS_KEEP_E2E) console.log(`      e2e files kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Fingerprints computed here from the files, independently of the code under test. */
  const fingerprint = (file: string) => new X509Certificate(fs.readFileSync(file)).fingerprint;
  const rejectedFile = () => path.join(pki, 'rejected', fs.readdirSync(path.join(pki, 'rejected')).find((f) => f.endsWith('.pem'))!);

  async function login(user: (typeof USERS)[number]): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, locale: 'en-US', acceptDownloads: true });
    // a refused call (401) shows in the console as the browser's own error
    const errors = watchErrors(page, /net::ERR_|status of 401/);
    await page.goto(red.url);
    await page.waitForSelector('#node-dialog-login-username', { timeout: 30000 });
    await page.fill('#node-dialog-login-username', user.username);
    await page.fill('#node-dialog-login-password', user.password);
    await page.click('#node-dialog-login-submit');
    await page.waitForSelector(`g.red-ui-flow-node[id="${READ_NODE}"]`, { timeout: 30000 });
    return { page, errors };
  }

  async function openEndpointDialog(page: Page): Promise<void> {
    await page.locator(`g.red-ui-flow-node[id="${READ_NODE}"]`).dblclick();
    await page.locator('#node-input-btn-endpoint-edit').click();
    await page.waitForSelector('#node-config-input-endpoint');
    await page.waitForSelector('#mlops-opcua-client-cert .mlops-opcua-cert-sha1', { timeout: 20000 });
  }

  async function closeDialogs(page: Page): Promise<void> {
    await page.locator('#node-config-dialog-cancel').click();
    await page.locator('#node-dialog-cancel').click();
  }

  it('shows a reader the client certificate and the rejected server certificate, with no Trust or Test button', async () => {
    const { page, errors } = await login(USERS[0]);
    await openEndpointDialog(page);
    const client = page.locator('#mlops-opcua-client-cert');
    expect(await client.locator('.mlops-opcua-cert-sha1').innerText()).to.equal(fingerprint(path.join(pki, 'own', 'certs', 'client_certificate.pem')));
    expect(await client.locator('.mlops-opcua-cert-subject').innerText()).to.match(/CN=node-red-mlops/);
    const rejected = page.locator('#mlops-opcua-rejected .mlops-opcua-rejected-cert');
    expect(await rejected.count()).to.equal(1);
    expect(await rejected.locator('.mlops-opcua-cert-sha1').innerText()).to.equal(fingerprint(rejectedFile()));
    expect(await page.locator('#mlops-opcua-rejected').innerText()).to.include(en.pki.readOnly);
    expect(await page.locator('.mlops-opcua-trust').count()).to.equal(0);
    expect(await page.locator('#mlops-opcua-test').isVisible()).to.equal(false);
    await page.screenshot({ path: path.join(dir, 'endpoint-viewer.png'), fullPage: true });
    await closeDialogs(page);
    expect(errors, errors.join('\n')).to.deep.equal([]);
    await page.close();
  });

  it('lets an engineer test, trust and test again: told why, then connected; the flow turns green', async () => {
    const { page, errors } = await login(USERS[1]);
    await openEndpointDialog(page);
    const clientPem = fs.readFileSync(path.join(pki, 'own', 'certs', 'client_certificate.pem'), 'utf8');
    // the client certificate as a file to hand over, PEM and DER
    const [pem] = await Promise.all([page.waitForEvent('download'), page.locator('#mlops-opcua-download-pem').click()]);
    expect(fs.readFileSync((await pem.path())!, 'utf8').trim()).to.equal(new X509Certificate(clientPem).toString().trim());
    const [der] = await Promise.all([page.waitForEvent('download'), page.locator('#mlops-opcua-download-der').click()]);
    expect(new X509Certificate(fs.readFileSync((await der.path())!)).fingerprint256).to.equal(new X509Certificate(clientPem).fingerprint256);
    // Test connection before trusting: the reason, in words
    await page.locator('#mlops-opcua-test').click();
    const result = page.locator('#mlops-opcua-test-result');
    await page.waitForSelector('#mlops-opcua-test-result.mlops-opcua-test-failed', { timeout: 20000 });
    expect(await result.getAttribute('data-kind')).to.equal('untrusted');
    expect(await result.innerText()).to.match(/^Test failed: the server's certificate is not trusted/);
    await page.screenshot({ path: path.join(dir, 'endpoint-untrusted.png'), fullPage: true });
    // Trust
    const sha1 = fingerprint(rejectedFile());
    const item = page.locator(`#mlops-opcua-rejected .mlops-opcua-rejected-cert[data-sha1="${sha1}"]`);
    await item.locator('.mlops-opcua-trust').click();
    await page.waitForSelector(`#mlops-opcua-trusted .mlops-opcua-trusted-cert[data-sha1="${sha1}"]`, { timeout: 10000 });
    expect(await page.locator('#mlops-opcua-rejected .mlops-opcua-rejected-cert').count()).to.equal(0);
    expect(await page.locator('#mlops-opcua-rejected').innerText()).to.include(en.pki.noneRejected);
    expect(fs.readdirSync(path.join(pki, 'trusted', 'certs')).map((f) => fingerprint(path.join(pki, 'trusted', 'certs', f)))).to.deep.equal([sha1]);
    // Test again: connected
    await page.locator('#mlops-opcua-test').click();
    await page.waitForSelector('#mlops-opcua-test-result.mlops-opcua-test-ok', { timeout: 20000 });
    expect(await result.innerText()).to.match(/^Connected: a session with \$\{MLOPS_TEST_OPCUA\} in \d+ ms$/);
    await page.screenshot({ path: path.join(dir, 'endpoint-trusted.png'), fullPage: true });
    // the URL field: IPv6 is fine, a broken URL is marked and its validator says why
    const url = page.locator('#node-config-input-endpoint');
    await url.fill('opc.tcp://[::1]:4840');
    await url.dispatchEvent('change');
    expect(await url.evaluate((e) => e.classList.contains('input-error'))).to.equal(false);
    await url.fill('opc.tcp://[::1');
    await url.dispatchEvent('change');
    await page.waitForFunction(() => document.querySelector('#node-config-input-endpoint')?.classList.contains('input-error'));
    const message = await page.evaluate(() => {
      const RED = (window as unknown as { RED: { nodes: { getType(t: string): { defaults: { endpoint: { validate(this: unknown, v: string, o: object): unknown } } } } } }).RED;
      const ep = (window as unknown as { RED: { nodes: { node(id: string): unknown } } }).RED.nodes.node('ep');
      return RED.nodes.getType('mlops-opcua-endpoint').defaults.endpoint.validate.call(ep, 'opc.tcp://[::1', {});
    });
    expect(message).to.match(/^expected opc\.tcp:\/\/host:port\/path, opc\.tcp:\/\/\[::1\]:4840 or \$\{ENV_VAR\}$/);
    await closeDialogs(page);
    // the deployed flow connected after the trust, without a redeploy
    await page.waitForFunction((id) => /subscribed/.test(document.querySelector(`g.red-ui-flow-node[id="${id}"] .red-ui-flow-node-status-label`)?.textContent ?? ''), READ_NODE, { timeout: 30000 });
    await page.screenshot({ path: path.join(dir, 'flow-green.png') });
    expect(sim.subscriptionCount).to.equal(1);
    expect(errors, errors.join('\n')).to.deep.equal([]);
    await page.close();
  });
});
