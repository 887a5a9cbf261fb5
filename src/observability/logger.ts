import { DefaultLogger, type LogLevel } from '@temporalio/worker';
import pino, { type Logger } from 'pino';
import { ENGINE_REDACTION } from '../adapters/engines/redaction';

// Structured JSON logs. Anything that could hold a credential is redacted, as a
// second line of defence: no code logs a secret on purpose.
//
// Two mechanisms, because pino's `redact` paths are exact (a `*` stands for one
// level, not "any depth"):
// - `redact` paths for fields by name, at the top level and one or two levels down
//   (`password`, `*.password`, `*.*.password`), and for the credential headers of a
//   request or response;
// - serializers for what has no fixed shape: errors (`err`, `error`) are scrubbed at
//   every depth, by key name and by pattern in their texts (messages and stacks can
//   quote a statement or a header), and request URLs lose one-time link tokens.

/** Field names whose value is a secret, wherever they appear. */
export const SECRET_KEYS = [
  'password',
  'passwd',
  'secret',
  'token',
  'apiKey',
  'api_key',
  'accessToken',
  'refreshToken',
  'sessionToken',
  'secretAccessKey',
  'privateKey',
  'clientSecret',
  'SecretString',
  'MYSQL_PASSWORD',
  'SMTP_PASSWORD',
  'authorization',
  'cookie',
];

const HEADER_PATHS = ['authorization', 'cookie', '["set-cookie"]', '["x-api-key"]', '["proxy-authorization"]'].flatMap((h) => {
  const dot = h.startsWith('[') ? h : `.${h}`;
  return [`req.headers${dot}`, `res.headers${dot}`, `headers${dot}`, `request.headers${dot}`];
});

export const REDACT_PATHS = [...HEADER_PATHS, ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`])];

const CENSOR = '[redacted]';
const SECRET_KEY = new RegExp(`^(${SECRET_KEYS.join('|')}|x-api-key|set-cookie|proxy-authorization|.*(password|passwd|secret|token|api[_-]?key|private[_-]?key).*)$`, 'i');
/** Keys that end in a secret-looking word but name something public. */
const PUBLIC_KEYS = /^(secretName|secretId|secretPrefix|adminSecretId|tokenType|passwordSet)$/i;

const TEXT_RULES: (readonly [RegExp, string])[] = [
  // A one-time credential link's token is a secret in a URL path.
  [/(\/credentials\/)[^/?#\s"'<>]+/gi, `$1${CENSOR}`],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${CENSOR}`],
  // Statements of a database engine that carry a password (each engine's own rules).
  ...ENGINE_REDACTION,
  // key=value, key: value, "key":"value" for secret-looking keys.
  [/(\b[A-Za-z_-]*(?:password|passwd|secret(?:string)?|token|api[_-]?key)["']?\s*[:=]\s*)"(?:[^"\\]|\\.)*"/gi, `$1"${CENSOR}"`],
  [/(\b[A-Za-z_-]*(?:password|passwd|secret(?:string)?|token|api[_-]?key)["']?\s*[:=]\s*)'(?:[^'\\]|\\.)*'/gi, `$1'${CENSOR}'`],
  [/(\b[A-Za-z_-]*(?:password|passwd|secret(?:string)?|token|api[_-]?key)["']?\s*[:=]\s*)(?!["'[])[^\s,;&"'}\])]+/gi, `$1${CENSOR}`],
];

/** Removes what looks like a secret from free text (error messages, stacks, URLs). */
export function scrubText(text: string): string {
  let out = text;
  for (const [re, to] of TEXT_RULES) out = out.replace(re, to);
  return out;
}

/** A copy of `value` with secret-named keys censored and every string scrubbed, to `depth` levels. */
export function scrub(value: unknown, depth = 8, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value) || depth <= 0) return '[…]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth - 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && !PUBLIC_KEYS.test(k) && v !== null && v !== undefined && typeof v !== 'boolean' ? CENSOR : scrub(v, depth - 1, seen);
  }
  return out;
}

function errSerializer(err: unknown): unknown {
  return scrub(err instanceof Error ? pino.stdSerializers.err(err) : err);
}

interface RequestLike {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Fastify's request serializer, with secrets taken out of the URL. Headers are never logged. */
function reqSerializer(req: RequestLike): unknown {
  if (!req || typeof req !== 'object') return req;
  return {
    method: req.method,
    url: typeof req.url === 'string' ? scrubText(req.url) : req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

export function createLogger(name: string, level = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    serializers: { err: errSerializer, error: errSerializer, req: reqSerializer },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

const TEMPORAL_TO_PINO: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Routes the Temporal SDK's logs (worker, workflows, activities) into the service's logger. */
export function temporalLogger(logger: Logger): DefaultLogger {
  const level = (logger.level.toUpperCase() === 'FATAL' ? 'ERROR' : logger.level.toUpperCase()) as LogLevel;
  return new DefaultLogger(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level) ? level : 'INFO', (entry) => {
    logger[TEMPORAL_TO_PINO[entry.level]]({ ...entry.meta }, entry.message);
  });
}
