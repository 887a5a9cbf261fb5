import { readFileSync } from 'node:fs';

// The CLI's side of the API: where it is, which key, one request, and what an
// answer means as an exit code. The key is sent in the Authorization header and
// nowhere else: never printed, never part of a message.

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Exit codes (documented in `dbaccess --help` and docs/cli.md). */
export const EXIT = {
  OK: 0,
  /** Bad flags, missing arguments, an unreadable file: nothing was sent. */
  USAGE: 2,
  /** The API refused the request (4xx): its message names the field or the rule. */
  REFUSED: 3,
  /** The API failed (5xx), or could not be reached. */
  FAILED: 4,
  /** The grant does not exist (404 grant_not_found). */
  NOT_FOUND: 5,
} as const;

export const DEFAULT_URL = 'http://127.0.0.1:3000';
/** Longer than the API's own longest wait (an update: 90 s). */
const REQUEST_TIMEOUT_MS = 120_000;

/** An error that ends the command with an exit code; `body` is the API's answer, if any. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export const usage = (message: string) => new CliError(EXIT.USAGE, message);

export interface Connection {
  url: string;
  key: string;
}

/** The API's URL without credentials, a query or a trailing slash: safe to print. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return '(invalid URL)';
  }
}

/** --url / DBACCESS_URL, and the key: the first of --key, --key-file, DBACCESS_API_KEY_FILE, DBACCESS_API_KEY. */
export function connectionFrom(values: { url?: string; key?: string; 'key-file'?: string }, env: NodeJS.ProcessEnv): Connection {
  const url = values.url ?? env.DBACCESS_URL ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usage('--url / DBACCESS_URL: must be a URL such as http://127.0.0.1:3000');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usage('--url / DBACCESS_URL: must be an http:// or https:// URL');
  const keyFile = values['key-file'] ?? (values.key === undefined ? env.DBACCESS_API_KEY_FILE : undefined);
  let key = values.key ?? (keyFile === undefined ? env.DBACCESS_API_KEY : undefined);
  if (keyFile !== undefined && values.key === undefined) {
    try {
      key = readFileSync(keyFile, 'utf8');
    } catch (err) {
      throw usage(`cannot read the API key file ${keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  key = key?.trim();
  if (!key) throw usage('no API key: set DBACCESS_API_KEY_FILE (or --key-file) to a file holding it, or DBACCESS_API_KEY');
  if (/[\s\u0000-\u001f\u007f]/.test(key)) throw usage('the API key must be one line without spaces');
  return { url: url.replace(/\/+$/, ''), key };
}

export interface Answer {
  status: number;
  body: any;
}

/** One request; an answer of 4xx or 5xx becomes a CliError with the right exit code. */
export async function request(conn: Connection, method: string, path: string, body?: unknown): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(`${conn.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${conn.key}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new CliError(EXIT.FAILED, `cannot reach the dbaccess API at ${displayUrl(conn.url)}: ${reasonOf(err)}`);
  }
  const text = await res.text().catch(() => '');
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.status < 400) {
    if (parsed === undefined && text) throw new CliError(EXIT.FAILED, `the answer of ${displayUrl(conn.url)} is not JSON: is --url / DBACCESS_URL the dbaccess API?`);
    return { status: res.status, body: parsed };
  }
  throw errorFor(res.status, parsed, res.headers, conn.url);
}

function reasonOf(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? 'network error';
}

function errorFor(status: number, body: any, headers: Headers, url: string): CliError {
  const isApiError = body && typeof body === 'object' && typeof body.message === 'string';
  const code = isApiError && typeof body.error === 'string' ? ` ${body.error}` : '';
  const requestId = isApiError && typeof body.requestId === 'string' ? ` (request id ${body.requestId})` : '';
  const message = isApiError ? body.message : `the API at ${displayUrl(url)} answered ${status} without an error message`;
  const retry = (status === 429 || status === 503) && headers.get('retry-after') ? ` (retry after ${headers.get('retry-after')} s)` : '';
  if (status >= 500) return new CliError(EXIT.FAILED, `failed (${status}${code}): ${message}${retry}${requestId}`, body);
  if (status === 404 && body?.error === 'grant_not_found') return new CliError(EXIT.NOT_FOUND, `not found: ${message}`, body);
  return new CliError(EXIT.REFUSED, `refused (${status}${code}): ${message}${retry}`, body);
}
