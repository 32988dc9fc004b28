import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import { decodeModelInfo } from '../../nodes/lib/onnx/proto';
import { fromMetadataProps } from '../../nodes/lib/model-metadata';
import { CmapssResult, DEFAULT_DATA_DIR, dataAvailable, runCmapss } from '../../scripts/cmapss';

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
    expect(meta.provenance!.source).to.equal('NASA C-MAPSS FD001');
    expect(meta.metrics!.rmse).to.be.closeTo(r.rmse, 0.01);
  });
});
