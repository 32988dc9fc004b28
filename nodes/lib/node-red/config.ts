/**
 * Config parsing that reports a bad value instead of silently falling back: a field left empty
 * (or missing, as in flows written by an older version) takes its default; a field that holds
 * something else than expected is an error naming the field, what it holds and what it should.
 */
import { commonError } from './errors';

export interface NumberRule {
  /** The default when the field is empty or missing. */
  default: number;
  min?: number;
  max?: number;
  integer?: boolean;
}

const empty = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

/** A number field of a node's configuration. */
export function numberField(def: object, field: string, rule: NumberRule): number {
  const raw = (def as Record<string, unknown>)[field];
  if (empty(raw)) return rule.default;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : NaN;
  const value = String(raw);
  if (!Number.isFinite(n)) throw commonError('notNumber', { field, value }, `${field} must be a number, got "${value}"`);
  if (rule.integer && !Number.isInteger(n)) throw commonError('notInteger', { field, value }, `${field} must be a whole number, got "${value}"`);
  if (rule.min !== undefined && n < rule.min) throw commonError('belowMin', { field, value, min: rule.min }, `${field} must be at least ${rule.min}, got ${value}`);
  if (rule.max !== undefined && n > rule.max) throw commonError('aboveMax', { field, value, max: rule.max }, `${field} must be at most ${rule.max}, got ${value}`);
  return n;
}

/** An optional number field: undefined when empty. */
export function optionalNumberField(def: object, field: string, rule: Omit<NumberRule, 'default'>): number | undefined {
  return empty((def as Record<string, unknown>)[field]) ? undefined : numberField(def, field, { ...rule, default: NaN });
}

/** A field holding one of a fixed set of values. */
export function choiceField<T extends string>(def: object, field: string, allowed: readonly T[], fallback: T): T {
  const raw = (def as Record<string, unknown>)[field];
  if (empty(raw)) return fallback;
  if (typeof raw === 'string' && (allowed as readonly string[]).includes(raw)) return raw as T;
  const value = String(raw);
  throw commonError('notOneOf', { field, value, allowed: allowed.join(', ') }, `${field} must be one of ${allowed.join(', ')}, got "${value}"`);
}
