/**
 * A deterministic, physics-flavoured model of a rotating machine: an induction
 * motor driving a load through a shaft carried by rolling-element bearings.
 *
 * Pure TypeScript, no OPC UA import: `server.ts` publishes it, tests and
 * benchmarks can use it directly.
 *
 * Every channel is a pure function of (seed, sample index): `sampleAt(t)`
 * gives the same value whatever was asked before, and `step()` walks the
 * sample grid one sample at a time. Noise comes from a counter-based hash
 * (a mulberry32-style mixer keyed by seed, channel and sample index) fed
 * through Box-Muller, never from Math.random. Slow dynamics (the thermal lag,
 * the shaft phase) are solved in closed form, so no state is integrated.
 *
 * Channels (units):
 *   speed               rpm    measured shaft speed
 *   vibration           m/s^2  bearing-housing acceleration, sampled at sampleRateHz
 *   bearingTemperature  degC   bearing outer-ring temperature
 *   motorCurrent        A      RMS phase current
 * Ground truth: faultSeverity (0..1), conditionId, load (0..1), speedSetpointRpm.
 *
 * The bearing fault starts at faultOnsetS and grows; a repair at repairAtS replaces the bearing:
 * from then on the severity is 0 and every channel is what a healthy bearing gives (the defect's
 * impacts and tone stop, its friction heat and current go at once, as they came without lag).
 */

/** One operating condition: a speed setpoint and a load (fraction of rated torque). */
export interface OperatingCondition {
  /** Identifier published as OperatingCondition (0 for the initial condition). */
  id: number;
  speedRpm: number;
  /** Fraction of rated torque, 0..1.2. */
  load: number;
}

/** A change of operating condition: at `atS` the machine ramps (over conditionRampS) to `condition`. */
export interface ConditionChange {
  atS: number;
  condition: OperatingCondition;
}

export interface MachineModelOptions {
  /** PRNG seed (any 32-bit integer). Default 42. */
  seed?: number;
  /** Vibration sample rate, Hz; every channel lives on this time grid. Default 1000. */
  sampleRateHz?: number;
  /** Simulated second at which a bearing outer-race defect starts. Default Infinity (healthy). */
  faultOnsetS?: number;
  /** Seconds from onset to full severity (1). Default 3600. */
  faultGrowthS?: number;
  /** Curvature of the severity growth: 0 = linear, larger = slower start. Default 3. */
  faultGrowthCurvature?: number;
  /**
   * Simulated second at which the bearing is replaced (a repair): the fault severity is 0 after it
   * (for t > repairAtS; the sample at exactly repairAtS is still the old bearing's, as the sample at
   * exactly faultOnsetS is still healthy), whatever faultOnsetS says: the new bearing stays healthy.
   * Default Infinity (never).
   */
  repairAtS?: number;
  /** Initial operating condition. Default { id: 0, speedRpm: 1500, load: 0.6 }. */
  initialCondition?: Partial<OperatingCondition>;
  /** Shorthand for one condition change: when to change ... Default Infinity (never). */
  conditionChangeAtS?: number;
  /** ... and to what. Default { id: 1, speedRpm: 1800, load: 0.85 }. */
  changedCondition?: Partial<OperatingCondition>;
  /** Any number of changes (used instead of conditionChangeAtS/changedCondition when given). */
  conditionChanges?: ConditionChange[];
  /** Duration of the linear speed/load ramp at a condition change, s. Default 10. */
  conditionRampS?: number;
  /** Ambient temperature, degC. Default 25. */
  ambientTemperatureC?: number;
  /** Thermal time constant of the bearing housing, s. Default 900. */
  thermalTimeConstantS?: number;
  /** Start thermally settled at the initial condition (true) or at ambient (false). Default true. */
  startWarm?: boolean;
  /** Multiplies every noise standard deviation. Default 1. */
  noiseScale?: number;
  /** Ball-pass frequency outer race, in orders of shaft speed. Default 3.58 (a 6205-like bearing). */
  bpfoOrder?: number;
  /** Structural resonance excited by the defect impacts, Hz. Default 0.3 * sampleRateHz. */
  resonanceHz?: number;
}

/** One sample of every channel and the ground truth at simulated time t. */
export interface MachineSample {
  /** Simulated time of the sample, s (t = index / sampleRateHz). */
  t: number;
  /** Sample index on the sampleRateHz grid. */
  index: number;
  /** Bearing-housing acceleration, m/s^2. */
  vibration: number;
  /** Bearing temperature, degC. */
  bearingTemperature: number;
  /** Motor phase current (RMS), A. */
  motorCurrent: number;
  /** Measured shaft speed, rpm. */
  speed: number;
  /** Ground truth: fault severity 0 (healthy) .. 1 (end of life). */
  faultSeverity: number;
  /** Ground truth: id of the operating condition in force. */
  conditionId: number;
  /** Ground truth: load, fraction of rated torque (ramps during a change). */
  load: number;
  /** Ground truth: speed setpoint, rpm (ramps during a change). */
  speedSetpointRpm: number;
}

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

import { mulberry32 } from '../../nodes/lib/random';
export { mulberry32 };

/** The mulberry32 output mixer used as a hash of one 32-bit word. */
function mix32(x: number): number {
  let t = (x + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** Counter-based uniform in (0, 1): a hash of (seed, stream, index, k). */
function uniformAt(seed: number, stream: number, index: number, k: number): number {
  const lo = index >>> 0;
  const hi = Math.floor(index / 4294967296) >>> 0;
  let h = mix32(seed ^ Math.imul(stream + 1, 0x9e3779b1));
  h = mix32(h ^ lo);
  h = mix32(h ^ Math.imul(hi + 1, 0x85ebca77));
  h = mix32(h ^ Math.imul(k + 1, 0xc2b2ae3d));
  return (h + 0.5) / 4294967296;
}

/** Standard normal via Box-Muller from two counter-based uniforms. */
function gaussAt(seed: number, stream: number, index: number): number {
  const u1 = uniformAt(seed, stream, index, 0);
  const u2 = uniformAt(seed, stream, index, 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

// Noise streams, one per channel, so channels are independent.
const STREAM_VIBRATION = 1;
const STREAM_TEMPERATURE = 2;
const STREAM_CURRENT = 3;
const STREAM_SPEED = 4;
const STREAM_IMPACT_AMPLITUDE = 5;
const STREAM_IMPACT_JITTER = 6;

// ---------------------------------------------------------------------------
// Physical constants of the machine (documented in README.md)
// ---------------------------------------------------------------------------

/** Reference speed for the speed-dependent scalings, rpm. */
const REFERENCE_RPM = 1500;
/** Speed droop (slip) at full load, rpm. */
const DROOP_RPM_AT_FULL_LOAD = 20;
/** 1x (unbalance) acceleration amplitude at the reference speed, m/s^2; scales with speed^2. */
const A_1X = 1.0;
/** 2x (misalignment) amplitude at the reference speed and zero load, m/s^2; grows with load. */
const A_2X = 0.3;
/** Broadband vibration noise, m/s^2 (1 sigma) at zero load. */
const SIGMA_VIBRATION = 0.25;
/** Amplitude of the defect tone at BPFO at severity 1, m/s^2. */
const A_DEFECT_TONE = 0.4;
/** Peak of one defect impact response at severity 1, m/s^2. */
const A_IMPACT = 12.0;
/** Log-normal spread of the impact strength; the shift makes the mean strength 1. */
const IMPACT_LOG_SIGMA = 0.6;
const IMPACT_LOG_MEAN_SHIFT = (IMPACT_LOG_SIGMA * IMPACT_LOG_SIGMA) / 2;
/** Temperature rise at full load and reference speed over ambient, K. */
const K_THERMAL_LOAD = 20;
/** Extra bearing temperature at severity 1 (friction of the damaged race), K. */
const K_THERMAL_FAULT = 15;
/** Motor magnetising current, A. */
const I_MAGNETISING = 4.0;
/** Motor torque-producing current at rated torque and reference speed, A. */
const I_RATED_ACTIVE = 10.5;
/** Fractional increase of current at severity 1 (bearing friction torque). */
const K_CURRENT_FAULT = 0.05;

interface Knot {
  t: number;
  speedRpm: number;
  load: number;
  /** Thermal steady state the temperature heads for at this knot. */
  tempTarget: number;
  /** Shaft revolutions accumulated since t = 0 (setpoint and droop part only). */
  revs: number;
  /** Lagged temperature at this knot (closed-form first-order response). */
  temp: number;
}

const DEFAULT_INITIAL: OperatingCondition = { id: 0, speedRpm: 1500, load: 0.6 };
const DEFAULT_CHANGED: OperatingCondition = { id: 1, speedRpm: 1800, load: 0.85 };

/** The resolved options of a model (every default filled in). */
export type ResolvedMachineOptions = Required<
  Omit<MachineModelOptions, "initialCondition" | "changedCondition" | "conditionChanges" | "conditionChangeAtS">
> & {
  initialCondition: OperatingCondition;
  conditionChanges: ConditionChange[];
};

export class MachineModel {
  readonly options: ResolvedMachineOptions;
  private readonly seed: number;
  private readonly knots: Knot[];
  /** Per-run constants drawn once from mulberry32(seed). */
  private readonly phase1x: number;
  private readonly phase2x: number;
  private readonly phaseDefect: number;
  private readonly wander: { amp: number; periodS: number; phase: number }[];
  private index = 0;

  constructor(options: MachineModelOptions = {}) {
    const sampleRateHz = options.sampleRateHz ?? 1000;
    if (!(sampleRateHz > 0)) throw new Error("sampleRateHz must be > 0");
    const initialCondition: OperatingCondition = { ...DEFAULT_INITIAL, ...options.initialCondition };
    let conditionChanges: ConditionChange[];
    if (options.conditionChanges) {
      conditionChanges = options.conditionChanges.map((c) => ({ atS: c.atS, condition: { ...c.condition } }));
    } else if (options.conditionChangeAtS !== undefined && Number.isFinite(options.conditionChangeAtS)) {
      conditionChanges = [
        { atS: options.conditionChangeAtS, condition: { ...DEFAULT_CHANGED, ...options.changedCondition } },
      ];
    } else {
      conditionChanges = [];
    }
    conditionChanges.sort((a, b) => a.atS - b.atS);
    this.options = {
      seed: options.seed ?? 42,
      sampleRateHz,
      faultOnsetS: options.faultOnsetS ?? Infinity,
      faultGrowthS: options.faultGrowthS ?? 3600,
      faultGrowthCurvature: options.faultGrowthCurvature ?? 3,
      repairAtS: options.repairAtS ?? Infinity,
      initialCondition,
      conditionChanges,
      conditionRampS: options.conditionRampS ?? 10,
      ambientTemperatureC: options.ambientTemperatureC ?? 25,
      thermalTimeConstantS: options.thermalTimeConstantS ?? 900,
      startWarm: options.startWarm ?? true,
      noiseScale: options.noiseScale ?? 1,
      bpfoOrder: options.bpfoOrder ?? 3.58,
      resonanceHz: options.resonanceHz ?? 0.3 * sampleRateHz,
    };
    if (this.options.resonanceHz >= sampleRateHz / 2) throw new Error("resonanceHz must be below sampleRateHz / 2");
    this.seed = this.options.seed >>> 0;

    const rng = mulberry32(this.seed ^ 0x5eed1234);
    this.phase1x = 2 * Math.PI * rng();
    this.phase2x = 2 * Math.PI * rng();
    this.phaseDefect = 2 * Math.PI * rng();
    // Slow speed wander of the drive (supply and load fluctuations): two sinusoids.
    this.wander = [
      { amp: 1.5, periodS: 40 + 20 * rng(), phase: 2 * Math.PI * rng() },
      { amp: 0.8, periodS: 9 + 6 * rng(), phase: 2 * Math.PI * rng() },
    ];
    this.knots = this.buildKnots();
  }

  /** Simulated time between two samples, s. */
  get dt(): number {
    return 1 / this.options.sampleRateHz;
  }

  /** Index of the next sample `step()` returns. */
  get currentIndex(): number {
    return this.index;
  }

  /** Simulated time of the next sample `step()` returns, s. */
  get currentTime(): number {
    return this.index / this.options.sampleRateHz;
  }

  /** Move the `step()` cursor to simulated time t (rounded to the sample grid). */
  seek(tSeconds: number): void {
    this.index = Math.max(0, Math.round(tSeconds * this.options.sampleRateHz));
  }

  /** The next sample on the grid (starting at t = 0). */
  step(): MachineSample {
    return this.sampleAtIndex(this.index++);
  }

  /** The sample at simulated time t (rounded to the sampleRateHz grid; t < 0 is clamped to 0). */
  sampleAt(tSeconds: number): MachineSample {
    return this.sampleAtIndex(Math.max(0, Math.round(tSeconds * this.options.sampleRateHz)));
  }

  /** `count` consecutive samples starting at simulated time startS. */
  sampleRange(startS: number, count: number): MachineSample[] {
    const first = Math.max(0, Math.round(startS * this.options.sampleRateHz));
    const out: MachineSample[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = this.sampleAtIndex(first + i);
    return out;
  }

  /** Vibration only, `count` consecutive samples from startS (for waveform blocks and feature tests). */
  vibrationBlock(startS: number, count: number): Float64Array {
    const first = Math.max(0, Math.round(startS * this.options.sampleRateHz));
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = this.sampleAtIndex(first + i).vibration;
    return out;
  }

  /**
   * Ground truth fault severity at t: 0 before onset, then
   * s(x) = (e^(k x) - 1) / (e^k - 1) with x = (t - onset) / growth, k = faultGrowthCurvature,
   * so damage starts slowly and accelerates, reaching 1 at onset + growth (then stays at 1);
   * 0 again after repairAtS (the bearing replaced).
   */
  faultSeverityAt(tSeconds: number): number {
    const { faultOnsetS, faultGrowthS, faultGrowthCurvature: k, repairAtS } = this.options;
    if (!(tSeconds > faultOnsetS) || tSeconds > repairAtS) return 0;
    const x = faultGrowthS > 0 ? (tSeconds - faultOnsetS) / faultGrowthS : 1;
    if (x >= 1) return 1;
    return k === 0 ? x : Math.expm1(k * x) / Math.expm1(k);
  }

  /**
   * The lowest and the highest ground truth fault severity over [startS, endS]. Without a repair the
   * severity only grows, so they are its values at the two ends; with a repair inside the interval
   * the highest is the old bearing's last (at repairAtS) and the lowest 0. For labelling a window
   * of samples by its worst (and best) moment.
   */
  faultSeverityRange(startS: number, endS: number): { min: number; max: number } {
    const a = this.faultSeverityAt(startS);
    const b = this.faultSeverityAt(endS);
    const r = this.options.repairAtS;
    if (startS <= r && r < endS) {
      const last = this.faultSeverityAt(r);
      return { min: Math.min(a, b), max: Math.max(a, last) };
    }
    return { min: Math.min(a, b), max: Math.max(a, b) };
  }

  /** Ground truth operating condition in force at t (it switches when the change starts). */
  conditionAt(tSeconds: number): OperatingCondition {
    let c = this.options.initialCondition;
    for (const change of this.options.conditionChanges) {
      if (tSeconds >= change.atS) c = change.condition;
      else break;
    }
    return c;
  }

  // -------------------------------------------------------------------------

  /**
   * Knots of the piecewise-linear schedule of speed setpoint, load and thermal target.
   * Between knots everything is linear, which lets the shaft phase (integral of speed) and
   * the first-order thermal lag be solved exactly.
   */
  private buildKnots(): Knot[] {
    const o = this.options;
    const ramp = Math.max(0, o.conditionRampS);
    const points: { t: number; c: OperatingCondition }[] = [{ t: 0, c: o.initialCondition }];
    let prev = o.initialCondition;
    for (const change of o.conditionChanges) {
      const start = Math.max(change.atS, points[points.length - 1].t);
      points.push({ t: start, c: prev });
      points.push({ t: start + ramp, c: change.condition });
      prev = change.condition;
    }
    const knots: Knot[] = [];
    for (const p of points) {
      const tempTarget = this.thermalTarget(p.c.speedRpm, p.c.load);
      if (knots.length === 0) {
        knots.push({
          t: p.t,
          speedRpm: p.c.speedRpm,
          load: p.c.load,
          tempTarget,
          revs: 0,
          temp: o.startWarm ? tempTarget : o.ambientTemperatureC,
        });
        continue;
      }
      const k = knots[knots.length - 1];
      const dt = p.t - k.t;
      const next: Knot = { t: p.t, speedRpm: p.c.speedRpm, load: p.c.load, tempTarget, revs: 0, temp: 0 };
      next.revs = k.revs + this.revsOver(k, next, dt);
      next.temp = this.lagOver(k, next, dt);
      knots.push(next);
    }
    return knots;
  }

  /** Thermal steady state: ambient + K * load * (0.5 + 0.5 * speed / reference) (friction and copper losses). */
  private thermalTarget(speedRpm: number, load: number): number {
    return this.options.ambientTemperatureC + K_THERMAL_LOAD * load * (0.5 + (0.5 * speedRpm) / REFERENCE_RPM);
  }

  /** Shaft speed without wander, rpm: setpoint minus slip droop proportional to load. */
  private static shaftRpm(speedRpm: number, load: number): number {
    return speedRpm - DROOP_RPM_AT_FULL_LOAD * load;
  }

  /** Revolutions turned between knot a and a + dt on the linear segment a -> b (exact integral). */
  private revsOver(a: Knot, b: Knot, dt: number): number {
    if (dt <= 0) return 0;
    const f0 = MachineModel.shaftRpm(a.speedRpm, a.load) / 60;
    const f1 = MachineModel.shaftRpm(b.speedRpm, b.load) / 60;
    const span = b.t - a.t;
    const slope = span > 0 ? (f1 - f0) / span : 0;
    return f0 * dt + 0.5 * slope * dt * dt;
  }

  /**
   * First-order lag y' = (u - y) / tau over a linear input u(t) = u0 + m (t - t0):
   * y(t) = u(t) - m tau + (y0 - u0 + m tau) e^(-(t - t0) / tau)  (exact).
   */
  private lagOver(a: Knot, b: Knot, dt: number): number {
    const tau = this.options.thermalTimeConstantS;
    const span = b.t - a.t;
    const m = span > 0 ? (b.tempTarget - a.tempTarget) / span : 0;
    const u = a.tempTarget + m * dt;
    if (tau <= 0) return u;
    return u - m * tau + (a.temp - a.tempTarget + m * tau) * Math.exp(-dt / tau);
  }

  private sampleAtIndex(index: number): MachineSample {
    const o = this.options;
    const t = index / o.sampleRateHz;
    const ns = o.noiseScale;

    // Locate the schedule segment [knots[i], knots[i+1]) holding t (few knots: linear scan).
    const knots = this.knots;
    let i = knots.length - 1;
    while (i > 0 && knots[i].t > t) i--;
    const a = knots[i];
    const b = i + 1 < knots.length ? knots[i + 1] : a;
    const dt = t - a.t;
    const frac = b.t > a.t ? dt / (b.t - a.t) : 0;
    const speedSetpointRpm = a.speedRpm + (b.speedRpm - a.speedRpm) * frac;
    const load = a.load + (b.load - a.load) * frac;
    const severity = this.faultSeverityAt(t);
    const conditionId = this.conditionAt(t).id;

    // --- speed: setpoint - droop * load + slow wander (+ measurement noise on the reading) ---
    let wanderRpm = 0;
    let wanderRevs = 0; // exact integral of the wander, in revolutions
    for (const w of this.wander) {
      const omega = (2 * Math.PI) / w.periodS;
      wanderRpm += w.amp * Math.sin(omega * t + w.phase);
      wanderRevs += ((w.amp / 60) * (Math.cos(w.phase) - Math.cos(omega * t + w.phase))) / omega;
    }
    const shaftRpm = MachineModel.shaftRpm(speedSetpointRpm, load) + wanderRpm;
    const speed = shaftRpm + 0.3 * ns * gaussAt(this.seed, STREAM_SPEED, index);

    // --- vibration acceleration ---
    // Shaft angle (revolutions) integrates the shaft speed exactly along the schedule.
    const revs = a.revs + this.revsOver(a, b, dt) + wanderRevs;
    const fShaft = shaftRpm / 60;
    const speedRatio = shaftRpm / REFERENCE_RPM;
    // 1x: unbalance force grows with speed^2.
    const v1 = A_1X * speedRatio * speedRatio * Math.sin(2 * Math.PI * revs + this.phase1x);
    // 2x: misalignment, grows with transmitted torque (load).
    const v2 = A_2X * (0.5 + load) * speedRatio * speedRatio * Math.sin(4 * Math.PI * revs + this.phase2x);
    // Broadband noise (flow, gear mesh, sensor), more with load and with damage.
    const sigmaV = SIGMA_VIBRATION * ns * (0.8 + 0.4 * load) * (1 + 1.5 * severity);
    let vibration = v1 + v2 + sigmaV * gaussAt(this.seed, STREAM_VIBRATION, index);
    if (severity > 0) {
      // Outer-race defect: a rolling element hits the defect at BPFO = bpfoOrder * shaft speed.
      // (1) a tone at BPFO, (2) each impact rings the housing resonance with a decaying sinusoid.
      const passes = revs * o.bpfoOrder; // defect passes since start
      vibration += A_DEFECT_TONE * severity * Math.sin(2 * Math.PI * passes + this.phaseDefect);
      const fImpact = o.bpfoOrder * Math.max(fShaft, 1e-6);
      const fr = o.resonanceHz;
      const tau = 1 / fr; // decay time constant of the ringing: one resonance cycle (heavily damped)
      const omega = 2 * Math.PI * fr;
      // The accelerometer is AC-coupled: remove the mean the one-sided ringing would add
      // (the integral of e^(-t/tau) sin(omega t) is omega / (omega^2 + tau^-2) per impact).
      vibration -= A_IMPACT * severity * fImpact * (omega / (omega * omega + 1 / (tau * tau)));
      const k0 = Math.floor(passes);
      for (let k = k0; k > k0 - 4 && k >= 0; k--) {
        // Slip of the rolling elements: each impact comes up to 10% of a period late.
        const jitter = 0.1 * uniformAt(this.seed, STREAM_IMPACT_JITTER, k, 0);
        const since = (passes - k - jitter) / fImpact; // seconds since impact k
        if (since < 0) continue;
        // Impact strength varies from hit to hit (load-zone position, debris): log-normal, heavy-tailed.
        const amp = Math.exp(IMPACT_LOG_SIGMA * gaussAt(this.seed, STREAM_IMPACT_AMPLITUDE, k) - IMPACT_LOG_MEAN_SHIFT);
        vibration += A_IMPACT * severity * amp * Math.exp(-since / tau) * Math.sin(omega * since);
      }
    }

    // --- bearing temperature: first-order lag of the load/speed target + fault heating ---
    // The fault term is added without lag: damage grows over faultGrowthS, much slower than
    // the thermal time constant with the default options. A repair (repairAtS) takes it away at
    // once: the new bearing runs at the temperature of a healthy one (the stop for the
    // replacement is not simulated).
    const lagged = this.lagOver(a, b, dt);
    const bearingTemperature =
      lagged + K_THERMAL_FAULT * severity + 0.05 * ns * gaussAt(this.seed, STREAM_TEMPERATURE, index);

    // --- motor current: magnetising and torque-producing components in quadrature ---
    // The active component follows mechanical power (torque * speed); bearing friction adds torque.
    const active = I_RATED_ACTIVE * load * (shaftRpm / REFERENCE_RPM) * (1 + K_CURRENT_FAULT * severity);
    const motorCurrent =
      Math.sqrt(I_MAGNETISING * I_MAGNETISING + active * active) +
      0.08 * ns * gaussAt(this.seed, STREAM_CURRENT, index);

    return {
      t,
      index,
      vibration,
      bearingTemperature,
      motorCurrent,
      speed,
      faultSeverity: severity,
      conditionId,
      load,
      speedSetpointRpm,
    };
  }
}

/** Summary statistics used by tests and the README: RMS, kurtosis (Pearson, normal = 3), crest factor. */
export function signalStats(x: ArrayLike<number>): { mean: number; rms: number; std: number; kurtosis: number; crest: number } {
  const n = x.length;
  let sum = 0;
  let sumSq = 0;
  let peak = 0;
  for (let i = 0; i < n; i++) {
    sum += x[i];
    sumSq += x[i] * x[i];
    peak = Math.max(peak, Math.abs(x[i]));
  }
  const mean = sum / n;
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i] - mean;
    const d2 = d * d;
    m2 += d2;
    m4 += d2 * d2;
  }
  m2 /= n;
  m4 /= n;
  const rms = Math.sqrt(sumSq / n);
  return { mean, rms, std: Math.sqrt(m2), kurtosis: m2 > 0 ? m4 / (m2 * m2) : 0, crest: rms > 0 ? peak / rms : 0 };
}
