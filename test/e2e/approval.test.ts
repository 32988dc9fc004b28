/**
 * The approvals sidebar (plugins/mlops-approval.html) as people see it: in a real Node-RED (4, and
 * 5 from .compat/) with adminAuth, in chromium, logged in through the editor's login form.
 * An approver sees a model's request card (what, from where, signature, metrics beside the
 * deployed model's, the drift that led to it) and approves it with a comment: the message leaves
 * output 1 (the debug sidebar shows it) and the audit log records who, how and why. Four eyes: the
 * first approval is counted, the same person again is refused and the card says why. A viewer
 * (permission 'read') sees the cards but no buttons, and a forged POST with the viewer's token
 * gets 401; a user without mlops-approval.read is told so. A request that comes while the tab is
 * open appears without a reload (the change notice over comms). The texts come from the plugin's
 * catalog, in English and German; onremove takes the tab, its style and its subscription away.
 *
 *   MLOPS_BUILD_OUT=/tmp/build-x node scripts/build.js && MLOPS_TEST_DIST=/tmp/build-x npx mocha test/e2e/approval.test.ts
 *
 * Screenshots of the sidebar go to test-artifacts/approval/ (kept; MLOPS_KEEP_E2E=1 keeps the user directory too).
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { CHROMIUM, launchChromium, watchErrors } from '../support/browser';
import { tmpDir } from '../support/red';
import { distRoot, root, runtimes, startRedProcess, type RedProcess, type RedUser } from '../support/red-process';

type Catalog = { [k: string]: string | Catalog };
const catalog = (lang: string, file: string) => (JSON.parse(fs.readFileSync(path.join(root, 'locales', lang, `${file}.json`), 'utf8')) as Record<string, Catalog>)[file];
const fill = (text: string, vars: Record<string, string | number>) => text.replace(/__(\w+)__/g, (_, k: string) => String(vars[k]));
const EN = catalog('en-US', 'mlops-approval');
const DE = catalog('de', 'mlops-approval');
const GATE_TEXTS = catalog('en-US', 'mlops-approval-gate');
const get = (c: Catalog, key: string): string => key.split('.').reduce<string | Catalog>((o, k) => (o as Catalog)[k], c) as string;

const ARTIFACTS = path.join(root, 'test-artifacts', 'approval');
// The editor asks the internet for nothing of ours; this machine may have no internet. A 401 before
// the login and the viewer's forged POST are expected.
const EDITOR_NOISE = /net::ERR_|Failed to load resource/;

const USERS: RedUser[] = [
  { username: 'approver', password: 'approver-pw', permissions: '*' },
  { username: 'viewer', password: 'viewer-pw', permissions: 'read' },
  // can open the editor, but not read approval requests
  { username: 'outsider', password: 'outsider-pw', permissions: ['settings.read', 'plugins.read', 'nodes.read', 'flows.read', 'status.read', 'library.read', 'context.read'] },
];
const password = (u: string) => USERS.find((x) => x.username === u)!.password;

const TAB = 'apv0000000000001';
const FIRST = 'apv0000000000002';
const SECOND = 'apv0000000000003';
const FOUR = 'apv0000000000004';
const MAKE = 'apv0000000000005';
const GATE = 'apv0000000000006';
const GATE2 = 'apv0000000000007';
const OK = 'apv0000000000008';
const NO = 'apv0000000000009';
const DRIFT = 'apv0000000000010';
const OTHER_TAB = 'apv0000000000011';
const OTHER_DRIFT = 'apv0000000000012';
const OK2 = 'apv0000000000013';

const digestOf = (version: string) => `sha256:${createHash('sha256').update(`bearing-fault ${version}`).digest('hex')}`;
const VERSIONS = ['1.1.0', '1.2.0', '2.0.0'];
// texts with markup: the sidebar shows them as text
const REQUESTER_HTML = '<b class="injected">retrain</b> & <img class="injected" src="x">';

function testFlows(): unknown[] {
  const digests = Object.fromEntries(VERSIONS.map((v) => [v, digestOf(v)]));
  // the model message a retrain or registry flow sends: the version comes as the payload
  const make = `
    const REQUESTER_HTML = ${JSON.stringify(REQUESTER_HTML)};
    const digests = ${JSON.stringify(digests)};
    const v = msg.payload;
    const m = {
      model: { name: 'bearing-fault', version: v, digest: digests[v], path: 'x.onnx', format: 'onnx', metadata: { metrics: { accuracy: 0.97, f1: 0.95 } }, source: 'models/bearing-fault:' + v },
      evaluation: { candidate: { accuracy: 0.97, f1: 0.95 }, deployed: { accuracy: 0.91, f1: 0.88 } },
      registry: { signature: { verified: true, key: 'sha256:abcd' } },
      drift: { state: 'drift', method: 'ks', fired: ['domain'] },
      requester: v === '2.0.0' ? REQUESTER_HTML : 'retrain-flow',
    };
    return msg.topic === 'four-eyes' ? [null, m] : [m, null];`;
  const inject = (id: string, name: string, version: string, once: boolean, y: number, topic = '') => ({
    id, type: 'inject', z: TAB, name, props: [{ p: 'payload' }, { p: 'topic', vt: 'str' }], repeat: '', crontab: '', once, onceDelay: 0.5,
    topic, payload: version, payloadType: 'str', x: 120, y, wires: [[MAKE]],
  });
  const debug = (id: string, name: string, y: number) => ({
    id, type: 'debug', z: TAB, name, active: true, tosidebar: true, console: false, tostatus: false, complete: 'true', targetType: 'full', statusVal: '', statusType: 'auto', x: 760, y, wires: [],
  });
  const gate = { type: 'mlops-approval-gate', z: TAB, timeoutUnit: 'hours', timeoutOutcome: 'reject', maxPending: 10, whenFull: 'refuse', supersede: true, passApproved: true, autoApprove: false, autoMargin: 0, autoRequireSignature: true, auditFile: '', mqttBroker: '', mqttTopic: '', approverKeys: '' };
  const drift = { type: 'mlops-drift-detect', baselineFile: '', modelPath: '', mode: 'window', baselineSource: 'learn', learnSize: 20, windowSize: 10, evaluateEvery: 1, method: 'ks', alpha: 0.05, correction: 'bonferroni', psiThreshold: 0.2, wassersteinThreshold: 0.2, jsThreshold: 0.2, warnShare: 0.25, driftShare: 0.5, confirm: 1, clear: 5, features: '', detector: 'adwin', signal: '', detectorParams: '', everyWindow: true, wires: [[], []] };
  return [
    // another tab first, with its own drift node: the sidebar must pick the one on the gate's tab
    { id: OTHER_TAB, type: 'tab', label: 'elsewhere', disabled: false },
    { ...drift, id: OTHER_DRIFT, z: OTHER_TAB, name: 'other drift', x: 200, y: 100 },
    { id: TAB, type: 'tab', label: 'approval e2e', disabled: false },
    inject(FIRST, 'first', '1.1.0', true, 60),
    inject(SECOND, 'second', '1.2.0', false, 120),
    inject(FOUR, 'four eyes', '2.0.0', false, 180, 'four-eyes'),
    { id: MAKE, type: 'function', z: TAB, name: 'model message', func: make, outputs: 2, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 320, y: 120, wires: [[GATE], [GATE2]] },
    { ...gate, id: GATE, name: 'deploy approval', approvals: '1', timeout: 0, x: 540, y: 100, wires: [[OK], [NO]] },
    { ...gate, id: GATE2, name: 'four eyes', approvals: '2', timeout: 24, x: 540, y: 200, wires: [[OK2], []] },
    debug(OK, 'approved', 60),
    debug(NO, 'rejected', 140),
    debug(OK2, 'approved by two', 220),
    // far off the visible part of the workspace: "show drift detect" has to scroll to it
    { ...drift, id: DRIFT, z: TAB, name: 'model input drift', x: 2600, y: 1600 },
  ];
}

for (const rt of runtimes()) {
  if ('missing' in rt) {
    // Failed, not pending: npm test's setup step (scripts/test-setup.sh) installs .compat/.
    describe(`approvals sidebar in ${rt.name} on ${rt.on}`, () =>
      it('has Node.js 24 and Node-RED 5 in .compat/', () => {
        const absent = rt.missing.map((p) => path.relative(root, p));
        throw new Error(`${absent.join(' and ')} missing: npm test installs them (scripts/test-setup.sh); or run \`npm run compat:install\``);
      }),
    );
    continue;
  }
  const tag = rt.name.toLowerCase().replace(/\W+/g, '-');

  describe(`approvals sidebar in ${rt.name} on ${rt.on} (e2e: chromium, adminAuth, the gate's admin API)`, function () {
    this.timeout(90000);
    let dir: string;
    let red: RedProcess;
    let browser: Browser;
    const contexts: BrowserContext[] = [];
    let approver: Page;
    let approverErrors: string[];
    /** The approver's token for the admin API (the test's own calls, beside the pages). */
    let apiToken: string;

    /** A fresh browser (own storage) logged in through the editor's login form as `user`. */
    async function login(user: string, locale = 'en-US'): Promise<{ page: Page; errors: string[] }> {
      const context = await browser.newContext({ viewport: { width: 1500, height: 1000 }, locale });
      contexts.push(context);
      const page = await context.newPage();
      const errors = watchErrors(page, EDITOR_NOISE);
      await page.goto(red.url);
      await page.waitForSelector('#node-dialog-login-username', { timeout: 30000 });
      await page.locator('#node-dialog-login-username').fill(user);
      await page.locator('#node-dialog-login-password').fill(password(user));
      await page.locator('#node-dialog-login-submit').click();
      await page.waitForSelector('.red-ui-palette-node[data-palette-type="mlops-approval-gate"]', { timeout: 30000 });
      // the flows are loaded (the gate's tab is not the first: its nodes are not drawn)
      await page.waitForFunction((id) => !!(window as unknown as { RED: { nodes: { node(id: string): unknown } } }).RED.nodes.node(id), GATE, { timeout: 30000 });
      return { page, errors };
    }

    /**
     * Opens a sidebar tab by its button, as a person does (Node-RED 5's tab bar, Node-RED 4's tab
     * strip); a click on the tab already shown would hide it in Node-RED 5, so only a hidden tab is
     * clicked. Node-RED 4 folds tabs that do not fit into a menu: then the sidebar's own call.
     */
    async function openTab(page: Page, id: string): Promise<void> {
      const content = id === 'mlops-approval' ? '.mlops-approval-sidebar' : '.red-ui-debug-content';
      const shown = () => page.locator(content).first().isVisible().catch(() => false);
      if (await shown()) return;
      // no tooltip of an earlier hover over the button
      await page.mouse.move(1, 1);
      await page.waitForFunction(() => Array.from(document.querySelectorAll('.red-ui-popover')).every((e) => (e as HTMLElement).getClientRects().length === 0), undefined, { timeout: 2000, polling: 50 }).catch(() => undefined);
      const button = page.locator(`button[data-tab-id="${id}"], #red-ui-tab-${id} a.red-ui-tab-label`).first();
      if (await button.isVisible().catch(() => false)) await button.click();
      else await page.evaluate((tabId) => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show(tabId), id);
      await page.locator(content).first().waitFor({ state: 'visible', timeout: 10000 });
    }

    const cardOf = (page: Page, title: string) => page.locator('.mlops-approval-card', { has: page.locator('.mlops-approval-title', { hasText: new RegExp(`^${title.replace(/\./g, '\\.')}$`) }) });
    const text = async (l: Locator) => (await l.innerText()).replace(/\s+/g, ' ').trim();
    const metricRows = (card: Locator) =>
      card.locator('tr.mlops-approval-metric').evaluateAll((rows) =>
        rows.map((r) => [
          r.querySelector('.mlops-approval-metric-name')!.textContent,
          r.querySelector('.mlops-approval-metric-value')!.textContent,
          r.querySelector('.mlops-approval-metric-deployed')!.textContent,
          r.classList.contains('mlops-approval-better') ? 'better' : r.classList.contains('mlops-approval-worse') ? 'worse' : '',
        ]),
      );
    /** The sidebar tab as a person sees it first (scrolled to the top). */
    async function sidebarShot(page: Page, name: string): Promise<void> {
      await page.locator('.mlops-approval-body').evaluate((e) => (e.scrollTop = 0));
      await page.locator('.mlops-approval-sidebar').screenshot({ path: path.join(ARTIFACTS, `${name}-${tag}.png`) });
    }
    /** The pending requests as the admin API lists them (the approver's token). */
    async function pending(): Promise<Array<{ id: string; gate: string; summary: { title: string }; votes: unknown[] }>> {
      const r = await fetch(`${red.url}/mlops-approval/requests`, { headers: { Authorization: `Bearer ${apiToken}` } });
      expect(r.status).to.equal(200);
      return ((await r.json()) as { pending: Array<{ id: string; gate: string; summary: { title: string }; votes: unknown[] }> }).pending;
    }
    async function inject(id: string): Promise<void> {
      const r = await fetch(`${red.url}/inject/${id}`, { method: 'POST', headers: { Authorization: `Bearer ${apiToken}` } });
      expect(r.status, `POST /inject/${id}`).to.equal(200);
    }

    before(async () => {
      expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).to.equal(true);
      expect(fs.existsSync(path.join(distRoot(), 'plugins', 'mlops-approval.html')), `${distRoot()} has no plugins/mlops-approval.html: build first`).to.equal(true);
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      dir = tmpDir('approval');
      red = await startRedProcess(dir, testFlows(), { runtime: rt, users: USERS });
      apiToken = await red.token('approver', password('approver'));
      browser = await launchChromium();
    });

    afterEach(async function () {
      // a failed test: what each open page showed
      if (this.currentTest?.state !== 'failed') return;
      const name = this.currentTest.title.split(':')[0].replace(/\W+/g, '-');
      let i = 0;
      for (const c of contexts) for (const p of c.pages()) await p.screenshot({ path: path.join(ARTIFACTS, `failed-${name}-${tag}-${i++}.png`) }).catch(() => undefined);
    });

    after(async () => {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser?.close();
      await red?.stop();
      if (process.env.MLOPS_KEEP_E2E) console.log(`      e2e files kept in ${dir}`);
      else if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('approver: the request card shows the model, its metrics beside the deployed model\'s, the drift, and Approve / Reject', async () => {
      ({ page: approver, errors: approverErrors } = await login('approver'));
      await openTab(approver, 'mlops-approval');
      const card = cardOf(approver, 'bearing-fault 1.1.0');
      await card.waitFor({ timeout: 15000 });
      // the texts are the plugin's catalog's: its namespace is right
      expect(await text(approver.locator('.mlops-approval-heading'))).to.equal(EN.pending);
      const row = (cls: string) => text(card.locator(`tr.mlops-approval-${cls} .mlops-approval-value`));
      expect(await row('gate')).to.equal('deploy approval');
      expect(await row('expires')).to.equal(get(EN, 'card.never'));
      expect(await row('created')).to.match(/\d/);
      expect(await row('requester')).to.equal('retrain-flow');
      expect(await row('model')).to.equal('bearing-fault');
      expect(await row('version')).to.equal('1.1.0');
      expect(await row('digest')).to.equal(`${digestOf('1.1.0').slice(0, 19)}…`);
      expect(await card.locator('tr.mlops-approval-digest code').getAttribute('title')).to.equal(digestOf('1.1.0'));
      expect(await row('source')).to.equal('models/bearing-fault:1.1.0');
      expect(await row('signature')).to.equal(fill(get(EN, 'card.verifiedKey'), { key: 'sha256:abcd' }));
      expect(await card.locator('.mlops-approval-table th').allInnerTexts()).to.deep.equal([get(EN, 'card.metric'), get(EN, 'card.candidate'), get(EN, 'card.deployed')]);
      expect(await metricRows(card)).to.deep.equal([['accuracy', '0.97', '0.91', 'better'], ['f1', '0.95', '0.88', 'better']]);
      expect(await text(card.locator('.mlops-approval-drift-text'))).to.equal('drift (ks); fired: domain');
      // the drift detect node of the gate's tab, not the one on the other tab, scrolled into view
      const link = card.locator('.mlops-approval-show-drift');
      expect(await link.isVisible()).to.equal(true);
      expect(await link.innerText()).to.equal(get(EN, 'card.showDrift'));
      expect(await link.getAttribute('data-node')).to.equal(DRIFT);
      await link.click();
      await approver.waitForFunction((id) => {
        const n = document.querySelector(`g.red-ui-flow-node[id="${id}"]`);
        const chart = document.querySelector('#red-ui-workspace-chart');
        if (!n || !chart) return false;
        const a = n.getBoundingClientRect();
        const c = chart.getBoundingClientRect();
        return a.width > 0 && a.left >= c.left && a.right <= c.right && a.top >= c.top && a.bottom <= c.bottom;
      }, DRIFT, { timeout: 5000 });
      expect(await card.locator('.mlops-approval-votes').count(), 'one approval needed: no votes line').to.equal(0);
      expect(await card.locator('textarea.mlops-approval-comment').isVisible()).to.equal(true);
      expect(await card.locator('.mlops-approval-approve').innerText()).to.equal(get(EN, 'card.approve'));
      expect(await card.locator('.mlops-approval-reject').innerText()).to.equal(get(EN, 'card.reject'));
      expect(await text(approver.locator('.mlops-approval-recent'))).to.equal(EN.noRecent);
      await sidebarShot(approver, 'approver-before');
      await approver.screenshot({ path: path.join(ARTIFACTS, `approver-before-editor-${tag}.png`) });
      expect(approverErrors, approverErrors.join('\n')).to.deep.equal([]);
    });

    it('approver: Approve with a comment: the card goes, the decision is listed, output 1 carries the message with its approval, the audit log says who, how and why', async () => {
      const card = cardOf(approver, 'bearing-fault 1.1.0');
      const id = await card.getAttribute('data-id');
      const comment = 'better on the held-out data; <u>drift</u> in the domain explains the retrain';
      await card.locator('textarea.mlops-approval-comment').fill(comment);
      await card.locator('.mlops-approval-approve').click();
      await card.waitFor({ state: 'detached', timeout: 10000 });
      const item = approver.locator(`.mlops-approval-recent-item[data-id="${id}"]`);
      await item.waitFor({ timeout: 10000 });
      expect(await text(item.locator('.mlops-approval-recent-title'))).to.equal('bearing-fault 1.1.0');
      expect(await text(item.locator('.mlops-approval-recent-line'))).to.equal(fill(EN.recentLine as string, { decision: get(EN, 'decision.approved'), by: 'approver', channel: get(EN, 'channel.editor') }));
      expect(await text(item.locator('.mlops-approval-recent-comment'))).to.equal(comment);
      expect(await approver.locator('.mlops-approval-sidebar u').count(), 'markup in a comment is text').to.equal(0);
      expect(await text(item.locator('.mlops-approval-recent-time'))).to.match(/\d/);
      expect(await text(approver.locator('.mlops-approval-pending'))).to.equal(EN.none);
      await sidebarShot(approver, 'approver-after');
      // the debug sidebar: the message from output 1, with its approval
      await openTab(approver, 'debug');
      const from = (name: string) => approver.locator('.red-ui-debug-msg', { has: approver.locator('.red-ui-debug-msg-name', { hasText: new RegExp(`(^|\\s)${name}$`) }) });
      const msg = from('approved');
      await msg.first().waitFor({ timeout: 10000 });
      expect(await msg.count()).to.equal(1);
      // open the message, then its approval
      await msg.locator('.red-ui-debug-msg-object-handle').first().click();
      await msg.locator('.red-ui-debug-msg-object-key', { hasText: /^approval$/ }).first().click();
      await approver.waitForFunction((c) => Array.from(document.querySelectorAll('.red-ui-debug-msg')).some((m) => (m as HTMLElement).innerText.includes(c)), comment, { timeout: 5000 });
      const shown = await msg.innerText();
      expect(shown).to.include('"approver"').and.include('"editor"').and.include('"approved"').and.include('model');
      expect(await from('rejected').count(), 'nothing from output 2').to.equal(0);
      expect(red.log()).to.not.match(/\[error\]/);
      // the audit log: the decision record
      const lines = fs.readFileSync(path.join(dir, 'mlops-approval', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; id?: string; approval?: Record<string, unknown> });
      const decisions = lines.filter((l) => l.type === 'decision' && l.id === id);
      expect(decisions).to.have.length(1);
      expect(decisions[0].approval).to.include({ id, decision: 'approved', by: 'approver', channel: 'editor', comment });
      await openTab(approver, 'mlops-approval');
      expect(approverErrors, approverErrors.join('\n')).to.deep.equal([]);
    });

    it('approver, four eyes: the first approval counts ("1 of 2 approvals: approver"), the same person again is refused and the card says why', async () => {
      await openTab(approver, 'mlops-approval');
      // the tab is open already: the card comes with the change notice over comms, no reload
      await inject(FOUR);
      const card = cardOf(approver, 'bearing-fault 2.0.0');
      await card.waitFor({ timeout: 15000 });
      expect(await text(card.locator('tr.mlops-approval-gate .mlops-approval-value'))).to.equal('four eyes');
      expect(await card.locator('tr.mlops-approval-requester .mlops-approval-value').innerText()).to.equal(REQUESTER_HTML);
      expect(await approver.locator('.mlops-approval-sidebar .injected').count(), 'markup in a requester is text').to.equal(0);
      const expires = await text(card.locator('tr.mlops-approval-expires .mlops-approval-value'));
      expect(expires).to.match(/\d/);
      expect(expires).to.not.equal(await text(card.locator('tr.mlops-approval-created .mlops-approval-value'))); // 24 hours later
      expect(await text(card.locator('.mlops-approval-votes'))).to.equal(fill(get(EN, 'card.votes'), { count: 0, needed: 2 }));
      await card.locator('.mlops-approval-approve').click();
      await approver.waitForFunction(() => /approver/.test(document.querySelector('.mlops-approval-card .mlops-approval-votes')?.textContent ?? ''), undefined, { timeout: 10000 });
      expect(await text(card.locator('.mlops-approval-votes'))).to.equal(fill(get(EN, 'card.votesBy'), { count: 1, needed: 2, names: 'approver' }));
      expect(await text(card.locator('.mlops-approval-note'))).to.equal(get(EN, 'card.waiting'));
      // the same person once more: 409, its error text in the card
      await card.locator('.mlops-approval-approve').click();
      const error = card.locator('.mlops-approval-error');
      await error.waitFor({ timeout: 10000 });
      expect(await text(error)).to.equal(fill(get(GATE_TEXTS, 'errors.twice'), { by: 'approver' }));
      const still = (await pending()).find((r) => r.summary.title === 'bearing-fault 2.0.0');
      expect(still, 'still pending').to.not.equal(undefined);
      expect(still!.votes).to.have.length(1);
      await sidebarShot(approver, 'approver-four-eyes');
      expect(approverErrors, approverErrors.join('\n')).to.deep.equal([]);
    });

    it('viewer: sees the cards without a comment box or buttons; a forged POST with the viewer\'s token gets 401 and the request stays pending', async () => {
      await inject(SECOND);
      for (let i = 0; !(await pending()).some((r) => r.summary.title === 'bearing-fault 1.2.0'); i++) {
        if (i > 50) throw new Error('the second request did not arrive at the gate');
        await new Promise((r) => setTimeout(r, 100));
      }
      const { page, errors } = await login('viewer');
      await openTab(page, 'mlops-approval');
      const card = cardOf(page, 'bearing-fault 1.2.0');
      await card.waitFor({ timeout: 15000 });
      await cardOf(page, 'bearing-fault 2.0.0').waitFor();
      expect(await metricRows(card)).to.deep.equal([['accuracy', '0.97', '0.91', 'better'], ['f1', '0.95', '0.88', 'better']]);
      expect(await page.locator('.mlops-approval-card textarea').count(), 'no comment box').to.equal(0);
      expect(await page.locator('.mlops-approval-card .mlops-approval-approve, .mlops-approval-card .mlops-approval-reject').count(), 'no buttons').to.equal(0);
      expect(await text(card.locator('.mlops-approval-readonly'))).to.equal(get(EN, 'card.readOnly'));
      expect(await page.evaluate(() => (window as unknown as { RED: { user: { hasPermission(p: string): boolean } } }).RED.user.hasPermission('mlops-approval.write'))).to.equal(false);
      await sidebarShot(page, 'viewer');
      // forged: the decision the buttons would send, with the viewer's own token
      const id = await card.getAttribute('data-id');
      const status = await page.evaluate(async (rid) => {
        const RED = (window as unknown as { RED: { settings: { get(k: string): { access_token: string } } } }).RED;
        const r = await fetch(`mlops-approval/requests/${rid}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${RED.settings.get('auth-tokens').access_token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ decision: 'approve', comment: 'forged', channel: 'editor' }),
        });
        return r.status;
      }, id);
      expect(status).to.equal(401);
      expect((await pending()).map((r) => r.id)).to.include(id);
      expect(await card.isVisible()).to.equal(true);
      const audit = fs.readFileSync(path.join(dir, 'mlops-approval', 'audit.jsonl'), 'utf8');
      expect(audit).to.not.include('forged');
      expect(errors, errors.join('\n')).to.deep.equal([]);
    });

    it('a user without mlops-approval.read: the sidebar says so', async () => {
      const { page, errors } = await login('outsider');
      await openTab(page, 'mlops-approval');
      const message = page.locator('.mlops-approval-message');
      await message.waitFor({ timeout: 10000 });
      await page.waitForFunction((t) => document.querySelector('.mlops-approval-message')?.textContent === t, EN.readDenied, { timeout: 10000 });
      expect(await page.locator('.mlops-approval-card').count()).to.equal(0);
      expect(await page.locator('.mlops-approval-section').isVisible(), 'no recent decisions section').to.equal(false);
      await sidebarShot(page, 'outsider');
      expect(errors, errors.join('\n')).to.deep.equal([]);
    });

    it('German: the sidebar\'s texts come from the plugin\'s German catalog', async () => {
      const { page, errors } = await login('approver', 'de-DE');
      await openTab(page, 'mlops-approval');
      const card = cardOf(page, 'bearing-fault 1.2.0');
      await card.waitFor({ timeout: 15000 });
      expect(await text(page.locator('.mlops-approval-heading'))).to.equal(DE.pending).and.not.equal(EN.pending);
      expect(await card.locator('.mlops-approval-table th').allInnerTexts()).to.deep.equal([get(DE, 'card.metric'), get(DE, 'card.candidate'), get(DE, 'card.deployed')]);
      expect(await card.locator('.mlops-approval-approve').innerText()).to.equal(get(DE, 'card.approve')).and.not.equal(get(EN, 'card.approve'));
      expect(await card.locator('.mlops-approval-reject').innerText()).to.equal(get(DE, 'card.reject'));
      expect(await text(card.locator('tr.mlops-approval-signature .mlops-approval-value'))).to.equal(fill(get(DE, 'card.verifiedKey'), { key: 'sha256:abcd' }));
      expect(await text(card.locator('.mlops-approval-show-drift'))).to.equal(get(DE, 'card.showDrift'));
      expect(await text(page.locator('.mlops-approval-section'))).to.equal(DE.recent);
      expect(await text(page.locator('.mlops-approval-recent-item .mlops-approval-recent-line').first()))
        .to.equal(fill(DE.recentLine as string, { decision: get(DE, 'decision.approved'), by: 'approver', channel: get(DE, 'channel.editor') }));
      // the tab's name (its tooltip and the View menu's entry)
      expect(await page.evaluate(() => {
        const RED = (window as unknown as { RED: { _(k: string): string } }).RED;
        return RED._('@edge-mlops/node-red-mlops/mlops-approval:mlops-approval.name');
      })).to.equal(DE.name);
      await sidebarShot(page, 'german');
      expect(errors, errors.join('\n')).to.deep.equal([]);
    });

    it('onremove undoes onadd: no tab, no style, no read on a change; onadd brings it back', async () => {
      const { page, errors } = await login('approver');
      await openTab(page, 'mlops-approval');
      await cardOf(page, 'bearing-fault 2.0.0').waitFor({ timeout: 15000 });
      let reads = 0;
      page.on('request', (r) => {
        if (/\/mlops-approval\/requests(\?|$)/.test(r.url()) && r.method() === 'GET') reads++;
      });
      type Win = { RED: { plugins: { getPlugin(id: string): { onadd(): void; onremove(): void } }; sidebar: { containsTab(id: string): boolean } } };
      const state = () => page.evaluate(() => ({
        tab: (window as unknown as Win).RED.sidebar.containsTab('mlops-approval'),
        content: document.querySelectorAll('.mlops-approval-sidebar').length,
        style: document.querySelectorAll('#mlops-approval-style').length,
      }));
      await page.evaluate(() => (window as unknown as Win).RED.plugins.getPlugin('mlops-approval').onremove());
      expect(await state()).to.deep.equal({ tab: false, content: 0, style: 0 });
      // a change: the four-eyes request rejected through the API; the removed sidebar does not read
      const id = (await pending()).find((r) => r.summary.title === 'bearing-fault 2.0.0')!.id;
      const r = await fetch(`${red.url}/mlops-approval/requests/${id}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${apiToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ decision: 'reject', comment: 'not both of us' }),
      });
      expect(r.status).to.equal(200);
      await page.waitForTimeout(1000);
      expect(reads, 'reads after onremove').to.equal(0);
      await page.evaluate(() => (window as unknown as Win).RED.plugins.getPlugin('mlops-approval').onadd());
      expect(await state()).to.deep.equal({ tab: true, content: 1, style: 1 });
      // not by its button: Node-RED 5's removeTab leaves the section's active tab set to the removed
      // one when other tabs share the section, and a click on the "active" button hides the section
      await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('mlops-approval'));
      await page.locator('.mlops-approval-sidebar').waitFor({ state: 'visible', timeout: 10000 });
      const item = page.locator(`.mlops-approval-recent-item[data-id="${id}"]`);
      await item.waitFor({ timeout: 10000 });
      expect(await text(item.locator('.mlops-approval-recent-line'))).to.equal(fill(EN.recentLine as string, { decision: get(EN, 'decision.rejected'), by: 'approver', channel: get(EN, 'channel.api') }));
      expect(await cardOf(page, 'bearing-fault 2.0.0').count()).to.equal(0);
      expect(reads).to.be.at.least(1);
      expect(errors, errors.join('\n')).to.deep.equal([]);
    });
  });
}
