import { spawn, type ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { join } from 'node:path';

import { Connection } from '@temporalio/client';

import { onTestRunEnd } from './hooks';
import { freePort } from './ports';
import { ALLOCATOR_ENV, WORKER_NODE_FLAGS } from '../../src/worker/process-tuning';
import { DEV_SERVER_TUNING } from './temporal';
import { ROOT, toolPath } from './tools';
import { until } from './wait';

// Real processes for fault tests: the worker exactly as `npm run worker` starts
// it, and a Temporal dev server of a test's own, each in a process group of its
// own so that SIGKILL reaches every process in it (tsx runs the worker in a
// child process of its own).
//
// Each runs under a tiny shell guardian holding a pipe from this process as its
// stdin: when the test process ends in any way (even SIGKILL) the pipe closes
// and the guardian kills the whole group, so an aborted run leaves nothing behind.

const GUARDIAN = [
  // fd 3 keeps our pipe; the command itself reads nothing.
  'exec 3<&0',
  '"$0" "$@" </dev/null &',
  'm=$!',
  // Background lists read /dev/null unless redirected: this one reads our pipe.
  '{ cat <&3 >/dev/null; kill -KILL 0; } &',
  'wait $m',
  'echo "[process exited with status $?]" >&2',
  'kill -KILL 0',
].join('\n');

export interface GroupProcess {
  readonly pid: number;
  /** Everything it wrote, stdout and stderr interleaved (the last 2 MB). */
  output(): string;
  /** Resolves when the group leader has exited. */
  readonly exited: Promise<void>;
  readonly running: boolean;
  /** Waits for a line of output matching `pattern` written after `from` (a length of output()). */
  waitForOutput(pattern: RegExp, timeoutMs: number, from?: number): Promise<void>;
  /** Sends `signal` to every process of the group and waits for the leader to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnGroup(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): GroupProcess {
  const child: ChildProcess = spawn('/bin/sh', ['-c', GUARDIAN, command, ...args], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  child.stdin!.on('error', () => undefined);
  let running = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running = false;
      process.removeListener('exit', onExit);
      resolve();
    }),
  );
  function onExit(): void {
    // Synchronous last resort when the test process exits without the run-end hook.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.once('exit', onExit);

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (!running) return;
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 10_000);
    await exited;
    clearTimeout(timer);
  };
  onTestRunEnd(async () => {
    process.removeListener('exit', onExit);
    await kill('SIGKILL');
  });

  return {
    pid: child.pid!,
    output: () => out,
    exited,
    get running() {
      return running;
    },
    async waitForOutput(pattern, timeoutMs, from = 0) {
      await until(
        `${name} to print ${pattern}`,
        () => {
          if (pattern.test(out.slice(from))) return true;
          if (!running) throw new Error(`${name} exited before printing ${pattern}:\n${out.slice(-4000)}`);
          return false;
        },
        timeoutMs,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- ${name} output ---\n${out.slice(-4000)}`);
      });
    },
    kill,
  };
}


// ---------------------------------------------------------------------------
// The worker, as `npm run worker` runs it.

export interface WorkerProcess {
  /** The current process (a new one after each restart). */
  readonly process: GroupProcess;
  /** Every line every incarnation wrote. */
  output(): string;
  /** SIGKILL to the whole group: no shutdown, no cleanup, in-flight activities are lost. */
  kill(): Promise<void>;
  /** Starts it again, on the same settings, and waits until it polls. */
  restart(): Promise<void>;
  /** Graceful stop (SIGTERM), then SIGKILL if it takes too long. */
  stop(): Promise<void>;
}

/**
 * Starts `tsx src/worker/index.ts` (or, `compiled`, `node dist/src/worker/index.js` of `npm run build`) with `env`
 * (DBACCESS_CONFIG, TEMPORAL_*, AWS_*, SMTP_*, ...) and waits for "worker started". It runs with the
 * image's allocator settings and Node flags (src/worker/process-tuning.ts); `env` may override them, and the
 * compiled worker takes more Node flags in `nodeFlags`.
 */
export async function startWorkerProcess(env: Record<string, string>, options: { startTimeoutMs?: number; compiled?: boolean; nodeFlags?: readonly string[] } = {}): Promise<WorkerProcess> {
  // Some flags (--cpu-prof) are refused in NODE_OPTIONS, which is how tsx would pass them on.
  if (options.nodeFlags?.length && !options.compiled) throw new Error('nodeFlags need the compiled worker');
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const fullEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...ALLOCATOR_ENV,
    // tsx starts node itself: the flags reach it through NODE_OPTIONS.
    ...(options.compiled ? {} : { NODE_OPTIONS: WORKER_NODE_FLAGS.join(' ') }),
    ...env,
  };
  let history = '';
  let current: GroupProcess | undefined;
  const start = async (): Promise<void> => {
    if (current) history += current.output();
    current = options.compiled
      ? spawnGroup('the worker', process.execPath, [...WORKER_NODE_FLAGS, ...(options.nodeFlags ?? []), join(ROOT, 'dist', 'src', 'worker', 'index.js')], fullEnv)
      : spawnGroup('the worker', tsx, [join(ROOT, 'src', 'worker', 'index.ts')], fullEnv);
    await current.waitForOutput(/"msg":"worker started"/, options.startTimeoutMs ?? 90_000);
  };
  await start();
  return {
    get process() {
      return current!;
    },
    output: () => history + (current?.output() ?? ''),
    kill: () => current!.kill('SIGKILL'),
    async restart() {
      await current?.kill('SIGKILL');
      await start();
    },
    stop: () => current!.kill('SIGTERM'),
  };
}

// ---------------------------------------------------------------------------
// A Temporal dev server of the test's own, on a state file, so that it can be
// stopped and started again without disturbing the run's shared one.

export interface TemporalDevServer {
  readonly address: string;
  readonly dbFile: string;
  readonly running: boolean;
  /** Stops it (SIGTERM, like an operator would; SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** Starts it again on the same state file and port. */
  start(): Promise<void>;
}

export async function startTemporalDevServer(options: { dbFile: string; searchAttributes: Record<string, 'Keyword' | 'Datetime'> }): Promise<TemporalDevServer> {
  const port = await freePort();
  const uiPort = await freePort();
  const httpPort = await freePort();
  const metricsPort = await freePort();
  const address = `127.0.0.1:${port}`;
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--headless',
    '--db-filename',
    options.dbFile,
    '--log-level',
    'error',
    ...Object.entries(options.searchAttributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...DEV_SERVER_TUNING,
  ];
  let current: GroupProcess | undefined;
  const start = async (): Promise<void> => {
    current = spawnGroup('the Temporal dev server', toolPath.temporal(), args, { PATH: process.env.PATH, HOME: process.env.HOME });
    await until(`the Temporal dev server on ${address}`, async () => {
      if (!current!.running) throw new Error(`the Temporal dev server exited:\n${current!.output().slice(-4000)}`);
      return portAnswers(port);
    }, 60_000);
  };
  await start();
  return {
    address,
    dbFile: options.dbFile,
    get running() {
      return current?.running ?? false;
    },
    stop: () => current!.kill('SIGTERM'),
    start,
  };
}

/** A client connection to a dev server of the test's own, once it answers. */
export async function connectToDevServer(server: TemporalDevServer): Promise<Connection> {
  return until(
    'a connection to the Temporal dev server',
    async () => {
      try {
        const c = await Connection.connect({ address: server.address, connectTimeout: 2000 });
        await c.workflowService.getSystemInfo({});
        return c;
      } catch {
        return undefined;
      }
    },
    60_000,
  );
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

