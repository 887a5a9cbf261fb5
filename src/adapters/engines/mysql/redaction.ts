import type { RedactionRule } from '../port';

// What the logger takes out of free text for MySQL: statements that carry a
// password (an error message or a stack can quote one). Driver-free, so that the
// logger of every process can load it.

const CENSOR = '[redacted]';

export const MYSQL_REDACTION: readonly RedactionRule[] = [
  [/(IDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+)(?:PASSWORD\s*)?('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")/gi, `$1'${CENSOR}'`],
  [/(\bPASSWORD\s*(?:\(\s*)?)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")/gi, `$1'${CENSOR}'`],
];
