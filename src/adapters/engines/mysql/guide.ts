import type { ConnectTarget, EngineGuide } from '../../../contract/engine-guide';
import { clean, shellQuote } from '../../notify/format';

/** What people are told about MySQL and MariaDB. */
export const mysqlGuide: EngineGuide = {
  engine: 'mysql',
  displayName: (dialect) => (dialect === 'mariadb' ? 'MariaDB' : 'MySQL'),
  connectCommand(target: ConnectTarget): string {
    const db = target.database ? ` ${shellQuote(clean(target.database, 64))}` : '';
    return `mysql --host=${shellQuote(clean(target.host, 255))} --port=${Number(target.port)} --user=${shellQuote(clean(target.username, 64))} --password${db}`;
  },
};
