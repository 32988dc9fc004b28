/**
 * A fake MLflow tracking server for the MLflow source of registry pull (nodes/lib/registry/mlflow.ts).
 * No MLflow server can be installed here (no PyPI), so this answers the calls the client makes the
 * way MLflow's server does, from MLflow's sources (mlflow/mlflow, commit 05e6cc9b, read through the
 * code index):
 *
 * - mlflow/protos/model_registry.proto: the paths and response shapes of
 *     GET /api/2.0/mlflow/registered-models/alias?name=&alias=  -> {"model_version": ModelVersion}
 *     GET /api/2.0/mlflow/model-versions/get?name=&version=      -> {"model_version": ModelVersion}
 *     GET /api/2.0/mlflow/model-versions/search?filter=&max_results=&page_token=
 *                                                                -> {"model_versions": [...], "next_page_token": "..."}
 *     GET /api/2.0/mlflow/model-versions/get-download-uri?name=&version= -> {"artifact_uri": "..."}
 *   ModelVersion: name, version (a STRING), creation_timestamp and last_updated_timestamp (int64 ms,
 *   written as JSON numbers by mlflow/utils/proto_json_utils.py message_to_json), user_id,
 *   current_stage, description, source, run_id, status (READY, PENDING_REGISTRATION,
 *   FAILED_REGISTRATION), status_message, tags [{key, value}], run_link, aliases [string].
 *   Fields never set are left out, and so is an empty repeated field (protobuf JSON): a search with
 *   no match is `{}`.
 * - mlflow/protos/mlflow_artifacts.proto and mlflow/server/handlers.py:
 *     GET /api/2.0/mlflow-artifacts/artifacts?path=<folder>  -> {"files": [{"path", "is_dir", "file_size"}]}
 *       where path is the BASENAME (_list_artifacts_mlflow_artifacts), file_size absent for folders,
 *       and an empty or missing folder is `{}`;
 *     GET /api/2.0/mlflow-artifacts/artifacts/<path>          -> the file (send_file, as an attachment);
 *     without --serve-artifacts both answer 503 with the text of _disable_unless_serve_artifacts.
 * - Errors (handlers.py catch_mlflow_exception, mlflow/exceptions.py serialize_as_json and its
 *   ErrorCode -> HTTP status map): JSON {"error_code": "...", "message": "..."}:
 *     a missing alias: 400 INVALID_PARAMETER_VALUE "Registered model alias X not found."
 *       (store/model_registry/file_store.py and the SQL store's get_model_version_by_alias);
 *     a missing version: 404 RESOURCE_DOES_NOT_EXIST "Model Version (name=X, version=N) not found";
 *     a missing model: 404 RESOURCE_DOES_NOT_EXIST "Registered Model with name=X not found".
 * - Basic auth as `mlflow server --app-name basic-auth` answers (mlflow/server/auth/__init__.py):
 *   no or wrong credentials -> 401, WWW-Authenticate: Basic realm="mlflow" and a text body
 *   (make_basic_auth_response); a user without READ permission -> 403 "Permission denied"
 *   (make_forbidden_response).
 * - Bearer tokens are not MLflow's auth app but what a reverse proxy in front of MLflow (or a
 *   managed MLflow) checks, and what MLflow's own client sends for MLFLOW_TRACKING_TOKEN; the fake
 *   answers a wrong token with a bare 401 as such a proxy would.
 * Unknown paths answer 404 as Flask does. The fake keeps every request (path, Authorization) so a
 * test can see what the client sent.
 */
import * as http from 'http';
import { AddressInfo } from 'net';

export interface FakeVersionInput {
  version?: string;
  status?: 'READY' | 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION';
  status_message?: string;
  run_id?: string;
  tags?: Record<string, string>;
  /** Files of the version's artifact folder, by name (e.g. MLmodel, model.onnx). */
  files?: Record<string, Uint8Array | string>;
  /** The artifact URI get-download-uri answers (default mlflow-artifacts:/1/<run_id>/artifacts/model). */
  artifactUri?: string;
  creation_timestamp?: number;
}

interface Stored {
  mv: Record<string, unknown> & { name: string; version: string };
  artifactUri: string;
}

export class MlflowFake {
  readonly requests: { method: string; url: string; authorization?: string }[] = [];
  /** Artifact store: path (relative to the artifact root) -> bytes. */
  readonly artifacts = new Map<string, Uint8Array>();
  private readonly models = new Map<string, { aliases: Map<string, string>; versions: Stored[]; created: number }>();
  /** Page size of model-versions/search (MLflow pages; small here so the client's paging is exercised). */
  searchPageSize = 2;
  serveArtifacts = true;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly auth: { users?: Record<string, string>; noRead?: string[]; token?: string },
  ) {}

  /** Starts on 127.0.0.1 on a free port. `users` turns on basic auth, `token` bearer auth. */
  static async start(auth: { users?: Record<string, string>; noRead?: string[]; token?: string } = {}): Promise<MlflowFake> {
    let fake: MlflowFake | undefined;
    const server = http.createServer((req, res) => fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new MlflowFake(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, auth);
    return fake;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Registers a version (the next number unless given) with its artifact files; returns its ModelVersion JSON. */
  addVersion(name: string, v: FakeVersionInput = {}): Record<string, unknown> {
    let m = this.models.get(name);
    if (!m) this.models.set(name, (m = { aliases: new Map(), versions: [], created: Date.now() }));
    const version = v.version ?? String(m.versions.length + 1);
    const run_id = v.run_id ?? `${name.replace(/\W/g, '')}run${version}`.padEnd(32, '0').slice(0, 32);
    const folder = `1/${run_id}/artifacts/model`;
    const artifactUri = v.artifactUri ?? `mlflow-artifacts:/${folder}`;
    for (const [f, b] of Object.entries(v.files ?? {})) this.artifacts.set(`${folder}/${f}`, typeof b === 'string' ? Buffer.from(b) : b);
    const t = v.creation_timestamp ?? 1764950400000 + Number(version) * 1000;
    const mv: Stored['mv'] = {
      name,
      version,
      creation_timestamp: t,
      last_updated_timestamp: t,
      user_id: '',
      current_stage: 'None',
      description: '',
      source: `mlflow-artifacts:/${folder}`,
      run_id,
      status: v.status ?? 'READY',
      ...(v.status_message ? { status_message: v.status_message } : {}),
      ...(v.tags ? { tags: Object.entries(v.tags).map(([key, value]) => ({ key, value })) } : {}),
      run_link: '',
    };
    m.versions.push({ mv, artifactUri });
    return this.view(name, mv);
  }

  setAlias(name: string, alias: string, version: string): void {
    this.models.get(name)!.aliases.set(alias, version);
  }

  /** A ModelVersion as MLflow returns it: with its aliases, and no empty repeated field. */
  private view(name: string, mv: Stored['mv']): Record<string, unknown> {
    const aliases = [...(this.models.get(name)?.aliases ?? [])].filter(([, v]) => v === mv.version).map(([a]) => a);
    return { ...mv, ...(aliases.length ? { aliases } : {}) };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, error_code: string, message: string) => json(status, { error_code, message });
    if (!this.authorized(req, res)) return;
    const q = (k: string) => u.searchParams.get(k) ?? '';
    const model = (name: string) => this.models.get(name);
    const version = (name: string, v: string) => model(name)?.versions.find((x) => x.mv.version === v);
    const notFoundModel = (name: string) => error(404, 'RESOURCE_DOES_NOT_EXIST', `Registered Model with name=${name} not found`);
    const notFoundVersion = (name: string, v: string) => error(404, 'RESOURCE_DOES_NOT_EXIST', `Model Version (name=${name}, version=${v}) not found`);
    if (req.method !== 'GET') return void res.writeHead(405).end();
    switch (u.pathname) {
      case '/api/2.0/mlflow/registered-models/alias': {
        const m = model(q('name'));
        if (!m) return notFoundModel(q('name'));
        const v = m.aliases.get(q('alias'));
        if (v === undefined) return error(400, 'INVALID_PARAMETER_VALUE', `Registered model alias ${q('alias')} not found.`);
        return json(200, { model_version: this.view(q('name'), version(q('name'), v)!.mv) });
      }
      case '/api/2.0/mlflow/model-versions/get': {
        const s = version(q('name'), q('version'));
        if (!s) return notFoundVersion(q('name'), q('version'));
        return json(200, { model_version: this.view(q('name'), s.mv) });
      }
      case '/api/2.0/mlflow/model-versions/get-download-uri': {
        const s = version(q('name'), q('version'));
        if (!s) return notFoundVersion(q('name'), q('version'));
        return json(200, { artifact_uri: s.artifactUri });
      }
      case '/api/2.0/mlflow/model-versions/search': {
        const f = /^name\s*=\s*(['"])(.*)\1$/.exec(q('filter'));
        if (!f) return error(400, 'INVALID_PARAMETER_VALUE', `Invalid filter '${q('filter')}'`);
        const all = (model(f[2])?.versions ?? []).map((s) => this.view(f[2], s.mv));
        const start = Number(q('page_token') || '0');
        const size = Math.min(this.searchPageSize, Number(q('max_results') || '10000'));
        const page = all.slice(start, start + size);
        return json(200, { ...(page.length ? { model_versions: page } : {}), ...(start + size < all.length ? { next_page_token: String(start + size) } : {}) });
      }
      case '/api/2.0/mlflow-artifacts/artifacts': {
        if (!this.serveArtifacts) return this.notServing(res, '/api/2.0/mlflow-artifacts/artifacts');
        const dir = q('path').replace(/\/+$/, '');
        const files = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
        for (const [p, b] of this.artifacts) {
          if (!p.startsWith(`${dir}/`)) continue;
          const rest = p.slice(dir.length + 1).split('/');
          files.set(rest[0], rest.length > 1 ? { path: rest[0], is_dir: true } : { path: rest[0], is_dir: false, file_size: b.length });
        }
        return json(200, files.size ? { files: [...files.values()] } : {});
      }
    }
    if (u.pathname.startsWith('/api/2.0/mlflow-artifacts/artifacts/')) {
      if (!this.serveArtifacts) return this.notServing(res, '/api/2.0/mlflow-artifacts/artifacts/<path:artifact_path>');
      const p = decodeURIComponent(u.pathname.slice('/api/2.0/mlflow-artifacts/artifacts/'.length));
      const b = this.artifacts.get(p);
      if (!b) return error(404, 'RESOURCE_DOES_NOT_EXIST', `File ${p} not found`);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length, 'content-disposition': `attachment; filename=${p.split('/').pop()}` });
      // in two writes, so the client really streams
      res.write(b.subarray(0, b.length >> 1));
      setTimeout(() => res.end(b.subarray(b.length >> 1)), 5);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n');
  }

  private notServing(res: http.ServerResponse, rule: string): void {
    res.writeHead(503, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`Endpoint: ${rule} disabled due to the mlflow server running with \`--no-serve-artifacts\`. To enable artifacts server functionality, run \`mlflow server\` with \`--serve-artifacts\``);
  }

  /** Basic auth as mlflow's basic-auth app, or a bearer token as a proxy; true when the request may go on. */
  private authorized(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const h = req.headers.authorization ?? '';
    if (this.auth.users) {
      const m = /^Basic (.+)$/i.exec(h);
      const [user, ...pw] = m ? Buffer.from(m[1], 'base64').toString('utf8').split(':') : [];
      if (!m || this.auth.users[user] === undefined || this.auth.users[user] !== pw.join(':')) {
        res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'www-authenticate': 'Basic realm="mlflow"' });
        res.end('You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.');
        return false;
      }
      if (this.auth.noRead?.includes(user)) {
        res.writeHead(403, { 'content-type': 'text/html; charset=utf-8' });
        res.end('Permission denied');
        return false;
      }
    }
    if (this.auth.token !== undefined && h !== `Bearer ${this.auth.token}`) {
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('Unauthorized');
      return false;
    }
    return true;
  }
}
