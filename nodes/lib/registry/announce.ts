/**
 * The MQTT announcement a central system publishes so a fleet knows "model X v7 released"
 * (issue 11). It names the model and proves nothing by itself: registry pull fetches the
 * manifest by the announced digest and verifies it (and its signature) as for any other pull.
 * An announcement never carries the model.
 *
 *   { "reference": "models/bearing-fault:1.3.0",            (or "models/bearing-fault@sha256:<64 hex>")
 *     "digest": "sha256:<64 hex>",                           the manifest's digest
 *     ...                                                    other fields are allowed and ignored }
 *
 * parseAnnouncement checks a payload strictly (UTF-8 JSON of at most 16 KB, an object, a
 * reference in the distribution grammar, a well-formed digest, equal to the reference's digest
 * when the reference is by digest); an announcement for another repository than the one the node
 * is configured for is not an error but a result saying it was ignored.
 */
import { CodedError, causedBy, isCoded } from '../node-red/errors';
import { checkRepository } from './distribution';
import { parseReference } from './reference';
import { digestHex } from './store';

export class AnnouncementError extends CodedError {}

/** The largest announcement read, in bytes of JSON (an announcement is a few hundred bytes). */
export const MAX_ANNOUNCEMENT_BYTES = 16 * 1024;

/** A model announced for the configured repository. */
export interface Announcement {
  repository: string;
  /** The tag (`1.3.0`) or the digest (`sha256:...`) the announcement's reference names. */
  reference: string;
  /** The manifest digest to pull, `sha256:<64 hex>`. */
  digest: string;
}

export type AnnouncementResult =
  | ({ ignored: false } & Announcement)
  /** For another repository: `repository` is the one announced, `expected` the configured one. */
  | { ignored: true; repository: string; expected: string; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const shown = (v: unknown) => JSON.stringify(String(v).slice(0, 80));

function decode(payload: Buffer | Uint8Array | string | object): Record<string, unknown> {
  let value: unknown = payload;
  if (typeof payload === 'string' || payload instanceof Uint8Array) {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    if (size > MAX_ANNOUNCEMENT_BYTES) throw tooLarge(size);
    let text: string;
    try {
      text = typeof payload === 'string' ? payload : utf8.decode(payload);
    } catch {
      throw new AnnouncementError('announcementNotJson', { error: 'not UTF-8' }, 'expected an announcement as UTF-8 JSON, got bytes that are not UTF-8');
    }
    try {
      value = JSON.parse(text);
    } catch (e) {
      const error = (e as Error).message;
      throw new AnnouncementError('announcementNotJson', { error }, `expected an announcement as JSON such as {"reference":"models/bearing-fault:1.3.0","digest":"sha256:<64 hex>"}, got text that is not JSON (${error})`);
    }
  } else if (payload !== null && typeof payload === 'object') {
    // already parsed (an MQTT node in JSON mode): bounded the same way
    let size: number;
    try {
      size = Buffer.byteLength(JSON.stringify(payload) ?? '');
    } catch (e) {
      throw new AnnouncementError('announcementNotJson', { error: (e as Error).message }, `expected an announcement that is plain JSON data, got an object JSON cannot represent (${(e as Error).message})`);
    }
    if (size > MAX_ANNOUNCEMENT_BYTES) throw tooLarge(size);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new AnnouncementError('announcementNotObject', { got }, `expected an announcement as a JSON object with "reference" and "digest", got ${got}`);
  }
  return value as Record<string, unknown>;
}

function tooLarge(size: number): AnnouncementError {
  return new AnnouncementError('announcementTooLarge', { size, max: MAX_ANNOUNCEMENT_BYTES }, `expected an announcement of at most ${MAX_ANNOUNCEMENT_BYTES} bytes (a reference and a digest, never the model), got ${size} bytes`);
}

/**
 * Checks an announcement for the configured `repository`; throws an AnnouncementError saying what
 * was expected (its cause the registry's own error where there is one).
 */
export function parseAnnouncement(payload: Buffer | Uint8Array | string | object, o: { repository: string }): AnnouncementResult {
  const expected = checkRepository(o.repository);
  const a = decode(payload);

  if (typeof a.reference !== 'string' || !a.reference) {
    throw new AnnouncementError('announcementNoReference', { got: a.reference === undefined ? 'nothing' : shown(a.reference) }, `expected "reference" as text such as "${expected}:1.3.0" or "${expected}@sha256:<64 hex>", got ${a.reference === undefined ? 'no reference' : shown(a.reference)}`);
  }
  let ref: { repository: string; reference: string };
  try {
    ref = parseReference(a.reference);
  } catch (e) {
    const reason = isCoded(e) ? e.message : String(e);
    throw causedBy(new AnnouncementError('announcementBadReference', { got: shown(a.reference), reason }, `expected "reference" such as "${expected}:1.3.0" or "${expected}@sha256:<64 hex>", got ${shown(a.reference)}: ${reason}`), e);
  }

  if (a.digest === undefined) {
    throw new AnnouncementError('announcementNoDigest', {}, 'expected "digest": the manifest digest "sha256:<64 hex>" of the announced model, got none');
  }
  try {
    digestHex(a.digest);
  } catch (e) {
    throw causedBy(new AnnouncementError('announcementBadDigest', { got: shown(a.digest) }, `expected "digest" as "sha256:" followed by 64 lowercase hex digits (the manifest digest), got ${shown(a.digest)}`), e);
  }
  const digest = a.digest as string;
  if (ref.reference.startsWith('sha256:') && ref.reference !== digest) {
    throw new AnnouncementError('announcementDigestMismatch', { reference: a.reference, digest }, `expected "digest" equal to the digest in "reference" (${ref.reference}), got ${digest}`);
  }

  if (ref.repository !== expected) {
    return { ignored: true, repository: ref.repository, expected, reason: `announcement for ${ref.repository}, not for ${expected}` };
  }
  return { ignored: false, repository: ref.repository, reference: ref.reference, digest };
}

/** The announcement of a pushed model, as a central system (or scripts/) publishes it. */
export function formatAnnouncement(a: { repository: string; reference: string; digest: string }, extra: Record<string, string | number | boolean> = {}): string {
  const repository = checkRepository(a.repository);
  digestHex(a.digest);
  const reference = a.reference.startsWith('sha256:') ? `${repository}@${a.reference}` : `${repository}:${a.reference}`;
  parseReference(reference);
  const text = JSON.stringify({ ...extra, reference, digest: a.digest });
  if (Buffer.byteLength(text) > MAX_ANNOUNCEMENT_BYTES) throw tooLarge(Buffer.byteLength(text));
  return text;
}
