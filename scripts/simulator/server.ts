/**
 * OPC UA server publishing the rotating-machine simulator (machine.ts).
 *
 *   const sim = await startSimulator({ port: 0, seed: 42, tickMs: 100, timeScale: 60 });
 *   sim.endpointUrl   // opc.tcp://127.0.0.1:<port>/UA/MachineSimulator
 *   await sim.stop(); await sim.start();   // same port, same certificate
 *
 * Every `tickMs` wall milliseconds simulated time advances by tickMs * timeScale / 1000 s and
 * every variable is published with setValueFromSource and a source timestamp on the simulated
 * clock (startTime + simulated seconds). Simulated time is paused while the server is stopped
 * or paused, so a restart continues the same deterministic series.
 */
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import { DataType, MessageSecurityMode, SecurityPolicy, StatusCode, StatusCodes, Variant } from "node-opcua-client";
import { MonitoredItem, OPCUAServer } from "node-opcua-server";
import type { UAVariable } from "node-opcua-address-space";
import { MachineModel, type MachineModelOptions, type MachineSample } from "./machine";

/** Published channels, their fixed NodeIds (namespace 1 = the server's own namespace) and units. */
export const SIMULATOR_VARIABLES = [
  { channel: "vibration", nodeId: "ns=1;s=Machine1.Vibration", browseName: "Vibration", dataType: "Double", unit: "m/s^2", description: "Bearing-housing acceleration (one sample of the vibration signal per tick)" },
  { channel: "bearingTemperature", nodeId: "ns=1;s=Machine1.BearingTemperature", browseName: "BearingTemperature", dataType: "Double", unit: "degC", description: "Bearing outer-ring temperature" },
  { channel: "motorCurrent", nodeId: "ns=1;s=Machine1.MotorCurrent", browseName: "MotorCurrent", dataType: "Double", unit: "A", description: "Motor phase current (RMS)" },
  { channel: "speed", nodeId: "ns=1;s=Machine1.Speed", browseName: "Speed", dataType: "Double", unit: "rpm", description: "Measured shaft speed" },
  { channel: "load", nodeId: "ns=1;s=Machine1.Load", browseName: "Load", dataType: "Double", unit: "1", description: "Ground truth: load as a fraction of rated torque" },
  { channel: "faultSeverity", nodeId: "ns=1;s=Machine1.FaultSeverity", browseName: "FaultSeverity", dataType: "Double", unit: "1", description: "Ground truth: bearing fault severity 0..1" },
  { channel: "operatingCondition", nodeId: "ns=1;s=Machine1.OperatingCondition", browseName: "OperatingCondition", dataType: "Int32", unit: "", description: "Ground truth: operating condition id" },
  { channel: "simulatedTime", nodeId: "ns=1;s=Machine1.SimulatedTime", browseName: "SimulatedTime", dataType: "Double", unit: "s", description: "Simulated seconds since the start of the run" },
] as const;

export type SimulatorChannel = (typeof SIMULATOR_VARIABLES)[number]["channel"];

/** NodeId of the Machine1 object (organized by the Objects folder). */
export const MACHINE_OBJECT_NODE_ID = "ns=1;s=Machine1";

/** channel -> NodeId string, e.g. NODE_IDS.vibration === "ns=1;s=Machine1.Vibration". */
export const NODE_IDS: Readonly<Record<SimulatorChannel, string>> = Object.freeze(
  Object.fromEntries(SIMULATOR_VARIABLES.map((v) => [v.channel, v.nodeId])) as Record<SimulatorChannel, string>,
);

/** The channels a data consumer normally reads (the four sensors). */
export const SENSOR_CHANNELS: readonly SimulatorChannel[] = ["vibration", "bearingTemperature", "motorCurrent", "speed"];

export type SecurityModeName = "None" | "Sign" | "SignAndEncrypt";
export type SecurityPolicyName = "None" | "Basic256Sha256" | "Aes128_Sha256_RsaOaep" | "Aes256_Sha256_RsaPss";

export interface SimulatorUser {
  username: string;
  password: string;
}

export interface SimulatorOptions {
  /** TCP port; 0 (default) picks a free port once, and restarts reuse it. */
  port?: number;
  /** Address to listen on. Default "127.0.0.1" (loopback only). */
  host?: string;
  /** Host name in the endpoint URL and the certificate. Default: same as host. */
  hostname?: string;
  /** Path at the end of the endpoint URL. Default "/UA/MachineSimulator". */
  resourcePath?: string;
  /** Model seed (overrides model.seed). Default 42. */
  seed?: number;
  /** Wall milliseconds between two publications. Default 100. */
  tickMs?: number;
  /** Simulated seconds per wall second. Default 1 (real time). */
  timeScale?: number;
  /** Wall-clock origin of the simulated clock. Default: the time of the first start(). */
  startTime?: Date;
  /** Options of the signal model (seed, sampleRateHz, faultOnsetS, repairAtS, conditionChangeAtS, ...), passed on as they are. */
  model?: MachineModelOptions;
  /** Default ["None", "Sign", "SignAndEncrypt"]. Enum values of MessageSecurityMode are accepted too. */
  securityModes?: Array<SecurityModeName | MessageSecurityMode>;
  /** Default all four. SecurityPolicy URIs are accepted too. */
  securityPolicies?: Array<SecurityPolicyName | SecurityPolicy>;
  /** Offer the anonymous identity token. Default true. */
  allowAnonymous?: boolean;
  /** Accepted username/password pairs. Default none. */
  users?: SimulatorUser[];
  /** PKI folder of the server's certificate manager (own/, trusted/, rejected/ ...).
   * Default: <os.tmpdir()>/node-red-mlops-simulator/pki, so the certificate survives restarts. */
  pkiFolder?: string;
  /** Trust any client certificate. Default true (a test server). */
  automaticallyAcceptUnknownCertificate?: boolean;
  /** Fastest sampling interval the server grants, ms. Default 10. */
  minSamplingIntervalMs?: number;
  /** Silence node-opcua's own warning/error loggers (process-wide). Default false. */
  quiet?: boolean;
  /** Start ticking immediately. Default true. */
  autoTick?: boolean;
}

export interface Simulator {
  /** opc.tcp://127.0.0.1:PORT/UA/MachineSimulator */
  readonly endpointUrl: string;
  readonly port: number;
  readonly model: MachineModel;
  /** Simulated seconds elapsed. */
  readonly simulatedTimeS: number;
  /** The sample published last (undefined before the first tick). */
  readonly lastSample: MachineSample | undefined;
  readonly running: boolean;
  /** Sessions and subscriptions open on the server now (0 while stopped). */
  readonly sessionCount: number;
  readonly subscriptionCount: number;
  /** Start (again) on the same port with the same certificate; simulated time continues. */
  start(): Promise<void>;
  /** Stop fast (shutdown(0)); start() or restart() bring it back. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stop and start publishing (server stays up; simulated time pauses). */
  pause(): void;
  resume(): void;
  /** Advance one tick now and publish (useful with autoTick false). */
  tick(): MachineSample;
  /** Publish `channel` with a Bad status code (default BadSensorFailure) until switched off. */
  setQualityBad(channel: SimulatorChannel, on: boolean, statusCode?: StatusCode): void;
  /** The simulated clock: startTime + simulated seconds. */
  simulatedClock(): Date;
  on(event: "tick", listener: (sample: MachineSample, sourceTimestamp: Date) => void): this;
  off(event: "tick", listener: (sample: MachineSample, sourceTimestamp: Date) => void): this;
}

const MODE_BY_NAME: Record<SecurityModeName, MessageSecurityMode> = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
};
const POLICY_BY_NAME: Record<SecurityPolicyName, SecurityPolicy> = {
  None: SecurityPolicy.None,
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
  Aes256_Sha256_RsaPss: SecurityPolicy.Aes256_Sha256_RsaPss,
};

function toMode(m: SecurityModeName | MessageSecurityMode): MessageSecurityMode {
  if (typeof m === "number") return m;
  const v = MODE_BY_NAME[m];
  if (v === undefined) throw new Error(`unknown security mode ${m}`);
  return v;
}

function toPolicy(p: SecurityPolicyName | SecurityPolicy): SecurityPolicy {
  if (typeof p === "string" && p.startsWith("http")) return p as SecurityPolicy;
  const v = POLICY_BY_NAME[p as SecurityPolicyName];
  if (v === undefined) throw new Error(`unknown security policy ${p}`);
  return v;
}

/** A free TCP port on host (bind to 0, read it, close). */
export function findFreePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen({ port: 0, host }, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const DEFAULT_PKI_FOLDER = path.join(os.tmpdir(), "node-red-mlops-simulator", "pki");

let loggersSilenced = false;
function silenceNodeOpcua(): void {
  if (loggersSilenced) return;
  loggersSilenced = true;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const debug = require("node-opcua-debug") as typeof import("node-opcua-debug");
  const noop = () => undefined;
  debug.setWarningLogger(noop);
  debug.setErrorLogger(noop);
}

class SimulatorImpl extends EventEmitter implements Simulator {
  readonly model: MachineModel;
  private readonly opts: SimulatorOptions;
  private readonly host: string;
  private readonly hostname: string;
  private readonly resourcePath: string;
  private readonly tickMs: number;
  private readonly timeScale: number;
  private readonly pkiFolder: string;
  private portNumber: number;
  private server: OPCUAServer | undefined;
  private variables = new Map<SimulatorChannel, UAVariable>();
  private badQuality = new Map<SimulatorChannel, StatusCode>();
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private ticks = 0;
  private startTimeMs: number | undefined;
  private last: MachineSample | undefined;
  private transition: Promise<void> = Promise.resolve();

  constructor(opts: SimulatorOptions) {
    super();
    this.opts = opts;
    this.host = opts.host ?? "127.0.0.1";
    this.hostname = opts.hostname ?? this.host;
    this.resourcePath = opts.resourcePath ?? "/UA/MachineSimulator";
    this.tickMs = opts.tickMs ?? 100;
    this.timeScale = opts.timeScale ?? 1;
    if (!(this.tickMs > 0)) throw new Error("tickMs must be > 0");
    if (!(this.timeScale > 0)) throw new Error("timeScale must be > 0");
    this.pkiFolder = opts.pkiFolder ?? DEFAULT_PKI_FOLDER;
    this.portNumber = opts.port ?? 0;
    this.startTimeMs = opts.startTime?.getTime();
    this.model = new MachineModel({ ...opts.model, seed: opts.seed ?? opts.model?.seed ?? 42 });
    if (opts.quiet) silenceNodeOpcua();
  }

  get port(): number {
    return this.portNumber;
  }

  get endpointUrl(): string {
    return `opc.tcp://${this.hostname}:${this.portNumber}${this.resourcePath}`;
  }

  get simulatedTimeS(): number {
    return (this.ticks * this.tickMs * this.timeScale) / 1000;
  }

  get lastSample(): MachineSample | undefined {
    return this.last;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get sessionCount(): number {
    return this.server?.engine.currentSessionCount ?? 0;
  }

  get subscriptionCount(): number {
    return this.server?.engine.currentSubscriptionCount ?? 0;
  }

  simulatedClock(): Date {
    return new Date((this.startTimeMs ?? Date.now()) + this.simulatedTimeS * 1000);
  }

  start(): Promise<void> {
    const p = this.transition.then(() => this.doStart());
    this.transition = p.catch(() => undefined);
    return p;
  }

  stop(): Promise<void> {
    const p = this.transition.then(() => this.doStop());
    this.transition = p.catch(() => undefined);
    return p;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  setQualityBad(channel: SimulatorChannel, on: boolean, statusCode: StatusCode = StatusCodes.BadSensorFailure): void {
    if (!NODE_IDS[channel]) throw new Error(`unknown channel ${channel}`);
    if (on) this.badQuality.set(channel, statusCode);
    else this.badQuality.delete(channel);
    if (this.last) this.publish(this.last, this.simulatedClock(), [channel]);
  }

  tick(): MachineSample {
    this.ticks++;
    const sample = this.model.sampleAt(this.simulatedTimeS);
    this.last = sample;
    const ts = this.simulatedClock();
    this.publish(sample, ts);
    this.emit("tick", sample, ts);
    return sample;
  }

  private publish(sample: MachineSample, ts: Date, only?: SimulatorChannel[]): void {
    if (!this.server) return;
    const values: Record<SimulatorChannel, number> = {
      vibration: sample.vibration,
      bearingTemperature: sample.bearingTemperature,
      motorCurrent: sample.motorCurrent,
      speed: sample.speed,
      load: sample.load,
      faultSeverity: sample.faultSeverity,
      operatingCondition: sample.conditionId,
      simulatedTime: this.simulatedTimeS,
    };
    for (const def of SIMULATOR_VARIABLES) {
      if (only && !only.includes(def.channel)) continue;
      const v = this.variables.get(def.channel);
      if (!v) continue;
      const status = this.badQuality.get(def.channel) ?? StatusCodes.Good;
      v.setValueFromSource(
        new Variant({ dataType: def.dataType === "Int32" ? DataType.Int32 : DataType.Double, value: values[def.channel] }),
        status,
        ts,
      );
    }
  }

  private async doStart(): Promise<void> {
    if (this.server) return;
    const o = this.opts;
    if (!this.portNumber) this.portNumber = await findFreePort(this.host);
    if (this.startTimeMs === undefined) this.startTimeMs = Date.now();
    const minSampling = o.minSamplingIntervalMs ?? 10;
    // MonitoredItem.minimumSamplingInterval is a process-wide floor (50 ms by default) applied to
    // every requested sampling interval: lower it so clients can sample at minSampling.
    if (MonitoredItem.minimumSamplingInterval > minSampling) MonitoredItem.minimumSamplingInterval = minSampling;

    fs.mkdirSync(this.pkiFolder, { recursive: true });
    const serverCertificateManager = new OPCUACertificateManager({
      rootFolder: this.pkiFolder,
      automaticallyAcceptUnknownCertificate: o.automaticallyAcceptUnknownCertificate ?? true,
    });
    const userCertificateManager = new OPCUACertificateManager({
      rootFolder: path.join(this.pkiFolder, "user"),
      automaticallyAcceptUnknownCertificate: false,
    });
    const users = o.users ?? [];
    const server = new OPCUAServer({
      port: this.portNumber,
      host: this.host,
      hostname: this.hostname,
      resourcePath: this.resourcePath,
      securityModes: (o.securityModes ?? ["None", "Sign", "SignAndEncrypt"]).map(toMode),
      securityPolicies: (o.securityPolicies ?? ["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"]).map(toPolicy),
      allowAnonymous: o.allowAnonymous ?? true,
      userManager: {
        isValidUser: (username: string, password: string) =>
          users.some((u) => u.username === username && u.password === password),
      },
      serverCertificateManager,
      userCertificateManager,
      serverInfo: {
        applicationUri: `urn:${os.hostname()}:edge-mlops:machine-simulator`,
        productUri: "urn:edge-mlops:machine-simulator",
        applicationName: { text: "edge-mlops machine simulator", locale: "en" },
      },
      buildInfo: { productName: "edge-mlops machine simulator", manufacturerName: "edge-mlops" },
      serverCapabilities: { minSupportedSampleRate: minSampling, maxSessions: 100 },
      maxConnectionsPerEndpoint: 100,
      isAuditing: false,
    });
    try {
      await server.initialize();
      this.buildAddressSpace(server);
      await server.start();
    } catch (err) {
      await server.shutdown(0).catch(() => undefined);
      throw err;
    }
    this.server = server;
    if (this.last) this.publish(this.last, this.simulatedClock());
    else if (o.autoTick !== false) this.tick();
    if (o.autoTick !== false) {
      this.timer = setInterval(() => {
        if (!this.paused) this.tick();
      }, this.tickMs);
      this.timer.unref();
    }
  }

  private buildAddressSpace(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new Error("address space not initialised");
    const namespace = addressSpace.getOwnNamespace();
    const machine = namespace.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: "Machine1",
      nodeId: MACHINE_OBJECT_NODE_ID,
      description: "Simulated rotating machine (motor, shaft, rolling-element bearings)",
    });
    this.variables.clear();
    for (const def of SIMULATOR_VARIABLES) {
      const v = namespace.addVariable({
        componentOf: machine,
        browseName: def.browseName,
        nodeId: def.nodeId,
        dataType: def.dataType,
        description: def.unit ? `${def.description} [${def.unit}]` : def.description,
        // 0 = the value only changes on setValueFromSource, so the server can report
        // exception-based (every change); sampled items go down to minSamplingIntervalMs.
        minimumSamplingInterval: 0,
      });
      this.variables.set(def.channel, v);
    }
  }

  private async doStop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const server = this.server;
    this.server = undefined;
    this.variables.clear();
    if (server) await server.shutdown(0);
  }
}

/** Create a simulator and start its server. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new SimulatorImpl(options);
  await sim.start();
  return sim;
}

/** Create a simulator without starting it (call start()). */
export function createSimulator(options: SimulatorOptions = {}): Simulator {
  return new SimulatorImpl(options);
}
