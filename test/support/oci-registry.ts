/**
 * Debian's `docker-registry` (distribution 2.8, /usr/bin/docker-registry) for the registry tests
 * (issue 11): started on a free port of 127.0.0.1 with a temporary config and storage folder,
 * optionally with htpasswd basic auth (`htpasswd -Bbn`), bearer token auth (a token server below,
 * signing ES256 JWTs with an x5c header the registry checks against its rootcertbundle) or TLS
 * (a self-signed certificate for 127.0.0.1). The test that starts one stops it; `kill()` ends it
 * hard (SIGKILL) and `start()` starts it again on the same port with the same storage.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { createHash, createPrivateKey, sign, X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { freePort } from './red-process';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RegistryOptions {
  /** Basic auth with one user (htpasswd -B). */
  basic?: { username: string; password: string };
  /** Bearer token auth through this token server. */
  token?: TokenServer;
  /** Serve https with a self-signed certificate for 127.0.0.1 (its PEM in `caFile`). */
  tls?: boolean;
}

/**
 * The environment for an openssl child: node-opcua-pki sets process.env.OPENSSL_CONF in-process
 * (to the text "undefined" when it has no configuration file), which every later openssl of the
 * test process would try to read.
 */
export function opensslEnv(): NodeJS.ProcessEnv {
  const { OPENSSL_CONF, ...env } = process.env;
  return OPENSSL_CONF && fs.existsSync(OPENSSL_CONF) ? process.env : env;
}

/** A self-signed certificate and key made with openssl (P-256). */
export function selfSigned(dir: string, name: string, san?: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`];
  if (san) args.push('-addext', `subjectAltName=${san}`);
  const r = spawnSync('openssl', args, { encoding: 'utf8', env: opensslEnv() });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
}

export class OciRegistry {
  readonly dir: string;
  port = 0;
  private proc?: ChildProcess;
  private log = '';
  caFile?: string;

  private constructor(private readonly o: RegistryOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-registry-'));
  }

  static async start(o: RegistryOptions = {}): Promise<OciRegistry> {
    const r = new OciRegistry(o);
    try {
      r.port = await freePort();
      r.writeConfig();
      await r.start();
      return r;
    } catch (e) {
      await r.stop();
      throw e;
    }
  }

  get url(): string {
    return `${this.o.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  private writeConfig(): void {
    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: path.join(this.dir, 'data') }, delete: { enabled: true } },
      http: { addr: `127.0.0.1:${this.port}` },
    };
    if (this.o.tls) {
      const { cert, key } = selfSigned(this.dir, 'registry', 'IP:127.0.0.1,DNS:localhost');
      (config.http as Record<string, unknown>).tls = { certificate: cert, key };
      this.caFile = cert;
    }
    if (this.o.basic) {
      const r = spawnSync('htpasswd', ['-Bbn', this.o.basic.username, this.o.basic.password], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
      fs.writeFileSync(path.join(this.dir, 'htpasswd'), r.stdout);
      config.auth = { htpasswd: { realm: 'mlops-test', path: path.join(this.dir, 'htpasswd') } };
    } else if (this.o.token) {
      const t = this.o.token;
      config.auth = { token: { realm: `${t.url}/token`, service: t.service, issuer: t.issuer, rootcertbundle: t.cert } };
    }
    // JSON is YAML
    fs.writeFileSync(path.join(this.dir, 'config.yml'), JSON.stringify(config, null, 2));
  }

  /** Starts the registry process (again, after kill()) and waits until /v2/ answers. */
  async start(): Promise<void> {
    this.log = '';
    const p = spawn(REGISTRY_BIN, ['serve', path.join(this.dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    p.stdout!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-8000)));
    p.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-8000)));
    const until = Date.now() + 15000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`docker-registry exited (${p.exitCode}): ${this.log}`);
      const status = await this.probe();
      if (status === 200 || status === 401) return;
      if (Date.now() > until) throw new Error(`docker-registry did not answer on ${this.url} within 15 s: ${this.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private probe(): Promise<number> {
    return new Promise((resolve) => {
      const mod = this.o.tls ? https : http;
      const req = mod.get(`${this.url}/v2/`, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      req.on('timeout', () => req.destroy());
    });
  }

  /** Ends the process hard (SIGKILL), the storage stays. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  /** Stops the process and removes the folder. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  get output(): string {
    return this.log;
  }
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * A token server the way distribution 2.8 expects one (registry/auth/token): GET /token?service=&scope=
 * with optional basic credentials answers {"token", "expires_in"}, an ES256 JWT whose header carries
 * the signing certificate (x5c) that the registry verifies against its rootcertbundle, and whose
 * claims grant the actions asked for in the scope (iss, aud = service, exp, nbf, access).
 */
export class TokenServer {
  readonly service = 'mlops-test-registry';
  readonly issuer = 'mlops-test-issuer';
  readonly dir: string;
  readonly cert: string;
  private readonly key: string;
  private server?: http.Server;
  url = '';
  /** The requests it answered: scope and whether credentials came. */
  readonly requests: { scope: string; service: string; user?: string }[] = [];

  private constructor(private readonly user?: { username: string; password: string }) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-token-'));
    const { cert, key } = selfSigned(this.dir, 'token-signer');
    this.cert = cert;
    this.key = key;
  }

  static async start(user?: { username: string; password: string }): Promise<TokenServer> {
    const t = new TokenServer(user);
    t.server = http.createServer((req, res) => t.answer(req, res));
    await new Promise<void>((r) => t.server!.listen(0, '127.0.0.1', r));
    t.url = `http://127.0.0.1:${(t.server!.address() as { port: number }).port}`;
    return t;
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', this.url);
    const scope = u.searchParams.get('scope') ?? '';
    const service = u.searchParams.get('service') ?? '';
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const [user, pass] = m ? Buffer.from(m[1], 'base64').toString().split(/:(.*)/s) : [];
    this.requests.push({ scope, service, user });
    if (u.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (this.user && (user !== this.user.username || pass !== this.user.password)) {
      res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="token"' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const access = scope
      .split(' ')
      .filter(Boolean)
      .map((s) => {
        const [type, ...rest] = s.split(':');
        const actions = rest.pop() ?? '';
        return { type, name: rest.join(':'), actions: actions.split(',') };
      });
    const now = Math.floor(Date.now() / 1000);
    const der = new X509Certificate(fs.readFileSync(this.cert)).raw;
    const header = { typ: 'JWT', alg: 'ES256', x5c: [der.toString('base64')] };
    const claims = { iss: this.issuer, sub: user ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 16), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(signing), { key: createPrivateKey(fs.readFileSync(this.key)), dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: 300, issued_at: new Date().toISOString() }));
  }

  async stop(): Promise<void> {
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise((r) => this.server!.close(r));
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
