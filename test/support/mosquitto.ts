/**
 * Debian's mosquitto (/usr/sbin/mosquitto) for the MQTT tests: started on a free port of
 * 127.0.0.1 with a temporary config (listener <port> 127.0.0.1, $SYS every second so a test can
 * count clients), anonymous or with one user in a password file made by `mosquitto_passwd -b`,
 * optionally a TLS listener with a self-signed certificate (Debian's build has no WebSocket listener).
 * The test that starts one stops it; `kill()` ends it hard (SIGKILL) and `start()` starts it
 * again on the same port.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { selfSigned } from './oci-registry';
import { freePort } from './red-process';

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';
export const MOSQUITTO_PASSWD_BIN = '/usr/bin/mosquitto_passwd';

export interface MosquittoOptions {
  /** Only this user may connect (allow_anonymous false). */
  user?: { username: string; password: string };
  /** A second listener with TLS (a self-signed certificate for 127.0.0.1, its PEM in `caFile`) on `tlsPort`. */
  tls?: boolean;
}

export class Mosquitto {
  readonly dir: string;
  port = 0;
  tlsPort = 0;
  caFile?: string;
  private proc?: ChildProcess;
  private log = '';

  private constructor(private readonly o: MosquittoOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-mosquitto-'));
  }

  static async start(o: MosquittoOptions = {}): Promise<Mosquitto> {
    const m = new Mosquitto(o);
    try {
      m.port = await freePort();
      if (o.tls) m.tlsPort = await freePort();
      m.writeConfig();
      await m.start();
      return m;
    } catch (e) {
      await m.stop();
      throw e;
    }
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** The TLS listener (option tls). */
  get tlsUrl(): string {
    return `mqtts://127.0.0.1:${this.tlsPort}`;
  }

  /** What mosquitto wrote (connections, refusals), for assertions and failure messages. */
  get output(): string {
    return this.log;
  }

  private writeConfig(): void {
    // `user`: mosquitto started by root would switch to the user mosquitto, who cannot read this
    // private folder; it runs as the test's user instead. Logs to stderr (unbuffered, unlike a pipe on stdout).
    const lines = [`listener ${this.port} 127.0.0.1`, `user ${os.userInfo().username}`, 'persistence false', 'sys_interval 1', 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'connection_messages true'];
    if (this.o.user) {
      const file = path.join(this.dir, 'passwd');
      fs.writeFileSync(file, '', { mode: 0o600 });
      const r = spawnSync(MOSQUITTO_PASSWD_BIN, ['-b', file, this.o.user.username, this.o.user.password], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
      lines.push('allow_anonymous false', `password_file ${file}`);
    } else {
      lines.push('allow_anonymous true');
    }
    if (this.o.tls) {
      const { cert, key } = selfSigned(this.dir, 'mosquitto', 'IP:127.0.0.1,DNS:localhost');
      this.caFile = cert;
      lines.push(`listener ${this.tlsPort} 127.0.0.1`, `certfile ${cert}`, `keyfile ${key}`);
    }
    fs.writeFileSync(path.join(this.dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  }

  /** Starts mosquitto (again) and resolves once its port accepts connections. */
  async start(): Promise<void> {
    if (this.proc) throw new Error('mosquitto is running already');
    const proc = spawn(MOSQUITTO_BIN, ['-c', path.join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const collect = (b: Buffer) => {
      this.log += b.toString();
      if (this.log.length > 200000) this.log = this.log.slice(-100000);
    };
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      if (this.proc === proc) this.proc = undefined;
    });
    const t0 = Date.now();
    while (!(await canConnect(this.port)) || (this.tlsPort && !(await canConnect(this.tlsPort)))) {
      if (exited) throw new Error(`mosquitto exited at start: ${this.log}`);
      if (Date.now() - t0 > 10000) throw new Error(`mosquitto did not listen on 127.0.0.1:${this.port} within 10 s: ${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL, as a crash would (then start() brings it back on the same port). */
  kill(): Promise<void> {
    return this.halt('SIGKILL');
  }

  /** Stops mosquitto and removes its folder. */
  async stop(): Promise<void> {
    await this.halt('SIGTERM');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private halt(signal: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      proc.kill(signal);
    });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
