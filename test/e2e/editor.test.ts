/**
 * The editor as a person sees it: in a real Node-RED (4, and 5 when installed in .compat/) with
 * this package, in chromium, every node's dialog is opened fresh from the palette and from the
 * demo flow's nodes. For each mode the visible rows are exactly the rows meant for it (by their
 * labels), a bad value shows a validator message on hover, and opening, editing, cancelling
 * and saving raise no page error, including answers that land after the dialog closed.
 *
 *   npm run build && npx mocha test/e2e/editor.test.ts     (MLOPS_KEEP_E2E=1 keeps screenshots)
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium, watchErrors } from '../support/browser';
import { tmpDir } from '../support/red';
import { mlpModel } from '../support/onnx-models';
import { referenceFromData } from '../../nodes/lib/model/export';
import { domainFromData } from '../../nodes/lib/drift/domain';
import { gaussian } from '../../nodes/lib/random';
import { distRoot, freePort, root, runtimes, startRedProcess, type RedProcess } from '../support/red-process';
import { CONFIG_FORM, NODE_FORM, cancelAll, closeDialog, dragFromPalette, hoverMessage, nodeState, openNode, enter, visibleRows } from './support/editor';

type Catalog = Record<string, Record<string, string>>;
const catalog = (node: string): Catalog => (JSON.parse(fs.readFileSync(path.join(root, 'locales', 'en-US', `mlops-${node}.json`), 'utf8')) as Record<string, Catalog>)[`mlops-${node}`];
const common = (JSON.parse(fs.readFileSync(path.join(root, 'locales', 'en-US', 'mlops-common.json'), 'utf8')) as Catalog).validate;
const fill = (text: string, vars: Record<string, string | number>) => text.replace(/__(\w+)__/g, (_, k: string) => String(vars[k]));
const FW = catalog('feature-window').label;
const ONNX = catalog('onnx-infer').label;
const DRIFT = catalog('drift-detect').label;
const READ = catalog('opcua-read').label;
const PULL = catalog('registry-pull').label;
const REG = catalog('registry').label;
const GATE = catalog('approval-gate').label;
const RT = catalog('retrain-trigger').label;
const NAME = 'Name'; // node-red:common.label.name
// The editor asks the internet for nothing of ours; this machine may have no internet.
const EDITOR_NOISE = /net::ERR_|Failed to load resource/;

// The demo flow's nodes (flows/predictive-maintenance/flows.json)
const DEMO = { read: '7e9a1c3e5a7c9e03', window: '1a3c5e7a9c1e3a04', infer: '5f7a9c1e3a5c7e09', drift: '6e8a0c2e4a6c0e10' };
// A tab of this test: drift detect nodes with a report, one of a window that moved far from its reference
const TAB = 'e2e0000000000001';
const LEARNED = 'e2e0000000000002';
const STREAM = 'e2e0000000000003';
const DOMAIN = 'e2e0000000000004';
/** A model whose metadata carries a training reference and domain of three features around 0, 10 and 20. */
function domainModel(): Uint8Array {
  const g = gaussian(5);
  const names = ['f0', 'f1', 'f2'];
  const x = Array.from({ length: 500 }, () => [g(), 10 + g(), 20 + g()]);
  return mlpModel({ sizes: [3, 4, 1], metadata: { name: 'domain-e2e', version: '1', features: names, reference: referenceFromData(names, x), domain: domainFromData(names, x) } });
}
function testFlows(): unknown[] {
  const demo = JSON.parse(fs.readFileSync(path.join(root, 'flows', 'predictive-maintenance', 'flows.json'), 'utf8')) as unknown[];
  // a reference of 20 vectors around 640, then a window of 10 around 5000
  const vectors = `
    let seed = 7; const r = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5);
    const rows = (n, at) => Array.from({ length: n }, () => [at + 10 * r()]);
    node.send({ payload: rows(20, 640), features: { names: ['load.mean'] } });
    node.send({ payload: rows(10, 5000), features: { names: ['load.mean'] } });
    return null;`;
  // a signal that steps up: ADWIN's window width is a whole number
  const signal = `
    let seed = 3; const r = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5);
    for (let i = 0; i < 700; i++) node.send({ payload: (i < 500 ? 10 : 30) + r() });
    return null;`;
  // ten vectors in the model's domain but for f1, far below its training range
  const outside = `
    let seed = 11; const r = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5);
    for (let i = 0; i < 10; i++) node.send({ payload: [r(), -40 + r(), 20 + r()], features: { names: ['f0', 'f1', 'f2'] } });
    return null;`;
  const drift = { type: 'mlops-drift-detect', z: TAB, baselineFile: '', modelPath: '', method: 'ks', alpha: 0.05, correction: 'bonferroni', psiThreshold: 0.2, wassersteinThreshold: 0.2, jsThreshold: 0.2, warnShare: 0.25, driftShare: 0.5, confirm: 1, clear: 5, features: '', detectorParams: '', everyWindow: true, wires: [[], []] };
  return [
    ...demo,
    { id: TAB, type: 'tab', label: 'editor e2e', disabled: false },
    { id: 'e2e0000000000010', type: 'inject', z: TAB, name: 'start', props: [], repeat: '', once: true, onceDelay: 1, topic: '', x: 100, y: 60, wires: [['e2e0000000000011', 'e2e0000000000012', 'e2e0000000000013']] },
    { id: 'e2e0000000000013', type: 'function', z: TAB, name: 'outside', func: outside, outputs: 1, x: 260, y: 220, wires: [[DOMAIN]] },
    { ...drift, id: DOMAIN, name: 'out of domain', mode: 'window', baselineSource: 'model', modelPath: 'domain-e2e.onnx', learnSize: 20, windowSize: 10, evaluateEvery: 1, detector: 'adwin', signal: '', x: 460, y: 220 },
    { id: 'e2e0000000000011', type: 'function', z: TAB, name: 'vectors', func: vectors, outputs: 1, x: 260, y: 60, wires: [[LEARNED]] },
    { id: 'e2e0000000000012', type: 'function', z: TAB, name: 'signal', func: signal, outputs: 1, x: 260, y: 140, wires: [[STREAM]] },
    { ...drift, id: LEARNED, name: 'moved far', mode: 'window', baselineSource: 'learn', learnSize: 20, windowSize: 10, evaluateEvery: 1, detector: 'adwin', signal: '', x: 460, y: 60 },
    { ...drift, id: STREAM, name: 'step', mode: 'stream', baselineSource: 'model', learnSize: 200, windowSize: 100, evaluateEvery: 10, detector: 'adwin', signal: '', x: 460, y: 140 },
  ];
}

// What each mode shows: the labels of the visible rows, top to bottom.
const fwRows = (kind: 'count' | 'time', type: 'sliding' | 'tumbling', fft = false) => [
  FW.name, FW.channels, FW.windowKind,
  ...(kind === 'count' ? [FW.size, ...(type === 'sliding' ? [FW.hop] : [])] : [FW.duration, ...(type === 'sliding' ? [FW.hop] : []), FW.maxSamples, FW.maxJump]),
  FW.features, FW.fftChannels, ...(fft ? [FW.bands, FW.bandEdges] : []), FW.sampleRate, FW.badSample, FW.output, FW.batchOutput,
];
const onnxRows = (output: 'score' | 'label' | 'vector') => [
  ONNX.modelPath, '#mlops-onnx-inspect', ONNX.output, ...(output === 'label' ? [ONNX.threshold] : []), ONNX.batchSize, ONNX.threads, ONNX.optimization, ONNX.direct, NAME,
];
const driftRows = (mode: 'window' | 'stream', source: 'model' | 'learn' | 'file', method: 'ks' | 'psi' | 'wasserstein' | 'js') => [
  DRIFT.mode,
  ...(mode === 'window'
    ? [DRIFT.baseline, { model: DRIFT.modelPath, learn: DRIFT.learnSize, file: DRIFT.baselineFile }[source], DRIFT.method,
      { ks: DRIFT.alpha, psi: DRIFT.threshold, wasserstein: DRIFT.threshold, js: DRIFT.threshold }[method], DRIFT.windowSize, DRIFT.shares, DRIFT.features]
    : [DRIFT.detector, DRIFT.signal, DRIFT.detectorParams]),
  DRIFT.hysteresis, DRIFT.everyWindow, NAME, DRIFT.lastReport,
];
const readRows = (mode: 'subscribe' | 'read') => [
  READ.endpoint, READ.mode, READ.channels, '#mlops-opcua-browse-button',
  ...(mode === 'subscribe' ? [READ.samplingInterval, READ.publishingInterval, READ.queueSize, READ.deadband] : []), READ.topic, NAME,
];

// registry pull: what a registry of each kind shows in its own dialog and in the pull node's
type Kind = 'layout' | 'oci' | 'mlflow' | 'url';
const registryRows = (kind: Kind) => [
  REG.kind,
  ...{
    layout: [REG.location_layout, REG.publicKey],
    oci: [REG.location_oci, REG.caFile, REG.allowHttp, REG.username, REG.password, REG.publicKey],
    mlflow: [REG.location_mlflow, REG.caFile, REG.username, REG.password, REG.token],
    url: [REG.caFile],
  }[kind],
  NAME,
];
const pullRows = (kind: Kind | 'none', broker = false) => [
  PULL.registry,
  PULL[`model_${kind === 'none' ? 'oci' : kind}`],
  ...(kind === 'url' ? [PULL.sha256] : [PULL.version]),
  PULL.pollInterval, PULL.mqttBroker, ...(broker ? [PULL.mqttTopic] : []), PULL.deployOnStart, PULL.keep, NAME,
];

// approval gate: the expiry outcome only with a timeout, the rule's rows only with auto-approve, the console's only with a broker
const gateRows = (o: { timeout: boolean; auto: boolean; broker: boolean }) => [
  GATE.approvals, GATE.timeout, ...(o.timeout ? [GATE.timeoutOutcome] : []), GATE.maxPending,
  GATE.supersedeLabel, GATE.passApprovedLabel, GATE.autoApproveLabel, ...(o.auto ? [GATE.autoMargin, GATE.autoRequireSignatureLabel] : []),
  GATE.mqttBroker, ...(o.broker ? [GATE.mqttTopic, GATE.approverKeys] : []), GATE.auditFile, NAME,
];

// retrain trigger: the policy rows always; the action's own rows; a pipeline's rows by its preset
type Preset = 'generic' | 'github' | 'jenkins' | 'kubeflow' | 'argo';
const retrainRows = (action: 'local' | 'webhook' | 'mqtt', preset: Preset = 'generic') => [
  RT.action, RT.hold, RT.cooldown, RT.minRows, RT.maxPerDay, RT.buffer,
  ...(action === 'local' ? [RT.holdout, RT.epochs] : []),
  ...(action === 'webhook'
    ? [
        RT.preset, RT.url,
        ...{ generic: [], github: [RT.ghRepo, RT.ghWorkflow], jenkins: [RT.jenkinsJob, RT.jenkinsToken], kubeflow: [RT.kfpPipeline, RT.kfpVersion], argo: [RT.argo] }[preset],
        ...(preset === 'generic' || preset === 'jenkins' ? [RT.username] : []),
        ...(preset !== 'jenkins' ? [RT.token] : []),
        RT.timeout, RT.caFile,
      ]
    : []),
  ...(action === 'mqtt' ? [RT.mqttBroker, RT.mqttTopic] : []),
  NAME,
];

for (const rt of runtimes()) {
  if ('missing' in rt) {
    // Pending, not passed: `npm run compat:install` makes it run.
    describe(`editor dialogs in ${rt.name}`, () => it('needs `npm run compat:install` first'));
    continue;
  }
  describe(`editor dialogs in ${rt.name} (e2e: chromium, the demo flow and fresh nodes)`, function () {
    this.timeout(60000);
    let dir: string;
    let red: RedProcess;
    let browser: Browser;
    let page: Page;
    let errors: string[];
    const shot = (name: string) => (process.env.MLOPS_KEEP_E2E ? page.screenshot({ path: path.join(dir, `${name}.png`) }) : Promise.resolve());

    before(async () => {
      expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).to.equal(true);
      expect(fs.existsSync(path.join(distRoot(), 'nodes', 'mlops-feature-window.html')), 'dist/ is missing: npm run build').to.equal(true);
      dir = tmpDir('editor');
      // the demo's settings and models, beside this test's flows
      fs.symlinkSync(path.join(root, 'flows', 'predictive-maintenance', 'models'), path.join(dir, 'models'), 'dir');
      fs.writeFileSync(path.join(dir, 'domain-e2e.onnx'), domainModel());
      red = await startRedProcess(dir, testFlows(), {
        runtime: rt,
        baseSettings: path.join(root, 'flows', 'predictive-maintenance', 'settings.js'),
        // no OPC UA server listens there: the endpoint keeps reconnecting and a browse ends in a 502 after 10 s
        env: { MLOPS_OPCUA_ENDPOINT: `opc.tcp://127.0.0.1:${await freePort()}/UA/Nobody` },
      });
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1500, height: 1000 }, locale: 'en-US' });
      errors = watchErrors(page, EDITOR_NOISE);
      await page.goto(red.url);
      await page.waitForSelector('.red-ui-palette-node[data-palette-type="mlops-drift-detect"]', { timeout: 30000 });
      await page.waitForSelector(`g.red-ui-flow-node[id="${DEMO.window}"]`);
    });

    after(async () => {
      await browser?.close();
      await red?.stop();
      if (process.env.MLOPS_KEEP_E2E) console.log(`      e2e files kept in ${dir}`);
      else if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Every test ends without a page error or console error (each test checks its own). */
    const noPageErrors = () => {
      const seen = errors.splice(0);
      expect(seen, seen.join('\n')).to.deep.equal([]);
    };
    afterEach(async function () {
      if (this.currentTest?.state === 'failed') {
        await shot(`failed-${this.currentTest.title.split(':')[0].replace(/\W+/g, '-')}`);
        await cancelAll(page);
        errors.splice(0); // reported by the failed test, if it got as far
      }
      noPageErrors();
    });

    it('feature window: each window kind and type shows its rows (one Hop row), bad values say why', async () => {
      for (const [id, from] of [[DEMO.window, 'demo flow'], [await dragFromPalette(page, 'mlops-feature-window', { x: 700, y: 500 }), 'palette']] as const) {
        await openNode(page, id, '#node-input-windowKind');
        for (const kind of ['count', 'time'] as const) {
          for (const wtype of ['sliding', 'tumbling'] as const) {
            await page.selectOption('#node-input-windowKind', kind);
            await page.selectOption('#node-input-windowType', wtype);
            expect(await visibleRows(page, NODE_FORM), `${from}: ${kind} ${wtype}`).to.deep.equal(fwRows(kind, wtype));
            if (from === 'palette') await shot(`feature-window-${kind}-${wtype}`);
          }
        }
        await enter(page, '#node-input-fftChannels', 'vibration');
        expect(await visibleRows(page, NODE_FORM), `${from}: with FFT`).to.deep.equal(fwRows('time', 'tumbling', true));
        // bad values: the message of the values the dialog holds (not the saved ones)
        await page.selectOption('#node-input-windowKind', 'count');
        await page.selectOption('#node-input-windowType', 'sliding');
        await enter(page, '#node-input-hop', 'x');
        expect(await hoverMessage(page, '#node-input-hop')).to.equal(common.number);
        await enter(page, '#node-input-size', '3');
        expect(await hoverMessage(page, '#node-input-size')).to.equal(fill(catalog('feature-window').validate.sizeTooSmall, { need: 4 }));
        await page.locator('#mlops-fw-feature-kurtosis').uncheck();
        await page.locator('#mlops-fw-feature-skewness').uncheck();
        expect(await page.locator('#node-input-size').evaluate((e) => e.classList.contains('input-error')), 'size 3 is enough without kurtosis and skewness').to.equal(false);
        await page.selectOption('#node-input-windowKind', 'time');
        await enter(page, '#node-input-duration', '0');
        expect(await hoverMessage(page, '#node-input-duration')).to.equal(fill(common.above, { min: 0 }));
        await enter(page, '#node-input-channels', 'a, b, a');
        expect(await hoverMessage(page, '#node-input-channels')).to.equal(fill(catalog('feature-window').validate.duplicateChannel, { channel: 'a' }));
        await closeDialog(page, 'cancel');
        // edit and save: a valid sliding time window
        await openNode(page, id, '#node-input-windowKind');
        await page.selectOption('#node-input-windowKind', 'time');
        await page.selectOption('#node-input-windowType', 'sliding');
        await enter(page, '#node-input-duration', '2000');
        await enter(page, '#node-input-hopMs', '500');
        await closeDialog(page, 'ok');
        const n = await nodeState(page, id);
        expect(n, from).to.include({ valid: true }).and.have.nested.include({ 'props.windowKind': 'time', 'props.duration': '2000', 'props.hopMs': '500' });
      }
      noPageErrors();
    });

    it('validator messages come in the editor\'s language (German)', async () => {
      const de = await browser.newPage({ viewport: { width: 1500, height: 1000 }, locale: 'de-DE' });
      const deErrors = watchErrors(de, EDITOR_NOISE);
      try {
        await de.goto(red.url);
        await de.waitForSelector(`g.red-ui-flow-node[id="${DEMO.window}"]`, { timeout: 30000 });
        await openNode(de, DEMO.window, '#node-input-windowKind');
        await de.selectOption('#node-input-windowType', 'sliding');
        await enter(de, '#node-input-hop', '0');
        const deCommon = (JSON.parse(fs.readFileSync(path.join(root, 'locales', 'de', 'mlops-common.json'), 'utf8')) as Catalog).validate;
        expect(await hoverMessage(de, '#node-input-hop')).to.equal(fill(deCommon.range, { min: 1, max: 4194304 }));
        await closeDialog(de, 'cancel');
        expect(deErrors, deErrors.join('\n')).to.deep.equal([]);
      } finally {
        await de.close();
      }
    });

    it('onnx infer: the threshold row only for labels, bad values say why, no inspect after the dialog closed', async () => {
      for (const [id, from] of [[DEMO.infer, 'demo flow'], [await dragFromPalette(page, 'mlops-onnx-infer', { x: 700, y: 600 }), 'palette']] as const) {
        // a path typed, and the dialog cancelled before the inspection's timer fires
        await openNode(page, id, '#node-input-modelPath');
        await page.locator('#node-input-modelPath').fill('models/bearing-fault.onnx');
        await page.locator('#node-dialog-cancel').click();
        await page.waitForTimeout(800);
        expect(errors, 'after cancel').to.deep.equal([]);
        await openNode(page, id, '#node-input-modelPath');
        for (const output of ['score', 'label', 'vector'] as const) {
          await page.selectOption('#node-input-output', output);
          expect(await visibleRows(page, NODE_FORM), `${from}: ${output}`).to.deep.equal(onnxRows(output));
        }
        await enter(page, '#node-input-threads', '1.5');
        expect(await hoverMessage(page, '#node-input-threads')).to.equal(common.integer);
        await enter(page, '#node-input-threads', '65');
        expect(await hoverMessage(page, '#node-input-threads')).to.equal(fill(common.range, { min: 1, max: 64 }));
        await page.selectOption('#node-input-output', 'label');
        await enter(page, '#node-input-threshold', 'half');
        expect(await hoverMessage(page, '#node-input-threshold')).to.equal(common.number);
        await shot(`onnx-infer-${from.replace(' ', '-')}`);
        await closeDialog(page, 'cancel');
        // the same on save, and the model it shows
        await openNode(page, id, '#node-input-modelPath');
        await page.locator('#node-input-modelPath').fill('models/bearing-fault.onnx');
        await page.waitForFunction(() => /bearing-fault/.test(document.querySelector('#mlops-onnx-inspect')?.textContent ?? ''), undefined, { timeout: 15000 });
        await page.locator('#node-input-modelPath').fill('models/bearing-fault.onnx ');
        await page.locator('#node-dialog-ok').click();
        await page.waitForTimeout(800);
        expect(await nodeState(page, id), from).to.include({ valid: true });
      }
      noPageErrors();
    });

    it('drift detect: each mode, baseline source and test shows its rows; warn share above drift share is flagged', async () => {
      for (const [id, from] of [[DEMO.drift, 'demo flow'], [await dragFromPalette(page, 'mlops-drift-detect', { x: 700, y: 700 }), 'palette']] as const) {
        await openNode(page, id, '#node-input-mode');
        await page.selectOption('#node-input-mode', 'window');
        for (const source of ['model', 'learn', 'file'] as const) {
          for (const method of ['ks', 'psi', 'wasserstein', 'js'] as const) {
            await page.selectOption('#node-input-baselineSource', source);
            await page.selectOption('#node-input-method', method);
            expect(await visibleRows(page, NODE_FORM), `${from}: window ${source} ${method}`).to.deep.equal(driftRows('window', source, method));
          }
        }
        await page.selectOption('#node-input-method', 'ks');
        await enter(page, '#node-input-driftShare', '0.5');
        await enter(page, '#node-input-warnShare', '0.6');
        expect(await hoverMessage(page, '#node-input-warnShare')).to.equal(fill(catalog('drift-detect').validate.warnAboveDrift, { drift: 0.5 }));
        // the drift share is what changes: the warn share is checked against the dialog's value
        await enter(page, '#node-input-driftShare', '0.7');
        expect(await hoverMessage(page, '#node-input-warnShare')).to.equal('(not marked invalid)');
        await enter(page, '#node-input-alpha', '1.5');
        expect(await hoverMessage(page, '#node-input-alpha')).to.equal(fill(common.openRange, { min: 0, max: 0.999999 }));
        await enter(page, '#node-input-windowSize', '2');
        expect(await hoverMessage(page, '#node-input-windowSize')).to.equal(fill(common.range, { min: 5, max: 100000 }));
        // stream mode: a bad window size no longer matters, its rows are hidden
        await page.selectOption('#node-input-mode', 'stream');
        expect(await visibleRows(page, NODE_FORM), `${from}: stream`).to.deep.equal(driftRows('stream', 'model', 'ks'));
        expect(await page.locator('#node-input-windowSize').evaluate((e) => e.classList.contains('input-error')), 'a hidden window size is not checked').to.equal(false);
        await closeDialog(page, 'cancel');
        await openNode(page, id, '#node-input-mode');
        await page.selectOption('#node-input-mode', 'window');
        await enter(page, '#node-input-warnShare', '0.3');
        await closeDialog(page, 'ok');
        expect(await nodeState(page, id), from).to.include({ valid: true }).and.have.nested.include({ 'props.warnShare': '0.3' });
      }
      noPageErrors();
    });

    it('drift detect: the chart shows how far a window moved from its reference', async () => {
      await openNode(page, LEARNED, '#node-input-mode');
      await page.waitForSelector('#mlops-drift-report svg.mlops-drift-chart', { timeout: 15000 });
      if (process.env.MLOPS_KEEP_E2E) await page.locator('#mlops-drift-report').screenshot({ path: path.join(dir, 'drift-moved-far.png') });
      // the axis reaches the window (around 5000), far beyond the reference (around 640)
      const ticks = (await page.locator('#mlops-drift-report .mlops-drift-tick').evaluateAll((els) => els.map((e) => e.textContent))).map(Number);
      expect(Math.max(...ticks)).to.be.within(4990, 5010);
      expect(ticks.some((t) => t >= 630 && t <= 650), `the reference's end on the axis: ${ticks}`).to.equal(true);
      // the window's bar stands at the far end of the axis, the reference's bars near its start
      const bars = await page.locator('#mlops-drift-report svg.mlops-drift-chart rect.mlops-drift-reference, #mlops-drift-report svg.mlops-drift-chart rect.mlops-drift-current').evaluateAll((els) => els.map((e) => ({ current: e.classList.contains('mlops-drift-current'), x: Number(e.getAttribute('x')), h: Number(e.getAttribute('height')) })));
      const W = Number(await page.locator('#mlops-drift-report svg.mlops-drift-chart').getAttribute('width'));
      const full = bars.filter((b) => b.current && b.h > 0);
      expect(full.length).to.equal(1);
      expect(full[0].x, 'the window at the end of the axis').to.be.above(0.85 * W);
      expect(Math.max(...bars.filter((b) => !b.current && b.h > 0).map((b) => b.x)), 'the reference at its start').to.be.below(0.2 * W);
      expect(await page.locator('#mlops-drift-report .mlops-drift-outside').innerText()).to.match(/^\d+(\.\d+)? × /);
      expect(await page.locator('#mlops-drift-report .mlops-drift-current-range').innerText()).to.match(/ 49\d\d(\.\d)? … 50\d\d(\.\d)?$/);
      await closeDialog(page, 'cancel');
      noPageErrors();
    });

    it('drift detect: the report says which question fired against a model\'s reference (out of domain, which feature, which side)', async () => {
      await openNode(page, DOMAIN, '#node-input-mode');
      await page.waitForSelector('#mlops-drift-report .mlops-drift-domain', { timeout: 15000 });
      const R = catalog('drift-detect').report;
      const domain = page.locator('#mlops-drift-report .mlops-drift-domain');
      const shift = page.locator('#mlops-drift-report .mlops-drift-shift');
      const D = catalog('drift-detect');
      const pattern = (text: string, vars: Record<string, string | number>) => fill(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), vars);
      // what a person reads: all ten vectors out, f1 below its range, the line marked as the question that fired
      expect(await domain.innerText()).to.match(new RegExp(`^⚑ ${pattern(R.domain, { flagged: 10, checked: 10, share: 100, threshold: '[\\d.]+', max: '[\\d.e+]+' })}: f1 ${D.direction.below} \\(10\\)$`));
      expect(await domain.evaluate((e) => getComputedStyle(e).fontWeight)).to.equal('700');
      expect(await shift.innerText()).to.match(new RegExp(`^(⚑ )?${pattern(R.shift, { drifted: '\\d', tested: 3, dependence: D.dependence.effective })}$`));
      expect(await page.locator('#mlops-drift-report .mlops-drift-state').innerText()).to.equal(D.state.drift);
      if (process.env.MLOPS_KEEP_E2E) await page.locator('#mlops-drift-report').screenshot({ path: path.join(dir, 'drift-out-of-domain.png') });
      await closeDialog(page, 'cancel');
      noPageErrors();
    });

    it('drift detect: whole numbers in a report print as such (width=641, not 641.000)', async () => {
      await openNode(page, STREAM, '#node-input-mode');
      await page.waitForSelector('#mlops-drift-report .mlops-drift-state', { timeout: 15000 });
      const head = await page.locator('#mlops-drift-report').innerText();
      expect(head).to.match(/\bwidth=\d+\b(?!\.)/);
      expect(head).to.not.match(/=\d+\.000\b/);
      await closeDialog(page, 'cancel');
      noPageErrors();
    });

    it('opcua read: subscribe and read show their rows, each channel row is checked, a late browse answer is harmless', async function () {
      this.timeout(120000);
      // The demo's endpoint is deployed but no server answers: a browse ends in a 502 after 10 s,
      // long after a person closed the dialog.
      await openNode(page, DEMO.read, '#node-input-channel-container .mlops-channel-nodeid');
      const answer = page.waitForResponse((r) => /\/browse/.test(r.url()), { timeout: 30000 });
      await page.locator('#mlops-opcua-browse-button').click();
      await page.waitForTimeout(300);
      await closeDialog(page, 'cancel');
      const fresh = await dragFromPalette(page, 'mlops-opcua-read', { x: 700, y: 800 });
      for (const [id, from] of [[DEMO.read, 'demo flow'], [fresh, 'palette']] as const) {
        await openNode(page, id, '#node-input-channel-container .mlops-channel-nodeid');
        if (from === 'palette') await page.selectOption('#node-input-endpoint', '5b7d9f1a3c5e7a02'); // the demo's endpoint
        for (const mode of ['subscribe', 'read'] as const) {
          await page.selectOption('#node-input-mode', mode);
          expect(await visibleRows(page, NODE_FORM), `${from}: ${mode}`).to.deep.equal(readRows(mode));
        }
        await page.selectOption('#node-input-mode', 'subscribe');
        await enter(page, '#node-input-queueSize', '0');
        expect(await hoverMessage(page, '#node-input-queueSize')).to.equal(fill(common.range, { min: 1, max: 10000 }));
        // a queue too small for publishing / sampling: the dialog says how many changes the server keeps
        await enter(page, '#node-input-samplingInterval', '100');
        await enter(page, '#node-input-publishingInterval', '500');
        await enter(page, '#node-input-queueSize', '1');
        expect(await visibleRows(page, NODE_FORM), `${from}: queue 1`).to.deep.equal([...readRows('subscribe').slice(0, -3), '#mlops-opcua-queue-loss', ...readRows('subscribe').slice(-3)]);
        expect(await page.locator('#mlops-opcua-queue-loss').innerText()).to.equal(fill(catalog('opcua-read').errors.queueLoss, { kept: 1, perPublish: 5, sampling: 100, publishing: 500, queue: 1 }));
        await enter(page, '#node-input-queueSize', '100');
        expect(await visibleRows(page, NODE_FORM), `${from}: queue 100`).to.deep.equal(readRows('subscribe'));
        // channel rows: NodeId syntax and unique names, as typed
        const add = page.locator('.node-input-channel-container-row .red-ui-editableList-addButton');
        const rows = page.locator('#node-input-channel-container .red-ui-editableList-item-content');
        const n0 = await rows.count();
        const V = catalog('opcua-read').validate;
        const ids: Array<[string, boolean]> = [['ns=1;x=7', false]];
        if (from === 'demo flow') ids.push(['ns=2;s=Tag', true], ['i=2258', true], ['ns=1;g=72962b91-fa75-4ae6-8d28-b404dc7daf63', true], ['ns=1;b=M/RbKBsRVkePCePcx24oRA==', true], ['ns=1;i=abc', false], ['ns=1;g=1234', false], ['s=', false]);
        for (const [nodeId, ok] of ids) {
          await add.click();
          const row = rows.nth(n0);
          await enter(page, `#node-input-channel-container .red-ui-editableList-item-content >> nth=${n0} >> .mlops-channel-name`, 'extra');
          await enter(page, `#node-input-channel-container .red-ui-editableList-item-content >> nth=${n0} >> .mlops-channel-nodeid`, nodeId);
          const msg = await hoverMessage(page, `#node-input-channel-container .red-ui-editableList-item-content >> nth=${n0} >> .mlops-channel-nodeid`);
          expect(msg, nodeId).to.equal(ok ? '(not marked invalid)' : fill(V.nodeId, { value: nodeId }));
          await row.locator('xpath=ancestor::li').locator('.red-ui-editableList-item-remove').click();
          await page.waitForFunction((n) => document.querySelectorAll('#node-input-channel-container .red-ui-editableList-item-content').length === n, n0);
        }
        // a name used twice: the second is marked; without a name the NodeId's identifier is the name
        await add.click();
        const first = await page.locator('#node-input-channel-container .mlops-channel-name').first().inputValue();
        await enter(page, `#node-input-channel-container .red-ui-editableList-item-content >> nth=${n0} >> .mlops-channel-name`, first);
        await enter(page, `#node-input-channel-container .red-ui-editableList-item-content >> nth=${n0} >> .mlops-channel-nodeid`, 'ns=1;s=Other');
        expect(await hoverMessage(page, `#node-input-channel-container .red-ui-editableList-item-content >> nth=${n0} >> .mlops-channel-name`)).to.equal(fill(V.duplicateName, { name: first }));
        await shot(`opcua-read-${from.replace(' ', '-')}`);
        // saved like this the node is invalid, and says which channel and why
        await closeDialog(page, 'ok');
        const bad = await nodeState(page, id);
        expect(bad!.valid).to.equal(false);
        expect(bad!.errors).to.deep.equal([fill(V.row, { row: n0 + 1, problem: fill(V.duplicateName, { name: first }) })]);
        await openNode(page, id, '#node-input-channel-container .mlops-channel-nodeid');
        await page.locator('#node-input-channel-container .red-ui-editableList-item-remove').last().click();
        await page.waitForFunction((n) => document.querySelectorAll('#node-input-channel-container .red-ui-editableList-item-content').length === n, n0);
        await closeDialog(page, 'ok');
        const n = await nodeState(page, id);
        expect(n!.valid, n!.errors.join('; ')).to.equal(true);
      }
      // the browse answer landed after its dialog closed, and did nothing
      expect((await answer).status()).to.equal(502);
      await page.waitForTimeout(300);
      expect(errors, 'after the late browse answer').to.deep.equal([]);
      noPageErrors();
    });

    it('opcua endpoint: security and user rows follow the dialog, fresh and from the demo flow', async () => {
      const fresh = await dragFromPalette(page, 'mlops-opcua-read', { x: 900, y: 800 });
      for (const [id, from] of [[DEMO.read, 'demo flow'], [fresh, 'palette']] as const) {
        await openNode(page, id, '#node-input-endpoint');
        await page.locator(from === 'palette' ? '#node-input-btn-endpoint-add' : '#node-input-btn-endpoint-edit').click();
        await page.waitForSelector('#node-config-input-securityMode');
        await page.waitForTimeout(300);
        const E = catalog('opcua-endpoint').label;
        for (const mode of ['SignAndEncrypt', 'Sign', 'None']) {
          for (const auth of ['anonymous', 'username']) {
            await page.selectOption('#node-config-input-securityMode', mode);
            await page.selectOption('#node-config-input-authType', auth);
            const shown = await visibleRows(page, CONFIG_FORM);
            // the endpoint dialog grows (certificates, test connection): check the rows that depend on the mode
            expect(shown, `${from}: ${mode} ${auth}`).to.include.members([E.endpoint, E.securityMode, E.authType, NAME]);
            expect(shown.includes(E.securityPolicy), `${from}: policy row with ${mode}`).to.equal(mode !== 'None');
            expect(shown.includes(E.user) && shown.includes(E.password), `${from}: user rows with ${auth}`).to.equal(auth === 'username');
            expect(new Set(shown).size, `${from}: a row twice: ${shown}`).to.equal(shown.length);
          }
        }
        await closeDialog(page, 'cancel', true);
        await closeDialog(page, 'cancel');
      }
      noPageErrors();
    });

    it('retrain trigger: the rows follow the action and the pipeline preset; bad values say why, hidden ones are not checked', async () => {
      const V = catalog('retrain-trigger').validate;
      const id = await dragFromPalette(page, 'mlops-retrain-trigger', { x: 1100, y: 620 });
      await openNode(page, id, '#node-input-action');
      expect(await visibleRows(page, NODE_FORM), 'local').to.deep.equal(retrainRows('local'));
      await enter(page, '#node-input-holdout', '80');
      expect(await hoverMessage(page, '#node-input-holdout')).to.equal(fill(common.range, { min: 5, max: 50 }));
      await enter(page, '#node-input-holdout', '20');
      await enter(page, '#node-input-minRows', 'lots');
      expect(await hoverMessage(page, '#node-input-minRows')).to.equal(common.number);
      await enter(page, '#node-input-minRows', '500');
      await page.selectOption('#node-input-action', 'webhook');
      for (const preset of ['generic', 'github', 'jenkins', 'kubeflow', 'argo'] as const) {
        await page.selectOption('#node-input-preset', preset);
        expect(await visibleRows(page, NODE_FORM), `webhook ${preset}`).to.deep.equal(retrainRows('webhook', preset));
      }
      await page.selectOption('#node-input-preset', 'github');
      expect(await hoverMessage(page, '#node-input-url')).to.equal(V.url);
      expect(await hoverMessage(page, '#node-input-ghOwner')).to.equal(V.ghOwner);
      await enter(page, '#node-input-url', 'https://bot:secret@api.github.com');
      expect(await hoverMessage(page, '#node-input-url')).to.equal(V.credentialsInUrl);
      await enter(page, '#node-input-url', 'https://api.github.com');
      for (const [f, v] of [['#node-input-ghOwner', 'acme'], ['#node-input-ghRepo', 'models'], ['#node-input-ghWorkflow', 'retrain.yml']]) await enter(page, f, v);
      expect(await hoverMessage(page, '#node-input-ghWorkflow'), 'a workflow file').to.equal('(not marked invalid)');
      await shot('retrain-github');
      // the Jenkins job is required only with that preset
      await page.selectOption('#node-input-preset', 'jenkins');
      expect(await hoverMessage(page, '#node-input-jenkinsJob')).to.equal(V.jenkinsJob);
      await page.selectOption('#node-input-preset', 'github');
      expect(await page.locator('#node-input-jenkinsJob').evaluate((e) => e.classList.contains('input-error')), 'a hidden Jenkins job is not checked').to.equal(false);
      await page.selectOption('#node-input-action', 'mqtt');
      expect(await visibleRows(page, NODE_FORM), 'mqtt').to.deep.equal(retrainRows('mqtt'));
      await enter(page, '#node-input-mqttTopic', 'factory/+/retrain');
      expect(await hoverMessage(page, '#node-input-mqttTopic')).to.equal(fill(V.topicWildcard, { value: 'factory/+/retrain' }));
      await page.selectOption('#node-input-action', 'local');
      await closeDialog(page, 'ok');
      const n = await nodeState(page, id);
      expect(n?.valid, JSON.stringify(n?.errors)).to.equal(true);
      expect(n?.props).to.include({ action: 'local', ghOwner: 'acme', ghWorkflow: 'retrain.yml' });
    });

    it('approval gate: the rows follow timeout, auto-approve and the console broker; bad values and bad approver keys say why', async () => {
      const V = catalog('approval-gate').validate;
      const id = await dragFromPalette(page, 'mlops-approval-gate', { x: 1100, y: 560 });
      await openNode(page, id, '#node-input-timeout');
      expect(await visibleRows(page, NODE_FORM), 'fresh: 24 h timeout').to.deep.equal(gateRows({ timeout: true, auto: false, broker: false }));
      await enter(page, '#node-input-timeout', '0');
      expect(await visibleRows(page, NODE_FORM), 'no timeout').to.deep.equal(gateRows({ timeout: false, auto: false, broker: false }));
      await enter(page, '#node-input-timeout', 'soon');
      expect(await hoverMessage(page, '#node-input-timeout')).to.equal(common.number);
      await enter(page, '#node-input-timeout', '8');
      await enter(page, '#node-input-maxPending', '0');
      expect(await hoverMessage(page, '#node-input-maxPending')).to.equal(fill(common.range, { min: 1, max: 1000 }));
      await enter(page, '#node-input-maxPending', '10');
      await page.locator('#node-input-autoApprove').check();
      expect(await visibleRows(page, NODE_FORM), 'auto-approve').to.deep.equal(gateRows({ timeout: true, auto: true, broker: false }));
      await enter(page, '#node-input-autoMargin', '-1');
      expect(await hoverMessage(page, '#node-input-autoMargin')).to.equal(fill(common.range, { min: 0, max: 100 }));
      await page.locator('#node-input-autoApprove').uncheck();
      expect(await page.locator('#node-input-autoMargin').evaluate((e) => e.classList.contains('input-error')), 'a hidden margin is not checked').to.equal(false);
      // a console over MQTT: a topic and approver keys become required
      await page.locator('#node-input-btn-mqttBroker-add').click();
      await page.waitForSelector('#node-config-input-url');
      await enter(page, '#node-config-input-url', 'mqtt://127.0.0.1:1883');
      await closeDialog(page, 'ok', true);
      await page.waitForTimeout(300);
      expect(await visibleRows(page, NODE_FORM), 'with a broker').to.deep.equal(gateRows({ timeout: true, auto: false, broker: true }));
      expect(await hoverMessage(page, '#node-input-mqttTopic')).to.equal(V.topic);
      expect(await hoverMessage(page, '#node-input-approverKeys')).to.equal(V.keys);
      await enter(page, '#node-input-mqttTopic', 'factory/#/approvals');
      expect(await hoverMessage(page, '#node-input-mqttTopic')).to.equal(fill(common.topicWildcard, { value: 'factory/#/approvals' }));
      await enter(page, '#node-input-mqttTopic', 'factory/approvals');
      await enter(page, '#node-input-approverKeys', 'anna.pub');
      expect(await hoverMessage(page, '#node-input-approverKeys')).to.equal(V.keysPem);
      await enter(page, '#node-input-approverKeys', 'anna:\n-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----');
      expect(await hoverMessage(page, '#node-input-approverKeys')).to.equal(fill(V.keysJunk, { line: 'anna:' }));
      await enter(page, '#node-input-approverKeys', '# name: Anna\n-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----');
      expect(await hoverMessage(page, '#node-input-approverKeys'), 'a named PEM key').to.equal('(not marked invalid)');
      await shot('approval-gate');
      await closeDialog(page, 'ok');
      const n = await nodeState(page, id);
      expect(n?.valid, JSON.stringify(n?.errors)).to.equal(true);
      expect(n?.props).to.include({ timeout: '8', mqttTopic: 'factory/approvals', autoApprove: false });
    });

    it('registry pull: the rows of each registry kind, in the registry dialog and the pull dialog; bad values say why', async () => {
      const V = catalog('registry-pull').validate;
      const RV = catalog('registry').validate;
      const id = await dragFromPalette(page, 'mlops-registry-pull', { x: 1100, y: 500 });
      await openNode(page, id, '#node-input-model');
      expect(await visibleRows(page, NODE_FORM), 'no registry yet').to.deep.equal(pullRows('none'));
      // no registry: a fresh node asks for its model, whatever the kind
      await enter(page, '#node-input-model', '');
      expect(await hoverMessage(page, '#node-input-model')).to.equal(V.model_oci);
      await enter(page, '#node-input-pollInterval', '5');
      expect(await hoverMessage(page, '#node-input-pollInterval')).to.equal(V.pollInterval);
      await enter(page, '#node-input-pollInterval', 'often');
      expect(await hoverMessage(page, '#node-input-pollInterval')).to.equal(common.number);
      for (const ok of ['0', '10', '3600']) {
        await enter(page, '#node-input-pollInterval', ok);
        expect(await hoverMessage(page, '#node-input-pollInterval'), ok).to.equal('(not marked invalid)');
      }
      await enter(page, '#node-input-keep', '0');
      expect(await hoverMessage(page, '#node-input-keep')).to.equal(fill(common.range, { min: 1, max: 100 }));
      await enter(page, '#node-input-keep', '5');
      await enter(page, '#node-input-maxMB', '1.5');
      expect(await hoverMessage(page, '#node-input-maxMB')).to.equal(common.integer);
      await enter(page, '#node-input-maxMB', '2048');
      // each kind: a fresh registry first, then the same one edited
      let first = true;
      for (const kind of ['url', 'oci', 'mlflow', 'layout'] as const) {
        await page.locator(first ? '#node-input-btn-registry-add' : '#node-input-btn-registry-edit').click();
        await page.waitForSelector('#node-config-input-kind');
        await page.waitForTimeout(300);
        for (const k of ['layout', 'oci', 'mlflow', 'url'] as const) {
          await page.selectOption('#node-config-input-kind', k);
          expect(await visibleRows(page, CONFIG_FORM), `registry dialog: ${k}`).to.deep.equal(registryRows(k));
          if (first) await shot(`registry-${k}`);
        }
        if (first) {
          // the registry's own validators, on what its dialog holds
          await page.selectOption('#node-config-input-kind', 'oci');
          await enter(page, '#node-config-input-location', '');
          expect(await hoverMessage(page, '#node-config-input-location')).to.equal(RV.required_oci);
          await enter(page, '#node-config-input-location', 'registry.example.com');
          expect(await hoverMessage(page, '#node-config-input-location')).to.equal(fill(RV.url, { example: 'https://registry.example.com' }));
          await enter(page, '#node-config-input-location', 'http://registry.example.com:5000');
          expect(await hoverMessage(page, '#node-config-input-location')).to.equal(fill(RV.plainHttp, { host: 'registry.example.com:5000' }));
          await page.locator('#node-config-input-allowHttp').check();
          expect(await hoverMessage(page, '#node-config-input-location'), 'http allowed').to.equal('(not marked invalid)');
          await page.locator('#node-config-input-allowHttp').uncheck();
          await enter(page, '#node-config-input-location', 'http://127.0.0.1:5000');
          expect(await hoverMessage(page, '#node-config-input-location'), 'http to this machine').to.equal('(not marked invalid)');
          await enter(page, '#node-config-input-publicKey', 'cosign.pub');
          expect(await hoverMessage(page, '#node-config-input-publicKey')).to.equal(RV.publicKey);
          await enter(page, '#node-config-input-publicKey', '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nabc\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----');
          expect(await hoverMessage(page, '#node-config-input-publicKey')).to.equal(RV.privateKey);
          await enter(page, '#node-config-input-publicKey', '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n');
          expect(await hoverMessage(page, '#node-config-input-publicKey'), 'a PEM public key').to.equal('(not marked invalid)');
          // a layout folder may stay empty (mlops-models/layout); an MLflow server may not
          await page.selectOption('#node-config-input-kind', 'layout');
          expect(await hoverMessage(page, '#node-config-input-location'), 'a URL as layout folder').to.equal(RV.folder);
          await enter(page, '#node-config-input-location', '');
          expect(await hoverMessage(page, '#node-config-input-location'), 'empty layout folder').to.equal('(not marked invalid)');
          await page.selectOption('#node-config-input-kind', 'mlflow');
          expect(await hoverMessage(page, '#node-config-input-location')).to.equal(RV.required_mlflow);
        }
        await page.selectOption('#node-config-input-kind', kind);
        if (kind !== 'url') await enter(page, '#node-config-input-location', { oci: 'http://127.0.0.1:5000', mlflow: 'https://mlflow.example.com', layout: '' }[kind]);
        await closeDialog(page, 'ok', true);
        await page.waitForTimeout(300);
        // back in the pull dialog: its rows follow the registry's kind
        expect(await visibleRows(page, NODE_FORM), `pull dialog: ${kind} registry`).to.deep.equal(pullRows(kind));
        if (kind === 'url') {
          await enter(page, '#node-input-model', 'https://models.example.com/m.onnx');
          await enter(page, '#node-input-sha256', '');
          expect(await hoverMessage(page, '#node-input-sha256')).to.equal(V.sha256Required);
          await enter(page, '#node-input-sha256', 'abc123');
          expect(await hoverMessage(page, '#node-input-sha256')).to.equal(V.sha256);
          await enter(page, '#node-input-sha256', `sha256:${'a'.repeat(63)}`);
          expect(await hoverMessage(page, '#node-input-sha256')).to.equal(V.sha256);
          await enter(page, '#node-input-sha256', `sha256:${'ab'.repeat(32)}`);
          expect(await hoverMessage(page, '#node-input-sha256'), 'a digest').to.equal('(not marked invalid)');
          await enter(page, '#node-input-sha256', 'bad');
        } else {
          // the sha256 (still bad) is hidden and no longer checked
          expect(await page.locator('#node-input-sha256').evaluate((e) => e.classList.contains('input-error')), `sha256 with a ${kind} registry`).to.equal(false);
        }
        if (kind === 'oci') {
          await enter(page, '#node-input-model', 'Models/Bearing');
          expect(await hoverMessage(page, '#node-input-model')).to.equal(fill(V.repository, { value: 'Models/Bearing' }));
          await enter(page, '#node-input-model', 'models/bearing-fault');
          await enter(page, '#node-input-version', '@champion');
          expect(await hoverMessage(page, '#node-input-version')).to.equal(fill(V.alias, { value: '@champion' }));
        }
        if (kind === 'mlflow') {
          // the alias that an OCI registry refused is MLflow's way
          expect(await hoverMessage(page, '#node-input-version'), '@champion with MLflow').to.equal('(not marked invalid)');
          await enter(page, '#node-input-version', '^1.2');
          expect(await hoverMessage(page, '#node-input-version')).to.equal(fill(V.mlflowVersion, { value: '^1.2' }));
          await enter(page, '#node-input-version', 'latest');
        }
        first = false;
      }
      await shot('registry-pull');
      await enter(page, '#node-input-model', 'models/bearing-fault');
      await closeDialog(page, 'ok');
      const n = await nodeState(page, id);
      expect(n!.valid, n!.errors.join('; ')).to.equal(true);
      noPageErrors();
    });
  });
}
