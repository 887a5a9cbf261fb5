import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { ROOT } from './support/tools';

// Imports point down the layers: contract ← domain ← (workflows | activities |
// adapters) ... config is low; api, cli and worker are on top. Every import of
// every module under src/ is read with the TypeScript parser (static, dynamic,
// re-exports, require) and resolved to a path under src/.

const SRC = join(ROOT, 'src');

interface Edge {
  /** The importing module, relative to src/ (`activities/index.ts`). */
  file: string;
  /** What it imports, relative to src/ without extension (`adapters/ports`), or the package name as written. */
  to: string;
}

function edges(): Edge[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .flatMap((file) => {
      const info = ts.preProcessFile(readFileSync(join(SRC, file), 'utf8'), true, true);
      return info.importedFiles.map(({ fileName }) => ({
        file,
        to: fileName.startsWith('.') ? relative(SRC, join(SRC, dirname(file), fileName)).replace(/\.(ts|js)$/, '').replace(/\/index$/, '') : fileName,
      }));
    });
}

const ALL = edges();
const from = (layer: RegExp) => ALL.filter((e) => layer.test(e.file));
/** Modules of adapters/engines/ that are not an engine's folder. */
const ENGINE_SEAM = new Set(['port', 'registry', 'router', 'guides', 'redaction', 'coalesce']);
/** Modules outside an engine's folder that may import from it. */
const ENGINE_LOOKUPS = new Set(['adapters/engines/registry.ts', 'adapters/engines/guides.ts', 'adapters/engines/redaction.ts']);

function crossesIntoEngine(e: Edge): boolean {
  const engine = /^adapters\/engines\/([^/]+)(?:\/|$)/.exec(e.to)?.[1];
  if (engine === undefined || ENGINE_SEAM.has(engine)) return false;
  return !e.file.startsWith(`adapters/engines/${engine}/`) && !ENGINE_LOOKUPS.has(e.file);
}

const inSrc = (e: Edge) => !e.to.startsWith('..') && /^(activities|adapters|api|cli|config|contract|domain|observability|worker|workflows)(\/|$)/.test(e.to);

describe('layers: every import under src/', () => {
  it('When the imports are parsed, then they are found (the parser sees static, type-only and dynamic imports and re-exports)', () => {
    assert.ok(ALL.length > 200, `${ALL.length} imports`);
    assert.ok(ALL.some((e) => e.file === 'adapters/ports.ts' && e.to === 'adapters/engines/port'), 'a type-only re-export is seen');
  });

  it('When the contract is read, then it imports nothing of src but the domain', () => {
    assert.deepEqual(from(/^contract\//).filter((e) => inSrc(e) && !/^(contract|domain)(\/|$)/.test(e.to)), []);
  });

  it('When the domain is read, then it imports nothing of src outside the domain', () => {
    assert.deepEqual(from(/^domain\//).filter((e) => inSrc(e) && !/^domain(\/|$)/.test(e.to)), []);
  });

  it('When activities, workflows and adapters are read, then none imports the api, the cli or the worker', () => {
    assert.deepEqual(from(/^(activities|workflows|adapters)\//).filter((e) => /^(api|cli|worker)(\/|$)/.test(e.to)), []);
  });

  it("When anything outside an engine's folder is read, then only the registry and the driver-free lookups (guides, redaction) import from the folder", () => {
    assert.deepEqual(ALL.filter(crossesIntoEngine), []);
    // The rule itself catches what it is for.
    assert.equal(crossesIntoEngine({ file: 'activities/reconcile.ts', to: 'adapters/engines/mysql/inventory' }), true);
    assert.equal(crossesIntoEngine({ file: 'worker/index.ts', to: 'adapters/engines/mysql' }), true);
    assert.equal(crossesIntoEngine({ file: 'adapters/engines/mysql/manager.ts', to: 'adapters/engines/mysql/runner' }), false);
    assert.equal(crossesIntoEngine({ file: 'worker/index.ts', to: 'adapters/engines/registry' }), false);
  });

  it('When the activities and the reconciler are read, then they reach the database only through the engine port', () => {
    assert.deepEqual(from(/^activities\//).filter((e) => /^adapters\/engines\/(?!port$)/.test(e.to) || e.to === 'mysql2/promise' || e.to === 'mysql2'), []);
  });
});
