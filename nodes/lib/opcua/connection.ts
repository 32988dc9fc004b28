/**
 * One shared OPC UA session per endpoint, reference-counted by the nodes that use it.
 *
 * Reconnection: node-opcua's own reconnection (infinite retries with exponential backoff)
 * repairs a broken channel, reactivates or recreates the session and recreates the
 * subscriptions on the same ClientSubscription objects, so nothing is duplicated. When that
 * repair reports failure, or the first connection fails for a reason node-opcua does not
 * retry (an untrusted certificate, a rejected user), this class throws the client away and
 * builds a fresh one after a backoff delay; users re-create their subscriptions on the
 * 'session' event. Nothing here throws into the caller's event loop: every failure becomes
 * a state change.
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import {
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  type ClientSession,
  type UserIdentityInfo,
} from 'node-opcua-client';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import type { CodedError } from '../node-red/errors';
import { endpointError, firstLine, oneOrAll } from './errors';

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;
export type SecurityModeName = (typeof SECURITY_MODES)[number];
export type SecurityPolicyName = (typeof SECURITY_POLICIES)[number];

export interface EndpointOptions {
  endpointUrl: string;
  securityMode: SecurityModeName;
  /** Ignored (None) when securityMode is None. */
  securityPolicy: SecurityPolicyName;
  /** Username/password authentication when username is set; anonymous otherwise. */
  username?: string;
  password?: string;
  /** Folder of the client's PKI: own/ (certificate and key), trusted/, rejected/, issuers/. */
  pkiFolder: string;
  /** Trust an unknown server certificate on first use (off by default). */
  trustOnFirstUse?: boolean;
  applicationName?: string;
  /** Backoff of reconnection attempts. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export type ConnectionState =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'untrusted'
  /** The server refused this client's certificate: its administrator has to trust it. */
  | 'refused'
  | 'denied'
  | 'closed';

export interface StateInfo {
  state: ConnectionState;
  /** A short reason in English (an error message, the rejected certificate path), for logs. */
  detail?: string;
  /** The same reason as a coded error, for the user's language. */
  reason?: CodedError;
  /** Number of consecutive failed attempts. */
  attempt?: number;
}

/** What a read node finds on its endpoint config node. */
export interface EndpointConfigNode {
  /** Undefined when the configuration is invalid; configError then says why. */
  connection?: OpcuaConnection;
  configError?: string;
  /** The state's reason in the user's language (the endpoint node owns the catalog). */
  describe?(info: StateInfo): string;
}

/** An opc.tcp URL: a host name, an IPv4 address or a bracketed IPv6 address, an optional port and path. */
export const ENDPOINT_URL = /^opc\.tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^/\s:[\]]+)(:\d{1,5})?(\/.*)?$/;

/** Validates endpoint options: every problem as a coded error (empty when fine). */
export function validateEndpointOptions(o: Partial<EndpointOptions>): CodedError[] {
  const errors: CodedError[] = [];
  const url = o.endpointUrl ?? '';
  const port = Number(url.match(/^opc\.tcp:\/\/(?:\[[^\]]*\]|[^/:]*):(\d+)/)?.[1] ?? 4840);
  if (!ENDPOINT_URL.test(url) || port < 1 || port > 65535) {
    errors.push(endpointError('badUrl', { url }, `endpoint URL must look like opc.tcp://host:4840/path (or opc.tcp://[::1]:4840), got "${url}"`));
  }
  if (!SECURITY_MODES.includes(o.securityMode as SecurityModeName)) {
    const allowed = SECURITY_MODES.join(', ');
    errors.push(endpointError('badMode', { mode: String(o.securityMode), allowed }, `security mode must be one of ${allowed}, got "${o.securityMode}"`));
  }
  if (o.securityMode !== 'None') {
    if (!SECURITY_POLICIES.includes(o.securityPolicy as SecurityPolicyName) || o.securityPolicy === 'None') {
      const allowed = SECURITY_POLICIES.slice(1).join(', ');
      errors.push(endpointError('badPolicy', { policy: String(o.securityPolicy), mode: String(o.securityMode), allowed }, `security policy must be one of ${allowed} with mode ${o.securityMode}, got "${o.securityPolicy}"`));
    }
  }
  if (o.username !== undefined && o.username !== '' && !o.password) {
    errors.push(endpointError('noPassword', {}, 'a username needs a password'));
  }
  if (!o.pkiFolder) errors.push(endpointError('noPki', {}, 'a PKI folder is required'));
  return errors;
}

/**
 * Classifies a connection error: `untrusted` and `denied` need a person to act; anything else
 * (an unreachable server, a timeout) is retried as `reconnecting`.
 */
export function classifyError(err: Error, securityMode: SecurityModeName = 'SignAndEncrypt'): ConnectionState {
  const m = `${err.message}`;
  // The server answered the secure channel request with a refusal (node-opcua: "has been
  // rejected by server: BadSecurityChecksFailed", or "may have been rejected by server" when
  // it just closed the socket): with a signed channel, that is this client's certificate.
  if (securityMode !== 'None' && /(has|may have) been rejected by server/i.test(m) && !/BadSecurity(Mode|Policy)Rejected/.test(m)) return 'refused';
  if (/BadCertificate(Untrusted|Invalid|Revoked|IssuerRevoked|TimeInvalid|HostNameInvalid|UriInvalid)|certificate.*(untrusted|rejected)/i.test(m)) {
    return 'untrusted';
  }
  if (/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid|BadUserSignatureInvalid/.test(m)) return 'denied';
  return 'reconnecting';
}

/** What a failed attempt says to a person, in English (detail) and coded (reason). */
function failure(state: ConnectionState, err: Error, pki: { trusted: string; rejected: string; own: string }, tofu: boolean): StateInfo {
  // node-opcua puts the server's answer on a second line ("may have been rejected by server,\n Err = (...)")
  const error = String(err.message).split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
  let reason: CodedError;
  if (state === 'refused') {
    const file = pki.own;
    reason = endpointError('clientRefused', { file, error }, `the server refused the client certificate (${error}): give ${file} to the server's administrator to trust it, then it connects on the next attempt`);
  } else if (state === 'untrusted' && !tofu) {
    reason = endpointError('untrusted', { ...pki, error }, `server certificate not trusted: moved to ${pki.rejected}; move it to ${pki.trusted} to trust it`);
  } else if (state === 'denied') {
    reason = endpointError('denied', { error }, `access denied by the server: ${error}`);
  } else {
    reason = endpointError('failed', { error }, error);
  }
  return { state, detail: reason.message, reason };
}

/** Longest wait for a new certificate manager's folder watchers to be ready. */
const WATCHERS_READY_MS = 10000;
/** Longest wait for the manager opening before (a PKI folder on a hung mount must not hold every endpoint). */
const OPEN_BEFORE_MS = 30000;
let opening: Promise<unknown> = Promise.resolve();

/**
 * A certificate manager on a PKI folder (own/, trusted/, rejected/, issuers/), created when missing.
 *
 * Managers open one at a time, each once its folder watchers are ready. node-opcua-pki (6.x)
 * replaces fs.watch while a manager starts its watchers (from initialize() until all five are
 * ready, or dispose()) to collect their handles into an array, then puts back the fs.watch it
 * found. Two managers starting at once (a redeploy while the previous endpoint's manager still
 * started, the editor's PKI or Test connection routes) nest wrongly: the second one saves the
 * first one's replacement and, finishing last, puts it back for good. From then on every fs.watch
 * of the process, the watchers of every later manager with their listeners and the manager they
 * belong to, went into the first manager's array and was never freed: about 20 KB of heap per
 * redeploy, for the rest of the process (test/integration/redeploy.test.ts).
 */
export function openCertificateManager(pkiFolder: string, trustOnFirstUse = false): Promise<OPCUACertificateManager> {
  const open = opening.then(async () => {
    fs.mkdirSync(pkiFolder, { recursive: true });
    const watch = fs.watch;
    const cm = new OPCUACertificateManager({ rootFolder: pkiFolder, automaticallyAcceptUnknownCertificate: trustOnFirstUse });
    await cm.initialize();
    for (const t0 = Date.now(); fs.watch !== watch && Date.now() - t0 < WATCHERS_READY_MS; ) await new Promise((r) => setTimeout(r, 5));
    return cm;
  });
  opening = withTimeout(open.catch(() => undefined), OPEN_BEFORE_MS);
  return open;
}

/**
 * Disposes a certificate manager this package opened, for good. Every OPCUAClient given the
 * manager raises its reference counter, and a client whose connection failed is disconnected
 * without lowering it again (node-opcua-client returns early from disconnect() when it is
 * "disconnected"), so dispose() alone only counted down once and the manager, its file watchers
 * and its key stayed in node-opcua-pki's static registry: about 40 KB of heap per redeploy of an
 * endpoint that had retried. The manager is never shared, so its count is ours to end.
 */
export async function disposeCertificateManager(cm: OPCUACertificateManager | undefined): Promise<void> {
  if (!cm) return;
  (cm as unknown as { referenceCounter: number }).referenceCounter = 0;
  await cm.dispose().catch(() => undefined);
}

export interface ClientOptions {
  applicationName: string;
  securityMode: SecurityModeName;
  securityPolicy: SecurityPolicyName;
  initialDelayMs: number;
  maxDelayMs: number;
}

/** A client for the options; `maxRetry` 1 makes a first connection fail fast. */
export function createClient(o: ClientOptions, clientCertificateManager: OPCUACertificateManager, maxRetry = 1): OPCUAClient {
  return OPCUAClient.create({
    applicationName: o.applicationName,
    endpointMustExist: false,
    securityMode: MessageSecurityMode[o.securityMode],
    securityPolicy: SecurityPolicy[o.securityMode === 'None' ? 'None' : o.securityPolicy],
    clientCertificateManager,
    keepSessionAlive: true,
    requestedSessionTimeout: 60000,
    // The first connection fails fast so that certificate and credential problems reach
    // the status (OpcuaConnection retries it); once connected, node-opcua repairs a broken
    // channel with infinite retries whatever maxRetry says (reconnectOnFailure).
    connectionStrategy: { maxRetry, initialDelay: o.initialDelayMs, maxDelay: o.maxDelayMs },
  });
}

export function userIdentity(username?: string, password?: string): UserIdentityInfo {
  if (username) return { type: UserTokenType.UserName, userName: username, password: password ?? '' };
  return { type: UserTokenType.Anonymous };
}

export const APPLICATION_NAME = 'node-red-mlops';

function backoffDelay(attempt: number, initial: number, max: number): number {
  return Math.min(max, initial * 2 ** Math.min(attempt, 16));
}

export class OpcuaConnection extends EventEmitter {
  readonly options: Required<Omit<EndpointOptions, 'username' | 'password'>> & Pick<EndpointOptions, 'username' | 'password'>;
  private readonly users = new Set<object>();
  private client?: OPCUAClient;
  private currentSession?: ClientSession;
  private info: StateInfo = { state: 'idle' };
  private generation = 0;
  private retryTimer?: NodeJS.Timeout;
  private attempt = 0;
  private certificateManager?: OPCUACertificateManager;
  /** A certificate manager being opened (they open one at a time): close() waits for it. */
  private openingManager?: Promise<OPCUACertificateManager>;
  private closing?: Promise<void>;

  constructor(options: EndpointOptions) {
    super();
    const problems = validateEndpointOptions(options);
    if (problems.length) throw oneOrAll(problems);
    this.options = {
      trustOnFirstUse: false,
      applicationName: APPLICATION_NAME,
      initialDelayMs: 1000,
      maxDelayMs: 30000,
      ...options,
      securityPolicy: options.securityMode === 'None' ? 'None' : options.securityPolicy,
    };
  }

  get state(): StateInfo {
    return this.info;
  }

  get session(): ClientSession | undefined {
    return this.info.state === 'connected' ? this.currentSession : undefined;
  }

  /** A node starts using this endpoint; the first one opens the connection. */
  register(user: object): void {
    this.users.add(user);
    if (this.users.size === 1 && (this.info.state === 'idle' || this.info.state === 'closed')) {
      this.closing = undefined;
      this.attempt = 0;
      void this.connect();
    }
  }

  /** A node stops using this endpoint; the last one closes the connection. */
  async deregister(user: object): Promise<void> {
    this.users.delete(user);
    if (this.users.size === 0) await this.close();
  }

  /** Where an operator finds a rejected server certificate and puts it to trust it. */
  get pki(): { trusted: string; rejected: string; own: string } {
    const root = this.options.pkiFolder;
    return { trusted: path.join(root, 'trusted', 'certs'), rejected: path.join(root, 'rejected'), own: path.join(root, 'own', 'certs', 'client_certificate.pem') };
  }

  private setState(info: StateInfo): void {
    this.info = info;
    this.emit('state', info);
  }

  private getCertificateManager(): Promise<OPCUACertificateManager> {
    if (this.certificateManager) return Promise.resolve(this.certificateManager);
    this.openingManager ??= openCertificateManager(this.options.pkiFolder, this.options.trustOnFirstUse).then(
      (cm) => {
        this.openingManager = undefined;
        this.certificateManager = cm;
        return cm;
      },
      (e: unknown) => {
        this.openingManager = undefined;
        throw e;
      },
    );
    return this.openingManager;
  }

  /**
   * Tries again now instead of after the backoff delay (a person just trusted the server's
   * certificate); nothing happens when connected or not in use.
   */
  retryNow(): void {
    if (!this.retryTimer || this.users.size === 0 || this.closing) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.connect();
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.setState({ state: this.attempt === 0 ? 'connecting' : 'reconnecting', attempt: this.attempt });
    let client: OPCUAClient | undefined;
    try {
      const clientCertificateManager = await this.getCertificateManager();
      if (gen !== this.generation) {
        // closed while the certificate manager opened: the close may have missed it
        if (this.closing && this.certificateManager === clientCertificateManager) {
          this.certificateManager = undefined;
          await disposeCertificateManager(clientCertificateManager);
        }
        return;
      }
      client = createClient(this.options, clientCertificateManager);
      this.client = client;
      client.on('backoff', (_count: number, delay: number) => {
        // node-opcua counts its own retries from 0 on every client: the attempt is ours
        if (gen === this.generation && this.info.state !== 'connecting') {
          const seconds = Math.round(delay / 1000);
          const reason = endpointError('nextAttempt', { seconds }, `next attempt in ${seconds} s`);
          this.setState({ state: 'reconnecting', attempt: Math.max(1, this.attempt), detail: reason.message, reason });
        }
      });
      await client.connect(this.options.endpointUrl);
      if (gen !== this.generation) return;
      const session = await client.createSession(userIdentity(this.options.username, this.options.password));
      if (gen !== this.generation) {
        await session.close().catch(() => undefined);
        return;
      }
      this.watch(client, session, gen);
      this.currentSession = session;
      this.attempt = 0;
      this.setState({ state: 'connected' });
      this.emit('session', session);
    } catch (e) {
      if (gen !== this.generation) return;
      const err = e instanceof Error ? e : new Error(String(e));
      await this.dropClient(client);
      if (gen !== this.generation) return;
      const state = classifyError(err, this.options.securityMode);
      if (state === 'untrusted') {
        // The next attempt reads the PKI folders afresh: the certificate manager learns of a
        // certificate moved to trusted/ only through file watchers, which can miss a move made
        // before they are ready (seen as a flaky test), and then it would never connect.
        const cm = this.certificateManager;
        this.certificateManager = undefined;
        await disposeCertificateManager(cm);
        if (gen !== this.generation) return;
      }
      this.scheduleRetry(failure(state, err, this.pki, this.options.trustOnFirstUse));
    }
  }

  private watch(client: OPCUAClient, session: ClientSession, gen: number): void {
    const current = () => gen === this.generation;
    client.on('connection_lost', () => {
      const reason = endpointError('connectionLost', {}, 'connection lost');
      if (current()) this.setState({ state: 'reconnecting', detail: reason.message, reason });
    });
    client.on('after_reconnection', (err?: Error | null) => {
      if (!current()) return;
      if (err) this.rebuild(err);
    });
    session.on('session_restored', () => {
      if (current()) this.setState({ state: 'connected' });
    });
    session.on('session_closed', () => {
      if (current() && this.info.state === 'connected') this.rebuild(endpointError('sessionClosed', {}, 'session closed by server'));
    });
    client.on('close', (err?: Error | null) => {
      // A close we did not ask for, with reconnection exhausted: start over.
      if (current() && err) this.rebuild(err);
    });
  }

  /** Throws the current client away and connects again after a backoff delay. */
  private rebuild(err: Error): void {
    const client = this.client;
    this.generation++;
    this.currentSession = undefined;
    void this.dropClient(client);
    this.scheduleRetry(failure(classifyError(err, this.options.securityMode), err, this.pki, this.options.trustOnFirstUse));
  }

  private scheduleRetry(info: StateInfo): void {
    if (this.users.size === 0 || this.closing) return;
    const delay = backoffDelay(this.attempt, this.options.initialDelayMs, this.options.maxDelayMs);
    this.attempt++;
    this.setState({ ...info, attempt: this.attempt });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
  }

  private async dropClient(client: OPCUAClient | undefined): Promise<void> {
    if (!client) return;
    if (this.client === client) this.client = undefined;
    client.removeAllListeners();
    (client as unknown as EventEmitter).on('error', () => undefined);
    await withTimeout(client.disconnect(), 5000).catch(() => undefined);
  }

  /**
   * Runs `fn` with the session, connecting for it when no node holds the connection open (the
   * editor browsing an endpoint no flow uses yet). Rejects with the reason when no session comes
   * within `timeoutMs` (an untrusted certificate, a rejected user, an unreachable server).
   */
  async withSession<T>(fn: (session: ClientSession) => Promise<T>, timeoutMs = 10000): Promise<T> {
    const borrower = {};
    this.register(borrower);
    try {
      const session = this.session ?? (await new Promise<ClientSession>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.off('session', onSession);
          const i = this.info;
          const url = this.options.endpointUrl;
          const detail = i.detail ?? '';
          reject(endpointError('noSession', { url, ms: timeoutMs, state: i.state, detail }, `no session with ${url} within ${timeoutMs} ms (${i.state}${detail ? `: ${detail}` : ''})`));
        }, timeoutMs);
        const onSession = (s: ClientSession) => {
          clearTimeout(timer);
          resolve(s);
        };
        this.once('session', onSession);
      }));
      return await fn(session);
    } finally {
      await this.deregister(borrower);
    }
  }

  /** Closes the session and the connection; resolves within about 6 s whatever the server does. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.generation++;
    clearTimeout(this.retryTimer);
    const session = this.currentSession;
    const client = this.client;
    this.currentSession = undefined;
    this.closing = (async () => {
      if (session) await withTimeout(session.close(true), 2000).catch(() => undefined);
      await this.dropClient(client);
      // node-opcua-pki keeps every certificate manager in a static registry (with its file
      // watchers) until it is disposed: one leaked per redeploy otherwise; one still opening
      // (after another endpoint's) is disposed here too, else by connect() once it is open
      if (this.openingManager) await withTimeout(this.openingManager.catch(() => undefined), 2000);
      const cm = this.certificateManager;
      this.certificateManager = undefined;
      await withTimeout(disposeCertificateManager(cm), 2000).catch(() => undefined);
      this.setState({ state: 'closed' });
    })();
    return this.closing;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]);
}
