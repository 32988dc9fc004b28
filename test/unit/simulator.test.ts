import { expect } from "chai";
import { MachineModel, mulberry32, signalStats } from "../../scripts/simulator/machine";

describe("simulator machine model", () => {
  it("mulberry32 is deterministic and uniform-ish", () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const xs = Array.from({ length: 2000 }, () => a());
    expect(Array.from({ length: 2000 }, () => b())).to.deep.equal(xs);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).to.be.closeTo(0.5, 0.03);
    expect(Math.min(...xs)).to.be.at.least(0);
    expect(Math.max(...xs)).to.be.below(1);
  });

  it("same seed gives an identical series, different seeds differ", () => {
    const opts = { sampleRateHz: 1000, faultOnsetS: 1, faultGrowthS: 5, conditionChangeAtS: 2, repairAtS: 3 };
    const a = new MachineModel({ ...opts, seed: 42 });
    const b = new MachineModel({ ...opts, seed: 42 });
    const c = new MachineModel({ ...opts, seed: 43 });
    const sa = Array.from({ length: 4000 }, () => a.step());
    const sb = Array.from({ length: 4000 }, () => b.step());
    const sc = Array.from({ length: 4000 }, () => c.step());
    expect(sb).to.deep.equal(sa);
    expect(sc.map((s) => s.vibration)).to.not.deep.equal(sa.map((s) => s.vibration));
    expect(sc.map((s) => s.bearingTemperature)).to.not.deep.equal(sa.map((s) => s.bearingTemperature));
    // Ground truth does not depend on the seed.
    expect(sc.map((s) => s.faultSeverity)).to.deep.equal(sa.map((s) => s.faultSeverity));
  });

  it("sampleAt is a pure function of time (independent of call order) and agrees with step()", () => {
    const m = new MachineModel({ seed: 5, faultOnsetS: 0.5, faultGrowthS: 2 });
    const later = m.sampleAt(2.345);
    const stepped = Array.from({ length: 3000 }, () => m.step());
    expect(m.sampleAt(2.345)).to.deep.equal(later);
    expect(stepped[2345]).to.deep.equal(later);
    expect(stepped[10].t).to.be.closeTo(0.01, 1e-12);
    m.seek(1.5);
    expect(m.step()).to.deep.equal(stepped[1500]);
  });

  it("signals are physically plausible for a healthy machine", () => {
    const m = new MachineModel({ seed: 1 });
    const samples = m.sampleRange(10, 5000);
    for (const s of samples) {
      expect(s.faultSeverity).to.equal(0);
      expect(s.conditionId).to.equal(0);
      expect(s.speed).to.be.within(1470, 1500);
      expect(s.bearingTemperature).to.be.within(30, 45);
      expect(s.motorCurrent).to.be.within(5, 10);
      expect(Math.abs(s.vibration)).to.be.below(5);
    }
    const st = signalStats(samples.map((s) => s.vibration));
    expect(st.mean).to.be.closeTo(0, 0.05);
    expect(st.rms).to.be.within(0.5, 1.2);
    expect(st.kurtosis).to.be.below(3); // sinusoids plus Gaussian noise
  });

  it("a developing bearing fault raises vibration RMS, kurtosis, crest factor and temperature", () => {
    const m = new MachineModel({ seed: 9, faultOnsetS: 600, faultGrowthS: 3600 });
    const n = 20000; // 20 s at 1 kHz
    const early = signalStats(m.vibrationBlock(100, n));
    const late = signalStats(m.vibrationBlock(4000, n));
    expect(late.rms).to.be.greaterThan(2 * early.rms);
    expect(late.kurtosis).to.be.greaterThan(early.kurtosis + 2);
    expect(late.kurtosis).to.be.greaterThan(5);
    expect(late.crest).to.be.greaterThan(early.crest * 1.5);
    expect(late.mean).to.be.closeTo(0, 0.1); // AC-coupled accelerometer
    const tEarly = m.sampleAt(100).bearingTemperature;
    const tLate = m.sampleAt(4000).bearingTemperature;
    expect(tLate - tEarly).to.be.greaterThan(10);
    expect(m.sampleAt(4000).motorCurrent).to.be.greaterThan(m.sampleAt(100).motorCurrent);
  });

  it("fault severity is 0 before onset, grows monotonically (slowly at first) and saturates at 1", () => {
    const m = new MachineModel({ faultOnsetS: 100, faultGrowthS: 1000 });
    expect(m.faultSeverityAt(0)).to.equal(0);
    expect(m.faultSeverityAt(100)).to.equal(0);
    let prev = 0;
    for (let t = 100; t <= 1100; t += 10) {
      const s = m.faultSeverityAt(t);
      expect(s).to.be.at.least(prev);
      prev = s;
    }
    expect(m.faultSeverityAt(600)).to.be.below(0.5); // accelerating growth
    expect(m.faultSeverityAt(1100)).to.equal(1);
    expect(m.faultSeverityAt(5000)).to.equal(1);
    expect(new MachineModel({}).faultSeverityAt(1e9)).to.equal(0); // healthy by default
  });

  it("a repair (repairAtS) replaces the bearing: severity 0 after it, the ground truth says so", () => {
    const m = new MachineModel({ faultOnsetS: 100, faultGrowthS: 1000, repairAtS: 900 });
    const unrepaired = new MachineModel({ faultOnsetS: 100, faultGrowthS: 1000 });
    // before the repair the fault grows as without it; the sample at exactly repairAtS is the old bearing's
    for (const t of [0, 100, 300, 600, 899, 900]) expect(m.faultSeverityAt(t), `t=${t}`).to.equal(unrepaired.faultSeverityAt(t));
    expect(m.faultSeverityAt(900)).to.be.above(0.3);
    // after it, 0 for good (also past the end of the old bearing's growth)
    for (const t of [900.001, 901, 1100, 5000, 1e9]) expect(m.faultSeverityAt(t), `t=${t}`).to.equal(0);
    expect(m.sampleAt(899).faultSeverity).to.be.above(0.3);
    expect(m.sampleAt(900.001).faultSeverity).to.equal(0);
    expect(m.sampleAt(901).faultSeverity).to.equal(0);
    expect(m.options.repairAtS).to.equal(900);
    expect(new MachineModel({}).options.repairAtS).to.equal(Infinity); // never by default
    // a fault whose onset is after the repair never shows: the new bearing stays healthy
    expect(new MachineModel({ repairAtS: 10, faultOnsetS: 100, faultGrowthS: 100 }).faultSeverityAt(500)).to.equal(0);
    // the lowest and highest severity over an interval, the repair inside it or not
    expect(m.faultSeverityRange(850, 950)).to.deep.equal({ min: 0, max: m.faultSeverityAt(900) });
    expect(m.faultSeverityRange(500, 600)).to.deep.equal({ min: m.faultSeverityAt(500), max: m.faultSeverityAt(600) });
    expect(m.faultSeverityRange(950, 1200)).to.deep.equal({ min: 0, max: 0 });
    expect(unrepaired.faultSeverityRange(850, 950)).to.deep.equal({ min: unrepaired.faultSeverityAt(850), max: unrepaired.faultSeverityAt(950) });
  });

  it("after a repair, vibration RMS, kurtosis, crest factor, temperature and current are back to a healthy machine's", () => {
    const opts = { seed: 9, faultOnsetS: 600, faultGrowthS: 3600 };
    const repaired = new MachineModel({ ...opts, repairAtS: 4000 });
    const faulty = new MachineModel(opts);
    const healthy = new MachineModel({ seed: 9 });
    const n = 20000; // 20 s at 1 kHz
    const before = signalStats(repaired.vibrationBlock(3970, n)); // the old bearing, severity ~0.7
    const after = signalStats(repaired.vibrationBlock(4010, n));
    const healthyStats = signalStats(healthy.vibrationBlock(4010, n));
    expect(before.kurtosis).to.be.greaterThan(5);
    expect(after.kurtosis).to.be.below(3); // sinusoids plus Gaussian noise, as a healthy bearing
    expect(after.rms).to.be.below(before.rms / 2);
    expect(after.crest).to.be.below(before.crest);
    // the same seed without any fault: the very same samples (every fault term is gone)
    expect(after.rms).to.equal(healthyStats.rms);
    expect(after.kurtosis).to.equal(healthyStats.kurtosis);
    expect(repaired.sampleRange(4010, 1000)).to.deep.equal(healthy.sampleRange(4010, 1000));
    expect(repaired.sampleAt(4010).bearingTemperature).to.be.below(faulty.sampleAt(4010).bearingTemperature - 8);
    expect(repaired.sampleAt(4010).motorCurrent).to.be.below(faulty.sampleAt(4010).motorCurrent);
    // before the repair nothing differs from the run without it
    expect(repaired.sampleRange(3990, 1000)).to.deep.equal(faulty.sampleRange(3990, 1000));
  });

  it("a repair at the condition change (the demo's timeline): healthy condition B after it, deterministic", () => {
    const opts = { seed: 42, faultOnsetS: 600, faultGrowthS: 2400, conditionChangeAtS: 2700, repairAtS: 2700 };
    const a = new MachineModel(opts);
    const b = new MachineModel(opts);
    const sa = a.sampleRange(2690, 20000);
    expect(b.sampleRange(2690, 20000)).to.deep.equal(sa);
    // sampleAt stays a pure function of time across the repair
    expect(a.sampleAt(2700.5)).to.deep.equal(sa[10500]);
    // healthy B: the same as a run in B that never had the fault
    const neverFaulty = new MachineModel({ seed: 42, conditionChangeAtS: 2700 });
    expect(a.sampleRange(2701, 5000)).to.deep.equal(neverFaulty.sampleRange(2701, 5000));
    expect(sa[9999].faultSeverity).to.be.above(0.5); // 2699.999 s: the old bearing, condition A
    expect(sa[9999].conditionId).to.equal(0);
    expect(sa[10001].faultSeverity).to.equal(0); // 2700.001 s: replaced, condition B (ramping)
    expect(sa[10001].conditionId).to.equal(1);
    expect(signalStats(a.vibrationBlock(2720, 20000)).kurtosis).to.be.below(3);
  });

  it("a condition change shifts speed, current and (after the thermal lag) temperature", () => {
    const m = new MachineModel({ seed: 3, conditionChangeAtS: 100, conditionRampS: 10 });
    const before = m.sampleRange(50, 2000);
    const after = m.sampleRange(150, 2000);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(before.every((s) => s.conditionId === 0)).to.equal(true);
    expect(after.every((s) => s.conditionId === 1)).to.equal(true);
    expect(mean(after.map((s) => s.speed)) - mean(before.map((s) => s.speed))).to.be.within(250, 350);
    expect(mean(after.map((s) => s.motorCurrent))).to.be.greaterThan(mean(before.map((s) => s.motorCurrent)) + 2);
    // Higher speed: the 1x unbalance component grows with speed^2.
    expect(signalStats(after.map((s) => s.vibration)).rms).to.be.greaterThan(
      signalStats(before.map((s) => s.vibration)).rms * 1.2,
    );
    // During the ramp the setpoint is in between.
    const mid = m.sampleAt(105);
    expect(mid.speedSetpointRpm).to.be.closeTo(1650, 1);
    // Temperature follows with a first-order lag (tau 900 s): a little after 50 s, most after 3 tau.
    const t0 = m.sampleAt(99).bearingTemperature;
    const t1 = m.sampleAt(160).bearingTemperature;
    const t3 = m.sampleAt(100 + 3 * 900).bearingTemperature;
    expect(t1 - t0).to.be.within(0.1, 3);
    expect(t3 - t0).to.be.greaterThan(5);
    expect(m.conditionAt(99).id).to.equal(0);
    expect(m.conditionAt(100).id).to.equal(1);
  });

  it("supports several condition changes", () => {
    const m = new MachineModel({
      conditionChanges: [
        { atS: 200, condition: { id: 2, speedRpm: 1000, load: 0.3 } },
        { atS: 100, condition: { id: 1, speedRpm: 1800, load: 0.9 } },
      ],
      conditionRampS: 0,
    });
    expect(m.sampleAt(50).conditionId).to.equal(0);
    expect(m.sampleAt(150).conditionId).to.equal(1);
    expect(m.sampleAt(150).speedSetpointRpm).to.equal(1800);
    expect(m.sampleAt(250).conditionId).to.equal(2);
    expect(m.sampleAt(250).speed).to.be.within(970, 1000);
  });
});
