/**
 * "Test connection" of the endpoint dialog: one attempt with the given settings, no retry,
 * and a clear reason when it fails (bad settings, unreachable, untrusted certificate, access
 * denied, security mode refused, no answer in time). An untrusted server certificate lands in
 * rejected/ as on any connection, where the dialog shows it for trusting.
 */
import type { CodedError } from '../node-red/errors';
import { APPLICATION_NAME, classifyError, createClient, disposeCertificateManager, openCertificateManager, userIdentity, validateEndpointOptions, type EndpointOptions } from './connection';
import { endpointError, firstLine, oneOrAll } from './errors';
import { pkiFolders } from './pki';

export type ProbeKind = 'ok' | 'badConfig' | 'unreachable' | 'untrusted' | 'denied' | 'security' | 'timeout' | 'failed';

export interface ProbeResult {
  ok: boolean;
  kind: ProbeKind;
  /** Why it failed (undefined on success). */
  error?: CodedError;
  /** Milliseconds to a session (or to the failure). */
  ms: number;
}

const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EAI_AGAIN|ECONNRESET|cannot be established|may have been rejected by server/i;
const SECURITY = /BadSecurityModeRejected|BadSecurityPolicyRejected|BadSecurityChecksFailed|BadNoValidCertificates|endpoint.*(not found|does not exist)/i;

/** The kind of a failed attempt. */
export function probeKind(err: Error): ProbeKind {
  const state = classifyError(err);
  if (state === 'untrusted' || state === 'denied') return state;
  const m = err.message;
  if (SECURITY.test(m)) return 'security';
  if (UNREACHABLE.test(m)) return 'unreachable';
  return 'failed';
}

function reasonOf(kind: ProbeKind, err: Error, o: EndpointOptions): CodedError {
  const error = firstLine(err);
  const url = o.endpointUrl;
  switch (kind) {
    case 'untrusted': {
      const { rejected, trusted } = pkiFolders(o.pkiFolder);
      return endpointError('testUntrusted', { url, rejected, trusted, error }, `the server's certificate is not trusted (${error}): it is now under rejected certificates; check its fingerprint with the server's administrator and trust it`);
    }
    case 'denied':
      return endpointError('testDenied', { url, error }, `the server refused the login (${error}): check user and password, or whether the server allows anonymous access`);
    case 'security':
      return endpointError('testSecurity', { url, mode: o.securityMode, policy: o.securityPolicy, error }, `the server does not accept security mode ${o.securityMode} with policy ${o.securityPolicy} (${error})`);
    case 'unreachable':
      return endpointError('testUnreachable', { url, error }, `cannot reach ${url}: ${error}; check host, port and that the server runs`);
    default:
      return endpointError('testFailed', { url, error }, `connecting to ${url} failed: ${error}`);
  }
}

/** One connection attempt with `options`, a session, and goodbye. Never rejects. */
export async function probeConnection(options: EndpointOptions, timeoutMs = 10000): Promise<ProbeResult> {
  const t0 = Date.now();
  const ms = () => Date.now() - t0;
  const problems = validateEndpointOptions(options);
  if (problems.length) return { ok: false, kind: 'badConfig', error: oneOrAll(problems), ms: ms() };
  const o = { ...options, securityPolicy: options.securityMode === 'None' ? ('None' as const) : options.securityPolicy };
  const cm = await openCertificateManager(o.pkiFolder, !!o.trustOnFirstUse);
  const client = createClient({ applicationName: o.applicationName ?? APPLICATION_NAME, securityMode: o.securityMode, securityPolicy: o.securityPolicy, initialDelayMs: 200, maxDelayMs: 1000 }, cm, 0);
  let timer: NodeJS.Timeout | undefined;
  const attempt = (async () => {
    await client.connect(o.endpointUrl);
    const session = await client.createSession(userIdentity(o.username, o.password));
    await session.close().catch(() => undefined);
  })();
  attempt.catch(() => undefined);
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  let result: ProbeResult;
  try {
    const r = await Promise.race([attempt.then(() => 'ok' as const), timeout]);
    result = r === 'ok'
      ? { ok: true, kind: 'ok', ms: ms() }
      : { ok: false, kind: 'timeout', error: endpointError('testTimeout', { url: o.endpointUrl, ms: timeoutMs }, `no session with ${o.endpointUrl} within ${timeoutMs} ms`), ms: ms() };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const kind = probeKind(err);
    result = { ok: false, kind, error: reasonOf(kind, err, o), ms: ms() };
  } finally {
    clearTimeout(timer);
  }
  client.removeAllListeners();
  await Promise.race([client.disconnect().catch(() => undefined), new Promise((r) => setTimeout(r, 3000).unref())]);
  await disposeCertificateManager(cm);
  return result;
}
