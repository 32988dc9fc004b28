/**
 * An OCI distribution registry client (issue 11): the HTTP API of Harbor, GHCR, ECR, ACR, Docker
 * Hub and Debian's `docker-registry` (distribution-spec v1.1), as an ArtifactSource and an
 * ArtifactSink, over Node's http/https.
 *
 * - https by default; plain http only for 127.0.0.1 / localhost / ::1 or with `allowHttp`. TLS is
 *   always verified; `caFile` adds a PEM CA to Node's roots. There is no "insecure" switch.
 * - Auth: anonymous, basic (username/password), or bearer tokens obtained through the registry's
 *   `WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge (the realm asked with the
 *   basic credentials if given), cached per scope until they expire.
 * - Manifests are asked for with MANIFEST_ACCEPT, bounded in size, and their bytes must hash to the
 *   digest asked for (or to Docker-Content-Digest for a tag). Blobs stream (redirects followed,
 *   Authorization dropped when a redirect leaves the registry's origin); the caller checks their
 *   digest (ModelStore.putBlob) and this client stops a blob that runs past its descriptor's size.
 * - Repository names, tags and digests are checked against the distribution-spec grammar before
 *   they go into a URL. Errors say what was expected and what the registry answered (status, its
 *   error code); they never carry credentials, and URLs in them have no user info or query.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as tls from 'tls';
import { CodedError } from '../node-red/errors';
import { ArtifactSink, ArtifactSource, Descriptor, FetchedManifest, MANIFEST_ACCEPT } from './source';
import { digestHex } from './store';

export class RegistryError extends CodedError {}

export interface DistributionOptions {
  /** The registry, e.g. "https://ghcr.io", "registry.example.com:5000" (https assumed), "http://127.0.0.1:5000". */
  url: string;
  username?: string;
  password?: string;
  /** A PEM file of CA certificates trusted besides Node's roots (a private registry's CA). */
  caFile?: string;
  /** Allow plain http to a host that is not the local machine (explicit opt-in; credentials then travel unencrypted). */
  allowHttp?: boolean;
  /** Longest wait for a TCP/TLS connection, ms. Default 10 s. */
  connectTimeoutMs?: number;
  /** Longest silence while waiting for headers or the next chunk of a body, ms. Default 30 s. */
  idleTimeoutMs?: number;
  /** Largest manifest accepted, bytes. Default 4 MiB. */
  maxManifestBytes?: number;
  /** Tags asked for per page (`?n=`); the registry's own default when unset. Pages follow Link rel="next". */
  tagPageSize?: number;
}

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const LOCAL = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const MAX_REDIRECTS = 5;
const MAX_TAG_PAGES = 1000;
/** The timeout error (if any) that ended a response's request, so its body's reader reports that rather than "aborted". */
const failures = new WeakMap<http.IncomingMessage, () => Error | undefined>();

/** A repository name checked against the distribution-spec grammar (and at most 255 characters). */
export function checkRepository(name: unknown): string {
  if (typeof name !== 'string' || name.length > 255 || !NAME.test(name)) {
    throw new RegistryError('badRepository', { got: String(name).slice(0, 80) }, `expected a repository name such as "models/bearing-fault" (lowercase letters, digits, separators . _ __ - and /), got ${JSON.stringify(String(name).slice(0, 80))}`);
  }
  return name;
}

/** A reference checked: a tag (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`) or a `sha256:<64 hex>` digest. */
export function checkReference(ref: unknown): { tag?: string; digest?: string } {
  if (typeof ref === 'string' && ref.includes(':')) return { digest: (digestHex(ref), ref) };
  if (typeof ref !== 'string' || !TAG.test(ref)) {
    throw new RegistryError('badReference', { got: String(ref).slice(0, 80) }, `expected a tag (letters, digits, . _ -, at most 128, not starting with . or -) or a digest sha256:<64 hex>, got ${JSON.stringify(String(ref).slice(0, 80))}`);
  }
  return { tag: ref };
}

/** A URL as shown in messages: no user info, query or fragment. */
function shown(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `Bearer realm="...",service="...",scope="..."` -> scheme and parameters. */
export function parseChallenge(h: string | undefined): Challenge | undefined {
  if (!h) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(h);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

type Body = Uint8Array | (() => AsyncIterable<Uint8Array>);

interface Req {
  method: string;
  url: URL;
  /** The scope a bearer token needs, e.g. "repository:models/x:pull". */
  scope: string;
  headers?: Record<string, string>;
  body?: Body;
  /** What the request does, for messages ("manifest 1.2 of models/x"). */
  what: string;
  /** Follow redirects (blob GETs). */
  follow?: boolean;
}

interface Token {
  value: string;
  until: number;
}

export class DistributionClient implements ArtifactSource, ArtifactSink {
  readonly base: URL;
  private readonly agent: http.Agent;
  private readonly ca?: string[];
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxManifestBytes: number;
  /** The registry asked for Basic once: send it with every request. */
  private basic = false;
  private readonly tokens = new Map<string, Token>();

  constructor(private readonly o: DistributionOptions) {
    const raw = String(o.url ?? '').trim();
    let u: URL;
    try {
      u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`);
    } catch {
      throw new RegistryError('badUrl', { got: raw.replace(/\/\/[^/@]*@/, '//').slice(0, 80) }, `expected a registry URL such as https://registry.example.com, got ${JSON.stringify(raw.replace(/\/\/[^/@]*@/, '//').slice(0, 80))}`);
    }
    if (u.username || u.password) throw new RegistryError('credentialsInUrl', { url: shown(u) }, `the registry URL ${shown(u)} carries credentials: give them as username and password instead`);
    this.checkScheme(u);
    u.pathname = u.pathname.replace(/\/+$/, '');
    u.search = '';
    u.hash = '';
    this.base = u;
    this.connectTimeoutMs = o.connectTimeoutMs ?? 10_000;
    this.idleTimeoutMs = o.idleTimeoutMs ?? 30_000;
    this.maxManifestBytes = o.maxManifestBytes ?? 4 * 1024 * 1024;
    if (o.caFile) {
      try {
        this.ca = [...tls.rootCertificates, fs.readFileSync(o.caFile, 'utf8')];
      } catch (e) {
        throw new RegistryError('caFile', { file: o.caFile, reason: (e as Error).message }, `could not read the CA file ${o.caFile}: ${(e as Error).message}`);
      }
    }
    this.agent = u.protocol === 'https:' ? new https.Agent({ keepAlive: true, ca: this.ca }) : new http.Agent({ keepAlive: true });
  }

  /** Closes idle connections. */
  close(): void {
    this.agent.destroy();
  }

  private checkScheme(u: URL): void {
    if (u.protocol === 'https:') return;
    if (u.protocol !== 'http:') throw new RegistryError('badUrl', { got: shown(u) }, `expected an https:// (or http://) URL, got ${shown(u)}`);
    if (!LOCAL.has(u.hostname) && !this.o.allowHttp) {
      throw new RegistryError('plainHttp', { url: shown(u) }, `refusing plain http to ${u.host} (${shown(u)}): use https, or allow http explicitly for this registry`);
    }
  }

  private url(path: string): URL {
    return new URL(`${this.base.pathname.replace(/\/+$/, '')}${path}`, this.base);
  }

  // ---------------------------------------------------------------- ArtifactSource

  async manifest(repository: string, reference: string): Promise<FetchedManifest> {
    const name = checkRepository(repository);
    const ref = checkReference(reference);
    const what = `manifest ${reference} of ${name}`;
    const res = await this.send({ method: 'GET', url: this.url(`/v2/${name}/manifests/${reference}`), scope: `repository:${name}:pull`, headers: { Accept: MANIFEST_ACCEPT }, what });
    if (res.statusCode !== 200) throw await this.failure(res, what, ref.tag ? `no tag ${reference} in ${name}` : `no manifest ${reference} in ${name}`);
    const length = Number(res.headers['content-length']);
    if (length > this.maxManifestBytes) {
      res.destroy();
      throw new RegistryError('manifestTooLarge', { what, size: length, max: this.maxManifestBytes }, `${what} is ${length} bytes: expected at most ${this.maxManifestBytes}`);
    }
    const bytes = await this.readAll(res, this.maxManifestBytes, what);
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const header = res.headers['docker-content-digest'];
    const named = typeof header === 'string' && header ? header : undefined;
    const expected = ref.digest ?? named;
    if (expected !== undefined) {
      if (ref.tag) digestHex(expected);
      if (got !== expected) {
        throw new RegistryError('manifestDigest', { what, expected, got }, `${what} failed its digest check: expected ${expected}${ref.tag ? ' (the digest the registry named for the tag)' : ''}, its bytes hash to ${got}`);
      }
    }
    if (ref.digest && named && named !== ref.digest) {
      throw new RegistryError('manifestDigest', { what, expected: ref.digest, got: named }, `${what}: the registry named digest ${named.slice(0, 80)} for it, expected ${ref.digest}`);
    }
    let mediaType = String(res.headers['content-type'] ?? '').split(';')[0].trim();
    try {
      const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown };
      if (typeof m?.mediaType === 'string') mediaType = m.mediaType;
    } catch {
      // not JSON: the artifact reader says so; the bytes are what the digest names
    }
    return { digest: got, mediaType, bytes };
  }

  /**
   * A blob's content as chunks, streamed from the registry (or where it redirects). Iterate it to
   * the end or leave the loop (which closes the connection); one never iterated is closed by the
   * idle timeout.
   */
  async blob(repository: string, d: Descriptor): Promise<AsyncIterable<Uint8Array>> {
    const name = checkRepository(repository);
    digestHex(d.digest);
    const what = `blob ${d.digest} of ${name}`;
    const res = await this.send({ method: 'GET', url: this.url(`/v2/${name}/blobs/${d.digest}`), scope: `repository:${name}:pull`, what, follow: true });
    if (res.statusCode !== 200) throw await this.failure(res, what, `no ${what}`);
    const length = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
    if (length !== undefined && Number.isInteger(d.size) && length !== d.size) {
      res.destroy();
      throw new RegistryError('blobSize', { what, expected: d.size, got: length }, `${what}: expected ${d.size} bytes (its descriptor), the registry announces ${length}`);
    }
    return this.stream(res, what, Number.isInteger(d.size) ? d.size : undefined);
  }

  async tags(repository: string): Promise<string[]> {
    const name = checkRepository(repository);
    const what = `the tags of ${name}`;
    const out: string[] = [];
    let url: URL | undefined = this.url(`/v2/${name}/tags/list`);
    if (this.o.tagPageSize) url.searchParams.set('n', String(Math.max(1, Math.floor(this.o.tagPageSize))));
    for (let page = 0; url; page++) {
      if (page >= MAX_TAG_PAGES) throw new RegistryError('tagPages', { what, max: MAX_TAG_PAGES }, `${what}: more than ${MAX_TAG_PAGES} pages`);
      const res = await this.send({ method: 'GET', url, scope: `repository:${name}:pull`, headers: { Accept: 'application/json' }, what });
      if (res.statusCode !== 200) throw await this.failure(res, what, `no repository ${name}`);
      const body = await this.readAll(res, this.maxManifestBytes, what);
      let tags: unknown;
      try {
        tags = (JSON.parse(Buffer.from(body).toString('utf8')) as { tags?: unknown })?.tags;
      } catch {
        throw new RegistryError('badTags', { what }, `${what}: expected a JSON object {"name", "tags"}, the registry answered something else`);
      }
      if (tags !== null && tags !== undefined && !Array.isArray(tags)) throw new RegistryError('badTags', { what }, `${what}: expected "tags" to be a list`);
      for (const t of (tags as unknown[]) ?? []) if (typeof t === 'string' && TAG.test(t)) out.push(t);
      url = this.nextLink(res.headers.link, url);
    }
    return out;
  }

  /** The rel="next" target of a Link header, on the registry's own origin only. */
  private nextLink(link: string | string[] | undefined, from: URL): URL | undefined {
    const h = Array.isArray(link) ? link.join(',') : link;
    const m = h && /<([^>]*)>\s*;\s*rel="?next"?/i.exec(h);
    if (!m) return undefined;
    const next = new URL(m[1], from);
    if (next.origin !== this.base.origin) throw new RegistryError('badLink', { url: shown(next) }, `the registry's next page link points to another origin (${shown(next)}); expected ${this.base.origin}`);
    return next;
  }

  // ---------------------------------------------------------------- ArtifactSink

  async pushBlob(repository: string, d: Descriptor, content: Uint8Array | (() => AsyncIterable<Uint8Array>)): Promise<void> {
    const name = checkRepository(repository);
    digestHex(d.digest);
    const scope = `repository:${name}:pull,push`;
    const what = `blob ${d.digest} to ${name}`;
    const head = await this.send({ method: 'HEAD', url: this.url(`/v2/${name}/blobs/${d.digest}`), scope, what });
    head.resume();
    if (head.statusCode === 200) return;
    if (head.statusCode !== 404) throw await this.failure(head, `checking ${what}`, `no ${what}`);
    const start = await this.send({ method: 'POST', url: this.url(`/v2/${name}/blobs/uploads/`), scope, headers: { 'Content-Length': '0' }, body: new Uint8Array(0), what: `starting the upload of ${what}` });
    if (start.statusCode !== 202) throw await this.failure(start, `starting the upload of ${what}`, `no repository ${name}`);
    start.resume();
    const location = start.headers.location;
    if (!location) throw new RegistryError('noLocation', { what }, `starting the upload of ${what}: expected a Location header in the registry's 202 answer, got none`);
    const put = new URL(location, this.url('/v2/'));
    this.checkScheme(put);
    put.searchParams.set('digest', d.digest);
    const sized = typeof content === 'function' ? () => bounded(content(), d.size, what) : content;
    if (content instanceof Uint8Array && content.length !== d.size) throw new RegistryError('blobSize', { what, expected: d.size, got: content.length }, `${what}: the descriptor says ${d.size} bytes, the content has ${content.length}`);
    const res = await this.send({ method: 'PUT', url: put, scope, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(d.size) }, body: sized, what: `uploading ${what}` });
    if (res.statusCode !== 201) throw await this.failure(res, `uploading ${what}`, `no upload for ${what}`);
    res.resume();
  }

  async pushManifest(repository: string, bytes: Uint8Array, mediaType: string, tag?: string): Promise<string> {
    const name = checkRepository(repository);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const reference = tag === undefined ? digest : (checkReference(tag).tag ?? tag);
    if (tag !== undefined && tag.includes(':') && tag !== digest) throw new RegistryError('manifestDigest', { what: `manifest of ${name}`, expected: tag, got: digest }, `pushing a manifest of ${name} under ${tag}: its bytes hash to ${digest}`);
    const what = `manifest ${reference} to ${name}`;
    const res = await this.send({ method: 'PUT', url: this.url(`/v2/${name}/manifests/${reference}`), scope: `repository:${name}:pull,push`, headers: { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) }, body: bytes, what: `pushing ${what}` });
    if (res.statusCode !== 201) throw await this.failure(res, `pushing ${what}`, `no repository ${name}`);
    res.resume();
    const named = res.headers['docker-content-digest'];
    if (typeof named === 'string' && named && named !== digest) throw new RegistryError('manifestDigest', { what, expected: digest, got: named.slice(0, 80) }, `pushing ${what}: the registry stored it as ${named.slice(0, 80)}, expected ${digest}`);
    return digest;
  }

  // ---------------------------------------------------------------- HTTP and auth

  /** Sends a request with the auth it needs (answering one 401 challenge), following redirects when asked. */
  private async send(r: Req): Promise<http.IncomingMessage> {
    let res = await this.follow(r, this.authHeader(r.scope));
    if (res.statusCode !== 401) return res;
    const challenge = parseChallenge(res.headers['www-authenticate'] as string | undefined);
    let auth: string | undefined;
    if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      res.resume();
      auth = `Bearer ${await this.token(r.scope, challenge)}`;
    } else if (challenge?.scheme === 'basic' && this.o.username !== undefined && !this.basic) {
      res.resume();
      this.basic = true;
      auth = this.authHeader(r.scope);
    } else {
      throw await this.failure(res, r.what, '');
    }
    res = await this.follow(r, auth);
    if (res.statusCode === 401) throw await this.failure(res, r.what, '');
    return res;
  }

  private authHeader(scope: string): string | undefined {
    const t = this.tokens.get(scope);
    if (t && t.until > Date.now()) return `Bearer ${t.value}`;
    if (this.basic && this.o.username !== undefined) return `Basic ${Buffer.from(`${this.o.username}:${this.o.password ?? ''}`).toString('base64')}`;
    return undefined;
  }

  /** A bearer token for a scope from the challenge's realm (basic credentials if given), cached per scope until it expires. */
  private async token(scope: string, c: Challenge): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(c.params.realm);
    } catch {
      throw new RegistryError('badRealm', { realm: c.params.realm.slice(0, 80) }, `the registry asks for a bearer token from realm ${JSON.stringify(c.params.realm.slice(0, 80))}, which is not a URL`);
    }
    this.checkScheme(realm);
    if (c.params.service) realm.searchParams.set('service', c.params.service);
    // the scope this client needs (what the token is cached under), and the challenge's own when it differs
    for (const s of new Set([scope, ...(c.params.scope ? c.params.scope.split(' ') : [])])) realm.searchParams.append('scope', s);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.o.username !== undefined) headers.Authorization = `Basic ${Buffer.from(`${this.o.username}:${this.o.password ?? ''}`).toString('base64')}`;
    const what = `a token for ${scope} from ${shown(realm)}`;
    const res = await this.request({ method: 'GET', url: realm, scope, what }, headers);
    if (res.statusCode !== 200) {
      const f = await this.failure(res, `getting ${what}`, '');
      throw f;
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(Buffer.from(await this.readAll(res, 1024 * 1024, what)).toString('utf8'));
    } catch {
      throw new RegistryError('badToken', { realm: shown(realm) }, `getting ${what}: expected JSON with "token" or "access_token", got something else`);
    }
    const value = typeof body?.token === 'string' && body.token ? body.token : typeof body?.access_token === 'string' ? body.access_token : '';
    if (!value || /[\r\n]/.test(value)) throw new RegistryError('badToken', { realm: shown(realm) }, `getting ${what}: expected JSON with "token" or "access_token", got neither`);
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(scope, { value, until: Date.now() + Math.max(0, seconds - 10) * 1000 });
    return value;
  }

  /** One request, then its redirects when `r.follow` (Authorization kept only on the registry's origin, never https -> http). */
  private async follow(r: Req, auth: string | undefined): Promise<http.IncomingMessage> {
    let url = r.url;
    for (let hops = 0; ; hops++) {
      const headers: Record<string, string> = { ...r.headers };
      if (auth && url.origin === this.base.origin) headers.Authorization = auth;
      const res = await this.request({ ...r, url }, headers);
      const status = res.statusCode ?? 0;
      if (!r.follow || ![301, 302, 303, 307, 308].includes(status) || !res.headers.location) return res;
      res.resume();
      if (hops >= MAX_REDIRECTS) throw new RegistryError('redirects', { what: r.what, max: MAX_REDIRECTS }, `${r.what}: more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(res.headers.location, url);
      if (url.protocol === 'https:' && next.protocol !== 'https:') throw new RegistryError('redirectDowngrade', { what: r.what, url: shown(next) }, `${r.what}: the registry redirects from https to ${shown(next)}; expected https`);
      this.checkScheme(next);
      url = next;
    }
  }

  /** One HTTP exchange with the connect and idle timeouts; resolves with the response (its body unread). */
  private request(r: Req, headers: Record<string, string>): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const https_ = r.url.protocol === 'https:';
      const sameOrigin = r.url.origin === this.base.origin;
      const agent = sameOrigin ? this.agent : undefined;
      const opts: https.RequestOptions = { method: r.method, headers: { 'User-Agent': 'node-red-mlops', ...headers }, agent, ...(https_ && !sameOrigin && this.ca ? { ca: this.ca } : {}) };
      const req = (https_ ? https : http).request(r.url, opts);
      let failed: Error | undefined;
      const fail = (e: Error) => {
        if (failed) return;
        failed = e;
        req.destroy(e);
      };
      const connectTimer = setTimeout(() => fail(new RegistryError('connectTimeout', { host: r.url.host, ms: this.connectTimeoutMs }, `${r.what}: no connection to ${r.url.host} within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      req.on('socket', (s) => {
        if (!(s as unknown as { connecting: boolean }).connecting) return clearTimeout(connectTimer);
        s.once(https_ ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      req.setTimeout(this.idleTimeoutMs, () => fail(new RegistryError('stalled', { what: r.what, ms: this.idleTimeoutMs }, `${r.what}: ${r.url.host} sent nothing for ${this.idleTimeoutMs} ms`)));
      req.on('error', (e) => {
        clearTimeout(connectTimer);
        reject(failed ?? this.networkError(e, r));
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        failures.set(res, () => failed);
        resolve(res);
      });
      const body = r.body;
      if (body === undefined) req.end();
      else if (body instanceof Uint8Array) req.end(body);
      else {
        (async () => {
          for await (const chunk of body()) if (!req.write(chunk)) await new Promise<void>((ok, ko) => { req.once('drain', ok); req.once('close', () => ko(failed ?? new Error('closed'))); });
          req.end();
        })().catch((e) => fail(e instanceof Error ? e : new Error(String(e))));
      }
    });
  }

  private networkError(e: Error & { code?: string }, r: Req): RegistryError {
    const code = e.code ?? '';
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME/.test(code)) {
      return new RegistryError('tls', { host: r.url.host, reason: code }, `${r.what}: the TLS certificate of ${r.url.host} was refused (${code}: ${e.message}); if the registry uses a private CA, set the CA file option to that CA's PEM certificate`);
    }
    if (code === 'ECONNREFUSED') return new RegistryError('refused', { host: r.url.host }, `${r.what}: ${r.url.host} refused the connection (is the registry running at ${shown(this.base)}?)`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new RegistryError('noHost', { host: r.url.host }, `${r.what}: host ${r.url.hostname} not found (${code})`);
    return new RegistryError('network', { host: r.url.host, reason: `${code} ${e.message}`.trim() }, `${r.what}: the connection to ${r.url.host} failed (${code ? `${code}: ` : ''}${e.message})`);
  }

  /** Reads a whole (small) body, at most `max` bytes. */
  private async readAll(res: http.IncomingMessage, max: number, what: string): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const c of this.stream(res, what, undefined, max)) parts.push(c);
    return Buffer.concat(parts);
  }

  /** A response body as chunks: the idle timeout applies, a short or oversized body fails, and leaving early closes the connection. */
  private async *stream(res: http.IncomingMessage, what: string, size?: number, max?: number): AsyncGenerator<Uint8Array> {
    const failed = failures.get(res);
    let n = 0;
    let done = false;
    try {
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          n += chunk.length;
          if (size !== undefined && n > size) throw new RegistryError('blobSize', { what, expected: size, got: `more than ${size}` }, `${what}: expected ${size} bytes, the registry sent more`);
          if (max !== undefined && n > max) throw new RegistryError('tooLarge', { what, max }, `${what}: expected at most ${max} bytes, the registry sent more`);
          yield chunk;
        }
      } catch (e) {
        if (e instanceof RegistryError) throw e;
        const f = failed?.();
        if (f) throw f;
        throw new RegistryError('interrupted', { what, got: n }, `${what}: the connection ended after ${n}${size !== undefined ? ` of ${size}` : ''} bytes (${(e as Error).message})`);
      }
      if (size !== undefined && n !== size) throw new RegistryError('interrupted', { what, got: n }, `${what}: the connection ended after ${n} of ${size} bytes`);
      done = true;
    } finally {
      if (!done) res.destroy();
    }
  }

  /** An error for an unexpected answer: what was asked, the status, the registry's error code and message. */
  private async failure(res: http.IncomingMessage, what: string, notFound: string): Promise<RegistryError> {
    const status = res.statusCode ?? 0;
    let code = '';
    let message = '';
    try {
      const body = Buffer.from(await this.readAll(res, 64 * 1024, what)).toString('utf8');
      const e = (JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] })?.errors?.[0];
      code = typeof e?.code === 'string' ? e.code.slice(0, 60) : '';
      message = typeof e?.message === 'string' ? e.message.slice(0, 200) : '';
    } catch {
      res.destroy();
    }
    const answered = `the registry answered ${status}${code ? ` ${code}` : ''}${message ? ` (${message})` : ''}`;
    const params = { what, status, code };
    if (status === 401) {
      const c = parseChallenge(res.headers['www-authenticate'] as string | undefined);
      const asks = c ? ` It asks for ${c.scheme === 'bearer' ? 'a bearer token' : 'basic auth'}${c.params.realm ? ` (realm ${JSON.stringify(c.params.realm.slice(0, 120))})` : ''}.` : '';
      const creds = this.o.username !== undefined ? `the username and password given were refused` : `no credentials are configured`;
      return new RegistryError('unauthorized', params, `${what}: ${answered}: ${creds}.${asks}`);
    }
    if (status === 403) return new RegistryError('forbidden', params, `${what}: ${answered}: the credentials given may not do this`);
    if (status === 404 && notFound) return new RegistryError('notFound', params, `${notFound}: ${answered}`);
    return new RegistryError('http', params, `${what}: expected a success, ${answered}`);
  }
}

/** A blob's content checked not to run past (or short of) the size its descriptor gives, while it is sent. */
async function* bounded(chunks: AsyncIterable<Uint8Array>, size: number, what: string): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const c of chunks) {
    n += c.length;
    if (n > size) throw new RegistryError('blobSize', { what, expected: size, got: `more than ${size}` }, `${what}: the descriptor says ${size} bytes, the content has more`);
    yield c;
  }
  if (n !== size) throw new RegistryError('blobSize', { what, expected: size, got: n }, `${what}: the descriptor says ${size} bytes, the content has ${n}`);
}
