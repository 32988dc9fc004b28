/**
 * Fakes of the four training pipelines `retrain trigger` can start (nodes/lib/retrain/webhook.ts),
 * on one local HTTP server (127.0.0.1, a free port). No GitHub, Jenkins, Kubeflow or Argo server
 * can run here, so each answers its one call the way the documented API does
 * (../shared/notes/q5-triggers.md and the sources named there):
 *
 * - GitHub REST, create a workflow dispatch event, under /api/v3 (a GitHub Enterprise Server API
 *   root): POST /repos/{owner}/{repo}/actions/workflows/{file.yml or id}/dispatches. Bearer (or
 *   "token") auth: none -> 401 "Requires authentication", a wrong one -> 401 "Bad credentials"; an
 *   X-GitHub-Api-Version the fake does not know (it knows 2022-11-28) -> 400; a repository or workflow it does
 *   not know -> 404 "Not Found"; a body that is not JSON -> 400 "Problems parsing JSON". The body is
 *   checked as GitHub's schema validator words it (422 "Invalid request.\n\n..."): ref required,
 *   inputs an object of at most 10 strings, no other keys than ref, inputs and return_run_details;
 *   then a ref the repository lacks -> 422 "No ref found for: X", an input the workflow does not
 *   declare -> 422 'Unexpected inputs provided: ["x"]'. Success: 200 {workflow_run_id, run_url,
 *   html_url} when return_run_details is true (github.blog changelog 2026-02-19), else 204; a server
 *   set as `legacy` answers 204 always. Error bodies carry message, documentation_url and status.
 * - Jenkins, under /jenkins (a Jenkins behind a path prefix): POST
 *   /job/<a>/job/<b>/buildWithParameters with form parameters (or query ones). Basic user:API
 *   token (no crumb needed with an API token); a wrong one -> 401 with Jetty's HTML error page
 *   "Invalid password/token for user: X"; no user and no valid remote trigger token -> 403 "No valid
 *   crumb was included in the request" (an anonymous POST); an unknown job -> 404 HTML. Success: 201
 *   Created, empty body, Location: <root>/queue/item/<n>/ (Jenkins 1.519+, JENKINS-23235).
 * - Kubeflow Pipelines v2beta1, under /pipeline (Kubeflow's path for KFP): POST /apis/v2beta1/runs
 *   with a Run (backend/api/v2beta1/run.proto). Bearer token when one is set (else 401). No
 *   display_name -> 400 with the API server's text (BaseRunServer.createRun: "Failed to create a run
 *   due to invalid name: ... The run name is empty. Please specify a valid name"); an unknown
 *   pipeline_id -> 404; errors in grpc-gateway's shape {error, code, message, details}. Success: the
 *   Run as stored: run_id (a UUID), the request's fields, experiment_id (the default experiment when
 *   none was given), pipeline_version_id (the pipeline's latest when none was given), created_at,
 *   scheduled_at, state PENDING and its state_history, service_account pipeline-runner.
 * - Argo Workflows server, under /argo: POST /api/v1/workflows/{namespace}/submit
 *   (pkg/apiclient/workflow/workflow.proto, WorkflowSubmitRequest). Bearer token when one is set
 *   (else 401 {code 16, message}); resourceKind must be WorkflowTemplate (or its short forms) and the
 *   template known in that namespace (else 404 'workflowtemplates.argoproj.io "x" not found');
 *   parameters NAME=VALUE. Success: the Workflow: metadata.name = generateName + 5 characters,
 *   namespace, uid, labels, creationTimestamp; spec.workflowTemplateRef and spec.arguments.parameters.
 * - A generic webhook under /hook (no documented API: answers 201 {id, status, url}).
 * With `tls` the server speaks https (a test's self-signed certificate), for the CA file.
 *
 * Switches for the unhappy paths: failNext(n, status, {retryAfter}) makes the next n requests answer
 * that status (500, 503, 429 ...), hangNext(n) makes them never answer (a timeout). Every request is
 * logged (method, path, headers, raw body, parsed JSON or form) so a test sees what the client sent.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import * as https from 'https';
import { AddressInfo } from 'net';

export interface ReceivedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json?: unknown;
  form?: Record<string, string>;
  /** What the fake answered (status), or 'hang'. */
  answered?: number | 'hang';
}

export interface PipelineFakeOptions {
  github?: { token?: string; owner?: string; repo?: string; workflow?: string; workflowId?: number; refs?: string[]; inputs?: string[]; legacy?: boolean };
  jenkins?: { user?: string; apiToken?: string; jobs?: string[]; triggerToken?: string };
  kubeflow?: { token?: string; pipelines?: Record<string, string[]>; defaultExperiment?: string };
  argo?: { token?: string; namespace?: string; templates?: string[] };
  generic?: { token?: string };
  /** Serve https with this certificate and key (PEM) instead of http. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/** The inputs a retrain workflow declares (the parameters webhook.ts sends). */
export const RETRAIN_INPUTS = ['reason', 'requested_at', 'dataset_uri', 'dataset_sha256', 'dataset_rows', 'model_name', 'model_version', 'model_digest', 'drift'];

const DOCS = 'https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event';

export class PipelineFakes {
  readonly requests: ReceivedRequest[] = [];
  private failures: { status: number; retryAfter?: string; body?: string }[] = [];
  private hangs = 0;
  private readonly hung = new Set<http.ServerResponse>();
  private queueItem = 41;
  private runNumber = 7700;
  /** The fake's settings, defaults filled in. */
  readonly o: { [K in Exclude<keyof PipelineFakeOptions, 'tls'>]-?: Required<NonNullable<PipelineFakeOptions[K]>> };

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    o: PipelineFakeOptions,
  ) {
    this.o = {
      github: { token: 'ghp_fake0123456789', owner: 'plant-7', repo: 'bearing-models', workflow: 'retrain.yml', workflowId: 161335, refs: ['main'], inputs: RETRAIN_INPUTS, legacy: false, ...o.github },
      jenkins: { user: 'mlops', apiToken: '11aa22bb33cc44dd55ee66ff77889900', jobs: ['ml/retrain-bearing'], triggerToken: 'trigger-secret-7', ...o.jenkins },
      kubeflow: { token: '', pipelines: { 'b1d0c8a4-1f6e-4c35-9d0e-5a1f2b3c4d5e': ['6f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0'] }, defaultExperiment: '0f9e8d7c-6b5a-4c3d-8e1f-2a3b4c5d6e7f', ...o.kubeflow },
      argo: { token: '', namespace: 'ml', templates: ['retrain-bearing'], ...o.argo },
      generic: { token: '', ...o.generic },
    };
  }

  /** Starts on 127.0.0.1 on a free port (https when `tls` is given). */
  static async start(o: PipelineFakeOptions = {}): Promise<PipelineFakes> {
    let fake: PipelineFakes | undefined;
    const handler: http.RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => fake!.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    };
    const server = o.tls ? https.createServer(o.tls, handler) : http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new PipelineFakes(server, `${o.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`, o);
    return fake;
  }

  /** The API roots, as a user would configure them. */
  get github() {
    return `${this.url}/api/v3`;
  }
  get jenkins() {
    return `${this.url}/jenkins`;
  }
  get kubeflow() {
    return `${this.url}/pipeline`;
  }
  get argo() {
    return `${this.url}/argo`;
  }
  get generic() {
    return `${this.url}/hook`;
  }

  /** The next n requests answer `status` (with Retry-After when given), whatever they ask. */
  failNext(n: number, status: number, o: { retryAfter?: string; body?: string } = {}): void {
    for (let i = 0; i < n; i++) this.failures.push({ status, ...o });
  }

  /** The next n requests get no answer at all (the client's timeout has to end them). */
  hangNext(n: number): void {
    this.hangs += n;
  }

  close(): Promise<void> {
    for (const r of this.hung) r.destroy();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const u = new URL(req.url ?? '/', 'http://x');
    const rec: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    const type = String(req.headers['content-type'] ?? '');
    if (/json/.test(type)) {
      try {
        rec.json = JSON.parse(body);
      } catch {
        rec.json = undefined;
      }
    }
    if (/x-www-form-urlencoded/.test(type)) rec.form = Object.fromEntries(new URLSearchParams(body));
    this.requests.push(rec);
    const answer = (status: number, headers: http.OutgoingHttpHeaders, text: string) => {
      rec.answered = status;
      res.writeHead(status, { 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    const json = (status: number, b: unknown, headers: http.OutgoingHttpHeaders = {}) => answer(status, { 'content-type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(b));

    if (this.hangs > 0) {
      this.hangs--;
      rec.answered = 'hang';
      this.hung.add(res);
      return;
    }
    const f = this.failures.shift();
    if (f) {
      const text = f.body ?? (f.status === 429 ? '{"message":"Too many requests"}' : `<html><head><title>${f.status} ${http.STATUS_CODES[f.status]}</title></head><body><h1>${f.status} ${http.STATUS_CODES[f.status]}</h1></body></html>`);
      return answer(f.status, { 'content-type': f.status === 429 ? 'application/json' : 'text/html', ...(f.retryAfter !== undefined ? { 'retry-after': f.retryAfter } : {}) }, text);
    }
    const p = u.pathname;
    if (p.startsWith('/api/v3/')) return this.github_(req, p.slice('/api/v3'.length), rec, json, answer);
    if (p.startsWith('/jenkins/')) return this.jenkins_(req, u, rec, answer);
    if (p.startsWith('/pipeline/')) return this.kubeflow_(req, p.slice('/pipeline'.length), rec, json);
    if (p.startsWith('/argo/')) return this.argo_(req, p.slice('/argo'.length), rec, json);
    if (p === '/hook') {
      if (this.o.generic.token && req.headers.authorization !== `Bearer ${this.o.generic.token}`) return json(401, { error: 'unauthorized' });
      const id = `gen-${++this.runNumber}`;
      return json(201, { id, status: 'queued', url: `${this.url}/runs/${id}` });
    }
    answer(404, { 'content-type': 'text/plain' }, 'Not Found');
  }

  private github_(req: http.IncomingMessage, p: string, rec: ReceivedRequest, json: (s: number, b: unknown, h?: http.OutgoingHttpHeaders) => void, answer: (s: number, h: http.OutgoingHttpHeaders, t: string) => void): void {
    const g = this.o.github;
    const error = (status: number, message: string, documentation_url = DOCS) => json(status, { message, documentation_url, status: String(status) });
    const auth = req.headers.authorization;
    if (!auth) return error(401, 'Requires authentication', 'https://docs.github.com/rest');
    if (auth !== `Bearer ${g.token}` && auth !== `token ${g.token}`) return error(401, 'Bad credentials', 'https://docs.github.com/rest');
    const version = req.headers['x-github-api-version'];
    if (version !== undefined && version !== '2022-11-28') return error(400, `API version ${version} is not supported.`, 'https://docs.github.com/rest/about-the-rest-api/api-versions');
    const m = /^\/repos\/([^/]+)\/([^/]+)\/actions\/workflows\/([^/]+)\/dispatches$/.exec(p);
    const wf = m && decodeURIComponent(m[3]);
    if (!m || req.method !== 'POST' || m[1] !== g.owner || m[2] !== g.repo || (wf !== g.workflow && wf !== String(g.workflowId))) return error(404, 'Not Found');
    let b: Record<string, unknown>;
    try {
      b = JSON.parse(rec.body);
    } catch {
      return error(400, 'Problems parsing JSON');
    }
    if (!b || typeof b !== 'object' || Array.isArray(b)) return error(422, `Invalid request.\n\nFor 'links/0/schema', ${JSON.stringify(b)} is not an object.`);
    const problems: string[] = [];
    const extra = Object.keys(b).filter((k) => !['ref', 'inputs', 'return_run_details'].includes(k));
    if (extra.length) problems.push(`${extra.map((k) => JSON.stringify(k)).join(', ')} ${extra.length === 1 ? 'is not a permitted key' : 'are not permitted keys'}.`);
    if (b.ref === undefined) problems.push('"ref" wasn\'t supplied.');
    else if (typeof b.ref !== 'string') problems.push(`For 'properties/ref', ${JSON.stringify(b.ref)} is not a string.`);
    const inputs = (b.inputs ?? {}) as Record<string, unknown>;
    if (typeof inputs !== 'object' || Array.isArray(inputs)) problems.push(`For 'properties/inputs', ${JSON.stringify(b.inputs)} is not an object.`);
    else {
      const keys = Object.keys(inputs);
      if (keys.length > 10) problems.push(`No more than 10 properties are allowed; ${keys.length} were supplied.`);
      for (const k of keys) if (typeof inputs[k] !== 'string') problems.push(`For 'properties/${k}', ${JSON.stringify(inputs[k])} is not a string.`);
    }
    if (b.return_run_details !== undefined && typeof b.return_run_details !== 'boolean') problems.push(`For 'properties/return_run_details', ${JSON.stringify(b.return_run_details)} is not a boolean.`);
    if (problems.length) return error(422, `Invalid request.\n\n${problems.join('\n')}`);
    const ref = String(b.ref).replace(/^refs\/(heads|tags)\//, '');
    if (!g.refs.includes(ref)) return error(422, `No ref found for: ${b.ref}`);
    const unexpected = Object.keys(inputs).filter((k) => !g.inputs.includes(k));
    if (unexpected.length) return error(422, `Unexpected inputs provided: ${JSON.stringify(unexpected)}`);
    if (b.return_run_details !== true || g.legacy) return answer(204, {}, '');
    const id = ++this.runNumber + 21_000_000_000;
    json(200, { workflow_run_id: id, run_url: `${this.github}/repos/${g.owner}/${g.repo}/actions/runs/${id}`, html_url: `${this.url}/${g.owner}/${g.repo}/actions/runs/${id}` });
  }

  private jenkins_(req: http.IncomingMessage, u: URL, rec: ReceivedRequest, answer: (s: number, h: http.OutgoingHttpHeaders, t: string) => void): void {
    const j = this.o.jenkins;
    const page = (status: number, message: string) =>
      answer(status, { 'content-type': 'text/html;charset=iso-8859-1', 'cache-control': 'must-revalidate,no-cache,no-store' }, `<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>\n<title>Error ${status} ${message}</title>\n</head>\n<body><h2>HTTP ERROR ${status} ${message}</h2>\n<table>\n<tr><th>URI:</th><td>${u.pathname}</td></tr>\n<tr><th>STATUS:</th><td>${status}</td></tr>\n<tr><th>MESSAGE:</th><td>${message}</td></tr>\n</table>\n</body>\n</html>\n`);
    const params = { ...Object.fromEntries(u.searchParams), ...(rec.form ?? {}) };
    const m = /^\/jenkins((?:\/job\/[^/]+)+)\/buildWithParameters\/?$/.exec(u.pathname);
    const auth = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (auth) {
      const [user, ...rest] = Buffer.from(auth[1], 'base64').toString('utf8').split(':');
      if (user !== j.user || rest.join(':') !== j.apiToken) return page(401, `Invalid password/token for user: ${user}`);
    }
    const job = m ? m[1].split('/job/').slice(1).map(decodeURIComponent).join('/') : undefined;
    if (!m || !j.jobs.includes(job!)) return page(404, 'Not Found');
    if (req.method !== 'POST') return page(405, 'Method Not Allowed');
    if (!auth && params.token !== j.triggerToken) return page(403, 'No valid crumb was included in the request');
    const n = ++this.queueItem;
    answer(201, { location: `${this.jenkins}/queue/item/${n}/`, 'content-type': 'text/plain; charset=UTF-8' }, '');
  }

  private kubeflow_(req: http.IncomingMessage, p: string, rec: ReceivedRequest, json: (s: number, b: unknown) => void): void {
    const k = this.o.kubeflow;
    const error = (status: number, code: number, message: string) => json(status, { error: message, code, message, details: [{ '@type': 'type.googleapis.com/google.rpc.Status', code, message }] });
    if (k.token && req.headers.authorization !== `Bearer ${k.token}`) return error(401, 16, 'Unauthenticated: Request header error: there is no user identity header.');
    if (p !== '/apis/v2beta1/runs' || req.method !== 'POST') return error(404, 5, 'Not Found');
    const run = rec.json as Record<string, unknown> | undefined;
    if (!run || typeof run !== 'object') return error(400, 3, 'invalid character in the request body');
    if (!run.display_name) return error(400, 3, 'Failed to create a run due to invalid name: Invalid input error: The run name is empty. Please specify a valid name');
    const ref = (run.pipeline_version_reference ?? {}) as { pipeline_id?: string; pipeline_version_id?: string };
    const versions = ref.pipeline_id ? k.pipelines[ref.pipeline_id] : undefined;
    if (!versions) return error(404, 5, `Failed to create a run: Failed to fetch a pipeline version: ResourceNotFoundError: Pipeline ${ref.pipeline_id ?? ''} not found`);
    const version = ref.pipeline_version_id ?? versions[versions.length - 1];
    if (!versions.includes(version)) return error(404, 5, `Failed to create a run: ResourceNotFoundError: PipelineVersion ${version} not found`);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    json(200, {
      experiment_id: run.experiment_id ?? k.defaultExperiment,
      run_id: randomUUID(),
      display_name: run.display_name,
      storage_state: 'AVAILABLE',
      ...(run.description ? { description: run.description } : {}),
      pipeline_version_reference: { pipeline_id: ref.pipeline_id, pipeline_version_id: version },
      runtime_config: run.runtime_config ?? {},
      service_account: 'pipeline-runner',
      created_at: now,
      scheduled_at: now,
      finished_at: '1970-01-01T00:00:00Z',
      state: 'PENDING',
      state_history: [{ update_time: now, state: 'PENDING' }],
    });
  }

  private argo_(req: http.IncomingMessage, p: string, rec: ReceivedRequest, json: (s: number, b: unknown) => void): void {
    const a = this.o.argo;
    const error = (status: number, code: number, message: string) => json(status, { code, message });
    if (a.token && req.headers.authorization !== `Bearer ${a.token}`) return error(401, 16, 'token not valid. see https://argo-workflows.readthedocs.io/en/latest/faq/');
    const m = /^\/api\/v1\/workflows\/([^/]+)\/submit$/.exec(p);
    if (!m || req.method !== 'POST') return error(404, 5, 'Not Found');
    const ns = decodeURIComponent(m[1]);
    const b = rec.json as { resourceKind?: string; resourceName?: string; submitOptions?: { parameters?: string[]; generateName?: string; labels?: string } } | undefined;
    if (!b || typeof b !== 'object') return error(400, 3, 'unexpected end of JSON input');
    if (!['WorkflowTemplate', 'workflowtemplate', 'wftmpl'].includes(b.resourceKind ?? '')) return error(400, 3, `resourceKind ${b.resourceKind ?? ''} is not supported`);
    if (ns !== a.namespace || !a.templates.includes(b.resourceName ?? '')) return error(404, 5, `workflowtemplates.argoproj.io "${b.resourceName ?? ''}" not found`);
    const parameters: { name: string; value: string }[] = [];
    for (const s of b.submitOptions?.parameters ?? []) {
      const i = typeof s === 'string' ? s.indexOf('=') : -1;
      if (i < 1) return error(400, 3, `expected parameter of the form: NAME=VALUE. Received: ${s}`);
      parameters.push({ name: s.slice(0, i), value: s.slice(i + 1) });
    }
    const suffix = Array.from({ length: 5 }, (_, i) => 'bcdfghjklmnpqrstvwxz2456789'[(this.runNumber * 7 + i * 13) % 27]).join('');
    this.runNumber++;
    const generateName = b.submitOptions?.generateName ?? `${b.resourceName}-`;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    json(200, {
      metadata: {
        name: `${generateName}${suffix}`,
        generateName,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: String(100_000 + this.runNumber),
        generation: 1,
        creationTimestamp: now,
        labels: { 'workflows.argoproj.io/creator': 'system-serviceaccount-argo-argo-server', 'workflows.argoproj.io/workflow-template': b.resourceName },
      },
      spec: { arguments: { parameters }, workflowTemplateRef: { name: b.resourceName } },
      status: {},
    });
  }
}
