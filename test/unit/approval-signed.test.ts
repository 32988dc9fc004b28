/**
 * Signed decisions over MQTT (nodes/lib/approval/signed.ts): the approver key list and its
 * refusals, Ed25519 and ECDSA P-256 round trips (DER and P1363), forged and tampered decisions,
 * a decision for another model, junk messages, and the CLI (scripts/approval-sign.ts) end to end.
 */
import { expect } from 'chai';
import { execFile } from 'child_process';
import { createHash, generateKeyPairSync, KeyObject, sign as cryptoSign } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CodedError } from '../../nodes/lib/node-red/errors';
import {
  APPROVAL_CATALOG,
  ApproverKey,
  decisionBytes,
  parseApproverKeys,
  SignedDecision,
  signDecision,
  verifySignedDecision,
} from '../../nodes/lib/approval/signed';
import { tmpDir } from '../support/red';

const root = path.join(__dirname, '..', '..');
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const OTHER = `sha256:${'cd'.repeat(32)}`;

interface Pair {
  privatePem: string;
  publicPem: string;
  publicKey: KeyObject;
}
function pair(kind: 'ed25519' | 'p256' | 'p384' | 'rsa'): Pair {
  const p =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : kind === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: kind === 'p256' ? 'prime256v1' : 'secp384r1' });
  return { privatePem: p.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicPem: p.publicKey.export({ type: 'spki', format: 'pem' }) as string, publicKey: p.publicKey };
}
const fingerprintOf = (k: KeyObject) => `sha256:${createHash('sha256').update(k.export({ type: 'spki', format: 'der' })).digest('hex')}`;

/** The CodedError `f` throws; fails when it throws nothing or something else. */
function refusal(f: () => unknown): CodedError {
  try {
    f();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(CodedError);
    expect((e as CodedError).catalog).to.equal(APPROVAL_CATALOG);
    return e as CodedError;
  }
  expect.fail('expected a CodedError, nothing was thrown');
}

const anna = pair('ed25519');
const ben = pair('p256');
const eve = pair('ed25519');
const eveP256 = pair('p256');
const KEYS_TEXT = `# approvers of line 2\n# name: Anna Schmidt\n${anna.publicPem}\n# name: Ben\n${ben.publicPem}`;

describe('approval signed decisions: approver keys', () => {
  it('parses several PEM public keys with their names and SPKI fingerprints', () => {
    const keys = parseApproverKeys(KEYS_TEXT.replace(/\n/g, '\r\n'));
    expect(keys.map((k) => [k.kind, k.name, k.fingerprint])).to.deep.equal([
      ['ed25519', 'Anna Schmidt', fingerprintOf(anna.publicKey)],
      ['ecdsa-p256', 'Ben', fingerprintOf(ben.publicKey)],
    ]);
    const unnamed = parseApproverKeys(`${anna.publicPem}\n\n${ben.publicPem}`);
    expect(unnamed.map((k) => k.name)).to.deep.equal([undefined, undefined]);
  });

  it('refuses RSA and P-384 keys, naming the key by its 1-based index and what was expected', () => {
    const rsa = refusal(() => parseApproverKeys(`${anna.publicPem}${pair('rsa').publicPem}`));
    expect(rsa.code).to.equal('approverKeyType');
    expect(rsa.params).to.include({ index: 2, got: 'an RSA key' });
    expect(rsa.message).to.equal('approver key 2 is an RSA key: expected an Ed25519 or ECDSA P-256 public key in PEM (SPKI)');
    const p384 = refusal(() => parseApproverKeys(`${anna.publicPem}${ben.publicPem}# name: C\n${pair('p384').publicPem}`));
    expect(p384.code).to.equal('approverKeyType');
    expect(p384.params).to.include({ index: 3 });
    expect(p384.message).to.equal('approver key 3 is an ECDSA P-384 key: expected an Ed25519 or ECDSA P-256 public key in PEM (SPKI)');
  });

  it('refuses junk between, before and after keys, an empty text, a private key and other PEM blocks', () => {
    const between = refusal(() => parseApproverKeys(`${anna.publicPem}hello\n${ben.publicPem}`));
    expect([between.code, between.params.index]).to.deep.equal(['approverKeyJunk', 2]);
    expect(between.message).to.include('expected an Ed25519 or ECDSA P-256 public key in PEM (SPKI)').and.include('"hello"');
    expect(refusal(() => parseApproverKeys(`ssh-ed25519 AAAAC3Nza anna@host\n${anna.publicPem}`)).params.index).to.equal(1);
    expect(refusal(() => parseApproverKeys(`${anna.publicPem}${ben.publicPem}trailing`)).params).to.include({ index: 3 });
    for (const empty of ['', '  \n\n', '# only a comment\n']) expect(refusal(() => parseApproverKeys(empty)).code).to.equal('approverKeysEmpty');
    const priv = refusal(() => parseApproverKeys(`${anna.publicPem}${ben.privatePem}`));
    expect([priv.code, priv.params.index]).to.deep.equal(['approverKeyPrivate', 2]);
    const cert = refusal(() => parseApproverKeys('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'));
    expect([cert.code, cert.params.got]).to.deep.equal(['approverKeyPemType', 'CERTIFICATE']);
    const truncated = refusal(() => parseApproverKeys(anna.publicPem.replace('-----END PUBLIC KEY-----', '')));
    expect(truncated.code).to.equal('approverKeyParse');
    const corrupt = refusal(() => parseApproverKeys(`${anna.publicPem}${ben.publicPem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!')}`));
    expect([corrupt.code, corrupt.params.index]).to.deep.equal(['approverKeyParse', 2]);
  });

  it('refuses a name line that names no key, two names for one key, and the same key twice', () => {
    expect(refusal(() => parseApproverKeys(`${anna.publicPem}# name: Nobody\n`)).code).to.equal('approverKeyName');
    expect(refusal(() => parseApproverKeys(`# name: A\n# name: B\n${anna.publicPem}`)).code).to.equal('approverKeyName');
    expect(refusal(() => parseApproverKeys(`# name:   \n${anna.publicPem}`)).code).to.equal('approverKeyName');
    const dup = refusal(() => parseApproverKeys(`${anna.publicPem}# name: Anna again\n${anna.publicPem}`));
    expect(dup.code).to.equal('approverKeyDuplicate');
    expect(dup.params).to.include({ index: 2, first: 1 });
  });
});

describe('approval signed decisions: signing and verifying', () => {
  let keys: ApproverKey[];
  before(() => {
    keys = parseApproverKeys(KEYS_TEXT);
  });

  it('signs exactly mlops-approval/v1\\n<id>\\n<decision>\\n<digest> in UTF-8', () => {
    expect(decisionBytes('req-ü', 'approve', DIGEST).toString('hex')).to.equal(Buffer.from(`mlops-approval/v1\nreq-ü\napprove\n${DIGEST}`, 'utf8').toString('hex'));
    expect(refusal(() => decisionBytes('req\napprove', 'reject', DIGEST)).params).to.include({ field: 'id' });
    expect(refusal(() => decisionBytes('req', 'reject', `${DIGEST}\n`)).params).to.include({ field: 'digest' });
  });

  it('Ed25519: a signed decision verifies as an object, a JSON string and a Buffer; by is the key name', () => {
    const s = signDecision(anna.privatePem, { id: 'req-1', decision: 'approve', digest: DIGEST, comment: 'looks good' });
    expect(s.key).to.equal(fingerprintOf(anna.publicKey));
    expect(Buffer.from(s.signature, 'base64')).to.have.length(64);
    for (const payload of [s, JSON.stringify(s), Buffer.from(JSON.stringify(s))]) {
      const v = verifySignedDecision(payload, keys, { digest: DIGEST });
      expect({ id: v.id, decision: v.decision, by: v.by, comment: v.comment, key: v.key.fingerprint }).to.deep.equal({ id: 'req-1', decision: 'approve', by: 'Anna Schmidt', comment: 'looks good', key: s.key });
    }
    // without the key field every key is tried
    const { key: _k, ...anonymous } = s;
    expect(verifySignedDecision(anonymous, keys, { digest: DIGEST }).key.name).to.equal('Anna Schmidt');
  });

  it('ECDSA P-256: a DER signature and an IEEE P1363 (64-byte r||s) one both verify', () => {
    const s = signDecision(ben.privatePem, { id: 'req-2', decision: 'reject', digest: DIGEST });
    const der = Buffer.from(s.signature, 'base64');
    expect(der[0]).to.equal(0x30);
    expect(verifySignedDecision(s, keys, { digest: DIGEST })).to.include({ id: 'req-2', decision: 'reject', by: 'Ben' });
    const p1363 = cryptoSign('sha256', decisionBytes('req-2', 'reject', DIGEST), { key: ben.privatePem, dsaEncoding: 'ieee-p1363' });
    expect(p1363).to.have.length(64);
    const v = verifySignedDecision({ ...s, signature: p1363.toString('base64') }, keys, { digest: DIGEST });
    expect(v).to.include({ decision: 'reject', by: 'Ben' });
    // without the key field, the Ed25519 key is tried first and fails, then the P-256 one
    expect(verifySignedDecision({ ...s, key: undefined, signature: p1363.toString('base64') }, keys, { digest: DIGEST }).key.kind).to.equal('ecdsa-p256');
  });

  it('accepts approved / rejected and normalizes them (the signature is over approve / reject)', () => {
    const s = signDecision(anna.privatePem, { id: 'req-3', decision: 'reject', digest: DIGEST });
    expect(verifySignedDecision({ ...s, decision: 'rejected' }, keys, { digest: DIGEST }).decision).to.equal('reject');
    const a = signDecision(ben.privatePem, { id: 'req-3', decision: 'approve', digest: DIGEST });
    expect(verifySignedDecision({ ...a, decision: 'approved' }, keys, { digest: DIGEST }).decision).to.equal('approve');
  });

  it('by: the key name wins over the message; without a name the message, else the fingerprint', () => {
    const s = signDecision(anna.privatePem, { id: 'req-4', decision: 'approve', digest: DIGEST, by: 'Mallory' });
    expect(verifySignedDecision(s, keys, { digest: DIGEST }).by).to.equal('Anna Schmidt');
    const unnamed = parseApproverKeys(anna.publicPem);
    expect(verifySignedDecision(s, unnamed, { digest: DIGEST }).by).to.equal('Mallory');
    const { by: _b, ...noBy } = s;
    expect(verifySignedDecision(noBy, unnamed, { digest: DIGEST }).by).to.equal(fingerprintOf(anna.publicKey));
  });

  it('refuses a forged decision: signed with a key that is not configured', () => {
    for (const forger of [eve, eveP256]) {
      const s = signDecision(forger.privatePem, { id: 'req-5', decision: 'approve', digest: DIGEST, by: 'Anna Schmidt' });
      const named = refusal(() => verifySignedDecision(s, keys, { digest: DIGEST }));
      expect(named.code).to.equal('decisionUnknownKey');
      expect(named.params).to.include({ key: s.key, count: 2 });
      const { key: _k, ...anonymous } = s;
      const e = refusal(() => verifySignedDecision(anonymous, keys, { digest: DIGEST }));
      expect(e.code).to.equal('decisionBadSignature');
      expect(e.message).to.include('does not verify with any of the 2 approver keys');
      // claiming to be an approver's key does not help either
      expect(refusal(() => verifySignedDecision({ ...s, key: fingerprintOf(anna.publicKey) }, keys, { digest: DIGEST })).code).to.equal('decisionBadSignatureKey');
    }
  });

  it('refuses a decision with its id, decision or digest changed after signing', () => {
    for (const signer of [anna, ben]) {
      const s = signDecision(signer.privatePem, { id: 'req-6', decision: 'reject', digest: DIGEST });
      expect(verifySignedDecision(s, keys, { digest: DIGEST }).decision).to.equal('reject');
      const tampered: [SignedDecision, string][] = [
        [{ ...s, id: 'req-7' }, DIGEST],
        [{ ...s, decision: 'approve' }, DIGEST],
        [{ ...s, digest: OTHER }, OTHER],
      ];
      for (const [t, digest] of tampered) {
        const e = refusal(() => verifySignedDecision(t, keys, { digest }));
        expect(e.code, JSON.stringify(t)).to.equal('decisionBadSignatureKey');
        const { key: _k, ...anonymous } = t;
        expect(refusal(() => verifySignedDecision(anonymous, keys, { digest })).code).to.equal('decisionBadSignature');
      }
    }
  });

  it('refuses a valid signature for another model than the one waiting, with its own code', () => {
    const s = signDecision(anna.privatePem, { id: 'req-8', decision: 'approve', digest: OTHER });
    const e = refusal(() => verifySignedDecision(s, keys, { digest: DIGEST }));
    expect(e.code).to.equal('decisionWrongDigest');
    expect(e.params).to.include({ got: OTHER, expected: DIGEST, id: 'req-8' });
    expect(e.message).to.include('signed for another model');
  });

  it('refuses junk messages with a code saying why', () => {
    const s = signDecision(anna.privatePem, { id: 'req-9', decision: 'approve', digest: DIGEST });
    const code = (payload: unknown) => refusal(() => verifySignedDecision(payload, keys, { digest: DIGEST })).code;
    const field = (payload: unknown) => refusal(() => verifySignedDecision(payload, keys, { digest: DIGEST })).params.field;
    expect(code('approve')).to.equal('decisionNotJson');
    expect(code(Buffer.from('{"id":'))).to.equal('decisionNotJson');
    expect(code('[1,2]')).to.equal('decisionNotObject');
    expect(code([s])).to.equal('decisionNotObject');
    expect(code('null')).to.equal('decisionNotObject');
    expect(code(42)).to.equal('decisionNotObject');
    expect(code(undefined)).to.equal('decisionNotObject');
    const { signature: _s, ...unsigned } = s;
    expect([code(unsigned), field(unsigned)]).to.deep.equal(['decisionMissing', 'signature']);
    const { id: _i, ...noId } = s;
    expect([code(noId), field(noId)]).to.deep.equal(['decisionMissing', 'id']);
    expect([code({ ...s, decision: 'maybe' }), field({ ...s, decision: 'maybe' })]).to.deep.equal(['decisionField', 'decision']);
    expect(field({ ...s, id: '' })).to.equal('id');
    expect(field({ ...s, id: 'x'.repeat(201) })).to.equal('id');
    expect(field({ ...s, id: 7 })).to.equal('id');
    expect(field({ ...s, digest: ['sha256:x'] })).to.equal('digest');
    expect(field({ ...s, signature: 'not base64!' })).to.equal('signature');
    expect(field({ ...s, signature: 12 })).to.equal('signature');
    expect(field({ ...s, by: 'x'.repeat(501) })).to.equal('by');
    expect(field({ ...s, comment: { text: 'hi' } })).to.equal('comment');
    expect(field({ ...s, key: 'anna' })).to.equal('key');
    expect(code(JSON.stringify({ ...s, comment: 'x'.repeat(70 * 1024) }))).to.equal('decisionTooLarge');
    // a comment of 500 characters is fine
    expect(verifySignedDecision({ ...s, comment: 'x'.repeat(500) }, keys, { digest: DIGEST }).comment).to.have.length(500);
  });

  it('refuses every decision when no approver key is configured', () => {
    const s = signDecision(anna.privatePem, { id: 'req-10', decision: 'approve', digest: DIGEST });
    expect(refusal(() => verifySignedDecision(s, [], { digest: DIGEST })).code).to.equal('noApproverKeys');
  });

  it('refuses to sign with an RSA key or junk', () => {
    expect(refusal(() => signDecision(pair('rsa').privatePem, { id: 'r', decision: 'approve', digest: DIGEST })).code).to.equal('signingKey');
    expect(refusal(() => signDecision('nope', { id: 'r', decision: 'approve', digest: DIGEST })).code).to.equal('signingKey');
  });
});

describe('approval signed decisions: the CLI (scripts/approval-sign.ts)', () => {
  const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
  const script = path.join(root, 'scripts', 'approval-sign.ts');
  const run = (args: string[], cwd: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(tsx, [script, ...args], { cwd }, (e, stdout, stderr) => resolve({ code: e ? ((e as { code?: number }).code ?? -1) : 0, stdout, stderr }));
    });

  for (const kind of ['ed25519', 'p256'] as const) {
    it(`--keygen ${kind} writes a 0600 private key and its public half; a decision it signs verifies`, async () => {
      const dir = tmpDir('approval-sign');
      try {
        const gen = await run(['--keygen', kind, '--out', 'anna'], dir);
        expect(gen.code, gen.stderr).to.equal(0);
        expect(fs.statSync(path.join(dir, 'anna.pem')).mode & 0o777).to.equal(0o600);
        const keys = parseApproverKeys(`# name: Anna\n${fs.readFileSync(path.join(dir, 'anna.pub.pem'), 'utf8')}`);
        expect(keys[0].kind).to.equal(kind === 'ed25519' ? 'ed25519' : 'ecdsa-p256');
        expect(gen.stdout).to.include(keys[0].fingerprint);

        const signed = await run(['--key', 'anna.pem', '--id', 'req-42', '--decision', 'approve', '--digest', DIGEST, '--by', 'someone', '--comment', 'ok for line 2'], dir);
        expect(signed.code, signed.stderr).to.equal(0);
        expect(signed.stdout.trimEnd().split('\n')).to.have.length(1);
        const v = verifySignedDecision(signed.stdout, keys, { digest: DIGEST });
        expect({ id: v.id, decision: v.decision, by: v.by, comment: v.comment }).to.deep.equal({ id: 'req-42', decision: 'approve', by: 'Anna', comment: 'ok for line 2' });
        expect(refusal(() => verifySignedDecision(signed.stdout, keys, { digest: OTHER })).code).to.equal('decisionWrongDigest');

        // an existing key is not overwritten
        expect((await run(['--keygen', kind, '--out', 'anna'], dir)).code).to.equal(1);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('bad arguments: the usage and exit code 2', async () => {
    const dir = tmpDir('approval-sign');
    try {
      for (const args of [[], ['--keygen', 'rsa', '--out', 'x'], ['--key', 'k.pem', '--id', 'r', '--decision', 'maybe', '--digest', DIGEST], ['--key', 'k.pem', '--id', 'r', '--decision', 'approve'], ['--bogus', '1'], ['--id']]) {
        const r = await run(args, dir);
        expect(r.code, args.join(' ')).to.equal(2);
        expect(r.stderr).to.include('usage: approval-sign.ts');
        expect(r.stdout).to.equal('');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
