import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gaussian } from '../../nodes/lib/random';
import { fromMetadataProps } from '../../nodes/lib/model-metadata';
import { decodeModelInfo } from '../../nodes/lib/onnx/proto';
import {
  chooseSensors, cmapssFiles, COLUMNS, dataArgs, DEFAULT_SENSORS, featureNames, informativeSensors, parseFeatureNames, readEngines, readRul, runCmapss, runCmapssSeeds, spread, type CmapssOptions,
} from '../../scripts/cmapss';
import { runCmapssDrift } from '../../scripts/cmapss-drift';

/**
 * scripts/cmapss.ts (and cmapss-drift.ts) on data that is not FD001: small synthetic files in the
 * 26-column format written to a temporary folder. Run-to-failure engines whose sensors drift with
 * wear; s2 is constant (one value) and s1 varies, the opposite of FD001, so the sensors FD001's
 * model takes and the ones varying in this data differ, as they would for another subset.
 */
describe('scripts/cmapss.ts on other run-to-failure data (synthetic 26-column files)', function () {
  this.timeout(60000);
  let dir: string;
  let files: { train: string; test: string; rul: string };
  const tiny: CmapssOptions = { hidden: [8], epochs: 2, window: 10, seed: 1 };

  /** One engine's rows: `cycles` cycles of a life of `life` cycles. */
  function engine(unit: number, life: number, cycles: number, g: () => number): string[] {
    const lines: string[] = [];
    for (let t = 1; t <= cycles; t++) {
      const wear = (t / life) ** 2;
      const v = [unit, t, 0.001 * g(), 0.0002 * g(), 100];
      for (let s = 1; s <= 21; s++) v.push(s === 2 ? 642 : 100 + s + (s % 2 ? 1 : -1) * 3 * wear + 0.1 * g());
      lines.push(v.map((x) => (Number.isInteger(x) ? String(x) : x.toFixed(4))).join(' '));
    }
    return lines;
  }

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cmapss-args-'));
    const g = gaussian(7);
    const train: string[] = [];
    const test: string[] = [];
    const rul: number[] = [];
    for (let u = 1; u <= 12; u++) train.push(...engine(u, 40 + 4 * u, 40 + 4 * u, g));
    for (let u = 1; u <= 6; u++) {
      const life = 45 + 5 * u;
      const cut = 20 + 3 * u;
      test.push(...engine(u, life, cut, g));
      rul.push(life - cut);
    }
    files = { train: path.join(dir, 'pump-train.txt'), test: path.join(dir, 'pump-test.txt'), rul: path.join(dir, 'pump-rul.txt') };
    fs.writeFileSync(files.train, train.join('\n') + '\n');
    fs.writeFileSync(files.test, test.join('\n') + '\n');
    fs.writeFileSync(files.rul, rul.join('\n') + '\n');
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('files', () => {
    it('a line with a wrong column count is refused with its line, its count and the expected format', () => {
      const bad = path.join(dir, 'bad-columns.txt');
      const lines = fs.readFileSync(files.train, 'utf8').split('\n');
      lines[2] = lines[2].split(' ').slice(0, 25).join(' ');
      fs.writeFileSync(bad, lines.join('\n'));
      expect(() => readEngines(bad)).to.throw(/bad-columns\.txt, line 3: 25 columns, expected 26 space-separated numbers a line \(unit, cycle, 3 operational settings, 21 sensors/);
    });

    it('a value that is not a number is refused with its line and column', () => {
      const bad = path.join(dir, 'bad-value.txt');
      const lines = fs.readFileSync(files.train, 'utf8').split('\n');
      const v = lines[4].split(' ');
      v[7] = 'n/a';
      lines[4] = v.join(' ');
      fs.writeFileSync(bad, lines.join('\n'));
      expect(() => readEngines(bad)).to.throw(/bad-value\.txt, line 5, column 8 \(s3\): "n\/a" is not a number/);
    });

    it('a RUL file with a bad line or the wrong count is refused saying what was expected', () => {
      const bad = path.join(dir, 'bad-rul.txt');
      fs.writeFileSync(bad, '12\n-3\n');
      expect(() => readRul(bad)).to.throw(/bad-rul\.txt, line 2: "-3", expected one non-negative number a line/);
      expect(() => readRul(files.rul, 7)).to.throw(/pump-rul\.txt has 6 values for 7 test engines/);
      expect(readRul(files.rul, 6)).to.have.length(6);
    });

    it('a run refuses a bad file before training', async () => {
      const bad = path.join(dir, 'bad-columns.txt');
      await runCmapss({ ...tiny, ...files, train: bad }).then(
        () => expect.fail('trained on a bad file'),
        (e: Error) => expect(e.message).to.match(/line 3: 25 columns, expected 26/),
      );
    });

    it('--train, --test and --rul go together; --data and --subset name a C-MAPSS subset', () => {
      expect(() => cmapssFiles({ train: files.train })).to.throw(/expected --train, --test and --rul together.*got only --train/);
      expect(() => cmapssFiles({ ...files, subset: 'FD002' })).to.throw(/not both/);
      expect(cmapssFiles({ dataDir: '/d', subset: 'FD002' })).to.deep.equal({ train: '/d/train_FD002.txt', test: '/d/test_FD002.txt', rul: '/d/RUL_FD002.txt' });
      const a = dataArgs(['node', 'x', '--train', 'a.txt', '--test', 'b.txt', '--rul', 'c.txt', '--sensors', 's3,s4']);
      expect(cmapssFiles(a)).to.deep.equal({ train: path.resolve('a.txt'), test: path.resolve('b.txt'), rul: path.resolve('c.txt') });
      expect(a.sensors).to.deep.equal(['s3', 's4']);
      expect(dataArgs(['node', 'x', '--sensors', 'auto']).sensors).to.equal('auto');
    });
  });

  describe('sensors', () => {
    it('by default the FD001 model\'s 14 sensors are kept on other data; a constant one is warned about', () => {
      const train = readEngines(files.train);
      const c = chooseSensors(train);
      expect(c.sensors).to.deep.equal(DEFAULT_SENSORS);
      expect(c.reason).to.match(/^default: the FD001 model's 14 sensors/);
      // this data varies in other sensors: what --sensors auto takes
      expect(c.informative).to.include('s1').and.not.include('s2');
      expect(c.warnings).to.have.length(1);
      expect(c.warnings[0]).to.match(/^s2 has one value in the training data: kept as an input/);
    });

    it('auto takes the sensors that vary in this data; a list is taken in its order; unknown and repeated names are refused', () => {
      const train = readEngines(files.train);
      const auto = chooseSensors(train, { sensors: 'auto' });
      expect(auto.cols).to.deep.equal(informativeSensors(train));
      expect(auto.sensors).to.have.length(20);
      expect(auto.warnings).to.deep.equal([]);
      const given = chooseSensors(train, { sensors: ['s9', 's3'] });
      expect(given.cols).to.deep.equal([COLUMNS.indexOf('s9'), COLUMNS.indexOf('s3')]);
      expect(() => chooseSensors(train, { sensors: ['s3', 's22'] })).to.throw(/unknown sensor "s22": expected one of s1..s21/);
      expect(() => chooseSensors(train, { sensors: ['s3', 's3'] })).to.throw(/s3 is named twice/);
      expect(() => chooseSensors(train, { sensors: 'auto', like: 'm.onnx' })).to.throw(/--like or --sensors, not both/);
    });

    it('feature names give back their sensors, kind and window', () => {
      const cols = [COLUMNS.indexOf('s4'), COLUMNS.indexOf('s2')];
      expect(parseFeatureNames(featureNames(cols, 7), 7)).to.deep.equal({ sensors: ['s4', 's2'], mode: 'stats', window: 7 });
      expect(parseFeatureNames(featureNames(cols, 5, 'flat'))).to.deep.equal({ sensors: ['s4', 's2'], mode: 'flat', window: 5 });
      expect(() => parseFeatureNames(['s2.mean', 'speed.rms'])).to.throw(/feature "speed.rms" is not one this script writes/);
    });
  });

  describe('a model trained on these files', () => {
    let likePath: string;

    it('keeps the FD001 inputs, is named and described from its data, and carries its target range', async () => {
      const lines: string[] = [];
      const r = await runCmapss({ ...tiny, ...files, log: (s) => lines.push(s) });
      const md = fromMetadataProps(decodeModelInfo(r.bytes).metadata)!;
      expect(md.features).to.deep.equal(featureNames(DEFAULT_SENSORS.map((s) => COLUMNS.indexOf(s)), 10));
      expect(md.features).to.have.length(56);
      expect(lines.join('\n')).to.match(/warning: s2 has one value/);
      // the constant sensor did not break training, and a change in it cannot move the prediction
      for (const p of r.predictions) expect(Number.isFinite(p)).to.equal(true);
      expect(md.provenance!.constantInputs).to.deep.equal(['s2.mean', 's2.slope', 's2.std', 's2.last5']);
      expect(lines.join('\n')).to.match(/warning: 4 inputs are constant in the training windows \(s2.mean, s2.slope, s2.std, s2.last5\): their weights are set to 0/);
      const shifted = r.predictions.length && r.model.predict(r.testX.map((row) => row.map((v, j) => (md.features![j].startsWith('s2.') ? v + 0.5 : v))));
      expect(Array.from(shifted as Float32Array)).to.deep.equal(Array.from(r.predictions));
      expect(md.name).to.equal('pump-train-rul');
      expect(md.provenance!.source).to.match(/pump-train\.txt/);
      const f = md.provenance!.files as Array<{ role: string; file: string; sha256: string; engines?: number; rows: number }>;
      expect(f.map((x) => x.file)).to.deep.equal(['pump-train.txt', 'pump-test.txt', 'pump-rul.txt']);
      for (const [x, p] of [[f[0], files.train], [f[1], files.test], [f[2], files.rul]] as const) {
        expect(x.sha256).to.equal(createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
      }
      expect(f[0]).to.include({ engines: 12, rows: fs.readFileSync(files.train, 'utf8').trim().split('\n').length });
      expect(f[1].engines).to.equal(6);
      expect(f[2].rows).to.equal(6);
      // the training target's range: engines live 44..88 cycles, so the RUL spans 0..max(life - 10), below the cap
      expect(md.output!.range).to.deep.equal([0, 88 - 10]);
      likePath = path.join(dir, 'like.onnx');
      const named = await runCmapss({ ...tiny, ...files, sensors: ['s9', 's3', 's2'], window: 6, name: 'pump-7-rul', source: 'pump 7 test bench' });
      expect(named.metadata.name).to.equal('pump-7-rul');
      expect(named.metadata.provenance!.source).to.equal('pump 7 test bench');
      fs.writeFileSync(likePath, named.bytes);
    });

    it('--like keeps a model\'s features (names, order, window) on other data, and refuses a window it cannot keep', async () => {
      const r = await runCmapss({ ...tiny, window: undefined, ...files, like: likePath });
      const like = fromMetadataProps(decodeModelInfo(fs.readFileSync(likePath)).metadata)!;
      expect(r.metadata.features).to.deep.equal(like.features);
      expect(r.metadata.features.slice(0, 5)).to.deep.equal(['s9.mean', 's9.slope', 's9.std', 's9.last5', 's3.mean']);
      expect(r.metadata.provenance!.window).to.equal(6);
      expect(r.sensors.reason).to.match(/^kept from like\.onnx \(pump-7-rul 1\.0\.0, 12 features, window 6, stats\)/);
      await runCmapss({ ...tiny, ...files, like: likePath }).then(
        () => expect.fail('trained with another window'),
        (e: Error) => expect(e.message).to.match(/--window 10: the features of .*like\.onnx are computed over 6 cycles/),
      );
    });

    it('the drift script reads the same files with the same sensors', () => {
      const r = runCmapssDrift({ ...files, split: 6, methods: ['ks'], experiments: ['heldOutOwn'], window: 10, ownCycles: 10 });
      expect(r.config.sensors).to.deep.equal(DEFAULT_SENSORS);
      expect(r.config.sensorWarnings).to.have.length(1);
      expect(r.config.data.name).to.equal('pump-train-rul');
      expect(r.heldOutOwn!.evaluated).to.equal(6);
      const auto = runCmapssDrift({ ...files, sensors: 'auto', split: 6, methods: ['ks'], experiments: ['heldOutOwn'], window: 10, ownCycles: 10 });
      expect(auto.config.sensors).to.have.length(20).and.include('s1');
    });
  });

  it('--seeds trains once per seed; the first seed\'s model carries the spread in its metrics', async () => {
    const lines: string[] = [];
    const s = await runCmapssSeeds({ ...tiny, ...files, log: (l) => lines.push(l) }, [3, 4]);
    expect(s.runs.map((r) => r.metadata.provenance!.trainer)).to.satisfy((t: Array<{ seed: number }>) => t[0].seed === 3 && t[1].seed === 4);
    expect(s.runs[0].rmse).to.not.equal(s.runs[1].rmse);
    expect(s.rmse).to.deep.equal(spread(s.runs.map((r) => r.rmse)));
    expect(s.score.max).to.equal(Math.max(...s.runs.map((r) => r.score)));
    expect(lines.filter((l) => /^seed \d: RMSE/.test(l))).to.have.length(2);
    const m = fromMetadataProps(decodeModelInfo(s.runs[0].bytes).metadata)!.metrics!;
    expect(m).to.include({ seeds: '3,4', rmseSeedsMean: Math.round(s.rmse.mean * 100) / 100, rmseSeedsSd: Math.round(s.rmse.sd * 100) / 100 });
  });

  it('spread: mean, sample sd, min and max', () => {
    expect(spread([15.1, 15.5, 15.97])).to.deep.include({ min: 15.1, max: 15.97 });
    const s = spread([1, 2, 3, 4]);
    expect(s.mean).to.equal(2.5);
    expect(s.sd).to.be.closeTo(Math.sqrt(5 / 3), 1e-12);
    expect(spread([7]).sd).to.equal(0);
  });
});
