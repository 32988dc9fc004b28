/**
 * The approval gate in a REAL Node-RED process (startRedProcess), with adminAuth users approver
 * ('*'), approver2 ('*') and viewer ('read'). The flow: inject (POST /inject/:id with the test's
 * version and digest) → function (a model message: bearing-fault, version, digest, metrics) →
 * approval gate (fixed id) → output 1 and output 2 each through a change node into one core
 * `file` node that appends a JSON line per message (which output, the version, msg.approval) to a
 * file in the user directory: a line there is what "the message left" means, also across a crash.
 *
 *   1. the admin API's permissions and answers (Node-RED 4 and 5);
 *   2. four eyes: two different approvers, the requester's own approval refused;
 *   3. a restart (SIGINT) with pending requests: listed again with the same ids, each leaves once;
 *   4. kill -9 in the middle of a decision: the gate's failpoints (MLOPS_APPROVAL_CRASH) and
 *      SIGKILLs from the test at a random moment; a decision record ⇔ exactly one output line;
 *      the audit log verifies (scripts/audit-verify.ts) after all of it;
 *   5. a tampered audit log: audit-verify exits 1 naming the changed line;
 *   6. signed decisions over MQTT with a real mosquitto: another key, another digest refused and
 *      audited; the right signature decides (by the key's name).
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import { createHash, generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as mqtt from 'mqtt';
import { signDecision } from '../../nodes/lib/approval/signed';
import { keyFingerprint } from '../../nodes/lib/registry/cosign';
import { Mosquitto, MOSQUITTO_BIN } from '../support/mosquitto';
import { sleep, tmpDir, waitFor } from '../support/red';
import { redPid, waitGone } from '../support/red-pid';
import { root, runtimes, startRedProcess, type RedProcess, type RedUser, type Runtime } from '../support/red-process';

const USERS: RedUser[] = [
  { username: 'approver', password: 'approver-pw', permissions: '*' },
  { username: 'approver2', password: 'approver2-pw', permissions: '*' },
  { username: 'viewer', password: 'viewer-pw', permissions: 'read' },
];
const GATE = 'gate0approval';
const TOPIC = 'factory/approvals';
const API = '/mlops-approval/requests';
/** How long "nothing (more) left" is watched for. */
const QUIET_MS = 400;

// ---------------------------------------------------------------------------------------------
// The flow

/** The model message; the test names version and digest in msg.payload (a random digest without). */
const MODEL_FUNCTION = `
const p = (msg.payload && typeof msg.payload === 'object') ? msg.payload : {};
let digest = p.digest;
if (!digest) {
  digest = 'sha256:';
  for (let i = 0; i < 64; i++) digest += Math.floor(Math.random() * 16).toString(16);
}
msg.topic = 'deploy';
msg.model = {
  name: 'bearing-fault',
  version: p.version || ('0.0.' + Date.now()),
  digest: digest,
  format: 'onnx',
  metadata: { metrics: { accuracy: 0.91, rmse: 17.5 } },
};
return msg;
`;

/** What one line of the output file holds. */
interface Left {
  output: 1 | 2;
  version: string;
  approval: { id: string; decision: string; by: string; at: string; comment?: string; channel: string; reason?: string; approvers?: string[]; recovered?: boolean };
}

const outFile = (dir: string) => path.join(dir, 'left.jsonl');
const auditFile = (dir: string) => path.join(dir, 'mlops-approval', 'audit.jsonl');

function flows(dir: string, gate: Record<string, unknown> = {}, extra: unknown[] = []): unknown[] {
  const line = (n: 1 | 2) => ({
    id: `out${n}`,
    z: 'tab',
    x: 600,
    y: n * 60,
    type: 'change',
    name: `output ${n} as a line`,
    rules: [{ t: 'set', p: 'payload', pt: 'msg', to: `$string({"output": ${n}, "version": model.version, "approval": approval})`, tot: 'jsonata' }],
    wires: [['left']],
  });
  return [
    { id: 'tab', type: 'tab', label: 'approval' },
    { id: 'inject', z: 'tab', x: 100, y: 60, type: 'inject', name: 'candidate', props: [{ p: 'payload', v: '', vt: 'date' }], repeat: '', crontab: '', once: false, wires: [['model']] },
    { id: 'model', z: 'tab', x: 250, y: 60, type: 'function', name: 'model message', func: MODEL_FUNCTION, outputs: 1, noerr: 0, wires: [[GATE]] },
    {
      id: GATE,
      z: 'tab',
      x: 420,
      y: 60,
      type: 'mlops-approval-gate',
      name: 'deploy gate',
      approvals: '1',
      timeout: 0,
      timeoutUnit: 'hours',
      timeoutOutcome: 'reject',
      maxPending: 100,
      whenFull: 'refuse',
      // every request is another version of the same model: no superseding, no pass for a known digest
      supersede: false,
      passApproved: false,
      autoApprove: false,
      auditFile: '',
      mqttBroker: '',
      ...gate,
      wires: [['out1'], ['out2']],
    },
    line(1),
    line(2),
    { id: 'left', z: 'tab', x: 800, y: 60, type: 'file', name: 'left', filename: outFile(dir), filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [[]] },
    ...extra,
  ];
}

// ---------------------------------------------------------------------------------------------
// Node-RED, the admin API, the files

interface Red {
  red: RedProcess;
  tokens: Record<string, string>;
}

/** Node-RED in `dir` (again: the package's previous install there is replaced), logged in as every user. */
async function start(dir: string, flow: unknown[], o: { runtime?: Runtime; env?: Record<string, string> } = {}): Promise<Red> {
  // startRedProcess installs the package into the user directory: a second start there needs the first install gone
  const pkg = path.join(dir, 'node_modules', '@edge-mlops', 'node-red-mlops');
  if (fs.existsSync(pkg)) {
    fs.unlinkSync(path.join(pkg, 'node_modules')); // the symlink to the checkout's node_modules, not what it points to
    fs.rmSync(pkg, { recursive: true, force: true });
  }
  const red = await startRedProcess(dir, flow, { users: USERS, runtime: o.runtime, env: o.env });
  const tokens: Record<string, string> = {};
  try {
    for (const u of USERS) tokens[u.username] = await red.token(u.username, u.password);
  } catch (e) {
    await red.stop();
    throw e;
  }
  return { red, tokens };
}

interface Answer {
  status: number;
  body: any;
}

async function call(r: Red, user: string | undefined, method: 'GET' | 'POST', url: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (user) headers.Authorization = `Bearer ${r.tokens[user]}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${r.red.url}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (a 401 says "Unauthorized")
  }
  return { status: res.status, body: parsed };
}

const list = async (r: Red, user = 'approver') => {
  const a = await call(r, user, 'GET', API);
  if (a.status !== 200) throw new Error(`GET ${API} as ${user}: ${a.status} ${JSON.stringify(a.body)}`);
  return a.body as { pending: any[]; recent: any[] };
};
const decide = (r: Red, user: string | undefined, id: string, body: unknown) => call(r, user, 'POST', `${API}/${encodeURIComponent(id)}`, body);

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
let serial = 0;
/** A version no other request of this test run has. */
const nextVersion = () => `1.${process.pid % 1000}.${++serial}`;

/**
 * Injects a model message (POST /inject/inject as approver) and resolves with its pending request
 * as the admin API lists it.
 */
async function request(r: Red, o: { version?: string; requester?: string } = {}): Promise<{ id: string; version: string; digest: string; item: any }> {
  const version = o.version ?? nextVersion();
  const digest = sha(`bearing-fault ${version}`);
  const props: Array<Record<string, string>> = [{ p: 'payload', v: JSON.stringify({ version, digest }), vt: 'json' }];
  if (o.requester) props.push({ p: 'requester', v: o.requester, vt: 'str' });
  const a = await call(r, 'approver', 'POST', '/inject/inject', { __user_inject_props__: props });
  expect(a.status, `POST /inject/inject: ${JSON.stringify(a.body)}\n${r.red.log().slice(-4000)}`).to.equal(200);
  const item = await pendingItem(r, version);
  return { id: item.id, version, digest, item };
}

/** Polls the admin API until the request of `version` is pending. */
async function pendingItem(r: Red, version: string, timeoutMs = 10000): Promise<any> {
  const t0 = Date.now();
  for (;;) {
    const found = (await list(r)).pending.find((p) => p.summary?.model?.version === version);
    if (found) return found;
    if (Date.now() - t0 > timeoutMs) throw new Error(`request ${version} not pending after ${timeoutMs} ms:\n${r.red.log().slice(-3000)}`);
    await sleep(25);
  }
}

async function isPending(r: Red, id: string): Promise<boolean> {
  return (await list(r)).pending.some((p) => p.id === id);
}

/** Every line of the output file (what left the gate). */
function left(dir: string): Left[] {
  if (!fs.existsSync(outFile(dir))) return [];
  return fs
    .readFileSync(outFile(dir), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Left);
}
const leftFor = (dir: string, id: string) => left(dir).filter((l) => l.approval?.id === id);

/** Waits for the first line of request `id`, then watches QUIET_MS for more; resolves with all of its lines. */
async function linesOf(dir: string, id: string, timeoutMs = 10000): Promise<Left[]> {
  await waitFor(`a line for ${id} in ${outFile(dir)}`, () => (leftFor(dir, id).length ? true : undefined), timeoutMs);
  await sleep(QUIET_MS);
  return leftFor(dir, id);
}

function audit(dir: string): Array<Record<string, any>> {
  if (!fs.existsSync(auditFile(dir))) return [];
  return fs
    .readFileSync(auditFile(dir), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, any>);
}
const decisionsOf = (dir: string, id: string) => audit(dir).filter((r) => r.type === 'decision' && r.id === id);

function auditVerify(file: string): { status: number | null; out: string } {
  const r = spawnSync(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'audit-verify.ts'), file], { cwd: root, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// ---------------------------------------------------------------------------------------------
// 1. Permissions and answers, on Node-RED 4 and 5

for (const rt of runtimes()) {
  if ('missing' in rt) {
    // Failed, not pending: npm test's setup step (scripts/test-setup.sh) installs .compat/.
    describe(`approval gate admin API in ${rt.name} on ${rt.on}`, () =>
      it('has Node.js 24 and Node-RED 5 in .compat/', () => {
        const absent = rt.missing.map((p) => path.relative(root, p));
        throw new Error(`${absent.join(' and ')} missing: npm test installs them (scripts/test-setup.sh); or run \`npm run compat:install\``);
      }),
    );
    continue;
  }

  describe(`approval gate admin API in a real ${rt.name} on ${rt.on} (permissions and answers)`, function () {
    this.timeout(60000);
    let dir: string;
    let r: Red;

    before(async () => {
      dir = tmpDir('approval-api');
      r = await start(dir, flows(dir), { runtime: rt });
    });
    after(async () => {
      await r?.red.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('viewer reads the request (200) but cannot decide (401), nor can a request without a token; it stays pending', async () => {
      const q = await request(r);
      const got = await call(r, 'viewer', 'GET', API);
      expect(got.status).to.equal(200);
      const item = (got.body.pending as any[]).find((p) => p.id === q.id);
      expect(item, JSON.stringify(got.body)).to.not.equal(undefined);
      expect(item).to.deep.include({ gate: GATE, gateName: 'deploy gate', approvalsNeeded: 1, digest: q.digest });
      expect(item.summary.title).to.equal(`bearing-fault ${q.version}`);
      expect(item.summary.model).to.include({ name: 'bearing-fault', version: q.version, digest: q.digest });
      expect(item).to.not.have.property('msg');

      expect((await call(r, undefined, 'GET', API)).status).to.equal(401);
      expect((await decide(r, 'viewer', q.id, { decision: 'approve', comment: 'viewer tries' })).status).to.equal(401);
      expect((await decide(r, undefined, q.id, { decision: 'approve' })).status).to.equal(401);
      await sleep(QUIET_MS);
      expect(await isPending(r, q.id)).to.equal(true);
      expect(leftFor(dir, q.id)).to.deep.equal([]);
      expect(decisionsOf(dir, q.id)).to.deep.equal([]);
    });

    it('a malformed decision ("maybe") is a 400 naming approve and reject; an unknown id a 404; the request stays pending', async () => {
      const q = await request(r);
      const maybe = await decide(r, 'approver', q.id, { decision: 'maybe' });
      expect(maybe.status).to.equal(400);
      expect(maybe.body.code).to.equal('badDecision');
      expect(maybe.body.error).to.match(/"approve"/).and.match(/"reject"/).and.include('"maybe"');
      const none = await decide(r, 'approver', q.id, {});
      expect(none.status).to.equal(400);

      const unknown = await decide(r, 'approver', 'no-such-request-17', { decision: 'approve' });
      expect(unknown.status).to.equal(404);
      expect(unknown.body).to.deep.include({ code: 'unknownId' });
      expect(unknown.body.error).to.include('no-such-request-17');
      // the refused attempt is in the audit log
      expect(audit(dir).filter((a) => a.type === 'refused' && a.id === 'no-such-request-17' && a.by === 'approver')).to.have.length(1);

      expect(await isPending(r, q.id)).to.equal(true);
      expect(leftFor(dir, q.id)).to.deep.equal([]);
    });

    it('approve: 200, exactly one line on output 1 (channel api, by approver, the comment); a second POST is a 409 and nothing more leaves', async () => {
      const q = await request(r);
      const ok = await decide(r, 'approver', q.id, { decision: 'approve', comment: 'checked on line 2' });
      expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
      expect(ok.body.state).to.equal('approved');
      expect(ok.body.votes).to.equal(1);
      expect(ok.body.approval).to.deep.include({ id: q.id, decision: 'approved', by: 'approver', channel: 'api', comment: 'checked on line 2' });

      const lines = await linesOf(dir, q.id);
      expect(lines).to.have.length(1);
      expect(lines[0].output).to.equal(1);
      expect(lines[0].version).to.equal(q.version);
      expect(lines[0].approval).to.deep.equal(ok.body.approval);
      expect(lines[0].approval).to.not.have.property('recovered');

      const records = decisionsOf(dir, q.id);
      expect(records).to.have.length(1);
      expect(records[0].approval).to.deep.equal(ok.body.approval);
      expect(records[0].gate).to.equal(GATE);
      expect(records[0].digest).to.equal(q.digest);

      const again = await decide(r, 'approver', q.id, { decision: 'approve' });
      expect(again.status).to.equal(409);
      expect(again.body.code).to.equal('decided');
      const reject = await decide(r, 'approver2', q.id, { decision: 'reject', comment: 'too late' });
      expect(reject.status).to.equal(409);
      await sleep(QUIET_MS);
      expect(leftFor(dir, q.id)).to.have.length(1);
      expect(decisionsOf(dir, q.id)).to.have.length(1);

      const after = await list(r, 'viewer');
      expect(after.pending.map((p) => p.id)).to.not.include(q.id);
      expect(after.recent.find((d) => d.id === q.id)).to.deep.include({ decision: 'approved', by: 'approver', title: `bearing-fault ${q.version}`, gate: GATE });
    });

    it('reject of another request: exactly one line on output 2', async () => {
      const q = await request(r);
      const no = await decide(r, 'approver2', q.id, { decision: 'reject', comment: 'rmse worse on line 4' });
      expect(no.status, JSON.stringify(no.body)).to.equal(200);
      expect(no.body.state).to.equal('rejected');
      const lines = await linesOf(dir, q.id);
      expect(lines).to.have.length(1);
      expect(lines[0]).to.deep.include({ output: 2, version: q.version });
      expect(lines[0].approval).to.deep.include({ id: q.id, decision: 'rejected', by: 'approver2', channel: 'api', comment: 'rmse worse on line 4' });
      expect(await isPending(r, q.id)).to.equal(false);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// 2. Four eyes

describe('approval gate in a real Node-RED 4: four eyes (approvals 2)', function () {
  this.timeout(60000);
  let dir: string;
  let r: Red;

  before(async () => {
    dir = tmpDir('approval-4eyes');
    r = await start(dir, flows(dir, { approvals: '2' }));
  });
  after(async () => {
    await r?.red.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('approver: waiting, nothing leaves; approver again: 409; approver2: approved with approvers [approver, approver2]', async () => {
    const q = await request(r);
    expect(q.item.approvalsNeeded).to.equal(2);
    const first = await decide(r, 'approver', q.id, { decision: 'approve', comment: 'first pair of eyes' });
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    expect(first.body).to.deep.equal({ state: 'waiting', votes: 1 });
    await sleep(QUIET_MS);
    expect(leftFor(dir, q.id)).to.deep.equal([]);
    expect(decisionsOf(dir, q.id)).to.deep.equal([]);
    const item = (await list(r)).pending.find((p) => p.id === q.id);
    expect(item.votes.map((v: any) => v.by)).to.deep.equal(['approver']);

    const twice = await decide(r, 'approver', q.id, { decision: 'approve' });
    expect(twice.status).to.equal(409);
    expect(twice.body.code).to.equal('twice');
    await sleep(QUIET_MS);
    expect(leftFor(dir, q.id)).to.deep.equal([]);

    const second = await decide(r, 'approver2', q.id, { decision: 'approve', comment: 'second pair' });
    expect(second.status, JSON.stringify(second.body)).to.equal(200);
    expect(second.body.state).to.equal('approved');
    expect(second.body.votes).to.equal(2);
    expect(second.body.approval).to.deep.include({ decision: 'approved', by: 'approver2', channel: 'api' });
    expect(second.body.approval.approvers).to.deep.equal(['approver', 'approver2']);
    const lines = await linesOf(dir, q.id);
    expect(lines).to.have.length(1);
    expect(lines[0].output).to.equal(1);
    expect(lines[0].approval.approvers).to.deep.equal(['approver', 'approver2']);
    expect(audit(dir).filter((a) => a.type === 'vote' && a.id === q.id).map((a) => a.by)).to.deep.equal(['approver']);
  });

  it('a request with msg.requester "approver2": approver2\'s own approval is refused (409) and not counted', async () => {
    const q = await request(r, { requester: 'approver2' });
    expect(q.item.requester).to.equal('approver2');
    const own = await decide(r, 'approver2', q.id, { decision: 'approve', comment: 'my own model' });
    expect(own.status).to.equal(409);
    expect(own.body.code).to.equal('ownRequest');
    expect(own.body.error).to.include('approver2');
    const item = (await list(r)).pending.find((p) => p.id === q.id);
    expect(item.votes).to.deep.equal([]);
    expect(audit(dir).filter((a) => a.type === 'refused' && a.id === q.id && a.code === 'ownRequest' && a.by === 'approver2')).to.have.length(1);
    // another approver still counts as the first of two
    const other = await decide(r, 'approver', q.id, { decision: 'approve' });
    expect(other.body).to.deep.equal({ state: 'waiting', votes: 1 });
    await sleep(QUIET_MS);
    expect(leftFor(dir, q.id)).to.deep.equal([]);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Restart with pending requests; 5. a tampered audit log

describe('approval gate in a real Node-RED 4: a restart with pending requests, and the audit log', function () {
  this.timeout(90000);
  let dir: string;
  let r: Red | undefined;

  before(() => {
    dir = tmpDir('approval-restart');
  });
  after(async () => {
    await r?.red.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('two pending requests survive a stop (SIGINT) and start with the same ids; decided, each leaves once, also after a further restart', async () => {
    r = await start(dir, flows(dir));
    const a = await request(r);
    const b = await request(r);
    const before = (await list(r)).pending.filter((p) => p.id === a.id || p.id === b.id);
    expect(before).to.have.length(2);
    await r.red.stop();
    r = undefined;
    expect(fs.readdirSync(path.join(dir, 'mlops-approval', 'requests', GATE)).sort()).to.deep.equal([`${a.id}.json`, `${b.id}.json`].sort());

    r = await start(dir, flows(dir));
    await pendingItem(r, a.version);
    await pendingItem(r, b.version);
    const again = (await list(r)).pending;
    expect(again.map((p: any) => p.id).sort()).to.deep.equal([a.id, b.id].sort());
    for (const p of before) expect(again.find((x: any) => x.id === p.id)).to.deep.include({ created: p.created, digest: p.digest });
    expect(left(dir)).to.deep.equal([]);

    expect((await decide(r, 'approver', a.id, { decision: 'approve', comment: 'after the restart' })).status).to.equal(200);
    expect((await decide(r, 'approver2', b.id, { decision: 'reject', comment: 'not this one' })).status).to.equal(200);
    const la = await linesOf(dir, a.id);
    const lb = await linesOf(dir, b.id);
    expect(la.map((l) => [l.output, l.version, l.approval.decision, l.approval.recovered])).to.deep.equal([[1, a.version, 'approved', undefined]]);
    expect(lb.map((l) => [l.output, l.version, l.approval.decision, l.approval.recovered])).to.deep.equal([[2, b.version, 'rejected', undefined]]);

    // once more: nothing pending, nothing leaves again, decided stays decided
    await r.red.stop();
    // the decided requests' files stay for the delivery grace, and go when the gate closes
    expect(fs.readdirSync(path.join(dir, 'mlops-approval', 'requests', GATE))).to.deep.equal([]);
    r = await start(dir, flows(dir));
    expect((await list(r)).pending).to.deep.equal([]);
    expect((await decide(r, 'approver', a.id, { decision: 'approve' })).status).to.equal(409);
    await sleep(QUIET_MS);
    expect(left(dir)).to.have.length(2);
    await r.red.stop();
    r = undefined;
    const verdict = auditVerify(auditFile(dir));
    expect(verdict.status, verdict.out).to.equal(0);
  });

  it('a tampered audit log (one character of a middle record\'s comment changed): audit-verify exits 1 naming that line', async () => {
    const lines = fs.readFileSync(auditFile(dir), 'utf8').split('\n').filter((l) => l);
    // a record with a comment that is neither the first nor the last line
    const i = lines.findIndex((l, n) => n > 0 && n < lines.length - 1 && (JSON.parse(l) as Record<string, any>).approval?.comment === 'after the restart');
    expect(i, lines.join('\n')).to.be.greaterThan(0);
    const copy = path.join(dir, 'tampered.jsonl');
    lines[i] = lines[i].replace('after the restart', 'after the restarT');
    fs.writeFileSync(copy, `${lines.join('\n')}\n`);
    fs.copyFileSync(`${auditFile(dir)}.head`, `${copy}.head`);
    const v = auditVerify(copy);
    expect(v.status, v.out).to.equal(1);
    // line i+1 (1-based) was changed: the next line's prev no longer matches its sha256
    expect(v.out).to.include(`line ${i + 2}: prev does not match the sha256 of line ${i + 1}`);
    expect(v.out).to.include('TAMPERED (1 problem)');
    // the untouched log still verifies
    expect(auditVerify(auditFile(dir)).status).to.equal(0);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. kill -9 in the middle of a decision

describe('approval gate in a real Node-RED 4: kill -9 in the middle of a decision', function () {
  this.timeout(240000);
  let dir: string;
  let r: Red | undefined;

  before(() => {
    dir = tmpDir('approval-crash');
  });
  after(async () => {
    await r?.red.stop();
    if (process.env.MLOPS_KEEP_APPROVAL) console.log(`      kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });

  /** POSTs an approval to a Node-RED that dies on it, and waits until it is gone. */
  async function approveIntoCrash(red: Red, id: string): Promise<void> {
    const pid = redPid(red.red.userDir);
    const answer = await decide(red, 'approver', id, { decision: 'approve', comment: 'crash here' }).catch((e: Error) => e);
    await waitGone(pid);
    await red.red.stop(); // exited already: only collects the exit
    // every failpoint lies before the answer
    expect(answer, 'an answer from a Node-RED that should have died first').to.be.instanceOf(Error);
  }

  for (const point of ['before-commit', 'after-commit', 'after-send'] as const) {
    it(`MLOPS_APPROVAL_CRASH=${point}: ${point === 'before-commit' ? 'still pending, nothing left, no decision record; approving again works once' : 'after a restart exactly one line (recovered), one decision record, nothing pending, a further POST is a 409'}`, async () => {
      r = await start(dir, flows(dir), { env: { MLOPS_APPROVAL_CRASH: point } });
      const q = await request(r);
      await approveIntoCrash(r, q.id);
      r = undefined;
      expect(leftFor(dir, q.id)).to.deep.equal([]);

      r = await start(dir, flows(dir));
      if (point === 'before-commit') {
        await sleep(QUIET_MS);
        expect(await isPending(r, q.id)).to.equal(true);
        expect(leftFor(dir, q.id)).to.deep.equal([]);
        expect(decisionsOf(dir, q.id)).to.deep.equal([]);
        const ok = await decide(r, 'approver', q.id, { decision: 'approve', comment: 'second try' });
        expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
        const lines = await linesOf(dir, q.id);
        expect(lines).to.have.length(1);
        expect(lines[0].output).to.equal(1);
        expect(lines[0].approval).to.deep.include({ decision: 'approved', by: 'approver', channel: 'api', comment: 'second try' });
        expect(lines[0].approval).to.not.have.property('recovered');
      } else {
        const lines = await linesOf(dir, q.id);
        expect(lines, JSON.stringify(lines)).to.have.length(1);
        expect(lines[0].output).to.equal(1);
        expect(lines[0].version).to.equal(q.version);
        expect(lines[0].approval).to.deep.include({ id: q.id, decision: 'approved', by: 'approver', channel: 'api', comment: 'crash here', recovered: true });
        expect(await isPending(r, q.id)).to.equal(false);
      }
      const records = decisionsOf(dir, q.id);
      expect(records).to.have.length(1);
      expect(records[0].approval).to.not.have.property('recovered');
      const again = await decide(r, 'approver', q.id, { decision: 'approve' });
      expect(again.status).to.equal(409);
      await sleep(QUIET_MS);
      expect(leftFor(dir, q.id)).to.have.length(1);
      await r.red.stop();
      r = undefined;
      expect(fs.existsSync(path.join(dir, 'mlops-approval', 'requests', GATE, `${q.id}.json`)), 'the request file after the gate closed').to.equal(false);
    });
  }

  it('a kill after the 200 while the approved message is still on its way (a 500 ms delay node before the file): after the restart it leaves, marked recovered; it was not lost', async () => {
    const slow = flows(dir).map((n: any) => (n.id === 'out1' ? { ...n, wires: [['slow']] } : n));
    slow.push({ id: 'slow', z: 'tab', x: 700, y: 120, type: 'delay', pauseType: 'delay', timeout: '500', timeoutUnits: 'milliseconds', rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false, allowrate: false, outputs: 1, wires: [['left']] });
    r = await start(dir, slow);
    const q = await request(r);
    const pid = redPid(dir);
    const ok = await decide(r, 'approver', q.id, { decision: 'approve', comment: 'on its way' });
    expect(ok.status).to.equal(200);
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
    await r.red.stop();
    expect(leftFor(dir, q.id), 'a line before the restart (the delay should have held it)').to.deep.equal([]);
    r = await start(dir, flows(dir));
    const lines = await linesOf(dir, q.id);
    expect(lines.map((l) => [l.output, l.approval.decision, l.approval.recovered])).to.deep.equal([[1, 'approved', true]]);
    expect(decisionsOf(dir, q.id)).to.have.length(1);
    await r.red.stop();
    r = undefined;
  });

  it('SIGKILL from outside at a random moment (0-30 ms after the POST), several rounds: a decision record ⇒ its message left (once, and again marked recovered after a kill within the delivery grace); none ⇒ still pending; then the audit log verifies', async () => {
    const rounds = Number(process.env.MLOPS_KILL_ROUNDS ?? 6);
    const ids: Array<{ id: string; version: string }> = [];
    const outcomes: string[] = [];
    r = await start(dir, flows(dir));
    /** The invariant over every request of this test, after a restart. */
    const check = async (red: Red) => {
      // a recovered message leaves during the start: give it the time to reach the file
      await sleep(QUIET_MS);
      const pending = new Set((await list(red)).pending.map((p) => p.id));
      for (const q of ids) {
        const decided = decisionsOf(dir, q.id).length;
        const lines = leftFor(dir, q.id);
        expect(decided, `decision records of ${q.id}`).to.be.at.most(1);
        if (decided) {
          // never lost; each kill within the delivery grace after it passes it on again, marked recovered
          const recovered = lines.filter((l) => l.approval.recovered).length;
          expect(lines.length, `lines of ${q.id}, whose decision is committed`).to.be.at.least(1);
          expect(lines.length - recovered, `lines of ${q.id} not marked recovered`).to.be.at.most(1);
          expect(pending.has(q.id), `${q.id} decided but pending`).to.equal(false);
        } else {
          expect(lines, `lines of ${q.id}, without a decision record`).to.deep.equal([]);
          expect(pending.has(q.id), `${q.id} without a decision record is pending`).to.equal(true);
        }
      }
    };
    for (let round = 0; round < rounds; round++) {
      const q = await request(r);
      ids.push({ id: q.id, version: q.version });
      const pid = redPid(dir);
      const delay = Math.floor(Math.random() * 31);
      const t0 = performance.now();
      const answer = decide(r, 'approver', q.id, { decision: 'approve', comment: `round ${round}` }).catch((e: Error) => e);
      await sleep(delay);
      process.kill(pid, 'SIGKILL');
      const elapsed = Math.round(performance.now() - t0);
      const a = await answer;
      await waitGone(pid);
      await r.red.stop();
      r = await start(dir, flows(dir));
      await check(r);
      const d = decisionsOf(dir, q.id)[0];
      outcomes.push(`${delay} ms (${elapsed} ms): ${a instanceof Error ? 'no answer' : a.status}, ${d ? (leftFor(dir, q.id)[0].approval.recovered ? 'decided, recovered' : 'decided') : 'pending'}`);
    }
    console.log(`      kills: ${outcomes.join('; ')}`);
    // the ones still pending: approving them works, once each
    for (const q of ids.filter((q) => !decisionsOf(dir, q.id).length)) {
      expect((await decide(r, 'approver', q.id, { decision: 'approve', comment: 'after the kills' })).status).to.equal(200);
      expect(await linesOf(dir, q.id)).to.have.length(1);
    }
    await r.red.stop();
    r = undefined;
    const recoveries = audit(dir).filter((a) => a.type === 'recovery');
    const v = auditVerify(auditFile(dir));
    expect(v.status, `${v.out}\n(${recoveries.length} recovery records)`).to.equal(0);
    expect(v.out).to.match(/chain intact/);
  });

  it('a power cut in the middle of an append (a torn last line): audit-verify exits 1; the next start cuts it off and records a recovery; then it verifies', async () => {
    const file = auditFile(dir);
    const n = audit(dir).length;
    expect(n).to.be.greaterThan(2);
    // what a write cut short leaves: the start of record n+1, no newline
    const torn = `{"seq":${n + 1},"at":"${new Date().toISOString()}","prev":"${'0'.repeat(20)}`;
    fs.appendFileSync(file, torn);
    const before = auditVerify(file);
    expect(before.status, before.out).to.equal(1);
    expect(before.out).to.include(`line ${n + 1}: does not end with a newline`);

    r = await start(dir, flows(dir));
    const q = await request(r); // the gate opened the log: its request record follows the recovery
    const records = audit(dir);
    expect(records[n]).to.deep.include({ seq: n + 1, type: 'recovery', tornBytes: Buffer.byteLength(torn), tornSha256: createHash('sha256').update(torn).digest('hex') });
    expect(records[n + 1]).to.deep.include({ seq: n + 2, type: 'request', id: q.id });
    expect((await decide(r, 'approver', q.id, { decision: 'approve' })).status).to.equal(200);
    expect(await linesOf(dir, q.id)).to.have.length(1);
    await r.red.stop();
    r = undefined;
    const after = auditVerify(file);
    expect(after.status, after.out).to.equal(0);
  });

  it('a power cut between a record and its head file (the head one record behind): audit-verify exits 1; the next start repairs the head; then it verifies', async () => {
    const file = auditFile(dir);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l);
    const n = lines.length;
    const hash = (l: string) => createHash('sha256').update(l).digest('hex');
    expect(JSON.parse(fs.readFileSync(`${file}.head`, 'utf8'))).to.deep.equal({ seq: n, sha256: hash(lines[n - 1]) });
    fs.writeFileSync(`${file}.head`, JSON.stringify({ seq: n - 1, sha256: hash(lines[n - 2]) }));
    const before = auditVerify(file);
    expect(before.status, before.out).to.equal(1);
    expect(before.out).to.include(`head file records seq ${n - 1}, but the log ends at seq ${n}`);

    r = await start(dir, flows(dir));
    await request(r); // the gate has opened the log
    await r.red.stop();
    r = undefined;
    const records = audit(dir);
    expect(records.slice(0, n).map((x) => x.seq)).to.deep.equal(lines.map((_l, i) => i + 1));
    expect(records.filter((x) => x.type === 'recovery' && x.seq > n)).to.deep.equal([]);
    const after = auditVerify(file);
    expect(after.status, after.out).to.equal(0);
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Signed decisions over MQTT

describe('approval gate in a real Node-RED 4: signed decisions over MQTT (a real mosquitto)', function () {
  this.timeout(60000);
  let dir: string;
  let r: Red;
  let mosq: Mosquitto;
  let client: mqtt.MqttClient;
  const anna = generateKeyPairSync('ed25519');
  const mallory = generateKeyPairSync('ed25519');
  const pem = (k: { privateKey: import('crypto').KeyObject }) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const annaFingerprint = keyFingerprint(anna.publicKey);

  before(async () => {
    if (!fs.existsSync(MOSQUITTO_BIN)) throw new Error(`${MOSQUITTO_BIN} is missing: run bash scripts/test-setup.sh (apt-get install mosquitto)`);
    mosq = await Mosquitto.start();
    dir = tmpDir('approval-mqtt');
    const keys = `# the central console\n# name: console-anna\n${anna.publicKey.export({ type: 'spki', format: 'pem' }).toString()}`;
    r = await start(dir, flows(dir, { mqttBroker: 'broker', mqttTopic: TOPIC, approverKeys: keys }, [{ id: 'broker', type: 'mlops-mqtt-broker', name: 'mosquitto', url: mosq.url, clientId: '', keepalive: 60, cleanSession: true }]));
    client = mqtt.connect(mosq.url, { clientId: `approval-test-${process.pid}`, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  });
  after(async () => {
    await client?.endAsync();
    await r?.red.stop();
    await mosq?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const publish = (payload: unknown) => client.publishAsync(TOPIC, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
  const refusals = (id: string) => audit(dir).filter((a) => a.type === 'refused' && a.id === id && a.channel === 'mqtt');

  it('the gate listens: a message that is no decision is refused and audited (channel mqtt)', async () => {
    // published until the gate's subscription is in place (a message before it is not delivered)
    const t0 = Date.now();
    while (!audit(dir).some((a) => a.type === 'refused' && a.channel === 'mqtt')) {
      if (Date.now() - t0 > 20000) throw new Error(`the gate refused no MQTT message within 20 s:\n${r.red.log().slice(-3000)}\n${mosq.output}`);
      await publish('not a decision');
      await sleep(200);
    }
    const junk = audit(dir).find((a) => a.type === 'refused' && a.channel === 'mqtt')!;
    expect(junk.id).to.equal('');
    expect(junk.by).to.equal('mqtt');
  });

  it('signed by another key: refused, audited, still pending; signed over another digest: refused; the right signature: output 1, channel mqtt, by console-anna', async () => {
    const q = await request(r);
    const other = sha(`another model ${q.version}`);

    // 1. a key that is no approver key
    await publish(signDecision(pem(mallory), { id: q.id, decision: 'approve', digest: q.digest, by: 'console-anna', comment: 'trust me' }));
    await waitFor('the refusal of the foreign key', () => (refusals(q.id).length >= 1 ? true : undefined), 10000);
    // 1b. the same without naming the key: every approver key is tried
    const { key: _k, ...unnamed } = signDecision(pem(mallory), { id: q.id, decision: 'approve', digest: q.digest });
    await publish(unnamed);
    await waitFor('the refusal of the unnamed foreign key', () => (refusals(q.id).length >= 2 ? true : undefined), 10000);
    // 2. the right key, but signed for another model (as sent, and with the digest field swapped)
    const wrongDigest = signDecision(pem(anna), { id: q.id, decision: 'approve', digest: other });
    await publish(wrongDigest);
    await waitFor('the refusal of the other digest', () => (refusals(q.id).length >= 3 ? true : undefined), 10000);
    await publish({ ...wrongDigest, digest: q.digest });
    await waitFor('the refusal of the swapped digest', () => (refusals(q.id).length >= 4 ? true : undefined), 10000);

    const codes = refusals(q.id).map((a) => a.code);
    expect(codes).to.deep.equal(['decisionUnknownKey', 'decisionBadSignature', 'decisionWrongDigest', 'decisionBadSignatureKey']);
    expect(refusals(q.id)[2].reason).to.include(other).and.include(q.digest);
    await sleep(QUIET_MS);
    expect(await isPending(r, q.id)).to.equal(true);
    expect(leftFor(dir, q.id)).to.deep.equal([]);
    expect(decisionsOf(dir, q.id)).to.deep.equal([]);

    // 3. signed by console-anna over this request's digest
    const good = signDecision(pem(anna), { id: q.id, decision: 'approve', digest: q.digest, by: 'someone else', comment: 'checked from the console' });
    await publish(good);
    const lines = await linesOf(dir, q.id);
    expect(lines).to.have.length(1);
    expect(lines[0].output).to.equal(1);
    expect(lines[0].approval).to.deep.include({ id: q.id, decision: 'approved', by: 'console-anna', channel: 'mqtt', comment: 'checked from the console' });
    const records = decisionsOf(dir, q.id);
    expect(records).to.have.length(1);
    expect(records[0].key).to.equal(annaFingerprint);

    // the same signed message again (a replay): refused, nothing more leaves
    await publish(good);
    await waitFor('the refusal of the replay', () => (refusals(q.id).length >= 5 ? true : undefined), 10000);
    expect(refusals(q.id)[4].code).to.equal('decidedMqtt');
    await sleep(QUIET_MS);
    expect(leftFor(dir, q.id)).to.have.length(1);
  });

  it('a signed reject: output 2, by console-anna', async () => {
    const q = await request(r);
    await publish(signDecision(pem(anna), { id: q.id, decision: 'reject', digest: q.digest, comment: 'no' }));
    const lines = await linesOf(dir, q.id);
    expect(lines).to.have.length(1);
    expect(lines[0].output).to.equal(2);
    expect(lines[0].approval).to.deep.include({ decision: 'rejected', by: 'console-anna', channel: 'mqtt' });
  });
});
