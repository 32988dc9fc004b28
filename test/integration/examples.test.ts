/**
 * The flows under Menu → Import → Examples → @edge-mlops/node-red-mlops, as a user gets them:
 * the package installed into a Node-RED user directory from exactly the files `npm pack` ships
 * (node_modules/@edge-mlops/node-red-mlops; dist/ from MLOPS_TEST_DIST when set; its
 * dependencies linked to this checkout's), a real
 * Node-RED process, each example fetched from the editor's examples library and deployed, its
 * inject nodes pressed through the editor's endpoint, and what the debug sidebar and the node
 * statuses show read from the editor's websocket. opcua read runs against a real node-opcua
 * server (the machine simulator) on a free 127.0.0.1 port given through MLOPS_OPCUA_ENDPOINT.
 *
 * Needs dist/ (`npm run build`; `npm test` builds first).
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import { findModel, parseManifest } from '../../nodes/lib/registry/artifact';
import { LayoutFolder } from '../../nodes/lib/registry/layout';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import jsonata from 'jsonata';
import { startSimulator, type Simulator } from '../../scripts/simulator/server';
import { CHROMIUM, launchChromium, watchErrors } from '../support/browser';
import { sleep, tmpDir, waitFor } from '../support/red';
import { distRoot, freePort, root, startRedProcess, type RedProcess } from '../support/red-process';

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; 'node-red': { nodes: Record<string, string> } };
/** Where Manage palette installs the package, relative to the user directory. */
const INSTALLED = `node_modules/${pkg.name}`;
const EXAMPLES = ['approval-gate', 'drift-detect', 'feature-window', 'onnx-infer', 'opcua-read', 'registry-pull', 'retrain-github', 'retrain-local'];

type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; wires?: string[][] };
const readExample = (name: string) => JSON.parse(fs.readFileSync(path.join(root, 'examples', `${name}.json`), 'utf8')) as FlowNode[];

/** The files `npm pack` puts in the package (no scripts: prepack would rebuild dist/ under other tests). */
function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  return info.files.map((f) => f.path);
}

/** Node types of Node-RED's core that the examples may use. */
const CORE_TYPES = ['tab', 'comment', 'inject', 'function', 'debug', 'change', 'delay', 'catch'];
const CONFIG_TYPES = ['mlops-opcua-endpoint', 'mlops-registry'];

describe('the shipped examples, statically', () => {
  let packed: string[];
  before(function () {
    this.timeout(60000);
    packed = packedFiles();
  });

  it('npm pack ships every example and every file an example refers to', () => {
    for (const name of EXAMPLES) expect(packed, `examples/${name}.json`).to.include(`examples/${name}.json`);
    const refs = new Set<string>();
    for (const name of EXAMPLES) {
      const text = fs.readFileSync(path.join(root, 'examples', `${name}.json`), 'utf8');
      // any model or data file named in a node's configuration or in a function's code
      for (const m of text.matchAll(/[\w@./-]+\.(?:onnx|json|csv|bin)\b/g)) {
        const ref = m[0];
        if (/^(msg|flow|global|node|msg\.)\./.test(ref) || !ref.includes('/')) continue;
        expect(ref.startsWith(`${INSTALLED}/`), `${name}: "${ref}" is not a file of the installed package (${INSTALLED}/...)`).to.equal(true);
        refs.add(ref.slice(INSTALLED.length + 1));
      }
    }
    expect([...refs]).to.include('examples/bearing-fault.onnx');
    for (const ref of refs) expect(packed, `${ref} is referenced by an example but not in the package`).to.include(ref);
  });

  it('the shipped model is the demo model, byte for byte (copy it again after retraining)', () => {
    const shipped = fs.readFileSync(path.join(root, 'examples', 'bearing-fault.onnx'));
    const demo = fs.readFileSync(path.join(root, 'flows', 'predictive-maintenance', 'models', 'bearing-fault.onnx'));
    expect(shipped.equals(demo), 'cp flows/predictive-maintenance/models/bearing-fault.onnx examples/').to.equal(true);
  });

  for (const name of EXAMPLES) {
    it(`${name}: one tab of its own, every node on it, wired within it, with a comment that says what to do`, () => {
      const nodes = readExample(name);
      const tabs = nodes.filter((n) => n.type === 'tab');
      expect(tabs, 'tab nodes').to.have.length(1);
      const tab = tabs[0];
      expect(tab.label).to.match(/example/);
      const ids = new Set(nodes.map((n) => n.id));
      expect(ids.size, 'unique ids').to.equal(nodes.length);
      for (const n of nodes) {
        if (n.type === 'tab') continue;
        // a node without z lands in whatever tab is open when importing; config nodes are scoped to the tab
        expect(n.z, `${n.type} ${n.id} is not on the example's tab`).to.equal(tab.id);
        expect([...CORE_TYPES, ...CONFIG_TYPES, ...Object.keys(pkg['node-red'].nodes)], n.type).to.include(n.type);
        for (const port of n.wires ?? []) for (const to of port) expect(ids.has(to), `${n.id} is wired to ${to}, not in the file`).to.equal(true);
      }
      const comments = nodes.filter((n) => n.type === 'comment');
      expect(comments.length).to.be.at.least(1);
      expect(`${String(comments[0].name)} ${String(comments[0].info ?? '')}`).to.match(/deploy/i);
      expect(String(tab.info ?? '')).to.match(/deploy/i);
      // it starts by itself after a deploy: an inject node fires once, or a subscription runs
      const starts = nodes.some((n) => (n.type === 'inject' && n.once === true) || (n.type === 'mlops-opcua-read' && n.mode === 'subscribe'));
      expect(starts, 'nothing starts the example after a deploy').to.equal(true);
      // every error lands in the debug sidebar
      expect(nodes.some((n) => n.type === 'catch' && n.scope === null && (n.wires?.[0] ?? []).length === 1)).to.equal(true);
    });
  }

  it('opcua read: the endpoint is the flow variable OPCUA_ENDPOINT, MLOPS_OPCUA_ENDPOINT when set, else the simulator on 127.0.0.1:4840', async () => {
    const nodes = readExample('opcua-read');
    const tab = nodes.find((n) => n.type === 'tab')!;
    const endpoint = nodes.find((n) => n.type === 'mlops-opcua-endpoint')!;
    // a config node sees a flow's variables only when it belongs to the flow
    expect(endpoint).to.include({ endpoint: '${OPCUA_ENDPOINT}', z: tab.id });
    const vars = tab.env as Array<{ name: string; type: string; value: string }>;
    const v = vars.find((e) => e.name === 'OPCUA_ENDPOINT')!;
    expect(v.type).to.equal('jsonata');
    // evaluated as Node-RED does: $env gives "" for a variable that is not set
    const evaluate = (env: Record<string, string>) => jsonata(v.value).evaluate({}, { env: (name: string) => env[name] ?? '' });
    expect(await evaluate({})).to.equal('opc.tcp://127.0.0.1:4840/UA/MachineSimulator');
    expect(await evaluate({ MLOPS_OPCUA_ENDPOINT: 'opc.tcp://plc.local:4841/ua' })).to.equal('opc.tcp://plc.local:4841/ua');
  });

  it('registry pull: the layout folder it pulls from ships with the package and holds the demo model, byte for byte', async () => {
    const reg = readExample('registry-pull').find((n) => n.type === 'mlops-registry')!;
    expect(reg).to.include({ kind: 'layout', location: `${INSTALLED}/models/layout` });
    const layoutDir = path.join(root, 'models', 'layout');
    for (const f of fs.readdirSync(layoutDir, { recursive: true }) as string[]) {
      if (fs.statSync(path.join(layoutDir, f)).isFile()) expect(packed, `models/layout/${f}`).to.include(`models/layout/${f}`);
    }
    const layout = new LayoutFolder(layoutDir);
    expect(await layout.tags('models/bearing-fault')).to.deep.equal(['1.0.0']);
    const model = findModel(parseManifest((await layout.manifest('models/bearing-fault', '1.0.0')).bytes));
    const demo = fs.readFileSync(path.join(root, 'flows', 'predictive-maintenance', 'models', 'bearing-fault.onnx'));
    expect(model.layer.digest, 'rm -r models/layout && npx tsx scripts/model-push.ts examples/bearing-fault.onnx --layout models/layout models/bearing-fault:1.0.0').to.equal(`sha256:${createHash('sha256').update(demo).digest('hex')}`);
  });

  it('no two examples share an id, so importing all of them adds a tab each', () => {
    const all = EXAMPLES.flatMap((n) => readExample(n).map((x) => x.id));
    expect(new Set(all).size).to.equal(all.length);
  });
});

// ---------------------------------------------------------------------------------------------

/** A typed array as the debug sidebar gets it: encoded by Node-RED, or JSON's index-keyed object. */
type Encoded = { __enc__: true; data: number[] } | Record<string, number>;
const typedArray = (v: Encoded): number[] => ('__enc__' in v && v.__enc__ === true ? (v.data as number[]) : Object.values(v as Record<string, number>));

interface Debug {
  id: string;
  name?: string;
  format?: string;
  level?: number;
  msg: unknown;
}
interface WsLike {
  on(ev: 'open' | 'close', f: () => void): void;
  on(ev: 'message', f: (data: Buffer) => void): void;
  on(ev: 'error', f: (e: Error) => void): void;
  send(s: string): void;
  close(): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const WebSocket = require('ws') as new (url: string) => WsLike;

/** A Node-RED process with the package installed as `npm pack` ships it, and the editor's view of it. */
class Runtime {
  readonly debug: Debug[] = [];
  readonly status = new Map<string, Array<{ text?: string; fill?: string }>>();
  private red?: RedProcess;
  private ws?: WsLike;
  /** Where the log of the current example starts. */
  private logFrom = 0;

  constructor(readonly userDir: string, private readonly env: Record<string, string>) {}

  get url(): string {
    return this.red?.url ?? '';
  }

  /** Node-RED's output since the last import. */
  get log(): string {
    return this.red?.log().slice(this.logFrom) ?? '';
  }

  /** Starts Node-RED with the package's `files` installed and no flows, and subscribes to the debug sidebar and the node statuses. */
  async start(files: string[]): Promise<void> {
    this.red = await startRedProcess(this.userDir, [], { env: this.env, files });
    const ws = new WebSocket(`${this.red.url.replace(/^http/, 'ws')}/comms`);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    ws.on('message', (data: Buffer) => {
      const parsed = JSON.parse(data.toString()) as unknown;
      for (const m of (Array.isArray(parsed) ? parsed : [parsed]) as Array<{ topic: string; data: Record<string, unknown> }>) {
        if (m.topic === 'debug') {
          const d = m.data as unknown as Debug & { msg: string };
          let value: unknown = d.msg;
          if (typeof d.msg === 'string' && !/^string/.test(d.format ?? '')) {
            try {
              value = JSON.parse(d.msg);
            } catch {
              value = d.msg;
            }
          }
          this.debug.push({ ...d, msg: value });
        } else if (m.topic.startsWith('status/')) {
          const id = m.topic.slice('status/'.length);
          if (!this.status.has(id)) this.status.set(id, []);
          this.status.get(id)!.push(m.data as { text?: string; fill?: string });
        }
      }
    });
    ws.send(JSON.stringify({ subscribe: 'debug' }));
    ws.send(JSON.stringify({ subscribe: 'status/#' }));
    this.ws = ws;
  }

  async stop(): Promise<void> {
    this.ws?.close();
    await this.red?.stop();
  }

  async json<T>(p: string, init?: RequestInit): Promise<T> {
    const res = await fetch(`${this.url}${p}`, { ...init, headers: { Accept: 'application/json', 'Content-Type': 'application/json', ...(init?.headers ?? {}) } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${p}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Import → Examples: the flow as the editor's library serves it, deployed alone (a full deploy). */
  async importAndDeploy(name: string): Promise<FlowNode[]> {
    const flow = await this.json<FlowNode[]>(`/library/examples/flows/${pkg.name}/${name}`);
    this.debug.length = 0;
    this.status.clear();
    this.logFrom = this.red!.log().length;
    await this.json('/flows', { method: 'POST', body: JSON.stringify(flow), headers: { 'Node-RED-Deployment-Type': 'full' } });
    return flow;
  }

  /** The inject node's button in the editor. */
  async press(id: string, times = 1): Promise<void> {
    for (let i = 0; i < times; i++) {
      const res = await fetch(`${this.url}/inject/${id}`, { method: 'POST' });
      expect(res.status, `inject ${id}`).to.equal(200);
    }
  }

  from(id: string): Debug[] {
    return this.debug.filter((d) => d.id === id);
  }

  /** Sidebar messages of a node's own node.warn / node.error (not of debug nodes). */
  problems(ids: string[]): Debug[] {
    return this.debug.filter((d) => ids.includes(d.id) && d.level !== undefined && d.level <= 30);
  }
}

describe('the shipped examples in a real Node-RED, installed as npm pack ships them (integration)', function () {
  this.timeout(120000);
  let red: Runtime;
  let sim: Simulator;
  let dir: string;
  let serverPki: string;

  before(async function () {
    this.timeout(120000);
    for (const f of Object.values(pkg['node-red'].nodes)) {
      expect(fs.existsSync(path.join(distRoot(), path.relative('dist', f))), `${f} is missing: run \`npm run build\` first`).to.equal(true);
    }
    dir = tmpDir('examples');
    serverPki = tmpDir('examples-server-pki');
    sim = await startSimulator({ port: await freePort(), host: '127.0.0.1', tickMs: 50, quiet: true, pkiFolder: serverPki });
    red = new Runtime(dir, { MLOPS_OPCUA_ENDPOINT: sim.endpointUrl });
    await red.start(packedFiles());
  });

  after(async () => {
    await red?.stop();
    await sim?.stop();
    if (process.env.MLOPS_KEEP_E2E) console.log(`      user directory kept in ${dir}`);
    else if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (serverPki) fs.rmSync(serverPki, { recursive: true, force: true });
  });

  it('Import → Examples lists the example flows, and nothing else (no folder of model files)', async () => {
    const list = await red.json<Array<Record<string, string>>>(`/library/examples/flows/${pkg.name}`);
    expect(list.map((e) => e.fn ?? `folder ${e.dn}`).sort()).to.deep.equal(EXAMPLES);
  });

  it('in the editor (real browser), importing each example into the open flow adds a tab of its own; every node valid, no page error', async function () {
    this.timeout(90000);
    await red.json('/flows', { method: 'POST', body: '[]', headers: { 'Node-RED-Deployment-Type': 'full' } });
    expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).to.equal(true);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors = watchErrors(page);
      await page.goto(red.url);
      await page.waitForSelector('.red-ui-palette-node[data-palette-type="mlops-opcua-read"]', { timeout: 30000 });
      for (const name of EXAMPLES) {
        const result = await page.evaluate(async ([module, example]) => {
          type N = { id: string; type: string; z?: string; valid?: boolean; _def?: { category?: string } };
          const RED = (window as unknown as { RED: {
            view: { importNodes(nodes: unknown, options: Record<string, unknown>): void };
            nodes: { eachWorkspace(f: (w: { id: string; label: string }) => void): void; eachNode(f: (n: N) => void): void; eachConfig(f: (n: N) => void): void };
            workspaces: { active(): string };
          } }).RED;
          const flow = (await (await fetch(`library/examples/flows/${module}/${example}`)).json()) as N[];
          const tabsBefore: string[] = [];
          RED.nodes.eachWorkspace((w) => tabsBefore.push(w.id));
          const openTab = RED.workspaces.active();
          RED.view.importNodes(flow, { addFlow: false }); // the dialog's default: "current flow"
          const added: Array<{ id: string; label: string }> = [];
          RED.nodes.eachWorkspace((w) => { if (!tabsBefore.includes(w.id)) added.push(w); });
          const inOpenTab: string[] = [];
          const invalid: string[] = [];
          RED.nodes.eachNode((n) => {
            if (n.z === openTab && flow.some((f) => f.id === n.id)) inOpenTab.push(n.type);
            if (!n.valid) invalid.push(`${n.type} ${n.id}`);
          });
          RED.nodes.eachConfig((n) => { if (n.valid === false) invalid.push(`${n.type} ${n.id}`); });
          return { added, inOpenTab, invalid };
        }, [pkg.name, name] as const);
        expect(result.added, `${name}: new tabs`).to.have.length(1);
        expect(result.added[0].label).to.match(/example/);
        expect(result.inOpenTab, `${name}: nodes that landed in the open tab`).to.deep.equal([]);
        expect(result.invalid, `${name}: nodes the editor marks invalid`).to.deep.equal([]);
      }
      expect(errors, errors.join('\n')).to.deep.equal([]);
    } finally {
      await browser.close();
    }
  });

  it('feature window: band energies are numbers, the 180 Hz fault shows in its band, timestamps only increase', async () => {
    await red.importAndDeploy('feature-window');
    const bands = await waitFor('the first band energies', () => red.from('fw.example.debug2')[0], 15000, 50);
    const first = bands.msg as Record<string, unknown>;
    expect(Object.keys(first)).to.have.length(8);
    for (const [k, v] of Object.entries(first)) {
      expect(v, k).to.be.a('number').and.satisfy(Number.isFinite);
      expect(k).to.match(/^vibration\.band\d \(\d+-\d+ Hz\)$/);
    }
    // push the simulator on by half a minute of samples, as fast as the button goes
    await red.press('fw.example.inject', 300);
    await sleep(1200); // the rate limit lets the newest through once a second
    const later = await waitFor('band energies after the presses', () => {
      const all = red.from('fw.example.debug2');
      return all.length >= 2 ? (all[all.length - 1].msg as Record<string, number>) : undefined;
    });
    const fault = 'vibration.band2 (125-188 Hz)';
    expect(later[fault], fault).to.be.greaterThan(10 * (first[fault] as number));
    // the 25 Hz tone's band stays about the same
    const base = 'vibration.band0 (0-63 Hz)';
    expect(later[base] / (first[base] as number)).to.be.within(0.5, 2);
    // the feature vectors: packed rows, each window after the one before
    const vectors = red.from('fw.example.debug').map((d) => d.msg as { features: { shape: number[]; names: string[]; windows: { start: Encoded } } });
    expect(vectors.length).to.be.at.least(2);
    let lastStart = -Infinity;
    for (const v of vectors) {
      expect(v.features.shape[1]).to.equal(v.features.names.length);
      for (const s of typedArray(v.features.windows.start)) {
        expect(s).to.be.greaterThan(lastStart);
        lastStart = s;
      }
    }
    // the debug node's status: the size of the newest batch (3 channels x 10 statistics + 8 bands)
    expect(red.status.get('fw.example.debug')?.at(-1)?.text).to.match(/^windows: \d+, features: 38$/);
    // the feature window never saw a sample older than the one before it (it would warn)
    expect(red.problems(['fw.example.fw']).map((d) => d.msg)).to.deep.equal([]);
    expect(red.from('fw.example.err').map((d) => d.msg)).to.deep.equal([]);
    expect(red.log).to.not.match(/\[(error|warn)\]/);
  });

  it('onnx infer: the shipped model scores every window, "healthy" first and "fault" once the fault has grown; swapping works', async () => {
    await red.importAndDeploy('onnx-infer');
    type Scored = { payload: unknown; outputs: { probability: number[] }; inference: { model: { name: string; version: string }; switchedFrom?: { name: string } | null } };
    const labels = () => red.from('onnx.example.debug').map((d) => d.msg as Scored);
    const first = await waitFor('the first label', () => labels()[0], 20000, 50);
    expect(first.payload).to.equal('healthy');
    expect(first.inference.model).to.include({ name: 'bearing-fault', version: '1.0.0' });
    expect(first.outputs.probability[0]).to.be.within(0, 0.5);
    // the probability, as the "probability" debug node's status
    const prob = await waitFor('the probability status', () => red.status.get('onnx.example.debug2')?.at(-1)?.text);
    expect(Number(prob)).to.be.within(0, 1);
    // two minutes of machine time at the press of a button
    await red.press('onnx.example.inject', 120);
    const all = await waitFor('120 more labels', () => (labels().length >= 121 ? labels() : undefined), 30000, 50);
    for (const s of all) expect(s.outputs.probability[0]).to.be.a('number').and.within(0, 1);
    expect(all.slice(0, 15).map((s) => s.payload), 'the first 15 windows (healthy bearing)').to.deep.equal(new Array(15).fill('healthy'));
    expect(all.slice(-10).map((s) => s.payload), 'the last 10 windows (grown fault)').to.deep.equal(new Array(10).fill('fault'));
    // swap the model at run time: the next result says which model it replaced
    await red.press('onnx.example.swapInject');
    await sleep(500);
    await red.press('onnx.example.inject');
    const swapped = await waitFor('a result after the swap', () => labels().find((s) => !!s.inference.switchedFrom), 20000, 50);
    expect(swapped.inference.switchedFrom).to.include({ name: 'bearing-fault' });
    expect(red.from('onnx.example.err').map((d) => d.msg)).to.deep.equal([]);
    // no warning but the one that a run stalled on the Node-RED thread (a GC pause or a busy
    // machine can make one run of a tiny model take 20 ms; the model then runs in its worker,
    // still scoring every window, as checked above)
    const moved = /\[warn\] \[mlops-onnx-infer[^\]]*\] a run of model .* on the Node-RED thread took \d+ ms: it runs in its worker thread from now on\n/g;
    expect(red.problems(['onnx.example.infer', 'onnx.example.fw']).filter((p) => !/on the Node-RED thread took/.test(String(p.msg)))).to.deep.equal([]);
    expect(red.log.replace(moved, '')).to.not.match(/\[(error|warn)\]/);
  });

  it('drift detect: both detectors go to drift after the shift at vector 300, not before', async () => {
    await red.importAndDeploy('drift-detect');
    type Change = { state: string; previous?: string; evaluations: number; method: string; drifted: string[] };
    await waitFor('the baseline to be learned from the running inject', () => red.status.get('d1a0000000000005')?.find((s) => /learn/i.test(s.text ?? '')));
    await red.press('d1a0000000000003', 450);
    const ks = await waitFor('data drift', () => red.from('d1a0000000000006').map((d) => d.msg as Change).find((c) => c.state === 'drift'), 30000, 50);
    const ph = await waitFor('score drift', () => red.from('d1a000000000000a').map((d) => d.msg as Change).find((c) => c.state === 'drift'), 30000, 50);
    expect(ks.method).to.equal('ks');
    expect(ks.drifted).to.include.members(['f0', 'f1']);
    // a KS evaluation every 5 vectors once 100 are learned and 50 are in the window: after vector 300
    expect(150 + 5 * (ks.evaluations - 1), 'vectors when KS reported drift').to.be.greaterThan(300);
    expect(ph.method).to.equal('page-hinkley');
    expect(ph.evaluations, 'scores when Page-Hinkley reported drift').to.be.greaterThan(300);
    // the sidebar shows only state changes, no drift before the shift
    for (const id of ['d1a0000000000006', 'd1a000000000000a']) {
      const changes = red.from(id).map((d) => d.msg as Change);
      expect(changes.filter((c) => c.state === 'drift').length, id).to.be.at.least(1);
      for (const c of changes) expect(c.state).to.be.oneOf(['ok', 'warn', 'drift']);
    }
    expect(red.status.get('d1a0000000000006')?.at(-1)?.text).to.be.a('string');
    expect(red.from('d1a000000000000f').map((d) => d.msg)).to.deep.equal([]);
    expect(red.log).to.not.match(/\[error\]/);
  });

  it('registry pull: right after the deploy the shipped model is pulled from the layout folder, checked, stored, and scores a window', async () => {
    await red.importAndDeploy('registry-pull');
    type Pulled = { model: { name: string; version: string; digest: string; path: string }; registry: { reference: string; source: string; signature: { verified: boolean } } };
    const pulled = await waitFor('the model message', () => red.from('registry.example.debug')[0]?.msg as Pulled | undefined, 20000, 50);
    expect(pulled.model).to.include({ name: 'bearing-fault', version: '1.0.0' });
    expect(pulled.registry).to.deep.include({ reference: 'models/bearing-fault:1.0.0', source: 'layout', signature: { verified: false } });
    expect(pulled.model.path.startsWith(path.join(dir, 'mlops-models', 'store'))).to.equal(true);
    const scored = await waitFor('a scored window', () => red.from('registry.example.scored')[0]?.msg as { payload: number; inference: { model: { digest: string } } } | undefined, 20000, 50);
    expect(scored.payload).to.be.within(0, 1);
    expect(scored.inference.model.digest).to.equal(pulled.model.digest);
    expect(red.status.get('registry.example.pull')?.at(-1)?.text).to.match(/bearing-fault 1.0.0/);
    // the rollback button takes 1.0.0 from the store
    await red.press('registry.example.rollback');
    const back = await waitFor('the rollback', () => red.from('registry.example.debug')[1]?.msg as Pulled | undefined, 20000, 50);
    expect(back.registry.source).to.equal('store');
    expect(red.from('registry.example.err').map((d) => d.msg)).to.deep.equal([]);
  });

  it('approval gate: the pulled model waits at the gate (nothing scores), the API lists it, the flow\'s "approve" lets it through once, a second pull passes as approved before', async () => {
    await red.importAndDeploy('approval-gate');
    type Listed = { pending: Array<{ id: string; summary: { title: string; model: { digest: string } } }>; recent: Array<{ decision: string; by: string }> };
    let list: Listed = { pending: [], recent: [] };
    for (const t0 = Date.now(); !list.pending.length && Date.now() - t0 < 20000; await sleep(200)) list = await red.json<Listed>('/mlops-approval/requests');
    expect(list.pending.map((p) => p.summary.title)).to.deep.equal(['bearing-fault 1.0.0']);
    expect(red.status.get('approval.example.gate')?.at(-1)?.text).to.equal('1 pending: bearing-fault 1.0.0');
    // held: onnx infer has no model yet
    await red.press('approval.example.score');
    await waitFor('the "no model" error', () => red.from('approval.example.err')[0], 20000, 50);
    expect(red.from('approval.example.approved')).to.deep.equal([]);
    await red.press('approval.example.approve');
    type Approved = { model: { digest: string }; approval: { decision: string; by: string; channel: string; reason?: string } };
    const approved = await waitFor('the approved model', () => red.from('approval.example.approved')[0]?.msg as Approved | undefined, 20000, 50);
    expect(approved.approval).to.include({ decision: 'approved', by: 'operator panel', channel: 'flow' });
    expect(approved.model.digest).to.equal(list.pending[0].summary.model.digest);
    await red.press('approval.example.score');
    const scored = await waitFor('a scored window', () => red.from('approval.example.scored')[0]?.msg as { payload: number } | undefined, 20000, 50);
    expect(scored.payload).to.be.within(0, 1);
    // the same model again: approved before, passes at once
    await red.press('approval.example.inject');
    const again = await waitFor('the second pass', () => red.from('approval.example.approved')[1]?.msg as Approved | undefined, 20000, 50);
    expect(again.approval).to.include({ decision: 'approved', channel: 'auto', reason: 'approved before' });
    const audit = fs.readFileSync(path.join(dir, 'mlops-approval', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(audit.map((r) => r.type)).to.deep.equal(['request', 'decision', 'request', 'decision']);
    expect(red.from('approval.example.err')).to.have.length(1);
    expect(red.from('approval.example.rejected')).to.deep.equal([]);
  });

  it('retrain trigger (local): "new condition" gives a decision to retrain, a candidate trained in a worker with both models\' metrics, held at the gate; pressing again while it waits says so', async function () {
    this.timeout(180000);
    await red.importAndDeploy('retrain-local');
    await waitFor('the deployed model at the trigger', () => red.from('retrain.example.decisions').length === 0 && red.status.get('retrain.example.pull')?.some((s) => /bearing-fault 1.0.0/.test(s.text ?? '')) || undefined, 30000, 100);
    await red.press('retrain.example.condition');
    // the decisions debug node shows msg.payload: the decision in words
    const decisions = () => red.from('retrain.example.decisions').map((d) => String(d.msg));
    const go = await waitFor('the decision to retrain', () => decisions().find((d) => /retraining$/.test(d)), 30000, 100);
    expect(go).to.match(/^drift for \d+ s, 300 new rows: retraining$/);
    type Candidate = { model: { name: string; version: string; metadata: { features: string[] } }; evaluation: { candidate: Record<string, number>; deployed: Record<string, number>; rows: number }; dataset: { rows: number; labelled: number } };
    const cand = await waitFor('the candidate', () => red.from('retrain.example.candidate')[0]?.msg as Candidate | undefined, 120000, 200).catch((e) => {
      throw new Error(`${e.message}: decisions ${JSON.stringify(decisions())}, errors ${JSON.stringify(red.from('retrain.example.err').map((d) => d.msg))}`);
    });
    expect(cand.model).to.include({ name: 'bearing-fault', version: '1.0.1' });
    expect(cand.model.metadata.features).to.have.length(40);
    expect(cand.dataset).to.include({ rows: 300, labelled: 300 });
    expect(cand.evaluation.rows).to.equal(60);
    expect(Object.keys(cand.evaluation.candidate)).to.include.members(['accuracy', 'auc', 'f1']);
    let list: { pending: Array<{ summary: { title: string; metrics: Array<{ name: string; candidate?: number; deployed?: number }> } }> } = { pending: [] };
    for (const t0 = Date.now(); !list.pending.length && Date.now() - t0 < 20000; await sleep(200)) list = await red.json('/mlops-approval/requests');
    const req = list.pending.find((p) => p.summary.title === 'bearing-fault 1.0.1')!;
    expect(req.summary.metrics.find((m) => m.name === 'accuracy')).to.include({ candidate: cand.evaluation.candidate.accuracy, deployed: cand.evaluation.deployed.accuracy });
    await red.press('retrain.example.condition');
    const waits = await waitFor('the decision while it waits', () => decisions().find((d) => /waits for approval/.test(d)), 30000, 100);
    expect(waits).to.equal('candidate bearing-fault 1.0.1 waits for approval: no retrain until it is decided');
    expect(red.from('retrain.example.err').map((d) => d.msg)).to.deep.equal([]);
  });

  it('opcua read: the endpoint from MLOPS_OPCUA_ENDPOINT; refused until the server certificate is trusted as the comment says, then samples and reads', async () => {
    const flow = await red.importAndDeploy('opcua-read');
    const tab = flow.find((n) => n.type === 'tab')!;
    expect(flow.find((n) => n.type === 'mlops-opcua-endpoint')).to.include({ endpoint: '${OPCUA_ENDPOINT}', securityMode: 'SignAndEncrypt', z: tab.id });
    const subscribe = flow.find((n) => n.type === 'mlops-opcua-read' && n.mode === 'subscribe')!;
    const once = flow.find((n) => n.type === 'mlops-opcua-read' && n.mode === 'read')!;
    const samples = flow.find((n) => n.type === 'debug' && n.name === 'samples')!;
    // 1. refused: the server's certificate is in rejected/ of the user directory's PKI
    const pki = path.join(dir, 'mlops-opcua-pki');
    const rejected = await waitFor('the rejected server certificate', () => {
      const d = path.join(pki, 'rejected');
      const f = fs.existsSync(d) ? fs.readdirSync(d).filter((x) => /\.(pem|der)$/.test(x)) : [];
      return f.length > 0 ? f : undefined;
    }, 30000, 100);
    expect(rejected).to.have.length(1);
    expect(red.from(samples.id)).to.deep.equal([]);
    // 2. trust it: move it to trusted/certs/
    fs.mkdirSync(path.join(pki, 'trusted', 'certs'), { recursive: true });
    fs.renameSync(path.join(pki, 'rejected', rejected[0]), path.join(pki, 'trusted', 'certs', rejected[0]));
    // 3. the subscription sends the four channels
    type Samples = { payload: Record<string, unknown>; timestamps: Record<string, unknown>; topic?: string };
    const sub = await waitFor('subscribed samples', () => red.from(samples.id).map((d) => d.msg as Samples).find((m) => m.topic === 'machine1' && Object.keys(m.payload).length === 4), 60000, 100);
    // a queue of 10 at 100 ms sampling, published every second: every change, as arrays (oldest first)
    for (const ch of ['vibration', 'temperature', 'current', 'speed']) {
      const values = sub.payload[ch] as number[];
      expect(values, ch).to.be.an('array').that.is.not.empty;
      for (const v of values) expect(v, ch).to.be.a('number').and.satisfy(Number.isFinite);
      expect(sub.timestamps[ch], ch).to.be.an('array').with.length(values.length);
    }
    // 4. "read now" reads temperature and speed once
    await red.press('d1e2f3a4b5c6d7e8');
    const read = await waitFor('a read', () => red.from(samples.id).map((d) => d.msg as Samples).find((m) => m.topic !== 'machine1'), 20000, 50);
    expect(Object.keys(read.payload).sort()).to.deep.equal(['speed', 'temperature']);
    for (const v of Object.values(read.payload)) expect(v).to.be.a('number').and.satisfy(Number.isFinite);
    expect(red.status.get(subscribe.id)?.at(-1)?.fill).to.equal('green');
    expect(red.status.get(once.id)?.at(-1)?.fill).to.not.equal('red');
    expect(sim.sessionCount).to.equal(1);
  });
});
