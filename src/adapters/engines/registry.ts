import { ENGINE_KEYS, PRIVILEGE_CATALOGUES, type EngineKey } from '../../domain';
import type { DatabaseEngine } from './port';
import { ENGINE_REDACTION } from './redaction';
import { mysqlEngine } from './mysql';
import { postgresqlEngine } from './postgresql';

// The engines by key: one line per engine. The configuration accepts exactly
// ENGINE_KEYS (src/domain/engines.ts, which it may import), so the registry
// checks at load that it registers exactly those keys, with the catalogues the
// configuration checked levels against, and that the logger redacts for each.

const ENGINES: readonly DatabaseEngine[] = [
  mysqlEngine,
  postgresqlEngine,
];

export function assertRegistry(engines: readonly DatabaseEngine[]): ReadonlyMap<string, DatabaseEngine> {
  const byKey = new Map(engines.map((e) => [e.key, e]));
  const keys = [...byKey.keys()].sort();
  if (byKey.size !== engines.length || keys.join(',') !== [...ENGINE_KEYS].sort().join(',')) {
    throw new Error(`the engine registry (${engines.map((e) => e.key).join(', ')}) must register each of ENGINE_KEYS (${ENGINE_KEYS.join(', ')}) once`);
  }
  for (const e of engines) {
    const catalogue = PRIVILEGE_CATALOGUES[e.key as EngineKey];
    if (e.privileges.engine !== e.key || e.privileges.names.join(',') !== catalogue.names.join(',')) {
      throw new Error(`engine ${e.key}: its privilege names must be PRIVILEGE_CATALOGUES.${e.key}'s, which the configuration checks levels against`);
    }
    if (e.guide.engine !== e.key) throw new Error(`engine ${e.key}: its guide is ${e.guide.engine}'s`);
    if (e.redaction.some((rule) => !ENGINE_REDACTION.includes(rule))) throw new Error(`engine ${e.key}: its redaction rules must be listed in engines/redaction.ts`);
  }
  return byKey;
}

const REGISTRY = assertRegistry(ENGINES);

/** Every registered engine. */
export function registeredEngines(): DatabaseEngine[] {
  return [...REGISTRY.values()];
}

/** The engine of a key; throws for a key that is not registered (the configuration refuses those). */
export function engineFor(key: string): DatabaseEngine {
  const engine = REGISTRY.get(key);
  if (!engine) throw new Error(`no database engine "${key}" (registered: ${[...REGISTRY.keys()].join(', ')})`);
  return engine;
}
