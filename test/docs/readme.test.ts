import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_VARS } from '../../src/config';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../src/contract/search-attributes';
import { ROOT } from '../support/tools';

// The README is the operator's reference: these checks keep it true when a
// setting, a dev-stack override, a search attribute or a route is added.

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

describe('README', () => {
  it('When an environment variable is read by the service, then the configuration table documents it with its default', () => {
    for (const v of ENV_VARS) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${v.name}\` |`));
      assert.ok(row, `${v.name} is missing from the environment table`);
      if ('default' in v && v.default !== undefined) assert.ok(row.includes(`\`${v.default}\``), `${v.name}: the default ${v.default} is not documented`);
    }
  });

  it('When the dev stack reads an override, then the README names it', () => {
    const dev = readFileSync(join(ROOT, 'scripts', 'dev.mjs'), 'utf8');
    const names = new Set([...dev.matchAll(/\b(DEV_[A-Z_]+)\b/g)].map((m) => m[1]!));
    assert.ok(names.size >= 7);
    for (const name of names) assert.ok(readme.includes(`\`${name}\``), `${name} is not in the README`);
  });

  it('When a search attribute is defined, then the README shows how to register and query it', () => {
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_DEFINITIONS)) {
      assert.ok(readme.includes(name), `${name} is not in the README`);
      if (type === 'Datetime') assert.ok(readme.includes(`--name ${name} --type Datetime`));
    }
  });

  it('When the API has a route, then the README documents it', () => {
    const api = readdirSync(join(ROOT, 'src', 'api'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(ROOT, 'src', 'api', f), 'utf8'))
      .join('\n');
    const routes = [...api.matchAll(/\bapp\.(get|post|patch|put|delete)(?:<[^(]*>)?\('([^']+)'/g)].map((m) => `${m[1]!.toUpperCase()} ${m[2]}`);
    assert.ok(routes.length >= 7, `found routes: ${routes.join(', ')}`);
    for (const route of routes) assert.ok(readme.includes(`\`${route}\``), `${route} is not documented`);
  });
});
