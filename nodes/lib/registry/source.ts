/**
 * What every OCI artifact source offers `registry pull` (issue 11): a distribution registry over
 * HTTP (distribution.ts) and an OCI image-layout folder (layout.ts) answer the same calls, so the
 * artifact formats (ModelPack, ORAS, KitOps), the signature check and the store work on either.
 * Nothing here trusts what a source returns: a manifest's bytes are checked against the digest
 * asked for (or the digest the source names for a tag), and blobs stream into the store, which
 * checks theirs.
 */

/** An OCI content descriptor (image-spec descriptor.md). */
export interface Descriptor {
  mediaType: string;
  /** `sha256:<64 hex>`; checked with digestHex before any use. */
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

/** A manifest as fetched: its exact bytes, its digest (sha256 of those bytes) and its media type. */
export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
}

/** Where artifacts are read from. `repository` is e.g. "models/bearing-fault"; `reference` a tag or a digest. */
export interface ArtifactSource {
  /** The manifest (or index) a tag or digest names; its bytes hash to the digest returned (and asked for). */
  manifest(repository: string, reference: string): Promise<FetchedManifest>;
  /** A blob's content, streamed; the caller checks its digest and size (ModelStore.putBlob). */
  blob(repository: string, d: Descriptor): Promise<AsyncIterable<Uint8Array>>;
  /** The repository's tags. */
  tags(repository: string): Promise<string[]>;
}

/** Where artifacts are written (the push side: scripts, tests, later retrain trigger). */
export interface ArtifactSink {
  /** Uploads a blob whose digest and size the descriptor gives (skipped when the target has it). */
  pushBlob(repository: string, d: Descriptor, content: Uint8Array | (() => AsyncIterable<Uint8Array>)): Promise<void>;
  /** Uploads a manifest under a tag (or only by digest when `tag` is undefined); returns its digest. */
  pushManifest(repository: string, bytes: Uint8Array, mediaType: string, tag?: string): Promise<string>;
}

/** Media types this package reads and writes. */
export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  empty: 'application/vnd.oci.empty.v1+json',
  modelManifest: 'application/vnd.cncf.model.manifest.v1+json',
  modelConfig: 'application/vnd.cncf.model.config.v1+json',
  modelWeightRaw: 'application/vnd.cncf.model.weight.v1.raw',
  kitopsConfig: 'application/vnd.kitops.modelkit.config.v1+json',
  cosignPayload: 'application/vnd.dev.cosign.simplesigning.v1+json',
} as const;

/** The Accept header for manifests (Debian's registry 2.8 refuses OCI manifests without it). */
export const MANIFEST_ACCEPT = [MEDIA.manifest, MEDIA.index, 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

/** The empty JSON config blob `{}` (image-spec "Guidance for an Empty Descriptor"). */
export const EMPTY_CONFIG: Descriptor = { mediaType: MEDIA.empty, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 };
