/**
 * cosign's key-based signature format (issue 11): what `registry pull` checks before anything is
 * emitted when a public key is configured, and what the push side writes.
 *
 * The format, as cosign writes and reads it (sigstore/cosign d6d86c22, sigstore/sigstore bd0ad712,
 * google/go-containerregistry 3f4ff3ca; file names, no code copied):
 *
 * - Where: the legacy tag scheme, `sha256:<hex>` -> tag `sha256-<hex>.sig` in the same repository
 *   (cosign pkg/oci/remote/remote.go normalize/SignatureTag, options.go SignatureSuffix "sig";
 *   specs/SIGNATURE_SPEC.md "Tag-based Discovery"). Debian's registry 2.8 has no referrers API,
 *   so this is the only scheme it carries. A 404 on that tag means "no signatures"
 *   (pkg/oci/remote/signatures.go Signatures).
 * - The signature image: an OCI image manifest (pkg/oci/empty/empty.go: empty.Image with
 *   OCIManifestSchema1 and config media type OCIConfigJSON) whose config is a real image config,
 *   not the empty descriptor: go-containerregistry's empty image config (pkg/v1/empty/image.go,
 *   rootfs type "layers") marshalled by pkg/v1/config.go after mutate.Append
 *   (pkg/v1/mutate/image.go compute: one history entry and one diff_id per layer), i.e.
 *   {"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"},..],
 *    "os":"","rootfs":{"type":"layers","diff_ids":["sha256:<payload>",..]},"config":{}}
 *   (233 bytes for one layer; checked against three signature images cosign wrote, see the test).
 * - One layer per signature (pkg/oci/mutate/signatures.go AppendSignatures; pkg/oci/static/
 *   signature.go + options.go): media type application/vnd.dev.cosign.simplesigning.v1+json
 *   (pkg/types/media.go), the payload bytes as the blob, uncompressed (digest = diff_id), and the
 *   annotation dev.cosignproject.cosign/signature = standard base64 of the signature over the
 *   payload bytes. Signing again appends a layer unless an identical signature is there
 *   (cmd/cosign/cli/sign/sign.go signDigest, mutate.AttachSignatureToEntity with a dupe detector).
 * - The payload (sigstore pkg/signature/payload/payload.go Cosign.MarshalJSON): Go's json.Marshal of
 *   {"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},
 *   "type":"cosign container image signature"},"optional":null|{..}} — compact, fields in that order,
 *   `optional` null without annotations. R defaults to the repository name (ignored by verifiers,
 *   SIGNATURE_SPEC.md), D is the signed manifest's digest.
 * - The signature: ECDSA P-256 over SHA-256 of the payload bytes, ASN.1 DER (cosign keys.go: default
 *   ECDSA P-256 SHA-256). The verifier (sigstore pkg/signature/ecdsa.go ECDSAVerifier.VerifySignature)
 *   takes DER and, when the bytes are not ASN.1, IEEE P1363 r||s; so do we.
 * - Verification (cosign pkg/cosign/verify.go VerifyImageSignatures / verifySignatures /
 *   verifyInternal / verifyOCISignature, pkg/cosign/verifiers.go SimpleClaimVerifier,
 *   pkg/oci/internal/signature/layer.go): every layer is tried, base64 of the annotation decoded
 *   (Go's StdEncoding, which skips \r and \n), the signature checked over the payload bytes first,
 *   then the claim: critical.image.docker-manifest-digest must equal the image's digest; at least one
 *   layer must pass, else "no matching signatures" with every layer's error. cosign bounds the
 *   payload at 128 MiB (internal/pkg/cosign/payload/size) and the layers at 1000; we bound them much
 *   lower (a payload is ~250 bytes). We also require critical.type to be the cosign type, as
 *   payload.Cosign.UnmarshalJSON does.
 *
 * What this is not: no transparency log. `cosign verify --key` checks a Rekor entry by default; this
 * is the check of `cosign verify --key cosign.pub --insecure-ignore-tlog=true` (and what signManifest
 * writes is `cosign sign --key … --tlog-upload=false --new-bundle-format=false
 * --use-signing-config=false`). cosign v3's default output (a sigstore bundle referrer) is not read.
 *
 * Keys: the public key is PEM "PUBLIC KEY" (PKIX/SPKI), ECDSA P-256, as `cosign generate-key-pair`
 * writes cosign.pub. The private key for signing must be an unencrypted PKCS#8 ("PRIVATE KEY") or
 * SEC1 ("EC PRIVATE KEY") PEM, or a PKCS#8 "ENCRYPTED PRIVATE KEY" with its passphrase. cosign's own
 * cosign.key ("ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY": scrypt + nacl/secretbox, i.e.
 * XSalsa20-Poly1305, which Node's crypto does not have) is refused with a clear error; a key made with
 * openssl can be imported into cosign (`cosign import-key-pair`) and its public half used by both.
 */
import { createHash, createPrivateKey, createPublicKey, KeyObject, sign as cryptoSign, verify as cryptoVerify } from 'crypto';
import { CodedError, Params, oneOrAll } from '../node-red/errors';
import { ArtifactSink, ArtifactSource, Descriptor, FetchedManifest, MEDIA } from './source';
import { digestHex } from './store';

export class CosignError extends CodedError {}

/** cosign's names (see the header for where each comes from). */
export const COSIGN = {
  signatureAnnotation: 'dev.cosignproject.cosign/signature',
  payloadMediaType: MEDIA.cosignPayload,
  /** critical.type of a cosign simple-signing payload. */
  signatureType: 'cosign container image signature',
  /** The signature image's config media type (an image config, not the empty descriptor). */
  configMediaType: 'application/vnd.oci.image.config.v1+json',
  /** With COSIGN_DOCKER_MEDIA_TYPES=1 cosign writes a Docker schema 2 manifest instead. */
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** Default bounds: a simple-signing payload is about 250 bytes; cosign itself allows 128 MiB and 1000 layers. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
export const DEFAULT_MAX_SIGNATURES = 100;

/** The tag cosign stores the signatures of `digest` under: `sha256-<hex>.sig`. */
export function signatureTag(digest: string): string {
  return `sha256-${digestHex(digest)}.sig`;
}

/** `sha256:<hex>` of the key's SubjectPublicKeyInfo DER: the name a verification result gives the key. */
export function keyFingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return `sha256:${createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}

const pemType = (pem: string): string | undefined => /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];

function requireP256(key: KeyObject, what: string): void {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    const got = key.asymmetricKeyType === 'ec' ? `EC ${curve}` : String(key.asymmetricKeyType);
    throw new CosignError('cosignKeyType', { what, got }, `expected the ${what} to be an ECDSA P-256 key (what cosign generate-key-pair makes), got ${got}`);
  }
}

/** A cosign.pub: PEM "PUBLIC KEY", ECDSA P-256. */
export function loadPublicKey(pem: string | Uint8Array): KeyObject {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8');
  const type = pemType(text);
  if (type !== 'PUBLIC KEY') {
    throw new CosignError('cosignBadKey', { what: 'public key', got: type ?? 'no PEM' }, `expected a PEM "PUBLIC KEY" (cosign.pub, ECDSA P-256), got ${type ? `a PEM "${type}"` : 'no PEM block'}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (e) {
    throw new CosignError('cosignBadKey', { what: 'public key', got: (e as Error).message }, `the public key PEM does not parse: ${(e as Error).message}`);
  }
  requireP256(key, 'public key');
  return key;
}

/**
 * A private key to sign with: PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY", or PKCS#8 "ENCRYPTED
 * PRIVATE KEY" with `passphrase`; ECDSA P-256. cosign's encrypted cosign.key is refused (see header).
 */
export function loadPrivateKey(pem: string | Uint8Array, passphrase?: string): KeyObject {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8');
  const type = pemType(text);
  if (type === 'ENCRYPTED SIGSTORE PRIVATE KEY' || type === 'ENCRYPTED COSIGN PRIVATE KEY') {
    throw new CosignError(
      'cosignEncryptedKey',
      { got: type },
      `cosign's own encrypted key format ("${type}": scrypt + nacl/secretbox) is not supported; give a PKCS#8 PEM ("PRIVATE KEY", or "ENCRYPTED PRIVATE KEY" with its passphrase) for an ECDSA P-256 key, e.g. from openssl (openssl ecparam -name prime256v1 -genkey | openssl pkcs8 -topk8 -nocrypt), and import it into cosign with cosign import-key-pair if cosign should use it too`,
    );
  }
  if (type !== 'PRIVATE KEY' && type !== 'EC PRIVATE KEY' && type !== 'ENCRYPTED PRIVATE KEY') {
    throw new CosignError('cosignBadKey', { what: 'private key', got: type ?? 'no PEM' }, `expected a PEM "PRIVATE KEY" (PKCS#8), "EC PRIVATE KEY" or "ENCRYPTED PRIVATE KEY", got ${type ? `a PEM "${type}"` : 'no PEM block'}`);
  }
  if (type === 'ENCRYPTED PRIVATE KEY' && passphrase === undefined) {
    throw new CosignError('cosignBadKey', { what: 'private key', got: type }, 'the private key is encrypted ("ENCRYPTED PRIVATE KEY"): its passphrase is needed');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem', passphrase });
  } catch (e) {
    throw new CosignError('cosignBadKey', { what: 'private key', got: (e as Error).message }, `the private key PEM does not parse${type === 'ENCRYPTED PRIVATE KEY' ? ' (or the passphrase is wrong)' : ''}: ${(e as Error).message}`);
  }
  requireP256(key, 'private key');
  return key;
}

/**
 * JSON as Go's encoding/json writes it for the values used here (strings, objects with keys in the
 * order given, null): compact, and <, >, &, U+2028, U+2029 escaped as \u00XX / \u20XX (Go's
 * HTML-safe default). Those characters only occur inside strings, so replacing them is safe.
 */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Keys sorted, as Go marshals a map. */
const sortedMap = (m: Record<string, string>): Record<string, string> => Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k]]));

/**
 * The simple-signing payload cosign signs for `manifestDigest`, byte for byte as sigstore's
 * payload.Cosign.MarshalJSON writes it. `optional` holds cosign's `-a key=value` annotations.
 */
export function simpleSigningPayload(manifestDigest: string, dockerReference: string, optional?: Record<string, string>): Buffer {
  digestHex(manifestDigest);
  return Buffer.from(
    goJson({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': manifestDigest }, type: COSIGN.signatureType },
      optional: optional && Object.keys(optional).length ? sortedMap(optional) : null,
    }),
    'utf8',
  );
}

/** The signature image's config for its layers (go-containerregistry's empty image after mutate.Append). */
export function signatureConfig(layerDigests: string[]): Buffer {
  const created = '0001-01-01T00:00:00Z';
  return Buffer.from(
    goJson({
      architecture: '',
      created,
      history: layerDigests.map(() => ({ created })),
      os: '',
      rootfs: { type: 'layers', diff_ids: layerDigests },
      config: {},
    }),
    'utf8',
  );
}

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A descriptor in go-containerregistry's field order (mediaType, size, digest, …, annotations sorted). */
function goDescriptor(d: Descriptor): Record<string, unknown> {
  const out: Record<string, unknown> = { mediaType: d.mediaType, size: d.size, digest: d.digest };
  if (d.annotations && Object.keys(d.annotations).length) out.annotations = sortedMap(d.annotations);
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

/** The signature image's manifest bytes for these layers, as cosign writes it. */
export function signatureManifest(layers: Descriptor[]): { bytes: Buffer; config: Buffer; configDescriptor: Descriptor } {
  const config = signatureConfig(layers.map((l) => l.digest));
  const configDescriptor: Descriptor = { mediaType: COSIGN.configMediaType, size: config.length, digest: sha256(config) };
  const bytes = Buffer.from(goJson({ schemaVersion: 2, mediaType: MEDIA.manifest, config: goDescriptor(configDescriptor), layers: layers.map(goDescriptor) }), 'utf8');
  return { bytes, config, configDescriptor };
}

/**
 * Go's base64.StdEncoding.DecodeString: padded standard alphabet; \r and \n are skipped (a
 * signature written with line breaks still decodes), anything else is an error. Like Go's
 * non-strict decoder, non-zero padding bits are let through (the signature check follows).
 */
function decodeBase64Std(s: string): Buffer | undefined {
  const t = s.replace(/[\r\n]/g, '');
  if (!t.length || t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) return undefined;
  return Buffer.from(t, 'base64');
}

/** Whether `b` is exactly one DER SEQUENCE of two INTEGERs (an ECDSA-Sig-Value). */
function isDerEcdsaSig(b: Buffer): boolean {
  const len = (i: number): [number, number] | undefined => {
    if (i >= b.length) return undefined;
    const first = b[i];
    if (first < 0x80) return [first, i + 1];
    if (first === 0x81 && i + 1 < b.length && b[i + 1] >= 0x80) return [b[i + 1], i + 2];
    return undefined;
  };
  if (b[0] !== 0x30) return false;
  const seq = len(1);
  if (!seq || seq[1] + seq[0] !== b.length) return false;
  let i = seq[1];
  for (let n = 0; n < 2; n++) {
    if (b[i] !== 0x02) return false;
    const int = len(i + 1);
    if (!int || int[0] === 0 || int[1] + int[0] > b.length) return false;
    i = int[1] + int[0];
  }
  return i === b.length;
}

/** What a successful check returns (and `registry pull` puts in msg.registry.signature). */
export interface SignatureResult {
  verified: true;
  /** sha256 fingerprint of the key's SPKI DER, `sha256:<hex>`. */
  key: string;
  /** How many signature layers verified with the key and name the manifest. */
  signatures: number;
  /** The manifest digest the signatures are for. */
  digest: string;
  /** The signature tag, `sha256-<hex>.sig`. */
  tag: string;
  /** The signature image's manifest digest. */
  signatureManifest: string;
  /** critical.identity.docker-reference of each verified payload (informative; cosign ignores it). */
  references: string[];
}

export interface VerifyOptions {
  /** Largest payload blob fetched (default 64 KiB). */
  maxPayloadBytes?: number;
  /** Most signature layers looked at (default 100). */
  maxSignatures?: number;
}

/** Reads a blob into memory, refusing more than `limit` bytes and a digest that is not `d.digest`. */
async function readBounded(source: ArtifactSource, repository: string, d: Descriptor, limit: number, ctx: Params): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const hash = createHash('sha256');
  for await (const chunk of await source.blob(repository, d)) {
    size += chunk.length;
    if (size > limit) {
      throw new CosignError('cosignPayloadTooLarge', { ...ctx, limit }, `the signature payload ${d.digest} for ${ctx.digest} streamed more than ${limit} bytes (its descriptor says ${d.size})`);
    }
    hash.update(chunk);
    chunks.push(Buffer.from(chunk));
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== d.digest || size !== d.size) {
    throw new CosignError('cosignPayloadIntegrity', { ...ctx, got }, `the signature payload for ${ctx.digest} is not the blob its layer names: expected ${d.digest} (${d.size} bytes), got ${got} (${size} bytes)`);
  }
  return Buffer.concat(chunks);
}

/** Whether the error of source.manifest means "no such tag": the tag is not among the repository's tags. */
async function tagMissing(source: ArtifactSource, repository: string, tag: string): Promise<boolean> {
  try {
    return !(await source.tags(repository)).includes(tag);
  } catch {
    return false;
  }
}

interface LayerCheck {
  ok?: { reference: string };
  error?: CosignError;
}

async function checkLayer(source: ArtifactSource, repository: string, layer: Descriptor, index: number, manifestDigest: string, key: KeyObject, fingerprint: string, maxPayload: number): Promise<LayerCheck> {
  const ctx: Params = { digest: manifestDigest, repository, layer: index, key: fingerprint };
  const fail = (code: string, params: Params, message: string): LayerCheck => ({ error: new CosignError(code, { ...ctx, ...params }, message) });
  const where = `signature layer ${index} of ${signatureTag(manifestDigest)} in ${repository}`;

  const b64 = layer.annotations?.[COSIGN.signatureAnnotation];
  if (typeof b64 !== 'string') return fail('cosignNoSignature', {}, `${where} has no "${COSIGN.signatureAnnotation}" annotation (expected the base64 signature of its payload), for ${manifestDigest}`);
  const sig = decodeBase64Std(b64);
  if (!sig) return fail('cosignBadAnnotation', { got: b64.slice(0, 40) }, `${where}: the "${COSIGN.signatureAnnotation}" annotation is not standard base64 (got ${JSON.stringify(b64.slice(0, 40))}), for ${manifestDigest}`);
  const dsaEncoding = isDerEcdsaSig(sig) ? 'der' : sig.length === 64 ? 'ieee-p1363' : undefined;
  if (!dsaEncoding) return fail('cosignBadSignature', { bytes: sig.length }, `${where}: the signature is neither an ASN.1 DER ECDSA signature nor a 64-byte r||s (${sig.length} bytes), for ${manifestDigest}`);

  let payloadDigest: string;
  try {
    digestHex(layer.digest);
    payloadDigest = layer.digest;
  } catch (e) {
    return fail('cosignBadManifest', { got: String(layer.digest).slice(0, 80) }, `${where}: ${(e as Error).message}`);
  }
  if (!Number.isSafeInteger(layer.size) || layer.size < 0) return fail('cosignBadManifest', { got: String(layer.size) }, `${where}: expected a size in bytes, got ${JSON.stringify(layer.size)}`);
  if (layer.size > maxPayload) return fail('cosignPayloadTooLarge', { limit: maxPayload }, `${where}: its payload is ${layer.size} bytes, more than the ${maxPayload} a signature payload may have, for ${manifestDigest}`);

  let payload: Buffer;
  try {
    payload = await readBounded(source, repository, { mediaType: layer.mediaType, digest: payloadDigest, size: layer.size }, Math.min(maxPayload, layer.size), ctx);
  } catch (e) {
    if (e instanceof CosignError) return { error: e };
    return fail('cosignFetch', { reason: (e as Error).message }, `${where}: its payload ${payloadDigest} could not be read: ${(e as Error).message}`);
  }

  if (!cryptoVerify('sha256', payload, { key, dsaEncoding }, sig)) {
    return fail('cosignSignatureMismatch', {}, `${where} does not verify with the key ${fingerprint}: not signed by that key, or its payload was changed, for ${manifestDigest}`);
  }

  let claims: unknown;
  try {
    claims = JSON.parse(payload.toString('utf8'));
  } catch (e) {
    return fail('cosignBadPayload', { reason: (e as Error).message }, `${where}: the signed payload is not JSON (${(e as Error).message}), for ${manifestDigest}`);
  }
  const critical = (claims as { critical?: unknown } | null)?.critical as { type?: unknown; image?: { 'docker-manifest-digest'?: unknown }; identity?: { 'docker-reference'?: unknown } } | undefined;
  if (!critical || typeof critical !== 'object') return fail('cosignBadPayload', { reason: 'no critical' }, `${where}: the signed payload has no "critical" object (expected a cosign simple-signing payload), for ${manifestDigest}`);
  if (critical.type !== COSIGN.signatureType) {
    return fail('cosignBadPayload', { reason: String(critical.type).slice(0, 80) }, `${where}: the signed payload's critical.type is ${JSON.stringify(critical.type)}, expected "${COSIGN.signatureType}", for ${manifestDigest}`);
  }
  const signed = critical.image?.['docker-manifest-digest'];
  if (signed !== manifestDigest) {
    return fail(
      'cosignWrongDigest',
      { signed: String(signed).slice(0, 80) },
      `${where} is a valid signature for ${JSON.stringify(signed)}, not for the pulled manifest ${manifestDigest} (a signature copied from another artifact?)`,
    );
  }
  const ref = critical.identity?.['docker-reference'];
  return { ok: { reference: typeof ref === 'string' ? ref : '' } };
}

/**
 * Checks the cosign signatures of `manifestDigest` in `repository` with `publicKey` (cosign.pub):
 * resolves when at least one signature layer verifies and names that digest, else rejects with a
 * CosignError saying which check failed and for which digest (every layer's, when several failed).
 */
export async function verifyManifestSignature(source: ArtifactSource, repository: string, manifestDigest: string, publicKey: string | Uint8Array | KeyObject, opts: VerifyOptions = {}): Promise<SignatureResult> {
  const key = publicKey instanceof KeyObject ? publicKey : loadPublicKey(publicKey);
  if (publicKey instanceof KeyObject) requireP256(key, 'public key');
  const fingerprint = keyFingerprint(key);
  const tag = signatureTag(manifestDigest);
  const maxPayload = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const maxSignatures = opts.maxSignatures ?? DEFAULT_MAX_SIGNATURES;
  const ctx: Params = { digest: manifestDigest, repository, tag, key: fingerprint };

  let sigManifest: FetchedManifest;
  try {
    sigManifest = await source.manifest(repository, tag);
  } catch (e) {
    if (await tagMissing(source, repository, tag)) {
      throw new CosignError('cosignUnsigned', ctx, `unsigned: no ${tag} in ${repository} (a public key is configured, so ${manifestDigest} needs a cosign signature)`);
    }
    const err = new CosignError('cosignFetch', { ...ctx, reason: (e as Error).message }, `the signatures of ${manifestDigest} (${tag} in ${repository}) could not be read: ${(e as Error).message}`);
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }

  const badManifest = (why: string) => new CosignError('cosignBadManifest', { ...ctx, reason: why }, `${tag} in ${repository} is not a cosign signature manifest: ${why} (for ${manifestDigest})`);
  const mediaType = String(sigManifest.mediaType).split(';')[0].trim();
  if (mediaType !== MEDIA.manifest && mediaType !== COSIGN.dockerManifest) {
    throw badManifest(`expected an image manifest (${MEDIA.manifest}), got ${JSON.stringify(mediaType.slice(0, 80))}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(sigManifest.bytes).toString('utf8'));
  } catch (e) {
    throw badManifest(`not JSON (${(e as Error).message})`);
  }
  const layers = (parsed as { layers?: unknown } | null)?.layers;
  if (!Array.isArray(layers)) throw badManifest('no "layers" array');
  if (layers.length > maxSignatures) throw badManifest(`${layers.length} layers, more than the ${maxSignatures} signatures looked at`);
  const signing = layers
    .map((l, i) => ({ l: l as Descriptor, i }))
    .filter(({ l }) => !!l && typeof l === 'object' && l.mediaType === COSIGN.payloadMediaType);
  if (!signing.length) {
    throw new CosignError('cosignNoSignatures', ctx, `${tag} in ${repository} has no ${COSIGN.payloadMediaType} layer: no key-based cosign signature for ${manifestDigest} (a sigstore bundle or an attestation is not read)`);
  }

  const results: LayerCheck[] = [];
  for (const { l, i } of signing) {
    const annotations = l.annotations && typeof l.annotations === 'object' ? (l.annotations as Record<string, string>) : undefined;
    results.push(await checkLayer(source, repository, { mediaType: l.mediaType, digest: l.digest, size: l.size, annotations }, i, manifestDigest, key, fingerprint, maxPayload));
  }
  const ok = results.filter((r) => r.ok).map((r) => r.ok!);
  if (!ok.length) throw oneOrAll(results.map((r) => r.error!));
  return { verified: true, key: fingerprint, signatures: ok.length, digest: manifestDigest, tag, signatureManifest: sigManifest.digest, references: ok.map((o) => o.reference) };
}

export interface SignOptions {
  /** critical.identity.docker-reference (default: the repository, e.g. "models/bearing-fault"; cosign writes registry/repository). */
  dockerReference?: string;
  /** cosign's `-a key=value`: the payload's `optional` object. */
  annotations?: Record<string, string>;
  /** Passphrase of a PKCS#8 "ENCRYPTED PRIVATE KEY". */
  passphrase?: string;
  /**
   * Where to read signatures already at the tag, to append to them as cosign does (and not add one
   * that the same key already made over the same payload). Without it the tag is overwritten.
   */
  source?: ArtifactSource;
}

export interface SignResult {
  /** The tag the signature image was pushed under. */
  tag: string;
  /** The signature image's manifest digest. */
  manifest: string;
  /** The payload blob's digest. */
  payload: string;
  /** The base64 signature in the layer's annotation. */
  signature: string;
  /** The signing key's fingerprint (sha256 of its public SPKI DER). */
  key: string;
  /** How many signature layers the image holds. */
  signatures: number;
  /** False when an identical signature (same key, same payload) was already there and nothing was pushed. */
  pushed: boolean;
}

/** Existing signature layers at the tag, or none when the source has no such tag. */
async function existingLayers(source: ArtifactSource, repository: string, tag: string): Promise<Descriptor[]> {
  let m: FetchedManifest;
  try {
    m = await source.manifest(repository, tag);
  } catch (e) {
    if (await tagMissing(source, repository, tag)) return [];
    throw e;
  }
  const layers = (JSON.parse(Buffer.from(m.bytes).toString('utf8')) as { layers?: Descriptor[] }).layers;
  if (!Array.isArray(layers)) throw new CosignError('cosignBadManifest', { tag, repository, reason: 'no layers' }, `${tag} in ${repository} is not a signature manifest (no "layers" array); not appending to it`);
  return layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, annotations: l.annotations }));
}

/**
 * Signs `manifestDigest` in cosign's key-based format and pushes the signature image to
 * `repository` under `sha256-<hex>.sig`: the payload blob, the config blob, the manifest.
 */
export async function signManifest(sink: ArtifactSink, repository: string, manifestDigest: string, privateKeyPem: string | Uint8Array, opts: SignOptions = {}): Promise<SignResult> {
  const key = loadPrivateKey(privateKeyPem, opts.passphrase);
  const fingerprint = keyFingerprint(key);
  const tag = signatureTag(manifestDigest);
  const payload = simpleSigningPayload(manifestDigest, opts.dockerReference ?? repository, opts.annotations);
  const payloadDigest = sha256(payload);

  const before = opts.source ? await existingLayers(opts.source, repository, tag) : [];
  const pub = createPublicKey(key);
  const same = before.find((l) => {
    if (l.mediaType !== COSIGN.payloadMediaType || l.digest !== payloadDigest) return false;
    const s = decodeBase64Std(l.annotations?.[COSIGN.signatureAnnotation] ?? '');
    return !!s && isDerEcdsaSig(s) && cryptoVerify('sha256', payload, { key: pub, dsaEncoding: 'der' }, s);
  });
  if (same) {
    const { bytes } = signatureManifest(before);
    return { tag, manifest: sha256(bytes), payload: payloadDigest, signature: same.annotations![COSIGN.signatureAnnotation], key: fingerprint, signatures: before.length, pushed: false };
  }

  const signature = cryptoSign('sha256', payload, { key, dsaEncoding: 'der' }).toString('base64');
  const layer: Descriptor = { mediaType: COSIGN.payloadMediaType, size: payload.length, digest: payloadDigest, annotations: { [COSIGN.signatureAnnotation]: signature } };
  const layers = [...before, layer];
  const { bytes, config, configDescriptor } = signatureManifest(layers);
  await sink.pushBlob(repository, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, payload);
  await sink.pushBlob(repository, configDescriptor, config);
  const digest = await sink.pushManifest(repository, bytes, MEDIA.manifest, tag);
  return { tag, manifest: digest, payload: payloadDigest, signature, key: fingerprint, signatures: layers.length, pushed: true };
}
