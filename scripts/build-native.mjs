#!/usr/bin/env node
// Builds the optional native addons (native/*/binding.gyp) with node-gyp, against the
// Node headers npm is configured with. A failed build is reported, not fatal: the shim
// then watches PSI by polling and says so in its metrics.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodeGyp = process.env.npm_config_node_gyp
  ?? path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
// Build against the headers installed with this Node (no download: the machines have no internet).
const prefix = path.resolve(path.dirname(process.execPath), '..');
const nodedir = existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
for (const name of readdirSync(path.join(root, 'native'))) {
  const dir = path.join(root, 'native', name);
  if (!existsSync(path.join(dir, 'binding.gyp'))) continue;
  const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', '--silent', ...nodedir], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status === 0) console.error(`native/${name}: built`);
  else console.error(`native/${name}: build failed (status ${result.status}); the code that uses it falls back`);
}
