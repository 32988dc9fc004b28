/**
 * Coded errors of the OPC UA area. Connection, PKI and browse errors have their texts in the
 * endpoint's catalog (locales/<lang>/mlops-opcua-endpoint.json, "errors"), channel and
 * subscription errors in the read node's (mlops-opcua-read.json); the English message is the
 * fallback wherever no catalog answers.
 */
import { CodedError, type Params } from '../node-red/errors';

export const ENDPOINT_NS = 'mlops-opcua-endpoint';
export const READ_NS = 'mlops-opcua-read';

export const endpointError = (code: string, params: Params, message: string) => new CodedError(code, params, message, ENDPOINT_NS);
export const readError = (code: string, params: Params, message: string) => new CodedError(code, params, message, READ_NS);

/**
 * Several problems at once (every bad channel, every bad endpoint option). Counts as its first
 * problem wherever only one text fits; `problemsText` gives all of them.
 */
export class OpcuaProblems extends CodedError {
  constructor(readonly problems: CodedError[]) {
    super(problems[0].code, problems[0].params, problems.map((p) => p.message).join('; '), problems[0].catalog);
  }
}

/** One problem as it is, several as one OpcuaProblems. */
export const oneOrAll = (problems: CodedError[]): CodedError => (problems.length === 1 ? problems[0] : new OpcuaProblems(problems));

/** The text of an error, every problem of an OpcuaProblems translated and joined. */
export function problemsText(errorText: (e: unknown) => string, e: unknown): string {
  return e instanceof OpcuaProblems ? e.problems.map(errorText).join('; ') : errorText(e);
}

/** The first line of a foreign error (node-opcua's messages run over several lines). */
export const firstLine = (e: unknown): string => String((e as Error | undefined)?.message ?? e).split('\n')[0].trim();
