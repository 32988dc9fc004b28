/**
 * The onnx infer inspect endpoint in a real Node-RED with adminAuth, asked by a user who may
 * only read: FIFOs (which never end) and devices are refused at once, so four requests on FIFOs
 * no longer fill libuv's thread pool (the whole admin API, login included, stopped answering);
 * paths outside the user directory are refused and answers never name the user directory.
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { startRedProcess, type RedProcess } from '../support/red-process';
import { tmpDir } from '../support/red';
import { mlpModel, writeModel } from '../support/onnx-models';

const VIEWER = { username: 'viewer', password: 'only-l00king', permissions: 'read' };

describe('onnx infer inspect endpoint (real Node-RED with adminAuth, a read-only user)', function () {
  this.timeout(90000);
  let red: RedProcess;
  let dir: string;
  let user: string;
  let token: string;

  before(async () => {
    dir = tmpDir('onnx-inspect');
    user = path.join(dir, 'user');
    fs.mkdirSync(path.join(user, 'models'), { recursive: true });
    writeModel(path.join(user, 'models'), 'mlp.onnx', mlpModel({ sizes: [4, 3, 1], metadata: { name: 'mlp', version: '1' } }));
    for (let i = 0; i < 6; i++) execFileSync('mkfifo', [path.join(user, 'models', `fifo${i}.onnx`)]);
    fs.symlinkSync('/dev/zero', path.join(user, 'models', 'zero.onnx'));
    red = await startRedProcess(user, [{ id: 'tab', type: 'tab', label: 'onnx' }], { users: [VIEWER] });
    token = await red.token(VIEWER.username, VIEWER.password);
  });
  after(async () => {
    await red?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const inspect = (p: string) =>
    fetch(`${red.url}/mlops-onnx-infer/inspect?path=${encodeURIComponent(p)}`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10000) });

  it('answers a model file under the user directory with its path relative to it', async () => {
    const r = await inspect('models/mlp.onnx');
    expect(r.status).to.equal(200);
    const body = (await r.json()) as { path: string; inputs: unknown[] };
    expect(body.path).to.equal(path.join('models', 'mlp.onnx'));
    expect(body.inputs).to.deep.equal([{ name: 'x', type: 'float32', shape: ['batch', 4] }]);
  });

  it('after inspect requests on six FIFOs, GET /flows and the login still answer', async () => {
    const fifos = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => inspect(`models/fifo${i}.onnx`)));
    for (const r of fifos) {
      expect(r.status).to.equal(422);
      const body = (await r.json()) as { error: string };
      expect(body.error).to.match(/expected a regular file, got a FIFO/);
      expect(JSON.stringify(body)).to.not.include(user);
    }
    const flows = await fetch(`${red.url}/flows`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
    expect(flows.status).to.equal(200);
    expect(await red.token(VIEWER.username, VIEWER.password)).to.be.a('string').and.not.empty;
  });

  it('refuses /dev/zero, absolute paths outside and escapes with 403, without reading them', async () => {
    for (const p of ['/dev/zero', 'models/zero.onnx', '/etc/passwd', '/root/.ssh/id_rsa', '../../etc/passwd', path.join(dir, 'user', '..', 'x.onnx')]) {
      const r = await inspect(p);
      expect(r.status, p).to.equal(403);
      expect(JSON.stringify(await r.json()), p).to.not.include(user);
    }
  });
});
