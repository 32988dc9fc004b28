/**
 * When the retrain trigger acts (nodes/lib/retrain/policy.ts): drift held for T, a cooldown after
 * each retrain, enough new data, at most N a day, never while a candidate waits or a retrain runs;
 * a request skips the hold and the cooldown only. Each decision says why, with its figures.
 */
import { expect } from 'chai';
import { decide, duration, observeDrift, started, type PolicyConfig, type PolicyState } from '../../nodes/lib/retrain/policy';

const MIN = 60_000;
const C: PolicyConfig = { holdMs: 5 * MIN, cooldownMs: 60 * MIN, minRows: 500, maxPerDay: 3 };
const fresh = (): PolicyState => ({ retrains: [] });

describe('retrain trigger: the policy', () => {
  it('writes durations as a person says them', () => {
    expect([0, 45_000, 4 * MIN, 72 * MIN, 120 * MIN, 51 * 60 * MIN].map(duration)).to.deep.equal(['0 s', '45 s', '4 min', '1 h 12 min', '2 h', '2 d 3 h']);
  });

  it('acts only once drift has held for T, with enough new rows', () => {
    const s = fresh();
    expect(decide(C, s, { now: 0, newRows: 1000, state: 'warn' })).to.include({ act: false, reason: 'noDrift', text: 'no drift (warn)' });
    observeDrift(s, 'drift', 10 * MIN);
    expect(decide(C, s, { now: 11 * MIN, newRows: 1000 }).text).to.equal('drift for 1 min, waiting until it held 5 min: 4 min left');
    observeDrift(s, 'drift', 12 * MIN); // still the same episode
    expect(s.driftSince).to.equal(10 * MIN);
    expect(decide(C, s, { now: 15 * MIN, newRows: 200 }).text).to.equal('drift for 5 min: 200 new rows of 500 needed');
    const go = decide(C, s, { now: 15 * MIN, newRows: 800 });
    expect(go).to.include({ act: true, reason: 'go', text: 'drift for 5 min, 800 new rows: retraining' });
    // a break in the drift restarts the clock
    observeDrift(s, 'warn', 16 * MIN);
    observeDrift(s, 'drift', 17 * MIN);
    expect(decide(C, s, { now: 18 * MIN, newRows: 800 }).reason).to.equal('holding');
  });

  it('takes the drift report\'s own "since" when it is older than the first report seen', () => {
    const s = fresh();
    observeDrift(s, 'drift', 20 * MIN, 14 * MIN);
    expect(decide(C, s, { now: 20 * MIN, newRows: 800 }).act).to.equal(true);
  });

  it('waits for the cooldown after a retrain, then for the daily maximum', () => {
    const s = fresh();
    observeDrift(s, 'drift', 0);
    started(s, 10 * MIN);
    expect(decide(C, s, { now: 11 * MIN, newRows: 800 }).reason).to.equal('running');
    s.running = false;
    expect(decide(C, s, { now: 22 * MIN, newRows: 800 }).text).to.equal('drift for 22 min, cooldown 48 min left');
    started(s, 80 * MIN);
    s.running = false;
    started(s, 150 * MIN);
    s.running = false;
    const d = decide(C, s, { now: 220 * MIN, newRows: 800 });
    expect(d.reason).to.equal('daily');
    expect(d.text).to.equal('3 retrains in the last 24 h (at most 3): next possible in 20 h 30 min');
    // a day after the first, one is possible again
    expect(decide(C, s, { now: 10 * MIN + 24 * 60 * MIN, newRows: 800 }).act).to.equal(true);
  });

  it('never while a candidate waits for approval', () => {
    const s = fresh();
    observeDrift(s, 'drift', 0);
    s.pending = { name: 'bearing-fault', version: '1.0.1', since: 5 * MIN };
    expect(decide(C, s, { now: 600 * MIN, newRows: 5000 }).text).to.equal('candidate bearing-fault 1.0.1 waits for approval: no retrain until it is decided');
    expect(decide(C, s, { now: 600 * MIN, newRows: 5000, requested: true }).reason).to.equal('pending');
  });

  it('a request skips the hold and the cooldown, not the data, the pending candidate or the daily maximum', () => {
    const s = fresh();
    expect(decide(C, s, { now: 0, newRows: 800, requested: true })).to.include({ act: true, reason: 'goRequested', text: 'retrain requested, 800 new rows: retraining' });
    started(s, 0);
    s.running = false;
    expect(decide(C, s, { now: MIN, newRows: 800, requested: true }).act).to.equal(true);
    expect(decide(C, s, { now: MIN, newRows: 10, requested: true }).text).to.equal('retrain requested: 10 new rows of 500 needed');
    started(s, MIN);
    started(s, 2 * MIN);
    s.running = false;
    expect(decide(C, s, { now: 3 * MIN, newRows: 800, requested: true }).reason).to.equal('daily');
  });
});
