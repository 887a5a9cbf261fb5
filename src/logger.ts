import { DefaultLogger, type LogLevel } from '@temporalio/worker';
import pino, { type Logger } from 'pino';

// Structured JSON logs. Anything that could hold a credential is redacted by
// path, as a second line of defence: no code logs a secret on purpose.

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  '*.password',
  'MYSQL_PASSWORD',
  '*.MYSQL_PASSWORD',
  'SMTP_PASSWORD',
  '*.SMTP_PASSWORD',
  'apiKey',
  '*.apiKey',
];

export function createLogger(name: string, level = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
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
