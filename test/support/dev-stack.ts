import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUN_PREFIX } from './mariadb';
import { ROOT } from './tools';
import { until } from './wait';
import { freePort } from './ports';

// `npm run dev` (scripts/dev.mjs) as a user runs it, on free ports, in a state
// folder and with schema names of its own, so that it never touches a
// developer's running stack. Used by test/dev and test/ui.

/** What the dev stack writes to its state folder's stack.json. */
export interface DevStack {
  api: string;
  temporalUi: string;
  inbox: string;
  /** The inbox's JSON list of messages (MailDev's API). */
  inboxApi: string;
  project: string;
  databases: string[];
  emailDomain: string;
  aws: string;
}

export const DEV_PORT_NAMES = ['DEV_API_PORT', 'DEV_TEMPORAL_PORT', 'DEV_TEMPORAL_UI_PORT', 'DEV_AWS_PORT', 'DEV_SMTP_PORT', 'DEV_INBOX_PORT'] as const;


export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * One dev stack: its free ports and its state folder, kept across `start`/`stop`
 * (a restart on the same state is part of what is tested). `dispose` stops
 * whatever is left (the process group: SIGINT, then SIGKILL) and removes the folder.
 */
export class DevStackRunner {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'dbaccess-dev-'));
  readonly ports: Record<string, number> = {};
  /** The worker's own ports (its /metrics and the SDK's exporter), free too: another stack may hold the defaults. */
  private readonly workerPorts: Record<string, number> = {};
  /** The dev script's output (stdout and stderr) since the last start. */
  output = '';
  private child: ChildProcess | undefined;

  /** `name` tells the demo schemas and admin account apart from another test's stack in the same run (`<run prefix>_<name>_dev`). */
  constructor(private readonly name = 'dev') {}

  /** Picks the free ports; call once before `start`. */
  async allocatePorts(): Promise<void> {
    for (const name of DEV_PORT_NAMES) this.ports[name] = await freePort();
    for (const name of ['DEV_WORKER_METRICS_PORT', 'DEV_WORKER_SDK_METRICS_PORT']) this.workerPorts[name] = await freePort();
  }

  async start(timeoutMs = 180_000): Promise<DevStack> {
    this.output = '';
    rmSync(join(this.stateDir, 'stack.json'), { force: true });
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'dev.mjs')], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries({ ...this.ports, ...this.workerPorts }).map(([k, v]) => [k, String(v)])),
        DEV_STATE_DIR: this.stateDir,
        DEV_SCHEMA_PREFIX: `${RUN_PREFIX}_${this.name}`,
        LOG_LEVEL: 'warn',
      },
    });
    this.child = child;
    child.stdout!.on('data', (d) => (this.output += String(d)));
    child.stderr!.on('data', (d) => (this.output += String(d)));
    await until(
      'the dev stack to write stack.json',
      () => {
        if (child.exitCode !== null) throw new Error(`npm run dev exited early:\n${this.output.slice(-3000)}`);
        return existsSync(join(this.stateDir, 'stack.json'));
      },
      timeoutMs,
    );
    return JSON.parse(readFileSync(join(this.stateDir, 'stack.json'), 'utf8')) as DevStack;
  }

  /** Ctrl-C: SIGINT to the dev script, which stops what it started; resolves to its exit code. */
  async stop(): Promise<number | null> {
    const running = this.child!;
    running.kill('SIGINT');
    await until('npm run dev to exit', () => exited(running), 30_000);
    return running.exitCode;
  }

  /** Stops anything left of the stack (SIGINT to its process group, SIGKILL after 15 s) and removes the state folder. */
  async dispose(): Promise<void> {
    const child = this.child;
    if (child && !exited(child)) {
      killGroup(child, 'SIGINT');
      await until('npm run dev to exit', () => exited(child), 15_000).catch(() => undefined);
    }
    if (child) killGroup(child, 'SIGKILL');
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  /** A key the stack generated in its state folder (`api-key`, `approver-key`). */
  key(file = 'api-key'): string {
    return readFileSync(join(this.stateDir, file), 'utf8').trim();
  }

  /** Calls the stack's API with a key from its state folder. */
  async call(stack: DevStack, method: string, path: string, body?: unknown, keyFile?: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${stack.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.key(keyFile)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  }
}

