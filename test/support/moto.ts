import { spawn, type ChildProcess } from 'node:child_process';

import type { AwsSettings } from '../../src/config';
import { onTestRunEnd } from './hooks';
import { freePort } from './ports';
import { toolPath } from './tools';

// One moto server (AWS API emulator) for the whole test run, started on first use.
// Every test file shares it, so tests keep apart by using unique names.

export interface Moto {
  endpoint: string;
  region: string;
}

const REGION = 'us-east-1';
const START_TIMEOUT_MS = 30_000;
const START_ATTEMPTS = 3;

let started: Promise<Moto> | undefined;

/** The shared moto server; started lazily, stopped at the end of the test run. */
export function getMoto(): Promise<Moto> {
  if (!started) {
    started = start();
    // A failed start is not cached, so the next test file gets a fresh attempt and its own error.
    started.catch(() => {
      started = undefined;
    });
  }
  return started;
}

/** `AwsSettings` pointing at the shared moto server. */
export async function motoAwsSettings(auditTable: string): Promise<AwsSettings> {
  const { endpoint, region } = await getMoto();
  return { region, endpoint, auditTable };
}


async function start(): Promise<Moto> {
  const binary = toolPath.motoServer();
  let lastError: Error | undefined;
  // The free port can be taken between probing and binding; a new port fixes that.
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      return await startOn(binary, port);
    } catch (err) {
      lastError = err as Error;
    }
  }
  throw lastError ?? new Error('moto_server did not start');
}

async function startOn(binary: string, port: number): Promise<Moto> {
  // moto runs under a tiny shell guardian that holds our pipe as its stdin: when
  // this process ends in any way (even SIGKILL) the pipe closes, `cat` returns and
  // the guardian kills moto. Without it an aborted run would leave moto behind.
  // Its own process group, so that a last-resort kill reaches moto as well.
  const guardian = '"$0" "$@" </dev/null & m=$!; cat >/dev/null; kill $m 2>/dev/null; wait $m';
  const child = spawn('/bin/sh', ['-c', guardian, binary, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['pipe', 'ignore', 'pipe'],
    detached: true,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  // moto logs every request; an unread pipe would fill up and stall it.
  let tail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  });
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const endpoint = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + START_TIMEOUT_MS;
  let ready = false;
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  while (!ready && exitCode === undefined && Date.now() < deadline) {
    ready = await answers(endpoint);
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  if (!ready) {
    await stop(child, exited);
    const why = exitCode !== undefined ? `exited with code ${exitCode}` : `did not answer within ${START_TIMEOUT_MS / 1000}s`;
    throw new Error(`moto_server on port ${port} ${why}:\n${tail}`);
  }

  const onExit = (): void => {
    // Synchronous last resort when the test process exits without the run-end hook.
    child.stdin?.destroy();
  };
  process.once('exit', onExit);
  onTestRunEnd(async () => {
    process.removeListener('exit', onExit);
    await stop(child, exited);
  }, { server: true });
  return { endpoint, region: REGION };
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

async function stop(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}
