/**
 * The MQTT announcement of a released model (nodes/lib/registry/announce.ts): a reference and a
 * manifest digest, checked strictly; another repository's announcement ignored, not an error;
 * everything else refused with an error saying what was expected.
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import { AnnouncementError, MAX_ANNOUNCEMENT_BYTES, formatAnnouncement, parseAnnouncement } from '../../nodes/lib/registry/announce';

const REPO = 'models/bearing-fault';
const DIGEST = `sha256:${createHash('sha256').update('manifest').digest('hex')}`;
const OTHER = `sha256:${createHash('sha256').update('another manifest').digest('hex')}`;

function refusal(payload: unknown, repository = REPO): AnnouncementError {
  try {
    parseAnnouncement(payload as never, { repository });
  } catch (e) {
    expect(e).to.be.instanceOf(AnnouncementError);
    return e as AnnouncementError;
  }
  throw new Error(`expected ${JSON.stringify(payload)?.slice(0, 100)} to be refused`);
}

describe('registry: MQTT announcements', () => {
  it('reads a tag reference and its digest from JSON text, a Buffer or a parsed object', () => {
    const a = { reference: `${REPO}:1.3.0`, digest: DIGEST, name: 'bearing-fault', version: '1.3.0' };
    const want = { ignored: false, repository: REPO, reference: '1.3.0', digest: DIGEST };
    expect(parseAnnouncement(JSON.stringify(a), { repository: REPO })).to.deep.equal(want);
    expect(parseAnnouncement(Buffer.from(JSON.stringify(a)), { repository: REPO })).to.deep.equal(want);
    expect(parseAnnouncement(a, { repository: REPO })).to.deep.equal(want);
  });

  it('reads a digest reference when the digest field is the same digest, and refuses a different one', () => {
    expect(parseAnnouncement({ reference: `${REPO}@${DIGEST}`, digest: DIGEST }, { repository: REPO })).to.deep.equal({ ignored: false, repository: REPO, reference: DIGEST, digest: DIGEST });
    const e = refusal({ reference: `${REPO}@${OTHER}`, digest: DIGEST });
    expect(e.code).to.equal('announcementDigestMismatch');
    expect(e.message).to.equal(`expected "digest" equal to the digest in "reference" (${OTHER}), got ${DIGEST}`);
  });

  it('ignores an announcement for another repository (a result, not an error)', () => {
    expect(parseAnnouncement({ reference: 'models/pump-cavitation:2.0.0', digest: DIGEST }, { repository: REPO })).to.deep.equal({
      ignored: true,
      repository: 'models/pump-cavitation',
      expected: REPO,
      reason: `announcement for models/pump-cavitation, not for ${REPO}`,
    });
    // a repository whose name starts with the configured one is another repository too
    expect(parseAnnouncement({ reference: `${REPO}-v2:1.0.0`, digest: DIGEST }, { repository: REPO }).ignored).to.equal(true);
  });

  it('refuses what is not a JSON object, saying what was expected', () => {
    expect(refusal('not json').code).to.equal('announcementNotJson');
    expect(refusal('not json').message).to.match(/^expected an announcement as JSON such as \{"reference":"models\/bearing-fault:1\.3\.0","digest":"sha256:<64 hex>"\}, got text that is not JSON \(.+\)$/);
    expect(refusal(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])).message).to.equal('expected an announcement as UTF-8 JSON, got bytes that are not UTF-8');
    for (const [payload, got] of [['[1,2]', 'an array'], ['null', 'null'], ['"models/bearing-fault:1.3.0"', 'string'], ['42', 'number']] as const) {
      const e = refusal(payload);
      expect(e.code, payload).to.equal('announcementNotObject');
      expect(e.message).to.equal(`expected an announcement as a JSON object with "reference" and "digest", got ${got}`);
    }
  });

  it('refuses an announcement over 16 KB before parsing it (an announcement never carries the model)', () => {
    const big = JSON.stringify({ reference: `${REPO}:1.3.0`, digest: DIGEST, model: 'A'.repeat(MAX_ANNOUNCEMENT_BYTES) });
    for (const payload of [big, Buffer.from(big), JSON.parse(big)]) {
      const e = refusal(payload);
      expect(e.code).to.equal('announcementTooLarge');
      expect(e.message).to.equal(`expected an announcement of at most 16384 bytes (a reference and a digest, never the model), got ${Buffer.byteLength(big)} bytes`);
    }
    // just under the bound is read
    const pad = MAX_ANNOUNCEMENT_BYTES - Buffer.byteLength(JSON.stringify({ reference: `${REPO}:1.3.0`, digest: DIGEST, note: '' }));
    expect(parseAnnouncement(JSON.stringify({ reference: `${REPO}:1.3.0`, digest: DIGEST, note: 'x'.repeat(pad) }), { repository: REPO }).ignored).to.equal(false);
  });

  it('refuses a missing or malformed reference, with the registry error as cause', () => {
    expect(refusal({ digest: DIGEST }).message).to.equal(`expected "reference" as text such as "${REPO}:1.3.0" or "${REPO}@sha256:<64 hex>", got no reference`);
    expect(refusal({ reference: 7, digest: DIGEST }).code).to.equal('announcementNoReference');
    for (const reference of ['Models/Bearing:1.0', '../../etc/passwd:1.0', `${REPO}:-bad`, `${REPO}@sha256:abc`, `${REPO}:${'a'.repeat(200)}`, '/abs/path:1.0']) {
      const e = refusal({ reference, digest: DIGEST });
      expect(e.code, reference).to.equal('announcementBadReference');
      expect(e.message).to.match(/^expected "reference" such as "models\/bearing-fault:1\.3\.0" or "models\/bearing-fault@sha256:<64 hex>", got ".+": expected /);
      expect((e as Error & { cause?: { code?: string } }).cause?.code, reference).to.be.oneOf(['badRepository', 'badReference', 'badDigest']);
    }
  });

  it('refuses a missing or malformed digest', () => {
    expect(refusal({ reference: `${REPO}:1.3.0` }).code).to.equal('announcementNoDigest');
    for (const digest of ['sha256:abc', DIGEST.toUpperCase(), `sha512:${'a'.repeat(128)}`, `${DIGEST}\n`, 42, null, ` ${DIGEST}`]) {
      const e = refusal({ reference: `${REPO}:1.3.0`, digest });
      expect(e.code, String(digest)).to.equal('announcementBadDigest');
      expect(e.message).to.match(/^expected "digest" as "sha256:" followed by 64 lowercase hex digits \(the manifest digest\), got /);
    }
  });

  it('checks the configured repository itself', () => {
    expect(() => parseAnnouncement({ reference: `${REPO}:1.3.0`, digest: DIGEST }, { repository: 'Not A Repo' })).to.throw(/expected a repository name such as "models\/bearing-fault"/);
  });

  it('formats an announcement that parses back to the same model', () => {
    const text = formatAnnouncement({ repository: REPO, reference: '1.3.0', digest: DIGEST }, { version: '1.3.0' });
    expect(JSON.parse(text)).to.deep.equal({ version: '1.3.0', reference: `${REPO}:1.3.0`, digest: DIGEST });
    expect(parseAnnouncement(text, { repository: REPO })).to.deep.equal({ ignored: false, repository: REPO, reference: '1.3.0', digest: DIGEST });
    expect(JSON.parse(formatAnnouncement({ repository: REPO, reference: DIGEST, digest: DIGEST })).reference).to.equal(`${REPO}@${DIGEST}`);
    expect(() => formatAnnouncement({ repository: REPO, reference: '1.3.0', digest: 'sha256:x' })).to.throw(/64 lowercase hex/);
  });
});
