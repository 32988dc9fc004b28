import { expect } from "chai";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  ClientSession,
  ClientSubscription,
  DataValue,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  UserIdentityInfo,
  UserTokenType,
} from "node-opcua-client";
import { NODE_IDS, SIMULATOR_VARIABLES, Simulator, startSimulator } from "../../scripts/simulator/server";

const TICK_MS = 20;
const TIME_SCALE = 60;
const SIM_STEP_S = (TICK_MS * TIME_SCALE) / 1000; // 1.2 simulated seconds per tick

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("simulator OPC UA server (integration)", function () {
  this.timeout(20000);

  let tmp: string;
  let sim: Simulator;
  let clientCertificateManager: OPCUACertificateManager;
  const startTime = new Date("2024-01-01T00:00:00Z");
  const cleanups: Array<() => Promise<unknown>> = [];

  async function connect(
    url: string,
    options: { securityMode?: MessageSecurityMode; securityPolicy?: SecurityPolicy; user?: UserIdentityInfo } = {},
  ): Promise<{ client: OPCUAClient; session: ClientSession; close: () => Promise<void> }> {
    const client = OPCUAClient.create({
      applicationName: "simulator-integration-test",
      endpointMustExist: false,
      clientCertificateManager,
      securityMode: options.securityMode ?? MessageSecurityMode.None,
      securityPolicy: options.securityPolicy ?? SecurityPolicy.None,
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    });
    await client.connect(url);
    let session: ClientSession;
    try {
      session = await client.createSession(options.user);
    } catch (err) {
      await client.disconnect();
      throw err;
    }
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await session.close().catch(() => undefined);
      await client.disconnect();
    };
    cleanups.push(close);
    return { client, session, close };
  }

  async function readAll(session: ClientSession): Promise<Record<string, DataValue>> {
    const dvs = await session.read(SIMULATOR_VARIABLES.map((v) => ({ nodeId: v.nodeId, attributeId: AttributeIds.Value })));
    return Object.fromEntries(SIMULATOR_VARIABLES.map((v, i) => [v.channel, dvs[i]]));
  }

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-sim-it-"));
    clientCertificateManager = new OPCUACertificateManager({
      rootFolder: path.join(tmp, "client-pki"),
      automaticallyAcceptUnknownCertificate: true,
    });
    await clientCertificateManager.initialize();
    sim = await startSimulator({
      port: 0,
      seed: 7,
      tickMs: TICK_MS,
      timeScale: TIME_SCALE,
      startTime,
      pkiFolder: path.join(tmp, "server-pki"),
      users: [{ username: "operator", password: "s3cret" }],
      model: { faultOnsetS: 0, faultGrowthS: 600, conditionChangeAtS: 30 },
      quiet: true,
    });
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (sim) await sim.stop();
    await clientCertificateManager?.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("listens on 127.0.0.1 with the documented endpoint URL", async () => {
    expect(sim.port).to.be.greaterThan(0);
    expect(sim.endpointUrl).to.equal(`opc.tcp://127.0.0.1:${sim.port}/UA/MachineSimulator`);
    // Not reachable on another interface (if this machine has one).
    const other = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal);
    if (other) {
      const err = await new Promise<Error | undefined>((resolve) => {
        const s = net.connect({ host: other.address, port: sim.port }, () => {
          s.destroy();
          resolve(undefined);
        });
        s.on("error", (e) => resolve(e));
      });
      expect(err, `port ${sim.port} must not be open on ${other.address}`).to.be.instanceOf(Error);
    }
  });

  it("anonymous/None: reads every variable, values change and source timestamps follow the simulated clock", async () => {
    const { session, close } = await connect(sim.endpointUrl);
    const first = await readAll(session);
    for (const v of SIMULATOR_VARIABLES) {
      expect(first[v.channel].statusCode.isGood(), v.nodeId).to.equal(true);
      expect(first[v.channel].value.value, v.nodeId).to.be.a("number");
    }
    const wall0 = Date.now();
    await sleep(300);
    const second = await readAll(session);
    const wallElapsedS = (Date.now() - wall0) / 1000;

    const t1 = first.simulatedTime.value.value as number;
    const t2 = second.simulatedTime.value.value as number;
    expect(t2).to.be.greaterThan(t1);
    // Simulated time runs TIME_SCALE faster than the wall clock (tolerant to timer jitter).
    expect(t2 - t1).to.be.within(0.3 * TIME_SCALE * wallElapsedS, 1.2 * TIME_SCALE * wallElapsedS + SIM_STEP_S);
    // Whole ticks only.
    expect((t2 / SIM_STEP_S) % 1).to.be.closeTo(0, 1e-6);
    // source timestamp = start time + simulated seconds, for every channel.
    for (const v of SIMULATOR_VARIABLES) {
      expect(second[v.channel].sourceTimestamp!.getTime(), v.nodeId).to.equal(startTime.getTime() + Math.round(t2 * 1000));
    }
    expect(second.speed.sourceTimestamp!.getTime() - first.speed.sourceTimestamp!.getTime()).to.equal(
      Math.round(t2 * 1000) - Math.round(t1 * 1000),
    );
    expect(second.vibration.value.value).to.not.equal(first.vibration.value.value);
    expect(second.speed.value.value).to.not.equal(first.speed.value.value);
    expect(second.speed.value.value).to.be.within(1400, 1850);
    // The published values are the model's values at that simulated time.
    const expected = sim.model.sampleAt(t2);
    expect(second.speed.value.value).to.equal(expected.speed);
    expect(second.bearingTemperature.value.value).to.equal(expected.bearingTemperature);
    expect(second.operatingCondition.value.value).to.equal(expected.conditionId);
    await close();
  });

  it("grants a 10 ms sampling interval and delivers every tick to a subscription", async () => {
    const { session, close } = await connect(sim.endpointUrl);
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: 50,
      requestedMaxKeepAliveCount: 20,
      requestedLifetimeCount: 600,
      publishingEnabled: true,
    });
    const times: number[] = [];
    const group = ClientMonitoredItemGroup.create(
      subscription as ClientSubscription,
      [
        { nodeId: NODE_IDS.simulatedTime, attributeId: AttributeIds.Value },
        { nodeId: NODE_IDS.vibration, attributeId: AttributeIds.Value },
      ],
      { samplingInterval: 10, queueSize: 100, discardOldest: true },
      TimestampsToReturn.Both,
    );
    group.on("changed", (item, dv: DataValue) => {
      if (item.itemToMonitor.nodeId.toString() === NODE_IDS.simulatedTime) times.push(dv.value.value as number);
    });
    await new Promise<void>((resolve) => group.once("initialized", () => resolve()));
    for (const item of group.monitoredItems) expect(item.monitoringParameters.samplingInterval).to.be.at.most(10);
    await sleep(1000);
    await subscription.terminate();
    await close();
    expect(times.length).to.be.greaterThan(20);
    // Consecutive notifications are consecutive ticks: nothing lost.
    let gaps = 0;
    for (let i = 1; i < times.length; i++) {
      const steps = Math.round((times[i] - times[i - 1]) / SIM_STEP_S);
      if (steps !== 1) gaps++;
    }
    expect(gaps, `times ${times.join(",")}`).to.equal(0);
  });

  it("publishes a Bad status code for a channel while setQualityBad is on", async () => {
    const { session, close } = await connect(sim.endpointUrl);
    sim.setQualityBad("vibration", true);
    let dvs = await readAll(session);
    expect(dvs.vibration.statusCode.value).to.equal(StatusCodes.BadSensorFailure.value);
    expect(dvs.speed.statusCode.isGood()).to.equal(true);
    await sleep(3 * TICK_MS);
    dvs = await readAll(session);
    expect(dvs.vibration.statusCode.value).to.equal(StatusCodes.BadSensorFailure.value);
    sim.setQualityBad("vibration", false);
    dvs = await readAll(session);
    expect(dvs.vibration.statusCode.isGood()).to.equal(true);
    await close();
  });

  it("SignAndEncrypt + Basic256Sha256 with username/password; a wrong password is refused", async () => {
    const { client, session, close } = await connect(sim.endpointUrl, {
      securityMode: MessageSecurityMode.SignAndEncrypt,
      securityPolicy: SecurityPolicy.Basic256Sha256,
      user: { type: UserTokenType.UserName, userName: "operator", password: "s3cret" },
    });
    const dvs = await readAll(session);
    expect(dvs.motorCurrent.statusCode.isGood()).to.equal(true);
    expect(dvs.motorCurrent.value.value).to.be.within(3, 20);
    const endpoints = await client.getEndpoints();
    const offered = endpoints.map((e) => `${MessageSecurityMode[e.securityMode]}:${(e.securityPolicyUri ?? "").split("#")[1]}`);
    expect(offered).to.include.members([
      "None:None",
      "Sign:Basic256Sha256",
      "SignAndEncrypt:Basic256Sha256",
      "SignAndEncrypt:Aes128_Sha256_RsaOaep",
      "SignAndEncrypt:Aes256_Sha256_RsaPss",
    ]);
    await close();

    let refused: unknown;
    try {
      await connect(sim.endpointUrl, {
        securityMode: MessageSecurityMode.SignAndEncrypt,
        securityPolicy: SecurityPolicy.Aes256_Sha256_RsaPss,
        user: { type: UserTokenType.UserName, userName: "operator", password: "wrong" },
      });
    } catch (err) {
      refused = err;
    }
    expect(refused, "wrong password must be refused").to.be.instanceOf(Error);
  });

  it("stops and restarts on the same port with the same certificate; simulated time continues", async () => {
    const port = sim.port;
    const url = sim.endpointUrl;
    let c = await connect(url);
    const certBefore = (await c.client.getEndpoints())[0].serverCertificate;
    const tBefore = (await readAll(c.session)).simulatedTime.value.value as number;
    await c.close();

    const t0 = Date.now();
    await sim.stop();
    const stopMs = Date.now() - t0;
    expect(sim.running).to.equal(false);
    expect(stopMs, "stop must not hang (the bound only catches a hang, not speed)").to.be.below(15000);
    // Nobody listens any more.
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(false);
      });
      s.on("error", () => resolve(true));
    });
    expect(refused).to.equal(true);
    await sleep(200);
    const tStopped = sim.simulatedTimeS;
    expect(tStopped).to.be.at.least(tBefore);

    await sim.restart(); // restart() on a stopped simulator = start()
    expect(sim.port).to.equal(port);
    expect(sim.endpointUrl).to.equal(url);
    c = await connect(url);
    const certAfter = (await c.client.getEndpoints())[0].serverCertificate;
    expect(Buffer.compare(certAfter, certBefore)).to.equal(0);
    const tAfter = (await readAll(c.session)).simulatedTime.value.value as number;
    expect(tAfter).to.be.at.least(tStopped);
    // Paused while stopped: no jump of 200 ms * TIME_SCALE.
    expect(tAfter - tStopped).to.be.below(0.2 * TIME_SCALE);
    await c.close();
  });

  it("a client with a subscription resumes after the server restarts mid-stream", async () => {
    const client = OPCUAClient.create({
      endpointMustExist: false,
      clientCertificateManager,
      connectionStrategy: { maxRetry: -1, initialDelay: 100, maxDelay: 300 },
      requestedSessionTimeout: 10000,
    });
    cleanups.push(() => client.disconnect());
    await client.connect(sim.endpointUrl);
    const session = await client.createSession();
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: 50,
      requestedMaxKeepAliveCount: 10,
      requestedLifetimeCount: 100,
      publishingEnabled: true,
    });
    const times: number[] = [];
    const group = ClientMonitoredItemGroup.create(
      subscription as ClientSubscription,
      [{ nodeId: NODE_IDS.simulatedTime, attributeId: AttributeIds.Value }],
      { samplingInterval: 10, queueSize: 100, discardOldest: true },
      TimestampsToReturn.Both,
    );
    group.on("changed", (_item, dv: DataValue) => times.push(dv.value.value as number));
    await sleep(300);
    expect(times.length).to.be.greaterThan(3);
    const lost = new Promise<void>((resolve) => client.once("connection_lost", () => resolve()));
    await sim.stop();
    await lost;
    const countAtStop = times.length;
    const tAtStop = times[times.length - 1];
    await sleep(300);
    const t0 = Date.now();
    await sim.start();
    // Wait for notifications to flow again (reconnect + session/subscription recovery).
    while (Date.now() - t0 < 12000 && !(times.length > countAtStop + 3)) await sleep(50);
    const resumeMs = Date.now() - t0;
    expect(times.length, `resumed after ${resumeMs} ms`).to.be.greaterThan(countAtStop + 3);
    expect(times[times.length - 1]).to.be.greaterThan(tAtStop);
    await client.disconnect();
  });

  it("a new simulator on the same port and pki folder serves the same certificate", async () => {
    const port = sim.port;
    let c = await connect(sim.endpointUrl);
    const certBefore = (await c.client.getEndpoints())[0].serverCertificate;
    await c.close();
    await sim.stop();
    sim = await startSimulator({
      port,
      seed: 7,
      tickMs: TICK_MS,
      timeScale: TIME_SCALE,
      pkiFolder: path.join(tmp, "server-pki"),
      quiet: true,
    });
    expect(sim.port).to.equal(port);
    c = await connect(sim.endpointUrl);
    const certAfter = (await c.client.getEndpoints())[0].serverCertificate;
    expect(Buffer.compare(certAfter, certBefore)).to.equal(0);
    await c.close();
  });

  it("passes the model's repairAtS on: FaultSeverity is 0 after the repair, the old bearing's before it", async () => {
    // ticks by hand: 1.2 simulated s each; the repair at 30 s comes after tick 25
    const repaired = await startSimulator({
      port: 0,
      seed: 7,
      tickMs: TICK_MS,
      timeScale: TIME_SCALE,
      startTime,
      pkiFolder: path.join(tmp, "server-pki"),
      model: { faultOnsetS: 0, faultGrowthS: 60, conditionChangeAtS: 30, repairAtS: 30 },
      autoTick: false,
      quiet: true,
    });
    cleanups.push(() => repaired.stop());
    expect(repaired.model.options.repairAtS).to.equal(30);
    const { session, close } = await connect(repaired.endpointUrl);
    const read = async () => {
      const v = await readAll(session);
      return { t: v.simulatedTime.value.value as number, severity: v.faultSeverity.value.value as number, condition: v.operatingCondition.value.value as number };
    };
    for (let i = 0; i < 25; i++) repaired.tick();
    const before = await read();
    expect(before.t).to.be.closeTo(30, 1e-9);
    expect(before.severity).to.be.above(0.1).and.equal(repaired.model.faultSeverityAt(30));
    repaired.tick();
    const after = await read();
    expect(after.t).to.be.closeTo(31.2, 1e-9);
    expect(after).to.include({ severity: 0, condition: 1 });
    await close();
    await repaired.stop();
  });
});
