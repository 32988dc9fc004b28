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
const out = path.join(root, 'dist', 'nodes');
const COMMON = 'mlops-common';

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });

for (const dir of ['nodes', 'plugins']) {
  for (const f of fs.readdirSync(path.join(root, dir))) {
    if (f.endsWith('.html')) fs.copyFileSync(path.join(root, dir, f), path.join(root, 'dist', dir, f));
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
console.log('built into dist/nodes');
