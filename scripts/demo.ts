/**
 * `npm start`: the predictive-maintenance demo.
 *
 * Starts the machine simulator (OPC UA, SignAndEncrypt), prepares a Node-RED user directory
 * in .node-red-demo/ with this package linked in and the flow of flows/predictive-maintenance,
 * trusts the simulator's certificate explicitly (no trust-on-first-use), then runs Node-RED
 * headless with the editor on 127.0.0.1. Its log, with the flow's output, goes to the console.
 * The model from the registry waits in the flow's approval gate for a person: the editor asks for a
 * login (approver, with a password made for the run and printed; operator may only look), and
 * for each pending request the console prints a curl command that approves it
 * (scripts/demo-approvals.ts). Ctrl-C stops everything.
 *
 * The whole loop then runs on its own, told on the console step by step, each line with its
 * simulated time (@<s> s): the fault in condition A, the repair and the switch to condition B at
 * 2700 s, drift declared, the retrain trigger's decisions, the candidate trained here with both
 * models' metrics on the held-out windows of B, the gate asking (with the curl command), the
 * approval, onnx infer switching with no window lost, and drift back to ok against the new model.
 * The retrain trigger's files (mlops-retrain/) start empty on every start, as the simulated
 * machine starts again from 0.
 *
 * Environment: DEMO_PORT (editor, default 1880), DEMO_OPCUA_PORT (simulator, default 4840),
 * DEMO_TIME_SCALE (simulated seconds per second, default 30), DEMO_DIR (user directory);
 * DEMO_NODE and DEMO_NODE_RED run another Node.js binary and Node-RED (red.js), e.g. Node-RED 5 on Node 24;
 * MLOPS_TEST_DIST runs a build elsewhere (MLOPS_BUILD_OUT) instead of this checkout's dist/, as the tests do.
 */
import { spawn } from 'child_process';
import { generateKeyPairSync, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { signManifest } from '../nodes/lib/registry/cosign';
import { LayoutFolder } from '../nodes/lib/registry/layout';
import { watchApprovals } from './demo-approvals';
import { pushModelFile } from './model-push';
import { startSimulator } from './simulator/server';

const root = path.resolve(__dirname, '..');
const project = path.join(root, 'flows', 'predictive-maintenance');
const userDir = path.resolve(process.env.DEMO_DIR ?? path.join(root, '.node-red-demo'));
const editorPort = Number(process.env.DEMO_PORT ?? 1880);
const opcuaPort = Number(process.env.DEMO_OPCUA_PORT ?? 4840);
const timeScale = Number(process.env.DEMO_TIME_SCALE ?? 30);
/** A build elsewhere, copied into the user directory (else the checkout itself is linked, with its dist/). */
const dist = process.env.MLOPS_TEST_DIST ? path.resolve(process.env.MLOPS_TEST_DIST) : undefined;

/** The package in the user directory: this checkout linked, or with MLOPS_TEST_DIST its files beside a copy of that build. */
function installPackage(link: string): void {
  fs.rmSync(link, { recursive: true, force: true });
  if (!dist) return fs.symlinkSync(root, link, 'dir');
  fs.mkdirSync(link);
  // a copy, not a link: Node.js resolves the package's dependencies from where its files really are
  fs.cpSync(dist, path.join(link, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(link, 'package.json'));
  for (const f of ['node_modules', 'examples', 'models']) fs.symlinkSync(path.join(root, f), path.join(link, f), 'dir');
}

function prepareUserDir(serverPki: string): void {
  fs.mkdirSync(path.join(userDir, 'node_modules', '@edge-mlops'), { recursive: true });
  installPackage(path.join(userDir, 'node_modules', '@edge-mlops', 'node-red-mlops'));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'node-red-mlops-demo', private: true, dependencies: { [pkg.name]: `file:${root}` } }, null, 2),
  );
  // A fresh copy of the flow on every start, so the demo always starts from the repository's flow.
  fs.copyFileSync(path.join(project, 'flows.json'), path.join(userDir, 'flows.json'));
  // The retrain trigger's training buffer, datasets and state start empty: the simulated machine
  // starts again from 0, on a clock of its own (a buffer of an earlier run would mix two runs).
  fs.rmSync(path.join(userDir, 'mlops-retrain'), { recursive: true, force: true });
  // The models the flow loads, by paths relative to the user directory.
  const models = path.join(userDir, 'models');
  fs.rmSync(models, { recursive: true, force: true });
  if (fs.existsSync(path.join(project, 'models'))) fs.symlinkSync(path.join(project, 'models'), models, 'dir');
  // Trust the simulator's certificate explicitly, as an operator would after checking it.
  const trusted = path.join(userDir, 'mlops-opcua-pki', 'trusted', 'certs');
  fs.mkdirSync(trusted, { recursive: true });
  fs.copyFileSync(path.join(serverPki, 'own', 'certs', 'certificate.pem'), path.join(trusted, 'machine-simulator.pem'));
}

/**
 * The model registry of the demo: an OCI image-layout folder in the user directory, filled afresh
 * with the demo model as models/bearing-fault:1.0.0 and signed in cosign's format with a key made
 * for this run; returns the public key, which the flow's registry node checks signatures with.
 */
async function publishModel(): Promise<string> {
  const dir = path.join(userDir, 'mlops-models', 'layout');
  fs.rmSync(dir, { recursive: true, force: true });
  const layout = await LayoutFolder.create(dir);
  const { digest } = await pushModelFile(layout, path.join(project, 'models', 'bearing-fault.onnx'), 'models/bearing-fault:1.0.0');
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await signManifest(layout, 'models/bearing-fault', digest, key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { source: layout });
  console.log(`[demo] model registry ${path.relative(root, dir)}: models/bearing-fault:1.0.0 (${digest.slice(0, 19)}…), signed with a key made for this run`);
  return key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

async function main(): Promise<void> {
  const serverPki = path.join(userDir, 'simulator-pki');
  const sim = await startSimulator({
    port: opcuaPort,
    pkiFolder: serverPki,
    quiet: true,
    timeScale,
    tickMs: 20,
    // The bearing fault starts after 10 simulated minutes and would be fully developed 40 minutes later;
    // the model (trained on condition A only) detects it at about 31 minutes. After 45 simulated minutes
    // the bearing is replaced (a repair: healthy from then on) and the line switches from condition A to
    // product B at the same moment, outside the model's training domain: the old model calls the healthy
    // B windows a fault (false alarms) and drift detect says the inputs left its domain, which a retrain
    // on windows of A and B fixes. DEMO_MACHINE in train-demo-model.ts (the model's held-out check)
    // must match (test/integration/drift-demo.test.ts).
    model: { faultOnsetS: 600, faultGrowthS: 2400, conditionChangeAtS: 2700, repairAtS: 2700 },
  });
  console.log(`[demo] machine simulator on ${sim.endpointUrl} (${timeScale}x real time): a bearing fault grows from 600 s; at 2700 s the bearing is replaced and the line switches from condition A to B`);
  prepareUserDir(serverPki);
  const publicKey = await publishModel();
  // The editor's logins, made for this run (flows/predictive-maintenance/settings.js)
  const approver = randomBytes(9).toString('base64url');
  const operator = randomBytes(9).toString('base64url');
  const editor = `http://127.0.0.1:${editorPort}`;

  const red = spawn(
    process.env.DEMO_NODE ?? process.execPath,
    [process.env.DEMO_NODE_RED ?? require.resolve('node-red/red.js'), '--settings', path.join(project, 'settings.js'), '--userDir', userDir],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        MLOPS_DEMO_PORT: String(editorPort),
        MLOPS_OPCUA_ENDPOINT: sim.endpointUrl,
        MLOPS_MODEL_PUBLIC_KEY: publicKey,
        MLOPS_DEMO_APPROVER_PASSWORD: approver,
        MLOPS_DEMO_OPERATOR_PASSWORD: operator,
      },
    },
  );
  console.log(`[demo] editor ${editor}/ — log in as approver / ${approver} (operator / ${operator} may only look); Ctrl-C stops the demo`);
  const stopWatching = watchApprovals({ url: editor, username: 'approver', password: approver, stamp: () => `@${Math.round(sim.simulatedTimeS)} s` });

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    stopWatching();
    console.log('[demo] stopping');
    if (red.exitCode === null) {
      red.kill('SIGINT');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          red.kill('SIGKILL');
          resolve();
        }, 15000);
        red.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await sim.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  red.on('exit', (code) => void stop(code ?? 1));
}

main().catch((err: Error) => {
  console.error(`[demo] failed: ${err.message}`);
  process.exit(1);
});
