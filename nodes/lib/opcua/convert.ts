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

/**
 * A 64-bit integer as a number when it is exact (|v| <= 2^53 - 1), else as its exact decimal
 * string (a number would lose digits silently: 2^53 + 1 reads as 2^53).
 */
function int64ToNumber(v: unknown, unsigned: boolean): unknown {
  // node-opcua encodes (U)Int64 as [high, low] 32-bit words.
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') {
    const high = unsigned ? v[0] >>> 0 : v[0] | 0;
    const n = high * 4294967296 + (v[1] >>> 0);
    if (Number.isSafeInteger(n)) return n;
    return ((BigInt(high) << 32n) + BigInt(v[1] >>> 0)).toString();
  }
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
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

/** The severity of a status code (OPC UA Part 4, 7.39): its top two bits. 00 Good, 01 Uncertain, 10/11 Bad. */
export function severityOf(code: number): 'good' | 'uncertain' | 'bad' {
  const bits = (code >>> 30) & 0b11;
  return bits === 0 ? 'good' : bits === 1 ? 'uncertain' : 'bad';
}

/** The Overflow info bit (bit 7, with the DataValue info type bits 10-11 set to 01). */
export function hasOverflow(code: number): boolean {
  return ((code >>> 10) & 0b11) === 0b01 && (code & 0x80) !== 0;
}

/**
 * The quality of a DataValue; a missing status code means Good (as on the wire). Good is the
 * severity bits 00 whatever the subcode and info bits say (GoodClamped, GoodLocalOverride, Good
 * with the Overflow bit are good); node-opcua's isGood() is true for code 0 only.
 */
export function qualityOf(dv: DataValueLike): SampleQuality {
  const sc = dv.statusCode;
  if (!sc || sc.value === 0) return GOOD;
  const code = sc.value >>> 0;
  return { good: severityOf(code) === 'good', status: sc.name, code };
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
