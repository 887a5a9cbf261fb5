import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The workflows run in Temporal's sandbox and sit low in the layers: they import
// only the contract and the domain (DESIGN.md, "Components"). The contract imports
// only the domain. Read from the sources, so a new import that breaks it fails here.

const SRC = resolve(__dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every module a file imports or re-exports: `./x` resolved to a folder of src, packages by name. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|(?:^|\n)\s*import\s+'([^']+)'/g)].map((m) => m[1] ?? m[2]!);
  return specifiers.map((s) => (s.startsWith('.') ? relative(SRC, resolve(dirname(file), s)).split('/')[0]! : s));
}

function offending(folder: string, allowed: readonly string[]): string[] {
  return sources(join(SRC, folder)).flatMap((file) =>
    importsOf(file)
      .filter((target) => !allowed.includes(target))
      .map((target) => `${relative(SRC, file)} imports ${target}`),
  );
}

describe('layers of the workflows and the contract', () => {
  it('When the workflow sources are read, then they import only the contract, the domain, the workflow SDK and async-mutex', () => {
    assert.deepEqual(offending('workflows', ['workflows', 'contract', 'domain', '@temporalio/workflow', 'async-mutex']), []);
  });

  it('When the contract sources are read, then they import only the domain and the Temporal SDK', () => {
    assert.deepEqual(offending('contract', ['contract', 'domain', '@temporalio/workflow', '@temporalio/common']), []);
  });

  it('When the workflow sources are measured, then none is over 400 lines', () => {
    const long = sources(join(SRC, 'workflows'))
      .map((file) => ({ file: relative(SRC, file), lines: readFileSync(file, 'utf8').split('\n').length }))
      .filter((f) => f.lines > 400);
    assert.deepEqual(long, []);
  });
});
