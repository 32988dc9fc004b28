/**
 * Turning OPC UA DataValues into the plain values of the samples contract.
 * Pure functions: no session, no Node-RED.
 */
import type { SampleQuality } from '../messages';

/** The parts of a node-opcua DataValue this module reads (structural, so tests can build them). */
export interface DataValueLike {
  value?: { value: unknown; dataType?: number } | null;
  statusCode?: { value: number; name: string; isGood(): boolean } | null;
  sourceTimestamp?: Date | null;
  serverTimestamp?: Date | null;
}

/** DataType ids of OPC UA (Part 6) that need converting. */
const INT64 = 8;
const UINT64 = 9;
const LOCALIZED_TEXT = 21;

function int64ToNumber(v: unknown, unsigned: boolean): unknown {
  // node-opcua encodes (U)Int64 as [high, low] 32-bit words.
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') {
    const high = unsigned ? v[0] >>> 0 : v[0] | 0;
    return high * 4294967296 + (v[1] >>> 0);
  }
  return v;
}

/** A plain JavaScript value for a Variant value: numbers, booleans, strings, arrays, Dates, or null. */
export function plainValue(raw: unknown, dataType?: number): unknown {
  if (raw === undefined || raw === null) return null;
  if (dataType === INT64 || dataType === UINT64) {
    if (Array.isArray(raw) && raw.length > 0 && Array.isArray(raw[0])) {
      return raw.map((w) => int64ToNumber(w, dataType === UINT64));
    }
    return int64ToNumber(raw, dataType === UINT64);
  }
  if (dataType === LOCALIZED_TEXT && typeof raw === 'object' && raw !== null && 'text' in raw) {
    return (raw as { text: unknown }).text ?? null;
  }
  if (ArrayBuffer.isView(raw) && !(raw instanceof DataView) && !Buffer.isBuffer(raw)) {
    return Array.from(raw as unknown as ArrayLike<number>);
  }
  return raw;
}

const GOOD: SampleQuality = Object.freeze({ good: true, status: 'Good', code: 0 }) as SampleQuality;

/** The quality of a DataValue; a missing status code means Good (as on the wire). */
export function qualityOf(dv: DataValueLike): SampleQuality {
  const sc = dv.statusCode;
  if (!sc || sc.value === 0) return GOOD;
  return { good: sc.isGood(), status: sc.name, code: sc.value };
}

/** Source timestamp in ms, else server timestamp, else the fallback (time of receipt). */
export function timestampOf(dv: DataValueLike, fallback: number): number {
  const t = dv.sourceTimestamp ?? dv.serverTimestamp;
  const ms = t ? t.getTime() : NaN;
  return Number.isFinite(ms) && ms > 0 ? ms : fallback;
}

/** One decoded sample of one channel. */
export interface Sample {
  value: unknown;
  timestamp: number;
  serverTimestamp?: number;
  quality: SampleQuality;
}

export function toSample(dv: DataValueLike, receivedAt: number): Sample {
  const s: Sample = {
    value: plainValue(dv.value?.value, dv.value?.dataType),
    timestamp: timestampOf(dv, receivedAt),
    quality: qualityOf(dv),
  };
  const st = dv.serverTimestamp?.getTime();
  if (st !== undefined && Number.isFinite(st) && st > 0) s.serverTimestamp = st;
  return s;
}
