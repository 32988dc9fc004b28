/**
 * The one streamed HTTP GET of `registry pull` (issue 11) for the MLflow client (mlflow.ts) and
 * plain URLs (url.ts): Node's http/https, TLS verified by default (an optional CA file added to
 * the trust), a timeout on every wait (connect, headers, each chunk of the body, so a server that
 * stalls mid-body fails), redirects followed up to a bound and never from https to http, the
 * Authorization header dropped when a redirect leaves the origin, and a size bound enforced while
 * the body streams. The body is an AsyncIterable of chunks, so it can go straight into
 * ModelStore.putBlob. Errors never carry credentials: URLs in messages are shown without user
 * info, query or fragment (a presigned URL's query is a credential too).
 */
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as tls from 'tls';
import { CodedError } from '../node-red/errors';

export class HttpError extends CodedError {}

export interface HttpOptions {
  /** Longest wait for the connection, the headers, or the next chunk of the body, in ms. Default 30 s. */
  timeoutMs?: number;
  /** A PEM file of CA certificates trusted for https (besides Node's defaults). */
  caFile?: string;
  /** Redirects followed at most. Default 5; 0 refuses any redirect. */
  maxRedirects?: number;
  /** Largest body accepted, in bytes (checked against Content-Length and while streaming). */
  maxBytes?: number;
  /** Request headers (e.g. Authorization, Accept); Authorization is dropped on a redirect to another origin. */
  headers?: Record<string, string>;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: URL;
  /** Content-Length, when the server sent one. */
  size?: number;
  /** The body, streamed once; size-bounded and timed out as it streams. */
  body: AsyncIterable<Uint8Array>;
  /** The whole body as text (for JSON and error bodies; bounded by maxBytes or 1 MiB). */
  text(): Promise<string>;
  /** Drops the body (closes the connection). */
  discard(): void;
}

/** A URL as it may be shown: no user info, no query, no fragment. */
export function shownUrl(u: string | URL): string {
  try {
    const x = new URL(String(u));
    return `${x.protocol}//${x.host}${x.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

const caCache = new Map<string, Buffer>();
function readCa(file: string): Buffer {
  let ca = caCache.get(file);
  if (!ca) {
    try {
      ca = fs.readFileSync(file);
    } catch (e) {
      throw new HttpError('caFile', { file, reason: (e as Error).message }, `cannot read the CA file ${file}: ${(e as Error).message}`);
    }
    caCache.set(file, ca);
  }
  return ca;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** GET `url`, following redirects; resolves once the final response's headers arrived (any status). */
export async function httpGet(url: string | URL, o: HttpOptions = {}): Promise<HttpResponse> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const maxRedirects = o.maxRedirects ?? 5;
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    throw new HttpError('badUrl', { url: String(url).slice(0, 200) }, `expected an http:// or https:// URL, got ${JSON.stringify(String(url).slice(0, 200))}`);
  }
  const origin = u.origin;
  let headers = { ...(o.headers ?? {}) };
  const seen: string[] = [];
  for (let hop = 0; ; hop++) {
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new HttpError('badUrl', { url: shownUrl(u) }, `expected an http:// or https:// URL, got ${u.protocol}//`);
    if (u.username || u.password) {
      // credentials in a URL would end up in logs and redirects: take them as a header instead
      headers = { authorization: `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`, ...headers };
      u.username = '';
      u.password = '';
    }
    const answer = await request(u, headers, timeoutMs, o.caFile);
    const res = answer.res;
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status) && res.headers.location) {
      res.resume();
      res.destroy();
      seen.push(shownUrl(u));
      if (hop >= maxRedirects) throw new HttpError('tooManyRedirects', { url: shownUrl(url), max: maxRedirects }, `${shownUrl(url)}: expected at most ${maxRedirects} redirects, got more (${seen.slice(-3).join(' -> ')} -> ...)`);
      let next: URL;
      try {
        next = new URL(res.headers.location, u);
      } catch {
        throw new HttpError('badRedirect', { url: shownUrl(u) }, `${shownUrl(u)} redirected to something that is not a URL`);
      }
      if (u.protocol === 'https:' && next.protocol !== 'https:') {
        throw new HttpError('downgrade', { url: shownUrl(u), to: shownUrl(next) }, `${shownUrl(u)} redirected to ${shownUrl(next)}: refused, a redirect from https may only go to https`);
      }
      if (next.origin !== origin) {
        const { authorization: _drop, Authorization: _drop2, ...rest } = headers;
        headers = rest;
      }
      u = next;
      continue;
    }
    return respond(answer, u, o.maxBytes);
  }
}

/** The response and, once the socket went quiet for too long, the timeout error. */
interface Answer {
  res: http.IncomingMessage;
  state: { timeout?: HttpError };
}

function request(u: URL, headers: Record<string, string>, timeoutMs: number, caFile?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const opts: https.RequestOptions = { method: 'GET', headers: { 'user-agent': 'node-red-mlops', ...headers } };
    if (u.protocol === 'https:' && caFile) opts.ca = [...tls.rootCertificates, readCa(caFile).toString('utf8')];
    const state: Answer['state'] = {};
    const req = (u.protocol === 'https:' ? https : http).request(u, opts, (res) => resolve({ res, state }));
    req.setTimeout(timeoutMs, () => {
      state.timeout = new HttpError('timeout', { url: shownUrl(u), ms: timeoutMs }, `${shownUrl(u)}: nothing received for ${timeoutMs} ms (timeout)`);
      req.destroy(state.timeout);
    });
    req.on('error', (e) => reject(state.timeout ?? (e instanceof HttpError ? e : new HttpError('network', { url: shownUrl(u), reason: e.message }, `${shownUrl(u)}: ${e.message}`))));
    req.end();
  });
}

function respond({ res, state }: Answer, u: URL, maxBytes?: number): HttpResponse {
  const len = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
  const size = len !== undefined && Number.isSafeInteger(len) && len >= 0 ? len : undefined;
  let used = false;
  const tooLarge = (got: string) => new HttpError('tooLarge', { url: shownUrl(u), max: maxBytes ?? 0 }, `${shownUrl(u)}: expected at most ${maxBytes} bytes, got ${got}`);
  async function* body(limit = maxBytes): AsyncIterable<Uint8Array> {
    if (used) throw new Error('the body was already read');
    used = true;
    try {
      if (limit !== undefined && size !== undefined && size > limit) throw tooLarge(`${size} (Content-Length)`);
      let n = 0;
      for await (const chunk of res) {
        n += (chunk as Buffer).length;
        if (limit !== undefined && n > limit) throw tooLarge('more');
        yield chunk as Buffer;
      }
      if (state.timeout) throw state.timeout;
      if (!res.complete) throw new HttpError('truncated', { url: shownUrl(u) }, `${shownUrl(u)}: the connection closed before the whole body arrived`);
    } catch (e) {
      if (state.timeout) throw state.timeout;
      if (e instanceof HttpError || !(e instanceof Error) || !(e as NodeJS.ErrnoException).code) throw e;
      throw new HttpError('network', { url: shownUrl(u), reason: e.message }, `${shownUrl(u)}: ${e.message} (while reading the body)`);
    } finally {
      res.destroy();
    }
  }
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    url: u,
    size,
    body: { [Symbol.asyncIterator]: () => body()[Symbol.asyncIterator]() },
    async text() {
      const parts: Buffer[] = [];
      for await (const c of body(maxBytes ?? 1024 * 1024)) parts.push(Buffer.from(c));
      return Buffer.concat(parts).toString('utf8');
    },
    discard() {
      used = true;
      res.resume();
      res.destroy();
    },
  };
}
