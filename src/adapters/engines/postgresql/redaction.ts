import type { RedactionRule } from '../port';

// What the logger takes out of free text for PostgreSQL: a `PASSWORD '…'` literal
// (standard or E'' strings, quotes doubled), and a SCRAM or md5 verifier wherever
// it appears (a verifier lets anyone who holds it log in to a server that accepts md5). Driver-free.

const CENSOR = '[redacted]';

export const PG_REDACTION: readonly RedactionRule[] = [
  [/(\b(?:ENCRYPTED\s+)?PASSWORD\s+)E?'(?:[^']|'')*'/gi, `$1'${CENSOR}'`],
  [/SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+/g, CENSOR],
  [/\bmd5[0-9a-f]{32}\b/g, CENSOR],
];
