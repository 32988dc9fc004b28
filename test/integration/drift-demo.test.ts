/**
 * The demo flow on the demo's own timeline, without OPC UA: the simulator's samples through the
 * flow's feature window into the flow's drift node (both read from
 * flows/predictive-maintenance/flows.json; its baseline read from the flow's model file, as the
 * node reads it) and into the committed model (a real onnxruntime session). The demo's story:
 * the bearing fault is detected while the machine runs in condition A, the model's training
 * domain; at 2700 s the bearing is replaced (a repair) and the line switches to condition B at the
 * same moment: the model calls the healthy B windows a fault (false alarms, which a retrain on
 * labelled windows of A and B is to fix) and the switch is declared drift because the model is fed
 * inputs outside its domain (fired 'domain'); the same run without the switch never reaches drift,
 * with the repair (healthy A again, called healthy) or without it (the fault fully developed).
 * The model from the registry reaches the flow's onnx infer and drift node only through its
 * approval gate (the demo e2e test approves it with the command npm start prints).
 *
 * The retrain of the loop, on the same timeline: the flow's retrain trigger gets every feature
 * window, the inspection's labels and the drift reports against the deployed model, and sends its
 * candidate to the same gate. Its policy (hold, in wall minutes: one window a wall second at any
 * time scale) waits for enough windows of B: the candidate trained, as the trigger trains it, on
 * the labelled windows up to then (A and B) is right on the held-out windows of B where the old
 * model is wrong, and drift detect against its reference stays out of drift on the later windows
 * of B (test/e2e/loop.test.ts runs the loop itself in a headless Node-RED).
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as os from 'os';
import * as path from 'path';
import { applyModelMessage, DriftController, loadConfiguredBaseline, parseDriftConfig, type RawDriftConfig } from '../../nodes/lib/drift/controller';
import { parseRetrainConfig, type RawRetrainConfig } from '../../nodes/lib/retrain/controller';
import { trainCandidate } from '../../nodes/lib/retrain/local';
import { DEFAULT_OUT as DEMO_MODEL, DEMO_MACHINE, FAULT_ABOVE, firstDetection, HEALTHY_BELOW, simulateWindows } from '../../scripts/train-demo-model';

const project = path.join(__dirname, '..', '..', 'flows', 'predictive-maintenance');
const flow = JSON.parse(fs.readFileSync(path.join(project, 'flows.json'), 'utf8')) as Array<Record<string, unknown>>;
const driftNode = flow.find((n) => n.type === 'mlops-drift-detect') as RawDriftConfig;
const CHANGE_S = DEMO_MACHINE.conditionChangeAtS!;
const REPAIR_S = DEMO_MACHINE.repairAtS!;

/** The demo machine's windows at a time scale (the demo's 20 ms ticks), with or without the switch to B and the repair. */
const demoWindows = (timeScale: number, conditionChangeAtS: number, repairAtS: number, durationS = 4200) =>
  simulateWindows({ name: 'demo', machine: { ...DEMO_MACHINE, conditionChangeAtS, repairAtS }, durationS, tickS: 0.02 * timeScale });

/** The committed model's fault probability for each window. */
async function score(windows: Array<{ features: number[] }>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(DEMO_MODEL);
  try {
    const out = await session.run({ features: new ort.Tensor('float32', Float32Array.from(windows.flatMap((w) => w.features)), [windows.length, 40]) });
    return out.probability.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** State changes of the flow's drift node: [simulated s, state, fired]. */
async function driftChanges(timeScale: number, conditionChangeAtS: number, repairAtS: number, durationS?: number): Promise<Array<[number, string, string]>> {
  const c = new DriftController(parseDriftConfig(driftNode));
  await loadConfiguredBaseline(c, (p) => path.join(project, p));
  const { names, windows } = demoWindows(timeScale, conditionChangeAtS, repairAtS, durationS);
  const changes: Array<[number, string, string]> = [];
  for (const w of windows) {
    for (const ch of c.ingest(w.features, { names }, w.endS * 1000).changes) changes.push([Math.round(w.endS), ch.state, (ch.fired ?? []).join('+')]);
  }
  return changes;
}

type FlowNode = { id: string; type: string; name?: string; wires: string[][]; func?: string } & Record<string, unknown>;
/** The flow's only node of a type, or the node of a type with a name. */
const one = (type: string, name?: string): FlowNode => {
  const nodes = flow.filter((n) => n.type === type && (name === undefined || n.name === name));
  expect(nodes, `${type} ${name ?? ''}`).to.have.length(1);
  return nodes[0] as FlowNode;
};
/** Who sends to a node, by output: "<id>:<output>". */
const sources = (id: string) => flow.flatMap((n) => ((n.wires ?? []) as string[][]).flatMap((to, i) => (to.includes(id) ? [`${n.id}:${i}`] : [])));

/** Writes a dataset as the retrain trigger's buffer snapshots it: dataset-<ts>.jsonl and its manifest; returns the manifest's path. */
function writeDataset(dir: string, features: string[], rows: Array<{ t: number; x: number[]; y?: number }>): string {
  const file = 'dataset-demo.jsonl';
  const text = rows.map((r) => JSON.stringify({ t: r.t, x: r.x, ...(r.y !== undefined ? { y: r.y } : {}) })).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, file), text);
  const manifest = {
    file,
    rows: rows.length,
    labelled: rows.filter((r) => r.y !== undefined).length,
    features,
    span: { start: new Date(rows[0].t).toISOString(), end: new Date(rows[rows.length - 1].t).toISOString() },
    bytes: Buffer.byteLength(text),
    sha256: createHash('sha256').update(text).digest('hex'),
    createdAt: new Date().toISOString(),
    source: 'mlops-retrain-trigger buffer',
  };
  const p = path.join(dir, 'dataset-demo.json');
  fs.writeFileSync(p, JSON.stringify(manifest));
  return p;
}

describe('the demo flow on the demo timeline (simulator -> feature window -> onnx model, drift detect against the model, retrain)', function () {
  this.timeout(180000);

  it('the model from registry pull and the retrain trigger\'s candidate reach onnx infer and drift detect only through the approval gate\'s "approved" output', () => {
    const [pull, gate, infer, drift, window, trigger] = ['mlops-registry-pull', 'mlops-approval-gate', 'mlops-onnx-infer', 'mlops-drift-detect', 'mlops-feature-window', 'mlops-retrain-trigger'].map((t) => one(t));
    for (const n of [infer, drift]) expect(sources(n.id).sort(), String(n.name)).to.deep.equal([`${gate.id}:0`, `${window.id}:0`].sort());
    // one gate for both: the registry's models and the candidates
    expect(sources(gate.id).sort()).to.deep.equal([`${pull.id}:0`, `${trigger.id}:0`].sort());
    expect(gate.wires[1], 'rejected or expired').to.not.include.members([infer.id, drift.id]);
    // waits for a person: one approval, no timeout, no automatic approval on metrics; a model approved before passes
    expect(gate).to.include({ approvals: '1', timeout: 0, autoApprove: false, passApproved: true, supersede: true, mqttBroker: '' });
  });

  it('the retrain trigger gets every feature window, the inspection\'s labels, the drift reports against the deployed model and the gate\'s decisions', () => {
    const [gate, drift, window, trigger, read] = ['mlops-approval-gate', 'mlops-drift-detect', 'mlops-feature-window', 'mlops-retrain-trigger'].map((t) => one(t)).concat(one('mlops-opcua-read', 'inspection'));
    const label = one('function', 'label');
    const delay = one('delay');
    const reports = one('function', 'drift reports');
    expect(sources(trigger.id).sort()).to.deep.equal([`${window.id}:0`, `${delay.id}:0`, `${reports.id}:0`, `${gate.id}:0`, `${gate.id}:1`].sort());
    // labels: the simulator's ground truth over OPC UA, once a second, 1 above 0.3 and 0 below 0.02, a little later (its window closed)
    expect((read.channels as Array<{ nodeId: string }>).map((c) => c.nodeId)).to.include.members(['ns=1;s=Machine1.FaultSeverity', 'ns=1;s=Machine1.SimulatedTime']);
    expect(read).to.include({ endpoint: one('mlops-opcua-endpoint').id, samplingInterval: 1000, publishingInterval: 1000 });
    expect(sources(label.id)).to.deep.equal([`${read.id}:0`]);
    expect(sources(delay.id)).to.deep.equal([`${label.id}:0`]);
    expect(label.func).to.include(`sev > ${FAULT_ABOVE}`).and.include(`sev < ${HEALTHY_BELOW}`).and.include('labelTime');
    // the drift reports: every window's (output 1, "a report for every window") and every change (output 2), through the filter
    expect(drift.everyWindow).to.equal(true);
    expect(sources(reports.id).sort()).to.deep.equal([`${drift.id}:0`, `${drift.id}:1`, `${gate.id}:0`].sort());
    // the filter hears of an approval before the trigger does (wire order: Node-RED delivers in it)
    expect(gate.wires[0].indexOf(reports.id)).to.be.within(0, gate.wires[0].indexOf(trigger.id) - 1);
    // a candidate goes to the gate; decisions to a print function
    expect(trigger.wires[0]).to.include(gate.id);
    expect(trigger.wires[1].map((id) => (flow.find((n) => n.id === id) as FlowNode).name)).to.deep.equal(['print retrain']);
    const c = parseRetrainConfig(trigger as RawRetrainConfig);
    expect(c.action).to.equal('local');
  });

  it('npm start runs the simulator with the timeline the model was checked on (DEMO_MACHINE)', () => {
    const demo = fs.readFileSync(path.join(__dirname, '..', '..', 'scripts', 'demo.ts'), 'utf8');
    const { faultOnsetS, faultGrowthS, conditionChangeAtS, repairAtS } = DEMO_MACHINE;
    expect(demo).to.include(`model: { faultOnsetS: ${faultOnsetS}, faultGrowthS: ${faultGrowthS}, conditionChangeAtS: ${conditionChangeAtS}, repairAtS: ${repairAtS} }`);
    // the story: the bearing is replaced when the line switches to B, so the windows of B are healthy
    expect(repairAtS).to.equal(conditionChangeAtS);
  });

  for (const scale of [30, 60]) {
    it(`at ${scale}x: the committed model detects the bearing fault in condition A, before the switch to B (${CHANGE_S} s)`, async () => {
      const { windows } = demoWindows(scale, CHANGE_S, REPAIR_S, CHANGE_S);
      const p = await score(windows);
      const d = firstDetection(windows, p);
      expect(d.atS).to.be.within(DEMO_MACHINE.faultOnsetS!, CHANGE_S - 300);
      expect(windows.filter((w, i) => w.label === 0 && p[i] >= 0.5), 'false alarms on healthy windows').to.deep.equal([]);
    });

    it(`at ${scale}x: after the repair and the switch to B (${CHANGE_S} s) the windows are healthy, and the model (condition A only) calls them a fault`, async () => {
      const { windows } = demoWindows(scale, CHANGE_S, REPAIR_S);
      const after = windows.filter((w) => w.startS > CHANGE_S);
      expect(after.length).to.be.above(10);
      // every window after the switch: condition B, the new bearing, labelled healthy
      for (const w of after) expect([w.condition, w.severity, w.label], `${w.startS}-${w.endS} s`).to.deep.equal([1, 0, 0]);
      const p = await score(after);
      // false alarms: the model was never shown B; the retrain of the next issue is to fix this
      const alarms = after.filter((w, i) => p[i] >= 0.5).length;
      expect(alarms, `${alarms} of ${after.length} healthy B windows called a fault`).to.be.at.least(Math.ceil(0.9 * after.length));
    });

    it(`at ${scale}x: drift is declared after the switch to condition B, within 10 minutes, because the inputs left the model's domain`, async () => {
      const changes = await driftChanges(scale, CHANGE_S, REPAIR_S);
      const drift = changes.find(([, s]) => s === 'drift');
      expect(drift, JSON.stringify(changes)).to.not.equal(undefined);
      expect(drift![0], JSON.stringify(changes)).to.be.within(CHANGE_S, CHANGE_S + 600);
      expect(drift![2].split('+'), JSON.stringify(changes)).to.include('domain');
      // nothing about the domain before the switch, while the fault develops in condition A
      expect(changes.filter(([t, s, f]) => t <= CHANGE_S && s !== 'ok' && f.includes('domain')), JSON.stringify(changes)).to.deep.equal([]);
    });

    it(`at ${scale}x: the same run without the switch and without the repair (condition A to 4200 s, the fault fully developed) never reaches drift`, async () => {
      const changes = await driftChanges(scale, Infinity, Infinity);
      expect(changes.filter(([, s]) => s === 'drift'), JSON.stringify(changes)).to.deep.equal([]);
    });

    it(`at ${scale}x: the flow's retrain policy waits for enough windows of B: its candidate is right on the held-out windows of B, and drift detect against its reference stays out of drift on the later windows of B`, async () => {
      const trigger = parseRetrainConfig(one('mlops-retrain-trigger') as RawRetrainConfig);
      const DURATION_S = 12000;
      const { names, windows } = demoWindows(scale, CHANGE_S, REPAIR_S, DURATION_S);
      const declared = (await driftChanges(scale, CHANGE_S, REPAIR_S)).find(([, s]) => s === 'drift')![0];
      // one window a wall second at any time scale: the hold (wall time) in windows after the one that declared drift
      const iDrift = windows.findIndex((w) => Math.round(w.endS) >= declared);
      const iGo = iDrift + Math.round(trigger.policy.holdMs / 1000);
      const upTo = windows.slice(0, iGo + 1);
      expect(upTo.length, 'new rows at the go').to.be.at.least(trigger.policy.minRows);
      // labelled as the flow's inspection labels them: 1 above 0.3, 0 below 0.02 (the severity at the window's end)
      const rows = upTo.map((w) => ({ t: Math.round(w.endS * 1000), x: w.features, y: w.severity > FAULT_ABOVE ? 1 : w.severity < HEALTHY_BELOW ? 0 : undefined }));
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-demo-retrain-'));
      try {
        const r = await trainCandidate({ manifest: writeDataset(dir, names, rows), deployed: { path: DEMO_MODEL }, outDir: dir, holdout: trigger.holdout, epochs: trigger.epochs });
        const e = r.evaluation;
        const bWindows = upTo.filter((w) => w.condition === 1).length;
        const summary = `${upTo.length} windows (${bWindows} of B), ${e.trainRows} trained on, ${e.rows} held out: candidate ${JSON.stringify(e.candidate)}, deployed ${JSON.stringify(e.deployed)}`;
        // the held-out windows are the newest: all of B, healthy; the old model calls them a fault
        const heldOut = (r.metadata.provenance as { split: { heldOut: { start: string } } }).split.heldOut;
        expect(Date.parse(heldOut.start) / 1000, summary).to.be.above(CHANGE_S);
        expect(e.candidate.accuracy, summary).to.be.at.least(0.9).and.at.least(e.deployed.accuracy);
        expect(e.deployed.accuracy, summary).to.be.at.most(0.2);
        expect(e.candidate.outOfDomain, summary).to.be.at.most(0.2);
        // the later windows of B, against the candidate's reference: no drift
        const c = new DriftController(parseDriftConfig(driftNode));
        await applyModelMessage(c, { path: r.file, name: r.metadata.name, version: r.metadata.version }, (p) => p);
        const later: Array<[number, string, string]> = [];
        for (const w of windows.slice(iGo + 1)) for (const ch of c.ingest(w.features, { names }, w.endS * 1000).changes) later.push([Math.round(w.endS), ch.state, (ch.fired ?? []).join('+')]);
        expect(later.filter(([, s]) => s === 'drift'), `${summary}; later: ${JSON.stringify(later)}`).to.deep.equal([]);
        expect(windows.length - iGo, 'later windows').to.be.above(80);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`at ${scale}x: the same run with the repair but without the switch (healthy again in condition A) never reaches drift, and the model calls the repaired bearing healthy`, async () => {
      const changes = await driftChanges(scale, Infinity, REPAIR_S);
      expect(changes.filter(([, s]) => s === 'drift'), JSON.stringify(changes)).to.deep.equal([]);
      const { windows } = demoWindows(scale, Infinity, REPAIR_S);
      const after = windows.filter((w) => w.startS > REPAIR_S);
      for (const w of after) expect([w.condition, w.label], `${w.startS}-${w.endS} s`).to.deep.equal([0, 0]);
      const p = await score(after);
      expect(after.filter((w, i) => p[i] >= 0.5).length, 'false alarms on the repaired bearing in A').to.equal(0);
    });
  }
});
