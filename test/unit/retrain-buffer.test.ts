/**
 * The retrain trigger's training buffer (nodes/lib/retrain/buffer.ts), on a real folder: rows and
 * labels (by id and by time) survive a reopen, a kill -9 of a process that appends loses only what
 * it had not flushed and a torn line is cut at open, the size cap drops the oldest rows first, a
 * change of feature names starts a segment, snapshots write a dataset and a manifest that
 * readDataset checks, and bad rows are refused with codes while the good ones stay.
 */
import { expect } from 'chai';
import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { BufferError, readDataset, TrainingBuffer, type DatasetManifest } from '../../nodes/lib/retrain/buffer';
import { sleep, tmpDir } from '../support/red';

const root = path.resolve(__dirname, '..', '..');
const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);
const names40 = Array.from({ length: 40 }, (_, i) => `ch${i % 4}.f${i}`);
const vec = (i: number, k = 40) => Array.from({ length: k }, (_, j) => Math.sin(i * 0.1 + j) * 100 + j);
const segmentsOf = (dir: string) => fs.readdirSync(dir).filter((f) => /^seg-\d{12}\.jsonl$/.test(f)).sort();
const bytesOf = (dir: string) => segmentsOf(dir).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function thrown(f: () => unknown): BufferError {
  try {
    f();
  } catch (e) {
    return e as BufferError;
  }
  throw new Error('expected an error');
}

async function rejection(p: Promise<unknown>): Promise<BufferError> {
  try {
    await p;
  } catch (e) {
    return e as BufferError;
  }
  throw new Error('expected a rejection');
}

describe('retrain: the training buffer', () => {
  let dir: string;
  let out: string;
  const open: TrainingBuffer[] = [];
  const openBuffer = async (o: Parameters<typeof TrainingBuffer.open>[1] = { maxBytes: 1 << 20 }) => {
    const b = await TrainingBuffer.open(dir, o);
    open.push(b);
    return b;
  };
  beforeEach(() => {
    const base = tmpDir('retrain-buffer');
    dir = path.join(base, 'buffer');
    out = path.join(base, 'datasets');
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close().catch(() => undefined)));
  });

  it('keeps rows and labels (by id, by time, a later label replacing one) across close and open', async () => {
    const b = await openBuffer();
    for (let i = 0; i < 20; i++) b.add({ t: T0 + i * 1000, start: T0 + i * 1000 - 2000, id: `w${i}`, features: vec(i), names: names40 });
    expect(b.label({ id: 'w3', value: 'worn' })).to.equal(true);
    await b.flush();
    // a label after its row was written: its own line, joined at snapshot
    expect(b.label({ t: T0 + 7300, value: 0.75 })).to.equal(true); // w7: the nearest window end
    expect(b.label({ t: T0 + 19_000 + 2500, value: 1 })).to.equal(false); // beyond the window length (2 s) of the last row
    expect(b.label({ t: T0 + 19_000 + 2500, value: 1, toleranceMs: 3000 })).to.equal(true); // w19, with a wider tolerance
    expect(b.label({ id: 'w3', value: 'ok' })).to.equal(true);
    expect(b.label({ id: 'nope', value: 1 })).to.equal(false);
    expect(b.stats()).to.include({ rows: 20, labelled: 3, unmatched: 2, first: T0, last: T0 + 19_000 });
    await b.close();
    open.length = 0;

    const again = await openBuffer();
    const s = again.stats();
    expect(s).to.include({ rows: 20, labelled: 3, unmatched: 0, torn: 0, skipped: 0, first: T0, last: T0 + 19_000, segments: 1 });
    expect(s.names).to.deep.equal(names40);
    // labels still join to the rows read back (by id and by time)
    expect(again.label({ id: 'w12', value: 'worn' })).to.equal(true);
    expect(again.label({ t: T0 + 5100, value: 0.5 })).to.equal(true);
    again.add({ t: T0 + 20_000, id: 'w20', features: vec(20), names: names40 });
    const m = await again.snapshot(out);
    const d = await readDataset(path.join(out, m.file.replace(/l$/, '')));
    expect(d.t).to.deep.equal(Array.from({ length: 21 }, (_, i) => T0 + i * 1000));
    expect(d.x[4]).to.deep.equal(vec(4));
    expect(d.y).to.have.length(21);
    expect(d.y!.map((y, i) => [i, y]).filter(([, y]) => y !== undefined)).to.deep.equal([
      [3, 'ok'],
      [5, 0.5],
      [7, 0.75],
      [12, 'worn'],
      [19, 1],
    ]);
    expect(m).to.include({ rows: 21, labelled: 5 });
  });

  it('loses at most the unflushed rows when the appending process is killed (kill -9), and cuts a torn line at open', async function () {
    this.timeout(60_000);
    const script = path.join(path.dirname(dir), 'appender.ts');
    fs.writeFileSync(
      script,
      `import { TrainingBuffer } from ${JSON.stringify(path.join(root, 'nodes/lib/retrain/buffer'))};
const names = Array.from({ length: 40 }, (_, i) => 'ch' + (i % 4) + '.f' + i);
(async () => {
  let acked = 0;
  const b = await TrainingBuffer.open(${JSON.stringify(dir)}, { maxBytes: 256 * 1024 * 1024, flushMs: 100, onFlush: (f) => { acked += f.rows; process.stdout.write('flushed ' + acked + '\\n'); } });
  let i = 0;
  const tick = () => {
    for (let k = 0; k < 10; k++, i++) b.add({ t: ${T0} + i * 10, id: 'w' + i, features: names.map((_, j) => Math.sin(i + j)), names });
    setTimeout(tick, 1);
  };
  process.stdout.write('pid ' + process.pid + '\\n');
  tick();
})();
`,
    );
    // tsx runs the script in a node process of its own: killed as a group, or that one would go on appending
    const child = spawn(path.join(root, 'node_modules', '.bin', 'tsx'), [script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
    const acks = () => [...stdout.matchAll(/^flushed (\d+)$/gm)].map((m) => Number(m[1]));
    const t0 = Date.now();
    while (acks().length < 8 || acks()[acks().length - 1] < 1000) {
      if (child.exitCode !== null || Date.now() - t0 > 40_000) throw new Error(`the appender did not flush: ${stdout} ${stderr}`);
      await sleep(20);
    }
    await sleep(150 + Math.random() * 100); // somewhere in the next flush interval
    const pid = Number(/^pid (\d+)$/m.exec(stdout)![1]);
    process.kill(-child.pid!, 'SIGKILL');
    expect(await exited).to.equal('SIGKILL');
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (alive()) await sleep(10);
    // only complete lines count: the last one the child printed before it died
    const acked = [...stdout.slice(0, stdout.lastIndexOf('\n') + 1).matchAll(/^flushed (\d+)$/gm)].map((m) => Number(m[1])).pop()!;
    expect(acked).to.be.greaterThan(0);

    // what a crash in the middle of a write leaves: part of a line at the end of the last segment
    const last = path.join(dir, segmentsOf(dir).pop()!);
    const torn = '{"n":999999999,"t":1780000000000,"id":"wX","x":[0.1,0.2';
    fs.appendFileSync(last, torn);
    const b = await openBuffer({ maxBytes: 256 * 1024 * 1024 });
    const s = b.stats();
    expect(s.torn).to.be.at.least(torn.length); // and whatever the kill itself cut (seldom anything)
    expect(s.skipped).to.equal(0);
    expect(s.rows).to.be.at.least(acked);
    expect(fs.readFileSync(last, 'utf8').endsWith('\n')).to.equal(true);
    // every acknowledged row is there, in order, with its values
    const m = await b.snapshot(out);
    const d = await readDataset(path.join(out, m.file.replace(/l$/, '')));
    expect(d.t.slice(0, acked)).to.deep.equal(Array.from({ length: acked }, (_, i) => T0 + i * 10));
    expect(d.x[acked - 1]).to.deep.equal(names40.map((_, j) => Math.sin(acked - 1 + j)));
    // and it appends after the cut
    b.add({ t: T0 + 10 * s.rows, id: 'after', features: vec(1), names: names40 });
    await b.close();
    open.length = 0;
    expect((await openBuffer({ maxBytes: 256 * 1024 * 1024 })).stats()).to.include({ rows: s.rows + 1, torn: 0, skipped: 0 });
  });

  it('holds the size cap, dropping the oldest segments first, and counts a label for a dropped row as unmatched', async () => {
    const maxBytes = 64 * 1024;
    const b = await openBuffer({ maxBytes, flushMs: 50 });
    let peak = 0;
    for (let i = 0; i < 1000; i++) {
      b.add({ t: T0 + i * 1000, id: `w${i}`, features: vec(i), names: names40 });
      if (i % 10 === 0) b.label({ id: `w${i}`, value: i % 20 ? 'ok' : 'worn' });
      if (i % 50 === 49) {
        await b.flush();
        peak = Math.max(peak, bytesOf(dir));
        expect(b.stats().bytes).to.equal(bytesOf(dir));
      }
    }
    await b.flush();
    const s = b.stats();
    expect(peak).to.be.at.most(maxBytes);
    expect(bytesOf(dir)).to.be.at.most(maxBytes).and.at.least((maxBytes * 7) / 8 - 2048);
    expect(s.rows + s.dropped).to.equal(1000);
    expect(s.rows).to.be.within(50, 90);
    expect(s.last).to.equal(T0 + 999_000);
    expect(s.first).to.equal(T0 + (1000 - s.rows) * 1000); // the newest rows stayed, without a gap
    expect(b.label({ id: 'w0', value: 'late' })).to.equal(false);
    expect(b.label({ t: T0, value: 'late' })).to.equal(false);
    expect(b.stats().unmatched).to.equal(2);
    await b.close();
    open.length = 0;
    const again = await openBuffer({ maxBytes, flushMs: 50 });
    expect(again.stats()).to.include({ rows: s.rows, labelled: s.labelled, first: s.first, last: s.last });
    const m = await again.snapshot(out);
    expect(m.rows).to.equal(s.rows);
    expect(m.labelled).to.equal(s.labelled);

    // a smaller cap at the next open drops the oldest at once
    await again.close();
    open.length = 0;
    const smaller = await openBuffer({ maxBytes: 16 * 1024 });
    expect(bytesOf(dir)).to.be.at.most(16 * 1024);
    expect(smaller.stats().last).to.equal(T0 + 999_000);
  });

  it('starts a segment when the feature names change; a snapshot takes the latest names, or the ones asked for', async () => {
    const b = await openBuffer();
    const a = ['a.rms', 'a.peak', 'a.kurtosis'];
    const other = ['b.rms', 'b.mean'];
    for (let i = 0; i < 5; i++) b.add({ t: T0 + i, features: vec(i, 3), names: a });
    for (let i = 5; i < 8; i++) b.add({ t: T0 + i, features: vec(i, 2), names: [...other] });
    await b.flush();
    expect(segmentsOf(dir)).to.have.length(2);
    const headers = segmentsOf(dir).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8').split('\n')[0]));
    expect(headers).to.deep.equal([
      { v: 1, names: a },
      { v: 1, names: other },
    ]);
    // names are written once per segment, not per row
    expect(fs.readFileSync(path.join(dir, segmentsOf(dir)[0]), 'utf8').split('a.rms').length - 1).to.equal(1);
    expect(b.stats().names).to.deep.equal(other);
    expect(b.rowsSince(T0)).to.equal(3);
    expect(b.rowsSince(T0 + 6)).to.equal(2);
    const latest = await b.snapshot(out);
    expect([latest.rows, latest.features]).to.deep.equal([3, other]);
    const first = await b.snapshot(out, { names: a });
    expect([first.rows, first.features]).to.deep.equal([5, a]);
    expect(first.file).not.to.equal(latest.file);
    expect((await b.snapshot(out, { names: a, since: T0 + 3 })).rows).to.equal(2);
    const none = await rejection(b.snapshot(out, { names: ['c.x'] }));
    expect([none.code, none.catalog, none.params]).to.deep.equal(['emptySnapshot', 'mlops-retrain-trigger', { features: 'c.x' }]);
    const late = await rejection(b.snapshot(out, { since: T0 + 60_000 }));
    expect([late.code, late.params]).to.deep.equal(['emptySnapshotSince', { features: 'b.rms, b.mean', since: new Date(T0 + 60_000).toISOString() }]);
    // back to the first names: a third segment
    b.add({ t: T0 + 9, features: vec(9, 3), names: a });
    await b.flush();
    expect(segmentsOf(dir)).to.have.length(3);
    expect((await b.snapshot(out)).rows).to.equal(6);
  });

  it('writes a snapshot whose manifest counts its rows and labels, spans its windows and hashes its file', async () => {
    const b = await openBuffer();
    for (let i = 0; i < 10; i++) b.add({ t: T0 + (i + 1) * 1000, start: T0 + i * 1000, id: `w${i}`, features: vec(i, 4), names: names40.slice(0, 4) });
    b.label({ id: 'w2', value: 1 });
    b.label({ id: 'w3', value: 0 });
    const before = Date.now();
    const m = await b.snapshot(out, { since: T0 + 3000 });
    expect(m.file).to.match(/^dataset-\d{8}T\d{9}Z(-\d+)?\.jsonl$/);
    expect(fs.readdirSync(out).sort()).to.deep.equal([m.file.replace(/l$/, ''), m.file].sort()); // no temporary file left
    const file = fs.readFileSync(path.join(out, m.file));
    expect(m).to.deep.equal({
      file: m.file,
      rows: 8,
      labelled: 2,
      features: names40.slice(0, 4),
      span: { start: new Date(T0 + 2000).toISOString(), end: new Date(T0 + 10_000).toISOString() },
      sha256: sha(file),
      bytes: file.length,
      createdAt: m.createdAt,
      source: 'mlops-retrain-trigger buffer',
    } satisfies DatasetManifest);
    expect(Date.parse(m.createdAt)).to.be.at.least(before - 1);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, m.file.replace(/l$/, '')), 'utf8')) as DatasetManifest;
    expect(manifest).to.deep.equal(m);
    const lines = file.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).to.deep.equal({ t: T0 + 3000, id: 'w2', x: vec(2, 4), y: 1 });
    expect(lines[1]).to.deep.equal({ t: T0 + 4000, id: 'w3', x: vec(3, 4), y: 0 });
    expect(lines[2]).to.deep.equal({ t: T0 + 5000, id: 'w4', x: vec(4, 4) });
    const d = await readDataset(path.join(out, m.file.replace(/l$/, '')));
    expect(d.x).to.have.length(8);
    expect(d.y).to.deep.equal([1, 0, undefined, undefined, undefined, undefined, undefined, undefined]);
    // no label, no y
    const plain = await b.snapshot(out, { since: T0 + 5000, names: names40.slice(0, 4) });
    expect((await readDataset(path.join(out, plain.file.replace(/l$/, '')))).y).to.equal(undefined);
  });

  it('readDataset refuses a dataset changed after its snapshot, and a manifest that is not one', async () => {
    const b = await openBuffer();
    for (let i = 0; i < 5; i++) b.add({ t: T0 + i, features: vec(i, 3), names: ['a', 'b', 'c'] });
    const m = await b.snapshot(out);
    const manifestFile = path.join(out, m.file.replace(/l$/, ''));
    const dataFile = path.join(out, m.file);
    const original = fs.readFileSync(dataFile, 'utf8');
    fs.writeFileSync(dataFile, original.replace(/"x":\[[^,]+,/, '"x":[42,'));
    const e = await rejection(readDataset(manifestFile));
    expect(e).to.be.instanceOf(BufferError);
    expect([e.code, e.catalog, e.params.file, e.params.expected, e.params.got]).to.deep.equal(['datasetChanged', 'mlops-retrain-trigger', dataFile, m.sha256, sha(fs.readFileSync(dataFile))]);
    fs.writeFileSync(dataFile, original.split('\n').slice(1).join('\n')); // a row removed
    expect((await rejection(readDataset(manifestFile))).code).to.equal('datasetChanged');
    fs.writeFileSync(dataFile, original);
    expect((await readDataset(manifestFile)).x).to.have.length(5);
    fs.writeFileSync(manifestFile, JSON.stringify({ ...m, file: '../../etc/passwd' }));
    expect((await rejection(readDataset(manifestFile))).code).to.equal('badManifest');
    fs.writeFileSync(manifestFile, '{"file":');
    expect((await rejection(readDataset(manifestFile))).code).to.equal('badManifest');
    expect((await rejection(readDataset(path.join(out, 'missing.json')))).code).to.equal('readFailed');
  });

  it('refuses bad rows, labels and options with a coded error, keeping every row accepted before', async () => {
    const b = await openBuffer({ maxBytes: 1 << 20, flushMs: 20 });
    const names = ['a.rms', 'a.peak'];
    b.add({ t: T0, id: 'w0', features: [1, 2], names });
    b.add({ t: T0 + 1, id: 'w1', features: new Float64Array([3, 4]), names });
    const cases: Array<[unknown, string, Record<string, unknown>]> = [
      [{ t: T0 + 2, features: [1, NaN], names }, 'notFinite', { name: 'a.peak', index: 1, got: 'number NaN' }],
      [{ t: T0 + 2, features: [Infinity, 1], names }, 'notFinite', { name: 'a.rms', index: 0, got: 'number Infinity' }],
      [{ t: T0 + 2, features: [1, 2, 3], names }, 'featureCount', { got: 3, expected: 2 }],
      [{ t: T0 + 2, features: [], names: [] }, 'badNames', { got: 'an empty array' }],
      [{ t: T0 + 2, features: [1, 2], names: ['a', ''] }, 'badNames', { got: 'an array of 2' }],
      [{ t: T0 + 2, features: [1, 2], names: ['a', 'a'] }, 'duplicateName', { name: 'a' }],
      [{ t: T0 + 2, features: '1,2', names }, 'badFeatures', { got: 'the text "1,2"' }],
      [{ t: T0 + 2, features: [1, '2'], names }, 'notFinite', { name: 'a.peak', index: 1, got: 'the text "2"' }],
      [{ t: NaN, features: [1, 2], names }, 'badTime', { got: 'number NaN' }],
      [{ t: 1e300, features: [1, 2], names }, 'badTime', { got: 'number 1e+300' }],
      [{ t: T0, start: T0 + 5, features: [1, 2], names }, 'badStart', { got: `number ${T0 + 5}`, t: T0 }],
      [{ t: T0, id: '', features: [1, 2], names }, 'badId', { got: 'the text ""', max: 200 }],
      [null, 'badRow', { got: 'null' }],
    ];
    for (const [row, code, params] of cases) {
      const e = thrown(() => b.add(row as Parameters<TrainingBuffer['add']>[0]));
      expect(e, code).to.be.instanceOf(BufferError);
      expect([e.code, e.catalog, e.params], JSON.stringify(row)).to.deep.equal([code, 'mlops-retrain-trigger', params]);
      expect(e.message).to.match(/expected/);
    }
    expect(thrown(() => b.add({ t: T0, features: new Array(10_000).fill(1.2345678901234567), names: Array.from({ length: 10_000 }, (_, i) => `f${i}`) })).code).to.equal('rowTooLarge');
    expect(thrown(() => b.label({ value: 1 })).code).to.equal('labelKey');
    expect(thrown(() => b.label({ id: 'w0', value: NaN })).code).to.equal('labelValue');
    expect(thrown(() => b.label({ id: 'w0', value: true as unknown as number })).code).to.equal('labelValue');
    expect(thrown(() => b.label({ t: Infinity, value: 1 })).code).to.equal('labelTime');
    expect(thrown(() => b.label({ t: T0, value: 1, toleranceMs: -1 })).code).to.equal('tolerance');
    expect((await rejection(b.snapshot(out, { since: NaN }))).code).to.equal('since');
    expect(b.stats()).to.include({ rows: 2, labelled: 0, unmatched: 0 });
    b.add({ t: T0 + 2, id: 'w2', features: [5, 6], names });
    await sleep(100); // the timer writes
    expect(fs.readFileSync(path.join(dir, segmentsOf(dir)[0]), 'utf8').trim().split('\n')).to.have.length(4);
    const d = await readDataset(path.join(out, (await b.snapshot(out)).file.replace(/l$/, '')));
    expect(d.x).to.deep.equal([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);

    for (const [o, code] of [
      [{ maxBytes: 100 }, 'maxBytes'],
      [{ maxBytes: 1e6, segmentBytes: 2e6 }, 'segmentBytes'],
      [{ maxBytes: 1e6, flushMs: -1 }, 'flushMs'],
    ] as const) {
      const e = await rejection(TrainingBuffer.open(path.join(path.dirname(dir), 'other'), o));
      expect([e.code, e.catalog]).to.deep.equal([code, 'mlops-retrain-trigger']);
    }
    expect((await rejection(TrainingBuffer.open(dir, { maxBytes: 1 << 20 }))).code).to.equal('inUse');
    await b.close();
    expect(thrown(() => b.add({ t: T0, features: [1, 2], names })).code).to.equal('closed');
  });

  it('keeps rows a failed write could not store and writes them at the next flush; refuses rows while too many wait', async () => {
    const errors: BufferError[] = [];
    const b = await openBuffer({ maxBytes: 64 * 1024, flushMs: 20, onError: (e) => errors.push(e) });
    // the segment file cannot be written: a folder stands in its place
    const blocker = path.join(dir, 'seg-000000000001.jsonl');
    fs.mkdirSync(blocker);
    b.add({ t: T0, id: 'w0', features: vec(0), names: names40 });
    const e = await rejection(b.flush());
    expect([e.code, e.catalog, e.params.file]).to.deep.equal(['writeFailed', 'mlops-retrain-trigger', blocker]);
    expect(b.stats().error?.code).to.equal('writeFailed');
    let i = 1;
    let refused: BufferError | undefined;
    for (; i < 100 && !refused; i++) {
      try {
        b.add({ t: T0 + i, id: `w${i}`, features: vec(i), names: names40 });
      } catch (err) {
        refused = err as BufferError;
      }
    }
    expect(refused?.code).to.equal('backlog');
    expect(refused?.params.dir).to.equal(dir);
    await sleep(60);
    expect(errors.length).to.be.at.least(1); // the timer tried, and said so
    fs.rmdirSync(blocker);
    await b.flush();
    expect(b.stats().error).to.equal(undefined);
    expect(b.stats().rows).to.equal(i - 1); // w0 .. w(i-2); w(i-1) was refused
    await b.close();
    open.length = 0;
    const again = await openBuffer({ maxBytes: 64 * 1024 });
    expect(again.stats()).to.include({ rows: i - 1, skipped: 0, torn: 0, first: T0, last: T0 + i - 2 });
  });

  it('skips a damaged line in the middle and keeps the rows around it', async () => {
    const b = await openBuffer();
    for (let i = 0; i < 4; i++) b.add({ t: T0 + i, id: `w${i}`, features: [i, i], names: ['a', 'b'] });
    await b.close();
    open.length = 0;
    const file = path.join(dir, segmentsOf(dir)[0]);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[2] = lines[2].replace('"x":[', '"x":[oops');
    fs.writeFileSync(file, lines.join('\n'));
    const again = await openBuffer();
    expect(again.stats()).to.include({ rows: 3, skipped: 1, torn: 0 });
    expect((await again.snapshot(out)).rows).to.equal(3);
  });
});
