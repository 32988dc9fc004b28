/**
 * An OCI image-layout folder (image-spec image-layout.md) as an ArtifactSource and an
 * ArtifactSink: the embedded, fully offline default of `registry pull`, and where the push CLI
 * and the demo put their models.
 *
 *   <dir>/oci-layout              {"imageLayoutVersion":"1.0.0"}
 *   <dir>/index.json              an image index: one descriptor per tagged manifest
 *   <dir>/blobs/sha256/<64 hex>   manifests, configs and layers, by digest
 *
 * Repositories: one layout folder holds any number of repositories. A tagged manifest's
 * `org.opencontainers.image.ref.name` is `<repository>:<tag>` (e.g. `models/bearing-fault:1.2.0`;
 * neither part can hold a `:`, so it splits at the last one). A ref name that is a bare tag (what
 * `oras push --oci-layout dir:tag` and skopeo write, one repository per folder) belongs to every
 * repository asked for. A manifest asked for by digest is any manifest blob of the folder.
 *
 * Nothing read is trusted: index.json must be an image index whose descriptors check; a path is
 * only ever built from a digest checked to be `sha256:<64 hex>`; a manifest's bytes must hash to
 * its digest; a blob must be a regular file of the size its descriptor gives (the store checks
 * its digest as it streams in). Writes are atomic (writeAtomic: temp file, fsync, rename), blobs
 * checked against their digest before they are renamed into place, index.json written last.
 * Index updates of one LayoutFolder run in turn; two processes pushing to one folder at the same
 * moment are not coordinated (the last index write wins).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CodedError } from '../node-red/errors';
import { ANNOTATION, checkDescriptor, MAX_MANIFEST_BYTES } from './artifact';
import { checkReference, checkRepository } from './distribution';
import { type ArtifactSink, type ArtifactSource, type Descriptor, type FetchedManifest, MEDIA } from './source';
import { digestHex, writeAtomic } from './store';

const fsp = fs.promises;

export class LayoutError extends CodedError {}

const LAYOUT_VERSION = '1.0.0';
/** Largest index.json read. */
const MAX_INDEX_BYTES = 16 * 1024 * 1024;

interface LayoutIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The repository and tag a ref name gives (`repo:tag`), or only a tag (a bare tag), or undefined for neither. */
function splitRefName(ref: string | undefined): { repository?: string; tag: string } | undefined {
  if (!ref) return undefined;
  const colon = ref.lastIndexOf(':');
  const repository = colon >= 0 ? ref.slice(0, colon) : undefined;
  const tag = ref.slice(colon + 1);
  try {
    if (!checkReference(tag).tag) return undefined;
    if (repository !== undefined) checkRepository(repository);
  } catch {
    return undefined;
  }
  return { repository, tag };
}

export class LayoutFolder implements ArtifactSource, ArtifactSink {
  /** Index changes in turn. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The layout files written once before the first push. */
  private ready: Promise<void> | undefined;

  constructor(readonly dir: string) {
    this.dir = path.resolve(dir);
  }

  /** Creates the folder's oci-layout file, blobs folder and an empty index.json where missing; checks an existing layout. */
  static async create(dir: string): Promise<LayoutFolder> {
    const l = new LayoutFolder(dir);
    await l.init();
    return l;
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await fsp.mkdir(this.blobDir, { recursive: true });
      if (!fs.existsSync(path.join(this.dir, 'oci-layout'))) await writeAtomic(path.join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
      if (!fs.existsSync(path.join(this.dir, 'index.json'))) await writeAtomic(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [] }));
      await this.readIndex();
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  private get blobDir(): string {
    return path.join(this.dir, 'blobs', 'sha256');
  }

  /** The file of a blob: only from a digest checked to be sha256:<64 hex>. */
  blobPath(digest: string): string {
    return path.join(this.blobDir, digestHex(digest));
  }

  private error(code: string, params: Record<string, string | number>, message: string): LayoutError {
    return new LayoutError(code, { dir: this.dir, ...params }, `OCI layout ${this.dir}: ${message}`);
  }

  /** oci-layout and index.json, checked. */
  async readIndex(): Promise<LayoutIndex> {
    const layoutFile = await fsp.readFile(path.join(this.dir, 'oci-layout'), 'utf8').catch(() => undefined);
    let version: unknown;
    try {
      version = layoutFile === undefined ? undefined : (JSON.parse(layoutFile) as { imageLayoutVersion?: unknown })?.imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== LAYOUT_VERSION) throw this.error('notLayout', {}, `expected an oci-layout file {"imageLayoutVersion":"${LAYOUT_VERSION}"}, got ${layoutFile === undefined ? 'none' : JSON.stringify(layoutFile.slice(0, 80))}`);
    const file = path.join(this.dir, 'index.json');
    const st = await fsp.stat(file).catch(() => undefined);
    if (!st?.isFile()) throw this.error('noIndex', {}, 'expected an index.json file');
    if (st.size > MAX_INDEX_BYTES) throw this.error('indexTooLarge', { size: st.size }, `expected an index.json of at most ${MAX_INDEX_BYTES} bytes, got ${st.size}`);
    let o: Partial<LayoutIndex> | null;
    try {
      o = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<LayoutIndex> | null;
    } catch (e) {
      throw this.error('indexNotJson', { reason: (e as Error).message }, `expected index.json to be an OCI image index (JSON), got text that is not JSON: ${(e as Error).message}`);
    }
    if (!o || typeof o !== 'object' || o.schemaVersion !== 2 || !Array.isArray(o.manifests) || (o.mediaType !== undefined && o.mediaType !== MEDIA.index)) {
      throw this.error('indexNotIndex', {}, `expected index.json to be an OCI image index (schemaVersion 2, mediaType ${MEDIA.index}, a manifests array)`);
    }
    const manifests = o.manifests.map((d, i) => checkDescriptor(d, `${this.dir}/index.json manifest ${i}`));
    return { schemaVersion: 2, mediaType: MEDIA.index, manifests, ...(o.annotations ? { annotations: o.annotations } : {}) };
  }

  /** The descriptors of a repository's tags in index.json (`repo:tag`, or a bare tag). */
  private async tagged(repository: string): Promise<Array<{ tag: string; d: Descriptor }>> {
    checkRepository(repository);
    const index = await this.readIndex();
    const out: Array<{ tag: string; d: Descriptor }> = [];
    for (const d of index.manifests) {
      const r = splitRefName(d.annotations?.[ANNOTATION.refName]);
      if (r && (r.repository === undefined || r.repository === repository)) out.push({ tag: r.tag, d });
    }
    return out;
  }

  async tags(repository: string): Promise<string[]> {
    return [...new Set((await this.tagged(repository)).map((t) => t.tag))].sort();
  }

  async manifest(repository: string, reference: string): Promise<FetchedManifest> {
    let d: Pick<Descriptor, 'digest'> & Partial<Descriptor>;
    if (checkReference(reference).digest) {
      checkRepository(repository);
      // a manifest blob not in index.json (e.g. named by a nested index) gets its media type from its own bytes
      d = (await this.readIndex()).manifests.find((m) => m.digest === reference) ?? { digest: reference };
    } else {
      // a repo:tag entry wins over a bare tag
      const all = (await this.tagged(repository)).filter((t) => t.tag === reference);
      const own = all.filter((t) => t.d.annotations?.[ANNOTATION.refName] === `${repository}:${reference}`);
      const found = (own.length ? own : all).at(-1)?.d;
      if (!found) throw this.error('tagNotFound', { repository, tag: reference }, `no tag ${JSON.stringify(reference)} for ${repository}: expected one of ${(await this.tags(repository)).join(', ') || 'none (no tags)'}`);
      d = found;
    }
    const file = this.blobPath(d.digest);
    const st = await fsp.lstat(file).catch(() => undefined);
    if (!st?.isFile()) throw this.error('blobMissing', { digest: d.digest }, `expected the manifest ${d.digest} as a file in blobs/sha256, found ${st ? 'something else' : 'nothing'}`);
    if (st.size > MAX_MANIFEST_BYTES) throw this.error('manifestTooLarge', { digest: d.digest, size: st.size }, `manifest ${d.digest} is ${st.size} bytes: expected at most ${MAX_MANIFEST_BYTES}`);
    const bytes = await fsp.readFile(file);
    const got = sha256(bytes);
    if (got !== d.digest) throw this.error('manifestDigest', { digest: d.digest, got }, `manifest ${d.digest} failed its digest check: its content hashes to ${got}`);
    if (d.size !== undefined && bytes.length !== d.size) throw this.error('manifestSize', { digest: d.digest, size: d.size, got: bytes.length }, `manifest ${d.digest}: expected ${d.size} bytes as index.json says, got ${bytes.length}`);
    let mediaType = d.mediaType;
    if (!mediaType) {
      try {
        mediaType = String((JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType ?? MEDIA.manifest);
      } catch {
        mediaType = MEDIA.manifest; // the artifact reader says it is not JSON
      }
    }
    return { digest: d.digest, mediaType, bytes: new Uint8Array(bytes) };
  }

  async blob(repository: string, d: Descriptor): Promise<AsyncIterable<Uint8Array>> {
    checkRepository(repository);
    const file = this.blobPath(d.digest);
    const st = await fsp.lstat(file).catch(() => undefined);
    if (!st?.isFile()) throw this.error('blobMissing', { digest: d.digest }, `expected the blob ${d.digest} as a file in blobs/sha256, found ${st ? 'something else' : 'nothing'}`);
    if (st.size !== d.size) throw this.error('blobSize', { digest: d.digest, size: d.size, got: st.size }, `blob ${d.digest}: expected ${d.size} bytes, the file has ${st.size}`);
    return fs.createReadStream(file);
  }

  /** Whether a blob of that digest and size is there. */
  private async hasBlob(d: Descriptor): Promise<boolean> {
    const st = await fsp.lstat(this.blobPath(d.digest)).catch(() => undefined);
    return !!st?.isFile() && st.size === d.size;
  }

  /**
   * Writes a blob whole or not at all, after checking its content against the descriptor's digest
   * and size; skipped when the folder has it. The content is held in memory (the push side has the
   * model in memory already).
   */
  async pushBlob(repository: string, d: Descriptor, content: Uint8Array | (() => AsyncIterable<Uint8Array>)): Promise<void> {
    checkRepository(repository);
    const desc = checkDescriptor(d, 'blob');
    if (await this.hasBlob(desc)) return;
    let bytes: Uint8Array;
    if (content instanceof Uint8Array) bytes = content;
    else {
      const parts: Uint8Array[] = [];
      let n = 0;
      for await (const c of content()) {
        n += c.length;
        if (n > desc.size) throw this.error('blobSize', { digest: desc.digest, size: desc.size, got: `more than ${desc.size}` }, `blob ${desc.digest}: expected ${desc.size} bytes, got more`);
        parts.push(c);
      }
      bytes = Buffer.concat(parts);
    }
    if (bytes.length !== desc.size) throw this.error('blobSize', { digest: desc.digest, size: desc.size, got: bytes.length }, `blob ${desc.digest}: expected ${desc.size} bytes, got ${bytes.length}`);
    const got = sha256(bytes);
    if (got !== desc.digest) throw this.error('blobDigest', { digest: desc.digest, got }, `blob ${desc.digest} failed its digest check: its content hashes to ${got}`);
    await this.init();
    await writeAtomic(this.blobPath(desc.digest), bytes);
  }

  /**
   * Writes a manifest blob, then (with a tag) index.json with `<repository>:<tag>` naming it (an
   * earlier manifest of that tag loses the tag). Returns the manifest's digest.
   */
  async pushManifest(repository: string, bytes: Uint8Array, mediaType: string, tag?: string): Promise<string> {
    checkRepository(repository);
    if (tag !== undefined && !checkReference(tag).tag) throw this.error('tagIsDigest', { tag }, `expected a tag to push under, got the digest ${tag}`);
    if (bytes.length > MAX_MANIFEST_BYTES) throw this.error('manifestTooLarge', { size: bytes.length }, `expected a manifest of at most ${MAX_MANIFEST_BYTES} bytes, got ${bytes.length}`);
    let artifactType: string | undefined;
    try {
      const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as { artifactType?: unknown };
      if (typeof o?.artifactType === 'string') artifactType = o.artifactType;
    } catch (e) {
      throw this.error('manifestNotJson', { reason: (e as Error).message }, `expected a manifest in JSON, got bytes that are not JSON: ${(e as Error).message}`);
    }
    const d = checkDescriptor({ mediaType, digest: sha256(bytes), size: bytes.length, ...(artifactType ? { artifactType } : {}) }, 'manifest');
    await this.pushBlob(repository, d, bytes);
    if (tag === undefined) return d.digest;
    const ref = `${repository}:${tag}`;
    const run = this.queue.then(async () => {
      const index = await this.readIndex();
      index.manifests = [...index.manifests.filter((m) => m.annotations?.[ANNOTATION.refName] !== ref), { ...d, annotations: { [ANNOTATION.refName]: ref } }];
      await writeAtomic(path.join(this.dir, 'index.json'), JSON.stringify(index, null, 2));
    });
    this.queue = run.catch(() => undefined);
    await run;
    return d.digest;
  }
}
