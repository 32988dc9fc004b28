import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import * as path from 'path';
import { baselineFromModel } from '../../nodes/lib/drift/baseline';
import { domainCheck } from '../../nodes/lib/drift/domain';
import { WindowMonitor } from '../../nodes/lib/drift/monitor';
import { METADATA_VERSION } from '../../nodes/lib/model-metadata';
import { decodeModelFile } from '../../nodes/lib/onnx/model-file';
import { DEFAULT_DATA_DIR, dataAvailable, featureNames, featuresAt, informativeSensors, readEngines, type Engine } from '../../scripts/cmapss';
import { type EarlyLifeResult, LEARNED_BASELINE_LEAD, runEarlyLife, WINDOW } from '../../scripts/cmapss-early-life';

/**
 * Issue 10, the condition-monitoring model: a dense autoencoder trained on the early life (the
 * windows ending within the first 60 cycles) of 50 C-MAPSS FD001 training engines, exported to
 * ONNX with its metadata, whose domain alone is the drift baseline on the 50 engines held out
 * (run to failure), streamed window by window through a fresh monitor as drift detect runs it
 * (window 30, the node's defaults). Real data from ../shared/data/cmapss. Three seeds (the split
 * and the initialisation) and 10 epochs instead of the script's five seeds and 100: the domain
 * figures depend on the split only, not on the autoencoder's training.
 */
describe('C-MAPSS FD001: an autoencoder on early life, its own metadata as the baseline (out of domain before failure)', function () {
  this.timeout(180000);
  let r: EarlyLifeResult;
  let train: Engine[];
  let cols: number[];

  before(async function () {
    if (!dataAvailable(DEFAULT_DATA_DIR)) {
      console.log(`      C-MAPSS FD001 not found in ${DEFAULT_DATA_DIR} (see ../shared/data/README.md): skipping`);
      this.skip();
    }
    train = readEngines(path.join(DEFAULT_DATA_DIR, 'train_FD001.txt'));
    cols = informativeSensors(train);
    r = await runEarlyLife({ seeds: [1, 2, 3], epochs: 10 });
    for (const s of r.seeds) {
      const h = s.heldOut;
      const t = s.test!;
      console.log(`      seed ${s.seed}: held out ${h.flagged}/${h.engines} flagged, lead ${h.lead!.median} [${h.lead!.q1}-${h.lead!.q3}] cycles (learned baseline today: ${LEARNED_BASELINE_LEAD}), healthy flagged ${h.healthyFlagged}/${h.healthyEvals}; test engines healthy flagged ${t.healthyFlagged}/${t.healthyEvals} (this seed's 50-engine model)`);
    }
    const a = r.allEngines!.test;
    console.log(`      test engines, model on all 100 training engines: healthy flagged ${a.healthyFlagged}/${a.healthyEvals}, flagged by final RUL ${a.byFinalRul.map((b) => `${b.range}: ${b.flagged}/${b.engines}`).join(', ')}`);
  });

  it('trains on early-life windows of the training engines only and writes metadata version 2 with their reference and domain', () => {
    const names = featureNames(cols, WINDOW);
    for (const s of r.seeds) {
      expect(s.trainUnits).to.have.length(50);
      expect(s.heldOutUnits).to.have.length(50);
      expect(s.trainUnits.filter((u) => s.heldOutUnits.includes(u))).to.deep.equal([]);
      // early life: the windows ending at cycles 30..60 of each training engine
      expect(s.trainRows).to.equal(50 * (60 - WINDOW + 1));
      const md = decodeModelFile(Buffer.from(s.bytes), 'model').metadata!;
      expect(md.metadataVersion).to.equal(METADATA_VERSION).and.to.equal(2);
      expect(md.kind).to.equal('autoencoder');
      expect(md.features).to.deep.equal(names);
      expect((md.provenance as { units: number[] }).units).to.deep.equal(s.trainUnits);
      // named and described from its data, as scripts/cmapss.ts does
      expect(md.name).to.equal('cmapss-fd001-early-life');
      expect(md.provenance!.source).to.equal('NASA C-MAPSS FD001');
      const files = md.provenance!.files as Array<{ role: string; file: string; sha256: string }>;
      expect(files.map((f) => [f.role, f.file])).to.deep.equal([['train', 'train_FD001.txt']]);
      expect(files[0].sha256).to.match(/^[0-9a-f]{64}$/);
      for (const f of names) expect(md.reference!.features[f].count).to.equal(s.trainRows);
      expect(md.domain!.features).to.deep.equal(names);
      // the baseline the monitors used is the model file's own metadata
      expect(s.baseline.source).to.equal('model');
      expect(s.baseline.domain).to.deep.equal(md.domain);
    }
    // the split varies with the seed
    expect(r.seeds[0].trainUnits).to.not.deep.equal(r.seeds[1].trainUnits);
  });

  it('the ONNX file loads in onnxruntime-node, scores as the trained model, and its score rises with wear', async () => {
    const s = r.seeds[0];
    const held = train.filter((e) => s.heldOutUnits.includes(e.unit));
    const early = held.map((e) => featuresAt(e, 40, cols, WINDOW));
    const late = held.map((e) => featuresAt(e, e.rows.length - 1, cols, WINDOW));
    const rows = [...early, ...late];
    const session = await ort.InferenceSession.create(s.bytes);
    try {
      expect(session.inputNames).to.deep.equal(['features']);
      const out = await session.run({ features: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, s.model.inputSize]) });
      const y = out.anomaly_score.data as Float32Array;
      const ref = s.model.predict(rows);
      expect(y.length).to.equal(rows.length);
      for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - ref[i])).to.be.below(1e-4 * Math.max(1, ref[i]));
      const threshold = s.metadata.output!.threshold!;
      const above = (from: number) => y.slice(from, from + held.length).filter((v) => v > threshold).length;
      // at failure nearly every held-out engine scores above the training windows' 99.9 % quantile; early on hardly any
      expect(above(held.length)).to.be.at.least(0.9 * held.length);
      expect(above(0)).to.be.at.most(0.1 * held.length);
    } finally {
      await session.release();
    }
  });

  it('the monitor checks the domain the metadata carries', () => {
    const s = r.seeds[0];
    const md = decodeModelFile(Buffer.from(s.bytes), 'model').metadata!;
    const mon = new WindowMonitor({ windowSize: WINDOW }, baselineFromModel(md)!, 0);
    const e = train.find((x) => x.unit === s.heldOutUnits[0])!;
    const names = md.features!;
    let report;
    for (let end = WINDOW - 1; end < 2 * WINDOW - 1; end++) report = mon.ingest(featuresAt(e, end, cols, WINDOW), 1, names.length, names, end) ?? report;
    expect(report!.domain!.checked).to.equal(WINDOW);
    expect(report!.domain!.threshold).to.equal(domainCheck(md.domain)!.threshold);
  });

  it('flags degradation out of domain before failure on at least 90 % of the held-out engines, a median lead reported', () => {
    for (const s of r.seeds) {
      const h = s.heldOut;
      expect(h.engines).to.equal(50);
      expect(h.flagged / h.engines).to.be.at.least(0.9);
      // every flag comes before the last cycle: a lead of at least one cycle
      for (const run of h.runs) if (run.drift !== undefined) expect(run.drift).to.be.above(0);
      expect(h.lead!.median).to.be.above(0);
      expect(h.lead!.q1).to.be.at.most(h.lead!.median);
    }
  });

  it('flags at most 2 % of the healthy windows (RUL > 125) of the held-out engines', () => {
    for (const s of r.seeds) {
      expect(s.heldOut.healthyEvals).to.be.above(80);
      expect(s.heldOut.healthyFlagged / s.heldOut.healthyEvals).to.be.at.most(0.02);
    }
  });

  it('on the test engines (model on all 100 training engines): at most 2 % of healthy windows flagged, flags follow the final RUL', () => {
    const t = r.allEngines!.test;
    expect(t.engines).to.equal(100);
    expect(t.healthyEvals).to.be.above(300);
    expect(t.healthyFlagged / t.healthyEvals).to.be.at.most(0.02);
    const share = (b: { flagged: number; engines: number }) => b.flagged / b.engines;
    const [near, , , far] = t.byFinalRul;
    expect(share(near)).to.be.above(0.5);
    expect(share(near)).to.be.above(share(far));
  });
});
