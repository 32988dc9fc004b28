/**
 * `npm start` end to end: the demo launcher starts the simulator and a real, headless
 * Node-RED that loads this package from a user directory (as a palette install would),
 * runs flows/predictive-maintenance and prints feature vectors; the editor serves the
 * nodes, their help and their German texts; Ctrl-C stops everything.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { tmpDir, waitFor } from '../support/red';

const root = path.resolve(__dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('npm start (e2e: simulator + headless Node-RED + the demo flow)', function () {
  this.timeout(120000);
  let child: ChildProcess | undefined;
  let out = '';
  let dir: string;
  let editor: string;

  before(async () => {
    dir = tmpDir('demo');
    const port = await freePort();
    editor = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [require.resolve('tsx/cli'), path.join(root, 'scripts', 'demo.ts')], {
      cwd: root,
      env: { ...process.env, DEMO_PORT: String(port), DEMO_OPCUA_PORT: String(await freePort()), DEMO_DIR: dir, DEMO_TIME_SCALE: '60' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints feature vectors computed from the simulator', async () => {
    const line = await waitFor('a printed feature vector', () => out.match(/features @\S+ \[(\d+)\] (vibration\.rms=[-\d.]+.*)/) ?? undefined, 90000, 200);
    expect(Number(line[1])).to.equal(40); // 4 channels x 10 features
    expect(line[2]).to.match(/temperature\.mean=\d+\.\d{3}/);
    expect(out).to.not.match(/\[error\]/);
  });

  it('serves the nodes, their help and their locales to the editor', async () => {
    const nodes = (await (await fetch(`${editor}/nodes`, { headers: { Accept: 'application/json' } })).json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const ours = nodes.filter((n) => n.module === '@edge-mlops/node-red-mlops');
    expect(ours.flatMap((n) => n.types).sort()).to.deep.equal(['mlops-feature-window', 'mlops-opcua-endpoint', 'mlops-opcua-read']);
    for (const n of ours) expect(n.err, `${n.types} failed to load`).to.equal(undefined);
    const html = await (await fetch(`${editor}/nodes`, { headers: { Accept: 'text/html' } })).text();
    expect(html).to.include('data-template-name="mlops-opcua-read"').and.include('data-help-name="mlops-feature-window"');
    const de = (await (await fetch(`${editor}/locales/@edge-mlops/node-red-mlops/mlops-opcua-read?lng=de`)).json()) as Record<string, { label: { channels: string } }>;
    expect(de['mlops-opcua-read'].label.channels).to.match(/Kanäle/);
    const icon = await fetch(`${editor}/icons/@edge-mlops/node-red-mlops/opcua.svg`);
    expect(icon.status).to.equal(200);
    const flows = (await (await fetch(`${editor}/flows`)).json()) as Array<{ type: string }>;
    expect(flows.map((n) => n.type)).to.include.members(['mlops-opcua-read', 'mlops-feature-window', 'mlops-opcua-endpoint']);
  });

  it('stops everything on Ctrl-C', async () => {
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child!.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 30000))]);
    expect(code).to.equal(0);
  });
});
