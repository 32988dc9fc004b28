#!/usr/bin/env node
// Build: compile the TypeScript with tsc, then put each node's and plugin's .html, the icons/ and the
// locales/ folders beside the compiled JavaScript, where Node-RED looks for them. The shared
// catalog locales/<lang>/mlops-common.json is merged into every node's catalog (Node-RED loads
// one catalog per node file), so runtime and editor find "mlops-common.*" keys from any node;
// it is copied as it is too, for the English fallback of nodes/lib/node-red/i18n.ts.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..');
// MLOPS_BUILD_OUT builds elsewhere than dist/ (a second checkout's tests beside a running build; see MLOPS_TEST_DIST)
const dist = path.resolve(process.env.MLOPS_BUILD_OUT || path.join(root, 'dist'));
const out = path.join(dist, 'nodes');
const COMMON = 'mlops-common';

fs.rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', dist], { stdio: 'inherit' });

for (const dir of ['nodes', 'plugins']) {
  for (const f of fs.readdirSync(path.join(root, dir))) {
    if (f.endsWith('.html')) fs.copyFileSync(path.join(root, dir, f), path.join(dist, dir, f));
  }
}
fs.cpSync(path.join(root, 'icons'), path.join(out, 'icons'), { recursive: true });
for (const lang of fs.readdirSync(path.join(root, 'locales'))) {
  const src = path.join(root, 'locales', lang);
  const dst = path.join(out, 'locales', lang);
  fs.mkdirSync(dst, { recursive: true });
  const commonFile = path.join(src, `${COMMON}.json`);
  const common = fs.existsSync(commonFile) ? JSON.parse(fs.readFileSync(commonFile, 'utf8')) : undefined;
  for (const f of fs.readdirSync(src)) {
    if (f.endsWith('.json') && common && f !== `${COMMON}.json`) {
      const catalog = JSON.parse(fs.readFileSync(path.join(src, f), 'utf8'));
      fs.writeFileSync(path.join(dst, f), JSON.stringify({ ...catalog, [COMMON]: common }, null, 2));
    } else fs.copyFileSync(path.join(src, f), path.join(dst, f));
  }
}
// tfjs-core's gradients exist only as ES modules that Node cannot load (imports without file
// extensions): bundle them into one CommonJS file for the trainer (nodes/lib/model/trainer.ts).
require('esbuild').buildSync({
  entryPoints: [require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  outfile: path.join(out, 'lib', 'model', 'tfjs-gradients.js'),
  logLevel: 'warning',
});

// A plugin's catalog (plugins/<name>.html's texts) beside the plugin: Node-RED registers it under the plugin's id.
for (const lang of fs.readdirSync(path.join(root, 'locales'))) {
  for (const f of fs.readdirSync(path.join(root, 'plugins')).filter((f) => f.endsWith('.html'))) {
    const catalog = path.join(root, 'locales', lang, f.replace(/\.html$/, '.json'));
    if (!fs.existsSync(catalog)) continue;
    fs.mkdirSync(path.join(dist, 'plugins', 'locales', lang), { recursive: true });
    fs.copyFileSync(catalog, path.join(dist, 'plugins', 'locales', lang, path.basename(catalog)));
  }
}
console.log(`built into ${path.relative(root, out) || out}`);
