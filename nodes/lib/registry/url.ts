/**
 * A model from a plain HTTP(S) URL (issue 11, source 4). A URL says nothing about what it serves,
 * so the sha256 the model must have is required: without it nothing proves that the file is the
 * one meant, and a source that cannot be verified is refused. The file streams (http.ts: bounded
 * redirects, never https -> http, a timeout on every wait, TLS verified, an optional CA file) into
 * the store, which hashes it while it arrives and keeps it only when the digest matches
 * (ModelStore.putBlob): a wrong file is never written in place.
 */
import { CodedError } from '../node-red/errors';
import { HttpOptions, httpGet, shownUrl } from './http';
import { ModelStore, digestHex } from './store';

export class UrlSourceError extends CodedError {}

export interface UrlSource extends Omit<HttpOptions, 'headers' | 'maxBytes'> {
  url: string;
  /** `sha256:<64 hex>` (or the 64 hex alone): required. */
  sha256: string;
  /** A bearer token or basic credentials sent to the URL's origin only (dropped on a redirect elsewhere). */
  auth?: { bearer: string } | { username: string; password: string };
}

/** The digest as `sha256:<hex>`, from either form; refuses a source without one, saying why. */
export function expectedDigest(sha256: unknown): string {
  if (sha256 === undefined || sha256 === null || String(sha256).trim() === '') {
    throw new UrlSourceError('urlNeedsSha256', {}, 'a URL source needs the sha256 of the model it serves: a URL alone proves nothing about the file behind it, so without the expected digest the model cannot be verified and is refused');
  }
  const s = String(sha256).trim().toLowerCase();
  const d = s.startsWith('sha256:') ? s : `sha256:${s}`;
  digestHex(d);
  return d;
}

/** Downloads the URL into the store; resolves to what was stored once its digest checked. */
export async function pullUrl(src: UrlSource, store: ModelStore): Promise<{ digest: string; size: number; path: string; url: string }> {
  const digest = expectedDigest(src.sha256);
  const headers: Record<string, string> = {};
  if (src.auth && 'bearer' in src.auth) headers.authorization = `Bearer ${src.auth.bearer}`;
  else if (src.auth) headers.authorization = `Basic ${Buffer.from(`${src.auth.username}:${src.auth.password}`).toString('base64')}`;
  const res = await httpGet(src.url, { ...src, headers, maxBytes: store.maxBytes });
  if (res.status !== 200) {
    res.discard();
    throw new UrlSourceError('httpStatus', { url: shownUrl(res.url), status: res.status }, `${shownUrl(res.url)}: expected HTTP 200 with the model, got HTTP ${res.status}`);
  }
  const r = await store.putBlob(res.body, { digest });
  return { ...r, url: shownUrl(src.url) };
}
