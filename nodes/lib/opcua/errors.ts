/**
 * Coded errors of the OPC UA area. Connection, PKI and browse errors have their texts in the
 * endpoint's catalog (locales/<lang>/mlops-opcua-endpoint.json, "errors"), channel and
 * subscription errors in the read node's (mlops-opcua-read.json); the English message is the
 * fallback wherever no catalog answers.
 */
import { CodedError, type Params } from '../node-red/errors';
export { oneOrAll } from '../node-red/errors';

export const ENDPOINT_NS = 'mlops-opcua-endpoint';
export const READ_NS = 'mlops-opcua-read';

export const endpointError = (code: string, params: Params, message: string) => new CodedError(code, params, message, ENDPOINT_NS);
export const readError = (code: string, params: Params, message: string) => new CodedError(code, params, message, READ_NS);

/** The first line of a foreign error (node-opcua's messages run over several lines). */
export const firstLine = (e: unknown): string => String((e as Error | undefined)?.message ?? e).split('\n')[0].trim();
