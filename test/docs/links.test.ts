import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { ROOT } from '../support/tools';
import { allDocs, headingAnchors, links } from './markdown';

// A reader follows the README into docs/ and from page to page: every relative
// link must reach a file of the repository and, with an #anchor, a heading of it.

describe('documentation links', () => {
  const docs = allDocs();

  it('When the documentation is read, then it has the README and the pages of docs/', () => {
    const paths = docs.map((d) => d.path);
    for (const page of ['README.md', 'docs/api.md', 'docs/lifecycle.md', 'docs/operations.md', 'docs/development.md', 'docs/decisions/README.md']) {
      assert.ok(paths.includes(page), `${page} is missing`);
    }
  });

  it('When a page links to another file, then the file exists in the repository', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const doc of docs) {
      for (const { target, line } of links(doc.text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const where = `${doc.path}:${line}: ${target}`;
        const path = decodeURIComponent(target.split('#')[0]!);
        if (path === '') continue; // an anchor of the same page (next test)
        if (path.startsWith('/')) {
          broken.push(`${where} (an absolute path: link relatively, within the repository)`);
          continue;
        }
        const file = normalize(join(ROOT, dirname(doc.path), path));
        checked++;
        if (relative(ROOT, file).startsWith(`..${sep}`)) broken.push(`${where} (outside the repository)`);
        else if (!existsSync(file)) broken.push(`${where} (no such file)`);
        else if (!statSync(file).isFile()) broken.push(`${where} (a folder: link to a file in it)`);
      }
    }
    assert.ok(checked >= 50, `only ${checked} links to files were found`);
    assert.deepEqual(broken, [], 'broken links');
  });

  it('When a link has an #anchor, then the page it points to has that heading', () => {
    const anchorsOf = new Map<string, Set<string>>();
    const anchors = (path: string) => {
      if (!anchorsOf.has(path)) anchorsOf.set(path, headingAnchors(readFileSync(join(ROOT, path), 'utf8')));
      return anchorsOf.get(path)!;
    };
    const broken: string[] = [];
    let checked = 0;
    for (const doc of docs) {
      for (const { target, line } of links(doc.text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || !target.includes('#')) continue;
        const [path, anchor] = target.split('#') as [string, string];
        const page = path === '' ? doc.path : relative(ROOT, normalize(join(ROOT, dirname(doc.path), decodeURIComponent(path))));
        if (!page.endsWith('.md') || !existsSync(join(ROOT, page))) continue; // reported by the file test
        checked++;
        if (!anchors(page).has(decodeURIComponent(anchor))) broken.push(`${doc.path}:${line}: ${target} (no such heading in ${page})`);
      }
    }
    assert.ok(checked >= 40, `only ${checked} anchored links were found`);
    assert.deepEqual(broken, [], 'links to headings that do not exist');
  });

  it('When a decision record is added, then the index of docs/decisions links to it', () => {
    const index = docs.find((d) => d.path === 'docs/decisions/README.md')!;
    const listed = new Set(links(index.text).map((l) => l.target.split('#')[0]));
    const records = docs.map((d) => d.path).filter((p) => /^docs\/decisions\/\d{4}-[a-z0-9-]+\.md$/.test(p));
    assert.ok(records.length >= 10, `only ${records.length} records found`);
    const unlisted = records.map((p) => p.slice('docs/decisions/'.length)).filter((name) => !listed.has(name));
    assert.deepEqual(unlisted, [], 'records missing from docs/decisions/README.md');
    const misnamed = docs.map((d) => d.path).filter((p) => p.startsWith('docs/decisions/') && p !== 'docs/decisions/README.md' && !records.includes(p));
    assert.deepEqual(misnamed, [], 'decision records are named NNNN-short-name.md');
  });

  it('When headings are turned into anchors, then they are the ones the Markdown renderer makes', () => {
    const text = [
      '# dbaccess',
      '## `POST /grants/adopt`: adopt accesses of the old scripts',
      "### The old script's flags",
      '## Where the API is, and the key',
      '## **Bold** and _emphasis_ in [a link](x.md)',
      '## Tests',
      '## Tests',
      '```bash',
      '# a comment, not a heading',
      '```',
    ].join('\n');
    assert.deepEqual(
      [...headingAnchors(text)],
      ['dbaccess', 'post-grantsadopt-adopt-accesses-of-the-old-scripts', 'the-old-scripts-flags', 'where-the-api-is-and-the-key', 'bold-and-emphasis-in-a-link', 'tests', 'tests-1'],
    );
  });

  it('When a page names a link in code, then it is not taken for a link', () => {
    const text = ['See [the API](docs/api.md#grants) and `[not](a-link.md)`.', '```', '[nor](this.md)', '```', '[ref]: docs/cli.md'].join('\n');
    assert.deepEqual(
      links(text).map((l) => l.target),
      ['docs/api.md#grants', 'docs/cli.md'],
    );
  });
});
