#!/usr/bin/env node
// Build: compile the TypeScript with tsc, then put each node's .html, the icons/ and the
// locales/ folders beside the compiled JavaScript, where Node-RED looks for them.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'nodes');

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });

for (const f of fs.readdirSync(path.join(root, 'nodes'))) {
  if (f.endsWith('.html')) fs.copyFileSync(path.join(root, 'nodes', f), path.join(out, f));
}
fs.cpSync(path.join(root, 'icons'), path.join(out, 'icons'), { recursive: true });
fs.cpSync(path.join(root, 'locales'), path.join(out, 'locales'), { recursive: true });
console.log('built into dist/nodes');
