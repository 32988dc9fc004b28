/**
 * The webhook of `retrain trigger`: posts a retrain request (why, the dataset, the drift report,
 * the model in use) to a training pipeline and hands back what the pipeline answered (its run id,
 * a URL); the new model then comes back through `registry pull`. One generic JSON POST, and four
 * presets that make a pipeline's own documented REST call (../shared/notes/q5-triggers.md):
 *
 * - github: POST {api}/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches
 *   {ref, inputs (strings, at most 10), return_run_details: true} -> 200 {workflow_run_id, run_url,
 *   html_url}, or 204 without run details from servers that predate return_run_details.
 * - jenkins: POST {root}/job/a/job/b/buildWithParameters, form parameters, Basic user:API token
 *   (no CSRF crumb needed with an API token) -> 201 with Location {root}/queue/item/{id}/.
 * - kubeflow: POST {root}/apis/v2beta1/runs with a Run -> the Run (run_id, state PENDING).
 * - argo: POST {root}/api/v1/workflows/{namespace}/submit {resourceKind: WorkflowTemplate, ...}
 *   -> the Workflow (metadata.name generated).
 *
 * Every preset gets the same parameters, all strings: reason, requested_at, dataset_uri,
 * dataset_sha256, dataset_rows, model_name, model_version, model_digest and drift (the report as
 * compact JSON), each only when the request has it (Jenkins takes them upper-case: REASON, ...).
 * A pipeline must declare the ones it gets: GitHub refuses an input its workflow does not declare.
 *
 * A hiccup is retried: a 5xx, a 429 (after its Retry-After), a timeout or a failed connection, up
 * to `retries` more times, waiting 1 s, 2 s, 4 s ... (capped at 60 s, +-10 % jitter). Any other
 * 4xx is the pipeline's answer and fails at once with what it said. A retry after a timeout may
 * start a second run when the first request did arrive: none of these APIs takes an idempotency key.
 * Errors and the answer never carry a credential: URLs are shown without user info and query,
 * and any credential the pipeline echoes is masked.
 *
 * HTTP goes through axios, which honours HTTP_PROXY / HTTPS_PROXY / NO_PROXY (a gateway behind a
 * factory proxy needs that: the pipeline usually lives outside the plant network). An https target
 * is tunnelled through the proxy (CONNECT), so TLS still checks the pipeline's own certificate,
 * against the CA file too when one is given. Plain http only to loopback, or when allowed.
 */
import axios, { AxiosError } from 'axios';
import * as fs from 'fs';
import * as https from 'https';
import * as tls from 'tls';
import { describeValue } from '../messages';
import { choiceField, numberField } from '../node-red/config';
import { CodedError, isCoded, oneOrAll, Params } from '../node-red/errors';
import { shownUrl } from '../registry/http';

export class WebhookError extends CodedError {}

export type Preset = 'generic' | 'github' | 'jenkins' | 'kubeflow' | 'argo';
export const PRESETS: readonly Preset[] = ['generic', 'github', 'jenkins', 'kubeflow', 'argo'];

export interface WebhookConfig {
  preset: Preset;
  /**
   * generic: the full URL; github: the API root, https://api.github.com (GitHub Enterprise Server:
   * https://HOST/api/v3); jenkins: the Jenkins root; kubeflow: the KFP API root (in Kubeflow,
   * https://HOST/pipeline); argo: the Argo server root.
   */
  url: string;
  /** Longest wait for one attempt (connect, send, answer), in ms. */
  timeoutMs: number;
  /** Attempts after the first one, for hiccups (5xx, 429, timeouts, failed connections). */
  retries: number;
  /** A PEM file of CA certificates trusted for https, besides Node's own. */
  caFile?: string;
  /** Allow plain http to a host that is not loopback. */
  allowHttp?: boolean;
  github?: { owner: string; repo: string; /** The workflow's file name (retrain.yml) or numeric id. */ workflow: string; /** The branch or tag whose workflow file runs. */ ref: string };
  jenkins?: { /** The job, or its path through folders: team/retrain. */ job: string; /** The job's remote trigger token ("Trigger builds remotely"). */ token?: string };
  kubeflow?: { pipelineId: string; /** Default: the pipeline's latest version. */ pipelineVersionId?: string; /** Default: the namespace's default experiment. */ experimentId?: string };
  argo?: { namespace: string; /** The WorkflowTemplate to submit. */ template: string };
  credentials: {
    /** Bearer token (github, kubeflow, argo, generic). */
    token?: string;
    /** Basic auth (jenkins, generic). */
    username?: string;
    /** For Jenkins: the user's API token. */
    password?: string;
  };
}

export interface RetrainRequest {
  reason: string;
  dataset?: { uri: string; sha256: string; rows: number };
  drift?: unknown;
  model?: { name: string; version: string; digest: string };
  /** ISO 8601. */
  requestedAt: string;
}

export interface PipelineAnswer {
  preset: Preset;
  /** The HTTP status of the answer that succeeded. */
  status: number;
  /** github: workflow_run_id; jenkins: the queue item's id; kubeflow: run_id; argo: the workflow's name; generic: id, runId or run_id. */
  runId?: string;
  /** Where a person sees the run: github html_url; kubeflow the KFP UI's run page; argo the UI's workflow page; generic url or html_url. */
  url?: string;
  /** jenkins: the queue item (its api/json names the build once it starts). */
  queueUrl?: string;
  /** kubeflow: the run's state; argo: the workflow's phase, when it has one. */
  state?: string;
  /** The pipeline's answer (JSON, or text for generic), credentials masked. */
  body?: unknown;
  /** Requests sent, retries included. */
  attempts: number;
}

export interface TriggerOptions {
  signal?: AbortSignal;
  /** Called before each wait: the attempt that failed (1 = the first), the wait, why (English). */
  onRetry?(attempt: number, delayMs: number, reason: string): void;
  /** The backoff: first wait, cap, and the jitter's random source (tests make them short and fixed). */
  backoff?: { firstMs?: number; maxMs?: number; random?: () => number };
}

export const FIRST_DELAY_MS = 1_000;
export const MAX_DELAY_MS = 60_000;
/** GitHub: at most 10 inputs; their payload is bounded too (65,535 characters per GitHub's docs). */
export const GITHUB_MAX_INPUTS = 10;
export const GITHUB_MAX_INPUTS_CHARS = 65_535;
const MAX_ANSWER_BYTES = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// configuration

const err = (code: string, params: Params, message: string) => new WebhookError(code, params, message);
const isEmpty = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
const shown = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v.slice(0, 80)) : describeValue(v));

const NAME = /^[A-Za-z0-9_.-]+$/;
const WORKFLOW = /^(\d+|[^/\\]+\.ya?ml)$/;
const ID = /^[^\s/?#]+$/;
/** A Kubernetes name: DNS-1123 label for a namespace, subdomain-like for a template. */
const K8S_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

const LOOPBACK = (host: string) => host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';

/** A webhook's configuration from the node's fields; every bad field is named (all of them at once). */
export function parseWebhookConfig(raw: unknown): WebhookConfig {
  const def = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const problems: CodedError[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (!isCoded(e)) throw e;
      problems.push(e);
      return undefined;
    }
  };
  const section = (name: string): Record<string, unknown> => {
    const s = def[name];
    return s && typeof s === 'object' ? (s as Record<string, unknown>) : {};
  };
  /** A text field: required ones missing are named with the preset that needs them. */
  const text = (o: Record<string, unknown>, field: string, key: string, preset: Preset | undefined, rule?: { re: RegExp; code: string; says: string }): string | undefined => {
    const v = o[key];
    if (isEmpty(v)) {
      if (preset) problems.push(err('required', { preset, field }, `the ${preset} preset needs ${field}`));
      return undefined;
    }
    if (typeof v !== 'string') {
      problems.push(err('notText', { field, got: describeValue(v) }, `${field}: expected a text, got ${describeValue(v)}`));
      return undefined;
    }
    const t = v.trim();
    if (rule && !rule.re.test(t)) {
      problems.push(err(rule.code, { field, got: t.slice(0, 80) }, `${field}: expected ${rule.says}, got ${JSON.stringify(t.slice(0, 80))}`));
      return undefined;
    }
    return t;
  };

  const preset = attempt(() => choiceField(def, 'preset', PRESETS, 'generic')) ?? 'generic';
  const timeoutMs = attempt(() => numberField(def, 'timeoutMs', { default: 30_000, min: 1, max: 600_000, integer: true })) ?? 30_000;
  const retries = attempt(() => numberField(def, 'retries', { default: 3, min: 0, max: 10, integer: true })) ?? 3;
  const allowHttp = def.allowHttp === true || def.allowHttp === 'true';
  const caFile = text(def, 'caFile', 'caFile', undefined);

  let url: string | undefined;
  const rawUrl = def.url;
  if (isEmpty(rawUrl)) problems.push(err('required', { preset, field: 'url' }, `the ${preset} preset needs url`));
  else {
    let u: URL | undefined;
    try {
      u = new URL(String(rawUrl).trim());
    } catch {
      u = undefined;
    }
    if (!u || typeof rawUrl !== 'string' || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      problems.push(err('badUrl', { got: shown(rawUrl) }, `url: expected the pipeline's http:// or https:// URL, got ${shown(rawUrl)}`));
    } else if (u.username || u.password) {
      problems.push(err('credentialsInUrl', { url: shownUrl(u) }, `the URL ${shownUrl(u)} carries credentials: give them as the token, or as username and password`));
    } else if (u.protocol === 'http:' && !allowHttp && !LOOPBACK(u.hostname)) {
      problems.push(err('plainHttp', { url: shownUrl(u) }, `refusing plain http to ${shownUrl(u)}: use https, or allow http for this pipeline`));
    } else url = preset === 'generic' ? u.href : u.href.replace(/[?#].*$/, '').replace(/\/+$/, '');
  }

  const c = section('credentials');
  const credentials: WebhookConfig['credentials'] = {};
  for (const k of ['token', 'username', 'password'] as const) {
    const v = c[k];
    if (isEmpty(v)) continue;
    // the kind only, never the value: it is a credential
    if (typeof v !== 'string') problems.push(err('notText', { field: `credentials.${k}`, got: `a ${typeof v}` }, `credentials.${k}: expected a text, got a ${typeof v}`));
    else credentials[k] = k === 'username' ? v.trim() : v;
  }
  if (credentials.username && credentials.password === undefined) {
    problems.push(err('passwordMissing', { field: 'credentials.password' }, 'credentials.password: a username needs its password (for Jenkins: the API token)'));
  }
  if (credentials.password !== undefined && !credentials.username) {
    problems.push(err('usernameMissing', { field: 'credentials.username' }, 'credentials.username: a password needs its username'));
  }

  const cfg: WebhookConfig = { preset, url: url ?? '', timeoutMs, retries, credentials, ...(caFile ? { caFile } : {}), ...(allowHttp ? { allowHttp } : {}) };
  const name = { re: NAME, code: 'badName', says: 'a name of letters, digits, _ . - (no /)' };
  if (preset === 'github') {
    const g = section('github');
    const owner = text(g, 'github.owner', 'owner', preset, name);
    const repo = text(g, 'github.repo', 'repo', preset, name);
    const workflow = text(g, 'github.workflow', 'workflow', preset, { re: WORKFLOW, code: 'badWorkflow', says: "the workflow's file name (retrain.yml) or its numeric id" });
    const ref = text(g, 'github.ref', 'ref', preset);
    if (!credentials.token) problems.push(err('githubToken', { field: 'credentials.token' }, 'credentials.token: GitHub needs a token allowed to run workflows (fine-grained: Actions read and write on the repository)'));
    if (owner && repo && workflow && ref) cfg.github = { owner, repo, workflow, ref };
  } else if (preset === 'jenkins') {
    const j = section('jenkins');
    const job = text(j, 'jenkins.job', 'job', preset);
    const segments = job ? jobSegments(job) : undefined;
    if (job && !segments) problems.push(err('badJob', { field: 'jenkins.job', got: job.slice(0, 80) }, `jenkins.job: expected a job name or its path through folders such as team/retrain, got ${JSON.stringify(job.slice(0, 80))}`));
    const token = j.token;
    if (!isEmpty(token) && typeof token !== 'string') problems.push(err('notText', { field: 'jenkins.token', got: `a ${typeof token}` }, `jenkins.token: expected a text, got a ${typeof token}`));
    const trigger = typeof token === 'string' && token.trim() ? token : undefined;
    if (!credentials.username && !trigger) problems.push(err('jenkinsAuth', { field: 'credentials.username' }, "credentials: Jenkins needs a user and that user's API token, or the job's remote trigger token"));
    if (job && segments) cfg.jenkins = { job: segments.join('/'), ...(trigger ? { token: trigger } : {}) };
  } else if (preset === 'kubeflow') {
    const k = section('kubeflow');
    const id = { re: ID, code: 'badPipelineId', says: 'an ID (no spaces, / ? or #)' };
    const pipelineId = text(k, 'kubeflow.pipelineId', 'pipelineId', preset, id);
    const pipelineVersionId = text(k, 'kubeflow.pipelineVersionId', 'pipelineVersionId', undefined, id);
    const experimentId = text(k, 'kubeflow.experimentId', 'experimentId', undefined, id);
    if (pipelineId) cfg.kubeflow = { pipelineId, ...(pipelineVersionId ? { pipelineVersionId } : {}), ...(experimentId ? { experimentId } : {}) };
  } else if (preset === 'argo') {
    const a = section('argo');
    const says = 'a Kubernetes name (lowercase letters, digits and -, starting and ending with a letter or digit)';
    const namespace = text(a, 'argo.namespace', 'namespace', preset, { re: K8S_LABEL, code: 'badK8sName', says });
    const template = text(a, 'argo.template', 'template', preset, { re: K8S_NAME, code: 'badK8sName', says });
    if (namespace && namespace.length > 63) problems.push(err('tooLong', { field: 'argo.namespace', max: 63 }, 'argo.namespace: at most 63 characters'));
    // the workflow's name is the template's, a dash and 5 characters, and a name has at most 253
    if (template && template.length > 247) problems.push(err('tooLong', { field: 'argo.template', max: 247 }, 'argo.template: at most 247 characters'));
    if (namespace && template) cfg.argo = { namespace, template };
  }
  if (problems.length) throw oneOrAll(problems);
  return cfg;
}

/** "team/retrain" (or Jenkins' own "job/team/job/retrain") as its folder names; undefined when malformed. */
function jobSegments(job: string): string[] | undefined {
  let parts = job.split('/').filter((p) => p !== '');
  if (parts.length >= 2 && parts.length % 2 === 0 && parts.every((p, i) => i % 2 === 1 || p === 'job')) parts = parts.filter((_, i) => i % 2 === 1);
  if (!parts.length || parts.some((p) => p === '.' || p === '..' || /[\\?#]/.test(p))) return undefined;
  return parts;
}

// ---------------------------------------------------------------------------------------------
// the request each preset sends

interface Outgoing {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The request's parameters as strings, each only when the request has it. */
export function retrainParameters(r: RetrainRequest): Record<string, string> {
  const p: Record<string, string> = { reason: r.reason, requested_at: r.requestedAt };
  if (r.dataset) Object.assign(p, { dataset_uri: r.dataset.uri, dataset_sha256: r.dataset.sha256, dataset_rows: String(r.dataset.rows) });
  if (r.model) Object.assign(p, { model_name: r.model.name, model_version: r.model.version, model_digest: r.model.digest });
  if (r.drift !== undefined) p.drift = JSON.stringify(r.drift);
  return p;
}

function checkRequest(r: RetrainRequest): void {
  const bad = (field: string) => err('badRequest', { field }, `the retrain request has no valid ${field}`);
  const str = (v: unknown) => typeof v === 'string' && v.trim() !== '';
  if (!r || typeof r !== 'object') throw bad('request');
  if (!str(r.reason)) throw bad('reason');
  if (!str(r.requestedAt)) throw bad('requestedAt');
  if (r.dataset !== undefined) {
    if (!str(r.dataset?.uri)) throw bad('dataset.uri');
    if (typeof r.dataset.sha256 !== 'string') throw bad('dataset.sha256');
    if (!Number.isSafeInteger(r.dataset.rows) || r.dataset.rows < 0) throw bad('dataset.rows');
  }
  if (r.model !== undefined) for (const k of ['name', 'version', 'digest'] as const) if (typeof r.model?.[k] !== 'string') throw bad(`model.${k}`);
}

/** The drift report cut to its top-level values (and arrays of them), for a pipeline that bounds its inputs. */
function driftSummary(drift: unknown): unknown {
  if (!drift || typeof drift !== 'object' || Array.isArray(drift)) return drift;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(drift)) {
    if (v === null || typeof v !== 'object') out[k] = v;
    else if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) out[k] = v;
  }
  return { ...out, truncated: true };
}

function githubInputs(r: RetrainRequest): Record<string, string> {
  let inputs = retrainParameters(r);
  const size = (i: Record<string, string>) => JSON.stringify(i).length;
  if (size(inputs) > GITHUB_MAX_INPUTS_CHARS && r.drift !== undefined) inputs = { ...inputs, drift: JSON.stringify(driftSummary(r.drift)) };
  if (size(inputs) > GITHUB_MAX_INPUTS_CHARS) {
    throw err('inputsTooLarge', { size: size(inputs), max: GITHUB_MAX_INPUTS_CHARS }, `the GitHub inputs come to ${size(inputs)} characters, more than the ${GITHUB_MAX_INPUTS_CHARS} GitHub accepts`);
  }
  // at most 9 parameters (retrainParameters), within GITHUB_MAX_INPUTS
  return inputs;
}

const bearer = (cfg: WebhookConfig): Record<string, string> => (cfg.credentials.token ? { authorization: `Bearer ${cfg.credentials.token}` } : {});
const basic = (cfg: WebhookConfig): Record<string, string> =>
  cfg.credentials.username ? { authorization: `Basic ${Buffer.from(`${cfg.credentials.username}:${cfg.credentials.password ?? ''}`).toString('base64')}` } : {};
const JSON_TYPE = { 'content-type': 'application/json' };
const enc = encodeURIComponent;

function outgoing(cfg: WebhookConfig, r: RetrainRequest): Outgoing {
  const root = cfg.url;
  switch (cfg.preset) {
    case 'github': {
      const g = cfg.github!;
      return {
        url: `${root}/repos/${enc(g.owner)}/${enc(g.repo)}/actions/workflows/${enc(g.workflow)}/dispatches`,
        headers: { ...JSON_TYPE, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', ...bearer(cfg) },
        body: JSON.stringify({ ref: g.ref, inputs: githubInputs(r), return_run_details: true }),
      };
    }
    case 'jenkins': {
      const j = cfg.jenkins!;
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(retrainParameters(r))) form.append(k.toUpperCase(), v);
      // the trigger token goes in the body, not the URL: it stays out of access logs
      if (j.token) form.append('token', j.token);
      return {
        url: `${root}/${j.job.split('/').map((s) => `job/${enc(s)}`).join('/')}/buildWithParameters`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(cfg) },
        body: form.toString(),
      };
    }
    case 'kubeflow': {
      const k = cfg.kubeflow!;
      const run = {
        display_name: `retrain ${r.model?.name ?? 'model'} ${r.requestedAt}`.slice(0, 128),
        description: r.reason.slice(0, 1000),
        ...(k.experimentId ? { experiment_id: k.experimentId } : {}),
        pipeline_version_reference: { pipeline_id: k.pipelineId, ...(k.pipelineVersionId ? { pipeline_version_id: k.pipelineVersionId } : {}) },
        runtime_config: { parameters: retrainParameters(r) },
      };
      return { url: `${root}/apis/v2beta1/runs`, headers: { ...JSON_TYPE, accept: 'application/json', ...bearer(cfg) }, body: JSON.stringify(run) };
    }
    case 'argo': {
      const a = cfg.argo!;
      const body = {
        resourceKind: 'WorkflowTemplate',
        resourceName: a.template,
        submitOptions: { parameters: Object.entries(retrainParameters(r)).map(([k, v]) => `${k}=${v}`), generateName: `${a.template}-` },
      };
      return { url: `${root}/api/v1/workflows/${enc(a.namespace)}/submit`, headers: { ...JSON_TYPE, accept: 'application/json', ...bearer(cfg) }, body: JSON.stringify(body) };
    }
    default:
      return { url: root, headers: { ...JSON_TYPE, accept: 'application/json', ...(cfg.credentials.token ? bearer(cfg) : basic(cfg)) }, body: JSON.stringify(r) };
  }
}

// ---------------------------------------------------------------------------------------------
// the answer

interface Reply {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Masks every credential of the configuration in a text (and its URL- and Basic-encoded forms). */
function masker(cfg: WebhookConfig): (s: string) => string {
  const c = cfg.credentials;
  const raw = [c.token, c.password, cfg.jenkins?.token, c.username && c.password !== undefined ? Buffer.from(`${c.username}:${c.password}`).toString('base64') : undefined];
  const secrets = [...new Set(raw.flatMap((s) => (s && s.length >= 4 ? [s, enc(s)] : [])))].sort((a, b) => b.length - a.length);
  return (s) => secrets.reduce((t, x) => t.split(x).join('***'), s);
}

function maskDeep(v: unknown, mask: (s: string) => string): unknown {
  if (typeof v === 'string') return mask(v);
  if (Array.isArray(v)) return v.map((x) => maskDeep(x, mask));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskDeep(x, mask)]));
  return v;
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What the pipeline said, in one line: the message of a JSON error, the title of an HTML page, or the text. */
export function saidOf(text: string): string {
  const t = text.trim();
  if (!t) return '(an empty answer)';
  const j = json(t) as Record<string, unknown> | undefined;
  let said: string | undefined;
  if (j && typeof j === 'object' && !Array.isArray(j)) {
    const first = ['message', 'error_description', 'error', 'detail', 'title'].map((k) => j[k]).find((v) => typeof v === 'string' && v.trim());
    said = first as string | undefined;
    // GitHub's validation errors: [{resource, field, code, message}]
    if (Array.isArray(j.errors)) {
      const more = j.errors.map((e) => (typeof e === 'string' ? e : e && typeof e === 'object' ? ((e as Record<string, unknown>).message ?? (e as Record<string, unknown>).code) : undefined)).filter((x): x is string => typeof x === 'string');
      if (more.length) said = [said, ...more].filter(Boolean).join('; ');
    }
    said ??= t;
  } else {
    const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(t)?.[1];
    said = title ?? t.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]+>/g, ' ');
  }
  said = said.replace(/\s+/g, ' ').trim();
  return said.length > 300 ? `${said.slice(0, 300)}...` : said || '(an empty answer)';
}

/** Seconds to wait from Retry-After (seconds or an HTTP date), or GitHub's x-ratelimit-reset when its limit is used up. */
function retryAfterMs(h: Record<string, string>, now = Date.now()): number | undefined {
  const ra = h['retry-after'];
  if (ra !== undefined) {
    if (/^\s*\d+\s*$/.test(ra)) return Number(ra) * 1000;
    const d = Date.parse(ra);
    if (Number.isFinite(d)) return Math.max(0, d - now);
  }
  if (h['x-ratelimit-remaining'] === '0' && /^\d+$/.test(h['x-ratelimit-reset'] ?? '')) return Math.max(0, Number(h['x-ratelimit-reset']) * 1000 - now);
  return undefined;
}

/** A failed attempt: whether it may be retried, the wait the server asked for, and its error once the attempts are known. */
interface Failure {
  retry: boolean;
  waitMs?: number;
  error(attempts: number): WebhookError;
  reason: string;
}

function fail(retry: boolean, code: string, params: Params, message: (attempts: number) => string, waitMs?: number): Failure {
  return {
    retry,
    waitMs,
    reason: message(1).replace(/ \(1 attempt\)$/, ''),
    error: (attempts) => err(code, { ...params, attempts }, message(attempts)),
  };
}

const times = (n: number) => ` (${n} attempt${n === 1 ? '' : 's'})`;

/** The answer judged: the pipeline's answer, or why the attempt failed. */
function judge(cfg: WebhookConfig, target: string, reply: Reply, mask: (s: string) => string): PipelineAnswer | Failure {
  const { status, headers } = reply;
  const url = shownUrl(target);
  const said = mask(saidOf(reply.text));
  const body = maskDeep(json(reply.text) ?? (reply.text.trim() ? reply.text : undefined), mask);
  const wait = retryAfterMs(headers);
  const limited = status === 429 || (status === 403 && (headers['retry-after'] !== undefined || headers['x-ratelimit-remaining'] === '0'));
  if (limited) {
    const seconds = wait === undefined ? '?' : Math.ceil(wait / 1000);
    return fail(true, 'rateLimited', { url, status, seconds, said }, (n) => `${url}: the pipeline limits requests (HTTP ${status}, retry after ${seconds} s): ${said}${times(n)}`, wait);
  }
  if (status >= 500) return fail(true, 'serverError', { url, status, said }, (n) => `${url}: the pipeline failed (HTTP ${status}): ${said}${times(n)}`, wait);
  if (status >= 300 && status < 400) {
    let location = '(none)';
    try {
      if (headers.location) location = shownUrl(new URL(headers.location, target));
    } catch {
      location = '(not a URL)';
    }
    return fail(false, 'redirect', { url, status, location }, () => `${url}: the pipeline answered a redirect (HTTP ${status}) to ${location}: set the URL to where it points (a request with credentials is not sent on)`);
  }
  if (status === 401) return fail(false, 'unauthorized', { url, status, said }, () => `${url}: the pipeline answered ${status} (not authenticated): the token, or user and password, are missing or were not accepted: ${said}`);
  if (status === 403) return fail(false, 'forbidden', { url, status, said }, () => `${url}: the pipeline answered ${status} (forbidden): the credentials may not start this pipeline: ${said}`);
  if (status === 404) return fail(false, 'notFound', { url, status, said }, () => `${url}: the pipeline answered ${status} (not found): check the URL and the names configured (GitHub also answers 404 when the token cannot see the repository): ${said}`);
  if (status < 200 || status >= 300) return fail(false, 'rejected', { url, status, said }, () => `${url}: the pipeline refused the request (HTTP ${status}): ${said}`);

  const b = body as Record<string, unknown> | undefined;
  const obj = b && typeof b === 'object' && !Array.isArray(b) ? b : undefined;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined);
  const bad = (field: string) =>
    fail(false, 'badAnswer', { url, status, field, got: said }, () => `${url}: expected an answer with ${field}, got HTTP ${status}: ${said}`);
  const answer: PipelineAnswer = { preset: cfg.preset, status, attempts: 0 };
  switch (cfg.preset) {
    case 'github':
      // 204: a server without return_run_details (it started the run, without saying which)
      if (status === 204) return answer;
      if (!obj || str(obj.workflow_run_id) === undefined) return bad('workflow_run_id');
      return { ...answer, runId: str(obj.workflow_run_id), ...(str(obj.html_url) ? { url: str(obj.html_url) } : {}), body: obj };
    case 'jenkins': {
      const loc = headers.location;
      const id = loc ? /\/queue\/item\/(\d+)\/?$/.exec(new URL(loc, target).pathname)?.[1] : undefined;
      if (!loc || !id) return bad('Location: <root>/queue/item/<id>/');
      return { ...answer, runId: id, queueUrl: new URL(loc, target).href };
    }
    case 'kubeflow': {
      const runId = str(obj?.run_id);
      if (!obj || !runId) return bad('run_id');
      // the KFP UI's run page: right where the root is the UI (which proxies the API), as in Kubeflow's /pipeline
      return { ...answer, runId, url: `${cfg.url}/#/runs/details/${enc(runId)}`, ...(str(obj.state) ? { state: str(obj.state) } : {}), body: obj };
    }
    case 'argo': {
      const meta = obj?.metadata as Record<string, unknown> | undefined;
      const name = str(meta?.name);
      if (!obj || !name) return bad('metadata.name');
      const ns = str(meta?.namespace) ?? cfg.argo!.namespace;
      const phase = str((obj.status as Record<string, unknown> | undefined)?.phase);
      return { ...answer, runId: name, url: `${cfg.url}/workflows/${enc(ns)}/${enc(name)}`, ...(phase ? { state: phase } : {}), body: obj };
    }
    default: {
      const runId = str(obj?.id) ?? str(obj?.runId) ?? str(obj?.run_id);
      const link = [obj?.url, obj?.html_url, obj?.run_url].find((v) => typeof v === 'string' && /^https?:\/\//.test(v)) as string | undefined;
      return { ...answer, ...(runId ? { runId } : {}), ...(link ? { url: link } : {}), ...(body !== undefined ? { body } : {}) };
    }
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL/;

/** A request that did not come back: timed out, cancelled, refused, a TLS failure. */
function failure(e: unknown, target: string, cfg: WebhookConfig, timedOut: boolean, mask: (s: string) => string): Failure {
  const url = shownUrl(target);
  const ax = e as AxiosError;
  const code = String(ax?.code ?? (e as NodeJS.ErrnoException)?.code ?? '');
  if (timedOut) return fail(true, 'timeout', { url, ms: cfg.timeoutMs }, (n) => `${url}: no answer within ${cfg.timeoutMs} ms (timeout)${times(n)}`);
  if (code === 'ERR_CANCELED') return fail(false, 'requestAborted', { url }, () => `${url}: cancelled before the pipeline answered (it may have received the request)`);
  const reason = mask(String((e as Error)?.message ?? e)).slice(0, 300);
  const host = new URL(target).host;
  if (TLS_CODES.test(code)) {
    return fail(false, 'tls', { host, reason }, () => `the TLS certificate of ${host} was refused (${reason}); if the server uses a private CA, set the CA file to that CA's PEM certificate`);
  }
  if (/maxContentLength/i.test(reason)) return fail(false, 'answerTooLarge', { url, max: MAX_ANSWER_BYTES }, () => `${url}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
  return fail(true, 'network', { url, reason }, (n) => `${url}: the connection failed: ${reason}${times(n)}`);
}

// ---------------------------------------------------------------------------------------------
// sending, with retries

const caCache = new Map<string, string>();
function httpsAgent(caFile?: string): https.Agent | undefined {
  if (!caFile) return undefined;
  let ca = caCache.get(caFile);
  if (ca === undefined) {
    try {
      ca = fs.readFileSync(caFile, 'utf8');
    } catch (e) {
      throw err('caFile', { file: caFile, reason: (e as Error).message }, `cannot read the CA file ${caFile}: ${(e as Error).message}`);
    }
    caCache.set(caFile, ca);
  }
  return new https.Agent({ ca: [...tls.rootCertificates, ca] });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const onAbort = () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One POST, bounded by the timeout and the caller's signal; any status comes back as a Reply. */
async function send(out: Outgoing, cfg: WebhookConfig, agent: https.Agent | undefined, signal?: AbortSignal): Promise<Reply> {
  const ctl = new AbortController();
  const state = { timedOut: false };
  const timer = setTimeout(() => {
    state.timedOut = true;
    ctl.abort();
  }, cfg.timeoutMs);
  const onAbort = () => ctl.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await axios.request<string>({
      method: 'POST',
      url: out.url,
      headers: { 'user-agent': 'node-red-mlops', ...out.headers },
      data: out.body,
      signal: ctl.signal,
      // any status is an answer to judge; a redirect is reported, not followed (the body holds credentials)
      validateStatus: () => true,
      maxRedirects: 0,
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      maxContentLength: MAX_ANSWER_BYTES,
      ...(agent ? { httpsAgent: agent } : {}),
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers ?? {})) if (v !== undefined && v !== null) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
    return { status: res.status, headers, text: typeof res.data === 'string' ? res.data : res.data === undefined || res.data === null ? '' : String(res.data) };
  } catch (e) {
    throw Object.assign(new Error('request failed'), { inner: e, timedOut: state.timedOut && !signal?.aborted });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Posts the retrain request to the pipeline and resolves with its answer; rejects with a
 * WebhookError (a coded error) once a 4xx says no, or the retries are used up.
 */
export async function triggerPipeline(cfg: WebhookConfig, request: RetrainRequest, o: TriggerOptions = {}): Promise<PipelineAnswer> {
  checkRequest(request);
  const out = outgoing(cfg, request);
  const agent = out.url.startsWith('https:') ? httpsAgent(cfg.caFile) : undefined;
  const mask = masker(cfg);
  const first = o.backoff?.firstMs ?? FIRST_DELAY_MS;
  const max = o.backoff?.maxMs ?? MAX_DELAY_MS;
  const random = o.backoff?.random ?? Math.random;
  try {
    for (let attempt = 1; ; attempt++) {
      let outcome: PipelineAnswer | Failure;
      try {
        outcome = judge(cfg, out.url, await send(out, cfg, agent, o.signal), mask);
      } catch (e) {
        const x = e as { inner?: unknown; timedOut?: boolean };
        outcome = failure(x.inner ?? e, out.url, cfg, !!x.timedOut, mask);
      }
      if (!('retry' in outcome)) return { ...outcome, attempts: attempt };
      if (!outcome.retry || attempt > cfg.retries) throw outcome.error(attempt);
      // a server that asks for a longer wait than the cap: give up now, its error says how long
      if (outcome.waitMs !== undefined && outcome.waitMs > max) throw outcome.error(attempt);
      const delay = outcome.waitMs ?? Math.round(Math.min(max, first * 2 ** (attempt - 1)) * (0.9 + 0.2 * random()));
      o.onRetry?.(attempt, delay, outcome.reason);
      try {
        await sleep(delay, o.signal);
      } catch {
        const url = shownUrl(out.url);
        throw err('requestAborted', { url }, `${url}: cancelled before the pipeline answered (it may have received the request)`);
      }
    }
  } finally {
    agent?.destroy();
  }
}
