import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { DevStackRunner, type DevStack } from '../support/dev-stack';
import { accountExists, RUN_PREFIX, rootPool } from '../support/mariadb';
import { chromiumPath, ROOT } from '../support/tools';
import { until } from '../support/wait';

// The Temporal UI as an operator uses it, in a real browser (Debian's chromium,
// driven by playwright-core): on the dev stack (`npm run dev`), find a person's
// grant by the grantee search attribute, open it, and read its summary, details,
// current details and activity summaries. Payloads are encrypted, so all of that
// is readable only because the UI decodes it through the API's codec endpoint.
// Screenshots go to .test/screenshots/temporal-ui/ (git-ignored).

const UI_TIMEOUT = 30_000;
const SCREENSHOTS = join(ROOT, '.test', 'screenshots', 'temporal-ui');

/** Waits until `locator` is visible, failing with what was expected. */
async function visible(locator: Locator, what: string): Promise<void> {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: UI_TIMEOUT });
  } catch (err) {
    throw new Error(`the Temporal UI does not show ${what}: ${(err as Error).message.split('\n')[0]}`);
  }
}

const loopback = (url: string) => /^(https?|wss?):\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//.test(url) || /^(data|blob|about):/.test(url);

describe('Temporal UI (in a browser)', function () {
  this.timeout(180_000);
  const dev = new DevStackRunner('ui');
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let stack: DevStack;

  before(async () => {
    rootPool(); // registers the end-of-run cleanup of this run's schemas and accounts
    const executablePath = chromiumPath();
    await dev.allocatePorts();
    stack = await dev.start();
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    context = await browser.newContext({ viewport: { width: 1600, height: 1400 } });
    // The UI fetches a news feed from the internet; nothing but this machine's stack is reached.
    await context.route('**/*', (route) => (loopback(route.request().url()) ? route.continue() : route.abort()));
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await dev.dispose();
  });

  it('When an operator filters by the grantee and opens the grant, then its summary, current details and activity summaries are shown decoded', async () => {
    const email = `${RUN_PREFIX}.ui@${stack.emailDomain}`;
    const name = 'Una Interface';
    const created = await dev.call(stack, 'POST', '/grants', {
      email,
      name,
      project: stack.project,
      database: stack.databases[0],
      accessLevel: 'READ_WRITE',
      expiresAt: new Date(Date.now() + 3 * 24 * 3600_000).toISOString().slice(0, 10),
      reason: 'UI check',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { grantId, account, expiresAt, schema } = created.body as { grantId: string; account: string; expiresAt: string; schema: string };
    assert.equal(grantId, `grant/demo/dev_project/${email}`);

    // What Temporal stores is ciphertext: whatever the UI shows in clear, it got from the codec endpoint.
    const raw = (await (await fetch(`${stack.temporalUi}/api/v1/namespaces/default/workflows/${encodeURIComponent(grantId)}/history`)).json()) as {
      history: { events: { workflowExecutionStartedEventAttributes?: { input: { payloads: { metadata: Record<string, string>; data: string }[] } } }[] };
    };
    const stored = raw.history.events[0]!.workflowExecutionStartedEventAttributes!.input.payloads[0]!;
    assert.equal(Buffer.from(stored.metadata.encoding!, 'base64').toString(), 'binary/encrypted');
    assert.ok(!Buffer.from(stored.data, 'base64').toString('latin1').includes(name), 'the name is not readable in the stored input');

    const page: Page = await context!.newPage();
    const decodes: number[] = [];
    page.on('response', (res) => {
      if (res.url().startsWith(`${stack.api}/codec/decode`)) decodes.push(res.status());
    });

    // The workflow list, filtered by the grantee search attribute through the URL.
    const query = `DbAccessGrantee = "${email}"`;
    await page.goto(`${stack.temporalUi}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
    const row = page.getByRole('link', { name: grantId, exact: true });
    await visible(row, `the grant's row (${grantId}) in the filtered list`);
    await visible(page.getByText('grantAccess', { exact: true }), 'the workflow type in the row');
    await visible(page.getByText(`"${email}"`), 'the DbAccessGrantee filter');
    assert.equal(await page.getByRole('link', { name: /^grant\// }).count(), 1, 'the filter finds exactly this grant');
    await page.screenshot({ path: join(SCREENSHOTS, '1-workflows-filtered.png'), fullPage: true });

    // The grant: its input is decoded (the name is only in encrypted payloads), and so are its activity summaries.
    await row.click();
    await visible(page.getByRole('heading', { name: grantId }), 'the workflow page');
    await visible(page.getByText(`"name": "${name}"`), `the decoded input (the grantee's name "${name}")`);
    await visible(page.getByText(`"accessLevel": "READ_WRITE"`), 'the decoded input (the level)');
    await page.getByRole('tab', { name: /^Event History/ }).click();
    await visible(page.getByText('audit REQUESTED by dev-admin', { exact: true }), 'the REQUESTED audit activity summary');
    await visible(page.getByText(`create account ${account} and store its secret dbaccess/demo/dev_project/${account}`, { exact: true }), 'the create-account activity summary');
    await visible(page.getByText(`grant READ_WRITE (SELECT, INSERT, UPDATE, DELETE) on ${schema}`, { exact: true }), 'the grant activity summary');
    await visible(page.getByText(`audit GRANTED READ_WRITE until ${expiresAt}`, { exact: true }), 'the GRANTED audit activity summary');
    await page.screenshot({ path: join(SCREENSHOTS, '2-workflow-history.png'), fullPage: true });
    // The history scrolls inside the page; the timeline has every step and its summary on one screen.
    await page.getByRole('tab', { name: 'Timeline' }).click();
    await visible(page.getByText('audit REQUESTED by dev-admin'), 'the REQUESTED audit activity summary on the timeline');
    await visible(page.getByText(`notifyGrant • email GRANTED to ${email}`), 'the e-mail activity summary on the timeline');
    await page.screenshot({ path: join(SCREENSHOTS, '3-workflow-timeline.png'), fullPage: true });

    // Summary, details and current details: each rendered (as Markdown) in a frame of its own.
    await page.getByRole('tab', { name: 'User Metadata' }).click();
    const summary = page.frameLocator('#user-metadata-summary');
    await visible(summary.getByText(`READ_WRITE on demo/dev_project for ${email} until ${expiresAt}`), 'the static summary');
    const details = page.frameLocator('#user-metadata-details');
    await visible(details.getByText(`${name}`), "the static details (the grantee's name)");
    await visible(details.getByText('UI check'), 'the static details (the reason)');
    const current = page.frameLocator('#user-metadata-current-details');
    await visible(current.getByText('ACTIVE', { exact: true }), 'the current status');
    await visible(current.getByText(`READ_WRITE (SELECT, INSERT, UPDATE, DELETE) on demo/dev_project for ${email}`), 'the current level');
    await visible(current.getByText(`expires ${expiresAt}`), 'the current expiry');
    await page.screenshot({ path: join(SCREENSHOTS, '4-workflow-user-metadata.png'), fullPage: true });

    assert.ok(decodes.length > 0 && decodes.every((s) => s === 200), `the browser decoded through ${stack.api}/codec (answers: ${decodes.join(', ') || 'none'})`);

    // Revoked through the API: the current details follow, and the revoke's summary joins the history.
    assert.equal((await dev.call(stack, 'POST', `/grants/${encodeURIComponent(grantId)}/revoke`, { reason: 'UI test done' })).status, 202);
    await until('the account to be dropped', async () => !(await accountExists(account, '%')), 20_000);
    await until('the grant to be REVOKED', async () => (await dev.call(stack, 'GET', `/grants/${encodeURIComponent(grantId)}`)).body.status === 'REVOKED', 20_000);
    await page.reload();
    await visible(page.frameLocator('#user-metadata-current-details').getByText('REVOKED', { exact: true }), 'the current status after the revoke');
    await page.getByRole('tab', { name: /^Event History/ }).click();
    await visible(page.getByText(`revoke: contain ${account}`), 'the revoke activity summary');
    await page.screenshot({ path: join(SCREENSHOTS, '5-workflow-revoked.png'), fullPage: true });
    await page.close();
  });
});
