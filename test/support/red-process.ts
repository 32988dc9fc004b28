/**
 * A real Node-RED in a child process, for tests of admin routes and permissions: this package
 * (a copy of dist/ and package.json, so a rebuild by someone else does not pull the files away
 * mid-test) installed in a fresh user directory, optional adminAuth with users and permissions,
 * listening on 127.0.0.1 only.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { waitFor } from './red';

const root = path.resolve(__dirname, '..', '..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface RedUser {
  username: string;
  password: string;
  permissions: string | string[];
}

export interface RedProcess {
  url: string;
  userDir: string;
  log(): string;
  /** An access token for a user (the admin API's password grant). */
  token(username: string, password: string): Promise<string>;
  stop(): Promise<void>;
}

/** Installs a copy of the built package into `userDir`; fails when dist/ is missing. */
function installPackage(userDir: string): void {
  // MLOPS_TEST_DIST: a build elsewhere (a dist/ folder), for a checkout whose dist/ is being rebuilt
  const distRoot = process.env.MLOPS_TEST_DIST ?? path.join(root, 'dist');
  const dist = path.join(distRoot, 'nodes');
  if (!fs.existsSync(path.join(dist, 'mlops-opcua-endpoint.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  const pkg = path.join(userDir, 'node_modules', '@edge-mlops', 'node-red-mlops');
  fs.mkdirSync(pkg, { recursive: true });
  fs.cpSync(distRoot, path.join(pkg, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  // its dependencies are the repository's
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'mlops-test-red', private: true, dependencies: { '@edge-mlops/node-red-mlops': '*' } }));
}

export async function startRedProcess(userDir: string, flows: unknown[], opts: { users?: RedUser[]; env?: Record<string, string> } = {}): Promise<RedProcess> {
  installPackage(userDir);
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows, null, 2));
  const port = await freePort();
  const users = opts.users ?? [];
  // adminAuth with plain-text passwords checked in the settings file (a test, nothing to protect)
  fs.writeFileSync(
    path.join(userDir, 'settings.js'),
    `const users = ${JSON.stringify(users)};
module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${port},
  flowFile: 'flows.json',
  credentialSecret: 'test-secret',
  logging: { console: { level: 'info' } },
  editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
  externalModules: { palette: { allowInstall: false } },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
  ${users.length ? `adminAuth: {
    type: 'credentials',
    users: (username) => Promise.resolve(users.filter((u) => u.username === username).map((u) => ({ username: u.username, permissions: u.permissions }))[0] ?? null),
    authenticate: (username, password) => Promise.resolve(users.filter((u) => u.username === username && u.password === password).map((u) => ({ username: u.username, permissions: u.permissions }))[0] ?? null),
  },` : ''}
};
`,
  );
  let out = '';
  const child = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', path.join(userDir, 'settings.js'), '--userDir', userDir], {
    cwd: userDir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGINT');
    });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('Node-RED to start its flows', () => {
      if (child.exitCode !== null) throw new Error(`Node-RED exited (${child.exitCode}):\n${out}`);
      return /Started flows/.test(out) ? true : undefined;
    }, 60000, 100);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url,
    userDir,
    log: () => out,
    async token(username, password) {
      const r = await fetch(`${url}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '', username, password }),
      });
      if (r.status !== 200) throw new Error(`login as ${username}: HTTP ${r.status} ${await r.text()}`);
      return ((await r.json()) as { access_token: string }).access_token;
    },
    stop,
  };
}
