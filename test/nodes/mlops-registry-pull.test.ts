/**
 * registry pull inside Node-RED (node-red-node-test-helper): a registry config node on an OCI
 * image-layout folder in the user directory, filled by the push CLI's function with the demo's
 * real model and signed in cosign's format; the model message it emits loads in onnx infer; a
 * redeploy offline restores the model deployed last; a rollback needs no registry; errors reach
 * a Catch node and say what was expected.
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { signManifest } from '../../nodes/lib/registry/cosign';
import { LayoutFolder } from '../../nodes/lib/registry/layout';
import { pushModelFile } from '../../scripts/model-push';
import { helper, stopHelper, tmpDir, waitFor } from '../support/red';
import registryNode = require('../../nodes/mlops-registry');
import pullNode = require('../../nodes/mlops-registry-pull');
import inferNode = require('../../nodes/mlops-onnx-infer');
import brokerNode = require('../../nodes/mlops-mqtt-broker');
import * as mqtt from 'mqtt';
import { formatAnnouncement } from '../../nodes/lib/registry/announce';
import { Mosquitto } from '../support/mosquitto';
import { mlpModel } from '../support/onnx-models';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

const DEMO_MODEL = path.join(__dirname, '..', '..', 'flows', 'predictive-maintenance', 'models', 'bearing-fault.onnx');
const REPO = 'models/bearing-fault';
type AnyNode = { receive(msg: unknown): void; on(ev: string, cb: (x: any) => void): void; status: { args: any[][] } };

describe('mlops-registry-pull node (layout folder, real models and signatures)', function () {
  this.timeout(60000);
  let dir: string;
  let layout: LayoutFolder;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const priv = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const digests: Record<string, string> = {};

  beforeEach(async () => {
    dir = tmpDir('registry-pull');
    layout = await LayoutFolder.create(path.join(dir, 'mlops-models', 'layout'));
    for (const v of ['1.0.0', '1.1.0']) digests[v] = (await pushModelFile(layout, DEMO_MODEL, `${REPO}:${v}`, { version: v })).digest;
    helper.settings({ userDir: dir });
    await new Promise<void>((r) => helper.startServer(() => r()));
  });
  afterEach(async () => {
    await stopHelper();
    helper.settings({});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function load(pull: Record<string, unknown>, registry: Record<string, unknown> = {}, extra: Array<{ id: string; type: string } & Record<string, unknown>> = []) {
    const flow = [
      ...extra,
      { id: 'reg', type: 'mlops-registry', kind: 'layout', location: '', publicKey: '', ...registry },
      { id: 'pull', type: 'mlops-registry-pull', registry: 'reg', model: REPO, version: 'latest', pollInterval: 0, deployOnStart: true, keep: 5, maxMB: 100, wires: [['out', 'infer']], ...pull },
      { id: 'infer', type: 'mlops-onnx-infer', modelPath: '', output: 'score', wires: [['scored']] },
      { id: 'out', type: 'helper' },
      { id: 'scored', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    await helper.load([registryNode, pullNode, inferNode, catchNode, brokerNode], flow);
    const got: any[] = [];
    const errs: any[] = [];
    const scored: any[] = [];
    (helper.getNode('out') as unknown as AnyNode).on('input', (m) => got.push(m));
    (helper.getNode('scored') as unknown as AnyNode).on('input', (m) => scored.push(m));
    (helper.getNode('caught') as unknown as AnyNode).on('input', (m) => errs.push(m));
    return { n: helper.getNode('pull') as unknown as AnyNode, infer: helper.getNode('infer') as unknown as AnyNode, got, errs, scored };
  }

  it('pulls the latest release on input, emits a model message onnx infer loads, and says it checks no signatures', async () => {
    const { n, infer, got, errs, scored } = await load({});
    await waitFor('ready', () => n.status.args.find((a) => /signatures not checked/.test(a[0].text ?? '')));
    n.receive({ topic: 'deploy' });
    const m = await waitFor('a model message', () => got[0]);
    expect(errs).to.deep.equal([]);
    expect(m.topic).to.equal('deploy');
    expect(m.model).to.include({ name: 'bearing-fault', version: '1.1.0', format: 'onnx' });
    expect(fs.readFileSync(m.model.path)).to.deep.equal(fs.readFileSync(DEMO_MODEL));
    expect(m.model.path.startsWith(path.join(dir, 'mlops-models', 'store') + path.sep)).to.equal(true);
    expect(m.registry).to.deep.include({ reference: `${REPO}:1.1.0`, digest: digests['1.1.0'], signature: { verified: false }, source: 'layout' });
    // onnx infer took the model message: it scores with it
    await waitFor('onnx infer loaded it', () => (infer as any).log.args.find((a: any[]) => /loaded/.test(String(a[0]))));
    infer.receive({ payload: new Array(40).fill(0) });
    const p = await waitFor('a prediction', () => scored[0]);
    expect(p.inference.model).to.deep.equal({ name: 'bearing-fault', version: '1.1.0', digest: m.model.digest });
  });

  it('with a public key: an unsigned model fails to the Catch node saying so; once signed it is pulled, verified', async () => {
    const { n, got, errs } = await load({ version: '1.0.0' }, { publicKey: pub });
    n.receive({});
    const e = await waitFor('the refusal', () => errs[0]);
    expect(e.error.message).to.match(new RegExp(`unsigned: no signature sha256-${digests['1.0.0'].slice(7)}.sig in ${REPO}`));
    expect(got).to.deep.equal([]);
    expect(fs.readdirSync(path.join(dir, 'mlops-models', 'store', 'pull', 'blobs', 'sha256'))).to.deep.equal([]);
    await signManifest(layout, REPO, digests['1.0.0'], priv, { source: layout });
    n.receive({});
    const m = await waitFor('a model message', () => got[0]);
    expect(m.registry.signature.verified).to.equal(true);
    expect(m.registry.signature.key).to.match(/^sha256:[0-9a-f]{64}$/);
    await waitFor('the status says verified', () => n.status.args.find((a) => /bearing-fault 1.0.0.*signature verified/.test(a[0].text ?? '')));
  });

  it('a redeploy with the registry gone restores the model deployed last; a rollback needs no registry', async () => {
    let f = await load({});
    f.n.receive({ version: '1.0.0' });
    await waitFor('1.0.0', () => f.got[0]);
    f.n.receive({});
    await waitFor('1.1.0', () => f.got[1]);
    await helper.unload();
    fs.rmSync(path.join(dir, 'mlops-models', 'layout'), { recursive: true, force: true });
    f = await load({});
    const restored = await waitFor('the restored model', () => f.got[0]);
    expect(restored.model.version).to.equal('1.1.0');
    expect(restored.registry.source).to.equal('store');
    f.n.receive({ rollback: '1.0.0' });
    const back = await waitFor('the rollback', () => f.got[1]);
    expect(back.model.version).to.equal('1.0.0');
    expect(back.registry.source).to.equal('store');
    f.n.receive({ rollback: '0.1.0' });
    const e = await waitFor('the refused rollback', () => f.errs[0]);
    expect(e.error.message).to.match(/no version "0.1.0" kept in the local store: expected one of 1.1.0, 1.0.0/);
    // a pull now fails (no registry), to the Catch node, and the model in use stays
    f.n.receive({});
    await waitFor('the failed pull', () => f.errs[1]);
    expect(f.got).to.have.length(2);
  });

  it('an MQTT announcement (reference and digest, never the model) pulls the manifest it names; others are ignored', async () => {
    const broker = await Mosquitto.start();
    const client = await mqtt.connectAsync(broker.url, { clientId: `announcer-${process.pid}` });
    try {
      const { n, got, errs } = await load({ version: '1.0.0', mqttBroker: 'b', mqttTopic: 'models/announce/#', deployOnStart: false }, {}, [
        { id: 'b', type: 'mlops-mqtt-broker', name: 'central', url: broker.url, clientId: '', caFile: '', keepalive: 60, cleanSession: true },
      ]);
      await waitFor('subscribed', () => n.status.args.find((a) => /ready/.test(a[0].text ?? '')));
      await new Promise((r) => setTimeout(r, 500)); // the subscription reaches the broker
      // for another repository: ignored; not JSON: ignored with a warning; ours: pulled
      await client.publishAsync('models/announce/other', formatAnnouncement({ repository: 'models/other', reference: '2.0.0', digest: digests['1.0.0'] }));
      await client.publishAsync('models/announce/bad', 'not json');
      await client.publishAsync('models/announce/bearing', formatAnnouncement({ repository: REPO, reference: '1.1.0', digest: digests['1.1.0'] }));
      const m = await waitFor('the announced model', () => got[0]);
      expect(m.registry).to.deep.include({ reference: `${REPO}@${digests['1.1.0']}`, digest: digests['1.1.0'], source: 'layout' });
      expect(m.model.version).to.equal('1.1.0');
      expect(got).to.have.length(1);
      expect(errs).to.deep.equal([]);
      expect((n as any).warn.args.some((a: any[]) => /announcement was ignored/.test(String(a[0])))).to.equal(true);
    } finally {
      await client.endAsync();
      await helper.unload(); // the flow's broker client ends before the broker does
      await broker.stop();
    }
  });

  it('polling emits a new release once, and nothing while the model is the one deployed', async function () {
    this.timeout(60000);
    const { n, got, errs } = await load({ version: '^1.0', pollInterval: 10, deployOnStart: false });
    n.receive({});
    await waitFor('1.1.0', () => got[0]);
    // the first poll (10 s) finds the model deployed: no message, "up to date"
    await waitFor('up to date', () => n.status.args.find((a) => /bearing-fault 1.1.0 · up to date/.test(a[0].text ?? '')), 15000, 100);
    expect(got).to.have.length(1);
    // a release with other weights appears: the next poll sends it (a tag of the same file would not be a change)
    const file = path.join(dir, 'retrained.onnx');
    fs.writeFileSync(file, mlpModel({ sizes: [40, 8, 1], head: 'sigmoid', metadata: { name: 'bearing-fault', version: '1.2.0' } }));
    const d = (await pushModelFile(layout, file, `${REPO}:1.2.0`)).digest;
    const m = await waitFor('1.2.0 by the poll', () => got[1], 15000, 100);
    expect(m.registry).to.deep.include({ reference: `${REPO}:1.2.0`, digest: d });
    expect(errs).to.deep.equal([]);
  });

  it('an unreachable registry: retried with backoff (10 s, 20 s ...), logged once when it starts and once when it ends', async function () {
    this.timeout(90000);
    const layoutDir = path.join(dir, 'mlops-models', 'layout');
    const saved = path.join(dir, 'layout-away');
    fs.renameSync(layoutDir, saved); // the registry is gone
    const { n, got } = await load({ pollInterval: 10, deployOnStart: false });
    const errors = () => (n as any).error.args.filter((a: any[]) => /polling the registry failed/.test(String(a[0])));
    await waitFor('the first failed poll', () => (errors().length ? true : undefined), 15000, 100);
    const t0 = Date.now();
    // the retry after about 10 s fails too: not logged again
    await waitFor('a second failed try', () => (Date.now() - t0 > 12000 ? true : undefined), 15000, 200);
    expect(errors()).to.have.length(1);
    expect(n.status.args.at(-1)![0]).to.include({ fill: 'red' });
    fs.renameSync(saved, layoutDir); // back: the next retry (about 20 s later) pulls and says so once
    const m = await waitFor('the model after the outage', () => got[0], 30000, 100);
    expect(m.model.version).to.equal('1.1.0');
    expect((n as any).log.args.filter((a: any[]) => /the registry answers again: bearing-fault 1.1.0/.test(String(a[0])))).to.have.length(1);
    expect(errors()).to.have.length(1);
  });

  it('a bad configuration refuses every message, saying why', async () => {
    const { n, errs } = await load({ pollInterval: 5 });
    n.receive({});
    const e = await waitFor('the refusal', () => errs[0]);
    expect(e.error.message).to.match(/the poll interval must be 0 \(off\) or at least 10 seconds, got 5/);
    expect(n.status.args.some((a) => a[0].fill === 'red')).to.equal(true);
  });
});
