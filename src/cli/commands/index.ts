import { grant, NEVER_EXPIRES } from './grant';
import { list, show } from './inspect';
import { extend, revoke, update } from './change';
import { approve, deny, retryDrop, review } from './decide';
import { connectionFrom, type Connection, type Io } from '../http';
import { str, type Command, type Context, type Values } from './shared';

// The commands of `dbaccess` (except the old script's flags: legacy.ts), one
// module per kind of work; what they share is in shared.ts.

export { GLOBAL_HELP, GLOBAL_OPTIONS, describeGrant, grantPath, grantRef, type Command, type Context, type Options } from './shared';
export { NEVER_EXPIRES };

export const COMMANDS: Command[] = [grant, show, list, extend, update, revoke, approve, deny, review, retryDrop];

/** Resolves the API connection once, on first use. */
export function contextFor(io: Io, values: Values): Context {
  let conn: Connection | undefined;
  return {
    io,
    json: values.json === true,
    conn: () => (conn ??= connectionFrom({ url: str(values, 'url'), key: str(values, 'key'), 'key-file': str(values, 'key-file') }, io.env)),
    out: (text) => void io.stdout.write(text),
  };
}
