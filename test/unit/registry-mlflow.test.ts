/**
 * The MLflow source of registry pull (nodes/lib/registry/mlflow.ts) against the fake MLflow server
 * (test/support/mlflow-fake.ts, which answers as MLflow's REST API does: no MLflow installs here):
 * by alias, version and latest, a missing alias (MLflow's 400), basic and bearer auth, the .onnx
 * streamed into a real ModelStore with its sha256 computed, and the folders and URIs refused.
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { MlflowClient, MlflowError, artifactPath, parseSelector } from '../../nodes/lib/registry/mlflow';
import { ModelStore } from '../../nodes/lib/registry/store';
import { MlflowFake } from '../support/mlflow-fake';
import { tmpDir } from '../support/red';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const onnx = (n: number) => Buffer.alloc(70_000 + n, n);
const files = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.relative(dir, path.join(d.parentPath ?? d.path, d.name))).sort();

async function rejection(p: Promise<unknown>): Promise<MlflowError> {
  try {
    await p;
  } catch (e) {
    return e as MlflowError;
  }
  throw new Error('expected a rejection');
}

describe('registry: MLflow Model Registry source', () => {
  let fake: MlflowFake;
  let dir: string;
  const mlmodel = 'flavors:\n  onnx:\n    data: model.onnx\n';
  async function fill(f: MlflowFake) {
    f.addVersion('bearing-fault', { files: { MLmodel: mlmodel, 'model.onnx': onnx(1), 'requirements.txt': 'onnx\n' }, tags: { rmse: '15.1' } });
    f.addVersion('bearing-fault', { files: { MLmodel: mlmodel, 'model.onnx': onnx(2) } });
    f.addVersion('bearing-fault', { files: { MLmodel: mlmodel, 'model.onnx': onnx(3) } });
    f.addVersion('bearing-fault', { status: 'PENDING_REGISTRATION', files: { 'model.onnx': onnx(4) } });
    f.setAlias('bearing-fault', 'champion', '2');
  }
  beforeEach(() => {
    dir = tmpDir('mlflow');
  });
  afterEach(async () => {
    await fake?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('resolves @alias, a version and latest (the highest READY version, across search pages)', async () => {
    fake = await MlflowFake.start();
    await fill(fake);
    const c = new MlflowClient({ url: fake.url });
    const champ = await c.resolve('bearing-fault', parseSelector('@champion'));
    expect([champ.version, champ.aliases, champ.status]).to.deep.equal(['2', ['champion'], 'READY']);
    expect(typeof champ.version).to.equal('string');
    expect((await c.resolve('bearing-fault', parseSelector('1'))).tags).to.deep.equal([{ key: 'rmse', value: '15.1' }]);
    expect((await c.resolve('bearing-fault', parseSelector('latest'))).version).to.equal('3');
    // search paged (2 per page in the fake): the client followed next_page_token
    expect(fake.requests.filter((r) => r.url.includes('/model-versions/search')).map((r) => new URL(r.url, fake.url).searchParams.get('page_token'))).to.deep.equal([null, '2']);
    expect(fake.requests.some((r) => r.url.startsWith('/api/2.0/mlflow/registered-models/alias?name=bearing-fault&alias=champion'))).to.equal(true);
  });

  it('maps MLflow\'s 400 for a missing alias, its 404s and a version not READY to errors that say what was expected', async () => {
    fake = await MlflowFake.start();
    await fill(fake);
    const c = new MlflowClient({ url: fake.url });
    const alias = await rejection(c.resolve('bearing-fault', { alias: 'staging' }));
    expect(alias.code).to.equal('aliasNotFound');
    expect(alias.message).to.equal('no alias @staging on model "bearing-fault": MLflow answered HTTP 400 INVALID_PARAMETER_VALUE: Registered model alias staging not found.');
    const version = await rejection(c.resolve('bearing-fault', { version: '9' }));
    expect(version.code).to.equal('versionNotFound');
    expect(version.message).to.match(/no version 9 of model "bearing-fault".*HTTP 404 RESOURCE_DOES_NOT_EXIST: Model Version \(name=bearing-fault, version=9\) not found/);
    expect((await rejection(c.resolve('pump', { alias: 'champion' }))).code).to.equal('modelNotFound');
    expect((await rejection(c.resolve('pump', { latest: true }))).message).to.match(/expected model "pump" to have a version, MLflow lists none/);
    const pending = await rejection(c.resolve('bearing-fault', { version: '4' }));
    expect(pending.message).to.equal('model "bearing-fault" version 4: expected status READY, MLflow says PENDING_REGISTRATION');
    expect(() => parseSelector('champion')).to.throw(/expected an MLflow alias \(@champion\), a version number \(7\) or "latest"/);
  });

  it('streams the .onnx of a version into the store, its sha256 computed, and says where it came from', async () => {
    fake = await MlflowFake.start();
    await fill(fake);
    const store = await ModelStore.open(dir);
    const c = new MlflowClient({ url: fake.url });
    const r = await c.pull('bearing-fault', { alias: 'champion' }, store);
    expect(r.digest).to.equal(sha(onnx(2)));
    expect(r.size).to.equal(onnx(2).length);
    expect(fs.readFileSync(r.path)).to.deep.equal(onnx(2));
    expect(r.origin).to.deep.include({ reference: 'bearing-fault@champion', resolved: 'bearing-fault:2', server: fake.url, name: 'bearing-fault', version: '2', aliases: ['champion'], selector: '@champion', artifact: `mlflow-artifacts:/1/${r.origin.run_id}/artifacts/model/model.onnx` });
    expect(r.origin.source).to.equal(`mlflow-artifacts:/1/${r.origin.run_id}/artifacts/model`);
    expect(r.origin.creation_timestamp).to.be.a('number');
    expect(r.timings.total).to.be.at.least(r.timings.download);
    await store.add({ name: r.origin.name, version: r.origin.version, digest: r.digest, source: `mlflow ${r.origin.server} ${r.origin.name}@champion` });
    expect(store.list().map((m) => [m.version, m.digest, m.size])).to.deep.equal([['2', sha(onnx(2)), onnx(2).length]]);
    // the file listing, then the one .onnx through the artifact proxy
    const paths = fake.requests.map((q) => q.url.split('?')[0]);
    expect(paths.slice(-3)).to.deep.equal(['/api/2.0/mlflow/model-versions/get-download-uri', '/api/2.0/mlflow-artifacts/artifacts', `/api/2.0/mlflow-artifacts/artifacts/1/${r.origin.run_id}/artifacts/model/model.onnx`]);
    // nothing but the blob and the index in the store: the temporary file is gone
    expect(files(dir)).to.deep.equal([`blobs/sha256/${r.digest.slice(7)}`, 'index.json']);
  });

  it('refuses a version with several .onnx files, or none, and artifacts the server does not proxy, writing nothing', async () => {
    fake = await MlflowFake.start();
    fake.addVersion('m', { files: { 'a.onnx': onnx(1), 'b.onnx': onnx(2), MLmodel: mlmodel } });
    fake.addVersion('m', { files: { MLmodel: mlmodel, 'model.pkl': 'x' } });
    fake.addVersion('m', { artifactUri: 's3://bucket/1/abc/artifacts/model' });
    const store = await ModelStore.open(dir);
    const before = files(dir);
    const c = new MlflowClient({ url: fake.url });
    const several = await rejection(c.pull('m', { version: '1' }, store));
    expect(several.code).to.equal('severalOnnx');
    expect(several.message).to.match(/model "m" version 1: expected exactly one \.onnx file in its artifacts \(mlflow-artifacts:\/1\/.*\), found 2: a\.onnx, b\.onnx/);
    expect((await rejection(c.pull('m', { version: '2' }, store))).message).to.match(/found none among: MLmodel, model\.pkl/);
    const s3 = await rejection(c.pull('m', { version: '3' }, store));
    expect(s3.code).to.equal('artifactScheme');
    expect(s3.message).to.match(/s3: URIs are not supported: serve artifacts through the MLflow server \(mlflow server --serve-artifacts\)/);
    fake.serveArtifacts = false;
    expect((await rejection(c.pull('m', { version: '1' }, store))).message).to.match(/the MLflow server does not serve artifacts: start it with --serve-artifacts/);
    expect(files(dir)).to.deep.equal(before);
    expect(() => artifactPath('mlflow-artifacts:/1/../../etc')).to.throw(/without "\." or "\.\." parts/);
    expect(artifactPath('mlflow-artifacts://mlflow:5000/1/abc/artifacts/model/')).to.equal('1/abc/artifacts/model');
  });

  it('sends basic credentials; a wrong password or none is MLflow asking for credentials, never echoed', async () => {
    fake = await MlflowFake.start({ users: { admin: 'pa:ss w0rd' } });
    await fill(fake);
    const store = await ModelStore.open(dir);
    const ok = await new MlflowClient({ url: fake.url, auth: { username: 'admin', password: 'pa:ss w0rd' } }).pull('bearing-fault', { version: '3' }, store);
    expect(ok.digest).to.equal(sha(onnx(3)));
    expect(fake.requests.every((r) => r.authorization === `Basic ${Buffer.from('admin:pa:ss w0rd').toString('base64')}`)).to.equal(true);
    const wrong = await rejection(new MlflowClient({ url: fake.url, auth: { username: 'admin', password: 'secret-guess' } }).resolve('bearing-fault', { alias: 'champion' }));
    expect(wrong.code).to.equal('unauthorized');
    expect(wrong.message).to.equal('model "bearing-fault" @champion: MLflow asks for credentials (basic auth): the username and password (or token) configured were not accepted (HTTP 401)');
    expect(wrong.message + JSON.stringify(wrong.params)).not.to.match(/secret-guess|c2VjcmV0/);
    expect((await rejection(new MlflowClient({ url: fake.url }).resolve('bearing-fault', { version: '1' }))).message).to.match(/MLflow asks for credentials \(basic auth\): none are configured/);
    await fake.close();
    fake = await MlflowFake.start({ users: { viewer: 'v' }, noRead: ['viewer'] });
    const denied = await rejection(new MlflowClient({ url: fake.url, auth: { username: 'viewer', password: 'v' } }).resolve('bearing-fault', { version: '1' }));
    expect(denied.code).to.equal('forbidden');
    expect(denied.message).to.match(/no permission to read it \(expected READ permission on the model\): MLflow answered HTTP 403: Permission denied/);
  });

  it('sends a bearer token when one is configured', async () => {
    fake = await MlflowFake.start({ token: 'tok-123' });
    await fill(fake);
    expect((await new MlflowClient({ url: fake.url, auth: { token: 'tok-123' } }).resolve('bearing-fault', { alias: 'champion' })).version).to.equal('2');
    const bad = await rejection(new MlflowClient({ url: fake.url, auth: { token: 'nope-456' } }).resolve('bearing-fault', { alias: 'champion' }));
    expect(bad.code).to.equal('unauthorized');
    expect(bad.message).not.to.include('nope-456');
  });
});
