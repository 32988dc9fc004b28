/**
 * The whole loop end to end, in a headless Node-RED 4 and 5: `npm start`'s launcher (scripts/demo.ts)
 * with the simulator at 60x and flows/predictive-maintenance. The registry's model is approved with
 * the curl command the demo prints; the bearing fault is found in condition A; at 2700 simulated s
 * the bearing is replaced and the line switches to condition B; drift detect declares drift
 * [domain]; the retrain trigger holds, then trains a candidate on the labelled windows of A and B;
 * the candidate waits at the same approval gate with both models' metrics on the held-out windows
 * of B (the admin API shows them); the printed curl command approves it; onnx infer switches to it
 * with no window lost (counted: the flow's count of feature windows against the scored ones, on the
 * console and in the flow's context) and drift detect returns to ok against its reference. The
 * console tells it step by step, each line with its simulated time (printed at the end).
 */
import { expect } from 'chai';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir, waitFor } from '../support/red';
import { freePort, root, runtimes, spawnLogged, type LoggedProcess } from '../support/red-process';

const flow = JSON.parse(fs.readFileSync(path.join(root, 'flows', 'predictive-maintenance', 'flows.json'), 'utf8')) as Array<{ id: string; type: string; name?: string }>;
const idOf = (type: string) => flow.find((n) => n.type === type)!.id;
const TAB = idOf('tab');
const GATE = idOf('mlops-approval-gate');
const DRIFT = idOf('mlops-drift-detect');
const TRIGGER = idOf('mlops-retrain-trigger');
/** Simulated seconds per wall second: the tests' 60x (npm start runs 30x). */
const SCALE = 60;

/** Runs a command line in bash; resolves with its output, rejects when it fails. */
const bash = (line: string) =>
  new Promise<string>((resolve, reject) =>
    execFile('bash', ['-c', line], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );

/** A story line: what a print function of the flow or the demo printed, without Node-RED's date. */
const STORY = /^(?:\d+ \w+ [\d:]+ - \[(?:info|warn)\] \[function:([a-z ]+)\] |\[demo\] )(@\d+ s) (.*)$/gm;

interface MetricRow {
  name: string;
  candidate?: number;
  deployed?: number;
}
interface PendingRequest {
  id: string;
  gate: string;
  digest: string;
  summary: { title: string; model: { name: string; version: string; digest: string; source?: string }; deployed?: { version: string }; metrics: MetricRow[]; metricsFrom?: string };
}

for (const rt of runtimes()) {
  const runtime = `${rt.name} on ${rt.on}`;
  if ('missing' in rt) {
    // Failed, not pending: npm test's setup step (scripts/test-setup.sh) installs .compat/.
    describe(`the whole loop with ${runtime}`, () =>
      it('has Node.js 24 and Node-RED 5 in .compat/', () => {
        const absent = rt.missing.map((p) => path.relative(root, p));
        throw new Error(`${absent.join(' and ')} missing: npm test installs them (scripts/test-setup.sh); or run \`npm run compat:install\``);
      }),
    );
    continue;
  }
  describe(`the whole loop with ${runtime} (e2e: npm start at ${SCALE}x: drift, retrain, approval, switch, drift back to ok)`, function () {
    this.timeout(240000);
    let demo: LoggedProcess | undefined;
    const out = () => demo?.log() ?? '';
    let dir: string;
    let editor: string;
    let token = '';
    let started = 0;
    const auth = () => ({ Authorization: `Bearer ${token}` });
    const getJson = async <T>(p: string): Promise<T> => {
      const r = await fetch(`${editor}${p}`, { headers: auth() });
      expect(r.status, `GET ${p}`).to.equal(200);
      return (await r.json()) as T;
    };
    /** The flow's context variables (GET /context/flow/<tab>): the values as Node-RED encodes them, decoded. */
    const flowContext = async (): Promise<Record<string, unknown>> => {
      const c = await getJson<Record<string, Record<string, { msg: string; format: string }>>>(`/context/flow/${TAB}`);
      const vars = c.memory ?? c.default ?? Object.values(c)[0] ?? {};
      return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, JSON.parse(v.msg) as unknown]));
    };
    /** Windows the flow counted up to the last scored one, and the scored ones (read in one request). */
    const counts = async () => {
      const c = (await flowContext()) as { windows?: { n: number; ends: number[] }; scored?: { n: number; end: number } };
      expect(c.windows, 'flow variable windows').to.be.an('object');
      expect(c.scored, 'flow variable scored').to.be.an('object');
      const upTo = c.windows!.n - c.windows!.ends.filter((e) => e > c.scored!.end).length;
      return { windows: upTo, scored: c.scored!.n, all: c.windows!.n };
    };
    let candidate: PendingRequest;
    let curl = '';

    before(async () => {
      started = Date.now();
      dir = tmpDir('loop');
      const port = await freePort();
      editor = `http://127.0.0.1:${port}`;
      demo = spawnLogged(process.execPath, [require.resolve('tsx/cli'), path.join(root, 'scripts', 'demo.ts')], {
        cwd: root,
        env: { DEMO_NODE: rt.node, DEMO_NODE_RED: rt.red, DEMO_PORT: String(port), DEMO_OPCUA_PORT: String(await freePort()), DEMO_DIR: dir, DEMO_TIME_SCALE: String(SCALE) },
      });
    });

    after(async function () {
      await demo?.stop();
      // the console of a failed run, for a look
      if (this.currentTest?.state === 'failed' || process.env.MLOPS_KEEP_E2E) fs.writeFileSync(`${dir}.log`, out());
      if (process.env.MLOPS_KEEP_E2E) console.log(`      e2e files kept in ${dir}, the console in ${dir}.log`);
      else fs.rmSync(dir, { recursive: true, force: true });
    });

    it('starts: the registry\'s model waits at the gate, and the curl command the demo prints approves it', async () => {
      const login = await waitFor('the logins', () => out().match(/\[demo\] editor (http:\/\/127\.0\.0\.1:\d+)\/ — log in as approver \/ (\S+) /) ?? undefined, 60000, 200);
      expect(login[1]).to.equal(editor);
      const held = await waitFor('the registry\'s model at the gate', () => out().match(/^\[demo\] @\d+ s the approval gate holds bearing-fault 1\.0\.0 .*\n\[demo\] @\d+ s approve it .* or paste:\n(curl .*)$/m) ?? undefined, 60000, 200);
      const answer = JSON.parse(await bash(held[1])) as { state: string };
      expect(answer.state).to.equal('approved');
      await waitFor('the approval in the flow', () => (/\[function:print decision\] @\d+ s model bearing-fault 1\.0\.0 \S+ approved by approver via api/.test(out()) ? true : undefined), 30000, 200);
      const r = await fetch(`${editor}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'approver', password: login[2] }),
      });
      expect(r.status).to.equal(200);
      token = ((await r.json()) as { access_token: string }).access_token;
      // the inspection labels windows from the start
      await waitFor('the first inspection', () => (/\[function:label\] @\d+ s inspection: bearing healthy \(fault severity 0\.00\), condition A/.test(out()) ? true : undefined), 30000, 200);
    });

    it('finds the fault in condition A; at 2700 s the bearing is replaced and the condition changes to B; drift [domain] is declared', async () => {
      const fault = await waitFor('the fault found', () => out().match(/\[function:print\] @(\d+) s window #\d+ .*\(bearing-fault 1\.0\.0, [\d.]+ ms\): the model says fault/) ?? undefined, 120000, 200);
      expect(Number(fault[1])).to.be.within(600, 2700);
      const change = await waitFor('the switch to B', () => out().match(/\[function:label\] @(\d+) s operating condition A -> B/) ?? undefined, 120000, 200);
      expect(Number(change[1])).to.be.within(2700, 2700 + 2 * SCALE);
      // the repair: the inspection's next reading, or the same
      const repair = await waitFor('the repair', () => out().match(/\[function:label\] @(\d+) s bearing replaced \(fault severity 0\.\d\d -> 0\.00\)/) ?? undefined, 10000, 200);
      expect(Number(repair[1]) - Number(change[1])).to.be.within(0, 2 * SCALE);
      const drift = await waitFor('drift', () => out().match(/\[function:print drift\] @(\d+) s drift (ok|warn) -> drift \[([a-z+]*domain[a-z+]*)\]/) ?? undefined, 60000, 200);
      expect(Number(drift[1])).to.be.within(2700, 2700 + 15 * SCALE);
    });

    it('the retrain trigger holds the drift for its hold time, then retrains, each decision with its reason', async () => {
      const holding = await waitFor('the hold', () => out().match(/\[function:print retrain\] @(\d+) s retrain: drift for \d+ s, waiting until it held 1 min: \S+ \S+ left/) ?? undefined, 30000, 200);
      const go = await waitFor('the go', () => out().match(/\[function:print retrain\] @(\d+) s retrain: drift for 1 min, (\d+) new rows: retraining/) ?? undefined, 120000, 200);
      // one window a wall second: the hold of 1 min is about 60 windows of B
      expect((Number(go[1]) - Number(holding[1])) / SCALE).to.be.within(55, 75);
      expect(Number(go[2])).to.be.at.least(80); // the flow's minRows
      await waitFor('the candidate', () => (/\[function:print candidate\] @\d+ s held out, the newest \d+ \(\d+-\d+ s\), all of condition B: accuracy/.test(out()) ? true : undefined), 60000, 200);
      await waitFor('no retrain while it waits', () => (/\[function:print retrain\] @\d+ s retrain: candidate bearing-fault 1\.0\.1 waits for approval/.test(out()) ? true : undefined), 30000, 200);
      expect(out()).to.not.match(/\[error\]/);
    });

    it('the candidate waits at the same gate with both models\' metrics: on the held-out windows of B it is at least as good as the deployed model', async () => {
      const held = await waitFor('the candidate at the gate', () => out().match(/^\[demo\] @\d+ s the approval gate holds bearing-fault 1\.0\.1 \((sha256:[0-9a-f]{8})…\), on the held-out windows: accuracy (\d\.\d\d) \(1\.0\.0: (\d\.\d\d)\).*\n\[demo\] @\d+ s approve it .* or paste:\n(curl .*)$/m) ?? undefined, 60000, 200);
      curl = held[4];
      const list = await getJson<{ pending: PendingRequest[] }>('/mlops-approval/requests');
      expect(list.pending.map((p) => `${p.gate} ${p.summary.title}`)).to.deep.equal([`${GATE} bearing-fault 1.0.1`]);
      candidate = list.pending[0];
      expect(candidate.summary.model.digest.slice(0, 15)).to.equal(held[1]);
      expect(candidate.summary.model.source).to.equal('retrain');
      expect(candidate.summary.deployed?.version).to.equal('1.0.0');
      expect(candidate.summary.metricsFrom).to.equal('evaluation');
      const metric = (name: string) => candidate.summary.metrics.find((m) => m.name === name)!;
      const accuracy = metric('accuracy');
      expect(accuracy.candidate, JSON.stringify(candidate.summary.metrics)).to.be.at.least(accuracy.deployed!).and.at.least(0.9);
      expect(accuracy.deployed, 'the A-only model on healthy windows of B').to.be.at.most(0.2);
      expect(metric('outOfDomain').candidate).to.be.below(metric('outOfDomain').deployed!);
      expect(Number(held[2])).to.equal(Math.round(accuracy.candidate! * 100) / 100);
    });

    it('approved with the printed curl command: onnx infer switches to the candidate with no window lost', async () => {
      const before = await counts();
      expect(before.windows, 'every window scored before the switch').to.equal(before.scored);
      const answer = JSON.parse(await bash(curl)) as { state: string; approval: { decision: string; by: string; channel: string } };
      expect(answer.state).to.equal('approved');
      expect(answer.approval).to.include({ decision: 'approved', by: 'approver', channel: 'api' });
      await waitFor('the approval in the flow', () => (/\[function:print decision\] @\d+ s model bearing-fault 1\.0\.1 \S+ approved by approver via api/.test(out()) ? true : undefined), 30000, 200);
      const loaded = await waitFor('the candidate loaded', () => out().match(/\[mlops-onnx-infer:bearing fault\] model bearing-fault 1\.0\.1 loaded \((sha256:[0-9a-f]+)/) ?? undefined, 30000, 200);
      expect(loaded[1]).to.equal(candidate.summary.model.digest);
      await waitFor('the switch', () => (/switched from bearing-fault 1\.0\.0 to bearing-fault 1\.0\.1/.test(out()) ? true : undefined), 30000, 200);
      const first = await waitFor('the first window of the candidate', () => out().match(/\[function:print\] @\d+ s window #(\d+) .*\(bearing-fault 1\.0\.1, [\d.]+ ms\): first window of bearing-fault 1\.0\.1 \(before: bearing-fault 1\.0\.0\); (\d+) windows, (\d+) scored, (\w+) lost/) ?? undefined, 30000, 200);
      expect([Number(first[2]), Number(first[3]), first[4]], first[0]).to.deep.equal([Number(first[1]), Number(first[1]), 'none']);
      await waitFor('the candidate says healthy', () => (/\[function:print\] @\d+ s window #\d+ .*\(bearing-fault 1\.0\.1, [\d.]+ ms\): the model says healthy/.test(out()) ? true : undefined), 30000, 200);
      // later, counted again in the flow's context: every window up to the last scored one was scored
      const after = await counts();
      expect(after.scored).to.be.above(Number(first[1]));
      expect(after.windows, JSON.stringify(after)).to.equal(after.scored);
    });

    it('drift detect returns to ok against the candidate\'s reference; the retrain trigger sees no drift', async () => {
      const ok = await waitFor('drift ok against 1.0.1', () => out().match(/\[function:drift reports\] @\d+ s drift ok against bearing-fault 1\.0\.1's reference: (\d+) of 10 windows out of its domain/) ?? undefined, 60000, 200);
      expect(Number(ok[1])).to.be.below(5);
      const r = await getJson<{ phase: string; report: { state: string; baseline: { version?: string; digest?: string; name?: string } } | null }>(`/mlops-drift-detect/${DRIFT}/report`);
      expect(r.report, 'the last report').to.not.equal(null);
      expect(r.report!.baseline).to.include({ name: 'bearing-fault', version: '1.0.1', digest: candidate.summary.model.digest });
      expect(r.report!.state).to.not.equal('drift');
      expect(out()).to.match(/\[function:print retrain\] @\d+ s retrain: no drift \(ok\)/);
      // one retrain: no second candidate came
      expect(out().match(/retrain: drift for 1 min, \d+ new rows: retraining/g)).to.have.length(1);
      expect(fs.readdirSync(path.join(dir, 'mlops-retrain', TRIGGER, 'candidates')).filter((f) => f.endsWith('.onnx'))).to.deep.equal(['bearing-fault-1.0.1.onnx']);
      expect(out()).to.not.match(/\[error\]/);
    });

    it('tells the story on the console, each line with its simulated time, in order', () => {
      const lines = [...out().matchAll(STORY)].map((m) => ({ who: m[1] ?? 'demo', at: Number(m[2].slice(1, -2)), text: m[3], line: `${m[1] ? `[${m[1]}]` : '[demo]'} ${m[2]} ${m[3]}` }));
      const find = (who: string, re: RegExp) => {
        const i = lines.findIndex((l) => l.who === who && re.test(l.text));
        expect(i, `${who}: ${re}\n${lines.map((l) => l.line).join('\n')}`).to.be.at.least(0);
        return i;
      };
      const steps = [
        find('demo', /^the approval gate holds bearing-fault 1\.0\.0/),
        find('print decision', /^model bearing-fault 1\.0\.0 .* approved by approver/),
        find('print', /the model says fault/),
        find('label', /^operating condition A -> B/),
        find('print drift', /-> drift \[.*domain/),
        find('print retrain', /^retrain: drift for \d+ s, waiting until it held 1 min/),
        find('print retrain', /^retrain: drift for 1 min, \d+ new rows: retraining/),
        find('print candidate', /^candidate bearing-fault 1\.0\.1 trained in [\d.]+ s on \d+ labelled windows/),
        find('print candidate', /^held out, the newest \d+ .*: accuracy/),
        find('demo', /^the approval gate holds bearing-fault 1\.0\.1 .*on the held-out windows: accuracy/),
        find('print decision', /^model bearing-fault 1\.0\.1 .* approved by approver via api/),
        find('print', /first window of bearing-fault 1\.0\.1 .*none lost/),
        find('drift reports', /^drift ok against bearing-fault 1\.0\.1's reference/),
      ];
      expect(steps, 'the steps in the order they happened').to.deep.equal([...steps].sort((a, b) => a - b));
      // the flow's lines in simulated time order (the demo's own lines read the simulator's clock, a moment ahead)
      const flowTimes = steps.map((i) => lines[i]).filter((l) => l.who !== 'demo').map((l) => l.at);
      expect(flowTimes).to.deep.equal([...flowTimes].sort((a, b) => a - b));
      // short lines
      for (const l of lines) expect(l.line.length, l.line).to.be.below(260);
      console.log(`      the story (${runtime}, ${SCALE}x, ${Math.round((Date.now() - started) / 1000)} s wall):\n${lines.map((l) => `        ${l.line}`).join('\n')}`);
    });

    it('stops everything on Ctrl-C', async () => {
      const child = demo!.child;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 30000))]);
      expect(code).to.equal(0);
    });
  });
}
