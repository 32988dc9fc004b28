/**
 * Command line for the machine simulator.
 *
 *   npx tsx scripts/simulator/cli.ts --port 4840 --seed 42 --time-scale 60 \
 *       --fault-onset 3600 --fault-growth 7200 --condition-change-at 1800
 *
 * The demo's timeline (scripts/demo.ts): the bearing is replaced when the condition changes:
 *   npx tsx scripts/simulator/cli.ts --time-scale 30 --tick-ms 20 \
 *       --fault-onset 600 --fault-growth 2400 --condition-change-at 2700 --repair-at 2700
 *
 * Prints the endpoint URL and the NodeIds, then runs until Ctrl-C (SIGINT) or SIGTERM.
 * `--help` lists every option.
 */
import { parseArgs } from "node:util";
// server.ts (and node-opcua) is loaded only after the arguments are parsed, so --help is instant.
import type { SecurityModeName, SecurityPolicyName, SimulatorOptions } from "./server";

const HELP = `Rotating-machine simulator served over OPC UA

Usage: npx tsx scripts/simulator/cli.ts [options]

  --port <n>                 TCP port (default 4840; 0 = any free port)
  --host <addr>              listen address (default 127.0.0.1)
  --hostname <name>          host name in the endpoint URL (default: --host)
  --seed <n>                 random seed (default 42)
  --tick-ms <n>              wall milliseconds between publications (default 100)
  --time-scale <x>           simulated seconds per wall second (default 1)
  --sample-rate <hz>         vibration sample grid of the model (default 1000)
  --fault-onset <s>          simulated second the bearing fault starts (default: never)
  --fault-growth <s>         seconds from onset to full severity (default 3600)
  --repair-at <s>            simulated second the bearing is replaced: severity 0 after it (default: never)
  --condition-change-at <s>  simulated second of the change of operating condition (default: never)
  --speed <rpm>              initial speed setpoint (default 1500)
  --load <0..1>              initial load (default 0.6)
  --speed2 <rpm>             speed setpoint after the change (default 1800)
  --load2 <0..1>             load after the change (default 0.85)
  --security-modes <list>    comma list of None,Sign,SignAndEncrypt (default all)
  --security-policies <list> comma list of None,Basic256Sha256,Aes128_Sha256_RsaOaep,Aes256_Sha256_RsaPss (default all)
  --no-anonymous             refuse anonymous sessions
  --user <name:password>     accept this user (repeatable)
  --pki <folder>             PKI folder of the server certificate
  --reject-unknown           do not trust unknown client certificates automatically
  --quiet                    print only the endpoint line
  --verbose                  print every tick
  -h, --help                 this text
`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} expects a number, got "${v}"`);
  return n;
}

function list<T extends string>(v: string | undefined): T[] | undefined {
  return v === undefined ? undefined : (v.split(",").map((s) => s.trim()).filter(Boolean) as T[]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      host: { type: "string" },
      hostname: { type: "string" },
      seed: { type: "string" },
      "tick-ms": { type: "string" },
      "time-scale": { type: "string" },
      "sample-rate": { type: "string" },
      "fault-onset": { type: "string" },
      "fault-growth": { type: "string" },
      "repair-at": { type: "string" },
      "condition-change-at": { type: "string" },
      speed: { type: "string" },
      load: { type: "string" },
      speed2: { type: "string" },
      load2: { type: "string" },
      "security-modes": { type: "string" },
      "security-policies": { type: "string" },
      "no-anonymous": { type: "boolean" },
      user: { type: "string", multiple: true },
      pki: { type: "string" },
      "reject-unknown": { type: "boolean" },
      quiet: { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const users = (values.user ?? []).map((u) => {
    const i = u.indexOf(":");
    if (i <= 0) throw new Error(`--user expects name:password, got "${u}"`);
    return { username: u.slice(0, i), password: u.slice(i + 1) };
  });
  const options: SimulatorOptions = {
    port: num(values.port, "port") ?? 4840,
    host: values.host,
    hostname: values.hostname,
    seed: num(values.seed, "seed") ?? 42,
    tickMs: num(values["tick-ms"], "tick-ms"),
    timeScale: num(values["time-scale"], "time-scale"),
    model: {
      sampleRateHz: num(values["sample-rate"], "sample-rate"),
      faultOnsetS: num(values["fault-onset"], "fault-onset"),
      faultGrowthS: num(values["fault-growth"], "fault-growth"),
      repairAtS: num(values["repair-at"], "repair-at"),
      conditionChangeAtS: num(values["condition-change-at"], "condition-change-at"),
      initialCondition: { speedRpm: num(values.speed, "speed"), load: num(values.load, "load") },
      changedCondition: { speedRpm: num(values.speed2, "speed2"), load: num(values.load2, "load2") },
    },
    securityModes: list<SecurityModeName>(values["security-modes"]),
    securityPolicies: list<SecurityPolicyName>(values["security-policies"]),
    allowAnonymous: !values["no-anonymous"],
    users,
    pkiFolder: values.pki,
    automaticallyAcceptUnknownCertificate: !values["reject-unknown"],
    quiet: true,
  };
  // Drop undefined fields so the defaults of server.ts / machine.ts apply.
  const clean = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  options.model = clean({
    ...options.model,
    initialCondition: clean(options.model!.initialCondition!),
    changedCondition: clean(options.model!.changedCondition!),
  });

  const t0 = Date.now();
  const { SIMULATOR_VARIABLES, startSimulator } = await import("./server");
  const sim = await startSimulator(clean(options));
  console.log(`machine simulator listening on ${sim.endpointUrl} (started in ${Date.now() - t0} ms)`);
  if (!values.quiet) {
    const m = sim.model.options;
    console.log(
      `seed ${m.seed}, tick ${options.tickMs ?? 100} ms, time scale ${options.timeScale ?? 1}x, ` +
        `fault onset ${m.faultOnsetS} s (growth ${m.faultGrowthS} s), repair at ${Number.isFinite(m.repairAtS) ? `${m.repairAtS} s` : "never"}, ` +
        `condition change at ${m.conditionChanges[0]?.atS ?? "never"}`,
    );
    for (const v of SIMULATOR_VARIABLES) console.log(`  ${v.nodeId.padEnd(38)} ${v.dataType.padEnd(7)} ${v.unit}`);
    if (users.length) console.log(`users: ${users.map((u) => u.username).join(", ")}`);
  }
  if (values.verbose) {
    sim.on("tick", (s, ts) =>
      console.log(
        `${ts.toISOString()} t=${s.t.toFixed(1)}s vib=${s.vibration.toFixed(3)} T=${s.bearingTemperature.toFixed(2)} ` +
          `I=${s.motorCurrent.toFixed(2)} n=${s.speed.toFixed(1)} fault=${s.faultSeverity.toFixed(3)} cond=${s.conditionId}`,
      ),
    );
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (!values.quiet) console.log(`${signal}: stopping simulator`);
    try {
      await sim.stop();
      process.exit(0);
    } catch (err) {
      console.error(err);
      process.exit(1);
    }
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
