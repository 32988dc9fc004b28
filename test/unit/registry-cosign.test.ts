/**
 * cosign's key-based signature format (nodes/lib/registry/cosign.ts): sign then verify on an
 * in-memory registry, every refusal with the check and digest it names, and the signature image's
 * config as cosign writes it (digests and sizes cosign produced).
 */
import { expect } from 'chai';
import { createHash, generateKeyPairSync, sign as cryptoSign } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import {
  COSIGN,
  CosignError,
  keyFingerprint,
  loadPrivateKey,
  loadPublicKey,
  signManifest,
  signatureConfig,
  signatureManifest,
  signatureTag,
  simpleSigningPayload,
  verifyManifestSignature,
} from '../../nodes/lib/registry/cosign';
import { LayoutFolder } from '../../nodes/lib/registry/layout';
import { ArtifactSink, ArtifactSource, Descriptor, FetchedManifest, MEDIA } from '../../nodes/lib/registry/source';
import { tmpDir } from '../support/red';

const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hexOf = (d: string) => d.slice('sha256:'.length);

class NotFound extends Error {}

/** A registry in memory: blobs by digest, manifests by digest, tags per repository. */
class MemoryRegistry implements ArtifactSource, ArtifactSink {
  blobs = new Map<string, Buffer>();
  manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  tagMap = new Map<string, Map<string, string>>();
  /** Set to make manifest() fail as a network error would. */
  failManifest?: Error;
  blobReads: string[] = [];

  async manifest(repository: string, reference: string): Promise<FetchedManifest> {
    if (this.failManifest) throw this.failManifest;
    const digest = reference.startsWith('sha256:') ? reference : this.tagMap.get(repository)?.get(reference);
    const m = digest && this.manifests.get(digest);
    if (!m || !digest) throw new NotFound(`manifest unknown: ${repository}:${reference}`);
    return { digest, mediaType: m.mediaType, bytes: m.bytes };
  }
  async blob(_repository: string, d: Descriptor): Promise<AsyncIterable<Uint8Array>> {
    this.blobReads.push(d.digest);
    const b = this.blobs.get(d.digest);
    if (!b) throw new NotFound(`blob unknown: ${d.digest}`);
    return (async function* () {
      for (let i = 0; i < b.length; i += 100) yield b.subarray(i, i + 100);
    })();
  }
  async tags(repository: string): Promise<string[]> {
    return [...(this.tagMap.get(repository)?.keys() ?? [])];
  }
  async pushBlob(_repository: string, d: Descriptor, content: Uint8Array | (() => AsyncIterable<Uint8Array>)): Promise<void> {
    if (!(content instanceof Uint8Array)) throw new Error('test registry takes bytes');
    const b = Buffer.from(content);
    if (sha(b) !== d.digest || b.length !== d.size) throw new Error(`pushBlob: content is not ${d.digest}/${d.size}`);
    this.blobs.set(d.digest, b);
  }
  async pushManifest(repository: string, bytes: Uint8Array, mediaType: string, tag?: string): Promise<string> {
    const digest = sha(bytes);
    this.manifests.set(digest, { bytes: Buffer.from(bytes), mediaType });
    if (tag) {
      if (!this.tagMap.has(repository)) this.tagMap.set(repository, new Map());
      this.tagMap.get(repository)!.set(tag, digest);
    }
    return digest;
  }
  /** The parsed manifest at a tag. */
  manifestAt(repository: string, tag: string): { config: Descriptor; layers: Descriptor[]; mediaType: string; schemaVersion: number } {
    return JSON.parse(this.manifests.get(this.tagMap.get(repository)!.get(tag)!)!.bytes.toString('utf8'));
  }
  /** Replaces the manifest at a tag by `edit` of its parsed form. */
  async rewrite(repository: string, tag: string, edit: (m: { layers: Descriptor[] }) => void): Promise<void> {
    const m = this.manifestAt(repository, tag);
    edit(m);
    await this.pushManifest(repository, Buffer.from(JSON.stringify(m)), MEDIA.manifest, tag);
  }
}

const pair = (curve = 'prime256v1') => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    pub: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    fingerprint: sha(publicKey.export({ type: 'spki', format: 'der' })),
    key: privateKey,
  };
};

async function rejection(p: Promise<unknown>): Promise<CosignError> {
  try {
    await p;
  } catch (e) {
    return e as CosignError;
  }
  throw new Error('expected a rejection');
}

const REPO = 'models/bearing-fault';
const MODEL = sha('the model manifest');
const OTHER = sha('another model manifest');

describe('registry: cosign key-based signatures', () => {
  let reg: MemoryRegistry;
  const a = pair();
  const b = pair();
  beforeEach(() => {
    reg = new MemoryRegistry();
  });

  it('signs in cosign’s format and verifies it, reporting the key’s fingerprint', async () => {
    const s = await signManifest(reg, REPO, MODEL, a.priv, { dockerReference: 'registry.local/models/bearing-fault' });
    expect(s.tag).to.equal(`sha256-${hexOf(MODEL)}.sig`);
    expect(s.key).to.equal(a.fingerprint);
    const m = reg.manifestAt(REPO, s.tag);
    expect(m.schemaVersion).to.equal(2);
    expect(m.mediaType).to.equal(MEDIA.manifest);
    expect(m.config.mediaType).to.equal('application/vnd.oci.image.config.v1+json');
    expect(m.layers).to.have.length(1);
    expect(m.layers[0].mediaType).to.equal('application/vnd.dev.cosign.simplesigning.v1+json');
    const payload = reg.blobs.get(m.layers[0].digest)!;
    expect(payload.toString()).to.equal(
      `{"critical":{"identity":{"docker-reference":"registry.local/models/bearing-fault"},"image":{"docker-manifest-digest":"${MODEL}"},"type":"cosign container image signature"},"optional":null}`,
    );
    const config = reg.blobs.get(m.config.digest)!;
    expect(JSON.parse(config.toString())).to.deep.equal({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [m.layers[0].digest] },
      config: {},
    });
    expect(m.layers[0].annotations![COSIGN.signatureAnnotation]).to.equal(s.signature);

    // a Content-Type with parameters still names an image manifest
    const stored = reg.manifests.get(s.manifest)!;
    stored.mediaType = `${MEDIA.manifest}; charset=utf-8`;
    const r = await verifyManifestSignature(reg, REPO, MODEL, a.pub);
    expect(r).to.deep.equal({ verified: true, key: a.fingerprint, signatures: 1, digest: MODEL, tag: s.tag, signatureManifest: s.manifest, references: ['registry.local/models/bearing-fault'] });
  });

  it('refuses a signature made with another key', async () => {
    await signManifest(reg, REPO, MODEL, b.priv);
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e).to.be.instanceOf(CosignError);
    expect(e.code).to.equal('cosignSignatureMismatch');
    expect(e.message).to.contain(MODEL).and.contain(a.fingerprint).and.contain('does not verify');
  });

  it('refuses an unsigned manifest as unsigned, naming the tag and repository', async () => {
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignUnsigned');
    expect(e.message).to.match(new RegExp(`^unsigned: no sha256-${hexOf(MODEL)}\\.sig in ${REPO}`));
    expect(e.params).to.include({ digest: MODEL, repository: REPO });
  });

  it('does not call a signature tag that fails to load for another reason "unsigned"', async () => {
    await signManifest(reg, REPO, MODEL, a.priv);
    reg.failManifest = new Error('connect ECONNREFUSED 127.0.0.1:5000');
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignFetch');
    expect(e.message).to.contain('ECONNREFUSED').and.contain(MODEL);
  });

  it('refuses a signature copied from another model (its payload names another digest)', async () => {
    await signManifest(reg, REPO, OTHER, a.priv);
    // copy the other model's signature image to this model's signature tag
    const copied = reg.tagMap.get(REPO)!.get(signatureTag(OTHER))!;
    reg.tagMap.get(REPO)!.set(signatureTag(MODEL), copied);
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignWrongDigest');
    expect(e.message).to.contain(OTHER).and.contain(`not for the pulled manifest ${MODEL}`);
  });

  it('refuses a tampered payload (a new blob under its own digest, the old signature)', async () => {
    await signManifest(reg, REPO, MODEL, a.priv);
    const tag = signatureTag(MODEL);
    const old = reg.blobs.get(reg.manifestAt(REPO, tag).layers[0].digest)!;
    const forged = Buffer.from(old.toString().replace('"optional":null', '"optional":{"x":"y"}'));
    await reg.pushBlob(REPO, { mediaType: COSIGN.payloadMediaType, digest: sha(forged), size: forged.length }, forged);
    await reg.rewrite(REPO, tag, (m) => {
      m.layers[0].digest = sha(forged);
      m.layers[0].size = forged.length;
    });
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignSignatureMismatch');
  });

  it('refuses a payload blob whose bytes are not the digest its layer names', async () => {
    await signManifest(reg, REPO, MODEL, a.priv);
    const d = reg.manifestAt(REPO, signatureTag(MODEL)).layers[0].digest;
    const orig = reg.blobs.get(d)!;
    reg.blobs.set(d, Buffer.from(orig.toString().replace(hexOf(MODEL), hexOf(OTHER))));
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignPayloadIntegrity');
    expect(e.message).to.contain(`expected ${d}`);
  });

  it('refuses a malformed annotation: not base64, not a DER signature, missing', async () => {
    await signManifest(reg, REPO, MODEL, a.priv);
    const tag = signatureTag(MODEL);
    const set = (v: string | undefined) =>
      reg.rewrite(REPO, tag, (m) => {
        m.layers[0].annotations = v === undefined ? {} : { [COSIGN.signatureAnnotation]: v };
      });

    await set('not base64!');
    expect((await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub))).code).to.equal('cosignBadAnnotation');
    await set('MEUCIQ'); // base64 without padding: Go's StdEncoding refuses it
    expect((await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub))).code).to.equal('cosignBadAnnotation');
    await set(Buffer.from('0123456789').toString('base64')); // valid base64, neither DER nor 64 bytes
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignBadSignature');
    expect(e.message).to.contain('neither an ASN.1 DER ECDSA signature').and.contain(MODEL);
    // a DER SEQUENCE with trailing bytes is not a DER signature either
    const der = cryptoSign('sha256', Buffer.from('x'), { key: a.key, dsaEncoding: 'der' });
    await set(Buffer.concat([der, Buffer.from([0])]).toString('base64'));
    expect((await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub))).code).to.equal('cosignBadSignature');
    await set(undefined);
    expect((await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub))).code).to.equal('cosignNoSignature');
  });

  it('accepts the signature split over lines, as Go’s base64 decoder does, and an IEEE P1363 r||s (sigstore’s verifier takes both)', async () => {
    await signManifest(reg, REPO, MODEL, a.priv);
    const tag = signatureTag(MODEL);
    const m = reg.manifestAt(REPO, tag);
    const b64 = m.layers[0].annotations![COSIGN.signatureAnnotation];
    await reg.rewrite(REPO, tag, (x) => {
      x.layers[0].annotations = { [COSIGN.signatureAnnotation]: `${b64.slice(0, 20)}\n${b64.slice(20)}\n` };
    });
    expect((await verifyManifestSignature(reg, REPO, MODEL, a.pub)).signatures).to.equal(1);
    const payload = reg.blobs.get(m.layers[0].digest)!;
    const p1363 = cryptoSign('sha256', payload, { key: a.key, dsaEncoding: 'ieee-p1363' });
    await reg.rewrite(REPO, tag, (x) => {
      x.layers[0].annotations = { [COSIGN.signatureAnnotation]: p1363.toString('base64') };
    });
    expect((await verifyManifestSignature(reg, REPO, MODEL, a.pub)).signatures).to.equal(1);
  });

  it('refuses a signed payload that is not a cosign simple-signing payload', async () => {
    const tag = signatureTag(MODEL);
    const push = async (payload: Buffer) => {
      const sig = cryptoSign('sha256', payload, { key: a.key, dsaEncoding: 'der' }).toString('base64');
      const layer: Descriptor = { mediaType: COSIGN.payloadMediaType, digest: sha(payload), size: payload.length, annotations: { [COSIGN.signatureAnnotation]: sig } };
      await reg.pushBlob(REPO, layer, payload);
      await reg.pushManifest(REPO, signatureManifest([layer]).bytes, MEDIA.manifest, tag);
    };
    await push(Buffer.from('{"critical":'));
    let e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignBadPayload');
    expect(e.message).to.contain('not JSON');
    await push(Buffer.from(simpleSigningPayload(MODEL, REPO).toString().replace('cosign container image signature', 'atomic container signature')));
    e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignBadPayload');
    expect(e.message).to.contain('"atomic container signature"');
    await push(Buffer.from('[]'));
    expect((await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub))).code).to.equal('cosignBadPayload');
  });

  it('bounds the payload: refused from its descriptor without a fetch, and when it streams more than declared', async () => {
    await signManifest(reg, REPO, MODEL, a.priv);
    const tag = signatureTag(MODEL);
    const d = reg.manifestAt(REPO, tag).layers[0];
    let e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub, { maxPayloadBytes: 100 }));
    expect(e.code).to.equal('cosignPayloadTooLarge');
    expect(e.message).to.contain(`${d.size} bytes, more than the 100`);
    expect(reg.blobReads).to.deep.equal([]);
    // the layer claims 10 bytes; the blob streams more
    await reg.rewrite(REPO, tag, (m) => {
      m.layers[0].size = 10;
    });
    e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignPayloadTooLarge');
    expect(e.message).to.contain('streamed more than 10 bytes');
  });

  it('refuses a signature tag that is not a signature manifest', async () => {
    const tag = signatureTag(MODEL);
    await reg.pushManifest(REPO, Buffer.from('not json'), MEDIA.manifest, tag);
    expect((await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub))).code).to.equal('cosignBadManifest');
    await reg.pushManifest(REPO, Buffer.from('{"schemaVersion":2,"layers":[]}'), MEDIA.index, tag);
    expect((await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub))).code).to.equal('cosignBadManifest');
    await reg.pushManifest(REPO, Buffer.from('{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"sha256:00","size":1}]}'), MEDIA.manifest, tag);
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, a.pub));
    expect(e.code).to.equal('cosignNoSignatures');
    expect(e.message).to.contain(MODEL);
  });

  it('appends a second key’s signature as cosign does; either key verifies; the same key twice adds nothing', async () => {
    await signManifest(reg, REPO, MODEL, a.priv, { source: reg });
    const second = await signManifest(reg, REPO, MODEL, b.priv, { source: reg });
    expect(second).to.include({ signatures: 2, pushed: true });
    const m = reg.manifestAt(REPO, second.tag);
    expect(m.layers).to.have.length(2);
    expect(JSON.parse(reg.blobs.get(m.config.digest)!.toString()).rootfs.diff_ids).to.deep.equal(m.layers.map((l) => l.digest));
    expect((await verifyManifestSignature(reg, REPO, MODEL, a.pub)).key).to.equal(a.fingerprint);
    expect((await verifyManifestSignature(reg, REPO, MODEL, b.pub)).signatures).to.equal(1);
    const again = await signManifest(reg, REPO, MODEL, a.priv, { source: reg });
    expect(again).to.include({ signatures: 2, pushed: false, manifest: second.manifest });
    // one layer's failure does not hide another's success; every failure is reported when none passes
    const c = pair();
    const e = await rejection(verifyManifestSignature(reg, REPO, MODEL, c.pub));
    expect(e.code).to.equal('cosignSignatureMismatch');
    expect(e.message.match(/does not verify/g)).to.have.length(2);
  });

  it('takes only ECDSA P-256 keys, PKCS#8 encrypted with a passphrase, and refuses cosign’s own encrypted key with a way out', async () => {
    const p384 = pair('secp384r1');
    expect(() => loadPublicKey(p384.pub)).to.throw(CosignError, /P-256.*got EC secp384r1/);
    expect(() => loadPrivateKey(p384.priv)).to.throw(CosignError, /P-256/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => loadPublicKey(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string)).to.throw(CosignError, /got rsa/);
    expect(() => loadPublicKey(a.priv)).to.throw(CosignError, /expected a PEM "PUBLIC KEY".*got a PEM "PRIVATE KEY"/);
    const cosignKey = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n';
    const e = await rejection(signManifest(reg, REPO, MODEL, cosignKey));
    expect(e.code).to.equal('cosignEncryptedKey');
    expect(e.message).to.contain('PKCS#8');
    const encrypted = a.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
    expect(() => loadPrivateKey(encrypted)).to.throw(CosignError, /passphrase is needed/);
    expect(() => loadPrivateKey(encrypted, 'wrong')).to.throw(CosignError, /passphrase is wrong/);
    await signManifest(reg, REPO, MODEL, encrypted, { passphrase: 'pw' });
    expect((await verifyManifestSignature(reg, REPO, MODEL, a.pub)).key).to.equal(a.fingerprint);
    expect(keyFingerprint(loadPrivateKey(a.priv))).to.equal(a.fingerprint);
  });

  it('refuses a digest that is not sha256:<64 hex> before any request', async () => {
    const e = await rejection(verifyManifestSignature(reg, REPO, 'sha256:../../etc', a.pub));
    expect(e.message).to.contain('expected a digest "sha256:" followed by 64');
    expect(reg.blobReads).to.deep.equal([]);
  });

  it('writes the payload as Go’s encoding/json does (HTML-safe escapes, sorted annotations)', () => {
    const p = simpleSigningPayload(MODEL, 'r/<a&b>', { z: '1', a: '2' }).toString();
    expect(p).to.equal(
      `{"critical":{"identity":{"docker-reference":"r/\\u003ca\\u0026b\\u003e"},"image":{"docker-manifest-digest":"${MODEL}"},"type":"cosign container image signature"},"optional":{"a":"2","z":"1"}}`,
    );
  });

  it('signs into and verifies from an OCI image-layout folder (layout.ts): signed, unsigned, another key', async () => {
    const dir = tmpDir('cosign-layout');
    try {
      const layout = await LayoutFolder.create(dir);
      const e0 = await rejection(verifyManifestSignature(layout, REPO, MODEL, a.pub));
      expect(e0.code).to.equal('cosignUnsigned');
      const s = await signManifest(layout, REPO, MODEL, a.priv, { source: layout });
      expect(await layout.tags(REPO)).to.include(s.tag);
      expect(await verifyManifestSignature(layout, REPO, MODEL, a.pub)).to.include({ verified: true, key: a.fingerprint, signatures: 1, signatureManifest: s.manifest });
      expect((await rejection(verifyManifestSignature(layout, REPO, MODEL, b.pub))).code).to.equal('cosignSignatureMismatch');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('matches the config of other signature images cosign wrote (digests and sizes seen in registry traces)', () => {
    // (payload layer digest -> config digest, size 233) from a cosign (go-containerregistry v0.20.2)
    // trace against distribution 2 and from Harbor's cosign middleware documentation
    const seen: Array<[string, string]> = [
      ['sha256:4306feade2f8d7aa22ad654dfd61d0ee66a94f8970fba8d825f45641e9087a78', 'sha256:d748d2b76ebf8a245176858c537a245f62f4cd9271dcad170c107bd399384703'],
      ['sha256:91a821a0e2412f1b99b07bfe176451bcc343568b761388718abbf38076048564', 'sha256:d4e6059ece7bea95266fd7766353130d4bf3dc21048b8a9783c98b8412618c38'],
    ];
    for (const [layer, config] of seen) {
      const c = signatureConfig([layer]);
      expect([c.length, sha(c)]).to.deep.equal([233, config]);
    }
  });
});
