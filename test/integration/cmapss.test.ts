import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { decodeModelInfo } from '../../nodes/lib/onnx/proto';
import { fromMetadataProps } from '../../nodes/lib/model-metadata';
import {
  chooseSensors, cmapssFiles, CmapssResult, COLUMNS, DataFile, DEFAULT_DATA_DIR, DEFAULT_SENSORS, dataAvailable, featureNames, informativeSensors, readEngines, runCmapss, RUL_CAP, sha256File, trainingWindows,
} from '../../scripts/cmapss';

/**
 * C-MAPSS FD001 (real turbofan run-to-failure data) read from ../shared/data/cmapss at run time.
 * A smaller configuration than scripts/cmapss.ts (fewer epochs, every 2nd training window) so it
 * runs in well under a minute; the full configuration is the script's.
 */
describe('C-MAPSS FD001 RUL regressor (real data)', function () {
  this.timeout(120000);
  let r: CmapssResult;

  before(async function () {
    if (!dataAvailable(DEFAULT_DATA_DIR)) {
      console.log(`      C-MAPSS FD001 not found in ${DEFAULT_DATA_DIR} (see ../shared/data/README.md): skipping`);
      this.skip();
    }
    r = await runCmapss({ hidden: [32, 16], epochs: 10, stride: 2, seed: 1 });
    console.log(`      test RMSE ${r.rmse.toFixed(2)} cycles (capped truth ${r.rmseCapped.toFixed(2)}), PHM08 score ${r.score.toFixed(1)}, ${r.trainRows} training windows, trained in ${(r.model.trainingMs / 1000).toFixed(1)} s`);
  });

  it('beats a constant predictor by far: test RMSE below 30 cycles', () => {
    expect(r.testX).to.have.length(100);
    // A constant prediction (the mean of the truth, the best constant) scores about 41 cycles.
    const m = r.testY.reduce((s, v) => s + v, 0) / r.testY.length;
    const constRmse = Math.sqrt(r.testY.reduce((s, v) => s + (v - m) ** 2, 0) / r.testY.length);
    expect(constRmse).to.be.above(35);
    expect(r.rmse).to.be.below(30);
    for (const p of r.predictions) expect(p).to.be.within(-30, 160);
  });

  it('the ONNX file gives the tfjs predictions to 1e-4 and carries its metadata', async () => {
    const d = r.model.inputSize;
    const session = await ort.InferenceSession.create(r.bytes);
    try {
      const out = await session.run({ features: new ort.Tensor('float32', Float32Array.from(r.testX.flat()), [r.testX.length, d]) });
      const y = out[session.outputNames[0]].data as Float32Array;
      expect(y.length).to.equal(r.testX.length);
      for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - r.predictions[i])).to.be.below(1e-4 * Math.max(1, Math.abs(r.predictions[i])));
    } finally {
      await session.release();
    }
    const meta = fromMetadataProps(decodeModelInfo(r.bytes).metadata)!;
    expect(meta.kind).to.equal('regressor');
    expect(meta.features).to.have.length(d);
    expect(meta.features![0]).to.equal('s2.mean');
    expect(Object.keys(meta.reference!.features)).to.deep.equal(meta.features);
    expect(meta.metrics!.rmse).to.be.closeTo(r.rmse, 0.01);
  });

  it('is named and described from the data it was trained on: files, sha256, engines, rows', () => {
    const meta = fromMetadataProps(decodeModelInfo(r.bytes).metadata)!;
    expect(meta.name).to.equal('cmapss-fd001-rul');
    expect(meta.provenance!.source).to.equal('NASA C-MAPSS FD001');
    const files = cmapssFiles();
    const listed = meta.provenance!.files as DataFile[];
    const lines = (f: string) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).length;
    expect(listed.map((f) => [f.role, f.file])).to.deep.equal([['train', 'train_FD001.txt'], ['test', 'test_FD001.txt'], ['rul', 'RUL_FD001.txt']]);
    for (const [f, p] of [[listed[0], files.train], [listed[1], files.test], [listed[2], files.rul]] as const) {
      expect(f.sha256).to.match(/^[0-9a-f]{64}$/).and.equal(sha256File(p));
      expect(f.rows).to.equal(lines(p));
    }
    expect(listed[0].engines).to.equal(readEngines(files.train).length);
    expect(listed[1].engines).to.equal(r.testX.length);
    expect(meta.metrics!.evaluation).to.match(/test_FD001\.txt.*RUL_FD001\.txt/);
  });

  it('carries the training target\'s range as output.range (what onnx infer clamps to)', () => {
    const meta = fromMetadataProps(decodeModelInfo(r.bytes).metadata)!;
    const { y } = trainingWindows(readEngines(cmapssFiles().train), r.sensors.cols, 30, 'stats', 2);
    expect(meta.output!.range).to.deep.equal([Math.min(...y), Math.max(...y)]);
    // every FD001 training engine lives longer than the cap plus the window
    expect(meta.output!.range).to.deep.equal([0, RUL_CAP]);
  });

  it('takes the FD001 model\'s 14 sensors, which are FD001\'s informative ones; --like a model keeps its features', () => {
    const train = readEngines(cmapssFiles().train);
    expect(informativeSensors(train).map((c) => COLUMNS[c])).to.deep.equal(DEFAULT_SENSORS);
    expect(r.metadata.features).to.deep.equal(featureNames(DEFAULT_SENSORS.map((s) => COLUMNS.indexOf(s)), 30));
    expect(r.metadata.provenance!.sensors).to.deep.equal(DEFAULT_SENSORS);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cmapss-like-'));
    try {
      const like = path.join(dir, 'deployed.onnx');
      fs.writeFileSync(like, r.bytes);
      const c = chooseSensors(train, { like });
      expect(c.sensors).to.deep.equal(DEFAULT_SENSORS);
      expect(c.like).to.deep.equal({ features: r.metadata.features, window: 30, mode: 'stats' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
