/**
 * Coded errors: every error a node shows says what was expected, in the user's language. `code`
 * is a catalog key under `<catalog>.errors.` (the node's own catalog unless `catalog` names
 * another, e.g. `mlops-common`), `params` its values, and `message` the English text, used
 * wherever no catalog answers (logs, tests, the lib used without Node-RED).
 */
export type Params = Record<string, string | number>;

export class CodedError extends Error {
  constructor(
    readonly code: string,
    readonly params: Params,
    message: string,
    readonly catalog?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * Several problems at once (every bad channel, every bad option): counts as its first problem
 * where one code is needed; the i18n helper's text names every one of them, each translated.
 */
export class CodedErrors extends CodedError {
  constructor(readonly problems: CodedError[]) {
    super(problems[0].code, problems[0].params, problems.map((p) => p.message).join('; '), problems[0].catalog);
  }
}

/** One problem as it is, several as one CodedErrors. */
export const oneOrAll = (problems: CodedError[]): CodedError => (problems.length === 1 ? problems[0] : new CodedErrors(problems));

/**
 * `err` with `cause` as its cause: where `err` has a `reason` parameter, the i18n helper fills it
 * with the cause's translated text (so a wrapped coded error stays in the user's language).
 */
export function causedBy<E extends Error>(err: E, cause: unknown): E {
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}

/** Duck-typed, so a coded error that crossed a worker boundary (a plain object) still counts. */
export function isCoded(e: unknown): e is CodedError {
  const c = e as Partial<CodedError> | null | undefined;
  return !!c && typeof c.code === 'string' && !!c.params && typeof c.params === 'object' && typeof c.message === 'string';
}

/** The shared catalog (locales/<lang>/mlops-common.json, merged into every node's catalog by the build). */
export const COMMON = 'mlops-common';

/** A coded error whose text lives in the shared catalog. */
export const commonError = (code: string, params: Params, message: string) => new CodedError(code, params, message, COMMON);
