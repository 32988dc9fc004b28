/**
 * `npm start` end to end: the demo launcher starts the simulator and a real, headless
 * Node-RED that loads this package from a user directory (as a palette install would),
 * runs flows/predictive-maintenance and prints feature vectors; the model from the registry
 * waits in the approval gate until the curl command the demo prints approves it; the editor,
 * behind the login the demo prints, serves the nodes, their help and their German texts;
 * Ctrl-C stops everything.
 */
import { expect } from 'chai';
import { execFile } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Page } from 'playwright-core';
import { CHROMIUM, launchChromium, watchErrors } from '../support/browser';
import { tmpDir, waitFor } from '../support/red';
import { freePort, root, runtimes, spawnLogged, type LoggedProcess } from '../support/red-process';

/** The drift node's catalog in a language, and its state names as a pattern. */
const catalog = (lang: string) =>
  (JSON.parse(fs.readFileSync(path.join(root, 'locales', lang, 'mlops-drift-detect.json'), 'utf8')) as Record<string, { label: Record<string, string>; state: Record<string, string> }>)['mlops-drift-detect'];
const stateText = (lang: string) => new RegExp(`^(${Object.values(catalog(lang).state).join('|')})$`);
/** The approval gate of the demo flow (flows/predictive-maintenance/flows.json). */
const GATE = 'e7a9b1d3f5b7d916';

/** Runs a command line in bash; resolves with its output, rejects when it fails. */
const bash = (line: string) =>
  new Promise<string>((resolve, reject) =>
    execFile('bash', ['-c', line], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );

for (const rt of runtimes()) {
  const runtime = `${rt.name} on ${rt.on}`;
  if ('missing' in rt) {
    // Failed, not pending: npm test's setup step (scripts/test-setup.sh) installs .compat/.
    describe(`npm start with ${runtime}`, () =>
      it('has Node.js 24 and Node-RED 5 in .compat/', () => {
        const absent = rt.missing.map((p) => path.relative(root, p));
        throw new Error(`${absent.join(' and ')} missing: npm test installs them (scripts/test-setup.sh); or run \`npm run compat:install\``);
      }),
    );
    continue;
  }
  describe(`npm start with ${runtime} (e2e: simulator + headless Node-RED + the demo flow)`, function () {
    this.timeout(120000);
    let demo: LoggedProcess | undefined;
    const out = () => demo?.log() ?? '';
    let dir: string;
    let editor: string;
    /** The logins the demo printed, and an access token of each. */
    let approver: { username: string; password: string };
    let operator: { username: string; password: string };
    let token = '';
    const auth = () => ({ Authorization: `Bearer ${token}` });
    /** A token of the admin API (a user who may only read must ask for scope 'read'). */
    const login = async (user: { username: string; password: string }, scope = '*') => {
      const r = await fetch(`${editor}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope, username: user.username, password: user.password }),
      });
      expect(r.status, `login as ${user.username}`).to.equal(200);
      return ((await r.json()) as { access_token: string }).access_token;
    };

    before(async () => {
      dir = tmpDir('demo');
      const port = await freePort();
      editor = `http://127.0.0.1:${port}`;
      demo = spawnLogged(process.execPath, [require.resolve('tsx/cli'), path.join(root, 'scripts', 'demo.ts')], {
        cwd: root,
        // DEMO_NODE and DEMO_NODE_RED: the Node.js and the Node-RED the demo runs
        env: { DEMO_NODE: rt.node, DEMO_NODE_RED: rt.red, DEMO_PORT: String(port), DEMO_OPCUA_PORT: String(await freePort()), DEMO_DIR: dir, DEMO_TIME_SCALE: '60' },
      });
    });

    after(async () => {
      // after a failed test: Ctrl-C, as the last test does (the demo stops its Node-RED and simulator)
      await demo?.stop();
      // MLOPS_KEEP_E2E=1 keeps the user directory and the screenshots for a look.
      if (process.env.MLOPS_KEEP_E2E) console.log(`      e2e files kept in ${dir}`);
      else fs.rmSync(dir, { recursive: true, force: true });
    });

    it('prints the editor\'s address and the logins made for this run; the editor asks for them', async () => {
      const line = await waitFor('the logins', () => out().match(/\[demo\] editor (http:\/\/127\.0\.0\.1:\d+)\/ — log in as approver \/ (\S+) \(operator \/ (\S+) may only look\)/) ?? undefined, 60000, 200);
      expect(line[1]).to.equal(editor);
      approver = { username: 'approver', password: line[2] };
      operator = { username: 'operator', password: line[3] };
      expect(approver.password).to.have.length.of.at.least(12).and.not.equal(operator.password);
      await waitFor('Node-RED', () => (/Started flows/.test(out()) ? true : undefined), 60000, 200);
      expect((await fetch(`${editor}/flows`)).status, 'GET /flows without a login').to.equal(401);
      const wrong = await fetch(`${editor}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'approver', password: operator.password }),
      });
      expect(wrong.status, 'the operator\'s password for approver').to.equal(403);
      token = await login(approver);
    });

    it('prints the model\'s verdict with the simulated time: simulator → features → ONNX model', async () => {
      const line = await waitFor('a printed prediction', () => out().match(/@\d+ s window #\d+ \[(\d+) features\] fault probability=(\d\.\d{3}) \((bearing-fault 1\.0\.0), [\d.]+ ms\): the model says healthy/) ?? undefined, 90000, 200);
      expect(Number(line[1])).to.equal(40); // 4 channels x 10 features, scored by the committed model
      expect(Number(line[2])).to.be.within(0, 1);
      expect(line[3]).to.equal('bearing-fault 1.0.0');
      expect(out()).to.not.match(/\[error\]/);
    });

    it('deploys the model through the registry: pulled from the layout folder npm start fills, its signature verified with the run\'s key', async () => {
      const line = await waitFor('a printed model', () => out().match(/model bearing-fault 1\.0\.0 (sha256:[0-9a-f]{12})… from models\/bearing-fault:1\.0\.0 \(layout\): signature verified \(key sha256:[0-9a-f]{12}…\)/) ?? undefined, 60000, 200);
      const file = fs.readFileSync(path.join(root, 'flows', 'predictive-maintenance', 'models', 'bearing-fault.onnx'));
      expect(line[1]).to.equal('sha256:' + createHash('sha256').update(file).digest('hex').slice(0, 12));
    });

    it('holds the model in the approval gate until a person approves it: the curl command the demo prints approves it, then onnx infer switches to it', async () => {
      const digest = 'sha256:' + createHash('sha256').update(fs.readFileSync(path.join(root, 'flows', 'predictive-maintenance', 'models', 'bearing-fault.onnx'))).digest('hex');
      const held = await waitFor('the pending request and its curl command', () => out().match(/^\[demo\] @\d+ s the approval gate holds bearing-fault 1\.0\.0 \((sha256:[0-9a-f]{8})…\).*\n\[demo\] @\d+ s approve it in the editor \(Approvals tab in the sidebar\) at (\S+) or paste:\n(curl .*)$/m) ?? undefined, 60000, 200);
      expect(held[1]).to.equal(digest.slice(0, 15));
      expect(held[2]).to.equal(`${editor}/`);
      const curl = held[3];
      // waiting: the model onnx infer loaded at start (the flow's file) serves, the registry's is not loaded
      const loaded = () => [...out().matchAll(/\[mlops-onnx-infer:bearing fault\] model bearing-fault 1\.0\.0 loaded \((sha256:[0-9a-f]+)/g)];
      expect(loaded().length, 'models onnx infer loaded before the approval (the flow\'s file)').to.be.at.most(1);
      expect(out()).to.not.match(/switched from|\[function:print decision\]/);
      // the operator sees the request but may not decide
      const id = curl.match(/\/mlops-approval\/requests\/([A-Za-z0-9_-]+)$/)![1];
      const opToken = await login(operator, 'read');
      const list = (await (await fetch(`${editor}/mlops-approval/requests`, { headers: { Authorization: `Bearer ${opToken}` } })).json()) as { pending: Array<{ id: string; gate: string; summary: { model: { digest: string } } }> };
      expect(list.pending.map((p) => [p.id, p.gate, p.summary.model.digest])).to.deep.equal([[id, GATE, digest]]);
      const refused = await fetch(`${editor}/mlops-approval/requests/${id}`, { method: 'POST', headers: { Authorization: `Bearer ${opToken}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ decision: 'approve' }) });
      expect(refused.status, 'the operator approving').to.equal(401);
      // the printed line, run as a person would paste it
      expect(curl).to.match(/^curl .*-H 'Authorization: Bearer [^']+' .*-d '\{"decision":"approve","comment":"[^"]*"\}' http:\/\/127\.0\.0\.1:\d+\/mlops-approval\/requests\/[A-Za-z0-9_-]+$/);
      const answer = JSON.parse(await bash(curl)) as { state: string; approval: { id: string; decision: string; by: string; channel: string; comment?: string } };
      expect(answer.state).to.equal('approved');
      expect(answer.approval).to.include({ id, decision: 'approved', by: 'approver', channel: 'api' });
      // the flow, and the demo, say so; then onnx infer loads the registry's model and scores with it
      const decided = await waitFor('the decision in the flow', () => out().match(/\[function:print decision\] @\d+ s model bearing-fault 1\.0\.0 sha256:[0-9a-f]{12}… approved by approver via api: "[^"]*"; onnx infer and drift detect switch to it/) ?? undefined, 30000, 200);
      await waitFor('the decision on the demo\'s console', () => (/^\[demo\] @\d+ s approved by approver via api: bearing-fault 1\.0\.0/m.test(out()) ? true : undefined), 30000, 200);
      const switched = await waitFor('the switch', () => out().match(/switched from bearing-fault 1\.0\.0 to bearing-fault 1\.0\.0/) ?? undefined, 30000, 200);
      const fromRegistry = loaded().find((m) => m.index! > decided.index!);
      expect(fromRegistry, 'the registry\'s model loaded after the approval').to.not.equal(undefined);
      expect(fromRegistry![1]).to.equal(digest);
      expect(switched.index!, 'switched after the approval').to.be.above(decided.index!);
      // predictions flow on with it: print tells the first window it scored, and that none was lost
      const first = await waitFor('a prediction after the switch', () => out().slice(switched.index!).match(/\[function:print\] @\d+ s window #(\d+) .* fault probability=\d\.\d{3} \(bearing-fault 1\.0\.0, [\d.]+ ms\): first window of bearing-fault 1\.0\.0 \(before: bearing-fault 1\.0\.0\); (\d+) windows, (\d+) scored, none lost/) ?? undefined, 30000, 200);
      expect(Number(first[2])).to.equal(Number(first[1])).and.equal(Number(first[3]));
      // the request is no longer pending; the decision is among the recent ones
      const after = (await (await fetch(`${editor}/mlops-approval/requests`, { headers: auth() })).json()) as { pending: unknown[]; recent: Array<{ id: string; decision: string; by: string }> };
      expect(after.pending).to.deep.equal([]);
      expect(after.recent.map((r) => [r.id, r.decision, r.by])).to.deep.include([id, 'approved', 'approver']);
    });

    it('prints the drift state against the model\'s own reference: drift [domain] when the operating condition leaves the model\'s training domain', async () => {
      // the condition changes at 2700 simulated s (45 s at the test's 60x), drift [domain] a few windows later
      const line = await waitFor('a printed drift', () => out().match(/@(\d+) s drift (ok|warn) -> drift \[([a-z+]+)\]: (\d+) of (\d+) windows out of the model's domain: (\S+) (above|below)/) ?? undefined, 90000, 200);
      expect(Number(line[1])).to.be.within(2700, 2700 + 600); // the simulated time of the window that declared it
      expect(line[3].split('+')).to.include('domain'); // which question fired
      expect(Number(line[5])).to.equal(10); // the flow's window of 10 feature vectors
      expect(Number(line[4])).to.be.within(5, 10); // the flow's drift share: half of them
      expect(line[6]).to.match(/^(speed|current|temperature|vibration)\./); // the feature that stood out most, and its side
      // no drift before it, and no earlier out-of-domain episode while the fault develops in condition A:
      // at most the warn that led to this drift
      const before = out().slice(0, line.index).match(/\[function:print drift\] @\S+ s drift .*$/gm) ?? [];
      expect(before.filter((l) => /-> drift/.test(l)), before.join('\n')).to.deep.equal([]);
      expect(before.filter((l) => /\[[a-z+]*domain/.test(l) && !/ok -> warn/.test(l)), before.join('\n')).to.deep.equal([]);
      expect(before.filter((l) => /\[[a-z+]*domain/.test(l)).length, before.join('\n')).to.be.at.most(1);
      // the drift node logs each change itself too, translated
      expect(out()).to.match(/\[mlops-drift-detect:model input drift\] drift state (ok|warn) → drift/);
      expect(out()).to.not.match(/\[error\]/);
    });

    it('serves the nodes, their help and their locales to the editor', async () => {
      const nodes = (await (await fetch(`${editor}/nodes`, { headers: { Accept: 'application/json', ...auth() } })).json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
      const ours = nodes.filter((n) => n.module === '@edge-mlops/node-red-mlops');
      const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
      expect(ours.flatMap((n) => n.types).sort()).to.deep.equal(Object.keys(pkg['node-red'].nodes).sort());
      expect(Object.keys(pkg['node-red'].nodes)).to.include.members(['mlops-drift-detect', 'mlops-feature-window', 'mlops-onnx-infer', 'mlops-opcua-endpoint', 'mlops-opcua-read', 'mlops-registry', 'mlops-registry-pull', 'mlops-approval-gate', 'mlops-retrain-trigger']);
      for (const n of ours) expect(n.err, `${n.types} failed to load`).to.equal(undefined);
      const html = await (await fetch(`${editor}/nodes`, { headers: { Accept: 'text/html', ...auth() } })).text();
      expect(html).to.include('data-template-name="mlops-opcua-read"').and.include('data-help-name="mlops-feature-window"');
      const de = (await (await fetch(`${editor}/locales/@edge-mlops/node-red-mlops/mlops-opcua-read?lng=de`)).json()) as Record<string, { label: { channels: string } }>;
      expect(de['mlops-opcua-read'].label.channels).to.match(/Kanäle/);
      const icon = await fetch(`${editor}/icons/@edge-mlops/node-red-mlops/opcua.svg`);
      expect(icon.status).to.equal(200);
      // Import > Examples lists one flow per node, served from examples/
      const examples = (await (await fetch(`${editor}/library/examples/flows/@edge-mlops/node-red-mlops`, { headers: auth() })).json()) as Array<{ fn: string }>;
      const shipped = fs.readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));
      expect(shipped).to.include.members(['approval-gate', 'drift-detect', 'feature-window', 'onnx-infer', 'opcua-read', 'registry-pull', 'retrain-local', 'retrain-github']);
      expect(examples.map((e) => e.fn).sort()).to.deep.equal(shipped.sort());
      const deDrift = (await (await fetch(`${editor}/locales/@edge-mlops/node-red-mlops/mlops-drift-detect?lng=de`)).json()) as Record<string, { state: { drift: string } }>;
      expect(deDrift['mlops-drift-detect'].state.drift).to.be.a('string');
      const help = await (await fetch(`${editor}/locales/@edge-mlops/node-red-mlops/mlops-drift-detect?lng=en-US`)).json();
      expect(help).to.have.property('mlops-drift-detect');
      const flows = (await (await fetch(`${editor}/flows`, { headers: auth() })).json()) as Array<{ id: string; type: string; wires?: string[][] }>;
      expect(flows.map((n) => n.type)).to.include.members(['mlops-opcua-read', 'mlops-feature-window', 'mlops-opcua-endpoint', 'mlops-onnx-infer', 'mlops-drift-detect', 'mlops-approval-gate', 'mlops-retrain-trigger']);
      // the gate stands between the registry pull and the retrain trigger and the nodes that use the model
      const byType = (t: string) => flows.find((n) => n.type === t)!;
      expect(byType('mlops-registry-pull').wires![0]).to.include(GATE).and.not.include(byType('mlops-onnx-infer').id);
      expect(byType('mlops-retrain-trigger').wires![0]).to.include(GATE).and.not.include(byType('mlops-onnx-infer').id);
      expect(byType('mlops-approval-gate').wires![0]).to.include.members([byType('mlops-onnx-infer').id, byType('mlops-drift-detect').id, byType('mlops-retrain-trigger').id]);
    });

    /** The editor's login dialog, as approver (the password the demo printed). */
    async function logIn(page: Page): Promise<void> {
      await page.waitForSelector('#node-dialog-login-username', { timeout: 30000 });
      await page.fill('#node-dialog-login-username', approver.username);
      await page.fill('#node-dialog-login-password', approver.password);
      await page.click('#node-dialog-login-submit');
    }

    it('shows the flow and clear edit dialogs in a real browser, in English and German', async () => {
      expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).to.equal(true);
      const browser = await launchChromium();
      try {
        for (const [locale, texts] of [
          ['en-US', { channels: 'Channels (name and NodeId)', window: 'Window', security: 'Security mode', test: catalog('en-US').label.method, state: stateText('en-US') }],
          ['de-DE', { channels: 'Kanäle (Name und NodeId)', window: 'Fenster', security: 'Sicherheit', test: catalog('de').label.method, state: stateText('de') }],
        ] as const) {
          const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, locale });
          // before the login the editor's first calls are refused (401): the browser logs them as errors
          const errors = watchErrors(page, /net::ERR_|status of 401/);
          await page.goto(editor);
          await logIn(page);
          await page.waitForSelector('.red-ui-palette-node[data-palette-type="mlops-opcua-read"]', { timeout: 30000 });
          await page.waitForSelector('.red-ui-palette-node[data-palette-type="mlops-feature-window"]');
          // The running flow: the read node's status shows the live subscription.
          await page.waitForFunction(() => /4/.test(document.querySelector('g.red-ui-flow-node[id="7e9a1c3e5a7c9e03"] .red-ui-flow-node-status-label')?.textContent ?? ''), undefined, { timeout: 20000 });
          // opcua read: the channel list is filled in from the flow.
          await page.locator('g.red-ui-flow-node[id="7e9a1c3e5a7c9e03"]').dblclick();
          await page.waitForSelector('#node-input-channel-container .mlops-channel-nodeid');
          expect(await page.locator('#node-input-channel-container .mlops-channel-nodeid').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value)))
            .to.deep.equal(['ns=1;s=Machine1.Vibration', 'ns=1;s=Machine1.BearingTemperature', 'ns=1;s=Machine1.MotorCurrent', 'ns=1;s=Machine1.Speed']);
          expect(await page.locator('.node-input-channel-container-row label').innerText()).to.include(texts.channels);
          // browse the server: open Machine1, click a variable, and it becomes a channel
          await page.locator('#mlops-opcua-browse-button').click();
          await page.locator('#mlops-opcua-browse-tree .red-ui-treeList-label', { hasText: 'Machine1' }).click();
          await page.locator('#mlops-opcua-browse-tree .red-ui-treeList-label', { hasText: 'FaultSeverity' }).click();
          await page.waitForFunction(() => document.querySelectorAll('#node-input-channel-container .mlops-channel-nodeid').length === 5);
          expect(await page.locator('#node-input-channel-container .mlops-channel-name').last().inputValue()).to.equal('faultSeverity');
          expect(await page.locator('#node-input-channel-container .mlops-channel-nodeid').last().inputValue()).to.equal('ns=1;s=Machine1.FaultSeverity');
          await page.screenshot({ path: path.join(dir, `opcua-read-${locale}.png`) });
          // the endpoint config dialog, from the pencil beside the endpoint
          await page.locator('#node-input-btn-endpoint-edit').click();
          await page.waitForSelector('#node-config-input-endpoint');
          expect(await page.locator('#node-config-input-endpoint').inputValue()).to.equal('${MLOPS_OPCUA_ENDPOINT}');
          expect(await page.locator('label[for="node-config-input-securityMode"]').innerText()).to.include(texts.security);
          expect(await page.locator('#node-config-input-securityMode').inputValue()).to.equal('SignAndEncrypt');
          expect(await page.locator('#node-config-input-user').isVisible()).to.equal(false); // anonymous: no user fields
          await page.screenshot({ path: path.join(dir, `endpoint-${locale}.png`) });
          await page.locator('#node-config-dialog-cancel').click();
          await page.locator('#node-dialog-cancel').click();
          // feature window
          await page.locator('g.red-ui-flow-node[id="1a3c5e7a9c1e3a04"]').dblclick();
          await page.waitForSelector('#node-input-channels');
          expect(await page.locator('#node-input-channels').inputValue()).to.equal('vibration,temperature,current,speed');
          expect(await page.locator('#dialog-form').innerText()).to.include(texts.window);
          await page.screenshot({ path: path.join(dir, `feature-window-${locale}.png`) });
          await page.locator('#node-dialog-cancel').click();
          // onnx infer: the dialog shows what the model file says about itself
          await page.locator('g.red-ui-flow-node[id="5f7a9c1e3a5c7e09"]').dblclick();
          await page.waitForFunction(() => /probability/.test(document.querySelector('#mlops-onnx-inspect')?.textContent ?? ''), undefined, { timeout: 15000 });
          await page.waitForTimeout(600); // a second inspection (the path unchanged) would show "loading" again: none comes
          const inspect = await page.locator('#mlops-onnx-inspect').innerText();
          expect(inspect).to.include('features').and.include('bearing-fault').and.include('1.0.0');
          await page.screenshot({ path: path.join(dir, `onnx-infer-${locale}.png`) });
          await page.locator('#node-dialog-cancel').click();
          // drift detect: the dialog shows the deployed node's last report, with a chart of reference against current
          await page.locator('g.red-ui-flow-node[id="6e8a0c2e4a6c0e10"]').dblclick();
          await page.waitForSelector('#mlops-drift-report .mlops-drift-table', { timeout: 15000 });
          expect(await page.locator('label[for="node-input-method"]').innerText()).to.include(texts.test);
          expect(await page.locator('#node-input-method').inputValue()).to.equal('ks');
          expect(await page.locator('#mlops-drift-report .mlops-drift-row').count()).to.equal(40); // every input of the model
          expect(await page.locator('#mlops-drift-report svg.mlops-drift-chart rect.mlops-drift-current').count()).to.equal(10);
          expect(await page.locator('#mlops-drift-report .mlops-drift-state').innerText()).to.match(texts.state);
          // another feature's distribution on a click
          await page.locator('#mlops-drift-report .mlops-drift-row', { hasText: 'speed.mean' }).click();
          await page.waitForFunction(() => /speed\.mean/.test(document.querySelector('#mlops-drift-chart-box')?.textContent ?? ''));
          await page.screenshot({ path: path.join(dir, `drift-detect-${locale}.png`) });
          await page.locator('#node-dialog-cancel').click();
          // no node or config node is flagged invalid by its editor validators
          const invalid = await page.evaluate(() => {
            const RED = (window as unknown as { RED: { nodes: { eachNode(f: (n: { type: string; valid: boolean }) => void): void; eachConfig(f: (n: { type: string; valid: boolean }) => void): void } } }).RED;
            const bad: string[] = [];
            RED.nodes.eachNode((n) => { if (!n.valid) bad.push(n.type); });
            RED.nodes.eachConfig((n) => { if (n.valid === false) bad.push(n.type); });
            return bad;
          });
          expect(invalid).to.deep.equal([]);
          expect(errors, errors.join('\n')).to.deep.equal([]);
          await page.close();
        }
      } finally {
        await browser.close();
      }
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
