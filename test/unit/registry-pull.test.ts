/**
 * registry pull's behaviour without Node-RED (nodes/lib/registry/pull.ts) on a real OCI image-layout
 * folder filled by the push CLI's function, the demo's real ONNX model, real cosign-format
 * signatures and the real store: version selection, the signature checked before any blob is
 * fetched, only verified ONNX models kept, restore and rollback without the registry.
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { pushModelPack } from '../../nodes/lib/registry/artifact';
import { keyFingerprint, loadPublicKey, signManifest } from '../../nodes/lib/registry/cosign';
import { LayoutFolder } from '../../nodes/lib/registry/layout';
import { ModelPuller, type RegistrySettings } from '../../nodes/lib/registry/pull';
import { ModelStore } from '../../nodes/lib/registry/store';
import { pushModelFile } from '../../scripts/model-push';
import { tmpDir } from '../support/red';

const DEMO_MODEL = path.join(__dirname, '..', '..', 'flows', 'predictive-maintenance', 'models', 'bearing-fault.onnx');
const REPO = 'models/bearing-fault';
const keyPair = () => {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { pub: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(), priv: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
};

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('registry pull (lib): layout folder -> verified model in the store', function () {
  this.timeout(30000);
  let dir: string;
  let layoutDir: string;
  let layout: LayoutFolder;
  const digests: Record<string, string> = {};
  const signer = keyPair();
  const other = keyPair();

  beforeEach(async () => {
    dir = tmpDir('pull');
    layoutDir = path.join(dir, 'layout');
    layout = await LayoutFolder.create(layoutDir);
    for (const v of ['1.0.0', '1.1.0', '2.0.0-rc.1']) digests[v] = (await pushModelFile(layout, DEMO_MODEL, `${REPO}:${v}`, { version: v })).digest;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const puller = async (o: Partial<RegistrySettings> = {}) => new ModelPuller({ kind: 'layout', location: layoutDir, ...o }, REPO, await ModelStore.open(path.join(dir, 'store')));

  it('pulls the latest release into the store and describes it as a model message; the same model again is no change', async () => {
    const p = await puller();
    expect(p.checksSignatures).to.equal(false);
    const r = await p.pull('latest');
    const file = fs.readFileSync(DEMO_MODEL);
    expect(fs.readFileSync(r.model.path)).to.deep.equal(file);
    expect(r.model).to.include({ name: 'bearing-fault', version: '1.1.0', format: 'onnx', source: `${REPO}:1.1.0` });
    expect((r.model.metadata as { features: string[] }).features).to.have.length(40);
    expect(r.registry).to.deep.include({ requested: `${REPO}:latest`, reference: `${REPO}:1.1.0`, digest: digests['1.1.0'], signature: { verified: false }, source: 'layout' });
    expect(r.changed).to.equal(true);
    await p.deployed(r);
    const again = await p.pull('^1.0');
    expect(again.registry.reference).to.equal(`${REPO}:1.1.0`);
    expect(again.changed).to.equal(false);
    expect((await p.pull(digests['1.0.0'])).registry.reference).to.equal(`${REPO}@${digests['1.0.0']}`);
  });

  it('with a public key: an unsigned model is refused before any blob is fetched; signed by the key it passes; by another key it is refused', async () => {
    const p = await puller({ publicKey: signer.pub });
    expect(p.checksSignatures).to.equal(true);
    const unsigned = await rejection(p.pull('1.1.0'));
    expect(unsigned.code).to.equal('cosignUnsigned');
    expect(fs.readdirSync(path.join(dir, 'store', 'blobs', 'sha256'))).to.deep.equal([]);
    expect(p.store.list()).to.deep.equal([]);
    await signManifest(layout, REPO, digests['1.1.0'], other.priv, { source: layout });
    expect((await rejection(p.pull('1.1.0'))).code).to.equal('cosignSignatureMismatch');
    expect(p.store.list()).to.deep.equal([]);
    await signManifest(layout, REPO, digests['1.1.0'], signer.priv, { source: layout });
    const r = await p.pull('1.1.0');
    expect(r.registry.signature).to.deep.equal({ verified: true, key: keyFingerprint(loadPublicKey(signer.pub)) });
    expect(p.store.list().map((v) => [v.version, v.signature?.verified])).to.deep.equal([['1.1.0', true]]);
  });

  it('restores the model deployed last and rolls back to a kept version with the registry gone', async () => {
    const p = await puller();
    await p.deployed(await p.pull('1.0.0'));
    await p.deployed(await p.pull('1.1.0'));
    fs.rmSync(layoutDir, { recursive: true, force: true }); // no registry any more
    const restarted = await puller();
    const restored = await restarted.restore();
    expect(restored!.model).to.include({ version: '1.1.0' });
    expect(restored!.registry.source).to.equal('store');
    expect(restored!.changed).to.equal(false);
    const back = await restarted.rollback('1.0.0');
    expect(back.model.version).to.equal('1.0.0');
    expect(fs.readFileSync(back.model.path)).to.deep.equal(fs.readFileSync(DEMO_MODEL));
    expect(back.changed).to.equal(false); // same file as 1.1.0 in this test: the digest decides
    expect((await rejection(restarted.rollback('0.9.0'))).message).to.match(/no version "0.9.0" kept in the local store: expected one of 1.1.0 \(sha256:.*\), 1.0.0/);
    expect((await rejection(restarted.pull('latest'))).message).to.match(/layout/i);
  });

  it('a file that is not an ONNX model is refused and not kept', async () => {
    await pushModelPack(layout, REPO, '3.0.0', Buffer.from('not a model at all'), { name: 'bogus', version: '3.0.0' });
    const p = await puller();
    const e = await rejection(p.pull('3.0.0'));
    expect(e.code).to.equal('notOnnx');
    expect(e.message).to.match(/models\/bearing-fault:3.0.0: expected an ONNX model/);
    expect(p.store.list()).to.deep.equal([]);
    expect(fs.readdirSync(path.join(dir, 'store', 'blobs', 'sha256'))).to.deep.equal([]);
  });

  it('refuses settings that cannot work, saying what was expected', async () => {
    const store = await ModelStore.open(path.join(dir, 'store'));
    expect(() => new ModelPuller({ kind: 'ftp' as never, location: 'x' }, REPO, store)).to.throw(/expected a registry kind of layout, oci, mlflow, url, got ftp/);
    expect(() => new ModelPuller({ kind: 'oci', location: '' }, REPO, store)).to.throw(/expected the server URL of the registry/);
    expect(() => new ModelPuller({ kind: 'layout', location: layoutDir }, ' ', store)).to.throw(/expected the model to pull: the repository/);
  });
});
