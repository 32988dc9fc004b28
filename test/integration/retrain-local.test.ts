/**
 * Local retraining (nodes/lib/retrain/local.ts): the demo's bearing-fault classifier, trained on
 * condition A only, is the deployed model; a fleet of simulated machines gives a dataset of
 * labelled windows of A, then of B (the demo's switch). A retrain in the worker thread must give
 * a candidate with the same features, the next version, metadata v2 whose domain covers B, and
 * metrics on the held-out B windows at least as good as the deployed model's. Plus the refusals
 * (with their codes) and an abort that ends the worker.
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { domainCheck } from '../../nodes/lib/drift/domain';
import { atLeastAsGood, compareMetrics } from '../../nodes/lib/approval/summary';
import { readModelMetadata } from '../../nodes/lib/onnx/model-file';
import { METADATA_VERSION, type ModelMetadata } from '../../nodes/lib/model-metadata';
import { referenceFromData, toOnnx } from '../../nodes/lib/model/export';
import { domainFromData } from '../../nodes/lib/drift/domain';
import { trainAutoencoder, trainMlp } from '../../nodes/lib/model/trainer';
import { gaussian } from '../../nodes/lib/random';
import { nextVersion, RETRAIN_CATALOG, trainCandidate, type CandidateResult } from '../../nodes/lib/retrain/local';
import { DEFAULT_OUT as DEMO_MODEL, FAULT_ABOVE, simulateWindows, type Scenario } from '../../scripts/train-demo-model';

interface Row {
  t: number;
  id: string;
  x: number[];
  y?: number | string;
  condition: number;
}

/** The time scales of the fleet: the demo's 30x and 60x (windows of 30 and 60 simulated s). */
const TICKS_S = [0.6, 1.2];
const DURATION_S = 4200;

/**
 * A fleet's windows: machines in condition A for the first 4200 s of the dataset's clock, then
 * machines that changed to B (1800 rpm, 85 % load) for the next 4200 s, among them one whose fault
 * is fully developed early (the range of severities in B is seen in training). Labels as
 * train-demo-model.ts makes them ("healthy", "fault"; windows in between unlabelled).
 */
function fleetRows(): Row[] {
  const phaseA: Scenario[] = [
    { name: 'A healthy', machine: { seed: 141 }, durationS: DURATION_S },
    { name: 'A fault', machine: { seed: 143, faultOnsetS: 600, faultGrowthS: 2400 }, durationS: DURATION_S },
  ];
  const phaseB: Scenario[] = [
    { name: 'B healthy 1', machine: { seed: 144, conditionChangeAtS: 300 }, durationS: DURATION_S },
    { name: 'B healthy 2', machine: { seed: 147, conditionChangeAtS: 0 }, durationS: DURATION_S },
    { name: 'B fault', machine: { seed: 145, faultOnsetS: 600, faultGrowthS: 2400, conditionChangeAtS: 300 }, durationS: DURATION_S },
    { name: 'B early fault', machine: { seed: 146, faultOnsetS: 0, faultGrowthS: 1200, conditionChangeAtS: 0 }, durationS: DURATION_S },
  ];
  const rows: Row[] = [];
  const add = (scs: Scenario[], offsetS: number) => {
    for (const sc of scs) {
      for (const tickS of TICKS_S) {
        for (const w of simulateWindows({ ...sc, tickS }).windows) {
          const r: Row = { t: Math.round((offsetS + w.endS) * 1000), id: `${sc.name}@${tickS}`, x: w.features, condition: w.condition };
          if (w.label >= 0) r.y = w.label === 1 ? 'fault' : 'healthy';
          rows.push(r);
        }
      }
    }
  };
  add(phaseA, 0);
  add(phaseB, DURATION_S);
  // the buffer appends in arrival order: by time
  return rows.sort((a, b) => a.t - b.t);
}

/** Writes a dataset as the training-data buffer does: dataset-<ts>.jsonl and its manifest. */
function writeDataset(dir: string, features: string[], rows: Array<Omit<Row, 'condition'>>, tweak: (m: Record<string, unknown>) => void = () => undefined): string {
  const ts = Date.now();
  const file = `dataset-${ts}.jsonl`;
  const text = rows.map((r) => JSON.stringify({ t: r.t, id: r.id, x: r.x, ...(r.y !== undefined ? { y: r.y } : {}) })).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, file), text);
  const manifest: Record<string, unknown> = {
    file,
    rows: rows.length,
    labelled: rows.filter((r) => r.y !== undefined).length,
    features,
    span: { start: new Date(rows[0].t).toISOString(), end: new Date(rows[rows.length - 1].t).toISOString() },
    bytes: Buffer.byteLength(text),
    sha256: createHash('sha256').update(text).digest('hex'),
    createdAt: new Date(ts).toISOString(),
    source: 'mlops-retrain-trigger buffer',
  };
  tweak(manifest);
  const p = path.join(dir, `dataset-${ts}-${Math.random().toString(36).slice(2, 8)}.manifest.json`);
  fs.writeFileSync(p, JSON.stringify(manifest));
  return p;
}

const stats = (v: number[]) => ({ mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v), max: Math.max(...v) });
const fmt = (s: { mean: number; min: number; max: number }, d = 4) => `${s.mean.toFixed(d)} (${s.min.toFixed(d)}..${s.max.toFixed(d)})`;

async function expectCode(p: Promise<unknown>, code: string): Promise<Error & { code: string; params: Record<string, unknown>; catalog?: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as Error & { code: string; params: Record<string, unknown>; catalog?: string };
    expect(err.code, err.message).to.equal(code);
    expect(err.catalog).to.equal(RETRAIN_CATALOG);
    return err;
  }
  throw new Error(`expected a refusal with code ${code}`);
}

describe('retrain: a local candidate trained in a worker thread', function () {
  this.timeout(180000);
  let dir: string;
  let features: string[];
  let rows: Row[];
  let manifest: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-retrain-local-'));
    const meta = await readModelMetadata(DEMO_MODEL);
    features = meta!.features!;
    rows = fleetRows();
    manifest = writeDataset(dir, features, rows);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('bumps versions: patch of a semantic version, else the last number, else ".1"', () => {
    expect(nextVersion('1.0.0')).to.equal('1.0.1');
    expect(nextVersion('2.3.9-rc.1')).to.equal('2.3.9');
    expect(nextVersion('v7')).to.equal('v8');
    expect(nextVersion('2024.09')).to.equal('2024.10');
    expect(nextVersion('gamma')).to.equal('gamma.1');
  });

  it('retrains the demo classifier on windows of A and B: same features, next version, a domain that covers B, held-out B metrics at least as good (3 seeds)', async () => {
    const deployedMeta = (await readModelMetadata(DEMO_MODEL))!;
    const labelled = rows.filter((r) => r.y !== undefined);
    const usable = labelled.length;
    const heldCount = Math.round(usable * 0.2);
    const heldRows = labelled.slice(usable - heldCount);
    // the held-out slice is the last 20 % by time: all windows of B here
    expect(heldRows.every((r) => r.condition === 1)).to.equal(true);
    expect(new Set(heldRows.map((r) => r.y)).size).to.equal(2);

    const figures: { seed: number; r: CandidateResult; ms: number }[] = [];
    for (const seed of [1, 2, 3]) {
      const out = path.join(dir, `out-${seed}`);
      const progress: number[] = [];
      const t0 = Date.now();
      const r = await trainCandidate({ manifest, deployed: { path: DEMO_MODEL }, outDir: out, seed, onProgress: (p) => progress.push(p.epoch) });
      figures.push({ seed, r, ms: Date.now() - t0 });
      // the deployed model's recipe: 30 epochs, every one reported
      expect(progress).to.deep.equal(Array.from({ length: 30 }, (_, i) => i + 1));

      const m = r.metadata;
      expect(m.name).to.equal('bearing-fault');
      expect(m.version).to.equal('1.0.1');
      expect(m.kind).to.equal('classifier');
      expect(m.features).to.deep.equal(deployedMeta.features);
      expect(m.classes).to.deep.equal(['healthy', 'fault']);
      expect(m.metadataVersion).to.equal(METADATA_VERSION).and.to.equal(2);
      expect(m.domain!.features).to.deep.equal(features);
      expect(m.reference!.features[features[0]].count).to.equal(r.evaluation.trainRows);
      expect(path.basename(r.file)).to.equal('bearing-fault-1.0.1.onnx');
      expect(fs.readdirSync(out)).to.deep.equal(['bearing-fault-1.0.1.onnx']);
      expect(r.digest).to.equal('sha256:' + createHash('sha256').update(fs.readFileSync(r.file)).digest('hex'));
      expect(r.evaluation.rows).to.equal(heldCount);
      expect(r.evaluation.trainRows).to.equal(usable - heldCount);
      const prov = m.provenance as Record<string, any>;
      expect(prov.dataset.sha256).to.equal('sha256:' + JSON.parse(fs.readFileSync(manifest, 'utf8')).sha256);
      expect(prov.dataset.span).to.deep.equal({ start: new Date(rows[0].t).toISOString(), end: new Date(rows[rows.length - 1].t).toISOString() });
      expect(prov.parent.digest).to.equal('sha256:' + createHash('sha256').update(fs.readFileSync(DEMO_MODEL)).digest('hex'));
      expect(prov.parent.version).to.equal('1.0.0');
      expect(prov.trainedAt).to.be.a('string');
      expect(prov.trainingMs).to.equal(r.trainingMs).and.to.be.above(0);
      expect(prov.trainer.seed).to.equal(seed);
      expect(m.metrics!.accuracy).to.equal(r.evaluation.candidate.accuracy);
      expect(m.metrics!.testRows).to.equal(heldCount);

      // candidate at least as good as the deployed model on every metric of known direction
      const rowsCmp = compareMetrics(r.evaluation.candidate, r.evaluation.deployed);
      expect(rowsCmp.filter((x) => x.goal).map((x) => x.name)).to.deep.equal(['accuracy', 'auc', 'f1', 'outOfDomain']);
      expect(atLeastAsGood(rowsCmp, 0), JSON.stringify(r.evaluation)).to.equal(true);
      // B is outside the deployed model's domain, inside the candidate's
      expect(r.evaluation.deployed.outOfDomain).to.be.above(0.9);
      expect(r.evaluation.candidate.outOfDomain).to.be.at.most(0.1);
      const check = domainCheck(m.domain)!;
      const ood = heldRows.filter((w) => check.check(w.x).out).length / heldRows.length;
      expect(Math.round(ood * 1e6) / 1e6).to.equal(r.evaluation.candidate.outOfDomain);

      // the file loads in onnxruntime and scores the held-out windows as the evaluation says
      const written = (await readModelMetadata(r.file))!;
      expect(written.version).to.equal('1.0.1');
      expect(written.features).to.deep.equal(features);
      expect(written.metrics).to.deep.equal(m.metrics);
      const session = await ort.InferenceSession.create(r.file);
      const x = Float32Array.from(heldRows.flatMap((w) => w.x));
      const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [heldRows.length, features.length]) });
      const p = res[session.outputNames[0]].data as Float32Array;
      await session.release();
      let correct = 0;
      heldRows.forEach((w, i) => (correct += (p[i] >= 0.5 ? 'fault' : 'healthy') === w.y ? 1 : 0));
      expect(Math.round((correct / heldRows.length) * 1e6) / 1e6).to.equal(r.evaluation.candidate.accuracy);
    }

    const pick = (who: 'candidate' | 'deployed', k: string) => stats(figures.map((f) => f.r.evaluation[who][k]));
    console.log(`      dataset: ${rows.length} windows (${usable} labelled), ${figures[0].r.evaluation.trainRows} to train, ${heldCount} held out (the last 20 % by time, all in condition B)`);
    for (const k of ['accuracy', 'auc', 'f1', 'outOfDomain']) {
      console.log(`      ${k.padEnd(12)} candidate ${fmt(pick('candidate', k))}   deployed ${fmt(pick('deployed', k))}   (mean (min..max) over seeds 1, 2, 3)`);
    }
    for (const f of figures) {
      const e = f.r.evaluation;
      console.log(`      seed ${f.seed}: candidate accuracy ${e.candidate.accuracy}, auc ${e.candidate.auc}, f1 ${e.candidate.f1}, out of domain ${e.candidate.outOfDomain}; training ${f.r.trainingMs} ms, whole retrain ${f.ms} ms`);
    }
  });

  it('refuses a dataset without labels for a classifier (labelsNeeded)', async () => {
    const m = writeDataset(dir, features, rows.slice(0, 300).map(({ y: _y, condition: _c, ...r }) => r));
    const err = await expectCode(trainCandidate({ manifest: m, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'nolabels') }), 'labelsNeeded');
    expect(err.message).to.equal('the deployed model is a classifier: a retrain needs labels, got 0 labelled rows of 300');
    expect(err.params).to.deep.equal({ kind: 'classifier', labelled: 0, rows: 300 });
    expect(fs.existsSync(path.join(dir, 'nolabels')) ? fs.readdirSync(path.join(dir, 'nolabels')) : []).to.deep.equal([]);
  });

  it('refuses a dataset that lacks one of the deployed features, naming the missing and the extra ones (featuresDiffer, featuresMissing)', async () => {
    const renamed = features.map((f) => (f === 'speed.mean' ? 'speed.average' : f));
    const m = writeDataset(dir, renamed, rows.slice(0, 300));
    const err = await expectCode(trainCandidate({ manifest: m, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'missing') }), 'featuresDiffer');
    expect(err.params).to.deep.equal({ count: 1, total: 40, missing: 'speed.mean', extra: 'speed.average' });
    expect(err.message).to.equal("the dataset lacks 1 of the deployed model's 40 features: speed.mean, and has others instead: speed.average; a candidate takes exactly the deployed model's features");
    const keep = features.filter((f) => !f.startsWith('speed.'));
    const fewer = writeDataset(dir, keep, rows.slice(0, 300).map((r) => ({ ...r, x: keep.map((f) => r.x[features.indexOf(f)]) })));
    const err2 = await expectCode(trainCandidate({ manifest: fewer, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'missing') }), 'featuresMissing');
    expect(err2.message).to.equal(
      "the dataset lacks 10 of the deployed model's 40 features: speed.mean, speed.std, speed.min, speed.max, speed.rms, speed.p2p, speed.skewness, speed.kurtosis, … (10); a candidate takes exactly the deployed model's features",
    );
  });

  it('picks the features by name: a dataset with its columns in another order and an extra column trains the same candidate', async () => {
    const order = [...features].reverse();
    const shuffled = [...order, 'extra.noise'];
    const sub = rows.filter((r) => r.y !== undefined);
    const m = writeDataset(
      dir,
      shuffled,
      sub.map((r) => ({ t: r.t, id: r.id, y: r.y, x: [...order.map((f) => r.x[features.indexOf(f)]), Math.sin(r.t)] })),
    );
    const direct = writeDataset(dir, features, sub);
    const a = await trainCandidate({ manifest: m, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'byname'), epochs: 3, version: '1.1.0' });
    const b = await trainCandidate({ manifest: direct, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'direct'), epochs: 3, version: '1.1.0' });
    expect(a.metadata.features).to.deep.equal(features);
    expect(a.evaluation).to.deep.equal(b.evaluation);
    expect(path.basename(a.file)).to.equal('bearing-fault-1.1.0.onnx');
  });

  it('refuses labels that do not fit, a dataset that does not match its sha256, too few rows and bad options, each with its code', async () => {
    const bad = writeDataset(dir, features, rows.slice(0, 300).map((r, i) => (i === 7 ? { ...r, y: 'broken' } : r)));
    const e1 = await expectCode(trainCandidate({ manifest: bad, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'x') }), 'labelClass');
    expect(e1.message).to.match(/^line 8 of dataset .*\.jsonl: the label "broken" is not one of the classifier's classes: expected 0, 1, "healthy" or "fault"$/);
    expect(e1.params).to.include({ line: 8, label: '"broken"', negative: 'healthy', positive: 'fault' });

    const tampered = writeDataset(dir, features, rows.slice(0, 300), (m) => (m.sha256 = '0'.repeat(64)));
    const e2 = await expectCode(trainCandidate({ manifest: tampered, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'x') }), 'datasetChanged');
    expect(e2.message).to.contain('has changed since its manifest was written');

    const few = writeDataset(dir, features, rows.filter((r) => r.y !== undefined).slice(0, 40));
    const e3 = await expectCode(trainCandidate({ manifest: few, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'x') }), 'tooFewRows');
    expect(e3.message).to.equal('40 usable rows of 40 (32 to train, 8 held out): a retrain needs at least 50 to train and 10 held out');

    const e4 = await expectCode(trainCandidate({ manifest, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'x'), holdout: 1.5 }), 'badHoldout');
    expect(e4.message).to.equal('option holdout is 1.5: expected a share between 0 and 1 (default 0.2)');
    await expectCode(trainCandidate({ manifest, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'x'), epochs: 0 }), 'badEpochs');
    await expectCode(trainCandidate({ manifest, deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'x'), version: '1.0.0' }), 'sameVersion');
    await expectCode(trainCandidate({ manifest, deployed: { path: path.join(dir, 'nothing.onnx') }, outDir: path.join(dir, 'x') }), 'deployedRead');
    await expectCode(trainCandidate({ manifest: path.join(dir, 'none.json'), deployed: { path: DEMO_MODEL }, outDir: path.join(dir, 'x') }), 'readFailed');
  });

  it('retrains a regressor (rmse, mae, output.range of its training targets) and an autoencoder without labels (loss, outOfDomain)', async () => {
    const names = ['s.a', 's.b', 's.c', 's.d'];
    const g = gaussian(5);
    // condition A around 0; the dataset drifts to B (offset +3 on a and b) half-way
    const sample = (shift: number) => {
      const x = [g() + shift, g() + shift, g(), g()];
      return { x, y: 10 + 4 * x[0] - 2 * x[1] + x[2] * x[3] + 0.1 * g() };
    };
    const a = Array.from({ length: 600 }, () => sample(0));
    const common = { epochs: 20, batchSize: 32, learningRate: 0.01, seed: 3 };
    const write = async (kind: 'regressor' | 'autoencoder') => {
      const model = kind === 'regressor' ? await trainMlp({ x: a.map((r) => r.x), y: a.map((r) => r.y), task: 'regression', hidden: [16], ...common }) : await trainAutoencoder({ x: a.map((r) => r.x), hidden: [3], ...common });
      const x = a.map((r) => r.x);
      const meta: ModelMetadata = {
        name: `synthetic-${kind}`,
        version: '2.4.0',
        kind,
        features: names,
        output: { name: kind === 'regressor' ? 'load' : 'anomaly score' },
        reference: referenceFromData(names, x),
        domain: domainFromData(names, x),
        metadataVersion: METADATA_VERSION,
        provenance: { trainer: { hidden: kind === 'regressor' ? [16] : [3], ...common } },
      };
      const file = path.join(dir, `synthetic-${kind}.onnx`);
      fs.writeFileSync(file, toOnnx(model, meta));
      return file;
    };
    const data = [...Array.from({ length: 400 }, () => sample(0)), ...Array.from({ length: 800 }, () => sample(3))].map((r, i) => ({ t: 1.7e12 + i * 1000, id: 'm1', ...r }));
    const reversed = [...names].reverse();
    const m = writeDataset(dir, reversed, data.map((r) => ({ t: r.t, id: r.id, x: reversed.map((f) => r.x[names.indexOf(f)]), y: r.y })));

    const reg = await trainCandidate({ manifest: m, deployed: { path: await write('regressor') }, outDir: path.join(dir, 'reg') });
    expect(reg.metadata.kind).to.equal('regressor');
    expect(reg.metadata.version).to.equal('2.4.1');
    expect(reg.metadata.features).to.deep.equal(names);
    const trainY = data.slice(0, reg.evaluation.trainRows).map((r) => r.y);
    expect(reg.metadata.output!.range).to.deep.equal([Math.min(...trainY), Math.max(...trainY)]);
    expect(Object.keys(reg.evaluation.candidate)).to.deep.equal(['rmse', 'mae', 'outOfDomain']);
    expect(reg.evaluation.candidate.rmse).to.be.below(reg.evaluation.deployed.rmse);
    expect(atLeastAsGood(compareMetrics(reg.evaluation.candidate, reg.evaluation.deployed), 0)).to.equal(true);

    // the autoencoder ignores the labels; a dataset without any trains it too
    const unlabelled = writeDataset(dir, names, data.map(({ y: _y, ...r }) => r));
    const ae = await trainCandidate({ manifest: unlabelled, deployed: { path: await write('autoencoder') }, outDir: path.join(dir, 'ae'), version: '3.0.0' });
    expect(ae.metadata.kind).to.equal('autoencoder');
    expect(ae.metadata.version).to.equal('3.0.0');
    expect(Object.keys(ae.evaluation.candidate)).to.deep.equal(['loss', 'outOfDomain']);
    expect(ae.evaluation.trainRows + ae.evaluation.rows).to.equal(1200);
    expect(ae.evaluation.candidate.loss).to.be.below(ae.evaluation.deployed.loss);
    expect(ae.evaluation.deployed.outOfDomain).to.be.above(0.5);
    expect(ae.evaluation.candidate.outOfDomain).to.be.below(0.1);
    console.log(`      regressor: candidate rmse ${reg.evaluation.candidate.rmse}, deployed ${reg.evaluation.deployed.rmse}; autoencoder: candidate loss ${ae.evaluation.candidate.loss}, deployed ${ae.evaluation.deployed.loss}`);
  });

  it('aborting terminates the worker at once and leaves no file', async () => {
    const out = path.join(dir, 'aborted');
    const ac = new AbortController();
    let abortedAt = 0;
    let epochs = 0;
    const p = trainCandidate({
      manifest,
      deployed: { path: DEMO_MODEL },
      outDir: out,
      epochs: 100000,
      signal: ac.signal,
      onProgress: () => {
        epochs++;
        if (!abortedAt) {
          abortedAt = performance.now();
          ac.abort();
        }
      },
    });
    const err = await expectCode(p, 'aborted');
    const ms = performance.now() - abortedAt;
    expect(err.message).to.equal('the retrain was stopped before it finished (aborted)');
    // the promise settles on the worker's exit: the thread is gone (100000 epochs would take hours)
    expect(ms).to.be.below(2000);
    expect(epochs).to.be.below(5);
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).to.deep.equal([]);
    // an abort before the start starts nothing
    await expectCode(trainCandidate({ manifest, deployed: { path: DEMO_MODEL }, outDir: out, signal: AbortSignal.abort() }), 'aborted');
  });

  it('an abort after the training (export, evaluation with onnxruntime, write) ends in aborted or a complete candidate, never a crash or a stray file', async () => {
    const outcomes: string[] = [];
    for (const delayMs of [0, 15, 40, 80, 160]) {
      const out = path.join(dir, `late-abort-${delayMs}`);
      const ac = new AbortController();
      const p = trainCandidate({
        manifest,
        deployed: { path: DEMO_MODEL },
        outDir: out,
        epochs: 1,
        signal: ac.signal,
        onProgress: () => void setTimeout(() => ac.abort(), delayMs),
      });
      try {
        const r = await p;
        expect(fs.readdirSync(out)).to.deep.equal([path.basename(r.file)]);
        outcomes.push(`${delayMs} ms: finished`);
      } catch (e) {
        expect((e as { code?: string }).code, (e as Error).message).to.equal('aborted');
        const left = fs.existsSync(out) ? fs.readdirSync(out) : [];
        // a temporary file never stays; the candidate itself only when the abort came after its rename
        expect(left.filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
        outcomes.push(`${delayMs} ms: aborted${left.length ? ' (after the rename)' : ''}`);
      }
    }
    console.log(`      abort after the last epoch: ${outcomes.join('; ')}`);
  });
});
