/**
 * The training buffer of `retrain trigger`: the recent feature vectors, and their labels when the
 * flow provides them, kept on disk under a size cap, so that a retrain can snapshot them into a
 * dataset.
 *
 *   <dir>/seg-000000000001.jsonl   {"v":1,"names":["vibration.rms",...]}             header: the feature names, once
 *                                  {"n":1,"t":1718000000000,"s":...,"id":"w1","x":[...]}   a row (s: window start, id: optional)
 *                                  {"n":1,"y":"worn"}                                 a label for row 1, written when it came
 *   <dir>/seg-000000000002.jsonl   ...
 *
 * Append-only segment files of JSON lines. Rows and labels are held in memory and written at most
 * `flushMs` (default 1 s) after they came, and on close: one write and one fsync per segment file
 * touched. A kill -9 or a power cut therefore loses at most the rows of the last `flushMs` (and of a
 * flush under way, a few milliseconds); a flush waits while a snapshot reads, so a crash during a
 * snapshot loses the rows added meanwhile. A line a crash left half written is cut off at open.
 *
 * A segment holds rows of one set of feature names; another set (another model's features) starts
 * a new segment, as does a segment reaching `segmentBytes` (default maxBytes / 8). When the buffer
 * would exceed `maxBytes`, its oldest segments are deleted (their rows go first), so it stays
 * between 7/8 of the cap and the cap. A label is joined to its row when it comes (by id, or by the
 * nearest window end) and written as its own line; a label for no row in the buffer (never seen,
 * or already dropped by the cap) is counted as unmatched. One writer per folder.
 */
import { createHash, randomBytes } from 'crypto';
import { promises as fsp } from 'fs';
import type { FileHandle } from 'fs/promises';
import * as path from 'path';
import { describeValue } from '../messages';
import { CodedError, causedBy } from '../node-red/errors';
import { syncDir, writeAtomic } from '../registry/store';

/** The catalog of the retrain trigger, where the buffer's error texts live. */
export const RETRAIN_CATALOG = 'mlops-retrain-trigger';

/** An error of the training buffer (texts in the retrain trigger's catalog). */
export class BufferError extends CodedError {
  constructor(code: string, params: Record<string, string | number>, message: string) {
    super(code, params, message, RETRAIN_CATALOG);
  }
}

export interface BufferOptions {
  /** The size cap of the folder's segment files, in bytes (at least 4096). */
  maxBytes: number;
  /** Longest time a row waits in memory before it is written, in ms (0 to 60000, default 1000). */
  flushMs?: number;
  /** Size at which a new segment starts (1024 up to maxBytes, default maxBytes / 8). */
  segmentBytes?: number;
  /** After each write that reached the disk (fsynced): the rows and labels it held. */
  onFlush?: (f: { rows: number; labels: number; bytes: number; ms: number }) => void;
  /** A write of the timer failed (its rows stay in memory and are written again). */
  onError?: (e: BufferError) => void;
}

/** One feature vector: the window it came from (its end `t`, optionally its start and an id), its values and their names. */
export interface BufferRow {
  /** The window's end, ms since 1970. */
  t: number;
  /** The window's start, ms since 1970 (sets how far a label's time may be from t). */
  start?: number;
  id?: string;
  features: ArrayLike<number>;
  names: string[];
}

/** A label for a row: by the row's id, else by time (the row whose window end is nearest). */
export interface BufferLabel {
  t?: number;
  id?: string;
  value: number | string;
  /** How far t may be from the row's window end; default the row's window length, or 5 s when it has none. */
  toleranceMs?: number;
}

export interface BufferStats {
  rows: number;
  labelled: number;
  /** Bytes of the segment files, counting lines not yet written. */
  bytes: number;
  /** Earliest and latest window end. */
  first?: number;
  last?: number;
  /** The latest feature names (what a snapshot takes by default). */
  names?: string[];
  segments: number;
  /** Labels since open that matched no row (the row never came or was dropped by the cap). */
  unmatched: number;
  /** Rows dropped by the cap since open. */
  dropped: number;
  /** Bytes of a half-written line cut off at open, and complete lines that were not readable (skipped). */
  torn: number;
  skipped: number;
  /** The last failed write, while lines wait to be written again. */
  error?: BufferError;
}

/** What a snapshot wrote: the manifest beside the dataset. */
export interface DatasetManifest {
  /** The dataset file's name, in the manifest's folder. */
  file: string;
  rows: number;
  labelled: number;
  features: string[];
  /** Earliest window start (its end for rows without a start) and latest window end, ISO 8601. */
  span: { start: string; end: string };
  /** Of the dataset file, hex. */
  sha256: string;
  bytes: number;
  createdAt: string;
  source: 'mlops-retrain-trigger buffer';
}

export interface Dataset {
  manifest: DatasetManifest;
  x: number[][];
  /** Present when a row is labelled; undefined for the rows without a label. */
  y?: (number | string | undefined)[];
  t: number[];
}

const MIN_MAX_BYTES = 4096;
const MIN_SEGMENT_BYTES = 1024;
const MAX_FLUSH_MS = 60_000;
const MAX_TEXT = 200;
const DEFAULT_TOLERANCE_MS = 5000;
/** Latest time a Date can hold, so every t has an ISO form. */
const MAX_TIME = 8.64e15;
const SEGMENT = /^seg-(\d{12})\.jsonl$/;
const LABEL_LINE = /^\{"n":\d+,"y":/;
const OUT_CHUNK = 1 << 20;

interface Segment {
  num: number;
  file: string;
  names: string[];
  /** Bytes with the lines not yet written; `disk` the bytes written. */
  bytes: number;
  disk: number;
  rows: number;
  /** Lines besides the header. */
  entries: number;
  dropped?: boolean;
}

interface RowRef {
  n: number;
  t: number;
  s?: number;
  id?: string;
  seg: Segment;
  labelled: boolean;
}

interface Line {
  seg: Segment;
  text: string;
  bytes: number;
  row: boolean;
  header?: boolean;
}

const reasonOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
const namesKey = (names: string[]) => JSON.stringify(names);
const sha256 = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isTime = (v: unknown): v is number => isFiniteNumber(v) && Math.abs(v) <= MAX_TIME;
const iso = (t: number) => new Date(t).toISOString();
const shortNames = (names: string[]) => (names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')}, ... (${names.length})`);

/** Folders open in this process (one writer per folder). */
const openDirs = new Set<string>();

export class TrainingBuffer {
  private segs: Segment[] = [];
  /** Rows in the buffer, oldest first (the order they came in). */
  private rows: RowRef[] = [];
  private byId = new Map<string, RowRef>();
  /** Whether window ends never went back (then a label's time is found by bisection). */
  private sorted = true;
  private nextN = 1;
  private nextSeg = 1;
  private pending: Line[] = [];
  private pendingBytes = 0;
  /** Bytes of every segment, with the lines not yet written. */
  private total = 0;
  /** Segments dropped by the cap whose files the next flush deletes. */
  private toDelete: Segment[] = [];
  private fh?: FileHandle;
  private fhSeg?: Segment;
  private timer?: NodeJS.Timeout;
  private queue: Promise<unknown> = Promise.resolve();
  private closed?: Promise<void>;
  private failure?: BufferError;
  private interned = new Map<string, string[]>();
  private counts = { unmatched: 0, dropped: 0, torn: 0, skipped: 0, labelled: 0 };
  readonly maxBytes: number;
  readonly segmentBytes: number;
  readonly flushMs: number;

  private constructor(readonly dir: string, private readonly o: BufferOptions) {
    this.maxBytes = o.maxBytes;
    this.segmentBytes = o.segmentBytes ?? Math.max(MIN_SEGMENT_BYTES, Math.floor(o.maxBytes / 8));
    this.flushMs = o.flushMs ?? 1000;
  }

  /**
   * Opens (or creates) the buffer in `dir`: reads its segments, cuts a half-written last line off,
   * skips lines it cannot read, and deletes the oldest segments beyond the cap.
   */
  static async open(dir: string, o: BufferOptions): Promise<TrainingBuffer> {
    checkOptions(o);
    const abs = path.resolve(dir);
    if (openDirs.has(abs)) throw new BufferError('inUse', { dir: abs }, `the training buffer in ${abs} is already open in this process: expected one retrain trigger per folder`);
    openDirs.add(abs);
    const b = new TrainingBuffer(abs, o);
    try {
      await b.load();
    } catch (e) {
      openDirs.delete(abs);
      if (e instanceof BufferError) throw e;
      throw causedBy(new BufferError('openFailed', { dir: abs, reason: reasonOf(e) }, `could not open the training buffer in ${abs}: ${reasonOf(e)}`), e);
    }
    return b;
  }

  /**
   * Adds one feature vector (written at the next flush). Refuses, with a coded error and nothing
   * changed, a row whose values are not finite numbers, one per name, or whose names are not distinct texts.
   */
  add(row: BufferRow): void {
    this.usable();
    const r = checkRow(row);
    const names = this.namesFor(r.names);
    const n = this.nextN;
    const text = `{"n":${n},"t":${r.t}${r.s === undefined ? '' : `,"s":${r.s}`}${r.id === undefined ? '' : `,"id":${JSON.stringify(r.id)}`},"x":${JSON.stringify(r.x)}}\n`;
    const bytes = Buffer.byteLength(text);
    if (bytes > this.segmentBytes) throw new BufferError('rowTooLarge', { size: bytes, max: this.segmentBytes }, `the row is ${bytes} bytes as a line: expected at most ${this.segmentBytes} (the segment size; raise the buffer's size)`);
    const seg = this.segmentFor(names, bytes);
    this.push({ seg, text, bytes, row: true });
    const ref: RowRef = { n, t: r.t, seg, labelled: false };
    if (r.s !== undefined) ref.s = r.s;
    if (r.id !== undefined) {
      ref.id = r.id;
      this.byId.set(r.id, ref);
    }
    const last = this.rows[this.rows.length - 1];
    if (last && r.t < last.t) this.sorted = false;
    this.rows.push(ref);
    seg.rows++;
    this.nextN++;
    this.cap();
    this.arm();
  }

  /**
   * Joins a label to a row: by id when it has one, else to the row whose window end is nearest to
   * `t` within the tolerance (ties: the newest row). A later label for the same row replaces it.
   * False (and counted as unmatched) when no row matches.
   */
  label(l: BufferLabel): boolean {
    this.usable();
    const { t, id, value, tolerance } = checkLabel(l);
    let ref: RowRef | undefined;
    if (id !== undefined) ref = this.byId.get(id);
    else {
      ref = this.nearest(t!);
      const tol = tolerance ?? (ref?.s !== undefined && ref.t - ref.s > 0 ? ref.t - ref.s : DEFAULT_TOLERANCE_MS);
      if (ref && Math.abs(ref.t - t!) > tol) ref = undefined;
    }
    if (!ref) {
      this.counts.unmatched++;
      return false;
    }
    const text = `{"n":${ref.n},"y":${JSON.stringify(value)}}\n`;
    const bytes = Buffer.byteLength(text);
    const cur = this.segs[this.segs.length - 1].names;
    const seg = this.segmentFor(cur.length ? cur : ref.seg.names, bytes);
    this.push({ seg, text, bytes, row: false });
    if (!ref.labelled) {
      ref.labelled = true;
      this.counts.labelled++;
    }
    this.cap();
    this.arm();
    return true;
  }

  /** Writes the rows and labels held in memory (one write and fsync per segment file), after the writes and snapshots called before. */
  flush(): Promise<void> {
    return this.inTurn(() => this.write());
  }

  /**
   * Writes the buffer's rows with the wanted names (default: the latest) and window end at or after
   * `since` into `outDir` as `dataset-<time>.jsonl` (one {t, id?, x, y?} per line) and its manifest
   * `dataset-<time>.json`, each whole or not at all (the manifest last). Flushes first.
   */
  snapshot(outDir: string, o: { since?: number; names?: string[] } = {}): Promise<DatasetManifest> {
    try {
      this.usable();
      if (o.since !== undefined && !isTime(o.since)) throw new BufferError('since', { got: describeValue(o.since) }, `expected since as milliseconds since 1970 (a finite number), got ${describeValue(o.since)}`);
      if (o.names !== undefined) checkNames(o.names);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.inTurn(async () => {
      await this.write();
      return this.writeSnapshot(path.resolve(outDir), o.since, o.names);
    });
  }

  stats(): BufferStats {
    let first: number | undefined;
    let last: number | undefined;
    if (this.rows.length && this.sorted) [first, last] = [this.rows[0].t, this.rows[this.rows.length - 1].t];
    else for (const r of this.rows) [first, last] = [Math.min(first ?? r.t, r.t), Math.max(last ?? r.t, r.t)];
    const names = this.segs[this.segs.length - 1]?.names;
    const s: BufferStats = {
      rows: this.rows.length,
      labelled: this.counts.labelled,
      bytes: this.total,
      segments: this.segs.length,
      unmatched: this.counts.unmatched,
      dropped: this.counts.dropped,
      torn: this.counts.torn,
      skipped: this.counts.skipped,
    };
    if (first !== undefined) Object.assign(s, { first, last });
    if (names?.length) s.names = [...names];
    if (this.failure) s.error = this.failure;
    return s;
  }

  /** Rows with the latest names whose window end is at or after `t`: what `snapshot({ since: t })` would take. */
  rowsSince(t: number, want?: string[]): number {
    const latest = this.segs[this.segs.length - 1]?.names;
    // rows of the segments with the names asked for (a model's features), else the latest names
    const key = want?.join('\u0000');
    const names = key === undefined ? latest : this.segs.find((g) => g.names.join('\u0000') === key)?.names;
    let i = 0;
    if (this.sorted) {
      let hi = this.rows.length;
      while (i < hi) {
        const mid = (i + hi) >>> 1;
        if (this.rows[mid].t < t) i = mid + 1;
        else hi = mid;
      }
    }
    let count = 0;
    for (; i < this.rows.length; i++) if (this.rows[i].seg.names === names && this.rows[i].t >= t) count++;
    return count;
  }

  /** Writes what is held, then closes the file. Rows and labels after are refused. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearTimeout(this.timer);
      this.timer = undefined;
      try {
        await this.inTurn(() => this.write());
      } finally {
        await this.fh?.close().catch(() => undefined);
        this.fh = undefined;
        openDirs.delete(this.dir);
      }
    })();
    return this.closed;
  }

  private usable(): void {
    if (this.closed) throw new BufferError('closed', { dir: this.dir }, `the training buffer in ${this.dir} is closed: expected rows and labels before close`);
    if (this.failure && this.pendingBytes > this.segmentBytes) {
      const reason = this.failure.params.reason ?? this.failure.message;
      throw causedBy(new BufferError('backlog', { dir: this.dir, bytes: this.pendingBytes, reason }, `the training buffer could not write to ${this.dir} (${reason}) and holds ${this.pendingBytes} bytes unwritten: rows are refused until the disk takes them`), this.failure);
    }
  }

  /** The interned names equal to `names` (the latest segment's when equal, no copy). */
  private namesFor(names: string[]): string[] {
    const cur = this.segs[this.segs.length - 1]?.names;
    if (cur && cur.length === names.length && cur.every((v, i) => v === names[i])) return cur;
    const key = namesKey(names);
    let got = this.interned.get(key);
    if (!got) this.interned.set(key, (got = [...names]));
    return got;
  }

  /** The segment a line of `bytes` goes to: the latest, or a new one (header queued) for other names or when it is full. */
  private segmentFor(names: string[], bytes: number): Segment {
    const cur = this.segs[this.segs.length - 1];
    if (cur && cur.names === names && (cur.entries === 0 || cur.bytes + bytes <= this.segmentBytes)) {
      cur.entries++;
      return cur;
    }
    const num = this.nextSeg++;
    const seg: Segment = { num, file: path.join(this.dir, `seg-${String(num).padStart(12, '0')}.jsonl`), names, bytes: 0, disk: 0, rows: 0, entries: 1 };
    this.segs.push(seg);
    const text = `${JSON.stringify({ v: 1, names })}\n`;
    this.push({ seg, text, bytes: Buffer.byteLength(text), row: false, header: true });
    return seg;
  }

  private push(line: Line): void {
    this.pending.push(line);
    this.pendingBytes += line.bytes;
    line.seg.bytes += line.bytes;
    this.total += line.bytes;
  }

  /** Drops the oldest segments (never the latest) while the buffer is above the cap; their files go at the next flush. */
  private cap(): void {
    while (this.total > this.maxBytes && this.segs.length > 1) this.dropSegment(this.segs.shift()!);
  }

  private dropSegment(seg: Segment): void {
    seg.dropped = true;
    this.toDelete.push(seg);
    this.total -= seg.bytes;
    let k = 0;
    while (k < this.rows.length && this.rows[k].seg === seg) {
      const r = this.rows[k++];
      if (r.id !== undefined && this.byId.get(r.id) === r) this.byId.delete(r.id);
      if (r.labelled) this.counts.labelled--;
    }
    this.rows.splice(0, k);
    this.counts.dropped += k;
    const before = this.pending.length;
    this.pending = this.pending.filter((l) => l.seg !== seg);
    if (this.pending.length !== before) this.pendingBytes = this.pending.reduce((a, l) => a + l.bytes, 0);
  }

  /** The row whose window end is nearest to t (ties: the newest). */
  private nearest(t: number): RowRef | undefined {
    const rows = this.rows;
    if (!rows.length) return undefined;
    let best: RowRef | undefined;
    const better = (r: RowRef) => !best || Math.abs(r.t - t) < Math.abs(best.t - t) || (Math.abs(r.t - t) === Math.abs(best.t - t) && r.n > best.n);
    if (!this.sorted) {
      for (const r of rows) if (better(r)) best = r;
      return best;
    }
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rows[mid].t < t) lo = mid + 1;
      else hi = mid;
    }
    // lo: the first row at or after t; rows with the same t are contiguous
    for (let i = lo; i < rows.length && rows[i].t === rows[lo].t; i++) if (better(rows[i])) best = rows[i];
    for (let i = lo - 1; i >= 0 && rows[i].t === rows[lo - 1].t; i--) if (better(rows[i])) best = rows[i];
    return best;
  }

  private arm(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((e: BufferError) => {
        this.o.onError?.(e);
        this.arm();
      });
    }, this.flushMs);
    this.timer.unref?.();
  }

  private inTurn<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Deletes the files of dropped segments, then writes the lines held: one write and fsync per segment. */
  private async write(): Promise<void> {
    const t0 = Date.now();
    if (this.toDelete.length) {
      try {
        while (this.toDelete.length) {
          const seg = this.toDelete[0];
          if (this.fhSeg === seg) await this.closeFile();
          await fsp.rm(seg.file, { force: true });
          this.toDelete.shift();
        }
        await syncDir(this.dir);
      } catch (e) {
        throw this.failed(this.toDelete[0]?.file ?? this.dir, e);
      }
    }
    const lines = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    let rows = 0;
    let labels = 0;
    let bytes = 0;
    for (let i = 0; i < lines.length; ) {
      const seg = lines[i].seg;
      let j = i;
      while (j < lines.length && lines[j].seg === seg) j++;
      const group = lines.slice(i, j);
      try {
        const created = await this.fileOf(seg);
        const buf = Buffer.from(group.map((l) => l.text).join(''));
        await this.append(buf);
        if (created) await syncDir(this.dir);
        seg.disk += buf.length;
      } catch (e) {
        // what is not written waits for the next flush, before what came since
        const rest = lines.slice(i);
        this.pending = [...rest, ...this.pending];
        this.pendingBytes = this.pending.reduce((a, l) => a + l.bytes, 0);
        throw this.failed(seg.file, e);
      }
      for (const l of group) {
        if (l.row) rows++;
        else if (!l.header) labels++;
        bytes += l.bytes;
      }
      i = j;
    }
    this.failure = undefined;
    if (lines.length) this.o.onFlush?.({ rows, labels, bytes, ms: Date.now() - t0 });
  }

  private failed(file: string, e: unknown): BufferError {
    const err = e instanceof BufferError ? e : causedBy(new BufferError('writeFailed', { file, reason: reasonOf(e) }, `could not write the training buffer's file ${file}: ${reasonOf(e)}; its rows stay in memory and are written at the next flush`), e);
    this.failure = err;
    return err;
  }

  /** Makes `seg`'s file the open one; true when it was created. */
  private async fileOf(seg: Segment): Promise<boolean> {
    if (this.fhSeg === seg && this.fh) return false;
    await this.closeFile();
    const created = !(await fsp.stat(seg.file).then(() => true, () => false));
    this.fh = await fsp.open(seg.file, 'a', 0o644);
    this.fhSeg = seg;
    // a failed write before may have left part of a line: back to what was written
    if ((await this.fh.stat()).size !== seg.disk) await this.fh.truncate(seg.disk);
    return created;
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    this.fhSeg = undefined;
    await fh?.close();
  }

  /** One write and an fsync; on failure the file is cut back to what was written before. */
  private async append(buf: Buffer): Promise<void> {
    const fh = this.fh!;
    try {
      const { bytesWritten } = await fh.write(buf, 0, buf.length);
      if (bytesWritten !== buf.length) throw new Error(`wrote ${bytesWritten} of ${buf.length} bytes`);
      await fh.sync();
    } catch (e) {
      await fh.truncate(this.fhSeg!.disk).catch(() => undefined);
      await this.closeFile().catch(() => undefined);
      throw e;
    }
  }

  private async load(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    const files = (await fsp.readdir(this.dir))
      .map((f) => ({ f, m: SEGMENT.exec(f) }))
      .filter((x) => x.m)
      .map((x) => ({ file: path.join(this.dir, x.f), num: Number(x.m![1]) }))
      .sort((a, b) => a.num - b.num);
    const byN = new Map<number, RowRef>();
    for (const { file, num } of files) {
      this.nextSeg = num + 1;
      let buf = await fsp.readFile(file);
      if (buf.length && buf[buf.length - 1] !== 0x0a) {
        const cut = buf.lastIndexOf(0x0a) + 1;
        this.counts.torn += buf.length - cut;
        await fsp.truncate(file, cut);
        buf = buf.subarray(0, cut);
      }
      if (!buf.length) {
        await fsp.rm(file, { force: true });
        continue;
      }
      const lines = buf.toString('utf8').split('\n');
      lines.pop();
      const header = parseJson(lines[0]);
      const names = isObject(header) && header.v === 1 && isNameList(header.names) ? this.namesFor(header.names) : undefined;
      const seg: Segment = { num, file, names: names ?? [], bytes: buf.length, disk: buf.length, rows: 0, entries: lines.length - 1 };
      this.segs.push(seg);
      this.total += seg.bytes;
      if (!names) {
        this.counts.skipped += lines.length;
        continue;
      }
      for (let i = 1; i < lines.length; i++) {
        const o = parseJson(lines[i]);
        if (!isObject(o) || !Number.isSafeInteger(o.n) || (o.n as number) < 1) {
          this.counts.skipped++;
          continue;
        }
        const n = o.n as number;
        if ('x' in o) {
          if (!isTime(o.t) || !Array.isArray(o.x) || o.x.length !== names.length || !o.x.every(isFiniteNumber) || byN.has(n)) {
            this.counts.skipped++;
            continue;
          }
          const ref: RowRef = { n, t: o.t, seg, labelled: false };
          if (isTime(o.s)) ref.s = o.s;
          if (typeof o.id === 'string') {
            ref.id = o.id;
            this.byId.set(o.id, ref);
          }
          const last = this.rows[this.rows.length - 1];
          if (last && ref.t < last.t) this.sorted = false;
          this.rows.push(ref);
          byN.set(n, ref);
          seg.rows++;
          this.nextN = Math.max(this.nextN, n + 1);
        } else if (isLabelValue(o.y)) {
          const ref = byN.get(n);
          if (ref && !ref.labelled) {
            ref.labelled = true;
            this.counts.labelled++;
          }
        } else this.counts.skipped++;
      }
    }
    if (this.total > this.maxBytes) {
      this.cap();
      await this.write();
    }
  }

  private async writeSnapshot(outDir: string, since: number | undefined, wanted: string[] | undefined): Promise<DatasetManifest> {
    const key = wanted ? namesKey(wanted) : undefined;
    const names = key ? this.interned.get(key) : this.segs[this.segs.length - 1]?.names;
    const segs = names ? this.segs.filter((g) => g.names === names) : [];
    const from = since ?? -Infinity;
    if (!names || !names.length || !this.rows.some((r) => r.seg.names === names && r.t >= from)) {
      const features = shortNames(wanted ?? names ?? []);
      if (since === undefined) throw new BufferError('emptySnapshot', { features }, `no rows to snapshot: expected at least one row with the features ${features || '(none yet)'} in the buffer`);
      throw new BufferError('emptySnapshotSince', { features, since: iso(since) }, `no rows to snapshot: expected at least one row with the features ${features || '(none yet)'} whose window ended at or after ${iso(since)}`);
    }
    try {
      // labels come after their rows: from the first wanted segment on
      const labels = new Map<number, number | string>();
      for (const g of this.segs.slice(this.segs.indexOf(segs[0]))) {
        for (const line of (await fsp.readFile(g.file, 'utf8')).split('\n')) {
          if (!LABEL_LINE.test(line)) continue;
          const o = parseJson(line);
          if (isObject(o) && isLabelValue(o.y)) labels.set(o.n as number, o.y);
        }
      }
      await fsp.mkdir(outDir, { recursive: true });
      const base = await freeName(outDir, `dataset-${new Date().toISOString().replace(/[-:.]/g, '')}`);
      const tmp = path.join(outDir, `.tmp-${randomBytes(8).toString('hex')}`);
      const fh = await fsp.open(tmp, 'wx', 0o644);
      const hash = createHash('sha256');
      let rows = 0;
      let labelled = 0;
      let size = 0;
      let start = Infinity;
      let end = -Infinity;
      let chunk = '';
      const out = async () => {
        const b = Buffer.from(chunk);
        chunk = '';
        hash.update(b);
        size += b.length;
        await fh.write(b, 0, b.length);
      };
      try {
        for (const g of segs) {
          const lines = (await fsp.readFile(g.file, 'utf8')).split('\n');
          for (let i = 1; i < lines.length; i++) {
            if (LABEL_LINE.test(lines[i])) continue;
            const o = parseJson(lines[i]);
            if (!isObject(o) || !isTime(o.t) || (o.t as number) < from || !Array.isArray(o.x) || o.x.length !== names.length || !o.x.every(isFiniteNumber)) continue;
            const y = labels.get(o.n as number);
            // x as written (the last field of a row line; `,"x":[` cannot occur inside a JSON text)
            const x = lines[i].slice(lines[i].lastIndexOf(',"x":[') + 5, -1);
            chunk += `{"t":${o.t}${typeof o.id === 'string' ? `,"id":${JSON.stringify(o.id)}` : ''},"x":${x}${y === undefined ? '' : `,"y":${JSON.stringify(y)}`}}\n`;
            rows++;
            if (y !== undefined) labelled++;
            start = Math.min(start, isTime(o.s) ? o.s : (o.t as number));
            end = Math.max(end, o.t as number);
            if (chunk.length >= OUT_CHUNK) await out();
          }
        }
        await out();
        await fh.sync();
        await fh.close();
        await fsp.rename(tmp, path.join(outDir, `${base}.jsonl`));
      } catch (e) {
        await fh.close().catch(() => undefined);
        await fsp.rm(tmp, { force: true });
        throw e;
      }
      await syncDir(outDir);
      const manifest: DatasetManifest = {
        file: `${base}.jsonl`,
        rows,
        labelled,
        features: [...names],
        span: { start: iso(start), end: iso(end) },
        sha256: hash.digest('hex'),
        bytes: size,
        createdAt: new Date().toISOString(),
        source: 'mlops-retrain-trigger buffer',
      };
      try {
        await writeAtomic(path.join(outDir, `${base}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
      } catch (e) {
        await fsp.rm(path.join(outDir, `${base}.jsonl`), { force: true });
        throw e;
      }
      return manifest;
    } catch (e) {
      throw causedBy(new BufferError('snapshotFailed', { dir: outDir, reason: reasonOf(e) }, `could not write the dataset to ${outDir}: ${reasonOf(e)}`), e);
    }
  }
}

/**
 * Reads a dataset a snapshot wrote, from its manifest: refuses a dataset file whose sha256 is not
 * the manifest's (changed since), or whose rows do not fit the manifest.
 */
export async function readDataset(manifestPath: string): Promise<Dataset> {
  const mfile = path.resolve(manifestPath);
  const badManifest = () => new BufferError('badManifest', { file: mfile }, `${mfile} is not a dataset manifest: expected the JSON a snapshot writes, with file, rows, features and sha256`);
  let m: unknown;
  try {
    m = JSON.parse(await fsp.readFile(mfile, 'utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) throw badManifest();
    throw causedBy(new BufferError('readFailed', { file: mfile, reason: reasonOf(e) }, `could not read ${mfile}: ${reasonOf(e)}`), e);
  }
  if (!isObject(m) || typeof m.file !== 'string' || !/^[^/\\]+$/.test(m.file) || m.file === '.' || m.file === '..' || !Number.isSafeInteger(m.rows) || !isNameList(m.features) || typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) throw badManifest();
  const manifest = m as unknown as DatasetManifest;
  const file = path.join(path.dirname(mfile), manifest.file);
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    throw causedBy(new BufferError('readFailed', { file, reason: reasonOf(e) }, `could not read ${file}: ${reasonOf(e)}`), e);
  }
  const got = sha256(buf);
  if (got !== manifest.sha256) throw new BufferError('datasetChanged', { file, expected: manifest.sha256, got }, `dataset ${file} has changed since its manifest was written: its sha256 is ${got}, the manifest says ${manifest.sha256}; expected the file as snapshotted`);
  const lines = buf.toString('utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const k = manifest.features.length;
  const x: number[][] = [];
  const y: (number | string | undefined)[] = [];
  const t: number[] = [];
  let labelled = false;
  lines.forEach((line, i) => {
    const o = parseJson(line);
    if (!isObject(o) || !isTime(o.t) || !Array.isArray(o.x) || o.x.length !== k || !o.x.every(isFiniteNumber) || (o.y !== undefined && !isLabelValue(o.y))) {
      throw new BufferError('datasetLine', { file, line: i + 1, features: k }, `line ${i + 1} of dataset ${file} is not a dataset row: expected {t, x, y?} with ${k} finite numbers in x`);
    }
    x.push(o.x as number[]);
    t.push(o.t);
    y.push(o.y as number | string | undefined);
    if (o.y !== undefined) labelled = true;
  });
  if (x.length !== manifest.rows) throw new BufferError('datasetRows', { file, rows: x.length, expected: manifest.rows }, `dataset ${file} has ${x.length} rows: expected ${manifest.rows}, as its manifest says`);
  return labelled ? { manifest, x, y, t } : { manifest, x, t };
}

function checkOptions(o: BufferOptions): void {
  const got = (v: unknown) => describeValue(v);
  if (!o || !Number.isSafeInteger(o.maxBytes) || o.maxBytes < MIN_MAX_BYTES) throw new BufferError('maxBytes', { got: got(o?.maxBytes), min: MIN_MAX_BYTES }, `expected the buffer's size cap (maxBytes) as a whole number of bytes, at least ${MIN_MAX_BYTES}, got ${got(o?.maxBytes)}`);
  if (o.segmentBytes !== undefined && (!Number.isSafeInteger(o.segmentBytes) || o.segmentBytes < MIN_SEGMENT_BYTES || o.segmentBytes > o.maxBytes)) {
    throw new BufferError('segmentBytes', { got: got(o.segmentBytes), min: MIN_SEGMENT_BYTES, max: o.maxBytes }, `expected the segment size (segmentBytes) as a whole number of bytes from ${MIN_SEGMENT_BYTES} to the size cap ${o.maxBytes}, got ${got(o.segmentBytes)}`);
  }
  if (o.flushMs !== undefined && !(isFiniteNumber(o.flushMs) && o.flushMs >= 0 && o.flushMs <= MAX_FLUSH_MS)) throw new BufferError('flushMs', { got: got(o.flushMs), max: MAX_FLUSH_MS }, `expected the flush interval (flushMs) as milliseconds from 0 to ${MAX_FLUSH_MS}, got ${got(o.flushMs)}`);
}

/** A row checked, every problem before anything is kept. */
function checkRow(row: BufferRow): { t: number; s?: number; id?: string; x: number[]; names: string[] } {
  if (!isObject(row)) throw new BufferError('badRow', { got: describeValue(row) }, `expected a row {t, features, names}, got ${describeValue(row)}`);
  const { t, start, id, features, names } = row;
  if (!isTime(t)) throw new BufferError('badTime', { got: describeValue(t) }, `expected the window end t as milliseconds since 1970 (a finite number), got ${describeValue(t)}`);
  if (start !== undefined && !(isTime(start) && start <= t)) throw new BufferError('badStart', { got: describeValue(start), t }, `expected the window start as milliseconds since 1970, no later than its end ${t}, got ${describeValue(start)}`);
  if (id !== undefined) checkId(id);
  checkNames(names);
  const isList = Array.isArray(features) || (ArrayBuffer.isView(features) && !(features instanceof DataView));
  if (!isList) throw new BufferError('badFeatures', { got: describeValue(features) }, `expected the features as a list of numbers, got ${describeValue(features)}`);
  const x = features as ArrayLike<number>;
  if (x.length !== names.length) throw new BufferError('featureCount', { got: x.length, expected: names.length }, `expected ${names.length} feature values, one per name, got ${x.length}`);
  for (let i = 0; i < x.length; i++) {
    if (!isFiniteNumber(x[i])) throw new BufferError('notFinite', { name: names[i], index: i, got: describeValue(x[i]) }, `expected finite numbers as features, got ${describeValue(x[i])} for ${names[i]} (position ${i})`);
  }
  return { t, s: start, id, x: Array.isArray(x) ? (x as number[]) : Array.from(x), names };
}

function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '' || id.length > MAX_TEXT) throw new BufferError('badId', { got: describeValue(id), max: MAX_TEXT }, `expected the window's id as a non-empty text of at most ${MAX_TEXT} characters, got ${describeValue(id)}`);
}

function checkNames(names: unknown): asserts names is string[] {
  if (!Array.isArray(names) || names.length === 0 || !names.every((v) => typeof v === 'string' && v !== '')) {
    throw new BufferError('badNames', { got: describeValue(names) }, `expected the feature names as a non-empty list of non-empty texts, got ${describeValue(names)}`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new BufferError('duplicateName', { name }, `expected distinct feature names, got "${name}" twice`);
    seen.add(name);
  }
}

function checkLabel(l: BufferLabel): { t?: number; id?: string; value: number | string; tolerance?: number } {
  if (!isObject(l)) throw new BufferError('badLabel', { got: describeValue(l) }, `expected a label {value, id or t}, got ${describeValue(l)}`);
  const { t, id, value, toleranceMs } = l;
  if (!isLabelValue(value)) throw new BufferError('labelValue', { got: describeValue(value), max: MAX_TEXT }, `expected the label's value as a finite number or a non-empty text of at most ${MAX_TEXT} characters, got ${describeValue(value)}`);
  if (id !== undefined) checkId(id);
  else if (t === undefined) throw new BufferError('labelKey', {}, "expected the label's id (the window's id) or t (a time in milliseconds since 1970) to join it to a row, got neither");
  else if (!isTime(t)) throw new BufferError('labelTime', { got: describeValue(t) }, `expected the label's time t as milliseconds since 1970 (a finite number), got ${describeValue(t)}`);
  if (toleranceMs !== undefined && !(isFiniteNumber(toleranceMs) && toleranceMs >= 0)) throw new BufferError('tolerance', { got: describeValue(toleranceMs) }, `expected the label's toleranceMs as milliseconds, 0 or more, got ${describeValue(toleranceMs)}`);
  return { t, id, value, tolerance: toleranceMs };
}

function isLabelValue(v: unknown): v is number | string {
  return isFiniteNumber(v) || (typeof v === 'string' && v !== '' && v.length <= MAX_TEXT);
}

function isNameList(v: unknown): v is string[] {
  return Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s !== '');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function parseJson(line: string | undefined): unknown {
  if (!line) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** `base`, or `base-2`, `base-3`, ... when a dataset of that name is there. */
async function freeName(dir: string, base: string): Promise<string> {
  const taken = async (b: string) => (await fsp.stat(path.join(dir, `${b}.json`)).then(() => true, () => false)) || (await fsp.stat(path.join(dir, `${b}.jsonl`)).then(() => true, () => false));
  let name = base;
  for (let i = 2; await taken(name); i++) name = `${base}-${i}`;
  return name;
}

