import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/ports';
import { ROOT } from '../support/tools';

// The PostgreSQL part of `npm run dev` (scripts/dev-postgres.mjs) on its own: whether a
// server answers, and the pg_project entry it adds to and removes from the demo configuration.

interface DevPostgres {
  pg: { key: string; schema: string; database: string; adminRole: string; adminSecretId: string };
  answers(): Promise<{ ok: boolean; why?: string }>;
  sync(configPath: string, wanted: boolean): boolean;
  tour(options: { api: string; keyPath: string; emailDomain: string }): string;
}

const CONFIG = `secretPrefix: dbaccess
projects:
  demo:
    ownerName: Olivia Owner
    ownerEmail: owner@example.com
    databases:
      dev_project:
        schema: demo_dev
        adminSecretId: dev/demo/mysql
apiClients:
  dev-admin:
    role: admin
`;

describe('npm run dev: pg_project', () => {
  let devPostgres: (options: { url: string; prefix: string; project: string; say: (line: string) => void }) => DevPostgres;
  let dir: string;
  let path: string;
  const said: string[] = [];

  before(async () => {
    const modulePath: string = join(ROOT, 'scripts', 'dev-postgres.mjs');
    ({ devPostgres } = (await import(modulePath)) as { devPostgres: typeof devPostgres });
    dir = mkdtempSync(join(tmpdir(), 'dbaccess-devpg-'));
    path = join(dir, 'dbaccess.yaml');
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const make = (url = 'postgres://postgres@127.0.0.1:5432/postgres', prefix = 'demo') => devPostgres({ url, prefix, project: 'demo', say: (l) => said.push(l) });

  it('When the demo prefix is used, then the names are the documented ones; another prefix names everything after it', () => {
    assert.deepEqual(make().pg, { key: 'pg_project', schema: 'demo_pg', database: 'dbaccess_demo', adminRole: 'dbaccess_pg_admin', adminSecretId: 'dev/demo/postgresql' });
    assert.deepEqual(make(undefined, 't1_dev').pg, { key: 'pg_project', schema: 't1_dev_pg', database: 't1_dev_db', adminRole: 't1_dev_pg_admin', adminSecretId: 'dev/t1_dev/postgresql' });
  });

  it('When the server answers, then answers() says so; when nothing listens, it gives the reason', async () => {
    assert.deepEqual(await make().answers(), { ok: true });
    assert.deepEqual(await make(`postgres://postgres@127.0.0.1:${await freePort()}/postgres`).answers(), { ok: false, why: 'ECONNREFUSED' });
  });

  it('When PostgreSQL comes and goes, then pg_project is added once, removed, and the rest of the file is left as it was', () => {
    writeFileSync(path, CONFIG);
    const dev = make();
    assert.equal(dev.sync(path, true), true);
    const added = readFileSync(path, 'utf8');
    assert.match(added, /^ {6}pg_project:\n {8}engine: postgresql\n {8}schema: demo_pg\n {8}adminSecretId: dev\/demo\/postgresql\n/m);
    assert.equal(added.replace(/^ {6}# pg_project: added by npm run dev.*\n(?:.*\n)*? {6}# end of pg_project\n/m, ''), CONFIG);
    assert.equal(dev.sync(path, true), true);
    assert.equal(readFileSync(path, 'utf8'), added, 'a second start adds it again');
    assert.equal(dev.sync(path, false), false);
    assert.equal(readFileSync(path, 'utf8'), CONFIG);
  });

  it('When the user wrote a pg_project of their own, then it is theirs: kept, whether PostgreSQL answers or not', () => {
    const own = CONFIG.replace('    databases:\n', '    databases:\n      pg_project:\n        engine: postgresql\n        schema: mine\n        adminSecretId: my/secret\n');
    writeFileSync(path, own);
    assert.equal(make().sync(path, true), true);
    assert.equal(readFileSync(path, 'utf8'), own);
    assert.equal(make().sync(path, false), true);
    assert.equal(readFileSync(path, 'utf8'), own);
  });

  it('When the tour is printed, then it grants READ on pg_project and shows psql with the database, schema and server', () => {
    const tour = make('postgres://postgres:secret@db.local:6543/postgres').tour({ api: 'http://127.0.0.1:3000', keyPath: '/k', emailDomain: 'example.com' });
    assert.match(tour, /"database":"pg_project","accessLevel":"READ"/);
    assert.match(tour, /psql "host=db\.local port=6543 dbname=dbaccess_demo user=<account from the answer>" -c 'SELECT \* FROM demo_pg\.example'/);
    assert.ok(!tour.includes('secret@'), 'the superuser password is not printed');
  });
});
