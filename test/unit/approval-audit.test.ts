/**
 * The approval gate's audit log (nodes/lib/approval/audit.ts), on a real folder: a hash chain that
 * survives a reopen and concurrent appends, edits found by verify (a changed, removed or inserted
 * line, a tail cut off, seen through the head file), a torn append cut off at open and recorded,
 * one shared writer per file, and the verify CLI.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { AuditError, AuditLog, GENESIS, releaseAuditLog, sharedAuditLog, verifyAuditLog } from '../../nodes/lib/approval/audit';
import { tmpDir } from '../support/red';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
/** The log's lines (without the empty string after the last newline). */
const linesOf = (file: string) => fs.readFileSync(file, 'utf8').split('\n').slice(0, -1);
const writeLines = (file: string, lines: string[]) => fs.writeFileSync(file, lines.map((l) => `${l}\n`).join(''));

async function rejection(p: Promise<unknown>): Promise<AuditError> {
  try {
    await p;
  } catch (e) {
    return e as AuditError;
  }
  throw new Error('expected a rejection');
}

/** A log with `n` decisions, closed. */
async function logWith(file: string, n: number): Promise<void> {
  const log = await AuditLog.open(file);
  for (let i = 1; i <= n; i++) await log.append({ type: 'decision', request: `r${i}`, decision: i % 2 ? 'approve' : 'reject', by: 'alice' });
  await log.close();
}

describe('approval: the audit log', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = tmpDir('audit');
    file = path.join(dir, 'approval', 'audit.jsonl');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('chains each line to the one before, across a reopen, with seq, at and prev first', async () => {
    const log = await AuditLog.open(file);
    expect(log.file).to.equal(file);
    const first = await log.append({ type: 'request', request: 'r1', model: 'bearing-fault 1.2.0' });
    expect(first).to.include({ seq: 1, prev: GENESIS, type: 'request', request: 'r1' });
    expect(Date.parse(first.at)).to.be.closeTo(Date.now(), 5000);
    await log.append({ type: 'decision', request: 'r1', decision: 'approve' });
    await log.close();

    const again = await AuditLog.open(file);
    const third = await again.append({ type: 'request', request: 'r2', '5': 'an integer-like key' });
    const lines = linesOf(file);
    expect(lines).to.have.length(3);
    expect(third).to.include({ seq: 3, prev: sha(lines[1]) });
    expect(JSON.parse(lines[1]).prev).to.equal(sha(lines[0]));
    for (const l of lines) expect(Object.keys(JSON.parse(`[${l}]`)[0]).filter((k) => k !== '5').slice(0, 3)).to.deep.equal(['seq', 'at', 'prev']);
    expect(lines[2]).to.match(/^\{"seq":3,"at":"[^"]+","prev":"[0-9a-f]{64}","5":"an integer-like key","type":"request"/);
    expect((await again.read()).map((r) => r.seq)).to.deep.equal([1, 2, 3]);
    expect(JSON.parse(fs.readFileSync(`${file}.head`, 'utf8'))).to.deep.equal({ seq: 3, sha256: sha(lines[2]) });
    await again.close();
    expect(await verifyAuditLog(file)).to.deep.equal({ ok: true, records: 3, problems: [] });
  });

  it('serializes concurrent appends in call order', async () => {
    const log = await AuditLog.open(file);
    const written = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ i })));
    expect(written.map((r) => r.seq)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i + 1));
    const records = await log.read();
    expect(records.map((r) => [r.seq, r.i])).to.deep.equal(Array.from({ length: 50 }, (_, i) => [i + 1, i]));
    expect(records).to.deep.equal(written);
    await log.close();
    expect(await verifyAuditLog(file)).to.deep.equal({ ok: true, records: 50, problems: [] });
  });

  it('finds a field changed in a middle line: the next line no longer chains to it', async () => {
    await logWith(file, 10);
    const lines = linesOf(file);
    lines[4] = lines[4].replace('"decision":"approve"', '"decision":"reject"');
    expect(lines[4]).to.include('"request":"r5","decision":"reject"');
    writeLines(file, lines);
    const v = await verifyAuditLog(file);
    expect(v).to.deep.equal({ ok: false, records: 10, problems: [{ line: 6, reason: 'line 6: prev does not match the sha256 of line 5 (a line was changed, inserted or removed)' }] });
  });

  it('finds a removed middle line', async () => {
    await logWith(file, 10);
    const lines = linesOf(file);
    lines.splice(4, 1);
    writeLines(file, lines);
    const v = await verifyAuditLog(file);
    expect(v.ok).to.equal(false);
    expect(v.records).to.equal(9);
    expect(v.problems).to.deep.equal([
      { line: 5, reason: 'line 5: seq is 6, expected 5 (seq counts up by one from 1: a line was removed, inserted or reordered)' },
      { line: 5, reason: 'line 5: prev does not match the sha256 of line 4 (a line was changed, inserted or removed)' },
    ]);
  });

  it('finds a removed last line through the head file, and open refuses to continue such a log', async () => {
    await logWith(file, 10);
    writeLines(file, linesOf(file).slice(0, 9));
    const v = await verifyAuditLog(file);
    expect(v).to.deep.equal({ ok: false, records: 9, problems: [{ line: 9, reason: 'head file records seq 10, but the log ends at seq 9 (lines were removed from the end)' }] });
    const e = await rejection(AuditLog.open(file));
    expect(e).to.be.instanceOf(AuditError);
    expect([e.code, e.catalog, e.params]).to.deep.equal(['auditHeadMismatch', 'mlops-approval-gate', { file, seq: 9, headSeq: 10 }]);
    expect(linesOf(file)).to.have.length(9);
  });

  it('finds a missing head file, and a last line changed under its head', async () => {
    await logWith(file, 3);
    const head = fs.readFileSync(`${file}.head`);
    fs.rmSync(`${file}.head`);
    expect((await verifyAuditLog(file)).problems.map((p) => p.reason)).to.deep.equal([`head file missing: expected ${file}.head naming the last record, as every append writes it`]);
    expect((await rejection(AuditLog.open(file))).code).to.equal('auditHeadMissing');
    fs.writeFileSync(`${file}.head`, head);
    const lines = linesOf(file);
    lines[2] = lines[2].replace('alice', 'mallory');
    writeLines(file, lines);
    expect((await verifyAuditLog(file)).problems).to.deep.equal([{ line: 3, reason: "head file's sha256 does not match line 3, the last line (it was changed or replaced)" }]);
  });

  it('finds an inserted line', async () => {
    await logWith(file, 6);
    const lines = linesOf(file);
    const forged = JSON.stringify({ seq: 4, at: new Date().toISOString(), prev: sha(lines[2]), type: 'decision', request: 'r3', decision: 'approve', by: 'mallory' });
    lines.splice(3, 0, forged);
    writeLines(file, lines);
    const v = await verifyAuditLog(file);
    expect(v.ok).to.equal(false);
    expect(v.records).to.equal(7);
    expect(v.problems).to.deep.equal([
      { line: 5, reason: 'line 5: seq is 4, expected 5 (seq counts up by one from 1: a line was removed, inserted or reordered)' },
      { line: 5, reason: 'line 5: prev does not match the sha256 of line 4 (a line was changed, inserted or removed)' },
    ]);
  });

  it('cuts a torn last line off at open and records the cut, after which the log verifies', async () => {
    await logWith(file, 3);
    const before = fs.readFileSync(file);
    const torn = '{"seq":4,"at":"2026-12-06T10:00:00.000Z","prev":"ab';
    fs.appendFileSync(file, torn);
    const v = await verifyAuditLog(file);
    expect(v.ok).to.equal(false);
    expect(v.problems).to.deep.equal([
      { line: 4, reason: 'line 4: not a JSON object (expected one audit record per line)' },
      { line: 4, reason: 'line 4: does not end with a newline (an append torn by a crash; opening the log cuts it off)' },
    ]);

    const log = await AuditLog.open(file);
    const records = await log.read();
    expect(records).to.have.length(4);
    expect(records[3]).to.include({ seq: 4, prev: sha(linesOf(file)[2]), type: 'recovery', tornBytes: Buffer.byteLength(torn), tornSha256: sha(torn) });
    expect(fs.readFileSync(file).subarray(0, before.length)).to.deep.equal(before);
    expect(fs.readFileSync(file, 'utf8')).not.to.include('"prev":"ab\n');
    expect((await log.append({ type: 'decision', request: 'r4' })).seq).to.equal(5);
    await log.close();
    expect(await verifyAuditLog(file)).to.deep.equal({ ok: true, records: 5, problems: [] });
  });

  it('cuts a torn first line of a new log, and repairs a head a crash left one record behind', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(file, '{"seq":1,"at":"');
    const log = await AuditLog.open(file);
    expect((await log.read()).map((r) => [r.seq, r.prev, r.type, r.tornBytes])).to.deep.equal([[1, GENESIS, 'recovery', 15]]);
    await log.append({ type: 'request', request: 'r1' });
    const head = fs.readFileSync(`${file}.head`, 'utf8');
    await log.append({ type: 'decision', request: 'r1' });
    await log.close();
    // the crash: line 3 on disk, the head still naming line 2
    fs.writeFileSync(`${file}.head`, head);
    expect((await verifyAuditLog(file)).ok).to.equal(false);
    const again = await AuditLog.open(file);
    await again.close();
    expect(await verifyAuditLog(file)).to.deep.equal({ ok: true, records: 3, problems: [] });
  });

  it('refuses an entry with a field the log sets, or that is not an object of JSON values', async () => {
    const log = await AuditLog.open(file);
    for (const key of ['prev', 'seq', 'at']) {
      const e = await rejection(log.append({ type: 'decision', [key]: 'forged' }));
      expect(e).to.be.instanceOf(AuditError);
      expect([e.code, e.catalog, e.params]).to.deep.equal(['auditReservedKey', 'mlops-approval-gate', { key }]);
      expect(e.message).to.equal(`the audit entry has the field "${key}", which the log sets itself: expected an entry without seq, at and prev`);
    }
    expect((await rejection(log.append([1, 2] as unknown as Record<string, unknown>))).code).to.equal('auditEntry');
    expect((await rejection(log.append({ n: BigInt(1) }))).code).to.equal('auditNotJson');
    expect((await rejection(log.append({ big: 'x'.repeat(1_000_001) }))).code).to.equal('auditTooLarge');
    expect(fs.readFileSync(file, 'utf8')).to.equal('');
    expect((await log.append({ type: 'ok' })).seq).to.equal(1);
    await log.close();
    expect((await rejection(log.append({ type: 'late' }))).code).to.equal('auditClosed');
  });

  it('shares one writer per file, closed at the last release', async () => {
    const a = await sharedAuditLog(file);
    const [b, c] = await Promise.all([sharedAuditLog(path.relative(process.cwd(), file)), sharedAuditLog(file)]);
    const other = await sharedAuditLog(path.join(dir, 'other.jsonl'));
    expect(b).to.equal(a);
    expect(c).to.equal(a);
    expect(other).not.to.equal(a);
    await Promise.all([a.append({ from: 'a' }), b.append({ from: 'b' })]);
    await releaseAuditLog(a);
    await releaseAuditLog(b);
    expect((await c.append({ from: 'c' })).seq).to.equal(3);
    await releaseAuditLog(c);
    expect((await rejection(c.append({ from: 'c' }))).code).to.equal('auditClosed');
    const d = await sharedAuditLog(file);
    expect(d).not.to.equal(a);
    expect((await d.append({ from: 'd' })).seq).to.equal(4);
    await releaseAuditLog(d);
    await releaseAuditLog(other);
    expect((await rejection(other.append({}))).code).to.equal('auditClosed');
    expect(await verifyAuditLog(file)).to.deep.equal({ ok: true, records: 4, problems: [] });
  });

  it('verify reports a missing log', async () => {
    expect(await verifyAuditLog(file)).to.deep.equal({ ok: false, records: 0, problems: [{ line: 0, reason: `audit log ${file} does not exist` }] });
  });

  describe('the verify CLI', () => {
    const root = path.resolve(__dirname, '..', '..');
    const cli = (...args: string[]) => spawnSync(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'audit-verify.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 60000 });

    it('exits 0 on an intact log and 1 on a tampered one, naming each problem', async () => {
      await logWith(file, 4);
      const good = cli(file);
      expect([good.status, good.stdout]).to.deep.equal([0, `audit log ${file}: 4 records, chain intact\n`]);
      const lines = linesOf(file);
      lines[1] = lines[1].replace('"reject"', '"approve"');
      writeLines(file, lines);
      const bad = cli(file);
      expect([bad.status, bad.stdout]).to.deep.equal([1, `line 3: prev does not match the sha256 of line 2 (a line was changed, inserted or removed)\naudit log ${file}: TAMPERED (1 problem)\n`]);
    });

    it('exits 2 with its usage when no file is given', () => {
      const r = cli();
      expect(r.status).to.equal(2);
      expect(r.stderr).to.match(/^usage: tsx scripts\/audit-verify\.ts <audit\.jsonl>/);
    });
  });
});
