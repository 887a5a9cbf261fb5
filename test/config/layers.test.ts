import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/tools';

// Imports point down the layers: configuration is read from the environment and the
// file and passed down typed; it knows the domain, never what is built from it.

const SRC = join(ROOT, 'src');

/** What each module of `dir` imports (relative paths resolved against src/, packages as written). */
function importsOf(dir: string): { file: string; from: string }[] {
  return readdirSync(join(SRC, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => {
      const text = readFileSync(join(SRC, dir, f), 'utf8');
      return [...text.matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => {
        const from = m[1]!;
        return { file: `${dir}/${f}`, from: from.startsWith('.') ? join(dir, f, '..', from) : from };
      });
    });
}

describe('layers: config and domain', () => {
  it('When the configuration modules are read, then none imports adapters, activities, workflows, api, worker or cli', () => {
    const upward = importsOf('config').filter(({ from }) => /^(adapters|activities|workflows|api|worker|cli)(\/|$)/.test(from));
    assert.deepEqual(upward, []);
  });

  it('When the domain modules are read, then only naming.ts (outside the workflow sandbox) imports a Node module', () => {
    const node = importsOf('domain').filter(({ from }) => from.startsWith('node:') || /^(fs|crypto|path|os|child_process|net|http|https)$/.test(from));
    assert.deepEqual(node, [{ file: 'domain/naming.ts', from: 'node:crypto' }]);
    const index = readFileSync(join(SRC, 'domain', 'index.ts'), 'utf8');
    assert.doesNotMatch(index, /naming/);
  });
});
