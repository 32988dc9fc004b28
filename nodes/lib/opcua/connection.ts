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
  | 'denied'
  | 'closed';

export interface StateInfo {
  state: ConnectionState;
  /** A short, human-readable reason (an error message, the rejected certificate path). */
  detail?: string;
  /** Number of consecutive failed attempts. */
  attempt?: number;
}

/** What a read node finds on its endpoint config node. */
export interface EndpointConfigNode {
  /** Undefined when the configuration is invalid; configError then says why. */
  connection?: OpcuaConnection;
  configError?: string;
}

/** Validates endpoint options and returns a list of problems (empty when fine). */
export function validateEndpointOptions(o: Partial<EndpointOptions>): string[] {
  const errors: string[] = [];
  if (!o.endpointUrl || !/^opc\.tcp:\/\/[^/\s:]+(:\d+)?(\/.*)?$/.test(o.endpointUrl)) {
    errors.push(`endpoint URL must look like opc.tcp://host:4840/path, got "${o.endpointUrl ?? ''}"`);
  }
  if (!SECURITY_MODES.includes(o.securityMode as SecurityModeName)) {
    errors.push(`security mode must be one of ${SECURITY_MODES.join(', ')}, got "${o.securityMode}"`);
  }
  if (o.securityMode !== 'None') {
    if (!SECURITY_POLICIES.includes(o.securityPolicy as SecurityPolicyName) || o.securityPolicy === 'None') {
      errors.push(`security policy must be one of ${SECURITY_POLICIES.slice(1).join(', ')} with mode ${o.securityMode}, got "${o.securityPolicy}"`);
    }
  }
  if (o.username !== undefined && o.username !== '' && !o.password) {
    errors.push('a username needs a password');
  }
  if (!o.pkiFolder) errors.push('a PKI folder is required');
  return errors;
}

/**
 * Classifies a connection error: `untrusted` and `denied` need a person to act; anything else
 * (an unreachable server, a timeout) is retried as `reconnecting`.
 */
export function classifyError(err: Error): ConnectionState {
  const m = `${err.message}`;
  if (/BadCertificate(Untrusted|Invalid|Revoked|IssuerRevoked|TimeInvalid|HostNameInvalid|UriInvalid)|certificate.*(untrusted|rejected)/i.test(m)) {
    return 'untrusted';
  }
  if (/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid|BadUserSignatureInvalid/.test(m)) return 'denied';
  return 'reconnecting';
}

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
  private closing?: Promise<void>;

  constructor(options: EndpointOptions) {
    super();
    const problems = validateEndpointOptions(options);
    if (problems.length) throw new Error(`invalid OPC UA endpoint: ${problems.join('; ')}`);
    this.options = {
      trustOnFirstUse: false,
      applicationName: 'node-red-mlops',
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
  get pki(): { trusted: string; rejected: string } {
    const root = this.options.pkiFolder;
    return { trusted: path.join(root, 'trusted', 'certs'), rejected: path.join(root, 'rejected') };
  }

  private setState(info: StateInfo): void {
    this.info = info;
    this.emit('state', info);
  }

  private async getCertificateManager(): Promise<OPCUACertificateManager> {
    if (!this.certificateManager) {
      fs.mkdirSync(this.options.pkiFolder, { recursive: true });
      const cm = new OPCUACertificateManager({
        rootFolder: this.options.pkiFolder,
        automaticallyAcceptUnknownCertificate: this.options.trustOnFirstUse,
      });
      await cm.initialize();
      this.certificateManager = cm;
    }
    return this.certificateManager;
  }

  private userIdentity(): UserIdentityInfo {
    const { username, password } = this.options;
    if (username) return { type: UserTokenType.UserName, userName: username, password: password ?? '' };
    return { type: UserTokenType.Anonymous };
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.setState({ state: this.attempt === 0 ? 'connecting' : 'reconnecting', attempt: this.attempt });
    let client: OPCUAClient | undefined;
    try {
      const clientCertificateManager = await this.getCertificateManager();
      if (gen !== this.generation) return;
      const o = this.options;
      client = OPCUAClient.create({
        applicationName: o.applicationName,
        endpointMustExist: false,
        securityMode: MessageSecurityMode[o.securityMode],
        securityPolicy: SecurityPolicy[o.securityPolicy],
        clientCertificateManager,
        keepSessionAlive: true,
        requestedSessionTimeout: 60000,
        // The first connection fails fast so that certificate and credential problems reach
        // the status (this class retries it); once connected, node-opcua repairs a broken
        // channel with infinite retries whatever maxRetry says (reconnectOnFailure).
        connectionStrategy: { maxRetry: 1, initialDelay: o.initialDelayMs, maxDelay: o.maxDelayMs },
      });
      this.client = client;
      client.on('backoff', (count: number, delay: number) => {
        if (gen === this.generation && this.info.state !== 'connecting') {
          this.setState({ state: 'reconnecting', attempt: count, detail: `next attempt in ${Math.round(delay / 1000)} s` });
        }
      });
      await client.connect(o.endpointUrl);
      if (gen !== this.generation) return;
      const session = await client.createSession(this.userIdentity());
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
      const state = classifyError(err);
      if (state === 'untrusted') {
        // The next attempt reads the PKI folders afresh: the certificate manager learns of a
        // certificate moved to trusted/ only through file watchers, which can miss a move made
        // before they are ready (seen as a flaky test), and then it would never connect.
        const cm = this.certificateManager;
        this.certificateManager = undefined;
        await cm?.dispose().catch(() => undefined);
        if (gen !== this.generation) return;
      }
      const detail = state === 'untrusted' && !this.options.trustOnFirstUse
        ? `server certificate not trusted: moved to ${this.pki.rejected}; move it to ${this.pki.trusted} to trust it`
        : err.message.split('\n')[0];
      this.scheduleRetry({ state, detail });
    }
  }

  private watch(client: OPCUAClient, session: ClientSession, gen: number): void {
    const current = () => gen === this.generation;
    client.on('connection_lost', () => {
      if (current()) this.setState({ state: 'reconnecting', detail: 'connection lost' });
    });
    client.on('after_reconnection', (err?: Error | null) => {
      if (!current()) return;
      if (err) this.rebuild(err);
    });
    session.on('session_restored', () => {
      if (current()) this.setState({ state: 'connected' });
    });
    session.on('session_closed', () => {
      if (current() && this.info.state === 'connected') this.rebuild(new Error('session closed by server'));
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
    this.scheduleRetry({ state: classifyError(err), detail: err.message.split('\n')[0] });
  }

  private scheduleRetry(info: StateInfo): void {
    if (this.users.size === 0 || this.closing) return;
    const delay = backoffDelay(this.attempt, this.options.initialDelayMs, this.options.maxDelayMs);
    this.attempt++;
    this.setState({ ...info, attempt: this.attempt });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
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
          reject(new Error(`no session with ${this.options.endpointUrl} within ${timeoutMs} ms (${i.state}${i.detail ? `: ${i.detail}` : ''})`));
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
