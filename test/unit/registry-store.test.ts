/**
 * The local model store of registry pull (nodes/lib/registry/store.ts), on a real folder: blobs
 * checked while they stream in and written whole or not at all, an index that survives a reopen
 * and a damaged file, the last K versions kept with the one deployed last, no path from registry data.
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ModelStore, StoreError, digestHex } from '../../nodes/lib/registry/store';
import { tmpDir } from '../support/red';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
async function* chunks(b: Uint8Array, size = 1000): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
const model = (n: number, bytes = 5000) => Buffer.alloc(bytes, n);
/** Every file below a folder, relative to it. */
const files = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.relative(dir, path.join(d.parentPath ?? d.path, d.name))).sort();

async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    return e as StoreError;
  }
  throw new Error('expected a rejection');
}

describe('registry: the local model store', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('store');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('stores a blob under its digest once it checks, and keeps versions across a reopen', async () => {
    const s = await ModelStore.open(dir);
    const b = model(1);
    const r = await s.putBlob(chunks(b), { digest: sha(b), size: b.length });
    expect(r.path).to.equal(path.join(dir, 'blobs', 'sha256', digestHex(sha(b))));
    expect(fs.readFileSync(r.path)).to.deep.equal(b);
    await s.add({ name: 'bearing-fault', version: '1.0.0', digest: sha(b), source: 'oci://127.0.0.1:5000/models/bearing-fault:1.0.0' });
    await s.markDeployed(sha(b), new Date('2026-12-06T10:00:00Z'));
    const again = await ModelStore.open(dir);
    expect(again.list().map((m) => [m.name, m.version, m.size])).to.deep.equal([['bearing-fault', '1.0.0', 5000]]);
    expect(again.lastDeployed()?.deployed).to.deep.equal(['2026-12-06T10:00:00.000Z']);
    expect(files(dir)).to.deep.equal(['blobs/sha256/' + digestHex(sha(b)), 'index.json', 'index.json.bak'].sort());
  });

  it('refuses a blob whose content, size or digest string is wrong, or that is too large, and leaves nothing of it', async () => {
    const s = await ModelStore.open(dir, { maxBytes: 8000 });
    const b = model(2);
    const before = files(dir);
    const wrong = await rejection(s.putBlob(chunks(b), { digest: sha(model(3)) }));
    expect(wrong.code).to.equal('digestMismatch');
    expect(wrong.message).to.equal(`blob ${sha(model(3))} failed its digest check: its content hashes to ${sha(b)}`);
    expect((await rejection(s.putBlob(chunks(b), { digest: sha(b), size: 4000 }))).message).to.match(/expected 4000 bytes, got more/);
    expect((await rejection(s.putBlob(chunks(b), { digest: sha(b), size: 6000 }))).message).to.match(/expected 6000 bytes, got 5000/);
    const big = model(4, 9000);
    expect((await rejection(s.putBlob(chunks(big), { digest: sha(big) }))).code).to.equal('tooLarge');
    for (const bad of ['sha256:../../etc/passwd', 'sha512:' + 'a'.repeat(128), 'sha256:' + 'A'.repeat(64), '../x', 42]) {
      const e = await rejection(s.putBlob(chunks(b), { digest: bad as string }));
      expect(e.code).to.equal('badDigest');
      expect(e.message).to.match(/expected a digest "sha256:" followed by 64 lowercase hex digits/);
    }
    expect(files(dir)).to.deep.equal(before);
    expect(s.list()).to.deep.equal([]);
  });

  it('keeps the last K versions and always the one deployed last; a rollback to a kept version needs no download', async () => {
    const s = await ModelStore.open(dir, { keep: 2 });
    const blobs = [1, 2, 3, 4].map((n) => model(n));
    for (const [i, b] of blobs.entries()) {
      await s.putBlob(chunks(b), { digest: sha(b) });
      await s.add({ name: 'm', version: `1.${i}.0`, digest: sha(b) });
      if (i === 0) await s.markDeployed(sha(b));
    }
    // 1.3 and 1.2 are the newest two; 1.0 stays as the one deployed last; 1.1 and its blob are gone
    expect(s.list().map((m) => m.version)).to.deep.equal(['1.3.0', '1.2.0', '1.0.0']);
    expect(await s.has(sha(blobs[1]))).to.equal(false);
    // roll back to 1.2 offline: the blob is there, the deploy is recorded
    await s.markDeployed(sha(blobs[2]));
    expect(s.lastDeployed()?.version).to.equal('1.2.0');
    expect(fs.readFileSync(s.blobPath(sha(blobs[2])))).to.deep.equal(blobs[2]);
    // and now 1.0 is no longer kept
    await s.putBlob(chunks(model(5)), { digest: sha(model(5)) });
    await s.add({ name: 'm', version: '1.4.0', digest: sha(model(5)) });
    expect(s.list().map((m) => m.version)).to.deep.equal(['1.4.0', '1.3.0', '1.2.0']);
    expect(await s.has(sha(blobs[0]))).to.equal(false);
    expect((await rejection(s.markDeployed(sha(blobs[0])))).message).to.match(/no kept version has digest .*: expected one of m 1.4.0, m 1.3.0, m 1.2.0/);
    expect((await rejection(s.add({ name: 'm', version: '9', digest: sha(model(9)) }))).code).to.equal('notStored');
  });

  it('a blob whose digest nobody published (MLflow) is stored under the digest of its content, bounded all the same', async () => {
    const s = await ModelStore.open(dir, { maxBytes: 8000 });
    const b = model(10);
    const r = await s.putBlob(chunks(b), {});
    expect(r.digest).to.equal(sha(b));
    expect(fs.readFileSync(s.blobPath(sha(b)))).to.deep.equal(b);
    const e = await rejection(s.putBlob(chunks(model(11, 9000)), {}));
    expect(e.message).to.equal("the blob is larger than the store's limit of 8000 bytes");
    expect(files(dir)).to.deep.equal(['blobs/sha256/' + digestHex(sha(b))]);
  });

  it('names and versions are only values: hostile ones never become paths', async () => {
    const s = await ModelStore.open(dir);
    const b = model(6);
    await s.putBlob(chunks(b), { digest: sha(b) });
    await s.add({ name: '../../../etc/passwd', version: '/abs/../x', digest: sha(b) });
    expect(files(dir)).to.deep.equal(['blobs/sha256/' + digestHex(sha(b)), 'index.json'].sort());
    expect((await ModelStore.open(dir)).list()[0].name).to.equal('../../../etc/passwd');
  });

  it('a damaged index falls back to the one before; leftovers of a crash are removed at open', async () => {
    const s = await ModelStore.open(dir);
    for (const n of [7, 8]) {
      await s.putBlob(chunks(model(n)), { digest: sha(model(n)) });
      await s.add({ name: 'm', version: String(n), digest: sha(model(n)) });
    }
    fs.writeFileSync(path.join(dir, 'index.json'), '{"version": 1, "models": [');
    // a blob stored but never added, and temporary files, as a kill -9 leaves them
    await s.putBlob(chunks(model(9)), { digest: sha(model(9)) });
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', '.tmp-0123456789abcdef'), 'half a model');
    fs.writeFileSync(path.join(dir, '.tmp-fedcba9876543210'), '{"half');
    const again = await ModelStore.open(dir);
    // the backup holds the index before the last write: version 7 only, and its blob
    expect(again.list().map((m) => m.version)).to.deep.equal(['7']);
    expect(files(dir)).to.deep.equal(['blobs/sha256/' + digestHex(sha(model(7))), 'index.json', 'index.json.bak'].sort());
  });

  it('concurrent adds are applied in turn, none lost', async () => {
    const s = await ModelStore.open(dir, { keep: 10 });
    const blobs = [1, 2, 3, 4, 5, 6].map((n) => model(n, 100));
    await Promise.all(blobs.map((b) => s.putBlob(chunks(b), { digest: sha(b) })));
    await Promise.all(blobs.map((b, i) => s.add({ name: 'm', version: String(i), digest: sha(b) })));
    const again = await ModelStore.open(dir);
    expect(again.list().map((m) => m.version).sort()).to.deep.equal(['0', '1', '2', '3', '4', '5']);
  });
});
