import type { ConnectTarget, EngineGuide } from '../../../contract/engine-guide';
import { clean, shellQuote } from '../../notify/format';

/** A value inside a libpq connection string: bare when plain, else single-quoted with `\` and `'` backslash-escaped. */
function conninfoValue(value: string): string {
  if (/^[A-Za-z0-9_.:@+-]+$/.test(value)) return value;
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** What people are told about PostgreSQL. */
export const postgresqlGuide: EngineGuide = {
  engine: 'postgresql',
  displayName: () => 'PostgreSQL',
  connectCommand(target: ConnectTarget): string {
    const parts = [
      `host=${conninfoValue(clean(target.host, 255))}`,
      `port=${Number(target.port)}`,
      `user=${conninfoValue(clean(target.username, 63))}`,
      ...(target.database ? [`dbname=${conninfoValue(clean(target.database, 63))}`] : []),
    ];
    return `psql ${shellQuote(parts.join(' '))}`;
  },
};
