/**
 * One i18n helper for every node: catalog texts with an English fallback, and the text of any
 * error (coded errors through the catalog, anything else by its message).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CodedErrors, COMMON, isCoded, type Params } from './errors';

/** The en-US catalogs, beside the sources (locales/) or the build (dist/nodes/locales/). */
const LOCALES = [path.resolve(__dirname, '../../../locales/en-US'), path.resolve(__dirname, '../../locales/en-US')];
const catalogs = new Map<string, Record<string, unknown> | null>();

function catalog(ns: string): Record<string, unknown> | null {
  let c = catalogs.get(ns);
  if (c === undefined) {
    c = null;
    for (const dir of LOCALES) {
      try {
        const json = JSON.parse(fs.readFileSync(path.join(dir, `${ns}.json`), 'utf8')) as Record<string, unknown>;
        c = (json[ns] as Record<string, unknown>) ?? json;
        break;
      } catch {
        /* next */
      }
    }
    catalogs.set(ns, c);
  }
  return c;
}

/**
 * The English text of a full catalog key ("mlops-drift-detect.errors.noReference"), with
 * `__name__` placeholders filled in; undefined when no catalog has it. The fallback wherever
 * Node-RED's catalogs do not answer (the test helper, a lib used without Node-RED).
 */
export function english(fullKey: string, vars: Params = {}): string | undefined {
  const [ns, ...rest] = fullKey.split('.');
  let v: unknown = catalog(ns);
  for (const k of rest) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'string' ? v.replace(/__([a-zA-Z0-9_]+?)__/g, (m, name: string) => (name in vars ? String(vars[name]) : m)) : undefined;
}

export interface Catalog {
  _(key: string, vars?: Record<string, unknown>): string;
}

export interface Texts {
  /** `<ns>.<key>` from the node's catalog (English where it has none). */
  t(key: string, vars?: Params): string;
  /** A full catalog key; the en-US text (or `fallback`) when Node-RED's catalog does not have it (the test helper's RED._ gives the key back). */
  tr(fullKey: string, vars?: Params, fallback?: string): string;
  /** The text of an error: a coded one from its catalog, with its English message as fallback. */
  errorText(e: unknown): string;
  /** An Error carrying `errorText(e)`, for done(err). */
  toError(e: unknown): Error;
}

export function texts(RED: Catalog, ns: string): Texts {
  const tr = (fullKey: string, vars: Params = {}, fallback?: string) => {
    const text = RED._(fullKey, vars);
    return text && text !== fullKey && !text.endsWith(`:${fullKey}`) ? text : english(fullKey, vars) ?? fallback ?? fullKey;
  };
  const errorText = (e: unknown): string => {
    if (e instanceof CodedErrors) return e.problems.map(errorText).join('; ');
    if (isCoded(e)) {
      const cause = (e as { cause?: unknown }).cause;
      const params = isCoded(cause) && 'reason' in e.params ? { ...e.params, reason: errorText(cause) } : e.params;
      return tr(`${e.catalog ?? ns}.errors.${e.code}`, params, e.message);
    }
    return (e as Error | undefined)?.message ?? String(e);
  };
  return {
    t: (key, vars) => tr(`${ns}.${key}`, vars),
    tr,
    errorText,
    toError: (e) => new Error(errorText(e)),
  };
}

export { COMMON };
