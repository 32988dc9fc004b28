/**
 * The registry pull NODE (node-red-node-test-helper) against a real Debian `docker-registry`
 * started here on 127.0.0.1 (issue 11): the demo's real model pushed as a CNCF ModelPack artifact
 * by the push script's function and signed in cosign's format; a registry config node of kind
 * 'oci' on the registry's URL (or on a small proxy in front of it).
 *   - signed with the configured key: pulled, verified, onnx infer scores with it;
 *   - unsigned, or signed by another key: refused to the Catch node, nothing emitted or stored;
 *   - a blob whose bytes a proxy flips: refused (digest check), nothing stored, a restore gives the
 *     model pulled before;
 *   - the registry SIGKILLed mid-download of a 32 MB model (through a TCP pass-through that kills it
 *     once the blob is flowing): the pull fails cleanly, a redeploy restores the earlier model
 *     (registry still down), and after a restart on the same port and storage a retry succeeds;
 *   - htpasswd basic auth with the credentials as Node-RED credentials; a wrong password: a 401
 *     without the password in it;
 *   - the node's size limit (maxMB) refuses a larger model before any byte of it is stored.
 */
import { expect } from 'chai';
import { createHash, generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { signManifest } from '../../nodes/lib/registry/cosign';
import { DistributionClient } from '../../nodes/lib/registry/distribution';
import { pushModelPack } from '../../nodes/lib/registry/artifact';
import { pushModelFile } from '../../scripts/model-push';
import { OciRegistry, REGISTRY_BIN } from '../support/oci-registry';
import { sumModel } from '../support/onnx-models';
import { helper, stopHelper, tmpDir, waitFor } from '../support/red';
import registryNode = require('../../nodes/mlops-registry');
import pullNode = require('../../nodes/mlops-registry-pull');
import inferNode = require('../../nodes/mlops-onnx-infer');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

const DEMO_MODEL = path.join(__dirname, '..', '..', 'flows', 'predictive-maintenance', 'models', 'bearing-fault.onnx');
const REPO = 'models/bearing-fault';
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
type AnyNode = { receive(msg: unknown): void; on(ev: string, cb: (x: any) => void): void; status: { args: any[][] }; error: { args: any[][] } };

function keyPair() {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    pub,
    priv: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    fingerprint: sha(k.publicKey.export({ type: 'spki', format: 'der' })),
  };
}

describe('registry pull node against Debian docker-registry', function () {
  this.timeout(60000);
  const demo = fs.readFileSync(DEMO_MODEL);
  const demoDigest = sha(demo);
  const key = keyPair();
  const other = keyPair();
  let reg: OciRegistry;
  let dir: string;
  /** Servers a test started (proxies), closed after it. */
  let closers: Array<() => Promise<unknown>> = [];
  /** Manifest digests by tag. */
  const manifests: Record<string, string> = {};
  // a small valid model of another digest, and a 32 MB one (an unused-by-the-tests MatMul pads it)
  const small = sumModel(3, 24, { name: 'bearing-fault', version: '1.3.0' });
  const big = sumModel(4, 24, { name: 'bearing-fault', version: '2.0.0', padFloats: 8 * 1024 * 1024 });

  before(async () => {
    if (!fs.existsSync(REGISTRY_BIN)) throw new Error('docker-registry is not installed: run bash scripts/test-setup.sh');
    reg = await OciRegistry.start();
    const c = new DistributionClient({ url: reg.url });
    try {
      for (const v of ['1.0.0', '1.1.0', '1.2.0']) manifests[v] = (await pushModelFile(c, DEMO_MODEL, `${REPO}:${v}`, { version: v })).digest;
      await signManifest(c, REPO, manifests['1.0.0'], key.priv, { source: c });
      await signManifest(c, REPO, manifests['1.2.0'], other.priv, { source: c });
      manifests['1.3.0'] = (await pushModelPack(c, REPO, '1.3.0', small, { name: 'bearing-fault', version: '1.3.0' })).digest;
      manifests['2.0.0'] = (await pushModelPack(c, REPO, '2.0.0', big, { name: 'bearing-fault', version: '2.0.0' })).digest;
    } finally {
      c.close();
    }
  });
  after(async () => {
    await reg?.stop();
  });

  beforeEach(async () => {
    dir = tmpDir('registry-pull-int');
    helper.settings({ userDir: dir });
    await new Promise<void>((r) => helper.startServer(() => r()));
  });
  afterEach(async () => {
    await stopHelper();
    helper.settings({});
    for (const close of closers.splice(0)) await close();
    closers = [];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const storeDir = () => path.join(dir, 'mlops-models', 'store', 'pull');
  const blobs = () => fs.readdirSync(path.join(storeDir(), 'blobs', 'sha256')).sort();
  const kept = () => (fs.existsSync(path.join(storeDir(), 'index.json')) ? (JSON.parse(fs.readFileSync(path.join(storeDir(), 'index.json'), 'utf8')) as { models: Array<{ digest: string; version: string }> }).models : []);

  async function load(pull: Record<string, unknown>, registry: Record<string, unknown> = {}, credentials?: Record<string, unknown>) {
    const flow = [
      { id: 'reg', type: 'mlops-registry', kind: 'oci', location: reg.url, publicKey: '', ...registry },
      { id: 'pull', type: 'mlops-registry-pull', registry: 'reg', model: REPO, version: '1.0.0', pollInterval: 0, deployOnStart: true, keep: 5, maxMB: 100, wires: [['out', 'infer']], ...pull },
      { id: 'infer', type: 'mlops-onnx-infer', modelPath: '', output: 'score', wires: [['scored']] },
      { id: 'out', type: 'helper' },
      { id: 'scored', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    await helper.load([registryNode, pullNode, inferNode, catchNode], flow, credentials ?? {});
    const got: any[] = [];
    const errs: any[] = [];
    const scored: any[] = [];
    (helper.getNode('out') as unknown as AnyNode).on('input', (m) => got.push(m));
    (helper.getNode('scored') as unknown as AnyNode).on('input', (m) => scored.push(m));
    (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => errs.push(m));
    const n = helper.getNode('pull') as unknown as AnyNode;
    await waitFor('the pull node ready', () => n.status.args.find((a) => /ready/.test(a[0].text ?? '')));
    return { n, infer: helper.getNode('infer') as unknown as AnyNode, got, errs, scored };
  }

  it('signed with the configured key: pulled, verified, the digest is the file\'s sha256, and onnx infer scores with it', async () => {
    const { n, infer, got, errs, scored } = await load({}, { publicKey: key.pub });
    n.receive({ topic: 'deploy' });
    const m = await waitFor('a model message', () => got[0] ?? (errs[0] && Promise.reject(errs[0].error)));
    expect(errs).to.deep.equal([]);
    expect(m.topic).to.equal('deploy');
    expect(m.model).to.include({ name: 'bearing-fault', version: '1.0.0', format: 'onnx', digest: demoDigest });
    expect(sha(fs.readFileSync(m.model.path))).to.equal(demoDigest);
    expect(m.model.path).to.equal(path.join(storeDir(), 'blobs', 'sha256', demoDigest.slice(7)));
    expect(m.registry).to.deep.include({ reference: `${REPO}:1.0.0`, digest: manifests['1.0.0'], source: 'oci' });
    expect(m.registry.signature).to.deep.equal({ verified: true, key: key.fingerprint });
    await waitFor('the status says verified', () => n.status.args.find((a) => /bearing-fault 1\.0\.0.*signature verified/.test(a[0].text ?? '')));
    await waitFor('onnx infer loaded it', () => (infer as any).log.args.find((a: any[]) => /loaded/.test(String(a[0]))));
    infer.receive({ payload: new Array(40).fill(0) });
    const p = await waitFor('a prediction', () => scored[0]);
    expect(p.inference.model).to.deep.equal({ name: 'bearing-fault', version: '1.0.0', digest: demoDigest });
    expect(p.payload).to.be.a('number').within(0, 1);
    expect(p.outputs.probability).to.have.length(1);
  });

  it('a missing signature and a signature by another key: refused to the Catch node naming the check and the digest, nothing emitted or stored', async () => {
    const { n, got, errs } = await load({}, { publicKey: key.pub });
    // first a good one, so the store has a file the refusals must leave alone
    n.receive({});
    await waitFor('the signed model', () => got[0]);
    expect(blobs()).to.deep.equal([demoDigest.slice(7)]);
    const indexBefore = fs.readFileSync(path.join(storeDir(), 'index.json'), 'utf8');

    n.receive({ version: '1.1.0' });
    const unsigned = await waitFor('the refusal of the unsigned model', () => errs[0]);
    expect(unsigned.error.message).to.equal(
      `Error: unsigned: no signature sha256-${manifests['1.1.0'].slice(7)}.sig in ${REPO} (a public key is configured, so ${manifests['1.1.0']} needs a cosign signature): refused`,
    );
    n.receive({ version: '1.2.0' });
    const wrong = await waitFor('the refusal of the model signed by another key', () => errs[1]);
    expect(wrong.error.message).to.equal(`Error: the signature of ${manifests['1.2.0']} does not verify with the key ${key.fingerprint}: not signed by that key, or its payload was changed: refused`);
    expect(got).to.have.length(1);
    expect(blobs()).to.deep.equal([demoDigest.slice(7)]);
    expect(fs.readFileSync(path.join(storeDir(), 'index.json'), 'utf8')).to.equal(indexBefore);
    expect(n.status.args[n.status.args.length - 1][0]).to.deep.include({ fill: 'red' });
  });

  it('a blob corrupted on the way (proxy): refused by its digest check, nothing written, a restore gives the model pulled before', async () => {
    const layer = sha(small);
    const proxy = await corruptingProxy(reg.port, layer.slice(7));
    closers.push(proxy.close);
    let f = await load({}, { location: proxy.url });
    f.n.receive({});
    await waitFor('1.0.0 through the proxy', () => f.got[0]);
    const before = blobs();
    expect(before).to.deep.equal([demoDigest.slice(7)]);
    const indexBefore = kept();

    f.n.receive({ version: '1.3.0' });
    const e = await waitFor('the refusal', () => f.errs[0]);
    expect(proxy.corrupted()).to.equal(1);
    expect(e.error.message).to.match(new RegExp(`^Error: blob ${layer} failed its digest check: its content hashes to sha256:[0-9a-f]{64}: not stored$`));
    expect(e.error.message).to.not.include(`hashes to ${layer}`);
    expect(f.got).to.have.length(1);
    expect(blobs()).to.deep.equal(before); // no temporary file left either
    expect(kept()).to.deep.equal(indexBefore);

    // a redeploy (proxy still corrupting): the model deployed before comes back from the store
    await helper.unload();
    f = await load({}, { location: proxy.url });
    const restored = await waitFor('the restored model', () => f.got[0]);
    expect(restored.model).to.include({ version: '1.0.0', digest: demoDigest });
    expect(restored.registry.source).to.equal('store');

    // the control: the same pull with the bytes left alone is accepted
    proxy.stop();
    f.n.receive({ version: '1.3.0' });
    const ok = await waitFor('1.3.0 uncorrupted', () => f.got[1] ?? (f.errs[0] && Promise.reject(f.errs[0].error)));
    expect(ok.model).to.include({ version: '1.3.0', digest: layer });
    expect(proxy.corrupted()).to.equal(1);
  });

  it('the size limit (maxMB) refuses a larger model before storing any of it; a smaller one passes', async () => {
    const { n, got, errs } = await load({ maxMB: 1, deployOnStart: false });
    n.receive({ version: '2.0.0' });
    const e = await waitFor('the refusal', () => errs[0]);
    expect(e.error.message).to.equal(`Error: model layer ${sha(big)} is ${big.length} bytes: expected at most ${1024 * 1024} (the node's size limit)`);
    expect(got).to.deep.equal([]);
    expect(blobs()).to.deep.equal([]);
    expect(kept()).to.deep.equal([]);
    n.receive({ version: '1.0.0' });
    const m = await waitFor('the demo model, under the limit', () => got[0]);
    expect(m.model.digest).to.equal(demoDigest);
    expect(blobs()).to.deep.equal([demoDigest.slice(7)]);
  });

  it('the registry killed (SIGKILL) mid-download: the pull fails cleanly, a redeploy restores the earlier model; after a restart a retry succeeds', async () => {
    const proxy = await killingProxy(reg.port, 256 * 1024, () => reg.kill());
    closers.push(proxy.close);
    let f = await load({}, { location: proxy.url });
    f.n.receive({});
    await waitFor('1.0.0', () => f.got[0]);

    proxy.arm();
    f.n.receive({ version: '2.0.0' });
    const e = await waitFor('the failed pull', () => f.errs[0]);
    expect(proxy.killed()).to.equal(true);
    const m = /the connection ended after (\d+) bytes; nothing was stored and the model in use keeps serving: pull again/.exec(e.error.message);
    expect(m, e.error.message).to.not.equal(null);
    expect(Number(m![1])).to.be.greaterThan(0).and.lessThan(big.length);
    expect(e.error.message).to.include(sha(big));
    expect(f.got).to.have.length(1);
    expect(blobs()).to.deep.equal([demoDigest.slice(7)]);
    expect(kept().map((v) => v.version)).to.deep.equal(['1.0.0']);
    expect(f.n.status.args[f.n.status.args.length - 1][0]).to.deep.include({ fill: 'red' });

    // a redeploy with the registry still down: the model deployed before, from the store
    await helper.unload();
    f = await load({}, { location: proxy.url });
    const restored = await waitFor('the restored model', () => f.got[0]);
    expect(restored.model).to.include({ version: '1.0.0', digest: demoDigest });
    expect(restored.registry.source).to.equal('store');

    // the registry back on the same port and storage: the retry gets the whole model
    await reg.start();
    f.n.receive({ version: '2.0.0' });
    const retried = await waitFor('the retried model', () => f.got[1] ?? (f.errs[0] && Promise.reject(f.errs[0].error)), 30000);
    expect(retried.model).to.include({ version: '2.0.0', digest: sha(big) });
    expect(fs.statSync(retried.model.path).size).to.equal(big.length);
    expect(retried.registry.digest).to.equal(manifests['2.0.0']);
    expect(blobs()).to.deep.equal([demoDigest.slice(7), sha(big).slice(7)].sort());
  });
});

describe('registry pull node against Debian docker-registry with htpasswd basic auth', function () {
  this.timeout(30000);
  const password = 'right-horse-battery-7';
  let reg: OciRegistry;
  let dir: string;
  let manifest: string;

  before(async () => {
    if (!fs.existsSync(REGISTRY_BIN)) throw new Error('docker-registry is not installed: run bash scripts/test-setup.sh');
    reg = await OciRegistry.start({ basic: { username: 'gateway', password } });
    const c = new DistributionClient({ url: reg.url, username: 'gateway', password });
    try {
      manifest = (await pushModelFile(c, DEMO_MODEL, `${REPO}:1.0.0`, { version: '1.0.0' })).digest;
    } finally {
      c.close();
    }
  });
  after(async () => reg?.stop());
  beforeEach(async () => {
    dir = tmpDir('registry-pull-basic');
    helper.settings({ userDir: dir });
    await new Promise<void>((r) => helper.startServer(() => r()));
  });
  afterEach(async () => {
    await stopHelper();
    helper.settings({});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function load(credentials: Record<string, string>) {
    const flow = [
      { id: 'reg', type: 'mlops-registry', kind: 'oci', location: reg.url, publicKey: '' },
      { id: 'pull', type: 'mlops-registry-pull', registry: 'reg', model: REPO, version: '1.0.0', pollInterval: 0, deployOnStart: false, keep: 5, maxMB: 100, wires: [['out']] },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    await helper.load([registryNode, pullNode, catchNode], flow, { reg: credentials });
    const got: any[] = [];
    const errs: any[] = [];
    (helper.getNode('out') as unknown as AnyNode).on('input', (m) => got.push(m));
    (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => errs.push(m));
    return { n: helper.getNode('pull') as unknown as AnyNode, got, errs };
  }

  it('pulls with the username and password given as Node-RED credentials', async () => {
    const { n, got, errs } = await load({ username: 'gateway', password });
    n.receive({});
    const m = await waitFor('the model', () => got[0] ?? (errs[0] && Promise.reject(errs[0].error)));
    expect(m.model.digest).to.equal(sha(fs.readFileSync(DEMO_MODEL)));
    expect(m.registry.digest).to.equal(manifest);
  });

  it('a wrong password: refused with a clear 401 that does not carry the password', async () => {
    const wrong = 'wrong-password-4711';
    const { n, got, errs } = await load({ username: 'gateway', password: wrong });
    n.receive({});
    const e = await waitFor('the refusal', () => errs[0]);
    expect(e.error.message).to.match(/^Error: the tags of models\/bearing-fault: the server answered 401: the credentials are missing or were not accepted$/);
    expect(JSON.stringify(e)).to.not.include(wrong);
    expect(JSON.stringify(n.status.args)).to.not.include(wrong);
    expect(JSON.stringify(n.error.args)).to.not.include(wrong);
    expect(got).to.deep.equal([]);
    expect(fs.readdirSync(path.join(dir, 'mlops-models', 'store', 'pull', 'blobs', 'sha256'))).to.deep.equal([]);
  });
});

/**
 * An HTTP proxy on 127.0.0.1 in front of the registry that flips the first bytes of the body of
 * one blob (GET .../blobs/sha256:<hex>), Content-Length kept, until stop().
 */
async function corruptingProxy(target: number, hex: string) {
  let corrupted = 0;
  let on = true;
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      if (on && req.method === 'GET' && r.statusCode === 200 && (req.url ?? '').endsWith(`/blobs/sha256:${hex}`)) {
        corrupted++;
        let first = true;
        r.on('data', (d: Buffer) => {
          if (first) {
            d = Buffer.from(d);
            for (let i = 0; i < Math.min(16, d.length); i++) d[i] ^= 0xff;
            first = false;
          }
          res.write(d);
        });
        r.on('end', () => res.end());
        return;
      }
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    corrupted: () => corrupted,
    stop: () => (on = false),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * A TCP pass-through on 127.0.0.1 to the registry: once armed, when a connection has carried
 * `after` bytes from the registry (only a model blob is that large), it stops reading, runs
 * `kill` (SIGKILL of the registry), then ends the client's connection there: the client has
 * `after` bytes or a little more of the body, never all of it.
 */
async function killingProxy(target: number, after: number, kill: () => Promise<void>) {
  let armed = false;
  let killing = false;
  let killed = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect(target, '127.0.0.1');
    sockets.add(client).add(up);
    let n = 0;
    client.on('close', () => (sockets.delete(client), up.destroy()));
    up.on('close', () => (sockets.delete(up), client.end()));
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.pipe(up);
    up.on('data', (d: Buffer) => {
      n += d.length;
      if (!client.write(d)) {
        up.pause();
        client.once('drain', () => !killing && up.resume());
      }
      if (armed && n >= after) {
        armed = false;
        killing = true;
        up.pause();
        void kill().then(() => {
          killed = true;
          killing = false;
          // what the dead registry's socket still holds is dropped (the kernel may have buffered the whole blob)
          up.destroy();
          client.end();
        });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    arm: () => (armed = true),
    killed: () => killed,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
