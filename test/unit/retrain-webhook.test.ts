/**
 * The retrain trigger's webhook (nodes/lib/retrain/webhook.ts) against the pipeline fakes
 * (test/support/pipeline-fakes.ts, which answer as the documented GitHub, Jenkins, Kubeflow
 * Pipelines and Argo APIs do: none of them can run here): each preset end to end (the path, headers
 * and body the fake saw, the run id and URL in the answer), retries on 5xx with backoff, 429 and its
 * Retry-After, no retry on 401/404/422, timeouts, TLS with a CA file, a factory proxy from
 * HTTP(S)_PROXY / NO_PROXY, credentials never in a text, and configuration errors that name the field.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import { CodedError, CodedErrors } from '../../nodes/lib/node-red/errors';
import { parseWebhookConfig, PipelineAnswer, RetrainRequest, triggerPipeline, TriggerOptions, WebhookConfig } from '../../nodes/lib/retrain/webhook';
import { selfSigned } from '../support/oci-registry';
import { PipelineFakes, RETRAIN_INPUTS } from '../support/pipeline-fakes';
import { tmpDir } from '../support/red';

const request: RetrainRequest = {
  reason: 'drift held 20 min on rms_x, kurtosis_x',
  dataset: { uri: 's3://plant-7/buffers/bearing-2026-05-01.parquet', sha256: 'sha256:'.padEnd(71, 'a'), rows: 48210 },
  drift: { state: 'drift', method: 'ks', statistic: 0.5, threshold: 0.3, drifted: ['rms_x', 'kurtosis_x'], features: [{ name: 'rms_x', ks: 0.41 }] },
  model: { name: 'bearing-fault', version: '3', digest: 'sha256:'.padEnd(71, 'b') },
  requestedAt: '2026-05-01T10:20:00.000Z',
};
const params = {
  reason: request.reason,
  requested_at: request.requestedAt,
  dataset_uri: request.dataset!.uri,
  dataset_sha256: request.dataset!.sha256,
  dataset_rows: '48210',
  model_name: 'bearing-fault',
  model_version: '3',
  model_digest: request.model!.digest,
  drift: JSON.stringify(request.drift),
};
const fast: TriggerOptions = { backoff: { firstMs: 10, random: () => 0.5 } };

/** A forward proxy as a factory network has: plain http forwarded, https tunnelled with CONNECT; logs what it carried. */
async function startProxy(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const tunnels = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const up = http.request(req.url!, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = String(req.url).split(':');
    const up = net.connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    tunnels.add(socket).add(up);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () => {
      // tunnels left the server's bookkeeping when CONNECT took them over
      for (const t of tunnels) t.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<CodedError> {
  try {
    await p;
  } catch (e) {
    return e as CodedError;
  }
  throw new Error('expected a rejection');
}

describe('retrain trigger: pipeline webhooks (against fakes of the documented APIs)', () => {
  let fake: PipelineFakes;
  afterEach(async () => {
    await fake?.close();
  });

  const github = (o: Record<string, unknown> = {}) =>
    parseWebhookConfig({ preset: 'github', url: fake.github, github: { owner: 'plant-7', repo: 'bearing-models', workflow: 'retrain.yml', ref: 'main' }, credentials: { token: fake.o.github.token }, ...o });
  const jenkins = (o: Record<string, unknown> = {}) =>
    parseWebhookConfig({ preset: 'jenkins', url: fake.jenkins, jenkins: { job: 'ml/retrain-bearing' }, credentials: { username: 'mlops', password: fake.o.jenkins.apiToken }, ...o });

  it('github: dispatches the workflow with ref, string inputs and return_run_details; the run id and URL come back', async () => {
    fake = await PipelineFakes.start();
    const a = await triggerPipeline(github(), request);
    expect(fake.requests).to.have.length(1);
    const r = fake.requests[0];
    expect([r.method, r.url]).to.deep.equal(['POST', '/api/v3/repos/plant-7/bearing-models/actions/workflows/retrain.yml/dispatches']);
    expect(r.headers).to.include({ accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', authorization: `Bearer ${fake.o.github.token}`, 'content-type': 'application/json' });
    expect(r.json).to.deep.equal({ ref: 'main', inputs: params, return_run_details: true });
    const inputs = (r.json as { inputs: Record<string, unknown> }).inputs;
    expect(Object.keys(inputs)).to.have.length.at.most(10);
    expect(Object.values(inputs).every((v) => typeof v === 'string')).to.equal(true);
    expect(r.answered).to.equal(200);
    const id = (a.body as { workflow_run_id: number }).workflow_run_id;
    expect(a).to.deep.include({ preset: 'github', status: 200, runId: String(id), url: `${fake.url}/plant-7/bearing-models/actions/runs/${id}`, attempts: 1 });
    expect(a.body).to.have.keys('workflow_run_id', 'run_url', 'html_url');

    // a server from before return_run_details: 204, the run started without its id
    await fake.close();
    fake = await PipelineFakes.start({ github: { legacy: true } });
    const old = await triggerPipeline(github({ github: { owner: 'plant-7', repo: 'bearing-models', workflow: '161335', ref: 'refs/heads/main' } }), { reason: 'asked', requestedAt: request.requestedAt });
    expect(old).to.deep.equal({ preset: 'github', status: 204, attempts: 1 });
    expect(fake.requests[0].url).to.equal('/api/v3/repos/plant-7/bearing-models/actions/workflows/161335/dispatches');
    expect(fake.requests[0].json).to.deep.equal({ ref: 'refs/heads/main', inputs: { reason: 'asked', requested_at: request.requestedAt }, return_run_details: true });
  });

  it('github: a 422 (an undeclared input, an unknown ref), a 401 and a 404 fail at once with what GitHub said, no token in the text', async () => {
    fake = await PipelineFakes.start({ github: { inputs: RETRAIN_INPUTS.filter((i) => i !== 'drift') } });
    const o = { ...fast, onRetry: () => expect.fail('no retry on a 4xx') };
    const cases: [WebhookConfig, string, number, RegExp][] = [
      [github({ retries: 3 }), 'rejected', 422, /refused the request \(HTTP 422\): Unexpected inputs provided: \["drift"\]$/],
      [github({ retries: 3, github: { owner: 'plant-7', repo: 'bearing-models', workflow: 'retrain.yml', ref: 'nope' } }), 'rejected', 422, /No ref found for: nope$/],
      [github({ retries: 3, credentials: { token: 'ghp_wrong_token_123' } }), 'unauthorized', 401, /answered 401 \(not authenticated\).*: Bad credentials$/],
      [github({ retries: 3, github: { owner: 'plant-7', repo: 'other', workflow: 'retrain.yml', ref: 'main' } }), 'notFound', 404, /answered 404 \(not found\).*: Not Found$/],
    ];
    for (const [cfg, code, status, said] of cases) {
      const before = fake.requests.length;
      const e = await rejection(triggerPipeline(cfg, request, o));
      expect(e).to.be.instanceOf(CodedError);
      expect([e.code, e.params.status, e.params.attempts], e.message).to.deep.equal([code, status, 1]);
      expect(e.message).to.match(said);
      expect(e.message).to.match(/^http:\/\/127\.0\.0\.1:\d+\/api\/v3\/repos\/plant-7\/[\w-]+\/actions\/workflows\/retrain\.yml\/dispatches: /);
      expect(e.message).to.not.include(fake.o.github.token).and.not.include('ghp_wrong_token_123');
      expect(fake.requests.length - before).to.equal(1);
    }
    // GitHub's schema validator, as the fake answers it: a body without ref (the generic preset posts the bare request)
    const bare = await rejection(triggerPipeline(parseWebhookConfig({ url: `${fake.github}/repos/plant-7/bearing-models/actions/workflows/retrain.yml/dispatches`, credentials: { token: fake.o.github.token } }), request, o));
    expect([bare.code, bare.params.status]).to.deep.equal(['rejected', 422]);
    expect(bare.params.said).to.equal('Invalid request. "reason", "dataset", "drift", "model", "requestedAt" are not permitted keys. "ref" wasn\'t supplied.');
  });

  it('github: a drift report too large for the inputs GitHub takes goes as its summary (top-level values and the drifted names)', async () => {
    fake = await PipelineFakes.start();
    const features = Array.from({ length: 800 }, (_, i) => ({ name: `feature_${i}`, ks: 0.1, psi: 0.2, wasserstein: 0.3, js: 0.4, reference: { mean: 1, std: 2, count: 3 } }));
    const drift = { state: 'drift', method: 'ks', statistic: 0.5, threshold: 0.3, drifted: ['feature_1', 'feature_7'], features };
    expect(JSON.stringify(drift).length).to.be.above(65_535);
    const a = await triggerPipeline(github(), { ...request, drift });
    expect(a.status).to.equal(200);
    const inputs = (fake.requests[0].json as { inputs: Record<string, string> }).inputs;
    expect(JSON.parse(inputs.drift)).to.deep.equal({ state: 'drift', method: 'ks', statistic: 0.5, threshold: 0.3, drifted: ['feature_1', 'feature_7'], truncated: true });
    // the other presets take the whole report
    await triggerPipeline(jenkins(), { ...request, drift });
    expect(JSON.parse(fake.requests[1].form!.DRIFT)).to.deep.equal(drift);
  });

  it('jenkins: buildWithParameters through folders, form parameters, Basic user:API token; the queue item comes back', async () => {
    fake = await PipelineFakes.start();
    const a = await triggerPipeline(jenkins(), request);
    const r = fake.requests[0];
    expect([r.method, r.url]).to.deep.equal(['POST', '/jenkins/job/ml/job/retrain-bearing/buildWithParameters']);
    expect(r.headers).to.include({ authorization: `Basic ${Buffer.from(`mlops:${fake.o.jenkins.apiToken}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.headers).to.not.have.property('jenkins-crumb');
    expect(r.form).to.deep.equal(Object.fromEntries(Object.entries(params).map(([k, v]) => [k.toUpperCase(), v])));
    expect(a).to.deep.equal({ preset: 'jenkins', status: 201, runId: '42', queueUrl: `${fake.jenkins}/queue/item/42/`, attempts: 1 });

    // the job's remote trigger token alone (anonymous): in the form body, never in the URL; Jenkins' own job/a/job/b path
    const t = await triggerPipeline(parseWebhookConfig({ preset: 'jenkins', url: `${fake.jenkins}/`, jenkins: { job: 'job/ml/job/retrain-bearing', token: fake.o.jenkins.triggerToken } }), request);
    expect(t).to.deep.include({ runId: '43', queueUrl: `${fake.jenkins}/queue/item/43/` });
    expect(fake.requests[1].url).to.equal('/jenkins/job/ml/job/retrain-bearing/buildWithParameters');
    expect(fake.requests[1].headers).to.not.have.property('authorization');
    expect(fake.requests[1].form).to.include({ token: fake.o.jenkins.triggerToken, REASON: request.reason });

    // a wrong API token: Jenkins' 401 page, said in one line, without the token
    const e = await rejection(triggerPipeline(jenkins({ retries: 2, credentials: { username: 'mlops', password: 'wrong-api-token-1' } }), request, fast));
    expect([e.code, e.params.status, e.params.said]).to.deep.equal(['unauthorized', 401, 'Error 401 Invalid password/token for user: mlops']);
    expect(e.message).to.not.include('wrong-api-token-1');
    const missing = await rejection(triggerPipeline(jenkins({ jenkins: { job: 'ml/nope' } }), request, fast));
    expect([missing.code, missing.params.status, missing.params.said]).to.deep.equal(['notFound', 404, 'Error 404 Not Found']);
    expect(fake.requests).to.have.length(4);
  });

  it('kubeflow: creates a v2beta1 run of the pipeline (latest version) with string parameters; run_id and state come back', async () => {
    fake = await PipelineFakes.start({ kubeflow: { token: 'kfp-token-0042' } });
    const [pipelineId] = Object.keys(fake.o.kubeflow.pipelines);
    const cfg = parseWebhookConfig({ preset: 'kubeflow', url: fake.kubeflow, kubeflow: { pipelineId, experimentId: 'exp-17' }, credentials: { token: 'kfp-token-0042' } });
    const a = await triggerPipeline(cfg, request);
    const r = fake.requests[0];
    expect([r.method, r.url, r.headers.authorization]).to.deep.equal(['POST', '/pipeline/apis/v2beta1/runs', 'Bearer kfp-token-0042']);
    expect(r.json).to.deep.equal({
      display_name: 'retrain bearing-fault 2026-05-01T10:20:00.000Z',
      description: request.reason,
      experiment_id: 'exp-17',
      pipeline_version_reference: { pipeline_id: pipelineId },
      runtime_config: { parameters: params },
    });
    const body = a.body as { run_id: string; pipeline_version_reference: { pipeline_version_id: string } };
    expect(body.run_id).to.match(/^[0-9a-f-]{36}$/);
    expect(body.pipeline_version_reference.pipeline_version_id).to.equal(fake.o.kubeflow.pipelines[pipelineId][0]);
    expect(a).to.deep.include({ preset: 'kubeflow', status: 200, runId: body.run_id, state: 'PENDING', url: `${fake.kubeflow}/#/runs/details/${body.run_id}`, attempts: 1 });

    const nf = await rejection(triggerPipeline(parseWebhookConfig({ preset: 'kubeflow', url: fake.kubeflow, kubeflow: { pipelineId: 'no-such-pipeline' }, credentials: { token: 'kfp-token-0042' } }), request, fast));
    expect([nf.code, nf.params.status]).to.deep.equal(['notFound', 404]);
    expect(nf.params.said).to.match(/ResourceNotFoundError: Pipeline no-such-pipeline not found$/);
    // the API server's 400 for a run without display_name (the generic preset posts the bare request)
    const noName = await rejection(triggerPipeline(parseWebhookConfig({ url: `${fake.kubeflow}/apis/v2beta1/runs`, credentials: { token: 'kfp-token-0042' } }), request, fast));
    expect([noName.code, noName.params.status, noName.params.said]).to.deep.equal(['rejected', 400, 'Failed to create a run due to invalid name: Invalid input error: The run name is empty. Please specify a valid name']);
  });

  it('argo: submits the WorkflowTemplate with NAME=VALUE parameters and generateName; the workflow name and its UI page come back', async () => {
    fake = await PipelineFakes.start({ argo: { token: 'argo-sa-token-9' } });
    const cfg = parseWebhookConfig({ preset: 'argo', url: fake.argo, argo: { namespace: 'ml', template: 'retrain-bearing' }, credentials: { token: 'argo-sa-token-9' } });
    const a = await triggerPipeline(cfg, request);
    const r = fake.requests[0];
    expect([r.method, r.url, r.headers.authorization]).to.deep.equal(['POST', '/argo/api/v1/workflows/ml/submit', 'Bearer argo-sa-token-9']);
    expect(r.json).to.deep.equal({
      resourceKind: 'WorkflowTemplate',
      resourceName: 'retrain-bearing',
      submitOptions: { parameters: Object.entries(params).map(([k, v]) => `${k}=${v}`), generateName: 'retrain-bearing-' },
    });
    expect(a.runId).to.match(/^retrain-bearing-[a-z0-9]{5}$/);
    expect(a).to.deep.include({ preset: 'argo', status: 200, url: `${fake.argo}/workflows/ml/${a.runId}`, attempts: 1 });
    expect((a.body as { spec: { arguments: { parameters: unknown[] } } }).spec.arguments.parameters).to.deep.include({ name: 'drift', value: params.drift });

    const nf = await rejection(triggerPipeline(parseWebhookConfig({ preset: 'argo', url: fake.argo, argo: { namespace: 'ml', template: 'retrain-pump' }, credentials: { token: 'argo-sa-token-9' } }), request, fast));
    expect([nf.code, nf.params.said]).to.deep.equal(['notFound', 'workflowtemplates.argoproj.io "retrain-pump" not found']);
    const denied = await rejection(triggerPipeline(parseWebhookConfig({ preset: 'argo', url: fake.argo, argo: { namespace: 'ml', template: 'retrain-bearing' } }), request, fast));
    expect([denied.code, denied.params.status]).to.deep.equal(['unauthorized', 401]);
  });

  it('generic: posts the request as JSON with the bearer token; the answer goes on, its id as the run id', async () => {
    fake = await PipelineFakes.start({ generic: { token: 'hook-token-5' } });
    const a = await triggerPipeline(parseWebhookConfig({ url: fake.generic, credentials: { token: 'hook-token-5' } }), request);
    const r = fake.requests[0];
    expect([r.method, r.url, r.headers.authorization, r.headers['content-type']]).to.deep.equal(['POST', '/hook', 'Bearer hook-token-5', 'application/json']);
    expect(r.json).to.deep.equal(request);
    expect(a).to.deep.equal({ preset: 'generic', status: 201, runId: 'gen-7701', url: `${fake.url}/runs/gen-7701`, body: { id: 'gen-7701', status: 'queued', url: `${fake.url}/runs/gen-7701` }, attempts: 1 });
  });

  it('retries 5xx with exponential backoff until the pipeline answers, and gives up after `retries` more attempts', async () => {
    fake = await PipelineFakes.start();
    fake.failNext(2, 500);
    const waits: [number, number, string][] = [];
    const a = await triggerPipeline(jenkins({ retries: 3 }), request, { backoff: { firstMs: 20, random: () => 0.5 }, onRetry: (n, ms, why) => waits.push([n, ms, why]) });
    expect(a).to.deep.include({ status: 201, runId: '42', attempts: 3 });
    expect(waits.map(([n, ms]) => [n, ms])).to.deep.equal([[1, 20], [2, 40]]);
    expect(waits[0][2]).to.match(/buildWithParameters: the pipeline failed \(HTTP 500\): 500 Internal Server Error$/);
    expect(fake.requests.map((r) => r.answered)).to.deep.equal([500, 500, 201]);
    expect(new Set(fake.requests.map((r) => r.body)).size).to.equal(1);

    // jitter within +-10 %, doubling, capped
    const jittered: number[] = [];
    fake.failNext(4, 503);
    const e = await rejection(triggerPipeline(jenkins({ retries: 3 }), request, { backoff: { firstMs: 20, maxMs: 50, random: () => 1 }, onRetry: (_n, ms) => jittered.push(ms) }));
    expect(jittered).to.deep.equal([22, 44, 55]);
    expect([e.code, e.params.status, e.params.attempts]).to.deep.equal(['serverError', 503, 4]);
    expect(e.message).to.match(/the pipeline failed \(HTTP 503\): 503 Service Unavailable \(4 attempts\)$/);
    expect(fake.requests).to.have.length(3 + 4);
  });

  it('429: waits as long as Retry-After says, and gives up at once when that is longer than the cap', async () => {
    fake = await PipelineFakes.start();
    fake.failNext(1, 429, { retryAfter: '1' });
    const waits: number[] = [];
    const t0 = Date.now();
    const a = await triggerPipeline(github(), request, { ...fast, onRetry: (_n, ms) => waits.push(ms) });
    expect(Date.now() - t0).to.be.at.least(950);
    expect(waits).to.deep.equal([1000]);
    expect(a).to.deep.include({ status: 200, attempts: 2 });

    fake.failNext(1, 429, { retryAfter: '120' });
    const e = await rejection(triggerPipeline(github({ retries: 5 }), request, { ...fast, onRetry: () => expect.fail('no wait beyond the cap') }));
    expect([e.code, e.params.status, e.params.seconds, e.params.attempts]).to.deep.equal(['rateLimited', 429, 120, 1]);
    expect(e.message).to.match(/limits requests \(HTTP 429, retry after 120 s\): Too many requests \(1 attempt\)$/);
    expect(fake.requests).to.have.length(3);
  });

  it('a pipeline that does not answer: each attempt times out, is retried, and fails with a timeout error', async () => {
    fake = await PipelineFakes.start();
    fake.hangNext(1);
    const ok = await triggerPipeline(jenkins({ timeoutMs: 150, retries: 1 }), request, fast);
    expect(ok).to.deep.include({ status: 201, attempts: 2 });

    fake.hangNext(3);
    const reasons: string[] = [];
    const t0 = Date.now();
    const e = await rejection(triggerPipeline(jenkins({ timeoutMs: 150, retries: 2 }), request, { ...fast, onRetry: (_n, _ms, why) => reasons.push(why) }));
    expect(Date.now() - t0).to.be.within(440, 3000);
    expect([e.code, e.params.ms, e.params.attempts]).to.deep.equal(['timeout', 150, 3]);
    expect(e.message).to.match(/buildWithParameters: no answer within 150 ms \(timeout\) \(3 attempts\)$/);
    expect(reasons).to.have.length(2);
    expect(fake.requests.map((r) => r.answered)).to.deep.equal(['hang', 201, 'hang', 'hang', 'hang']);

    // the caller's signal ends it, without a retry
    fake.hangNext(1);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    const ab = await rejection(triggerPipeline(jenkins({ timeoutMs: 5000, retries: 3 }), request, { ...fast, signal: ctl.signal }));
    expect(ab.code).to.equal('requestAborted');
    expect(fake.requests).to.have.length(6);
  });

  it('never shows a credential: a pipeline that echoes the token or the Basic header gets it masked', async () => {
    fake = await PipelineFakes.start();
    const token = fake.o.github.token;
    const basic = Buffer.from(`mlops:${fake.o.jenkins.apiToken}`).toString('base64');
    fake.failNext(1, 400, { body: JSON.stringify({ message: `token ${token} may not dispatch (Bearer ${token})` }) });
    const e = await rejection(triggerPipeline(github(), request, fast));
    expect(e.params.said).to.equal('token *** may not dispatch (Bearer ***)');
    expect(JSON.stringify(e.params) + e.message).to.not.include(token);
    fake.failNext(1, 422, { body: JSON.stringify({ message: `saw Authorization: Basic ${basic} for ${encodeURIComponent(fake.o.jenkins.apiToken)}` }) });
    const j = await rejection(triggerPipeline(jenkins(), request, fast));
    expect(j.params.said).to.equal('saw Authorization: Basic *** for ***');
    expect(JSON.stringify(j.params) + j.message).to.not.include(fake.o.jenkins.apiToken).and.not.include(basic);
  });

  it('verifies TLS: a self-signed pipeline is refused (not retried) until its CA file is given', async () => {
    const dir = tmpDir('webhook-tls');
    try {
      const { cert, key } = selfSigned(dir, 'pipeline', 'IP:127.0.0.1');
      fake = await PipelineFakes.start({ tls: { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } });
      const refused = await rejection(triggerPipeline(parseWebhookConfig({ url: fake.generic, retries: 3 }), request, { ...fast, onRetry: () => expect.fail('no retry on TLS') }));
      expect(refused.code).to.equal('tls');
      expect(refused.message).to.match(/^the TLS certificate of 127\.0\.0\.1:\d+ was refused \(.+\); if the server uses a private CA, set the CA file/);
      const a: PipelineAnswer = await triggerPipeline(parseWebhookConfig({ url: fake.generic, caFile: cert }), request);
      expect(a).to.deep.include({ status: 201, runId: 'gen-7701' });
      const noCa = await rejection(triggerPipeline(parseWebhookConfig({ url: fake.generic, caFile: `${dir}/missing.pem` }), request));
      expect(noCa.code).to.equal('caFile');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('goes through the proxy of HTTP_PROXY / HTTPS_PROXY (https tunnelled, the CA file still checking the pipeline), not for NO_PROXY hosts', async () => {
    const keys = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'all_proxy', 'ALL_PROXY'];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    const dir = tmpDir('webhook-proxy');
    const proxy = await startProxy();
    try {
      for (const k of keys) delete process.env[k];
      // by host name, as a pipeline is reached (TLS names no IP address as its server name)
      const { cert, key } = selfSigned(dir, 'pipeline', 'DNS:localhost');
      fake = await PipelineFakes.start({ tls: { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } });
      const hook = fake.generic.replace('127.0.0.1', 'localhost');
      process.env.HTTPS_PROXY = proxy.url;
      const a = await triggerPipeline(parseWebhookConfig({ url: hook, caFile: cert }), request);
      expect(a).to.deep.include({ status: 201, runId: 'gen-7701' });
      expect(proxy.seen).to.deep.equal([`CONNECT ${new URL(hook).host}`]);
      // through the tunnel TLS is end to end: without the CA the pipeline's certificate is still refused
      expect((await rejection(triggerPipeline(parseWebhookConfig({ url: hook, retries: 0 }), request))).code).to.equal('tls');
      process.env.NO_PROXY = 'localhost';
      await triggerPipeline(parseWebhookConfig({ url: hook, caFile: cert }), request);
      expect(proxy.seen).to.have.length(2);
      await fake.close();

      delete process.env.NO_PROXY;
      fake = await PipelineFakes.start();
      process.env.HTTP_PROXY = proxy.url;
      const j = await triggerPipeline(jenkins(), request);
      expect(j.runId).to.equal('42');
      expect(proxy.seen[2]).to.equal(`POST ${fake.jenkins}/job/ml/job/retrain-bearing/buildWithParameters`);
      expect(fake.requests).to.have.length(1);
    } finally {
      for (const k of keys) if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
      await proxy.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('configuration errors name the field, all of them at once', () => {
    const problems = (raw: unknown) => {
      try {
        parseWebhookConfig(raw);
      } catch (e) {
        const c = e as CodedError;
        return (c instanceof CodedErrors ? c.problems : [c]).map((p) => [p.code, p.params.field ?? p.params.url ?? p.params.got, p.message]);
      }
      throw new Error('expected an error');
    };
    expect(problems({ preset: 'github', url: 'https://api.github.com', github: { owner: 'plant-7', workflow: 'retrain.yml' } })).to.deep.equal([
      ['required', 'github.repo', 'the github preset needs github.repo'],
      ['required', 'github.ref', 'the github preset needs github.ref'],
      ['githubToken', 'credentials.token', 'credentials.token: GitHub needs a token allowed to run workflows (fine-grained: Actions read and write on the repository)'],
    ]);
    expect(problems({ preset: 'github', url: 'https://api.github.com', github: { owner: 'plant-7/x', repo: 'r', workflow: 'retrain', ref: 'main' }, credentials: { token: 't' } }).map((p) => p.slice(0, 2))).to.deep.equal([
      ['badName', 'github.owner'],
      ['badWorkflow', 'github.workflow'],
    ]);
    expect(problems({ preset: 'gitlab', url: 'https://x' })[0].slice(0, 2)).to.deep.equal(['notOneOf', 'preset']);
    expect(problems({ url: 'http://ci.plant.example/hook' })).to.deep.equal([['plainHttp', 'http://ci.plant.example/hook', 'refusing plain http to http://ci.plant.example/hook: use https, or allow http for this pipeline']]);
    expect(parseWebhookConfig({ url: 'http://ci.plant.example/hook', allowHttp: true }).url).to.equal('http://ci.plant.example/hook');
    expect(parseWebhookConfig({ url: 'http://localhost:8080/hook?key=1' })).to.deep.equal({ preset: 'generic', url: 'http://localhost:8080/hook?key=1', timeoutMs: 30_000, retries: 3, credentials: {} });
    const inUrl = problems({ url: 'https://bot:s3cret-pw@ci.example/hook' });
    expect(inUrl[0].slice(0, 2)).to.deep.equal(['credentialsInUrl', 'https://ci.example/hook']);
    expect(String(inUrl[0][2])).to.not.include('s3cret-pw');
    expect(problems({ url: 'ftp://x/y', timeoutMs: 'soon', retries: 11 }).map((p) => p.slice(0, 2))).to.deep.equal([
      ['notNumber', 'timeoutMs'],
      ['aboveMax', 'retries'],
      ['badUrl', '"ftp://x/y"'],
    ]);
    expect(problems({ preset: 'jenkins', url: 'https://ci.example', jenkins: { job: 'ml/../x' } }).map((p) => p.slice(0, 2))).to.deep.equal([
      ['badJob', 'jenkins.job'],
      ['jenkinsAuth', 'credentials.username'],
    ]);
    expect(problems({ preset: 'jenkins', url: 'https://ci.example', jenkins: { job: 'retrain' }, credentials: { username: 'mlops' } })[0].slice(0, 2)).to.deep.equal(['passwordMissing', 'credentials.password']);
    expect(problems({ preset: 'kubeflow', url: 'https://kf.example/pipeline' })[0].slice(0, 2)).to.deep.equal(['required', 'kubeflow.pipelineId']);
    expect(problems({ preset: 'argo', url: 'https://argo.example', argo: { namespace: 'ML', template: 'retrain-bearing' } })[0].slice(0, 2)).to.deep.equal(['badK8sName', 'argo.namespace']);
    expect(parseWebhookConfig({ preset: 'argo', url: 'https://argo.example/argo/', timeoutMs: '5000', retries: '0', argo: { namespace: 'ml', template: 'retrain-bearing' }, credentials: { token: 'x' } })).to.deep.equal({
      preset: 'argo',
      url: 'https://argo.example/argo',
      timeoutMs: 5000,
      retries: 0,
      credentials: { token: 'x' },
      argo: { namespace: 'ml', template: 'retrain-bearing' },
    });
  });
});
