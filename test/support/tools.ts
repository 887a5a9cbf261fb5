import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

// Paths of the pinned binaries installed by scripts/tools.mjs (run by `npm test`).

export const ROOT = resolve(__dirname, '..', '..');
const VENV_BIN = join(ROOT, '.tools', 'venv', 'bin');

function tool(name: string): string {
  const path = join(VENV_BIN, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run "node scripts/tools.mjs" (npm test does it for you)`);
  return path;
}

export const toolPath = {
  temporal: () => tool('temporal'),
  temporalTestServer: () => tool('temporal-test-server'),
  motoServer: () => tool('moto_server'),
  schemathesis: () => tool('st'),
};

/** The browser the UI test drives: CHROMIUM_PATH, or Debian's chromium, which scripts/tools.mjs installs. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(path)) throw new Error(`${path} is missing: run "node scripts/tools.mjs" (npm test does it for you), which installs Debian's chromium, or set CHROMIUM_PATH`);
  return path;
}
