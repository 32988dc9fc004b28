/**
 * The three things a retrain trigger can do once its policy says go, each on the dataset snapshot:
 * train a candidate here (in a worker), post the request to a training pipeline, or publish it
 * over MQTT for an event-driven training service. Each resolves with the message for output 1.
 */
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { DriftReport, ModelInfo } from '../messages';
import type { MqttBroker } from '../mqtt/broker';
import { BufferError } from './buffer';
import type { ActionRunner, RetrainJob } from './controller';
import { trainCandidate } from './local';
import { triggerPipeline, type RetrainRequest, type WebhookConfig } from './webhook';

/** The drift report, short: what a pipeline or a person needs to know of why. */
function driftSummary(d: Partial<DriftReport> | undefined) {
  if (!d) return undefined;
  return { state: d.state, method: d.method, fired: d.fired, since: d.since, at: d.at, drifted: d.drifted?.slice(0, 20), domain: d.domain && { share: d.domain.share, features: d.domain.features?.slice(0, 10) } };
}

/** The request a pipeline or a training service gets: why, the dataset, the model in use. */
export function retrainRequest(job: RetrainJob): RetrainRequest {
  const m = job.deployed;
  return {
    reason: job.decision.text,
    dataset: job.dataset && { uri: pathToFileURL(path.join(path.dirname(job.manifestFile), job.dataset.file)).href, sha256: job.dataset.sha256, rows: job.dataset.rows },
    drift: driftSummary(job.drift),
    model: m?.name ? { name: m.name, version: String(m.version ?? ''), digest: String(m.digest ?? '') } : undefined,
    requestedAt: new Date(job.decision.at).toISOString(),
  };
}

/** Local: a candidate with the deployed model's features, trained and evaluated beside it on the same held-out rows. */
export function localAction(o: { holdout: number; epochs: number; progress?(text: string): void }): ActionRunner {
  return async (job) => {
    const deployed = job.deployed;
    if (!job.dataset) throw new BufferError('emptySnapshot', { features: '' }, 'no rows to snapshot: expected at least one row in the buffer');
    if (!deployed?.path) {
      throw new BufferError('noDeployed', {}, 'no deployed model is known to retrain: wire the approved model messages (approval gate, output 1) or registry pull into this node');
    }
    const r = await trainCandidate({
      manifest: job.manifestFile,
      deployed: { path: deployed.path },
      outDir: job.candidatesDir,
      holdout: o.holdout,
      epochs: o.epochs,
      signal: job.signal,
      onProgress: (p) => o.progress?.(`training: epoch ${p.epoch} of ${p.epochs}`),
    });
    const model: ModelInfo = { name: r.metadata.name, version: r.metadata.version, digest: r.digest, path: r.file, format: 'onnx', metadata: r.metadata as unknown as Record<string, unknown>, source: 'retrain' };
    return { payload: model.path, topic: 'candidate', model, evaluation: r.evaluation };
  };
}

/** Webhook: the request posted to a pipeline; its answer (run id, URL) goes out. */
export function webhookAction(cfg: WebhookConfig, o: { retrying?(text: string): void }): ActionRunner {
  return async (job) => {
    const request = retrainRequest(job);
    const answer = await triggerPipeline(cfg, request, { signal: job.signal, onRetry: (attempt, ms, reason) => o.retrying?.(`retry in ${Math.round(ms / 1000)} s (attempt ${attempt} failed: ${reason})`) });
    return { payload: answer, topic: 'pipeline', pipeline: answer, request };
  };
}

/** MQTT: the request published (QoS 1) for an event-driven training service. */
export function mqttAction(broker: MqttBroker, topic: string): ActionRunner {
  return async (job) => {
    const request = retrainRequest(job);
    await broker.publish(topic, JSON.stringify(request), { qos: 1 });
    return { payload: request, topic, published: { topic } };
  };
}

/** The webhook's fields as the dialog saves them (flat), and its credentials. */
export interface WebhookFields {
  preset?: string;
  url?: string;
  /** Seconds. */
  timeout?: string | number;
  retries?: string | number;
  caFile?: string;
  allowHttp?: boolean;
  ghOwner?: string;
  ghRepo?: string;
  ghWorkflow?: string;
  ghRef?: string;
  jenkinsJob?: string;
  kfpPipelineId?: string;
  kfpPipelineVersionId?: string;
  kfpExperimentId?: string;
  argoNamespace?: string;
  argoTemplate?: string;
}
export interface WebhookCredentials {
  token?: string;
  username?: string;
  password?: string;
  jenkinsToken?: string;
}

/** The dialog's flat fields as parseWebhookConfig takes them; `resolve` places a CA file under the user directory. */
export function webhookFields(d: WebhookFields, c: WebhookCredentials, resolve: (file: string) => string): Record<string, unknown> {
  return {
    preset: d.preset,
    url: d.url,
    timeoutMs: d.timeout === undefined || d.timeout === '' ? undefined : Number(d.timeout) * 1000,
    retries: d.retries,
    caFile: d.caFile ? resolve(d.caFile) : undefined,
    allowHttp: d.allowHttp,
    github: { owner: d.ghOwner, repo: d.ghRepo, workflow: d.ghWorkflow, ref: d.ghRef },
    jenkins: { job: d.jenkinsJob, token: c.jenkinsToken },
    kubeflow: { pipelineId: d.kfpPipelineId, pipelineVersionId: d.kfpPipelineVersionId, experimentId: d.kfpExperimentId },
    argo: { namespace: d.argoNamespace, template: d.argoTemplate },
    credentials: { token: c.token, username: c.username, password: c.password },
  };
}
