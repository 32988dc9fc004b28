/**
 * The approval gate's audit trail: an append-only log of JSON lines, each chained to the one
 * before by its sha256, so that a changed, inserted or removed line shows.
 *
 *   <file>        {"seq":1,"at":"<ISO time>","prev":"<64 zeros>", ...entry}\n
 *                 {"seq":2,"at":"...","prev":"<sha256 of line 1's bytes>", ...entry}\n
 *   <file>.head   {"seq":<last seq>,"sha256":"<sha256 of the last line>"}, written atomically
 *
 * The chain alone cannot see lines cut from the end; the head file can. Each append is one write
 * of the line and its newline, fsynced, then the head file is replaced; the append resolves only
 * then. A line a crash left half written (the file does not end with a newline) was never
 * acknowledged: open cuts it off and appends a `recovery` record that says so. Open reads only the
 * end of the file, so a long log opens fast; `verifyAuditLog` reads it all. Without a secret key
 * the chain shows edits, not a writer who recomputes every hash: keep a copy of the head elsewhere
 * for that. One writer per file: in one process, share it with `sharedAuditLog`.
 */
import { createHash } from 'crypto';
import { createReadStream, promises as fsp } from 'fs';
import type { FileHandle } from 'fs/promises';
import * as path from 'path';
import * as readline from 'readline';
import { CodedError, causedBy } from '../node-red/errors';
import { writeAtomic } from '../registry/store';

/** The catalog of the approval gate, where the audit log's error texts live. */
export const AUDIT_CATALOG = 'mlops-approval-gate';

/** An error of the audit log (texts in the approval gate's catalog). */
export class AuditError extends CodedError {
  constructor(code: string, params: Record<string, string | number>, message: string) {
    super(code, params, message, AUDIT_CATALOG);
  }
}

/** One line of the log as written. */
export type AuditRecord = { seq: number; at: string; prev: string; [k: string]: unknown };

/** `prev` of the first line. */
export const GENESIS = '0'.repeat(64);
/** Largest entry accepted, as JSON bytes (an audit entry is small; this bounds open and read). */
export const MAX_ENTRY_BYTES = 1_000_000;
/** Largest line open reads: an entry and the fields the log adds. */
const MAX_LINE_BYTES = MAX_ENTRY_BYTES + 1000;
const RESERVED = ['seq', 'at', 'prev'];
const CHUNK = 64 * 1024;
const NL = 0x0a;

const sha256 = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
const reasonOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

export class AuditLog {
  /** Appends (and reads) in turn. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed?: Promise<void>;
  /** Why a failed write left the file in doubt (appends refused until a reopen cuts the tail). */
  private broken?: string;

  private constructor(
    readonly file: string,
    private fh: FileHandle,
    /** Seq of the last line (0 when empty). */
    private seq: number,
    /** sha256 of the last line (GENESIS when empty). */
    private last: string,
    /** Bytes in the file (where a failed append is cut back to). */
    private size: number,
  ) {}

  /**
   * Opens (or creates) the log and its folder; continues the chain from the last line. A torn last
   * line is cut off and a `recovery` record appended. Refuses a log whose last line is not a record
   * or that does not match its head file (lines removed from the end), so that no append hides that.
   */
  static async open(file: string): Promise<AuditLog> {
    const abs = path.resolve(file);
    let fh: FileHandle;
    try {
      await fsp.mkdir(path.dirname(abs), { recursive: true });
      fh = await fsp.open(abs, 'a+', 0o640);
    } catch (e) {
      throw causedBy(new AuditError('auditOpen', { file: abs, reason: reasonOf(e) }, `could not open audit log ${abs}: ${reasonOf(e)}`), e);
    }
    try {
      const size = (await fh.stat()).size;
      // a torn last line: everything after the last newline
      const complete = size > 0 && (await byteAt(fh, size - 1)) !== NL ? await lineStart(fh, size) : size;
      let seq = 0;
      let last = GENESIS;
      if (complete > 0) {
        const start = await lineStart(fh, complete - 1);
        const bytes = await readRange(fh, start, complete - 1);
        const rec = bytes && parseRecord(bytes);
        if (!rec) throw new AuditError('auditLastLine', { file: abs }, `the last line of audit log ${abs} is not an audit record: expected a JSON object with a seq of 1 or more (check the log with scripts/audit-verify.ts)`);
        seq = rec.seq;
        last = sha256(bytes!);
        await checkHead(fh, abs, seq, last, start);
      } else {
        const head = await readHead(abs);
        if (head === 'unreadable') throw headUnreadable(abs);
        if (head && head.seq > 0) throw headMismatch(abs, 0, head.seq);
      }
      const log = new AuditLog(abs, fh, seq, last, complete);
      if (complete < size) {
        const torn = await hashRange(abs, complete, size);
        await fh.truncate(complete);
        await fh.sync();
        await log.append({ type: 'recovery', tornBytes: torn.bytes, tornSha256: torn.sha256 });
      }
      return log;
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  /**
   * Appends one record, in call order: `seq`, `at` and `prev` first, then the entry's fields (as
   * JSON: taken when called). Resolves with the record once it and the head file are on disk.
   */
  append(entry: Record<string, unknown>): Promise<AuditRecord> {
    let json: string;
    try {
      json = entryJson(entry);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.closed) return Promise.reject(new AuditError('auditClosed', { file: this.file }, `audit log ${this.file} is closed: expected appends before close`));
    return this.inTurn(() => this.write(json));
  }

  /** Every record, oldest first (after the appends called before). */
  read(): Promise<AuditRecord[]> {
    return this.inTurn(async () => {
      const records: AuditRecord[] = [];
      const text = (await fsp.readFile(this.file)).subarray(0, this.size).toString('utf8');
      const lines = text.split('\n');
      lines.pop(); // after the last newline
      lines.forEach((line, i) => {
        const rec = parseRecord(line);
        if (!rec) throw new AuditError('auditUnreadable', { file: this.file, line: i + 1 }, `line ${i + 1} of audit log ${this.file} is not an audit record: expected one JSON object with a seq per line`);
        records.push(rec);
      });
      return records;
    });
  }

  /** Waits for the appends called before, then closes the file. Appends after are refused. */
  close(): Promise<void> {
    this.closed ??= this.queue.then(() => this.fh.close());
    return this.closed;
  }

  private inTurn<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(json: string): Promise<AuditRecord> {
    if (this.broken) throw new AuditError('auditBroken', { file: this.file, reason: this.broken }, `audit log ${this.file} may end in a partial line after a failed write (${this.broken}): expected it reopened, which cuts that line off`);
    const seq = this.seq + 1;
    const head = JSON.stringify({ seq, at: new Date().toISOString(), prev: this.last });
    const line = json === '{}' ? head : `${head.slice(0, -1)},${json.slice(1)}`;
    const buf = Buffer.from(`${line}\n`);
    try {
      const { bytesWritten } = await this.fh.write(buf, 0, buf.length);
      if (bytesWritten !== buf.length) throw new Error(`wrote ${bytesWritten} of ${buf.length} bytes`);
      await this.fh.sync();
    } catch (e) {
      // cut back what may have been written, so the file still ends with the last good line
      await this.fh.truncate(this.size).then(() => this.fh.sync()).catch(() => {
        this.broken = reasonOf(e);
      });
      throw causedBy(new AuditError('auditWrite', { file: this.file, reason: reasonOf(e) }, `could not append to audit log ${this.file}: ${reasonOf(e)}`), e);
    }
    this.seq = seq;
    this.last = sha256(line);
    this.size += buf.length;
    try {
      await writeAtomic(`${this.file}.head`, JSON.stringify({ seq, sha256: this.last }));
    } catch (e) {
      throw causedBy(new AuditError('auditHeadWrite', { file: this.file, seq, reason: reasonOf(e) }, `record ${seq} is in audit log ${this.file}, but its head file could not be updated: ${reasonOf(e)}`), e);
    }
    return JSON.parse(line) as AuditRecord;
  }
}

/** The entry as JSON, checked: an object of plain values, no reserved key, not too large. */
function entryJson(entry: Record<string, unknown>): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(entry);
  } catch (e) {
    throw new AuditError('auditNotJson', { reason: reasonOf(e) }, `the audit entry cannot be written as JSON (${reasonOf(e)}): expected plain values (text, numbers, true/false, null, lists, objects)`);
  }
  const parsed: unknown = json === undefined ? undefined : JSON.parse(json);
  if (!isObject(parsed)) {
    const got = parsed === null ? 'null' : Array.isArray(parsed) ? 'a list' : typeof entry;
    throw new AuditError('auditEntry', { got }, `expected an audit entry as an object of fields, got ${got}`);
  }
  for (const key of RESERVED) {
    if (Object.prototype.hasOwnProperty.call(parsed, key)) throw new AuditError('auditReservedKey', { key }, `the audit entry has the field "${key}", which the log sets itself: expected an entry without seq, at and prev`);
  }
  const bytes = Buffer.byteLength(json!);
  if (bytes > MAX_ENTRY_BYTES) throw new AuditError('auditTooLarge', { size: bytes, max: MAX_ENTRY_BYTES }, `the audit entry is ${bytes} bytes as JSON: expected at most ${MAX_ENTRY_BYTES}`);
  return json!;
}

/** A line as a record: a JSON object with a positive integer seq, else undefined. */
function parseRecord(line: string | Uint8Array): AuditRecord | undefined {
  try {
    const o: unknown = JSON.parse(typeof line === 'string' ? line : Buffer.from(line).toString('utf8'));
    return isObject(o) && Number.isSafeInteger(o.seq) && (o.seq as number) >= 1 ? (o as AuditRecord) : undefined;
  } catch {
    return undefined;
  }
}

async function byteAt(fh: FileHandle, pos: number): Promise<number> {
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, pos);
  return b[0];
}

/** Where the line ending before `end` starts: just after the last newline before `end`, or 0. Reads backwards. */
async function lineStart(fh: FileHandle, end: number): Promise<number> {
  const buf = Buffer.alloc(CHUNK);
  let pos = end;
  while (pos > 0) {
    const n = Math.min(CHUNK, pos);
    pos -= n;
    await fh.read(buf, 0, n, pos);
    const i = buf.subarray(0, n).lastIndexOf(NL);
    if (i >= 0) return pos + i + 1;
  }
  return 0;
}

/** Bytes [start, end) of the file; undefined for a line larger than any append writes. */
async function readRange(fh: FileHandle, start: number, end: number): Promise<Buffer | undefined> {
  if (end - start > MAX_LINE_BYTES) return undefined;
  const b = Buffer.alloc(end - start);
  await fh.read(b, 0, b.length, start);
  return b;
}

/** Length and sha256 of bytes [start, end) of a file, streamed. */
async function hashRange(file: string, start: number, end: number): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { start, end: end - 1 })) h.update(chunk as Buffer);
  return { bytes: end - start, sha256: h.digest('hex') };
}

/** The head file, undefined when there is none; 'unreadable' when it is not `{seq, sha256}`. */
async function readHead(file: string): Promise<{ seq: number; sha256: string } | undefined | 'unreadable'> {
  let text: string;
  try {
    text = await fsp.readFile(`${file}.head`, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const o: unknown = JSON.parse(text);
    if (isObject(o) && Number.isSafeInteger(o.seq) && typeof o.sha256 === 'string') return { seq: o.seq as number, sha256: o.sha256 };
  } catch {
    // falls through
  }
  return 'unreadable';
}

const headMismatch = (file: string, seq: number, headSeq: number | string) =>
  new AuditError(
    'auditHeadMismatch',
    { file, seq, headSeq },
    `audit log ${file} ends at record ${seq} but its head file records ${headSeq}: lines were removed or changed at the end. Expected them to match: check the log with scripts/audit-verify.ts, then move it aside to start a new one`,
  );

const headUnreadable = (file: string) =>
  new AuditError('auditHeadUnreadable', { file: `${file}.head` }, `the head file ${file}.head is not JSON with a seq and a sha256: expected the one the audit log writes (check the log with scripts/audit-verify.ts)`);

/**
 * At open: the head file must name the last line. Repairs the one state a crash leaves (the line
 * written, the head not yet: the head names the line before, or is missing after the first line).
 */
async function checkHead(fh: FileHandle, file: string, seq: number, last: string, lastStart: number): Promise<void> {
  const head = await readHead(file);
  if (head === 'unreadable') throw headUnreadable(file);
  if (head && head.seq === seq && head.sha256 === last) return;
  let crashed = false;
  if (!head) crashed = seq === 1 && lastStart === 0;
  else if (head.seq === seq - 1 && lastStart > 0) {
    const start = await lineStart(fh, lastStart - 1);
    const bytes = await readRange(fh, start, lastStart - 1);
    crashed = !!bytes && sha256(bytes) === head.sha256;
  }
  if (crashed) await writeAtomic(`${file}.head`, JSON.stringify({ seq, sha256: last }));
  else if (!head) throw new AuditError('auditHeadMissing', { file, seq }, `audit log ${file} has ${seq} records but no head file (${file}.head): expected one next to every log with records. Check the log with scripts/audit-verify.ts, then move it aside to start a new one`);
  else throw headMismatch(file, seq, head.seq);
}

const shared = new Map<string, { log: Promise<AuditLog>; refs: number }>();
const closing = new Map<string, Promise<void>>();

/** The one writer of a log file in this process (by absolute path), opened on first use; release it with `releaseAuditLog`. */
export function sharedAuditLog(file: string): Promise<AuditLog> {
  const abs = path.resolve(file);
  let s = shared.get(abs);
  if (!s) {
    const log = (async () => {
      await closing.get(abs);
      return AuditLog.open(abs);
    })();
    const entry = { log, refs: 0 };
    shared.set(abs, (s = entry));
    log.catch(() => shared.get(abs) === entry && shared.delete(abs));
  }
  s.refs++;
  return s.log;
}

/** Gives back a log from `sharedAuditLog`; the last release closes it (after its pending appends). */
export async function releaseAuditLog(log: AuditLog): Promise<void> {
  const s = shared.get(log.file);
  if (!s || (await s.log.catch(() => undefined)) !== log || shared.get(log.file) !== s) return;
  if (--s.refs > 0) return;
  shared.delete(log.file);
  const done = log.close().finally(() => closing.get(log.file) === done && closing.delete(log.file));
  closing.set(log.file, done);
  await done;
}

export interface AuditVerdict {
  ok: boolean;
  /** Lines read. */
  records: number;
  /** What does not hold, by line (0: the file as a whole), in plain English. */
  problems: Array<{ line: number; reason: string }>;
}

/**
 * Checks a log line by line (streamed): each line a JSON object, seq counting up from 1, prev the
 * sha256 of the line before, the file ending with a newline; then the head file against the last line.
 */
export async function verifyAuditLog(file: string): Promise<AuditVerdict> {
  const problems: AuditVerdict['problems'] = [];
  let size: number;
  try {
    size = (await fsp.stat(file)).size;
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `audit log ${file} does not exist` : `audit log ${file} cannot be read: ${reasonOf(e)}`;
    return { ok: false, records: 0, problems: [{ line: 0, reason }] };
  }
  let n = 0;
  let expected = 1;
  let prevHash = GENESIS;
  /** Seq (NaN: none) and sha256 of the last line, and of the one before (what the head names when the last is torn). */
  let lastSeq = 0;
  let lastHash = GENESIS;
  let lastSeqBefore = 0;
  let lastHashBefore = GENESIS;
  const rl = readline.createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of rl) {
    n++;
    const hash = sha256(line);
    lastSeqBefore = lastSeq;
    lastHashBefore = lastHash;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      o = undefined;
    }
    if (!isObject(o)) {
      problems.push({ line: n, reason: `line ${n}: not a JSON object (expected one audit record per line)` });
      expected++;
    } else {
      const seq = o.seq;
      if (!Number.isSafeInteger(seq) || (seq as number) < 1) {
        problems.push({ line: n, reason: `line ${n}: seq is ${JSON.stringify(seq) ?? 'missing'}, expected ${expected}` });
        expected++;
      } else {
        if (seq !== expected) problems.push({ line: n, reason: `line ${n}: seq is ${seq}, expected ${expected} (seq counts up by one from 1: a line was removed, inserted or reordered)` });
        expected = (seq as number) + 1;
      }
      if (o.prev !== prevHash) {
        problems.push({
          line: n,
          reason: n === 1 ? `line 1: prev is not 64 zeros, expected for the first record (lines were removed from the start)` : `line ${n}: prev does not match the sha256 of line ${n - 1} (a line was changed, inserted or removed)`,
        });
      }
      if (typeof o.at !== 'string' || Number.isNaN(Date.parse(o.at))) problems.push({ line: n, reason: `line ${n}: at is not an ISO time (expected when the record was written)` });
    }
    lastSeq = isObject(o) && Number.isSafeInteger(o.seq) ? (o.seq as number) : NaN;
    lastHash = hash;
    prevHash = hash;
  }
  const torn = size > 0 && (await lastByte(file)) !== NL;
  if (torn) {
    problems.push({ line: n, reason: `line ${n}: does not end with a newline (an append torn by a crash; opening the log cuts it off)` });
    lastHash = lastHashBefore;
    lastSeq = lastSeqBefore;
  }
  const complete = torn ? n - 1 : n;
  const head = await readHead(file).catch(() => 'unreadable' as const);
  if (head === 'unreadable') problems.push({ line: 0, reason: `head file ${file}.head is not JSON with a seq and a sha256 (expected the one the audit log writes)` });
  else if (!head) {
    if (complete > 0) problems.push({ line: 0, reason: `head file missing: expected ${file}.head naming the last record, as every append writes it` });
  } else if (complete === 0) {
    if (head.seq !== 0) problems.push({ line: 0, reason: `the log has no records but the head file records seq ${head.seq} (lines were removed from the end)` });
  } else if (head.seq !== lastSeq && !Number.isNaN(lastSeq)) {
    const why = head.seq > lastSeq ? 'lines were removed from the end' : 'lines were appended after the head was written: a crash right after an append leaves this, and opening the log repairs it; else lines were added';
    problems.push({ line: complete, reason: `head file records seq ${head.seq}, but the log ends at seq ${lastSeq} (${why})` });
  } else if (head.sha256 !== lastHash) {
    problems.push({ line: complete, reason: `head file's sha256 does not match line ${complete}, the last line (it was changed or replaced)` });
  }
  return { ok: problems.length === 0, records: n, problems };
}

async function lastByte(file: string): Promise<number> {
  const fh = await fsp.open(file, 'r');
  try {
    const { size } = await fh.stat();
    return byteAt(fh, size - 1);
  } finally {
    await fh.close();
  }
}
