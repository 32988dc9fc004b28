/**
 * What the endpoint's admin routes answer (the editor's PKI panel, Trust and Test connection),
 * as plain functions: the node file only wires them to Node-RED's admin API and permissions.
 * Errors go out as `{ error: <text>, code, params }`, so the editor can show them in the
 * browser's language from the catalog and fall back to the runtime's text.
 */
import { isCoded } from '../node-red/errors';
import type { EndpointOptions, SecurityModeName, SecurityPolicyName } from './connection';
import { endpointError, firstLine } from './errors';
import { probeConnection } from './probe';
import { pkiView, trustRejected } from './pki';

/** The endpoint node's configuration fields (flows.json), as the dialog also sends them. */
export interface EndpointSettings {
  endpoint?: string;
  securityMode?: string;
  securityPolicy?: string;
  authType?: string;
  trustOnFirstUse?: boolean | string;
  pkiFolder?: string;
}

export interface EndpointCredentials {
  user?: string;
  password?: string;
}

/** The PKI folder of an endpoint, relative to the user directory unless absolute. */
export const DEFAULT_PKI_FOLDER = 'mlops-opcua-pki';

/** Connection options from the configuration; throws a coded error for a username login without a username. */
export function endpointOptions(def: EndpointSettings, credentials: EndpointCredentials | undefined, pkiFolder: string): EndpointOptions {
  const useCredentials = def.authType === 'username';
  if (useCredentials && !credentials?.user) throw endpointError('noUser', {}, 'username login is selected but no username is set');
  return {
    endpointUrl: String(def.endpoint ?? '').trim(),
    securityMode: (def.securityMode ?? 'None') as SecurityModeName,
    securityPolicy: (def.securityPolicy ?? 'Basic256Sha256') as SecurityPolicyName,
    username: useCredentials ? credentials?.user ?? '' : undefined,
    password: useCredentials ? credentials?.password ?? '' : undefined,
    pkiFolder,
    trustOnFirstUse: def.trustOnFirstUse === true || def.trustOnFirstUse === 'true',
  };
}

export interface Reply {
  status: number;
  body: unknown;
}

export type ErrorText = (e: unknown) => string;

export function errorBody(e: unknown, text: ErrorText): Record<string, unknown> {
  return isCoded(e) ? { error: text(e), code: e.code, params: e.params } : { error: text(e) ?? firstLine(e) };
}

/** GET pki: the client certificate (created when missing), rejected and trusted server certificates. */
export async function pkiReply(root: string, text: ErrorText): Promise<Reply> {
  try {
    return { status: 200, body: await pkiView(root) };
  } catch (e) {
    return { status: 500, body: errorBody(endpointError('pkiFailed', { folder: root, error: firstLine(e) }, `cannot read the PKI folder ${root}: ${firstLine(e)}`), text) };
  }
}

/** POST trust {fingerprint}: moves that rejected certificate to trusted/certs; 400 for a malformed fingerprint, 404 for an unknown one. */
export function trustReply(root: string, fingerprint: unknown, text: ErrorText, trusted: () => void): Reply {
  try {
    const cert = trustRejected(root, fingerprint);
    trusted();
    return { status: 200, body: { trusted: cert } };
  } catch (e) {
    const code = isCoded(e) ? e.code : '';
    return { status: code === 'badFingerprint' ? 400 : code === 'notRejected' ? 404 : 500, body: errorBody(e, text) };
  }
}

/** POST test: one attempt with the dialog's settings; always 200 with ok, kind and the reason. */
export async function testReply(options: () => EndpointOptions, text: ErrorText, timeoutMs = 10000): Promise<Reply> {
  let o: EndpointOptions;
  try {
    o = options();
  } catch (e) {
    return { status: 200, body: { ok: false, kind: 'badConfig', ms: 0, ...errorBody(e, text) } };
  }
  const r = await probeConnection(o, timeoutMs);
  return { status: 200, body: { ok: r.ok, kind: r.kind, ms: r.ms, ...(r.error ? errorBody(r.error, text) : {}) } };
}
