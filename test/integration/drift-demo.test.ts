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
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as path from 'path';
import { DriftController, loadConfiguredBaseline, parseDriftConfig, type RawDriftConfig } from '../../nodes/lib/drift/controller';
import { DEFAULT_OUT as DEMO_MODEL, DEMO_MACHINE, firstDetection, simulateWindows } from '../../scripts/train-demo-model';

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
async function driftChanges(timeScale: number, conditionChangeAtS: number, repairAtS: number): Promise<Array<[number, string, string]>> {
  const c = new DriftController(parseDriftConfig(driftNode));
  await loadConfiguredBaseline(c, (p) => path.join(project, p));
  const { names, windows } = demoWindows(timeScale, conditionChangeAtS, repairAtS);
  const changes: Array<[number, string, string]> = [];
  for (const w of windows) {
    for (const ch of c.ingest(w.features, { names }, w.endS * 1000).changes) changes.push([Math.round(w.endS), ch.state, (ch.fired ?? []).join('+')]);
  }
  return changes;
}

describe('the demo flow on the demo timeline (simulator -> feature window -> onnx model, drift detect against the model)', function () {
  this.timeout(120000);

  it('the model from registry pull reaches onnx infer and drift detect only through the approval gate\'s "approved" output', () => {
    const one = (type: string) => {
      const nodes = flow.filter((n) => n.type === type);
      expect(nodes, type).to.have.length(1);
      return nodes[0] as { id: string; wires: string[][] } & Record<string, unknown>;
    };
    const [pull, gate, infer, drift, window] = ['mlops-registry-pull', 'mlops-approval-gate', 'mlops-onnx-infer', 'mlops-drift-detect', 'mlops-feature-window'].map(one);
    // who sends to a node, by output: "<id>:<output>"
    const sources = (id: string) => flow.flatMap((n) => ((n.wires ?? []) as string[][]).flatMap((to, i) => (to.includes(id) ? [`${n.id}:${i}`] : [])));
    for (const n of [infer, drift]) expect(sources(n.id).sort(), String(n.name)).to.deep.equal([`${gate.id}:0`, `${window.id}:0`].sort());
    expect(sources(gate.id)).to.deep.equal([`${pull.id}:0`]);
    expect(gate.wires[1], 'rejected or expired').to.not.include.members([infer.id, drift.id]);
    // waits for a person: one approval, no timeout, no automatic approval on metrics; a model approved before passes
    expect(gate).to.include({ approvals: '1', timeout: 0, autoApprove: false, passApproved: true, supersede: true, mqttBroker: '' });
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
