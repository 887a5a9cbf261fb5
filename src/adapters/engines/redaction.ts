import type { RedactionRule } from './port';
import { MYSQL_REDACTION } from './mysql/redaction';
import { PG_REDACTION } from './postgresql/redaction';

// Every engine's log redaction, without their drivers: the logger of each
// process (worker, API, CLI) applies all of them. The registry checks that each
// registered engine's rules are here.

export const ENGINE_REDACTION: readonly RedactionRule[] = [...MYSQL_REDACTION, ...PG_REDACTION];
