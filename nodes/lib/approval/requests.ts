/**
 * The pending requests of one approval gate on disk: one JSON file per request in the gate's
 * folder under the Node-RED user directory, written whole or not at all, holding the message it
 * holds. A request is accepted once its file is written; it is removed only after its decision is
 * committed to the audit log and its message has left.
 */
import * as fsp from 'fs/promises';
import * as path from 'path';
import { CodedError } from '../node-red/errors';
import { writeAtomic } from '../registry/store';
import type { RequestSummary } from './summary';

export class ApprovalError extends CodedError {
  constructor(code: string, params: Record<string, string | number>, message: string) {
    super(code, params, message, 'mlops-approval-gate');
  }
}

/** One approval cast so far (four eyes: the first of two). */
export interface Vote {
  by: string;
  /** Who, for the rule that one person never counts twice: "user:anna", "flow:anna", "key:sha256:…". */
  identity: string;
  channel: string;
  at: string;
  comment?: string;
}

export interface PendingRequest {
  id: string;
  gate: string;
  /** ISO times: when it arrived, and when it expires (no timeout: undefined). */
  created: string;
  expires?: string;
  /** Who asked, when the message names someone (msg.requester): that person's approval does not count. */
  requester?: string;
  /** The model digest, or the sha256 of the held message for other messages: what a signed decision names. */
  digest: string;
  summary: RequestSummary;
  /** A model's input features (its metadata). */
  features?: string[];
  votes: Vote[];
  /** The held message, encoded by encodeMessage. */
  msg: unknown;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Whether a text can be a request id (and so a file name). */
export const isRequestId = (id: unknown): id is string => typeof id === 'string' && ID.test(id);

const TYPED = '__mlopsTyped';
const TYPED_NAMES = ['Float64Array', 'Float32Array', 'Int32Array', 'Uint32Array', 'Int16Array', 'Uint16Array', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray'] as const;

/**
 * A message as JSON that keeps Buffers and typed arrays (a feature batch is a Float64Array);
 * functions and symbols are dropped, as when Node-RED clones a message. Throws for a message
 * JSON cannot hold (a cycle, a BigInt).
 */
export function encodeMessage(msg: Record<string, unknown>): string {
  return JSON.stringify(msg, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (ArrayBuffer.isView(raw) && !(raw instanceof DataView) && !Buffer.isBuffer(raw)) return { [TYPED]: raw.constructor.name, data: Array.from(raw as unknown as ArrayLike<number>) };
    return value;
  });
}

export function decodeMessage(json: string): Record<string, unknown> {
  return JSON.parse(json, (_key, value: unknown) => {
    if (value && typeof value === 'object') {
      const v = value as { type?: unknown; data?: unknown; [TYPED]?: unknown };
      if (v.type === 'Buffer' && Array.isArray(v.data) && Object.keys(v).length === 2) return Buffer.from(v.data as number[]);
      const name = v[TYPED];
      if (typeof name === 'string' && (TYPED_NAMES as readonly string[]).includes(name) && Array.isArray(v.data)) {
        const Ctor = (globalThis as unknown as Record<string, new (d: number[]) => unknown>)[name];
        return new Ctor(v.data as number[]);
      }
    }
    return value;
  }) as Record<string, unknown>;
}

export class RequestFiles {
  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<RequestFiles> {
    await fsp.mkdir(dir, { recursive: true });
    // temporary files of a write a crash interrupted
    for (const f of await fsp.readdir(dir)) if (f.startsWith('.tmp-')) await fsp.rm(path.join(dir, f), { force: true });
    return new RequestFiles(dir);
  }

  private file(id: string): string {
    if (!isRequestId(id)) throw new ApprovalError('badId', { id: String(id).slice(0, 80) }, `expected a request id (letters, digits, - and _), got "${String(id).slice(0, 80)}"`);
    return path.join(this.dir, `${id}.json`);
  }

  async write(r: PendingRequest): Promise<void> {
    await writeAtomic(this.file(r.id), JSON.stringify(r));
  }

  async remove(id: string): Promise<void> {
    await fsp.rm(this.file(id), { force: true });
  }

  /** Every request on disk, oldest first; a file that cannot be read is reported, not dropped. */
  async list(): Promise<{ requests: PendingRequest[]; unreadable: Array<{ file: string; reason: string }> }> {
    const requests: PendingRequest[] = [];
    const unreadable: Array<{ file: string; reason: string }> = [];
    for (const f of (await fsp.readdir(this.dir)).filter((f) => f.endsWith('.json'))) {
      try {
        const r = JSON.parse(await fsp.readFile(path.join(this.dir, f), 'utf8')) as PendingRequest;
        if (!isRequestId(r.id) || `${r.id}.json` !== f) throw new Error('the file does not hold the request its name says');
        requests.push(r);
      } catch (e) {
        unreadable.push({ file: path.join(this.dir, f), reason: (e as Error).message });
      }
    }
    requests.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
    return { requests, unreadable };
  }
}
