import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';

// The workflow code the worker runs, bundled by webpack. Bundling takes seconds
// and leaves webpack's modules and heap in the process that did it, for the life
// of the worker (docs/decisions/0005-prebuilt-workflow-bundle.md). So:
//
//   - `npm run build` bundles once, into dist/workflows.bundle.js, next to the
//     compiled worker, which loads it at start-up (the image's case: a restart
//     polls again in about a second);
//   - otherwise (`npm run worker`, from source) the worker bundles in a
//     short-lived child process and keeps only the code.
//
//   node dist/src/worker/bundle.js dist/workflows.bundle.js    (what `npm run build` runs)

/** Where `npm run build` puts the bundle, relative to this module once compiled (dist/src/ → dist/). */
export const PREBUILT_BUNDLE = join(__dirname, '..', '..', 'workflows.bundle.js');

async function bundleTo(file: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') });
  writeFileSync(file, code);
}

/** The prebuilt bundle when there is one (compiled worker), else a fresh one from a child process. */
export async function loadWorkflowBundle(): Promise<WorkflowBundle & { source: 'prebuilt' | 'bundled' }> {
  if (__filename.endsWith('.js') && existsSync(PREBUILT_BUNDLE)) return { code: readFileSync(PREBUILT_BUNDLE, 'utf8'), source: 'prebuilt' };
  const dir = mkdtempSync(join(tmpdir(), 'dbaccess-bundle-'));
  const file = join(dir, 'workflows.bundle.js');
  try {
    await new Promise<void>((resolve, reject) => {
      // The same loader flags as this process (tsx when run from source).
      const child = fork(__filename, [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.once('error', reject);
      child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`bundling the workflow code failed (${signal ?? `exit code ${code}`})`))));
    });
    return { code: readFileSync(file, 'utf8'), source: 'bundled' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node dist/src/worker/bundle.js <output file>\n');
    process.exit(2);
  }
  bundleTo(out).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bundling the workflow code failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
