/**
 * What `registry pull` does, without Node-RED (issue 11): from a registry's settings and the model
 * asked for to a verified model in the local store, described as a model message.
 *
 * OCI registry or layout folder: the tags (unless a digest is asked for), the version selected
 * (select.ts), the manifest (its digest checked by the source), the signature when a public key is
 * set (cosign.ts: before any blob is downloaded, so an unsigned model is never fetched), then the
 * model layer streamed into the store (artifact.ts fetchModel, digest checked while it streams).
 * MLflow: the version by alias, number or latest, its .onnx through the artifact proxy. URL: the
 * file with its expected sha256. Only a model that passed every check is added to the store's
 * index and described; the caller emits it and records the deploy.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import type { ModelInfo, RegistryInfo } from '../messages';
import { readModelMetadata } from '../onnx/model-file';
import { CodedError } from '../node-red/errors';
import { fetchModel } from './artifact';
import { verifyManifestSignature } from './cosign';
import { DistributionClient } from './distribution';
import { LayoutFolder } from './layout';
import { MlflowClient, parseSelector } from './mlflow';
import type { ArtifactSource } from './source';
import { selectVersion } from './select';
import { digestHex, type ModelStore, type StoredVersion } from './store';
import { pullUrl } from './url';

export class PullError extends CodedError {}

export type RegistryKind = 'layout' | 'oci' | 'mlflow' | 'url';
/** A layout folder's default place in the user directory. */
export const DEFAULT_LAYOUT = 'mlops-models/layout';
/** What a registry config node offers the pull nodes that use it. */
export interface RegistryConfig {
  settings(): RegistrySettings;
}
export const REGISTRY_KINDS: RegistryKind[] = ['layout', 'oci', 'mlflow', 'url'];

/** A registry config node's settings, paths resolved. */
export interface RegistrySettings {
  kind: RegistryKind;
  /** The layout folder, or the registry's / MLflow server's URL. */
  location: string;
  caFile?: string;
  allowHttp?: boolean;
  /** cosign public key (PEM); when set, unsigned or wrongly signed models are refused. */
  publicKey?: string;
  credentials?: { username?: string; password?: string; token?: string };
}

export interface PullResult {
  model: ModelInfo;
  registry: RegistryInfo;
  /** Whether it differs from the model deployed last (a poll that finds the same model emits nothing). */
  changed: boolean;
}

const since = (t0: number) => Math.round(Date.now() - t0);

export class ModelPuller {
  private readonly oci?: ArtifactSource & { close?: () => void };

  constructor(
    readonly registry: RegistrySettings,
    /** The repository (layout, oci), the registered model's name (mlflow) or the URL (url). */
    readonly model: string,
    readonly store: ModelStore,
  ) {
    const r = registry;
    if (!REGISTRY_KINDS.includes(r.kind)) throw new PullError('kind', { got: String(r.kind) }, `expected a registry kind of ${REGISTRY_KINDS.join(', ')}, got ${String(r.kind)}`);
    if (!model.trim()) throw new PullError('noModel', { kind: r.kind }, `expected the model to pull: ${r.kind === 'url' ? 'its URL' : r.kind === 'mlflow' ? 'the registered model name' : 'the repository, e.g. models/bearing-fault'}`);
    if (r.kind !== 'url' && !r.location.trim()) throw new PullError('noLocation', { kind: r.kind }, `expected the ${r.kind === 'layout' ? 'layout folder' : 'server URL'} of the registry`);
    if (r.kind === 'layout') this.oci = new LayoutFolder(r.location);
    if (r.kind === 'oci') this.oci = new DistributionClient({ url: r.location, username: r.credentials?.username || undefined, password: r.credentials?.password || r.credentials?.token || undefined, caFile: r.caFile || undefined, allowHttp: r.allowHttp });
  }

  /** Whether pulled models are checked for a signature. */
  get checksSignatures(): boolean {
    return !!this.registry.publicKey?.trim() && (this.registry.kind === 'oci' || this.registry.kind === 'layout');
  }

  /** Pulls `version` (a tag, latest, a semver range, a digest; MLflow: @alias, a number, latest; URL: the expected sha256). */
  async pull(version: string): Promise<PullResult> {
    const t0 = Date.now();
    const r = this.registry;
    if (r.kind === 'url') {
      const got = await pullUrl({ url: this.model, sha256: version, caFile: r.caFile || undefined, auth: r.credentials?.token ? { bearer: r.credentials.token } : r.credentials?.username ? { username: r.credentials.username, password: r.credentials.password ?? '' } : undefined }, this.store);
      return this.describe(got, { requested: this.model, reference: got.url, name: path.basename(new URL(got.url).pathname).replace(/\.onnx$/i, '') || 'model', signature: { verified: false }, source: 'url', timings: { download: since(t0), total: since(t0) } });
    }
    if (r.kind === 'mlflow') {
      const client = new MlflowClient({ url: r.location, caFile: r.caFile || undefined, auth: r.credentials?.token ? { token: r.credentials.token } : r.credentials?.username ? { username: r.credentials.username, password: r.credentials.password ?? '' } : undefined });
      const got = await client.pull(this.model, parseSelector(version), this.store);
      return this.describe(got, { requested: `${this.model}@${version}`, reference: `${this.model}/${got.origin.version}`, name: this.model, version: got.origin.version, signature: { verified: false }, source: 'mlflow', timings: { ...got.timings, total: since(t0) } });
    }
    const source = this.oci!;
    const repo = this.model;
    const isDigest = /^sha256:/.test(version.trim());
    const sel = isDigest ? { reference: (digestHex(version.trim()), version.trim()), how: 'digest' as const } : selectVersion(version, await source.tags(repo), repo);
    const manifest = await source.manifest(repo, sel.reference);
    const resolved = since(t0);
    let signature: RegistryInfo['signature'] = { verified: false };
    if (this.checksSignatures) {
      const s = await verifyManifestSignature(source, repo, manifest.digest, r.publicKey!);
      signature = { verified: true, key: s.key };
    }
    const verified = since(t0);
    const got = await fetchModel(source, repo, manifest.digest, this.store);
    const tag = sel.how === 'digest' ? undefined : sel.reference;
    return this.describe(got, {
      requested: `${repo}${isDigest ? '@' : ':'}${version.trim()}`,
      reference: tag ? `${repo}:${tag}` : `${repo}@${manifest.digest}`,
      registryDigest: manifest.digest,
      name: got.model.name || path.basename(repo),
      version: got.model.version || tag,
      signature,
      source: r.kind,
      timings: { resolve: resolved, verify: verified - resolved, download: since(t0) - verified, total: since(t0) },
    });
  }

  /**
   * The stored file described as a model message, once it reads as an ONNX model; added to the
   * store's index (a file that is no model is removed again and refused).
   */
  private async describe(
    got: { digest: string; path: string },
    o: { requested: string; reference: string; registryDigest?: string; name: string; version?: string; signature: RegistryInfo['signature']; source: RegistryInfo['source']; timings: Record<string, number> },
  ): Promise<PullResult> {
    let metadata: Record<string, unknown>;
    try {
      metadata = ((await readModelMetadata(got.path, { maxBytes: this.store.maxBytes })) ?? {}) as Record<string, unknown>;
    } catch (e) {
      if (!this.store.list().some((v) => v.digest === got.digest)) await fsp.rm(got.path, { force: true });
      throw new PullError('notOnnx', { reference: o.reference, reason: (e as Error).message }, `${o.reference}: expected an ONNX model, got a file that does not read as one (${(e as Error).message})`);
    }
    const name = typeof metadata.name === 'string' && metadata.name ? metadata.name : o.name;
    const version = o.version || (typeof metadata.version === 'string' ? metadata.version : '') || got.digest.slice(7, 19);
    const last = this.store.lastDeployed();
    await this.store.add({ name, version, digest: got.digest, source: o.reference, signature: o.signature });
    return {
      model: { name, version, digest: got.digest, path: got.path, format: 'onnx', metadata, source: o.reference },
      registry: { requested: o.requested, reference: o.reference, digest: o.registryDigest ?? got.digest, signature: o.signature, source: o.source, timings: o.timings },
      changed: last?.digest !== got.digest,
    };
  }

  /** The model deployed last, from the store alone (a restart offline), or undefined when there is none. */
  async restore(): Promise<PullResult | undefined> {
    const last = this.store.lastDeployed();
    return last ? this.fromStore(last) : undefined;
  }

  /** A kept version (by version or digest) from the store alone: a rollback needs no network. */
  async rollback(versionOrDigest: string): Promise<PullResult> {
    const want = versionOrDigest.trim();
    const kept = this.store.list();
    const v = kept.find((m) => m.digest === want || m.version === want);
    if (!v) throw new PullError('notKept', { want, kept: kept.map((m) => m.version).join(', ') || '-' }, `no version "${want}" kept in the local store: expected one of ${kept.map((m) => `${m.version} (${m.digest.slice(0, 19)})`).join(', ') || 'none (nothing pulled yet)'}`);
    return this.fromStore(v);
  }

  private async fromStore(v: StoredVersion): Promise<PullResult> {
    const t0 = Date.now();
    const file = this.store.blobPath(v.digest);
    const metadata = ((await readModelMetadata(file, { maxBytes: this.store.maxBytes })) ?? {}) as Record<string, unknown>;
    const last = this.store.lastDeployed();
    const reference = v.source ?? `${v.name}:${v.version}`;
    return {
      model: { name: v.name, version: v.version, digest: v.digest, path: file, format: 'onnx', metadata, source: reference },
      registry: { requested: `${v.name} ${v.version}`, reference, digest: v.digest, signature: v.signature ?? { verified: false }, source: 'store', timings: { total: since(t0) } },
      changed: last?.digest !== v.digest,
    };
  }

  /** Records that a model was emitted for deployment (what a restart deploys). */
  deployed(r: PullResult): Promise<unknown> {
    return this.store.markDeployed(r.model.digest);
  }

  close(): void {
    this.oci?.close?.();
  }
}
