/**
 * The OCI image-layout folder of registry pull (nodes/lib/registry/layout.ts) with the artifact
 * reader and the local store, on real folders: a ModelPack artifact pushed with the sink and read
 * back through the source into the store; several repositories in one folder; hostile layouts
 * (a blob or manifest whose content does not match its digest, bad digest strings, an index.json
 * that is not JSON or not an index) refused with nothing written outside the store and layout.
 */
import { expect } from 'chai';
import { createHash, generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { fetchModel, pushModelPack } from '../../nodes/lib/registry/artifact';
import { verifyManifestSignature } from '../../nodes/lib/registry/cosign';
import { LayoutFolder } from '../../nodes/lib/registry/layout';
import { MEDIA } from '../../nodes/lib/registry/source';
import { digestHex, ModelStore } from '../../nodes/lib/registry/store';
import { tmpDir } from '../support/red';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** Every file below a folder, relative to it. */
const files = (dir: string): string[] =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => !d.isDirectory())
    .map((d) => path.relative(dir, path.join(d.parentPath ?? d.path, d.name)))
    .sort();
const onnx = (n: number, bytes = 3000) => Buffer.alloc(bytes, n);

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('registry: OCI image-layout folder', () => {
  let root: string;
  let dir: string;
  let storeDir: string;
  beforeEach(() => {
    root = tmpDir('layout');
    dir = path.join(root, 'layout');
    storeDir = path.join(root, 'store');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('pushes a ModelPack artifact and reads it back through the source into the store', async () => {
    const layout = await LayoutFolder.create(dir);
    const model = onnx(1);
    const { digest, artifact } = await pushModelPack(layout, 'models/bearing-fault', '1.0.0', model, { name: 'bearing-fault', version: '1.0.0', created: '2026-12-06T10:00:00Z' });
    expect(digest).to.equal(artifact.manifest.digest);
    // the layout is what image-spec describes
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'oci-layout'), 'utf8'))).to.deep.equal({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
    expect(index.schemaVersion).to.equal(2);
    expect(index.mediaType).to.equal(MEDIA.index);
    expect(index.manifests).to.deep.equal([
      { mediaType: MEDIA.manifest, digest, size: artifact.manifest.bytes.length, artifactType: MEDIA.modelManifest, annotations: { 'org.opencontainers.image.ref.name': 'models/bearing-fault:1.0.0' } },
    ]);
    expect(files(dir)).to.deep.equal(['blobs/sha256/' + digestHex(sha(model)), 'blobs/sha256/' + digestHex(artifact.config.descriptor.digest), 'blobs/sha256/' + digestHex(digest), 'index.json', 'oci-layout'].sort());
    // and any reader of a layout: a second LayoutFolder on the same folder
    const source = new LayoutFolder(dir);
    expect(await source.tags('models/bearing-fault')).to.deep.equal(['1.0.0']);
    const m = await source.manifest('models/bearing-fault', '1.0.0');
    expect(m).to.deep.include({ digest, mediaType: MEDIA.manifest });
    expect(Buffer.from(m.bytes)).to.deep.equal(Buffer.from(artifact.manifest.bytes));
    expect((await source.manifest('models/bearing-fault', digest)).digest).to.equal(digest);
    const store = await ModelStore.open(storeDir);
    const got = await fetchModel(source, 'models/bearing-fault', '1.0.0', store);
    expect(got).to.deep.include({ fileName: 'bearing-fault.onnx', digest: sha(model), size: model.length });
    expect(got.model).to.deep.include({ format: 'modelpack', packing: 'raw', name: 'bearing-fault', version: '1.0.0' });
    expect(fs.readFileSync(got.path)).to.deep.equal(model);
    expect(got.path).to.equal(store.blobPath(sha(model)));
  });

  it('holds several repositories and retags: repo:tag ref names, a bare tag answers every repository', async () => {
    const layout = await LayoutFolder.create(dir);
    await pushModelPack(layout, 'models/a', '1.0.0', onnx(1), { name: 'a', version: '1.0.0' });
    await pushModelPack(layout, 'models/a', '1.1.0', onnx(2), { name: 'a', version: '1.1.0' });
    await pushModelPack(layout, 'models/b', '1.0.0', onnx(3), { name: 'b', version: '1.0.0' });
    const latest = await pushModelPack(layout, 'models/a', 'latest', onnx(2), { name: 'a', version: '1.1.0' });
    const moved = await pushModelPack(layout, 'models/a', 'latest', onnx(4), { name: 'a', version: '1.2.0' });
    expect(latest.digest).to.not.equal(moved.digest);
    expect(await layout.tags('models/a')).to.deep.equal(['1.0.0', '1.1.0', 'latest']);
    expect(await layout.tags('models/b')).to.deep.equal(['1.0.0']);
    expect(await layout.tags('models/c')).to.deep.equal([]);
    expect((await layout.manifest('models/a', 'latest')).digest).to.equal(moved.digest);
    expect((await layout.manifest('models/b', '1.0.0')).digest).to.not.equal((await layout.manifest('models/a', '1.0.0')).digest);
    const missing = await rejection(layout.manifest('models/b', '2.0.0'));
    expect(missing.message).to.match(/no tag "2.0.0" for models\/b: expected one of 1.0.0$/);
    // a layout as `oras push --oci-layout dir:v1` writes it: the ref name is only the tag
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
    index.manifests.push({ ...index.manifests[0], annotations: { 'org.opencontainers.image.ref.name': 'v1' } });
    fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
    expect(await layout.tags('models/b')).to.deep.equal(['1.0.0', 'v1']);
    expect((await layout.manifest('models/b', 'v1')).digest).to.equal(index.manifests[0].digest);
  });

  it('pushes concurrently without losing a tag', async () => {
    const layout = await LayoutFolder.create(dir);
    await Promise.all([1, 2, 3, 4, 5].map((n) => pushModelPack(layout, 'models/a', `1.${n}.0`, onnx(n), { name: 'a', version: `1.${n}.0` })));
    expect(await layout.tags('models/a')).to.deep.equal(['1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0']);
  });

  it('names every blob it writes by its content (checked by coreutils sha256sum -c, not by this package)', async () => {
    const layout = await LayoutFolder.create(dir);
    await pushModelPack(layout, 'models/a', '1', onnx(1), { name: 'a', version: '1' });
    const blobs = path.join(dir, 'blobs', 'sha256');
    const r = spawnSync('sha256sum', ['-c'], { cwd: blobs, input: fs.readdirSync(blobs).map((h) => `${h}  ${h}\n`).join(''), encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout.trim().split('\n')).to.have.length(3);
  });

  it('scripts/model-push.ts pushes an .onnx file to a layout folder (name and version from its metadata)', async () => {
    const file = path.resolve(__dirname, '..', '..', 'examples', 'bearing-fault.onnx');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '..', '..', 'scripts', 'model-push.ts'), file, '--layout', dir, 'models/bearing-fault:v1', '--annotation', 'site=plant-7'], { encoding: 'utf8', timeout: 60000 });
    expect(r.status, r.stderr).to.equal(0);
    const layout = new LayoutFolder(dir);
    const m = await layout.manifest('models/bearing-fault', 'v1');
    expect(r.stdout.trim()).to.match(new RegExp(`^models/bearing-fault:v1 ${m.digest} \\(\\S+ \\S+\\)$`));
    const annotations = JSON.parse(Buffer.from(m.bytes).toString()).annotations;
    expect(annotations.site).to.equal('plant-7');
    const store = await ModelStore.open(storeDir);
    const got = await fetchModel(layout, 'models/bearing-fault', 'v1', store);
    expect(got.digest).to.equal(sha(fs.readFileSync(file)));
    expect(r.stdout).to.include(`(${got.model.name} ${got.model.version})`);
    const bad = spawnSync(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '..', '..', 'scripts', 'model-push.ts'), file, '--layout', dir, 'Models/../x:v1'], { encoding: 'utf8', timeout: 60000 });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.match(/expected a repository name/);
  });

  it('scripts/model-push.ts --key signs what it pushes in cosign\'s format, verifiable with the public key', async () => {
    const file = path.resolve(__dirname, '..', '..', 'examples', 'bearing-fault.onnx');
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = path.join(storeDir, '..', 'signing-key.pem');
    fs.writeFileSync(keyFile, k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '..', '..', 'scripts', 'model-push.ts'), file, '--layout', dir, 'models/bearing-fault:1.0.0', '--key', keyFile], { encoding: 'utf8', timeout: 60000 });
    fs.rmSync(keyFile);
    expect(r.status, r.stderr).to.equal(0);
    const layout = new LayoutFolder(dir);
    const m = await layout.manifest('models/bearing-fault', '1.0.0');
    expect(r.stdout).to.match(new RegExp(`, signed \\(sha256-${m.digest.slice(7)}\\.sig, key sha256:[0-9a-f]{64}\\)`));
    const v = await verifyManifestSignature(layout, 'models/bearing-fault', m.digest, k.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(v.verified).to.equal(true);
  });

  describe('hostile layouts', () => {
    let model: Buffer;
    let pushed: Awaited<ReturnType<typeof pushModelPack>>;
    beforeEach(async () => {
      model = onnx(7);
      pushed = await pushModelPack(await LayoutFolder.create(dir), 'models/a', '1.0.0', model, { name: 'a', version: '1.0.0' });
    });

    /** Runs a pull that must fail; asserts nothing changed in the root (store and layout included) and the store kept no blob. */
    async function refused(run: (layout: LayoutFolder, store: ModelStore) => Promise<unknown>): Promise<Error & { code?: string }> {
      const store = await ModelStore.open(storeDir);
      const before = files(root);
      const e = await rejection(run(new LayoutFolder(dir), store));
      expect(files(root)).to.deep.equal(before);
      expect(fs.readdirSync(path.join(storeDir, 'blobs', 'sha256'))).to.deep.equal([]);
      return e;
    }

    it('refuses a model blob whose content does not match its digest (nothing stored)', async () => {
      const file = path.join(dir, 'blobs', 'sha256', digestHex(sha(model)));
      const evil = Buffer.from(model);
      evil[0] ^= 0xff;
      fs.writeFileSync(file, evil);
      const e = await refused((l, s) => fetchModel(l, 'models/a', '1.0.0', s));
      expect(e.code).to.equal('digestMismatch');
      expect(e.message).to.equal(`blob ${sha(model)} failed its digest check: its content hashes to ${sha(evil)}`);
    });

    it('refuses a blob of another size than its descriptor, before reading it', async () => {
      fs.appendFileSync(path.join(dir, 'blobs', 'sha256', digestHex(sha(model))), 'x');
      const e = await refused((l, s) => fetchModel(l, 'models/a', '1.0.0', s));
      expect(e.code).to.equal('blobSize');
      expect(e.message).to.match(new RegExp(`blob ${sha(model)}: expected 3000 bytes, the file has 3001$`));
    });

    it('refuses a manifest whose bytes do not hash to its digest', async () => {
      const file = path.join(dir, 'blobs', 'sha256', digestHex(pushed.digest));
      const text = fs.readFileSync(file, 'utf8').replace('"1.0.0"', '"6.6.6"');
      fs.writeFileSync(file, text);
      const e = await refused((l, s) => fetchModel(l, 'models/a', '1.0.0', s));
      expect(e.code).to.equal('manifestDigest');
      expect(e.message).to.match(new RegExp(`manifest ${pushed.digest} failed its digest check: its content hashes to ${sha(Buffer.from(text))}$`));
    });

    it('refuses an index.json whose digests are not sha256:<64 hex> (no path built from them)', async () => {
      for (const bad of ['sha256:../../../etc/passwd', 'sha256:' + 'A'.repeat(64), 'md5:abc', '../../x']) {
        const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
        index.manifests[0].digest = bad;
        fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
        const e = await refused((l, s) => fetchModel(l, 'models/a', '1.0.0', s));
        expect(e.code).to.equal('badDigest');
        expect(e.message).to.include('expected a digest "sha256:" followed by 64 lowercase hex digits');
      }
    });

    it('refuses digest references and blob descriptors that are not sha256:<64 hex>', async () => {
      const l = new LayoutFolder(dir);
      for (const bad of ['sha256:../../../index.json', 'sha512:' + 'a'.repeat(128)]) {
        expect((await rejection(l.manifest('models/a', bad))).code).to.equal('badDigest');
        expect((await rejection(l.blob('models/a', { mediaType: MEDIA.modelWeightRaw, digest: bad, size: 1 }))).code).to.equal('badDigest');
        expect((await rejection(l.pushBlob('models/a', { mediaType: MEDIA.modelWeightRaw, digest: bad, size: 1 }, Buffer.from('x')))).code).to.equal('badDigest');
      }
      expect((await rejection(l.manifest('../../etc', '1.0.0'))).code).to.equal('badRepository');
      expect((await rejection(l.manifest('models/a', '../x'))).code).to.equal('badReference');
    });

    it('refuses an index.json that is not JSON, not an index, or a folder without oci-layout', async () => {
      const indexFile = path.join(dir, 'index.json');
      fs.writeFileSync(indexFile, '{"schemaVersion": 2, "manifests": [');
      let e = await refused((l, s) => fetchModel(l, 'models/a', '1.0.0', s));
      expect(e.code).to.equal('indexNotJson');
      expect(e.message).to.match(/index.json to be an OCI image index \(JSON\), got text that is not JSON/);
      fs.writeFileSync(indexFile, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, layers: [] }));
      e = await refused((l) => l.tags('models/a'));
      expect(e.code).to.equal('indexNotIndex');
      fs.writeFileSync(indexFile, JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA.manifest, digest: pushed.digest, size: -5 }] }));
      e = await refused((l) => l.tags('models/a'));
      expect(e.code).to.equal('badSize');
      fs.rmSync(path.join(dir, 'oci-layout'));
      e = await refused((l) => l.tags('models/a'));
      expect(e.code).to.equal('notLayout');
      expect(e.message).to.match(/expected an oci-layout file \{"imageLayoutVersion":"1.0.0"\}, got none$/);
    });

    it('refuses a blob that is a symlink (lstat: only regular files are read)', async () => {
      const file = path.join(dir, 'blobs', 'sha256', digestHex(sha(model)));
      const outside = path.join(root, 'outside');
      fs.writeFileSync(outside, model);
      fs.rmSync(file);
      fs.symlinkSync(outside, file);
      const e = await refused((l, s) => fetchModel(l, 'models/a', '1.0.0', s));
      expect(e.code).to.equal('blobMissing');
    });

    it('refuses to push a blob whose content does not match its descriptor, and writes nothing', async () => {
      const l = new LayoutFolder(dir);
      const before = files(root);
      const b = Buffer.from('hello');
      let e = await rejection(l.pushBlob('models/a', { mediaType: MEDIA.modelWeightRaw, digest: sha(Buffer.from('other')), size: 5 }, b));
      expect(e.code).to.equal('blobDigest');
      e = await rejection(l.pushBlob('models/a', { mediaType: MEDIA.modelWeightRaw, digest: sha(b), size: 4 }, async function* () {
        yield b;
      }));
      expect(e.code).to.equal('blobSize');
      e = await rejection(l.pushManifest('models/a', Buffer.from('not json'), MEDIA.manifest, 'x'));
      expect(e.code).to.equal('manifestNotJson');
      expect(files(root)).to.deep.equal(before);
    });
  });
});
