/**
 * Artifact formats of `registry pull` (issue 11): from a pulled OCI image manifest to "the model
 * to store", and the push side that writes a model as a CNCF ModelPack artifact.
 *
 * Read, in this order:
 *   1. ModelPack (modelpack/model-spec v0.0.7): artifactType application/vnd.cncf.model.manifest.v1+json
 *      (or its config media type); the model is the weight layer (application/vnd.cncf.model.weight.v1.raw,
 *      or .tar / .tar+gzip holding the file) whose org.cncf.model.filepath ends in .onnx. This package writes it.
 *   2. KitOps ModelKit: no artifactType (and no mediaType field) in its manifests, so the config media
 *      type application/vnd.kitops.modelkit.config.v1+json says it; the model layer is
 *      application/vnd.kitops.modelkit.model.v1.tar[+gzip], a tar holding the .onnx file.
 *   3. A plain file pushed with ORAS: a layer whose org.opencontainers.image.title ends in .onnx.
 * Exactly one candidate model layer, or a clear error. Every descriptor is checked (digest
 * `sha256:<64 hex>`, size, media type) before use; a file name from registry data becomes a base
 * name only after refusing `..`, absolute paths, NUL and control characters. A tar layer is read
 * (after the store checked its digest) with the `tar` package: only regular files and folders,
 * no absolute path, no `..`, no link, every size bounded.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { PassThrough } from 'stream';
import { Parser, type ReadEntry } from 'tar';
import { CodedError } from '../node-red/errors';
import { type ArtifactSink, type Descriptor, type FetchedManifest, type ArtifactSource, MEDIA } from './source';
import { digestHex, type ModelStore } from './store';

export class ArtifactError extends CodedError {}

/** Largest manifest read (distribution's own limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Most entries read from a tar layer (a model folder has a handful). */
export const MAX_TAR_ENTRIES = 10000;

export const ANNOTATION = {
  filepath: 'org.cncf.model.filepath',
  title: 'org.opencontainers.image.title',
  version: 'org.opencontainers.image.version',
  created: 'org.opencontainers.image.created',
  description: 'org.opencontainers.image.description',
  refName: 'org.opencontainers.image.ref.name',
  orasUnpack: 'io.deis.oras.content.unpack',
} as const;

const WEIGHT = /^application\/vnd\.cncf\.model\.weight\.v1\.(raw|tar|tar\+gzip|tar\+zstd)$/;
const KITOPS_MODEL = /^application\/vnd\.kitops\.modelkit\.model\.v1\.(tar|tar\+gzip)$/;
/** RFC 6838 type/subtype (with +suffix and parameters-free), at most 255 characters. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** An OCI image manifest (image-spec manifest.md), checked. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

const fail = (code: string, params: Record<string, string | number>, message: string) => new ArtifactError(code, params, message);
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const short = (v: unknown) => JSON.stringify(v)?.slice(0, 80) ?? String(v);

function checkAnnotations(a: unknown, where: string): Record<string, string> | undefined {
  if (a === undefined) return undefined;
  if (!isObject(a) || Object.values(a).some((v) => typeof v !== 'string')) throw fail('badAnnotations', { where }, `${where}: expected annotations as an object of strings`);
  return { ...(a as Record<string, string>) };
}

/** A descriptor checked field by field (only the known fields kept), or an ArtifactError naming where and what was expected. */
export function checkDescriptor(d: unknown, where: string): Descriptor {
  if (!isObject(d)) throw fail('badDescriptor', { where }, `${where}: expected a descriptor object with mediaType, digest and size`);
  if (typeof d.mediaType !== 'string' || !MEDIA_TYPE.test(d.mediaType)) throw fail('badMediaType', { where, got: short(d.mediaType) }, `${where}: expected a media type such as "${MEDIA.manifest}", got ${short(d.mediaType)}`);
  try {
    digestHex(d.digest);
  } catch (e) {
    throw fail('badDigest', { where, got: short(d.digest) }, `${where}: ${(e as Error).message}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw fail('badSize', { where, got: short(d.size) }, `${where}: expected a size in bytes (an integer 0 or more), got ${short(d.size)}`);
  if (d.artifactType !== undefined && (typeof d.artifactType !== 'string' || !MEDIA_TYPE.test(d.artifactType))) throw fail('badMediaType', { where, got: short(d.artifactType) }, `${where}: expected artifactType as a media type, got ${short(d.artifactType)}`);
  const annotations = checkAnnotations(d.annotations, where);
  return { mediaType: d.mediaType, digest: d.digest as string, size: d.size, ...(annotations ? { annotations } : {}), ...(d.artifactType ? { artifactType: d.artifactType as string } : {}) };
}

/** Parses and checks the bytes of an OCI image manifest. */
export function parseManifest(bytes: Uint8Array): ImageManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw fail('manifestTooLarge', { size: bytes.length, max: MAX_MANIFEST_BYTES }, `expected a manifest of at most ${MAX_MANIFEST_BYTES} bytes, got ${bytes.length}`);
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw fail('manifestNotJson', { reason: (e as Error).message }, `expected an OCI image manifest (JSON), got bytes that are not JSON: ${(e as Error).message}`);
  }
  if (!isObject(o)) throw fail('notManifest', {}, 'expected an OCI image manifest (a JSON object), got another JSON value');
  if (o.mediaType === MEDIA.index || Array.isArray(o.manifests)) throw fail('isIndex', {}, `expected an OCI image manifest (${MEDIA.manifest}), got an image index: name one of its manifests by digest`);
  if (o.schemaVersion !== 2) throw fail('schemaVersion', { got: short(o.schemaVersion) }, `expected an OCI image manifest with schemaVersion 2, got ${short(o.schemaVersion)}`);
  if (o.mediaType !== undefined && o.mediaType !== MEDIA.manifest) throw fail('notManifest', { got: short(o.mediaType) }, `expected an OCI image manifest (mediaType ${MEDIA.manifest} or none), got ${short(o.mediaType)}`);
  if (o.artifactType !== undefined && (typeof o.artifactType !== 'string' || !MEDIA_TYPE.test(o.artifactType))) throw fail('badMediaType', { where: 'manifest artifactType', got: short(o.artifactType) }, `manifest: expected artifactType as a media type, got ${short(o.artifactType)}`);
  if (!Array.isArray(o.layers)) throw fail('noLayers', {}, 'expected an OCI image manifest with a layers array');
  const m: ImageManifest = {
    schemaVersion: 2,
    config: checkDescriptor(o.config, 'manifest config'),
    layers: o.layers.map((l, i) => checkDescriptor(l, `manifest layer ${i}`)),
  };
  if (o.mediaType) m.mediaType = o.mediaType as string;
  if (o.artifactType) m.artifactType = o.artifactType as string;
  if (o.subject !== undefined) m.subject = checkDescriptor(o.subject, 'manifest subject');
  const annotations = checkAnnotations(o.annotations, 'manifest');
  if (annotations) m.annotations = annotations;
  return m;
}

/**
 * A file name from registry data as a base name: refuses (rather than repairs) an empty name,
 * NUL and control characters, backslashes, absolute paths (`/x`, `C:`), any `..` component and
 * a name that ends in `/` or `.`; `models/fault.onnx` gives `fault.onnx`.
 */
export function safeFileName(name: unknown, where: string): string {
  const bad = (why: string) => fail('badFileName', { where, got: short(name), why }, `${where}: expected a relative file name without "..", got ${short(name)} (${why})`);
  if (typeof name !== 'string' || name === '') throw bad('empty');
  if (name.length > 4096) throw bad('too long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw bad('NUL or a control character');
  if (name.includes('\\')) throw bad('a backslash');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw bad('an absolute path');
  if (name.endsWith('/')) throw bad('a folder');
  const parts = name.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..')) throw bad('a ".." component');
  const base = parts[parts.length - 1];
  if (!base || base === '.' || base.length > 255) throw bad('no file name');
  return base;
}

export type ArtifactFormat = 'modelpack' | 'kitops' | 'oras';

/** The layer of a manifest that holds the model. */
export interface ModelLayer {
  format: ArtifactFormat;
  layer: Descriptor;
  /** raw: the layer is the .onnx file; tar: a tar (gzip detected) holding it (readTarModel). */
  packing: 'raw' | 'tar';
  /** The model's base name; for a tar layer without a name, read from its entry (readTarModel). */
  fileName?: string;
  /** Name and version from the manifest's annotations, when present. */
  name?: string;
  version?: string;
}

const isOnnx = (n: string | undefined) => !!n && /\.onnx$/i.test(n);

/**
 * The model layer of a manifest: ModelPack, then KitOps (config media type), then an ORAS file.
 * Refused: no candidate, two candidates, a layer larger than `maxBytes`, a packing not read here.
 */
export function findModel(m: ImageManifest, o: { maxBytes?: number } = {}): ModelLayer {
  let format: ArtifactFormat;
  let candidates: Descriptor[];
  let expected: string;
  if (m.artifactType === MEDIA.modelManifest || m.config.mediaType === MEDIA.modelConfig) {
    format = 'modelpack';
    expected = `a weight layer (application/vnd.cncf.model.weight.v1.raw, .tar or .tar+gzip) whose ${ANNOTATION.filepath} ends in .onnx`;
    candidates = m.layers.filter((l) => WEIGHT.test(l.mediaType) && isOnnx(l.annotations?.[ANNOTATION.filepath] ?? l.annotations?.[ANNOTATION.title]));
  } else if (m.config.mediaType === MEDIA.kitopsConfig) {
    format = 'kitops';
    expected = 'a KitOps model layer (application/vnd.kitops.modelkit.model.v1.tar or .tar+gzip)';
    candidates = m.layers.filter((l) => KITOPS_MODEL.test(l.mediaType));
  } else {
    format = 'oras';
    expected = `a layer whose ${ANNOTATION.title} ends in .onnx (ORAS), a ModelPack artifact (artifactType ${MEDIA.modelManifest}) or a KitOps ModelKit (config ${MEDIA.kitopsConfig})`;
    candidates = m.layers.filter((l) => isOnnx(l.annotations?.[ANNOTATION.title]));
  }
  if (candidates.length === 0) throw fail('noModelLayer', { format, expected }, `no model layer in this ${format} manifest: expected ${expected}`);
  if (candidates.length > 1) throw fail('manyModelLayers', { format, count: candidates.length }, `${candidates.length} candidate model layers in this ${format} manifest (${candidates.map((c) => c.digest).join(', ')}): expected exactly one ${expected}`);
  const layer = candidates[0];
  if (o.maxBytes !== undefined && layer.size > o.maxBytes) throw fail('layerTooLarge', { digest: layer.digest, size: layer.size, max: o.maxBytes }, `model layer ${layer.digest} is ${layer.size} bytes: expected at most ${o.maxBytes}`);
  if (/zstd$/.test(layer.mediaType)) throw fail('packing', { mediaType: layer.mediaType }, `model layer ${layer.digest} is ${layer.mediaType}: expected a raw, tar or tar+gzip layer (zstd is not read)`);
  // ORAS gives a plain file the media type application/vnd.oci.image.layer.v1.tar by default: only its unpack annotation (a folder) means a tar
  const packing = (format === 'oras' ? layer.annotations?.[ANNOTATION.orasUnpack] === 'true' : /\.tar(\+gzip)?$/.test(layer.mediaType)) ? 'tar' : 'raw';
  const named = layer.annotations?.[ANNOTATION.filepath] ?? layer.annotations?.[ANNOTATION.title];
  const fileName = named !== undefined && (packing === 'raw' || isOnnx(named)) ? safeFileName(named, `layer ${layer.digest} file name`) : undefined;
  const name = m.annotations?.[ANNOTATION.title];
  const version = m.annotations?.[ANNOTATION.version];
  return { format, layer, packing, ...(fileName ? { fileName } : {}), ...(name ? { name } : {}), ...(version ? { version } : {}) };
}

/** The one .onnx file of a tar layer: its base name, digest and size, and its content on demand. */
export interface TarModel {
  /** The entry's path in the tar (checked), and its base name. */
  entry: string;
  fileName: string;
  digest: string;
  size: number;
  /** The entry's content, read again from the tar file (put it in the store with putBlob, which checks the digest). */
  chunks(): AsyncIterable<Uint8Array>;
}

const REGULAR = new Set(['File', 'OldFile', 'ContiguousFile']);

/** Reads a tar (or gzipped tar) file, each entry checked by `check` before its content is read. */
function readTar(file: string, onEntry: (e: ReadEntry) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const input = fs.createReadStream(file);
    const p = new Parser({ strict: true, maxDecompressionRatio: 1000 });
    let done = false;
    const stop = (e: unknown) => {
      if (done) return;
      done = true;
      input.destroy();
      reject(e instanceof ArtifactError ? e : fail('badTar', { file, reason: (e as Error)?.message ?? String(e) }, `expected a tar (or gzipped tar) model layer, got one that cannot be read: ${(e as Error)?.message ?? String(e)}`));
    };
    p.on('entry', (e: ReadEntry) => {
      if (done) return e.resume();
      try {
        onEntry(e);
      } catch (err) {
        e.resume();
        stop(err);
      }
    });
    p.on('error', stop);
    p.on('end', () => {
      if (!done) {
        done = true;
        resolve();
      }
    });
    input.on('error', stop);
    input.pipe(p);
  });
}

/**
 * Finds the one .onnx regular file in a tar layer already stored (its digest checked), hashing it
 * as it is read. Refused, before any content is kept: an absolute path, a `..` component, a link
 * or any entry other than a regular file or a folder, more than MAX_TAR_ENTRIES entries, entries
 * adding up to more than `maxBytes`, no .onnx file or two of them.
 */
export async function readTarModel(tarFile: string, o: { maxBytes: number }): Promise<TarModel> {
  let found: { entry: string; fileName: string; size: number; hash: ReturnType<typeof createHash> } | undefined;
  let count = 0;
  let total = 0;
  await readTar(tarFile, (e) => {
    const where = `tar entry ${short(e.path)}`;
    if (++count > MAX_TAR_ENTRIES) throw fail('tarEntries', { max: MAX_TAR_ENTRIES }, `expected a model tar of at most ${MAX_TAR_ENTRIES} entries, got more`);
    if (!REGULAR.has(e.type) && e.type !== 'Directory') throw fail('tarEntryType', { entry: short(e.path), type: e.type }, `${where} is a ${e.type}: expected only regular files and folders (no links, devices or FIFOs)`);
    const base = safeFileName(e.type === 'Directory' ? e.path.replace(/\/+$/, '') : e.path, where);
    total += e.size;
    if (total > o.maxBytes) throw fail('tarTooLarge', { max: o.maxBytes }, `${where}: the tar's files add up to more than ${o.maxBytes} bytes, the most accepted`);
    if (e.type === 'Directory' || !isOnnx(base)) return void e.resume();
    if (found) throw fail('manyModelFiles', { first: found.entry, second: e.path }, `two .onnx files in the model tar (${short(found.entry)} and ${short(e.path)}): expected exactly one`);
    const f = (found = { entry: e.path, fileName: base, size: 0, hash: createHash('sha256') });
    e.on('data', (c: Buffer) => {
      f.size += c.length;
      f.hash.update(c);
    });
  });
  if (!found) throw fail('noModelFile', {}, 'no .onnx file in the model tar: expected exactly one regular file whose name ends in .onnx');
  const { entry, fileName, size } = found;
  const digest = `sha256:${found.hash.digest('hex')}`;
  return {
    entry,
    fileName,
    digest,
    size,
    chunks() {
      const out = new PassThrough();
      readTar(tarFile, (e) => {
        if (e.path === entry && REGULAR.has(e.type)) e.pipe(out);
        else e.resume();
      }).then(
        () => out.end(),
        (err) => out.destroy(err as Error),
      );
      return out;
    },
  };
}

/** What fetchModel stored. */
export interface FetchedModel {
  manifest: FetchedManifest;
  model: ModelLayer;
  /** The .onnx file's base name (from the layer or the tar entry). */
  fileName: string;
  /** The stored .onnx file: its digest (sha256 of the file itself), size and path in the store. */
  digest: string;
  size: number;
  path: string;
}

/**
 * Pulls a model from any ArtifactSource into the store: the manifest (its digest checked by the
 * source), its model layer (found and checked here), the blob streamed into the store (digest and
 * size checked there), and for a tar layer the one .onnx file extracted into the store as a blob
 * of its own (the tar blob removed afterwards unless a kept version names it). The caller then
 * records the version (store.add) once whatever else it checks (a signature) passes.
 */
export async function fetchModel(source: ArtifactSource, repository: string, reference: string, store: ModelStore): Promise<FetchedModel> {
  const manifest = await source.manifest(repository, reference);
  const model = findModel(parseManifest(manifest.bytes), { maxBytes: store.maxBytes });
  const blob = await store.putBlob(await source.blob(repository, model.layer), { digest: model.layer.digest, size: model.layer.size });
  if (model.packing === 'raw') {
    if (!model.fileName) throw fail('noFileName', { digest: model.layer.digest }, `model layer ${model.layer.digest}: expected a file name in its ${ANNOTATION.filepath} or ${ANNOTATION.title} annotation`);
    return { manifest, model, fileName: model.fileName, digest: blob.digest, size: blob.size, path: blob.path };
  }
  try {
    const t = await readTarModel(blob.path, { maxBytes: store.maxBytes });
    const onnx = await store.putBlob(t.chunks(), { digest: t.digest, size: t.size });
    return { manifest, model, fileName: t.fileName, digest: onnx.digest, size: onnx.size, path: onnx.path };
  } finally {
    if (!store.list().some((v) => v.digest === blob.digest)) await fs.promises.rm(blob.path, { force: true });
  }
}

/** Name, version and annotations of a model pushed as ModelPack. */
export interface ModelPackOptions {
  name: string;
  version: string;
  /** The file name in the artifact (org.cncf.model.filepath); default `<name>.onnx`. */
  fileName?: string;
  /** RFC 3339 time; default now. */
  created?: string;
  description?: string;
  /** More manifest annotations (metrics, provenance), string values. */
  annotations?: Record<string, string>;
}

/** The blobs and manifest of a ModelPack artifact holding one ONNX file. */
export interface ModelPackArtifact {
  config: { descriptor: Descriptor; bytes: Uint8Array };
  layer: { descriptor: Descriptor; bytes: Uint8Array };
  manifest: { bytes: Uint8Array; digest: string; mediaType: string };
}

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * A ModelPack artifact (model-spec v0.0.7) for an ONNX file: the config blob (descriptor, config
 * {format: 'onnx'}, modelfs {type: 'layers', diffIds}) and the manifest (artifactType, config, one
 * raw weight layer with its file path and title, version and created annotations).
 */
export function modelPackManifest(onnx: Uint8Array, o: ModelPackOptions): ModelPackArtifact {
  const fileName = safeFileName(o.fileName ?? `${o.name}.onnx`, 'model file name');
  if (!isOnnx(fileName)) throw fail('notOnnxName', { got: fileName }, `expected a model file name ending in .onnx, got ${short(fileName)}`);
  if (typeof o.name !== 'string' || !o.name || typeof o.version !== 'string' || !o.version) throw fail('nameVersion', {}, 'expected a model name and version (non-empty strings)');
  const created = o.created ?? new Date().toISOString();
  const extra = checkAnnotations(o.annotations, 'model annotations') ?? {};
  const layerDigest = sha256(onnx);
  const layer: Descriptor = { mediaType: MEDIA.modelWeightRaw, digest: layerDigest, size: onnx.length, annotations: { [ANNOTATION.filepath]: fileName, [ANNOTATION.title]: fileName } };
  const configBytes = Buffer.from(
    JSON.stringify({
      descriptor: { createdAt: created, name: o.name, version: o.version, ...(o.description ? { description: o.description } : {}) },
      config: { format: 'onnx' },
      modelfs: { type: 'layers', diffIds: [layerDigest] },
    }),
  );
  const config: Descriptor = { mediaType: MEDIA.modelConfig, digest: sha256(configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      artifactType: MEDIA.modelManifest,
      config,
      layers: [layer],
      annotations: { ...extra, [ANNOTATION.title]: o.name, [ANNOTATION.version]: o.version, [ANNOTATION.created]: created, ...(o.description ? { [ANNOTATION.description]: o.description } : {}) },
    }),
  );
  return { config: { descriptor: config, bytes: configBytes }, layer: { descriptor: layer, bytes: onnx }, manifest: { bytes: manifestBytes, digest: sha256(manifestBytes), mediaType: MEDIA.manifest } };
}

/** Pushes an ONNX file as a ModelPack artifact to any ArtifactSink (blobs first, then the manifest under `tag`); returns the manifest digest. */
export async function pushModelPack(sink: ArtifactSink, repository: string, tag: string | undefined, onnx: Uint8Array, o: ModelPackOptions): Promise<{ digest: string; artifact: ModelPackArtifact }> {
  const a = modelPackManifest(onnx, o);
  await sink.pushBlob(repository, a.layer.descriptor, a.layer.bytes);
  await sink.pushBlob(repository, a.config.descriptor, a.config.bytes);
  const digest = await sink.pushManifest(repository, a.manifest.bytes, a.manifest.mediaType, tag);
  return { digest, artifact: a };
}
