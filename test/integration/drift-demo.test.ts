/**
 * The demo flow's drift node on the demo's own timeline, without OPC UA: the simulator's samples
 * through the flow's feature window into the flow's drift node configuration (both read from
 * flows/predictive-maintenance/flows.json). Drift must come from the change of operating
 * condition: declared after it, and never on the same run without the change.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { DriftController, parseDriftConfig, type RawDriftConfig } from '../../nodes/lib/drift/controller';
import { FeatureWindow, parseConfig } from '../../nodes/lib/window/feature-window';
import { MachineModel } from '../../scripts/simulator/machine';
import { demoFeatureConfig } from '../../scripts/train-demo-model';

const flow = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'flows', 'predictive-maintenance', 'flows.json'), 'utf8')) as Array<Record<string, unknown>>;
const driftNode = flow.find((n) => n.type === 'mlops-drift-detect') as RawDriftConfig;

/** State changes [simulated s, state] of the flow's drift node on the demo machine, at a time scale. */
function run(conditionChangeAtS: number, timeScale: number, durationS = 3600): Array<[number, string]> {
  const tick = 0.02 * timeScale; // the demo's 20 ms ticks
  const fw = new FeatureWindow(parseConfig(demoFeatureConfig()));
  const m = new MachineModel({ seed: 42, faultOnsetS: 600, faultGrowthS: 2400, conditionChangeAtS });
  const c = new DriftController(parseDriftConfig(driftNode));
  const changes: Array<[number, string]> = [];
  for (let n = 1; n * tick <= durationS; n++) {
    const t = n * tick;
    const s = m.sampleAt(t);
    const ts = t * 1000;
    const payload = { vibration: s.vibration, temperature: s.bearingTemperature, current: s.motorCurrent, speed: s.speed };
    for (const out of fw.ingest(payload, { timestamps: { vibration: ts, temperature: ts, current: ts, speed: ts }, now: ts })) {
      const o = c.ingest(out.payload, { names: out.names }, ts);
      for (const ch of o.changes) changes.push([Math.round(t), ch.state]);
    }
  }
  return changes;
}

describe('the demo flow\'s drift node on the demo timeline (simulator -> feature window -> drift detect)', function () {
  this.timeout(120000);

  for (const scale of [30, 60]) {
    it(`at ${scale}x: drift is declared after the operating condition changes (1800 s), within 10 minutes`, () => {
      const changes = run(1800, scale);
      const drift = changes.find(([, s]) => s === 'drift');
      expect(drift, JSON.stringify(changes)).to.not.equal(undefined);
      expect(drift![0]).to.be.within(1800, 2400);
    });

    it(`at ${scale}x: the same run without the condition change never reaches drift`, () => {
      const changes = run(Infinity, scale);
      expect(changes.filter(([, s]) => s === 'drift'), JSON.stringify(changes)).to.deep.equal([]);
    });
  }
});
