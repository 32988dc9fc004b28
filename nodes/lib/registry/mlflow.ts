/**
 * The MLflow Model Registry as a source of `registry pull` (issue 11, source 3), over MLflow's REST
 * API (mlflow/protos/model_registry.proto, mlflow_artifacts.proto):
 *
 *   by alias    GET /api/2.0/mlflow/registered-models/alias?name=&alias=   -> {model_version}
 *   by version  GET /api/2.0/mlflow/model-versions/get?name=&version=       -> {model_version}
 *   latest      GET /api/2.0/mlflow/model-versions/search?filter=name='x'   -> {model_versions, next_page_token}
 *               (the highest version number whose status is READY)
 *   download    GET /api/2.0/mlflow/model-versions/get-download-uri         -> {artifact_uri}
 *               GET /api/2.0/mlflow-artifacts/artifacts?path=<folder>        -> {files: [{path (a basename), is_dir, file_size}]}
 *               GET /api/2.0/mlflow-artifacts/artifacts/<folder>/<file>      -> the bytes
 *
 * Only artifacts the MLflow server proxies (`mlflow-artifacts:` URIs, `mlflow server
 * --serve-artifacts`, the default since MLflow 2.0) are downloaded: other stores (s3:, gs:,
 * wasbs:, file:) would need their own credentials and clients on the gateway. MLflow publishes
 * no digest of an artifact: its sha256 is computed while it streams into the store (putBlob
 * without an expected digest), and the version, run,
 * source and aliases it came from are reported with it. Credentials go in a header, never in an
 * error or a log line.
 */
import * as path from 'path';
import { CodedError } from '../node-red/errors';
import { HttpOptions, HttpResponse, httpGet, shownUrl } from './http';
import { ModelStore } from './store';

export class MlflowError extends CodedError {}

export interface MlflowOptions extends Omit<HttpOptions, 'headers' | 'maxRedirects'> {
  /** The tracking server, e.g. http://mlflow.plant.local:5000 (a path prefix is kept). */
  url: string;
  auth?: { username: string; password: string } | { token: string };
}

/** What to pull: `@alias`, a version number, or `latest` (the highest READY version). */
export type MlflowSelector = { alias: string } | { version: string } | { latest: true };

/** ModelVersion of model_registry.proto (the fields this package reads; version is a string, times ms). */
export interface MlflowModelVersion {
  name: string;
  version: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  user_id?: string;
  current_stage?: string;
  description?: string;
  source?: string;
  run_id?: string;
  status?: string;
  status_message?: string;
  tags?: { key: string; value: string }[];
  run_link?: string;
  aliases?: string[];
}

/** Where a pulled model came from, for msg.model.source / msg.registry. */
export interface MlflowOrigin {
  /** What was asked for: "bearing-fault@champion", "bearing-fault:7", "bearing-fault:latest". */
  reference: string;
  /** What it resolved to: "bearing-fault:2". */
  resolved: string;
  server: string;
  name: string;
  version: string;
  run_id?: string;
  source?: string;
  aliases: string[];
  creation_timestamp?: number;
  tags: Record<string, string>;
  /** The artifact downloaded (mlflow-artifacts: URI of the .onnx file). */
  artifact: string;
  /** How it was asked for: "@champion", "7", "latest". */
  selector: string;
}

/** "@champion" -> alias, "latest" -> latest, "7" -> version; anything else is refused, saying what is expected. */
export function parseSelector(s: string): MlflowSelector {
  const t = String(s ?? '').trim();
  if (t.startsWith('@') && /^@[\w-]+$/.test(t)) return { alias: t.slice(1) };
  if (t === 'latest') return { latest: true };
  if (/^[1-9]\d*$/.test(t)) return { version: t };
  throw new MlflowError('badSelector', { got: t.slice(0, 80) }, `expected an MLflow alias (@champion), a version number (7) or "latest", got ${JSON.stringify(t.slice(0, 80))}`);
}

export const selectorText = (s: MlflowSelector): string => ('alias' in s ? `@${s.alias}` : 'version' in s ? s.version : 'latest');

const API = '/api/2.0/mlflow';
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

export class MlflowClient {
  private readonly base: URL;
  private readonly headers: Record<string, string> = { accept: 'application/json' };

  constructor(private readonly o: MlflowOptions) {
    try {
      this.base = new URL(o.url);
    } catch {
      throw new MlflowError('badUrl', { url: String(o.url).slice(0, 200) }, `expected the MLflow tracking server's http:// or https:// URL, got ${JSON.stringify(String(o.url).slice(0, 200))}`);
    }
    if (!this.base.pathname.endsWith('/')) this.base.pathname += '/';
    if (o.auth && 'token' in o.auth) this.headers.authorization = `Bearer ${o.auth.token}`;
    else if (o.auth) this.headers.authorization = `Basic ${Buffer.from(`${o.auth.username}:${o.auth.password}`).toString('base64')}`;
  }

  /** The server as it may be shown (no credentials). */
  get server(): string {
    return shownUrl(this.base).replace(/\/$/, '');
  }

  private url(p: string, query: Record<string, string> = {}): URL {
    const u = new URL(p.replace(/^\//, ''), this.base);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  private async get(p: string, query: Record<string, string>, what: string, maxBytes?: number): Promise<HttpResponse> {
    const res = await httpGet(this.url(p, query), { timeoutMs: this.o.timeoutMs, caFile: this.o.caFile, maxBytes, maxRedirects: 3, headers: this.headers });
    if (res.status === 200) return res;
    throw await this.failure(res, what);
  }

  /** MLflow's answer to a failed call as an error that says what was expected and what MLflow said. */
  private async failure(res: HttpResponse, what: string): Promise<MlflowError> {
    const body = await res.text().catch(() => '');
    let code = '';
    let message = body.trim().slice(0, 300);
    try {
      const j = JSON.parse(body) as { error_code?: string; message?: string };
      if (j && typeof j === 'object') {
        code = String(j.error_code ?? '');
        message = String(j.message ?? message);
      }
    } catch {
      /* not JSON: the auth app and proxies answer text */
    }
    const said = `MLflow answered HTTP ${res.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
    const params = { what, status: res.status, code, message };
    if (res.status === 401) {
      const challenge = String(res.headers['www-authenticate'] ?? '');
      const asks = /^basic/i.test(challenge) ? 'MLflow asks for credentials (basic auth)' : challenge ? `MLflow asks for credentials (${challenge.split(' ')[0]})` : 'MLflow asks for credentials';
      return new MlflowError('unauthorized', params, `${what}: ${asks}: ${this.headers.authorization ? 'the username and password (or token) configured were not accepted' : 'none are configured'} (HTTP 401)`);
    }
    if (res.status === 403) return new MlflowError('forbidden', params, `${what}: the user configured has no permission to read it (expected READ permission on the model): ${said}`);
    if (res.status === 503 && /--serve-artifacts/.test(message)) return new MlflowError('artifactsNotServed', params, `${what}: the MLflow server does not serve artifacts: start it with --serve-artifacts (${said})`);
    return new MlflowError(code === 'RESOURCE_DOES_NOT_EXIST' ? 'notFound' : 'httpStatus', params, `${what}: expected HTTP 200, ${said}`);
  }

  private async json<T>(p: string, query: Record<string, string>, what: string): Promise<T> {
    const res = await this.get(p, query, what, 16 * 1024 * 1024);
    const text = await res.text();
    try {
      const j = JSON.parse(text) as T;
      if (j && typeof j === 'object') return j;
    } catch {
      /* below */
    }
    throw new MlflowError('badResponse', { what }, `${what}: expected a JSON object from MLflow, got ${JSON.stringify(text.slice(0, 80))}`);
  }

  private checkVersion(mv: unknown, what: string): MlflowModelVersion {
    const v = mv as MlflowModelVersion | undefined;
    if (!v || typeof v !== 'object' || typeof v.name !== 'string' || typeof v.version !== 'string') {
      throw new MlflowError('badResponse', { what }, `${what}: expected a model_version with a name and a version (a string) from MLflow, got ${JSON.stringify(mv)?.slice(0, 120)}`);
    }
    return v;
  }

  /** The model version a selector names; refused unless its status is READY. */
  async resolve(name: string, sel: MlflowSelector): Promise<MlflowModelVersion> {
    let mv: MlflowModelVersion;
    if ('alias' in sel) {
      const what = `model ${JSON.stringify(name)} @${sel.alias}`;
      try {
        mv = this.checkVersion((await this.json<{ model_version?: unknown }>(`${API}/registered-models/alias`, { name, alias: sel.alias }, what)).model_version, what);
      } catch (e) {
        // MLflow: HTTP 400 INVALID_PARAMETER_VALUE "Registered model alias X not found."
        const p = (e as MlflowError).params;
        if (e instanceof MlflowError && p?.status === 400 && p.code === 'INVALID_PARAMETER_VALUE' && /alias .* not found/i.test(String(p.message))) {
          throw new MlflowError('aliasNotFound', { name, alias: sel.alias }, `no alias @${sel.alias} on model ${JSON.stringify(name)}: MLflow answered HTTP 400 INVALID_PARAMETER_VALUE: ${p.message}`);
        }
        if (e instanceof MlflowError && e.code === 'notFound') throw new MlflowError('modelNotFound', { name }, `no model ${JSON.stringify(name)} in the MLflow registry at ${this.server}: ${e.message}`);
        throw e;
      }
    } else if ('version' in sel) {
      if (!/^[1-9]\d*$/.test(sel.version)) throw new MlflowError('badSelector', { got: sel.version }, `expected an MLflow version number (1, 2, ...), got ${JSON.stringify(sel.version)}`);
      const what = `model ${JSON.stringify(name)} version ${sel.version}`;
      try {
        mv = this.checkVersion((await this.json<{ model_version?: unknown }>(`${API}/model-versions/get`, { name, version: sel.version }, what)).model_version, what);
      } catch (e) {
        if (e instanceof MlflowError && e.code === 'notFound') throw new MlflowError('versionNotFound', { name, version: sel.version }, `no version ${sel.version} of model ${JSON.stringify(name)}: ${e.message}`);
        throw e;
      }
    } else {
      mv = await this.latest(name);
    }
    if (mv.status !== undefined && mv.status !== 'READY') {
      throw new MlflowError('notReady', { name, version: mv.version, status: mv.status }, `model ${JSON.stringify(name)} version ${mv.version}: expected status READY, MLflow says ${mv.status}${mv.status_message ? ` (${mv.status_message})` : ''}`);
    }
    return mv;
  }

  /** The highest READY version of a model (model-versions/search, every page). */
  private async latest(name: string): Promise<MlflowModelVersion> {
    if (name.includes("'") && name.includes('"')) throw new MlflowError('badName', { name }, `a model name with both ' and " cannot be searched for: ${JSON.stringify(name)}`);
    const filter = name.includes("'") ? `name="${name}"` : `name='${name}'`;
    const what = `the latest version of model ${JSON.stringify(name)}`;
    let best: MlflowModelVersion | undefined;
    let seen = 0;
    let token: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const r = await this.json<{ model_versions?: unknown[]; next_page_token?: string }>(`${API}/model-versions/search`, { filter, max_results: '1000', ...(token ? { page_token: token } : {}) }, what);
      for (const x of r.model_versions ?? []) {
        const v = this.checkVersion(x, what);
        if (v.name !== name) continue;
        seen++;
        if ((v.status ?? 'READY') === 'READY' && /^\d+$/.test(v.version) && (!best || Number(v.version) > Number(best.version))) best = v;
      }
      token = r.next_page_token;
      if (!token) break;
    }
    if (!best) throw new MlflowError(seen ? 'noneReady' : 'modelNotFound', { name }, seen ? `${what}: expected a version with status READY, none of its ${seen} versions is` : `${what}: expected model ${JSON.stringify(name)} to have a version, MLflow lists none`);
    return best;
  }

  /** The .onnx file of a version: its mlflow-artifacts path (a file, or the one .onnx in the folder) and size. */
  async onnxArtifact(mv: MlflowModelVersion): Promise<{ path: string; uri: string; size?: number }> {
    const what = `model ${JSON.stringify(mv.name)} version ${mv.version}`;
    const r = await this.json<{ artifact_uri?: string }>(`${API}/model-versions/get-download-uri`, { name: mv.name, version: mv.version }, `${what}: its download URI`);
    const uri = String(r.artifact_uri ?? '');
    const folder = artifactPath(uri, what);
    if (/\.onnx$/i.test(folder)) return { path: folder, uri };
    const list = await this.json<{ files?: { path?: string; is_dir?: boolean; file_size?: number }[] }>(ARTIFACTS, { path: folder }, `${what}: its artifacts at ${uri}`);
    // MLflow lists basenames (handlers.py _list_artifacts_mlflow_artifacts); an empty list is `{}`
    const onnx = (list.files ?? []).filter((f) => !f.is_dir && typeof f.path === 'string' && /\.onnx$/i.test(f.path));
    const names = (list.files ?? []).map((f) => f.path).join(', ') || 'nothing';
    if (onnx.length !== 1) {
      throw new MlflowError(onnx.length ? 'severalOnnx' : 'noOnnx', { name: mv.name, version: mv.version, files: names }, `${what}: expected exactly one .onnx file in its artifacts (${uri}), found ${onnx.length ? onnx.length + ': ' + onnx.map((f) => f.path).join(', ') : 'none among: ' + names}`);
    }
    const base = path.posix.basename(String(onnx[0].path));
    if (base !== onnx[0].path || base === '..' || base === '.') throw new MlflowError('badResponse', { what }, `${what}: expected a file name in MLflow's artifact list, got ${JSON.stringify(onnx[0].path)}`);
    return { path: `${folder}/${base}`, uri: `${uri.replace(/\/$/, '')}/${base}`, size: typeof onnx[0].file_size === 'number' ? onnx[0].file_size : undefined };
  }

  /** An artifact's bytes, streamed (MLflow's artifact proxy). */
  async download(artifactPath: string, maxBytes?: number): Promise<{ body: AsyncIterable<Uint8Array>; size?: number }> {
    const p = artifactPath.split('/').map(encodeURIComponent).join('/');
    const res = await this.get(`${ARTIFACTS}/${p}`, {}, `the artifact ${artifactPath}`, maxBytes);
    return { body: res.body, size: res.size };
  }

  /**
   * Resolves the selector, downloads the version's .onnx file into the store (its sha256 computed
   * while it streams; MLflow publishes none) and says where it came from. Does not add a version
   * to the store's index: the caller does, for a version not seen before.
   */
  async pull(name: string, sel: MlflowSelector, store: ModelStore): Promise<{ digest: string; size: number; path: string; origin: MlflowOrigin; timings: Record<string, number> }> {
    const t0 = Date.now();
    const mv = await this.resolve(name, sel);
    const art = await this.onnxArtifact(mv);
    const t1 = Date.now();
    const dl = await this.download(art.path, store.maxBytes);
    // no digest to expect: the store hashes the file as it streams in and names it by that
    const stored = await store.putBlob(dl.body, { size: art.size ?? dl.size });
    const t2 = Date.now();
    return {
      ...stored,
      timings: { resolve: t1 - t0, download: t2 - t1, total: t2 - t0 },
      origin: {
        reference: `${name}${'alias' in sel ? '@' + sel.alias : ':' + selectorText(sel)}`,
        resolved: `${mv.name}:${mv.version}`,
        server: this.server,
        name: mv.name,
        version: mv.version,
        run_id: mv.run_id,
        source: mv.source,
        aliases: mv.aliases ?? [],
        creation_timestamp: mv.creation_timestamp,
        tags: Object.fromEntries((mv.tags ?? []).map((t) => [String(t.key), String(t.value)])),
        artifact: art.uri,
        selector: selectorText(sel),
      },
    };
  }
}

/**
 * The path on MLflow's artifact proxy of an `mlflow-artifacts:` URI; other schemes are refused,
 * saying what to do. `mlflow-artifacts:/1/abc/artifacts/model` and
 * `mlflow-artifacts://host:5000/1/abc/artifacts/model` both give `1/abc/artifacts/model`.
 */
export function artifactPath(uri: string, what = 'the artifact'): string {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(uri);
  if (!m || m[1].toLowerCase() !== 'mlflow-artifacts') {
    throw new MlflowError('artifactScheme', { uri: uri.slice(0, 200), scheme: m?.[1] ?? '' }, `${what}: artifacts at ${m ? m[1] + ':' : JSON.stringify(uri.slice(0, 80))} URIs are not supported: serve artifacts through the MLflow server (mlflow server --serve-artifacts), so that they are mlflow-artifacts: URIs`);
  }
  let p = uri.slice(m[0].length);
  if (p.startsWith('//')) p = p.slice(2).replace(/^[^/]*/, '');
  p = decodeURIComponent(p.split(/[?#]/)[0]).replace(/^\/+/, '').replace(/\/+$/, '');
  if (!p || p.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    throw new MlflowError('badResponse', { what }, `${what}: expected an artifact path without "." or ".." parts, got ${JSON.stringify(uri.slice(0, 200))}`);
  }
  return p;
}
