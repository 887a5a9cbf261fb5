// How the worker process is started, for memory: settings that the C library's
// allocator and V8 read before any of our code runs, so they cannot be applied
// from inside the process. They are set where the process is started: the image
// (Dockerfile ENV and the worker's command in docker-compose.yml), the tests'
// and the benchmark's worker processes (test/support/processes.ts).
//
// Why these values, and what they were measured to save: docs/decisions/0007-worker-memory-settings.md.

/**
 * glibc malloc: at most 2 arenas, and blocks from 128 KiB up mapped on their own
 * and returned when freed. Without them, the bursts of a busy minute (gRPC
 * buffers, TLS, the SDK core's threads) leave 30 MiB arenas that are never given
 * back. Harmless for the API, so the image sets them for both processes.
 */
export const ALLOCATOR_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/**
 * Node's flags for the worker: a 4 MiB young generation per V8 isolate (the main
 * thread and the workflow thread) instead of 16 MiB, which a burst of grants grows
 * to and keeps. The worker's garbage is short-lived and small; scavenges stay cheap.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/** The settings above that this process was started without (names, for the start-up log). */
export function missingTuning(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const nodeOptions = (env.NODE_OPTIONS ?? '').split(/\s+/);
  return [
    ...WORKER_NODE_FLAGS.filter((flag) => !execArgv.includes(flag) && !nodeOptions.includes(flag)),
    ...Object.entries(ALLOCATOR_ENV)
      .filter(([name, value]) => env[name] !== value)
      .map(([name, value]) => `${name}=${value}`),
  ];
}
