/**
 * The one reader of a model file: read, hash (sha256), decode the ONNX description and this
 * package's metadata. Used by the session worker (sync, off the event loop), by drift detect for
 * a model's reference and by the editor's inspect endpoint (async).
 *
 * Only regular files are read (a device such as /dev/zero grows memory without limit, a FIFO
 * never ends): the file is opened non-blocking (so a FIFO's open returns at once) and checked
 * with fstat on the opened descriptor (no race between the check and the read). At most
 * `maxBytes` are read, enforced while reading (a file that grows past it is refused too). The
 * async read has a timeout (a hung network mount), so no caller waits on it for good.
 */
import { createHash } from 'crypto';
import { closeSync, constants, fstatSync, openSync, promises as fsp, readSync } from 'fs';
import { commonError } from '../node-red/errors';
import { fromMetadataProps, type ModelMetadata } from '../model-metadata';
import { decodeModelInfo, type OnnxModelInfo } from './proto';

export interface ModelFile {
  bytes: Buffer;
  size: number;
  /** "sha256:<hex>" of the file, as in model messages and OCI descriptors. */
  digest: string;
  info: OnnxModelInfo;
  /** This package's metadata (feature names, reference, metrics ...); undefined for a model from elsewhere. */
  metadata: Partial<ModelMetadata> | undefined;
}

export interface ReadLimits {
  /** Largest model file read (bytes; default 2 GiB). */
  maxBytes?: number;
  /** Longest async read (ms; default 30 s). */
  timeoutMs?: number;
}

export const MODEL_MAX_BYTES_DEFAULT = 2 * 1024 ** 3;
export const MODEL_READ_TIMEOUT_DEFAULT = 30000;
const limits = { maxBytes: MODEL_MAX_BYTES_DEFAULT, timeoutMs: MODEL_READ_TIMEOUT_DEFAULT };

/** The process-wide limits (the onnx infer node sets them from Node-RED's settings); a limit not given is back to its default. */
export function setModelFileLimits(l: ReadLimits): void {
  limits.maxBytes = typeof l.maxBytes === 'number' && l.maxBytes > 0 ? Math.floor(l.maxBytes) : MODEL_MAX_BYTES_DEFAULT;
  limits.timeoutMs = typeof l.timeoutMs === 'number' && l.timeoutMs > 0 ? l.timeoutMs : MODEL_READ_TIMEOUT_DEFAULT;
}

export function modelFileLimits(): Required<ReadLimits> {
  return { ...limits };
}

/** `code` 'modelRead' (the file cannot be read) or 'modelCorrupt' (not an ONNX model). */
export function decodeModelFile(bytes: Buffer, path: string): ModelFile {
  let info: OnnxModelInfo;
  try {
    info = decodeModelInfo(bytes);
  } catch (e) {
    const reason = (e as Error).message;
    throw commonError('modelCorrupt', { path, reason }, `${path} is not a readable ONNX model: ${reason}`);
  }
  return {
    bytes,
    size: bytes.length,
    digest: 'sha256:' + createHash('sha256').update(bytes).digest('hex'),
    info,
    metadata: fromMetadataProps(info.metadata),
  };
}

const readError = (path: string, e: unknown) => {
  const reason = (e as Error).message;
  return commonError('modelRead', { path, reason }, `cannot read the model file ${path}: ${reason}`);
};

/** Every error carries `reason` too (drift detect shows params.reason). */
const notFileError = (path: string, kind: string) =>
  commonError('modelNotFile', { path, kind, reason: `not a regular file (${kind})` }, `cannot read the model file ${path}: expected a regular file, got a ${kind}`);

const tooLargeError = (path: string, size: number, max: number) =>
  commonError('modelTooLarge', { path, size, max, reason: `larger than ${max} bytes` }, `cannot read the model file ${path}: it has ${size} bytes or more, at most ${max} are read (setting mlopsModelMaxBytes)`);

const timeoutError = (path: string, ms: number) =>
  commonError('modelReadTimeout', { path, ms, reason: `no answer within ${ms} ms` }, `cannot read the model file ${path}: the read did not finish within ${ms} ms (a hung mount?)`);

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  return st.isDirectory() ? 'directory' : st.isFIFO() ? 'FIFO' : st.isCharacterDevice() ? 'character device' : st.isBlockDevice() ? 'block device' : st.isSocket() ? 'socket' : 'special file';
}

// O_NONBLOCK: opening a FIFO without a writer returns at once (then refused by fstat); no effect on regular files.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
const CHUNK = 1 << 20;

/** Reads from an open descriptor up to `max` bytes (one more to see a file that grew past it). */
function collect(path: string, size: number, max: number, readChunk: (buf: Buffer, off: number, len: number) => number): Buffer {
  if (size > max) throw tooLargeError(path, size, max);
  let buf = Buffer.allocUnsafe(Math.min(max + 1, size + 1));
  let off = 0;
  for (;;) {
    if (off === buf.length) {
      if (buf.length > max) throw tooLargeError(path, off, max);
      const next = Buffer.allocUnsafe(Math.min(max + 1, buf.length * 2));
      buf.copy(next, 0, 0, off);
      buf = next;
    }
    const n = readChunk(buf, off, Math.min(CHUNK, buf.length - off));
    if (n === 0) break;
    off += n;
  }
  if (off > max) throw tooLargeError(path, off, max);
  return off === buf.length ? buf : buf.subarray(0, off);
}

export function readModelFileSync(path: string, l: ReadLimits = {}): ModelFile {
  const max = l.maxBytes ?? limits.maxBytes;
  let bytes: Buffer;
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw readError(path, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notFileError(path, kindOf(st));
    bytes = collect(path, st.size, max, (buf, off, len) => readSync(fd, buf, off, len, null));
  } catch (e) {
    if ((e as { catalog?: string }).catalog === 'mlops-common') throw e;
    throw readError(path, e);
  } finally {
    closeSync(fd);
  }
  return decodeModelFile(bytes, path);
}

/** Opens a model file for reading, refusing what is not a regular file below `max` bytes. */
async function openChecked(path: string, max: number): Promise<fsp.FileHandle> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, OPEN_FLAGS);
  } catch (e) {
    throw readError(path, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notFileError(path, kindOf(st));
    if (st.size > max) throw tooLargeError(path, st.size, max);
    return fh;
  } catch (e) {
    void fh.close().catch(() => undefined);
    if ((e as { catalog?: string }).catalog === 'mlops-common') throw e;
    throw readError(path, e);
  }
}

/**
 * The checks of a read without the read: a regular file below the size limit. Cheap (open,
 * fstat, close), so a load can refuse a device, a FIFO, a folder or a missing file before it
 * starts a worker thread for it.
 */
export async function checkModelFile(path: string, l: ReadLimits = {}): Promise<void> {
  const fh = await openChecked(path, l.maxBytes ?? limits.maxBytes);
  void fh.close().catch(() => undefined);
}

export async function readModelFile(path: string, l: ReadLimits = {}): Promise<ModelFile> {
  const max = l.maxBytes ?? limits.maxBytes;
  const ms = l.timeoutMs ?? limits.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const read = (async () => {
    const fh = await openChecked(path, max);
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        if (timedOut) throw timeoutError(path, ms);
        const want = Math.min(CHUNK, max + 1 - total);
        const { bytesRead, buffer } = await fh.read(Buffer.allocUnsafe(want), 0, want, null);
        if (bytesRead === 0) break;
        chunks.push(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
        total += bytesRead;
        if (total > max) throw tooLargeError(path, total, max);
      }
      return Buffer.concat(chunks, total);
    } catch (e) {
      if ((e as { catalog?: string }).catalog === 'mlops-common') throw e;
      throw readError(path, e);
    } finally {
      void fh.close().catch(() => undefined);
    }
  })();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(timeoutError(path, ms));
    }, ms);
    timer.unref?.();
  });
  read.catch(() => undefined);
  try {
    const bytes = await Promise.race([read, timeout]);
    return decodeModelFile(bytes, path);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * This package's metadata of a model file without reading the file whole: the top-level fields of
 * the ModelProto are walked with positioned reads and the graph (with the weights: 500 MB in a
 * large model) is skipped, so a registry pull of a large model never holds it in memory. Throws
 * when the file is no ONNX model (no IR version or no graph), as decodeModelInfo does.
 */
export async function readModelMetadata(path: string, l: ReadLimits = {}): Promise<Partial<ModelMetadata> | undefined> {
  const fh = await openChecked(path, l.maxBytes ?? limits.maxBytes);
  const notOnnx = (why: string) => commonError('modelCorrupt', { path, reason: why }, `${path} is not a readable ONNX model: ${why}`);
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.allocUnsafe(20);
    const props: Record<string, string> = {};
    let ir = 0;
    let graph = false;
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await fh.read(head, 0, head.length, pos);
      let p = 0;
      const varint = (): number => {
        let v = 0;
        for (let shift = 0; ; shift += 7) {
          if (p >= bytesRead || shift > 49) throw notOnnx(`bad protobuf varint at byte ${pos + p}`);
          const b = head[p++];
          v += (b & 0x7f) * 2 ** shift;
          if (b < 0x80) return v;
        }
      };
      const key = varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) {
        const v = varint();
        if (field === 1) ir = v;
        pos += p;
      } else if (wire === 2) {
        const len = varint();
        const start = pos + p;
        if (start + len > size) throw notOnnx(`field ${field} runs past the end of the file`);
        if (field === 7) graph = true;
        else if (field === 14) {
          if (len > 16 * 1024 * 1024) throw notOnnx('a metadata entry larger than 16 MB');
          const entry = Buffer.allocUnsafe(len);
          await fh.read(entry, 0, len, start);
          const [k, v] = stringPair(entry);
          props[k] = v;
        }
        pos = start + len;
      } else if (wire === 5) pos += p + 4;
      else if (wire === 1) pos += p + 8;
      else throw notOnnx(`unsupported protobuf wire type ${wire}`);
    }
    if (!ir || !graph) throw notOnnx('no graph or IR version found');
    return fromMetadataProps(props);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** A StringStringEntryProto's key (field 1) and value (field 2). */
function stringPair(b: Buffer): [string, string] {
  const out = ['', ''];
  let p = 0;
  const varint = () => {
    let v = 0;
    for (let shift = 0; p < b.length && shift <= 49; shift += 7) {
      const x = b[p++];
      v += (x & 0x7f) * 2 ** shift;
      if (x < 0x80) return v;
    }
    throw new Error('bad protobuf varint in a metadata entry');
  };
  while (p < b.length) {
    const key = varint();
    if (key % 8 !== 2) throw new Error('bad metadata entry');
    const len = varint();
    if (key >> 3 === 1 || key >> 3 === 2) out[(key >> 3) - 1] = b.toString('utf8', p, p + len);
    p += len;
  }
  return [out[0], out[1]];
}
