import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { SA } from '../../src/contract/search-attributes';
import { onTestRunEnd } from './hooks';
import { ROOT, toolPath } from './tools';

// Temporal for tests: the real CLI dev server (shared by the whole run) and the
// real time-skipping test server, both from the pinned binaries in .tools/.

/**
 * The dev server reads its history task queues at most 20 times a second (one
 * shard): after a short burst, every workflow and timer task then waits about
 * 35 ms, a grant takes 350 ms instead of 150 and a thousand expiries queue up.
 * Production clusters spread this over hundreds of shards. Same values as
 * scripts/dev.mjs (docs/decisions/0008-dev-server-task-queue-rate.md).
 */
export const DEV_SERVER_TUNING = [
  ...['history.transferProcessorMaxPollRPS=10000', 'history.timerProcessorMaxPollRPS=10000', 'history.visibilityProcessorMaxPollRPS=10000'].flatMap((v) => ['--dynamic-config-value', v]),
  // Its one shard writes 8 at a time, not 1; its database file is written ahead, and a
  // commit waits for no disk flush (decision 0705).
  '--dynamic-config-value',
  'history.shardIOConcurrency=8',
  ...['journal_mode=wal', 'synchronous=normal'].flatMap((v) => ['--sqlite-pragma', v]),
];

let runtimeInstalled = false;
/** Keeps the SDK's own logs quiet in tests unless TEST_TEMPORAL_LOG is set. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const level = (process.env.TEST_TEMPORAL_LOG as 'INFO' | undefined) ?? 'ERROR';
    // Core (Rust) logs are forwarded to the same logger, so they obey the same level.
    Runtime.install({ logger: new DefaultLogger(level), telemetryOptions: { logging: { filter: { core: level, other: level }, forward: {} } } });
  } catch {
    // Already installed by another module.
  }
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle, built once per test run (bundling takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  quietRuntime();
  bundle ??= bundleWorkflowCode({ workflowsPath: join(ROOT, 'src', 'workflows', 'index.ts'), logger: new DefaultLogger('WARN') });
  return bundle;
}

function startDevServer(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: toolPath.temporal() },
      searchAttributes: Object.values(SA),
      ip: '127.0.0.1',
      log: { format: 'pretty', level: 'error' },
      extraArgs: DEV_SERVER_TUNING,
    },
  }).then((env) => {
    onTestRunEnd(() => env.teardown(), { server: true });
    return env;
  });
}

let local: Promise<TestWorkflowEnvironment> | undefined;
/** One Temporal CLI dev server for the whole run, with the search attributes registered. */
export function localTemporal(): Promise<TestWorkflowEnvironment> {
  local ??= startDevServer();
  return local;
}

/** A Temporal CLI dev server of its own, for a test that must see no other test's workflows (it lists them all); stopped at the end of the run. */
export function privateTemporal(): Promise<TestWorkflowEnvironment> {
  return startDevServer();
}

/** A fresh time-skipping test server, with the search attributes registered; the caller tears it down. */
export async function timeSkippingTemporal(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: toolPath.temporalTestServer() } },
  });
  const { IndexedValueType } = temporal.api.enums.v1;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.values(SA).map((k) => [k.name, k.type === 'DATETIME' ? IndexedValueType.INDEXED_VALUE_TYPE_DATETIME : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
  return env;
}

let counter = 0;
/** A task queue nobody else polls. */
export function uniqueTaskQueue(prefix = 'test'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
