/**
 * The local model store of `registry pull` (issue 11): what a gateway keeps of the models it
 * pulled, so that a restart offline deploys the last good model and a rollback needs no network.
 *
 *   <dir>/blobs/sha256/<64 hex>   content-addressed model files, written whole or not at all
 *   <dir>/index.json              the versions kept, newest first, and when each was deployed
 *   <dir>/index.json.bak          the index before the last write (read when index.json is damaged)
 *
 * Every write goes to a temporary file in the same folder, is fsynced and renamed into place (as
 * Node-RED's own storage does), and the folder is fsynced after the rename. A blob is hashed while
 * it streams in, its size bounded while it streams, and renamed into place only when its digest is
 * the one expected: a model that fails a check is never written in place. No path is built from
 * registry data: a blob's path comes from its digest, checked to be `sha256:` and 64 hex digits;
 * names and versions are only values in the index. The store keeps the last `keep` versions and
 * always the one deployed last; blobs no kept version names are deleted.
 */
import { createHash, randomBytes } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { CodedError } from '../node-red/errors';

export class StoreError extends CodedError {}

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** The hex of a `sha256:<64 hex>` digest, or a StoreError saying what was expected. */
export function digestHex(digest: unknown): string {
  const m = typeof digest === 'string' ? DIGEST.exec(digest) : null;
  if (!m) throw new StoreError('badDigest', { got: String(digest).slice(0, 80) }, `expected a digest "sha256:" followed by 64 lowercase hex digits, got ${JSON.stringify(String(digest).slice(0, 80))}`);
  return m[1];
}

/** One version the store keeps. */
export interface StoredVersion {
  name: string;
  version: string;
  digest: string;
  size: number;
  /** ISO time it was stored. */
  storedAt: string;
  /** ISO times it was deployed, oldest first. */
  deployed: string[];
  /** Where it came from (a registry reference, a URL), as given. */
  source?: string;
  /** The signature check when it was pulled (a restore or rollback reports it again). */
  signature?: { verified: boolean; key?: string };
}

export interface StoreOptions {
  /** Largest blob accepted, in bytes (enforced while it streams in). Default 2 GiB. */
  maxBytes?: number;
  /** Versions kept (besides the one deployed last). Default 5. */
  keep?: number;
}

interface Index {
  version: 1;
  models: StoredVersion[];
}

export class ModelStore {
  private index: Index = { version: 1, models: [] };
  /** Index writes and prunes in turn. */
  private queue: Promise<unknown> = Promise.resolve();
  readonly maxBytes: number;
  readonly keep: number;

  private constructor(readonly dir: string, o: StoreOptions) {
    this.maxBytes = o.maxBytes ?? 2 * 1024 ** 3;
    this.keep = o.keep ?? 5;
    if (!(Number.isInteger(this.keep) && this.keep >= 1)) throw new StoreError('keep', { got: String(o.keep) }, `expected to keep at least 1 version, got ${String(o.keep)}`);
  }

  /** Opens (or creates) a store; temporary files and blobs of no version that a crash left behind are removed. */
  static async open(dir: string, o: StoreOptions = {}): Promise<ModelStore> {
    const s = new ModelStore(path.resolve(dir), o);
    await fsp.mkdir(s.blobDir, { recursive: true });
    for (const f of await fsp.readdir(s.dir)) if (f.startsWith('.tmp-')) await fsp.rm(path.join(s.dir, f), { force: true });
    s.index = (await s.readIndex('index.json')) ?? (await s.readIndex('index.json.bak')) ?? { version: 1, models: [] };
    await s.sweep();
    return s;
  }

  private get blobDir(): string {
    return path.join(this.dir, 'blobs', 'sha256');
  }

  /** The file of a stored blob (the digest checked; the file may not exist). */
  blobPath(digest: string): string {
    return path.join(this.blobDir, digestHex(digest));
  }

  /** Whether the blob is stored. */
  async has(digest: string): Promise<boolean> {
    return fsp.stat(this.blobPath(digest)).then((st) => st.isFile(), () => false);
  }

  /**
   * Streams a blob in: hashed and counted as it arrives, refused beyond `maxBytes` or when its
   * digest (or size) is not the expected one; only then renamed into place. Nothing is left of a
   * refused or failed blob. Without an expected digest (a source that publishes none, MLflow) the
   * blob is stored under the digest its content has.
   */
  async putBlob(chunks: AsyncIterable<Uint8Array>, expected: { digest?: string; size?: number }): Promise<{ digest: string; size: number; path: string }> {
    const hex = expected.digest === undefined ? undefined : digestHex(expected.digest);
    const what = expected.digest ? `blob ${expected.digest}` : 'the blob';
    const limit = Math.min(this.maxBytes, expected.size ?? Infinity);
    const tmp = path.join(this.blobDir, `.tmp-${randomBytes(8).toString('hex')}`);
    const fh = await fsp.open(tmp, 'wx', 0o644);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of chunks) {
        size += chunk.length;
        if (size > limit) {
          throw size > this.maxBytes
            ? new StoreError('tooLarge', { digest: expected.digest ?? '', max: this.maxBytes }, `${what} is larger than the store's limit of ${this.maxBytes} bytes`)
            : new StoreError('sizeMismatch', { digest: expected.digest ?? '', expected: String(expected.size), got: `more than ${expected.size}` }, `${what}: expected ${expected.size} bytes, got more`);
        }
        hash.update(chunk);
        await fh.write(chunk);
      }
      if (expected.size !== undefined && size !== expected.size) {
        throw new StoreError('sizeMismatch', { digest: expected.digest ?? '', expected: expected.size, got: size }, `${what}: expected ${expected.size} bytes, got ${size}`);
      }
      const got = hash.digest('hex');
      if (hex !== undefined && got !== hex) throw new StoreError('digestMismatch', { digest: expected.digest!, got: `sha256:${got}` }, `blob ${expected.digest} failed its digest check: its content hashes to sha256:${got}`);
      await fh.sync();
      await fh.close();
      const digest = `sha256:${got}`;
      const final = this.blobPath(digest);
      await fsp.rename(tmp, final);
      await syncDir(this.blobDir);
      return { digest, size, path: final };
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  /** The versions kept, newest first. */
  list(): StoredVersion[] {
    return this.index.models.map((m) => ({ ...m, deployed: [...m.deployed] }));
  }

  /** The version deployed last (what a restart deploys), if any. */
  lastDeployed(): StoredVersion | undefined {
    let best: StoredVersion | undefined;
    for (const m of this.index.models) {
      const at = m.deployed[m.deployed.length - 1];
      if (at && (!best || at > best.deployed[best.deployed.length - 1])) best = m;
    }
    return best && { ...best, deployed: [...best.deployed] };
  }

  /** Records a stored blob as a version (the newest; a version stored before moves to the front), then prunes. */
  add(v: { name: string; version: string; digest: string; source?: string; signature?: StoredVersion['signature'] }): Promise<StoredVersion> {
    return this.update(async () => {
      digestHex(v.digest);
      const st = await fsp.stat(this.blobPath(v.digest)).catch(() => undefined);
      if (!st?.isFile()) throw new StoreError('notStored', { digest: v.digest }, `blob ${v.digest} is not in the store: expected it stored (putBlob) before it is added`);
      const before = this.index.models.find((m) => m.digest === v.digest && m.name === v.name && m.version === v.version);
      const entry: StoredVersion = { name: String(v.name), version: String(v.version), digest: v.digest, size: st.size, storedAt: new Date().toISOString(), deployed: before?.deployed ?? [], ...(v.source ? { source: String(v.source) } : {}), ...(v.signature ? { signature: { verified: v.signature.verified === true, ...(v.signature.key ? { key: String(v.signature.key) } : {}) } } : {}) };
      this.index.models = [entry, ...this.index.models.filter((m) => m !== before)];
      return entry;
    });
  }

  /** Records that a kept version was deployed now (a rollback is deploying an older one). */
  markDeployed(digest: string, at = new Date()): Promise<StoredVersion> {
    return this.update(async () => {
      digestHex(digest);
      const m = this.index.models.find((x) => x.digest === digest);
      if (!m) throw new StoreError('digestNotKept', { digest }, `no kept version has digest ${digest}: expected one of ${this.index.models.map((x) => `${x.name} ${x.version}`).join(', ') || 'none (the store is empty)'}`);
      m.deployed.push(at.toISOString());
      return { ...m, deployed: [...m.deployed] };
    });
  }

  /** Runs a change of the index in turn, then prunes and writes it atomically. */
  private update<T>(change: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const r = await change();
      await this.prune();
      await this.writeIndex();
      return r;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Keeps the newest `keep` versions and the one deployed last; deletes the blobs of the versions
   * dropped that no kept version names (not others: a blob streamed in but not yet added stays).
   */
  private async prune(): Promise<void> {
    const last = this.lastDeployed();
    const before = this.index.models;
    this.index.models = before.filter((m, i) => i < this.keep || (last && m.digest === last.digest && m.name === last.name && m.version === last.version));
    const kept = new Set(this.index.models.map((m) => m.digest));
    for (const m of before) if (!kept.has(m.digest)) await fsp.rm(this.blobPath(m.digest), { force: true });
  }

  /** Deletes blobs that no kept version names (a crash between storing a blob and adding it). */
  private async sweep(): Promise<void> {
    const kept = new Set(this.index.models.map((m) => digestHex(m.digest)));
    for (const f of await fsp.readdir(this.blobDir)) if (!kept.has(f)) await fsp.rm(path.join(this.blobDir, f), { force: true });
  }

  private async readIndex(file: string): Promise<Index | undefined> {
    try {
      const o = JSON.parse(await fsp.readFile(path.join(this.dir, file), 'utf8')) as Index;
      if (o?.version !== 1 || !Array.isArray(o.models)) return undefined;
      // only entries whose digest is well-formed and whose blob is there
      const models: StoredVersion[] = [];
      for (const m of o.models) {
        if (!m || typeof m !== 'object' || typeof m.name !== 'string' || typeof m.version !== 'string' || !DIGEST.test(String(m.digest))) continue;
        if (!(await this.has(m.digest))) continue;
        models.push({ ...m, deployed: Array.isArray(m.deployed) ? m.deployed.filter((d) => typeof d === 'string') : [] });
      }
      return { version: 1, models };
    } catch {
      return undefined;
    }
  }

  private async writeIndex(): Promise<void> {
    const file = path.join(this.dir, 'index.json');
    await fsp.copyFile(file, `${file}.bak`).catch(() => undefined);
    await writeAtomic(file, JSON.stringify(this.index, null, 2));
  }
}

/** Writes a file whole or not at all: a temporary file in the same folder, fsync, rename, fsync of the folder. */
export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  const fh = await fsp.open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dir);
}

/** fsync of a folder, so a rename or a new file in it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
