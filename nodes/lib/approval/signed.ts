/**
 * Signed decisions: how the approval gate trusts a decision that comes over MQTT. A broker topic
 * proves nothing about who published on it, so a decision from the central console counts only
 * when it is signed by one of the configured approver keys (Ed25519 or ECDSA P-256).
 *
 * What is signed (decisionBytes): the UTF-8 text
 *
 *   mlops-approval/v1\n<id>\n<decision>\n<digest>
 *
 * with no trailing newline, where <decision> is always `approve` or `reject` (a message may say
 * `approved` / `rejected`; the signature is over the normalized word) and <digest> the digest of the
 * model waiting for approval. The id and the digest may not hold control characters, so the text
 * reads back one way only. Ed25519 signs the bytes themselves; ECDSA P-256 signs their SHA-256, the
 * signature in DER (what openssl and most libraries write) or IEEE P1363 r||s (64 bytes, WebCrypto).
 *
 * What goes over MQTT (SignedDecision), JSON:
 *
 *   {"id":"req-17","decision":"approve","digest":"sha256:…","by":"Anna","comment":"ok",
 *    "signature":"<base64>","key":"sha256:<fingerprint>"}
 *
 * `by` and `comment` are not signed: they are the sender's words. The approver a decision is
 * recorded under is the key's name (`# name:` in the key list) when it has one, since the key is
 * what proves who decided. `key` (optional) names the key that signed, so only that one is tried.
 */
import { createPrivateKey, createPublicKey, KeyObject, sign as cryptoSign, verify as cryptoVerify } from 'crypto';
import { CodedError, Params } from '../node-red/errors';
import { keyFingerprint } from '../registry/cosign';

/** The catalog of the approval gate: every error here has its text under `mlops-approval-gate.errors.`. */
export const APPROVAL_CATALOG = 'mlops-approval-gate';

/** A refused key list, signing key or decision. */
export class ApprovalSignatureError extends CodedError {
  constructor(code: string, params: Params, message: string) {
    super(code, params, message, APPROVAL_CATALOG);
  }
}

/** The first line of the signed text: names the format, so these bytes mean nothing elsewhere. */
export const DECISION_CONTEXT = 'mlops-approval/v1';

/** What an approver key has to be, as every key error says it. */
export const EXPECTED_KEY = 'an Ed25519 or ECDSA P-256 public key in PEM (SPKI)';

/** Bounds of the fields of a decision. */
export const LIMITS = { id: 200, digest: 200, text: 500, name: 200, signature: 512, payloadBytes: 64 * 1024 } as const;

export type Decision = 'approve' | 'reject';

/** An approver's public key, as parsed from the gate's key list. */
export interface ApproverKey {
  /** "sha256:" + hex of the key's SPKI DER (what `openssl pkey -pubin -outform DER | sha256sum` gives). */
  fingerprint: string;
  kind: 'ed25519' | 'ecdsa-p256';
  key: KeyObject;
  /** From a `# name: <approver name>` line right before the key. */
  name?: string;
}

/** A decision as a console sends it. */
export interface SignedDecision {
  id: string;
  decision: Decision;
  digest: string;
  by?: string;
  comment?: string;
  /** Standard base64 of the signature over decisionBytes(id, decision, digest). */
  signature: string;
  /** Fingerprint of the signing key (optional: without it every approver key is tried). */
  key?: string;
}

/** A decision that verified. */
export interface VerifiedDecision {
  id: string;
  decision: Decision;
  /** The key's name, else the message's `by`, else the key's fingerprint. */
  by: string;
  comment?: string;
  key: ApproverKey;
}

const err = (code: string, params: Params, message: string) => new ApprovalSignatureError(code, params, message);

/** A value shown in an error: JSON, at most `max` characters. */
const show = (v: unknown, max = 60): string => {
  const s = v === undefined ? 'nothing' : typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
};

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521', secp256k1: 'secp256k1' };

/** The kind of an approver key, or undefined when it is no Ed25519 or ECDSA P-256 key. */
function kindOf(key: KeyObject): ApproverKey['kind'] | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  return undefined;
}

/** "an RSA key", "an ECDSA P-384 key": what a refused key is. */
function describeKey(key: KeyObject): string {
  const t = key.asymmetricKeyType;
  if (t === 'ec') {
    const c = String(key.asymmetricKeyDetails?.namedCurve);
    return `an ECDSA ${CURVES[c] ?? c} key`;
  }
  const names: Record<string, string> = { rsa: 'an RSA key', 'rsa-pss': 'an RSA-PSS key', dsa: 'a DSA key', ed448: 'an Ed448 key', x25519: 'an X25519 key', x448: 'an X448 key', dh: 'a DH key' };
  return names[String(t)] ?? `a ${String(t)} key`;
}

const BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/;
const NAME = /^#\s*name:(.*)$/i;

/**
 * The approver keys of one text: one or more PEM public keys (SPKI, "-----BEGIN PUBLIC KEY-----"),
 * Ed25519 or ECDSA P-256. A line `# name: <approver name>` right before a key names it; other `#`
 * lines are comments, blank lines are ignored. Anything else (another key type, a private key, a
 * certificate, stray text, the same key twice, no key at all) is refused with the key's 1-based index.
 */
export function parseApproverKeys(text: string): ApproverKey[] {
  const lines = String(text ?? '').split(/\r?\n/).map((l) => l.trim());
  const keys: ApproverKey[] = [];
  let name: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const index = keys.length + 1;
    if (!line) continue;
    const named = NAME.exec(line);
    if (named) {
      const n = named[1].trim();
      if (name !== undefined || !n || n.length > LIMITS.name) {
        throw err(
          'approverKeyName',
          { index, got: show(name !== undefined ? line : n) },
          `approver key ${index}: a "# name:" line names the key right below it, with 1 to ${LIMITS.name} characters (got ${show(name !== undefined ? line : n)}${name !== undefined ? ' after another name line' : ''})`,
        );
      }
      name = n;
      continue;
    }
    if (line.startsWith('#')) continue;
    const begin = BEGIN.exec(line);
    if (!begin) {
      throw err('approverKeyJunk', { index, got: show(line, 40) }, `approver key ${index}: expected ${EXPECTED_KEY}, got the text ${show(line, 40)}`);
    }
    const type = begin[1];
    const end = lines.indexOf(`-----END ${type}-----`, i + 1);
    if (end < 0) {
      throw err('approverKeyParse', { index, reason: `no "-----END ${type}-----" line` }, `approver key ${index} does not parse (no "-----END ${type}-----" line): expected ${EXPECTED_KEY}`);
    }
    const pem = lines.slice(i, end + 1).join('\n');
    i = end;
    if (type.includes('PRIVATE')) {
      throw err('approverKeyPrivate', { index, got: type }, `approver key ${index} is a private key (PEM "${type}"): expected ${EXPECTED_KEY}; the private key stays with the approver`);
    }
    if (type !== 'PUBLIC KEY') {
      throw err('approverKeyPemType', { index, got: type }, `approver key ${index} is a PEM "${type}": expected ${EXPECTED_KEY}, a "PUBLIC KEY" block`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: pem, format: 'pem' });
    } catch (e) {
      throw err('approverKeyParse', { index, reason: (e as Error).message }, `approver key ${index} does not parse (${(e as Error).message}): expected ${EXPECTED_KEY}`);
    }
    const kind = kindOf(key);
    if (!kind) throw err('approverKeyType', { index, got: describeKey(key) }, `approver key ${index} is ${describeKey(key)}: expected ${EXPECTED_KEY}`);
    const fingerprint = keyFingerprint(key);
    const first = keys.findIndex((k) => k.fingerprint === fingerprint);
    if (first >= 0) {
      throw err('approverKeyDuplicate', { index, first: first + 1, fingerprint }, `approver key ${index} is the same key as approver key ${first + 1} (${fingerprint}): give each approver key once`);
    }
    keys.push(name !== undefined ? { fingerprint, kind, key, name } : { fingerprint, kind, key });
    name = undefined;
  }
  if (name !== undefined) {
    const index = keys.length + 1;
    throw err('approverKeyName', { index, got: show(name) }, `approver key ${index}: a "# name:" line names the key right below it, with 1 to ${LIMITS.name} characters (got ${show(name)} with no key below it)`);
  }
  if (!keys.length) throw err('approverKeysEmpty', {}, `no approver key: expected one or more, each ${EXPECTED_KEY}`);
  return keys;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** The id or digest of a decision, or the error saying what was expected. */
function checkLine(field: 'id' | 'digest', v: unknown): string {
  if (v === undefined || v === null) throw err('decisionMissing', { field }, `the decision has no "${field}": expected a signed decision {id, decision, digest, signature}`);
  if (typeof v !== 'string' || !v || v.length > LIMITS[field] || CONTROL.test(v)) {
    throw err('decisionField', { field, got: show(v) }, `the decision's "${field}" must be text of 1 to ${LIMITS[field]} characters without line breaks, got ${show(v)}`);
  }
  return v;
}

/** `by` or `comment`: absent (undefined or null) or text of at most 500 characters. */
function checkText(field: 'by' | 'comment', v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > LIMITS.text) {
    throw err('decisionField', { field, got: show(v) }, `the decision's "${field}" must be text of at most ${LIMITS.text} characters, got ${show(v)}`);
  }
  return v;
}

const DECISIONS: Record<string, Decision> = { approve: 'approve', approved: 'approve', reject: 'reject', rejected: 'reject' };

function checkDecision(v: unknown): Decision {
  if (v === undefined || v === null) throw err('decisionMissing', { field: 'decision' }, 'the decision has no "decision": expected a signed decision {id, decision, digest, signature}');
  const d = typeof v === 'string' ? DECISIONS[v] : undefined;
  if (!d) throw err('decisionField', { field: 'decision', got: show(v) }, `the decision's "decision" must be approve or reject, got ${show(v)}`);
  return d;
}

/**
 * The bytes a console signs for a decision: `mlops-approval/v1\n<id>\n<decision>\n<digest>` in
 * UTF-8, no trailing newline. Refuses an id or digest with a control character (a line break would
 * make the text read back another way).
 */
export function decisionBytes(id: string, decision: Decision, digest: string): Buffer {
  const d = checkDecision(decision);
  return Buffer.from(`${DECISION_CONTEXT}\n${checkLine('id', id)}\n${d}\n${checkLine('digest', digest)}`, 'utf8');
}

/**
 * Signs a decision with an approver's private key (unencrypted PEM: PKCS#8 "PRIVATE KEY", or SEC1
 * "EC PRIVATE KEY"; Ed25519 or ECDSA P-256): what a console, the CLI (scripts/approval-sign.ts) or
 * a test sends. P-256 signatures are DER over SHA-256; `key` is the key's fingerprint.
 */
export function signDecision(privateKeyPem: string, d: { id: string; decision: Decision; digest: string; by?: string; comment?: string }): SignedDecision {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: privateKeyPem, format: 'pem' });
  } catch (e) {
    throw err('signingKey', { got: (e as Error).message }, `the signing key does not parse (${(e as Error).message}): expected an unencrypted Ed25519 or ECDSA P-256 private key in PEM (PKCS#8)`);
  }
  const kind = kindOf(key);
  if (!kind) throw err('signingKey', { got: describeKey(key) }, `the signing key is ${describeKey(key)}: expected an unencrypted Ed25519 or ECDSA P-256 private key in PEM (PKCS#8)`);
  const decision = checkDecision(d.decision);
  const bytes = decisionBytes(d.id, decision, d.digest);
  const by = checkText('by', d.by);
  const comment = checkText('comment', d.comment);
  const signature = (kind === 'ed25519' ? cryptoSign(null, bytes, key) : cryptoSign('sha256', bytes, { key, dsaEncoding: 'der' })).toString('base64');
  return {
    id: d.id,
    decision,
    digest: d.digest,
    ...(by !== undefined ? { by } : {}),
    ...(comment !== undefined ? { comment } : {}),
    signature,
    key: keyFingerprint(key),
  };
}

/** Whether `sig` is a signature of `bytes` by `k` (P-256: DER, or a 64-byte r||s). */
function verifies(k: ApproverKey, bytes: Buffer, sig: Buffer): boolean {
  const attempt = (f: () => boolean) => {
    try {
      return f();
    } catch {
      return false;
    }
  };
  if (k.kind === 'ed25519') return sig.length === 64 && attempt(() => cryptoVerify(null, bytes, k.key, sig));
  return attempt(() => cryptoVerify('sha256', bytes, { key: k.key, dsaEncoding: 'der' }, sig)) || (sig.length === 64 && attempt(() => cryptoVerify('sha256', bytes, { key: k.key, dsaEncoding: 'ieee-p1363' }, sig)));
}

/** The message as an object: JSON in a Buffer or a string, or an object as it is. */
function asObject(payload: unknown): Record<string, unknown> {
  let v = payload;
  if (payload instanceof Uint8Array || typeof payload === 'string') {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    if (size > LIMITS.payloadBytes) {
      throw err('decisionTooLarge', { bytes: size, limit: LIMITS.payloadBytes }, `the decision is ${size} bytes, more than the ${LIMITS.payloadBytes} a signed decision may have`);
    }
    const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8');
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw err('decisionNotJson', { reason: (e as Error).message }, `the decision is not JSON (${(e as Error).message}): expected a signed decision {id, decision, digest, signature}`);
    }
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw err('decisionNotObject', { got: show(v) }, `expected a signed decision {id, decision, digest, signature}, got ${show(v)}`);
  }
  return v as Record<string, unknown>;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const FINGERPRINT = /^sha256:[0-9a-f]{64}$/i;

/**
 * Checks a decision that came over MQTT and returns it, or refuses it with an
 * ApprovalSignatureError saying why: no approver key configured, not JSON, a missing or bad field,
 * signed for another model than `expected.digest`, a key fingerprint that is no approver key, or a
 * signature that verifies with none of the keys. Tries the key the message names (`key`), else
 * every key. The caller still checks that `id` is a request it is waiting for.
 */
export function verifySignedDecision(payload: unknown, keys: ApproverKey[], expected: { digest: string }): VerifiedDecision {
  if (!keys.length) {
    throw err('noApproverKeys', {}, `no approver key is configured: a decision over MQTT is accepted only when signed by an approver key (${EXPECTED_KEY})`);
  }
  const m = asObject(payload);
  const id = checkLine('id', m.id);
  const decision = checkDecision(m.decision);
  const digest = checkLine('digest', m.digest);
  if (m.signature === undefined || m.signature === null) {
    throw err('decisionMissing', { field: 'signature' }, `the decision for ${show(id)} has no "signature": a decision over MQTT must be signed by an approver key`);
  }
  const b64 = m.signature;
  if (typeof b64 !== 'string' || b64.length > LIMITS.signature || b64.length % 4 !== 0 || !BASE64.test(b64)) {
    throw err('decisionField', { field: 'signature', got: show(b64, 40) }, `the decision's "signature" must be standard base64, got ${show(b64, 40)}`);
  }
  const sig = Buffer.from(b64, 'base64');
  let named: string | undefined;
  if (m.key !== undefined && m.key !== null) {
    if (typeof m.key !== 'string' || !FINGERPRINT.test(m.key)) {
      throw err('decisionField', { field: 'key', got: show(m.key) }, `the decision's "key" must be a key fingerprint sha256:<64 hex digits>, got ${show(m.key)}`);
    }
    named = m.key.toLowerCase();
  }
  const sentBy = checkText('by', m.by);
  const comment = checkText('comment', m.comment);

  if (digest !== expected.digest) {
    throw err(
      'decisionWrongDigest',
      { id, got: digest, expected: String(expected.digest) },
      `the decision for ${show(id)} was signed for another model (${digest}), not the one waiting for approval (${String(expected.digest)}): refused`,
    );
  }

  const candidates = named ? keys.filter((k) => k.fingerprint === named) : keys;
  if (named && !candidates.length) {
    throw err('decisionUnknownKey', { id, key: named, count: keys.length }, `the decision for ${show(id)} names the key ${named}, which is none of the ${keys.length} approver keys: refused`);
  }
  const bytes = decisionBytes(id, decision, digest);
  const key = candidates.find((k) => verifies(k, bytes, sig));
  if (!key) {
    if (named) throw err('decisionBadSignatureKey', { id, key: named }, `the signature of the decision for ${show(id)} does not verify with the approver key ${named} it names (another id, decision or model, or not signed by that key): refused`);
    throw err('decisionBadSignature', { id, count: keys.length }, `the signature of the decision for ${show(id)} does not verify with any of the ${keys.length} approver keys (another id, decision or model, or not signed by an approver): refused`);
  }
  const by = key.name ?? sentBy ?? key.fingerprint;
  return { id, decision, by, ...(comment !== undefined ? { comment } : {}), key };
}
