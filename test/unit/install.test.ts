/**
 * The README's `npm install && npm test` on a fresh machine: npm's install-script policy
 * (package.json "allowScripts") keeps onnxruntime-node's CUDA download from running, without
 * the .npmrc key npm 11 warns about and npm 12 drops; the setup step npm test runs first
 * stops with the one command to run when it cannot install what the tests need; .ci/run is
 * that command and nothing more.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};

/**
 * The environment of a fresh shell: none of the npm_* variables `npm test` sets for mocha
 * (npm would read npm_config_* back as configuration) and none of onnxruntime-node's own
 * switches, so only the project's files decide.
 */
function freshEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || /^ONNXRUNTIME_NODE_INSTALL/i.test(k) || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function npm(args: string[], env = freshEnv()) {
  const r = spawnSync('npm', args, { cwd: root, env, encoding: 'utf8', timeout: 60000 });
  expect(r.error, `npm ${args.join(' ')}`).to.equal(undefined);
  return r;
}

describe('install: onnxruntime-node CUDA download and npm warnings', function () {
  this.timeout(60000);

  it('npm reads the project without a warning about its configuration (no unknown .npmrc key)', () => {
    const r = npm(['install-scripts', 'ls']);
    expect(r.stderr, r.stderr).to.not.match(/Unknown (project|user|global|env|cli|builtin) config|stop working in the next major version/i);
    expect(r.stderr, r.stderr).to.not.match(/npm warn/i);
    expect(r.status, r.stderr).to.equal(0);
  });

  it('every dependency install script is decided: onnxruntime-node and esbuild denied by name', () => {
    // npm 11 still runs unreviewed scripts (with a warning); only an explicit denial skips them
    // on this npm and the next.
    expect(pkg.allowScripts).to.deep.include({ 'onnxruntime-node': false, esbuild: false });
    const r = npm(['install-scripts', 'ls']);
    expect(r.stdout.trim(), r.stdout).to.equal('No packages with unreviewed install scripts.');
  });

  it('npm rebuild onnxruntime-node does not run its install script (the CUDA download)', () => {
    // A preload in every node process npm starts records the install script if it starts,
    // and stops it there, so a failing run of this test downloads nothing.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-install-'));
    try {
      const probe = path.join(dir, 'probe.js');
      const log = path.join(dir, 'ran.log');
      fs.writeFileSync(
        probe,
        `const a = process.argv[1] || '';
if (/onnxruntime-node[\\\\/]script[\\\\/]install(\\.js)?$/.test(a)) {
  require('fs').appendFileSync(${JSON.stringify(log)}, a + '\\n');
  process.exit(0);
}
`,
      );
      const r = npm(['rebuild', 'onnxruntime-node', '--foreground-scripts'], freshEnv({ NODE_OPTIONS: `--require ${probe}` }));
      expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
      expect(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '', 'onnxruntime-node install script ran').to.equal('');
      // the probe itself works: it catches the script when it is started directly
      const direct = spawnSync(process.execPath, [path.join(root, 'node_modules', 'onnxruntime-node', 'script', 'install')], {
        env: freshEnv({ NODE_OPTIONS: `--require ${probe}` }),
        encoding: 'utf8',
        timeout: 30000,
      });
      expect(direct.status, `${direct.stdout}${direct.stderr}`).to.equal(0);
      expect(fs.readFileSync(log, 'utf8')).to.match(/onnxruntime-node\/script\/install/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('install: npm test brings what the tests need (scripts/test-setup.sh)', function () {
  this.timeout(30000);

  it('runs before mocha as the pretest script', () => {
    expect(pkg.scripts.pretest).to.equal('bash scripts/test-setup.sh');
  });

  it('without apt-get it stops before any test with the one command to run', () => {
    // A PATH without apt-get and tests' paths pointing at nothing: nothing is installable.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-setup-'));
    try {
      fs.symlinkSync('/usr/bin/dirname', path.join(bin, 'dirname'));
      const r = spawnSync('/bin/bash', [path.join(root, 'scripts', 'test-setup.sh')], {
        cwd: root,
        env: {
          PATH: bin,
          HOME: bin,
          MLOPS_SETUP_CHROMIUM: path.join(bin, 'chromium'),
          MLOPS_SETUP_PYTHON: path.join(bin, 'python3'),
          MLOPS_SETUP_REGISTRY: path.join(bin, 'docker-registry'),
          MLOPS_SETUP_HTPASSWD: path.join(bin, 'htpasswd'),
          MLOPS_SETUP_MOSQUITTO: path.join(bin, 'mosquitto'),
        },
        encoding: 'utf8',
        timeout: 20000,
      });
      expect(r.status, r.stderr).to.equal(1);
      expect(r.stdout, 'nothing installed, nothing run').to.equal('');
      expect(r.stderr).to.match(/not installed: chromium python3-onnx python3-scipy docker-registry apache2-utils mosquitto/);
      const commands = r.stderr.split('\n').filter((l) => /apt-get install/.test(l));
      expect(commands).to.have.length(1);
      expect(commands[0].trim()).to.match(/^(sudo )?apt-get install -y chromium python3-onnx python3-scipy docker-registry apache2-utils mosquitto$/);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it('.ci/run runs exactly the README\'s test command', () => {
    const commands = fs
      .readFileSync(path.join(root, '.ci', 'run'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !/^(set |cd |node --version|npm --version)/.test(l));
    expect(commands).to.deep.equal(['npm install && npm test']);
    expect(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).to.include('npm install && npm test ');
  });
});
